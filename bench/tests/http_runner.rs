//! `run --runner http` end to end against a minimal DynamoDB endpoint served by this test: a
//! keep-alive HTTP/1.1 front for `hashlog::api::Database` on 127.0.0.1:0 (so the test needs
//! no server binary), with capacity enforced to exercise the throttle accounting.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hashlog::api::{Database, DatabaseOptions};
use hashlog::db::EngineOptions;
use hashlog::wal::Durability;
use serde_json::Value;

fn serve_conn(db: &Database, s: TcpStream) -> std::io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.set_nodelay(true)?;
    let mut w = s.try_clone()?;
    let mut r = BufReader::new(s);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let (mut len, mut op) = (0usize, String::new());
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                match k.trim().to_ascii_lowercase().as_str() {
                    "content-length" => len = v.trim().parse().unwrap_or(0),
                    "x-amz-target" => {
                        op = v
                            .trim()
                            .trim_start_matches("DynamoDB_20120810.")
                            .to_string()
                    }
                    _ => {}
                }
            }
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body)?;
        let (status, out) = match db.execute(&op, &body) {
            Ok(v) => (200, v),
            Err(e) => (e.code.http_status(), e.to_json()),
        };
        let text = out.to_string();
        // One write per response (and no Nagle delay against the client's delayed ACKs).
        let resp = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/x-amz-json-1.0\r\n\
             Content-Length: {}\r\n\r\n{text}",
            text.len()
        );
        w.write_all(resp.as_bytes())?;
    }
}

/// Serves until `stop`; returns the address.
fn serve(db: Arc<Database>, stop: Arc<AtomicBool>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    l.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match l.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false).expect("blocking");
                    let db = Arc::clone(&db);
                    std::thread::spawn(move || {
                        let _ = serve_conn(&db, s);
                    });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    addr
}

fn run(addr: &str, out: &Path, args: &[&str]) -> Value {
    let st = Command::new(env!("CARGO_BIN_EXE_hashlog-bench"))
        .args([
            "run",
            "--runner",
            "http",
            "--endpoint",
            &format!("http://{addr}"),
        ])
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run hashlog-bench");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).expect("run.json"))
        .expect("JSON")
}

fn f(v: &Value, ptr: &str) -> f64 {
    v.pointer(ptr)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{ptr} missing in {v}"))
}

#[test]
fn http_runner_loads_runs_and_counts_throttles() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = Arc::new(
        Database::open(
            &tmp.path().join("db"),
            EngineOptions {
                durability: Durability::Buffered {
                    interval: Duration::from_millis(10),
                },
                ..EngineOptions::default()
            },
            DatabaseOptions {
                enforce_capacity: true,
                // New tables start cold, so the 1 RCU / 1 WCU table below throttles at once
                // (by default a new table starts with 300 s of burst).
                capacity_config: Some(hashlog::capacity::CapacityConfig {
                    initial_burst_secs: 1,
                    ..Default::default()
                }),
                ..DatabaseOptions::default()
            },
        )
        .expect("open"),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let addr = serve(Arc::clone(&db), Arc::clone(&stop));

    // On-demand: loads 300 items, then YCSB B with no throttles and no errors.
    let v = run(
        &addr,
        &tmp.path().join("a"),
        &[
            "--ycsb",
            "b",
            "--records",
            "300",
            "--ops",
            "600",
            "--threads",
            "2",
        ],
    );
    assert_eq!(v["runner"], "http");
    assert_eq!(f(&v, "/total/ops"), 600.0);
    assert_eq!(f(&v, "/total/errors"), 0.0, "{}", v["errors_by_type"]);
    assert_eq!(f(&v, "/total/throttled"), 0.0);
    assert!(f(&v, "/total/p50_us") > 0.0);
    assert!(f(&v, "/by_op/read/ops") > 400.0);
    let got = db
        .execute(
            "GetItem",
            br#"{"TableName":"usertable","Key":{"pk":{"S":"user000000000299"}}}"#,
        )
        .expect("get");
    assert!(
        got["Item"]["v"]["S"].is_string(),
        "item 299 not loaded: {got}"
    );

    // Provisioned at 1 RCU / 1 WCU: most of 400 unpaced requests are throttled.
    let v = run(
        &addr,
        &tmp.path().join("t"),
        &[
            "--records",
            "0",
            "--ops",
            "400",
            "--threads",
            "2",
            "--table",
            "tiny_table",
            "--billing",
            "1,1",
        ],
    );
    assert!(f(&v, "/total/throttled_pct") > 50.0, "{}", v["total"]);
    assert_eq!(f(&v, "/total/errors"), 0.0, "{}", v["errors_by_type"]);

    // A table with another key schema is refused up front.
    db.execute(
        "CreateTable",
        br#"{"TableName":"other_schema","KeySchema":[{"AttributeName":"id","KeyType":"HASH"}],
             "AttributeDefinitions":[{"AttributeName":"id","AttributeType":"S"}],
             "BillingMode":"PAY_PER_REQUEST"}"#,
    )
    .expect("create");
    let st = Command::new(env!("CARGO_BIN_EXE_hashlog-bench"))
        .args([
            "run",
            "--runner",
            "http",
            "--endpoint",
            &format!("http://{addr}"),
        ])
        .args(["--table", "other_schema", "--ops", "10", "--records", "0"])
        .output()
        .expect("run");
    assert!(!st.status.success());
    assert!(String::from_utf8_lossy(&st.stderr).contains("key schema"));

    // --strategy: the table is created with the hashlog:partitioning tag, and the server
    // partitions it so; a table with another setting is refused.
    let ring = [
        "--records",
        "50",
        "--ops",
        "50",
        "--threads",
        "1",
        "--table",
        "ring_table",
        "--strategy",
        "consistent",
        "--partitions",
        "3",
        "--vnodes",
        "8",
    ];
    let v = run(&addr, &tmp.path().join("ring"), &ring);
    assert_eq!(v["partitioning_tag"], "consistent-hash:3:8");
    assert_eq!(v["params"]["partitioning"], "consistent-hash:3:8");
    assert_eq!(
        db.tables()
            .partitioning("ring_table")
            .map(|p| p.to_string()),
        Some("consistent-hash:3:8".to_string())
    );
    let st = Command::new(env!("CARGO_BIN_EXE_hashlog-bench"))
        .args(["run", "--runner", "http", "--endpoint"])
        .arg(format!("http://{addr}"))
        .args(["--table", "ring_table", "--ops", "10", "--records", "0"])
        .args(["--strategy", "fixed-hash"])
        .output()
        .expect("run");
    assert!(!st.status.success());
    assert!(
        String::from_utf8_lossy(&st.stderr).contains("hashlog:partitioning"),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );

    stop.store(true, Ordering::Relaxed);
}
