//! Prometheus metrics with DynamoDB's CloudWatch names, per table and operation.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

/// Latency bucket upper bounds in seconds.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct OpStats {
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_ns: AtomicU64,
    user_errors: AtomicU64,
    system_errors: AtomicU64,
    throttled: AtomicU64,
    conditional_failed: AtomicU64,
    returned_items: AtomicU64,
    /// Capacity units × 1000 (to count halves exactly).
    rcu_milli: AtomicU64,
    wcu_milli: AtomicU64,
}

/// What one finished request contributes.
pub struct Outcome<'a> {
    pub table: &'a str,
    pub operation: &'a str,
    pub seconds: f64,
    pub error_type: Option<&'a str>,
    pub status: u16,
    pub returned_items: u64,
    pub consumed_units: f64,
}

#[derive(Default)]
pub struct Metrics {
    ops: RwLock<HashMap<(String, String), Arc<OpStats>>>,
}

fn is_read(op: &str) -> bool {
    matches!(
        op,
        "GetItem" | "Query" | "Scan" | "BatchGetItem" | "TransactGetItems"
    )
}

impl Metrics {
    fn stats(&self, table: &str, op: &str) -> Arc<OpStats> {
        if let Some(s) = self.ops.read().get(&(table.to_string(), op.to_string())) {
            return Arc::clone(s);
        }
        Arc::clone(
            self.ops
                .write()
                .entry((table.to_string(), op.to_string()))
                .or_default(),
        )
    }

    pub fn record(&self, o: &Outcome<'_>) {
        let s = self.stats(o.table, o.operation);
        match o.error_type {
            None => {
                s.latency_count.fetch_add(1, Ordering::Relaxed);
                s.latency_sum_ns
                    .fetch_add((o.seconds * 1e9) as u64, Ordering::Relaxed);
                if let Some(i) = BUCKETS.iter().position(|b| o.seconds <= *b) {
                    s.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
                }
                s.returned_items
                    .fetch_add(o.returned_items, Ordering::Relaxed);
                let milli = (o.consumed_units * 1000.0).round() as u64;
                if is_read(o.operation) {
                    s.rcu_milli.fetch_add(milli, Ordering::Relaxed);
                } else {
                    s.wcu_milli.fetch_add(milli, Ordering::Relaxed);
                }
            }
            Some(t) => {
                if o.status >= 500 {
                    s.system_errors.fetch_add(1, Ordering::Relaxed);
                } else {
                    s.user_errors.fetch_add(1, Ordering::Relaxed);
                }
                if t == "ProvisionedThroughputExceededException" || t == "ThrottlingException" {
                    s.throttled.fetch_add(1, Ordering::Relaxed);
                }
                if t == "ConditionalCheckFailedException" {
                    s.conditional_failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// The Prometheus text exposition, plus engine gauges.
    pub fn render(&self, gauges: &[(String, f64)]) -> String {
        let mut out = String::new();
        let ops = self.ops.read();
        let mut keys: Vec<&(String, String)> = ops.keys().collect();
        keys.sort();
        let _ = writeln!(out, "# TYPE dynamodb_SuccessfulRequestLatency histogram");
        for k in &keys {
            let s = &ops[*k];
            let labels = format!("table=\"{}\",operation=\"{}\"", k.0, k.1);
            let mut cum = 0;
            for (i, b) in BUCKETS.iter().enumerate() {
                cum += s.latency_buckets[i].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "dynamodb_SuccessfulRequestLatency_bucket{{{labels},le=\"{b}\"}} {cum}"
                );
            }
            let count = s.latency_count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "dynamodb_SuccessfulRequestLatency_bucket{{{labels},le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "dynamodb_SuccessfulRequestLatency_sum{{{labels}}} {}",
                s.latency_sum_ns.load(Ordering::Relaxed) as f64 / 1e9
            );
            let _ = writeln!(
                out,
                "dynamodb_SuccessfulRequestLatency_count{{{labels}}} {count}"
            );
        }
        type Getter = fn(&OpStats) -> f64;
        let counters: [(&str, Getter); 9] = [
            ("ConsumedReadCapacityUnits", |s| {
                s.rcu_milli.load(Ordering::Relaxed) as f64 / 1000.0
            }),
            ("ConsumedWriteCapacityUnits", |s| {
                s.wcu_milli.load(Ordering::Relaxed) as f64 / 1000.0
            }),
            ("ThrottledRequests", |s| {
                s.throttled.load(Ordering::Relaxed) as f64
            }),
            ("ReadThrottleEvents", |_| 0.0),
            ("WriteThrottleEvents", |_| 0.0),
            ("UserErrors", |s| {
                s.user_errors.load(Ordering::Relaxed) as f64
            }),
            ("SystemErrors", |s| {
                s.system_errors.load(Ordering::Relaxed) as f64
            }),
            ("ConditionalCheckFailedRequests", |s| {
                s.conditional_failed.load(Ordering::Relaxed) as f64
            }),
            ("ReturnedItemCount", |s| {
                s.returned_items.load(Ordering::Relaxed) as f64
            }),
        ];
        for (name, get) in counters {
            let _ = writeln!(out, "# TYPE dynamodb_{name} counter");
            for k in &keys {
                let _ = writeln!(
                    out,
                    "dynamodb_{name}{{table=\"{}\",operation=\"{}\"}} {}",
                    k.0,
                    k.1,
                    get(&ops[*k])
                );
            }
        }
        for (name, v) in gauges {
            let _ = writeln!(out, "# TYPE hashlog_{name} gauge\nhashlog_{name} {v}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_cloudwatch_names() {
        let m = Metrics::default();
        m.record(&Outcome {
            table: "t",
            operation: "GetItem",
            seconds: 0.0003,
            error_type: None,
            status: 200,
            returned_items: 1,
            consumed_units: 0.5,
        });
        m.record(&Outcome {
            table: "t",
            operation: "PutItem",
            seconds: 0.001,
            error_type: Some("ConditionalCheckFailedException"),
            status: 400,
            returned_items: 0,
            consumed_units: 0.0,
        });
        let text = m.render(&[("memtable_bytes".into(), 10.0)]);
        assert!(text.contains(
            "dynamodb_SuccessfulRequestLatency_count{table=\"t\",operation=\"GetItem\"} 1"
        ));
        assert!(text
            .contains("dynamodb_ConsumedReadCapacityUnits{table=\"t\",operation=\"GetItem\"} 0.5"));
        assert!(text.contains(
            "dynamodb_ConditionalCheckFailedRequests{table=\"t\",operation=\"PutItem\"} 1"
        ));
        assert!(text.contains("dynamodb_UserErrors{table=\"t\",operation=\"PutItem\"} 1"));
        assert!(text.contains("hashlog_memtable_bytes 10"));
    }
}
