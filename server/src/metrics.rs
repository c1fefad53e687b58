//! Prometheus metrics with DynamoDB's CloudWatch names, per table and operation.
//!
//! Recording is lock-light: the (table, operation) series live in sharded maps that are only
//! write-locked the first time a series appears; every counter is an atomic. The number of
//! distinct tables and operations is bounded (names come from clients), overflowing into an
//! `_other` series.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hashlog::api::Response;
use parking_lot::RwLock;
use serde_json::Value;

/// Latency bucket upper bounds in seconds.
pub const LATENCY_BUCKETS_SECS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// Distinct table labels kept; later ones are counted under [`OVERFLOW_LABEL`].
pub const TABLE_SERIES_MAX: usize = 4096;
/// Distinct operation labels kept per table.
pub const OPERATION_SERIES_MAX: usize = 128;
/// The label of requests beyond the series bounds.
pub const OVERFLOW_LABEL: &str = "_other";
const SHARDS: usize = 16;

#[derive(Default)]
struct OpStats {
    latency_buckets: [AtomicU64; LATENCY_BUCKETS_SECS.len()],
    latency_count: AtomicU64,
    latency_sum_ns: AtomicU64,
    user_errors: AtomicU64,
    system_errors: AtomicU64,
    throttled_requests: AtomicU64,
    read_throttle_events: AtomicU64,
    write_throttle_events: AtomicU64,
    conditional_check_failed: AtomicU64,
    returned_items: AtomicU64,
    /// Capacity units × 1000 (DynamoDB reports halves).
    rcu_milli: AtomicU64,
    wcu_milli: AtomicU64,
}

#[derive(Default)]
struct TableStats {
    ops: RwLock<HashMap<Box<str>, Arc<OpStats>>>,
}

/// What one finished API request contributes.
#[derive(Debug, Clone, Copy)]
pub struct Outcome<'a> {
    /// The request's table (`""` when it names none or several).
    pub table: &'a str,
    pub operation: &'a str,
    pub seconds: f64,
    /// `Some(type name)` when the request failed.
    pub error_type: Option<&'a str>,
    pub status: u16,
    pub returned_items: u64,
    pub read_units: f64,
    pub write_units: f64,
}

/// Items and capacity a successful response reports.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ResponseFacts {
    pub returned_items: u64,
    pub read_units: f64,
    pub write_units: f64,
}

/// Reads `Count` (or the length of `Items`) and `ConsumedCapacity` (one object or a list)
/// from a response. Units count as reads for read operations and as writes otherwise, unless
/// the response splits them (`ReadCapacityUnits` / `WriteCapacityUnits`).
pub fn response_facts(operation: &str, response: &Value) -> ResponseFacts {
    let returned_items = response
        .get("Count")
        .and_then(Value::as_u64)
        .or_else(|| {
            response
                .get("Items")
                .and_then(Value::as_array)
                .map(|a| a.len() as u64)
        })
        .unwrap_or(0);
    facts_of(operation, returned_items, response.get("ConsumedCapacity"))
}

/// [`response_facts`] of an executor's answer: a read answered from items ([`hashlog::api::ReadResponse`])
/// reports its `Count` and `ConsumedCapacity` without being turned into a `Value`. (Every
/// read response that has `Items` has `Count`; the others have neither.)
pub fn answer_facts(operation: &str, response: &Response) -> ResponseFacts {
    match response {
        Response::Json(v) => response_facts(operation, v),
        Response::Read(r) => facts_of(operation, r.count().unwrap_or(0), r.consumed_capacity()),
    }
}

/// The facts of a response with `returned_items` and this `ConsumedCapacity`.
fn facts_of(operation: &str, returned_items: u64, consumed: Option<&Value>) -> ResponseFacts {
    let mut f = ResponseFacts {
        returned_items,
        ..ResponseFacts::default()
    };
    let mut add = |cc: &Value| {
        let r = cc.get("ReadCapacityUnits").and_then(Value::as_f64);
        let w = cc.get("WriteCapacityUnits").and_then(Value::as_f64);
        if r.is_some() || w.is_some() {
            f.read_units += r.unwrap_or(0.0);
            f.write_units += w.unwrap_or(0.0);
        } else if let Some(u) = cc.get("CapacityUnits").and_then(Value::as_f64) {
            if is_read(operation) {
                f.read_units += u;
            } else {
                f.write_units += u;
            }
        }
    };
    match consumed {
        Some(Value::Array(list)) => list.iter().for_each(&mut add),
        Some(cc @ Value::Object(_)) => add(cc),
        _ => {}
    }
    f
}

/// Operations that read (their throttles are read throttle events).
pub fn is_read(op: &str) -> bool {
    matches!(
        op,
        "GetItem"
            | "Query"
            | "Scan"
            | "BatchGetItem"
            | "TransactGetItems"
            | "Streams.GetRecords"
            | "Streams.GetShardIterator"
    )
}

fn is_write(op: &str) -> bool {
    matches!(
        op,
        "PutItem" | "UpdateItem" | "DeleteItem" | "BatchWriteItem" | "TransactWriteItems"
    )
}

fn is_throttle(error_type: &str) -> bool {
    matches!(
        error_type,
        "ProvisionedThroughputExceededException" | "ThrottlingException" | "RequestLimitExceeded"
    )
}

/// Per table and operation request metrics.
pub struct Metrics {
    shards: Vec<RwLock<HashMap<Box<str>, Arc<TableStats>>>>,
    tables: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            shards: (0..SHARDS)
                .map(|_| RwLock::new(HashMap::default()))
                .collect(),
            tables: AtomicU64::new(0),
        }
    }
}

fn shard_of(table: &str) -> usize {
    // SipHash: the label is a request's TableName, which a client chooses (an unseeded hash
    // would let it pile its labels into one chain).
    let mut h = std::collections::hash_map::DefaultHasher::new();
    table.hash(&mut h);
    (h.finish() % SHARDS as u64) as usize
}

impl Metrics {
    fn table(&self, name: &str) -> Arc<TableStats> {
        let shard = &self.shards[shard_of(name)];
        if let Some(t) = shard.read().get(name) {
            return Arc::clone(t);
        }
        if self.tables.load(Ordering::Relaxed) >= TABLE_SERIES_MAX as u64 && name != OVERFLOW_LABEL
        {
            return self.table(OVERFLOW_LABEL);
        }
        let mut w = shard.write();
        if let Some(t) = w.get(name) {
            return Arc::clone(t);
        }
        self.tables.fetch_add(1, Ordering::Relaxed);
        Arc::clone(w.entry(name.into()).or_default())
    }

    fn op(&self, table: &str, op: &str) -> Arc<OpStats> {
        let t = self.table(table);
        if let Some(s) = t.ops.read().get(op) {
            return Arc::clone(s);
        }
        let mut w = t.ops.write();
        let key = if w.len() >= OPERATION_SERIES_MAX && !w.contains_key(op) {
            OVERFLOW_LABEL
        } else {
            op
        };
        Arc::clone(w.entry(key.into()).or_default())
    }

    pub fn record(&self, o: &Outcome<'_>) {
        let s = self.op(o.table, o.operation);
        match o.error_type {
            None => {
                s.latency_count.fetch_add(1, Ordering::Relaxed);
                s.latency_sum_ns
                    .fetch_add((o.seconds.max(0.0) * 1e9) as u64, Ordering::Relaxed);
                if let Some(i) = LATENCY_BUCKETS_SECS.iter().position(|b| o.seconds <= *b) {
                    s.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
                }
                s.returned_items
                    .fetch_add(o.returned_items, Ordering::Relaxed);
                s.rcu_milli.fetch_add(
                    (o.read_units.max(0.0) * 1000.0).round() as u64,
                    Ordering::Relaxed,
                );
                s.wcu_milli.fetch_add(
                    (o.write_units.max(0.0) * 1000.0).round() as u64,
                    Ordering::Relaxed,
                );
            }
            Some(t) => {
                if o.status >= 500 {
                    s.system_errors.fetch_add(1, Ordering::Relaxed);
                } else {
                    s.user_errors.fetch_add(1, Ordering::Relaxed);
                }
                if is_throttle(t) {
                    s.throttled_requests.fetch_add(1, Ordering::Relaxed);
                    if is_read(o.operation) {
                        s.read_throttle_events.fetch_add(1, Ordering::Relaxed);
                    } else if is_write(o.operation) {
                        s.write_throttle_events.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if t == "ConditionalCheckFailedException" {
                    s.conditional_check_failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    fn snapshot(&self) -> Vec<(String, String, Arc<OpStats>)> {
        let mut out = Vec::new();
        for shard in &self.shards {
            for (table, t) in shard.read().iter() {
                for (op, s) in t.ops.read().iter() {
                    out.push((table.to_string(), op.to_string(), Arc::clone(s)));
                }
            }
        }
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        out
    }

    /// The Prometheus text exposition (format 0.0.4) of the request metrics, then `gauges`
    /// as `hashlog_<name>`.
    pub fn render(&self, gauges: &[(String, f64)]) -> String {
        let series = self.snapshot();
        let mut out = String::with_capacity(1024 + series.len() * 2048);
        let labels: Vec<String> = series
            .iter()
            .map(|(t, o, _)| {
                format!(
                    "table=\"{}\",operation=\"{}\"",
                    escape_label(t),
                    escape_label(o)
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "# HELP dynamodb_SuccessfulRequestLatency Latency of successful requests in seconds.\n\
             # TYPE dynamodb_SuccessfulRequestLatency histogram"
        );
        for ((_, _, s), l) in series.iter().zip(&labels) {
            let mut cum = 0;
            for (i, b) in LATENCY_BUCKETS_SECS.iter().enumerate() {
                cum += s.latency_buckets[i].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "dynamodb_SuccessfulRequestLatency_bucket{{{l},le=\"{b}\"}} {cum}"
                );
            }
            let count = s.latency_count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "dynamodb_SuccessfulRequestLatency_bucket{{{l},le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "dynamodb_SuccessfulRequestLatency_sum{{{l}}} {}",
                s.latency_sum_ns.load(Ordering::Relaxed) as f64 / 1e9
            );
            let _ = writeln!(
                out,
                "dynamodb_SuccessfulRequestLatency_count{{{l}}} {count}"
            );
        }
        type Getter = fn(&OpStats) -> f64;
        let counters: [(&str, &str, Getter); 10] = [
            (
                "ConsumedReadCapacityUnits",
                "Read capacity units consumed (as reported in ConsumedCapacity).",
                |s| s.rcu_milli.load(Ordering::Relaxed) as f64 / 1000.0,
            ),
            (
                "ConsumedWriteCapacityUnits",
                "Write capacity units consumed (as reported in ConsumedCapacity).",
                |s| s.wcu_milli.load(Ordering::Relaxed) as f64 / 1000.0,
            ),
            (
                "ThrottledRequests",
                "Requests refused by throttling.",
                |s| s.throttled_requests.load(Ordering::Relaxed) as f64,
            ),
            ("ReadThrottleEvents", "Throttled read requests.", |s| {
                s.read_throttle_events.load(Ordering::Relaxed) as f64
            }),
            ("WriteThrottleEvents", "Throttled write requests.", |s| {
                s.write_throttle_events.load(Ordering::Relaxed) as f64
            }),
            ("UserErrors", "Requests that failed with HTTP 400.", |s| {
                s.user_errors.load(Ordering::Relaxed) as f64
            }),
            ("SystemErrors", "Requests that failed with HTTP 5xx.", |s| {
                s.system_errors.load(Ordering::Relaxed) as f64
            }),
            (
                "ConditionalCheckFailedRequests",
                "Conditional writes whose condition was false.",
                |s| s.conditional_check_failed.load(Ordering::Relaxed) as f64,
            ),
            (
                "ReturnedItemCount",
                "Items returned by Query and Scan (Count).",
                |s| s.returned_items.load(Ordering::Relaxed) as f64,
            ),
            ("SuccessfulRequests", "Requests that succeeded.", |s| {
                s.latency_count.load(Ordering::Relaxed) as f64
            }),
        ];
        for (name, help, get) in counters {
            let _ = writeln!(
                out,
                "# HELP dynamodb_{name} {help}\n# TYPE dynamodb_{name} counter"
            );
            for ((_, _, s), l) in series.iter().zip(&labels) {
                let _ = writeln!(out, "dynamodb_{name}{{{l}}} {}", get(s));
            }
        }
        // A gauge name may carry labels (`name{table="t"}`): the name part is sanitized, the
        // labels are kept, and each name gets one TYPE line.
        let mut typed: Vec<String> = Vec::new();
        for (full, v) in gauges {
            let (name, labels) = match full.split_once('{') {
                Some((n, rest)) => (metric_name(n), format!("{{{rest}")),
                None => (metric_name(full), String::new()),
            };
            if !typed.contains(&name) {
                let _ = writeln!(out, "# TYPE hashlog_{name} gauge");
                typed.push(name.clone());
            }
            let _ = writeln!(out, "hashlog_{name}{labels} {v}");
        }
        out
    }
}

/// Escapes a Prometheus label value (`\`, `"`, newline).
fn escape_label(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A metric name made of `[a-zA-Z0-9_]` only.
fn metric_name(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok<'a>(table: &'a str, operation: &'a str, seconds: f64) -> Outcome<'a> {
        Outcome {
            table,
            operation,
            seconds,
            error_type: None,
            status: 200,
            returned_items: 0,
            read_units: 0.0,
            write_units: 0.0,
        }
    }

    #[test]
    fn renders_cloudwatch_names_per_table_and_operation() {
        let m = Metrics::default();
        m.record(&Outcome {
            returned_items: 3,
            read_units: 0.5,
            ..ok("t", "Query", 0.0003)
        });
        m.record(&Outcome {
            error_type: Some("ConditionalCheckFailedException"),
            status: 400,
            ..ok("t", "PutItem", 0.001)
        });
        m.record(&Outcome {
            error_type: Some("InternalServerError"),
            status: 500,
            ..ok("u", "GetItem", 0.001)
        });
        m.record(&Outcome {
            error_type: Some("ProvisionedThroughputExceededException"),
            status: 400,
            ..ok("u", "GetItem", 0.001)
        });
        m.record(&Outcome {
            error_type: Some("ThrottlingException"),
            status: 400,
            ..ok("u", "UpdateItem", 0.001)
        });
        let text = m.render(&[("memtable bytes".into(), 10.0)]);
        for want in [
            "dynamodb_SuccessfulRequestLatency_count{table=\"t\",operation=\"Query\"} 1",
            "dynamodb_SuccessfulRequestLatency_bucket{table=\"t\",operation=\"Query\",le=\"0.0005\"} 1",
            "dynamodb_SuccessfulRequestLatency_bucket{table=\"t\",operation=\"Query\",le=\"0.00025\"} 0",
            "dynamodb_ConsumedReadCapacityUnits{table=\"t\",operation=\"Query\"} 0.5",
            "dynamodb_ReturnedItemCount{table=\"t\",operation=\"Query\"} 3",
            "dynamodb_ConditionalCheckFailedRequests{table=\"t\",operation=\"PutItem\"} 1",
            "dynamodb_UserErrors{table=\"t\",operation=\"PutItem\"} 1",
            "dynamodb_SystemErrors{table=\"u\",operation=\"GetItem\"} 1",
            "dynamodb_ThrottledRequests{table=\"u\",operation=\"GetItem\"} 1",
            "dynamodb_ReadThrottleEvents{table=\"u\",operation=\"GetItem\"} 1",
            "dynamodb_WriteThrottleEvents{table=\"u\",operation=\"UpdateItem\"} 1",
            "# TYPE dynamodb_SuccessfulRequestLatency histogram",
            "hashlog_memtable_bytes 10",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }

    #[test]
    fn response_facts_read_count_items_and_consumed_capacity() {
        let q = json!({"Count": 4, "ScannedCount": 9, "Items": [], "ConsumedCapacity": {"TableName": "t", "CapacityUnits": 1.5}});
        assert_eq!(
            response_facts("Query", &q),
            ResponseFacts {
                returned_items: 4,
                read_units: 1.5,
                write_units: 0.0
            }
        );
        let batch = json!({"Responses": {}, "ConsumedCapacity": [{"TableName": "a", "CapacityUnits": 2.0}, {"TableName": "b", "CapacityUnits": 1.0}]});
        assert_eq!(response_facts("BatchWriteItem", &batch).write_units, 3.0);
        let split = json!({"ConsumedCapacity": {"CapacityUnits": 3.0, "ReadCapacityUnits": 1.0, "WriteCapacityUnits": 2.0}});
        let f = response_facts("UpdateItem", &split);
        assert_eq!((f.read_units, f.write_units), (1.0, 2.0));
        let items_only = json!({"Items": [{}, {}]});
        assert_eq!(response_facts("Scan", &items_only).returned_items, 2);
        assert_eq!(
            response_facts("GetItem", &json!({})),
            ResponseFacts::default()
        );
    }

    /// Reads answered from items report what their `Value` would: the same count and units.
    #[test]
    fn answer_facts_of_reads_are_those_of_their_value() {
        use hashlog::api::{Database, DatabaseOptions};
        let db = Database::new(
            std::sync::Arc::new(hashlog::kv::MemKv::new()),
            DatabaseOptions::default(),
        )
        .expect("db");
        // Runs each request twice (respond, then execute): only reads and idempotent puts.
        let run = |op: &str, body: serde_json::Value| {
            let text = body.to_string();
            let answer = db.respond(op, text.as_bytes()).expect(op);
            let tree = db.execute(op, text.as_bytes()).expect(op);
            let facts = answer_facts(op, &answer);
            assert_eq!(facts, response_facts(op, &tree), "{op} {text}");
            facts
        };
        let create = json!({"TableName": "fac", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}], "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}], "BillingMode": "PAY_PER_REQUEST"});
        db.execute("CreateTable", create.to_string().as_bytes())
            .expect("create");
        for sk in 0..3 {
            let put = json!({"TableName": "fac", "Item": {"pk": {"S": "a"}, "sk": {"N": sk.to_string()}}, "ReturnConsumedCapacity": "TOTAL"});
            assert_eq!(run("PutItem", put).write_units, 1.0);
        }
        let key = json!({"pk": {"S": "a"}, "sk": {"N": "1"}});
        let q = json!({"TableName": "fac", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "a"}}, "ReturnConsumedCapacity": "TOTAL"});
        let f = run("Query", q.clone());
        assert_eq!((f.returned_items, f.read_units), (3, 0.5));
        let mut count = q;
        count["Select"] = json!("COUNT");
        count["Limit"] = json!(2);
        assert_eq!(run("Query", count).returned_items, 2);
        let f = run(
            "Scan",
            json!({"TableName": "fac", "ReturnConsumedCapacity": "INDEXES"}),
        );
        assert_eq!((f.returned_items, f.read_units), (3, 0.5));
        let f = run(
            "GetItem",
            json!({"TableName": "fac", "Key": key, "ReturnConsumedCapacity": "TOTAL"}),
        );
        assert_eq!((f.returned_items, f.read_units), (0, 0.5));
        let f = run(
            "BatchGetItem",
            json!({"RequestItems": {"fac": {"Keys": [key]}}, "ReturnConsumedCapacity": "TOTAL"}),
        );
        assert_eq!(f.read_units, 0.5);
        let f = run(
            "TransactGetItems",
            json!({"TransactItems": [{"Get": {"TableName": "fac", "Key": key}}], "ReturnConsumedCapacity": "TOTAL"}),
        );
        // Transactional reads cost two units per 4 KB.
        assert_eq!(f.read_units, 2.0);
        assert_eq!(
            run("GetItem", json!({"TableName": "fac", "Key": key})),
            ResponseFacts::default()
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::default();
        m.record(&ok("we\"ird\\na\nme", "GetItem", 0.01));
        let text = m.render(&[]);
        assert!(text.contains("table=\"we\\\"ird\\\\na\\nme\""), "{text}");
    }

    #[test]
    fn table_series_are_bounded() {
        let m = Metrics::default();
        for i in 0..TABLE_SERIES_MAX + 50 {
            m.record(&ok(&format!("t{i}"), "GetItem", 0.001));
        }
        let text = m.render(&[]);
        assert!(text.contains(&format!(
            "dynamodb_SuccessfulRequests{{table=\"{OVERFLOW_LABEL}\",operation=\"GetItem\"}} 50"
        )));
        let series = text
            .lines()
            .filter(|l| l.starts_with("dynamodb_SuccessfulRequests{"))
            .count();
        assert_eq!(series, TABLE_SERIES_MAX + 1);
    }

    #[test]
    fn operation_series_are_bounded() {
        let m = Metrics::default();
        for i in 0..OPERATION_SERIES_MAX + 10 {
            m.record(&ok("t", &format!("Op{i}"), 0.001));
        }
        let text = m.render(&[]);
        let series = text
            .lines()
            .filter(|l| l.starts_with("dynamodb_SuccessfulRequests{"))
            .count();
        assert_eq!(series, OPERATION_SERIES_MAX + 1);
    }

    #[test]
    fn concurrent_recording_loses_nothing() {
        let m = Arc::new(Metrics::default());
        let threads: Vec<_> = (0..4)
            .map(|n| {
                let m = Arc::clone(&m);
                std::thread::spawn(move || {
                    for i in 0..2000 {
                        let t = format!("t{}", i % 7);
                        let op = if n % 2 == 0 { "PutItem" } else { "DeleteItem" };
                        m.record(&Outcome {
                            write_units: 1.0,
                            ..ok(&t, op, 0.002)
                        });
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        let text = m.render(&[]);
        let total: f64 = text
            .lines()
            .filter(|l| l.starts_with("dynamodb_ConsumedWriteCapacityUnits{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        assert_eq!(total, 8000.0);
    }
}
