//! Sustained overload: the real `hashlog` binary as a child process, hammered by more
//! BatchWriteItem traffic than it can take, while a sampler reads its resident memory from
//! `/proc/<pid>/status`. Memory must stay bounded — by throttling, by the request-body budget
//! (`--max-in-flight-mib`) and by the engine's backpressure (memtable stalls, a bounded WAL
//! queue) — never growing with the backlog.
//!
//! Two phases, each on a fresh server and data directory:
//! - **throttled**: capacity enforced, sync durability, a table provisioned at 25 WCU, 32
//!   connections writing 25 × 8 KiB items per request: nearly everything is refused with
//!   ProvisionedThroughputExceededException.
//! - **backpressure**: capacity off, buffered durability, `--max-in-flight-mib 16`, 32
//!   connections writing 25 × 64 KiB items per request (1.6 MiB bodies, ~50 MiB offered at
//!   once, so the body budget admits about 10 at a time) over a bounded key set: the disk and
//!   the flushes are the limit.
//!
//! Every request must get an HTTP answer (200, or a DynamoDB 400 error; never a 5xx or a
//! dropped connection), and the peak resident set must stay under `PEAK_RSS_MAX_MIB`.
//! `HASHLOG_OVERLOAD_SECS` (default 4) sets each phase's length.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{env_usize, ChildServer, Conn};
use serde_json::{json, Value};

const THREADS: usize = 32;
/// The bound asserted on the server's peak anonymous resident set. What the settings allow:
/// 16 MiB of request bodies (their parsed items take several times that while executing),
/// 64 MiB of
/// block cache, 64 MiB of WAL queue, the memtables a table may hold before writers stall, and
/// the runtime's threads.
const PEAK_RSS_MAX_MIB: u64 = 1024;

/// Anonymous resident memory (`RssAnon`): what the process allocated. File-backed resident
/// pages (`RssFile`, e.g. memory-mapped SSTables the page cache holds) are reclaimable and
/// not counted.
fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "RssAnon:")
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[derive(Debug, Default)]
struct Outcome {
    requests: u64,
    ok: u64,
    throttled: u64,
    other_4xx: u64,
    server_errors: u64,
    transport_errors: u64,
    items_written: u64,
    body_mib_sent: f64,
    rss_start_mib: f64,
    rss_peak_mib: f64,
    rss_end_mib: f64,
}

fn create_table(addr: std::net::SocketAddr, name: &str, provisioned_wcu: Option<u64>) {
    let mut body = json!({
        "TableName": name,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    });
    match provisioned_wcu {
        Some(w) => {
            body["ProvisionedThroughput"] =
                json!({"ReadCapacityUnits": 25, "WriteCapacityUnits": w})
        }
        None => body["BillingMode"] = json!("PAY_PER_REQUEST"),
    }
    let r = Conn::new(addr)
        .call("CreateTable", &body)
        .expect("CreateTable answered");
    assert_eq!(r.status, 200, "CreateTable: {:?}", r.json());
}

fn batch_body(table: &str, thread: usize, round: u64, keys: u64, value_bytes: usize) -> Vec<u8> {
    let filler = "x".repeat(value_bytes);
    let requests: Vec<Value> = (0..25u64)
        .map(|i| {
            let k = (thread as u64 * 7_919 + round * 25 + i) % keys;
            json!({"PutRequest": {"Item": {
                "pk": {"S": format!("key-{k:06}")},
                "v": {"S": filler},
            }}})
        })
        .collect();
    json!({"RequestItems": {table: requests}})
        .to_string()
        .into_bytes()
}

fn run_phase(
    label: &str,
    args: &[&str],
    provisioned_wcu: Option<u64>,
    value_bytes: usize,
    keys: u64,
    secs: u64,
) -> Outcome {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let server =
        ChildServer::start(&data, &log, args).unwrap_or_else(|e| panic!("{label}: start: {e}"));
    let pid = server.child.id();
    let table = "overload";
    create_table(server.addr, table, provisioned_wcu);

    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let start_kib = rss_kib(pid).unwrap_or(0);
    let sampler = {
        let stop = Arc::clone(&stop);
        let peak = Arc::clone(&peak);
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                if let Some(k) = rss_kib(pid) {
                    peak.fetch_max(k, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(secs);
    let addr = server.addr;
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                let mut out = Outcome::default();
                let mut conn: Option<Conn> = None;
                let mut round = 0u64;
                while Instant::now() < deadline {
                    let body = batch_body(table, t, round, keys, value_bytes);
                    round += 1;
                    let c = match conn.as_mut() {
                        Some(c) => c,
                        None => match Conn::try_new(addr) {
                            Ok(c) => conn.insert(c),
                            Err(_) => {
                                out.transport_errors += 1;
                                std::thread::sleep(Duration::from_millis(10));
                                continue;
                            }
                        },
                    };
                    out.requests += 1;
                    out.body_mib_sent += body.len() as f64 / (1024.0 * 1024.0);
                    let r = c.post(
                        &[
                            ("Content-Type", "application/x-amz-json-1.0"),
                            ("X-Amz-Target", "DynamoDB_20120810.BatchWriteItem"),
                        ],
                        &body,
                    );
                    match r {
                        Ok(r) if r.status == 200 => {
                            out.ok += 1;
                            let unprocessed = r
                                .json()
                                .and_then(|v| v["UnprocessedItems"][table].as_array().map(Vec::len))
                                .unwrap_or(0);
                            out.items_written += 25 - unprocessed as u64;
                        }
                        Ok(r) if r.status == 400 => {
                            let name = r.error_name();
                            if name.ends_with("ProvisionedThroughputExceededException")
                                || name.ends_with("ThrottlingException")
                            {
                                out.throttled += 1;
                            } else {
                                out.other_4xx += 1;
                            }
                        }
                        Ok(_) => out.server_errors += 1,
                        Err(_) => {
                            out.transport_errors += 1;
                            conn = None;
                        }
                    }
                }
                out
            })
        })
        .collect();
    let mut total = Outcome::default();
    for w in workers {
        let o = w.join().expect("worker");
        total.requests += o.requests;
        total.ok += o.ok;
        total.throttled += o.throttled;
        total.other_4xx += o.other_4xx;
        total.server_errors += o.server_errors;
        total.transport_errors += o.transport_errors;
        total.items_written += o.items_written;
        total.body_mib_sent += o.body_mib_sent;
    }
    stop.store(true, Ordering::SeqCst);
    let _ = sampler.join();
    let end_kib = rss_kib(pid).unwrap_or(0);
    let file_kib = status_kib(pid, "RssFile:").unwrap_or(0);
    total.rss_start_mib = start_kib as f64 / 1024.0;
    total.rss_peak_mib = peak.load(Ordering::SeqCst).max(end_kib) as f64 / 1024.0;
    total.rss_end_mib = end_kib as f64 / 1024.0;
    println!(
        "overload {label}: {secs} s, {THREADS} connections, {} requests ({:.0} MiB of bodies), \
         {} ok ({} items written), {} throttled, {} other 4xx, {} 5xx, {} transport errors; \
         server anonymous RSS start {:.0} MiB, peak {:.0} MiB, end {:.0} MiB (file-backed at \
         the end: {:.0} MiB)",
        total.requests,
        total.body_mib_sent,
        total.ok,
        total.items_written,
        total.throttled,
        total.other_4xx,
        total.server_errors,
        total.transport_errors,
        total.rss_start_mib,
        total.rss_peak_mib,
        total.rss_end_mib,
        file_kib as f64 / 1024.0,
    );
    // The engine's own view of what it holds, for the record.
    let gauges: Vec<String> = Conn::try_new(server.addr)
        .and_then(|mut c| {
            c.send_raw(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
            c.read_reply()
        })
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            [
                "hashlog_memtable_bytes",
                "hashlog_wal_",
                "hashlog_request_bytes_in_flight",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .map(str::to_string)
        .collect();
    println!(
        "overload {label}: engine gauges at the end: {}",
        gauges.join("; ")
    );
    drop(server);
    total
}

#[test]
fn memory_stays_bounded_under_sustained_overload() {
    let secs = env_usize("HASHLOG_OVERLOAD_SECS", 4) as u64;
    let throttled = run_phase(
        "throttled",
        &["--durability", "sync", "--log", "warn"],
        Some(25),
        8 * 1024,
        100_000,
        secs,
    );
    let pressed = run_phase(
        "backpressure",
        &[
            "--durability",
            "buffered",
            "--capacity",
            "off",
            "--max-in-flight-mib",
            "16",
            "--log",
            "warn",
        ],
        None,
        64 * 1024,
        2_000,
        secs,
    );
    for (label, o) in [("throttled", &throttled), ("backpressure", &pressed)] {
        assert!(o.requests > 0, "{label}: no request was sent");
        assert_eq!(o.server_errors, 0, "{label}: 5xx answers under overload");
        assert_eq!(o.transport_errors, 0, "{label}: dropped connections");
        assert_eq!(o.other_4xx, 0, "{label}: unexpected 4xx answers");
        assert!(
            o.rss_peak_mib > 0.0 && (o.rss_peak_mib as u64) < PEAK_RSS_MAX_MIB,
            "{label}: peak RSS {:.0} MiB (bound {PEAK_RSS_MAX_MIB} MiB)",
            o.rss_peak_mib
        );
    }
    assert!(
        throttled.throttled > throttled.ok,
        "the provisioned table should refuse most of the offered load"
    );
    assert!(
        pressed.items_written > 0,
        "nothing was written under backpressure"
    );
}
