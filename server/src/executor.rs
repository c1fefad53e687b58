//! The seam between the HTTP front and whatever answers DynamoDB operations.
//!
//! The server calls only [`Executor`]: the real backend is `hashlog::api::Database` (see
//! `open_backend` in `main.rs`); tests plug in fakes.

use hashlog::api::{ApiError, Database, Response};
use hashlog::table::StagedWrite;
use serde_json::Value;

/// Answers DynamoDB operations. [`Executor::execute`] and [`Executor::respond`] may block (a
/// write waits for its WAL sync): the server calls them on blocking threads, except for the
/// small reads it places on the reactor (`http::placement`). Writes reach the reactor only
/// through [`Executor::respond_staged`], which never waits.
pub trait Executor: Send + Sync + 'static {
    /// Runs `operation` (e.g. `PutItem`, or `Streams.GetRecords` for the DynamoDB Streams API)
    /// on the raw JSON request body. Malformed JSON is the executor's to report
    /// (SerializationException).
    fn execute(&self, operation: &str, body: &[u8]) -> Result<Value, ApiError>;

    /// [`Executor::execute`] as the HTTP front calls it: a backend may answer reads with a
    /// [`Response::Read`] that serialises straight from its items. Its JSON must be that of
    /// `execute`'s answer.
    fn respond(&self, operation: &str, body: &[u8]) -> Result<Response, ApiError> {
        self.execute(operation, body).map(Response::Json)
    }

    /// A single-item write (`hashlog::api::STAGED_OPERATIONS`) for a reactor thread: decided
    /// here without blocking, its commit then awaited or finished on a blocking thread (see
    /// `Database::respond_staged`). `None`: this backend does not stage writes; the server runs
    /// the operation through [`Executor::respond`] on a blocking thread.
    fn respond_staged(&self, _operation: &str, _body: &[u8]) -> Option<StagedWrite> {
        None
    }

    /// Called once after the server stopped accepting and every in-flight request finished:
    /// make everything durable and stop background work. An error makes the process exit
    /// non-zero.
    fn shutdown(&self) -> Result<(), String> {
        Ok(())
    }

    /// Gauges and counters the backend exposes on `/metrics`, as `hashlog_<name>`.
    fn engine_metrics(&self) -> Vec<(String, f64)> {
        vec![]
    }
}

impl Executor for Database {
    fn execute(&self, operation: &str, body: &[u8]) -> Result<Value, ApiError> {
        Database::execute(self, operation, body)
    }

    fn respond(&self, operation: &str, body: &[u8]) -> Result<Response, ApiError> {
        Database::respond(self, operation, body)
    }

    fn respond_staged(&self, operation: &str, body: &[u8]) -> Option<StagedWrite> {
        Some(Database::respond_staged(self, operation, body))
    }

    fn shutdown(&self) -> Result<(), String> {
        self.close()
            .map_err(|e| format!("flush on shutdown failed: {e}"))
    }

    fn engine_metrics(&self) -> Vec<(String, f64)> {
        let Some(e) = self.engine() else {
            return vec![];
        };
        let s = e.stats();
        let cache_lookups = s.cache_hits + s.cache_misses;
        let mut g = vec![
            ("partitions".to_string(), s.partitions as f64),
            ("memtable_bytes".to_string(), s.memtable_bytes as f64),
            (
                "immutable_memtables".to_string(),
                s.immutable_memtables as f64,
            ),
            (
                "compaction_debt_partitions".to_string(),
                s.compaction_debt_partitions as f64,
            ),
            ("flushes_total".to_string(), s.flushes as f64),
            ("compactions_total".to_string(), s.compactions as f64),
            (
                "user_bytes_written_total".to_string(),
                s.user_bytes_written as f64,
            ),
            ("flushed_bytes_total".to_string(), s.flushed_bytes as f64),
            (
                "compacted_bytes_total".to_string(),
                s.compacted_bytes as f64,
            ),
            ("wal_bytes_total".to_string(), s.wal_bytes as f64),
            ("wal_syncs_total".to_string(), s.wal_syncs as f64),
            ("wal_records_total".to_string(), s.wal_records as f64),
            ("write_amplification".to_string(), s.write_amplification()),
            ("block_cache_hits_total".to_string(), s.cache_hits as f64),
            (
                "block_cache_misses_total".to_string(),
                s.cache_misses as f64,
            ),
            (
                "block_cache_hit_ratio".to_string(),
                if cache_lookups > 0 {
                    s.cache_hits as f64 / cache_lookups as f64
                } else {
                    0.0
                },
            ),
        ];
        for (n, c) in s.tables_per_level.iter().enumerate() {
            g.push((format!("sstables_level_{n}"), *c as f64));
        }
        // The capacity layer, per table: what it admits, consumes, throttles and how it is
        // partitioned (CloudWatch shows these as ThrottledRequests, burst balance, ...).
        for (table, cap) in self.tables().capacity_controllers() {
            let st = cap.stats();
            let t = table.replace(['\\', '"'], "");
            for (dim, o) in [("read", &st.read), ("write", &st.write)] {
                let l = format!("{{table=\"{t}\",op=\"{dim}\"}}");
                g.push((format!("capacity_rate_units{l}"), o.rate_per_sec));
                g.push((
                    format!("capacity_consumed_units_total{l}"),
                    o.consumed_units,
                ));
                g.push((
                    format!("capacity_throttled_requests_total{l}"),
                    o.throttled_requests as f64,
                ));
                g.push((
                    format!("capacity_burst_balance_units{l}"),
                    o.burst_balance_units,
                ));
            }
            g.push((
                format!("capacity_partitions{{table=\"{t}\"}}"),
                st.partitions.len() as f64,
            ));
            // The table's partitioning strategy (hashlog:partitioning), as a label.
            g.push((
                format!(
                    "capacity_partitioning{{table=\"{t}\",strategy=\"{}\"}}",
                    cap.partitioning()
                ),
                1.0,
            ));
            g.push((
                format!("capacity_splits_total{{table=\"{t}\"}}"),
                st.splits as f64,
            ));
            // Per partition (id and hash range): allowance, consumption and throttles.
            for p in &st.partitions {
                for (dim, o) in [("read", &p.read), ("write", &p.write)] {
                    let l = format!(
                        "{{table=\"{t}\",partition=\"{}\",start=\"{:016x}\",op=\"{dim}\"}}",
                        p.id, p.start
                    );
                    g.push((
                        format!("capacity_partition_allowance_units{l}"),
                        o.allowance_per_sec,
                    ));
                    g.push((
                        format!("capacity_partition_consumed_units_total{l}"),
                        o.consumed_units,
                    ));
                    g.push((
                        format!("capacity_partition_throttled_requests_total{l}"),
                        o.throttled_requests as f64,
                    ));
                }
            }
            // Contributor Insights: the most accessed and most throttled partition keys
            // (sampled Space-Saving estimates over the sliding window).
            let hot = cap.hot_keys(5);
            for (what, keys) in [("accessed", &hot.accessed), ("throttled", &hot.throttled)] {
                for k in keys.iter() {
                    let key: String = String::from_utf8_lossy(&k.key)
                        .chars()
                        .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
                        .take(64)
                        .collect();
                    g.push((
                        format!("capacity_hot_key_{what}{{table=\"{t}\",key=\"{key}\"}}"),
                        k.count as f64,
                    ));
                }
            }
        }
        g
    }
}
