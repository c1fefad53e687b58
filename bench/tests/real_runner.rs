//! The in-process runner end to end: `run --runner engine` loads a table through
//! `hashlog::api::Database`, runs a YCSB mix on the real clock and writes CSV, JSON and the
//! latency CDF with consistent numbers.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn bench(args: &[&str], out: &Path) -> Value {
    let st = Command::new(env!("CARGO_BIN_EXE_hashlog-bench"))
        .args(["run", "--runner", "engine", "--durability", "buffered"])
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
    let text = std::fs::read_to_string(out.join("run.json")).expect("run.json");
    serde_json::from_str(&text).expect("run.json is JSON")
}

fn f(v: &Value, ptr: &str) -> f64 {
    v.pointer(ptr)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{ptr} missing in {v}"))
}

#[test]
fn engine_runner_by_op_count_writes_consistent_outputs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("a");
    let v = bench(
        &[
            "--ycsb",
            "a",
            "--records",
            "500",
            "--item-size",
            "300",
            "--ops",
            "2000",
            "--threads",
            "2",
            "--dist",
            "zipfian:0.99",
        ],
        &out,
    );
    assert_eq!(v["runner"], "engine");
    assert_eq!(f(&v, "/total/ops"), 2000.0);
    assert_eq!(f(&v, "/total/errors"), 0.0, "{}", v["errors_by_type"]);
    assert_eq!(f(&v, "/total/throttled"), 0.0);
    let (p50, p99, p999) = (
        f(&v, "/total/p50_us"),
        f(&v, "/total/p99_us"),
        f(&v, "/total/p999_us"),
    );
    // Microseconds: no request through JSON parsing and the engine answers in under 0.5 µs.
    assert!(
        p50 >= 0.5 && p50 <= p99 && p99 <= p999,
        "{p50} {p99} {p999}"
    );
    assert!(f(&v, "/total/max_us") >= p999);
    assert!(f(&v, "/total/ops_per_s") > 0.0);
    let reads = f(&v, "/by_op/read/ops");
    let updates = f(&v, "/by_op/update/ops");
    assert_eq!(reads + updates, 2000.0);
    assert!(reads > 700.0 && updates > 700.0, "{reads} / {updates}");
    // Loaded 500 items of 300 bytes and updated some: at least that much user data is on disk,
    // and every user byte was written at least once to the WAL.
    assert!(f(&v, "/engine/bytes_on_disk") > 500.0 * 300.0);
    assert!(f(&v, "/engine/write_amplification") >= 1.0);
    assert!(f(&v, "/engine/user_bytes_written") > 0.0);
    let windows = v["windows"].as_array().expect("windows");
    assert!(!windows.is_empty());
    let sum: f64 = windows.iter().map(|w| f(w, "/ops")).sum();
    assert_eq!(sum, 2000.0);

    let summary = std::fs::read_to_string(out.join("summary.csv")).expect("summary.csv");
    let lines: Vec<&str> = summary.lines().collect();
    assert_eq!(lines.len(), 2);
    let header: Vec<&str> = lines[0].split(',').collect();
    let row: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(header.len(), row.len());
    let col = |name: &str| row[header.iter().position(|h| *h == name).expect(name)];
    assert_eq!(col("runner"), "engine");
    assert_eq!(col("ops"), "2000");
    assert_eq!(col("errors"), "0");
    let windows_csv = std::fs::read_to_string(out.join("windows.csv")).expect("windows.csv");
    assert_eq!(windows_csv.lines().count(), windows.len() + 1);
    let svg = std::fs::read_to_string(out.join("latency_cdf.svg")).expect("svg");
    assert!(svg.starts_with("<svg") && svg.contains("<polyline"));
    let cdf = std::fs::read_to_string(out.join("latency_cdf.csv")).expect("cdf");
    assert!(cdf.lines().any(|l| l.starts_with("read,")));
}

#[test]
fn engine_runner_runs_for_its_duration_with_every_op_kind() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // E: scans and inserts; F: reads and read-modify-writes.
    for (y, kinds) in [
        ("e", ["scan", "insert"]),
        ("f", ["read", "read-modify-write"]),
    ] {
        let out = tmp.path().join(y);
        let v = bench(
            &[
                "--ycsb",
                y,
                "--records",
                "300",
                "--item-size",
                "uniform:100-400",
                "--duration",
                "1",
                "--window",
                "1",
                "--threads",
                "2",
            ],
            &out,
        );
        let elapsed = f(&v, "/elapsed_s");
        assert!(elapsed >= 1.0, "stopped early: {elapsed}");
        assert_eq!(f(&v, "/total/errors"), 0.0, "{}", v["errors_by_type"]);
        assert!(f(&v, "/total/ops") > 0.0);
        for k in kinds {
            assert!(
                f(&v, &format!("/by_op/{k}/ops")) > 0.0,
                "{k}: {}",
                v["by_op"]
            );
        }
    }
}

#[test]
fn engine_runner_counts_throttles_under_enforced_capacity() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("t");
    // A 1 RCU / 1 WCU table cannot take 5,000 unpaced requests: past its first burst (300 s
    // of its rate, which a new table starts with) most are throttled, and throttles are not
    // errors.
    let v = bench(
        &[
            "--ycsb",
            "a",
            "--records",
            "0",
            "--ops",
            "5000",
            "--threads",
            "2",
            "--enforce-capacity",
            "--billing",
            "1,1",
            "--table",
            "throttled_table",
        ],
        &out,
    );
    assert_eq!(v["billing"], "1,1");
    assert!(f(&v, "/total/throttled") > 0.0, "{}", v["total"]);
    assert!(f(&v, "/total/throttled_pct") > 50.0, "{}", v["total"]);
    assert_eq!(f(&v, "/total/errors"), 0.0, "{}", v["errors_by_type"]);
}

#[test]
fn engine_runner_gives_its_table_the_strategy() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for (strategy, setting, partitions) in [
        ("fixed-hash", "fixed-hash:3", 3.0),
        ("consistent", "consistent-hash:3:8", 3.0),
        ("split-for-heat", "hash-split", 1.0),
    ] {
        let v = bench(
            &[
                "--records",
                "100",
                "--ops",
                "200",
                "--threads",
                "1",
                "--enforce-capacity",
                "--billing",
                "1000,100",
                "--strategy",
                strategy,
                "--partitions",
                "3",
                "--vnodes",
                "8",
            ],
            &tmp.path().join(strategy),
        );
        assert_eq!(v["params"]["partitioning"], setting);
        assert_eq!(v["engine"]["partitioning"], setting, "{}", v["engine"]);
        assert_eq!(f(&v, "/engine/capacity_partitions"), partitions);
    }
}
