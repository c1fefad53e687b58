//! Real-clock runners: the YCSB mixes of `workload.rs` through DynamoDB's request API, either
//! in-process against [`hashlog::api::Database`] (`run --runner engine`) or over HTTP against
//! any DynamoDB endpoint (`run --runner http`).
//!
//! N client threads, each with its own connection (or handle), run for a real duration or an
//! op count, optionally paced to a target rate. The table is `pk` (S) only; item `i` is
//! `{pk: "user%012d", v: "xxx…"}` sized so the whole item has `item_size` bytes. Ops map to
//! requests as YCSB's DynamoDB binding does: read → GetItem, update → UpdateItem `SET v`,
//! insert → PutItem of a new key, scan of n → Scan with `Limit` n from `ExclusiveStartKey`
//! the drawn key, read-modify-write → GetItem then UpdateItem (timed together).
//! Latency is service time (from sending the request to its answer), not corrected for
//! coordinated omission. Throttled means a ProvisionedThroughputExceededException,
//! ThrottlingException or RequestLimitExceeded answer; errors are all other failures.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hashlog::api::Database;
use hashlog::partition::PARTITIONING_TAG;
use hdrhistogram::Histogram;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use serde_json::{json, Value};

use crate::http::Conn;
use crate::plot::{line_chart_y, Series, YAxis};
use crate::workload::{key_bytes, ItemSize, OpKind, Workload, WorkloadSpec};

/// Error types DynamoDB throttles with.
pub const THROTTLE_ERRORS: [&str; 3] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
];

/// Bytes of an item besides its value: the names `pk` and `v` and the 16-byte key.
pub const ITEM_KEY_OVERHEAD: usize = 2 + 16 + 1;

/// Items per BatchWriteItem while loading (DynamoDB's maximum).
const LOAD_BATCH: u64 = 25;

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Throttled,
    /// Any other error, by DynamoDB error type (or `transport: …`).
    Error(String),
}

/// The outcome of an error answer of type `type_name`.
pub fn classify(type_name: &str) -> Outcome {
    if THROTTLE_ERRORS.contains(&type_name) {
        Outcome::Throttled
    } else {
        Outcome::Error(type_name.to_string())
    }
}

/// One client connection.
pub trait Client: Send {
    /// One DynamoDB operation on a JSON body. `Err` is a failure of the connection itself
    /// that the client could not recover from.
    fn call(&mut self, op: &str, body: &[u8]) -> Result<(Outcome, Value), String>;
}

/// Where requests go: makes one [`Client`] per thread.
pub trait Target: Sync {
    fn name(&self) -> &'static str;
    fn connect(&self) -> Result<Box<dyn Client>, String>;
}

/// In-process: `Database::execute` on a shared handle.
pub struct EngineTarget(pub Arc<Database>);

struct EngineClient(Arc<Database>);

impl Client for EngineClient {
    fn call(&mut self, op: &str, body: &[u8]) -> Result<(Outcome, Value), String> {
        match self.0.execute(op, body) {
            Ok(v) => Ok((Outcome::Ok, v)),
            Err(e) => Ok((classify(e.code.type_name()), e.to_json())),
        }
    }
}

impl Target for EngineTarget {
    fn name(&self) -> &'static str {
        "engine"
    }
    fn connect(&self) -> Result<Box<dyn Client>, String> {
        Ok(Box::new(EngineClient(Arc::clone(&self.0))))
    }
}

/// Any DynamoDB endpoint over HTTP/1.1 keep-alive (one connection per thread).
pub struct HttpTarget {
    pub endpoint: String,
}

struct HttpClient {
    endpoint: String,
    conn: Conn,
}

impl Client for HttpClient {
    fn call(&mut self, op: &str, body: &[u8]) -> Result<(Outcome, Value), String> {
        match self.conn.call_raw(op, body) {
            Ok((200, v)) => Ok((Outcome::Ok, v)),
            Ok((status, v)) => {
                let t = v
                    .get("__type")
                    .and_then(Value::as_str)
                    .map(|t| t.rsplit('#').next().unwrap_or(t).to_string())
                    .unwrap_or_else(|| format!("HTTP {status}"));
                Ok((classify(&t), v))
            }
            Err(e) => {
                // The connection is in an unknown state: count the request as an error and
                // carry on over a new one (failing the thread if that cannot be had).
                self.conn = Conn::connect(&self.endpoint)?;
                Ok((Outcome::Error(format!("transport: {e}")), Value::Null))
            }
        }
    }
}

impl Target for HttpTarget {
    fn name(&self) -> &'static str {
        "http"
    }
    fn connect(&self) -> Result<Box<dyn Client>, String> {
        Ok(Box::new(HttpClient {
            endpoint: self.endpoint.clone(),
            conn: Conn::connect(&self.endpoint)?,
        }))
    }
}

/// A target that answers every request at once with an empty success: running the client
/// loop against it measures the runner's own per-op work (`hashlog-bench overhead`).
pub struct NullTarget;

struct NullClient;

impl Client for NullClient {
    fn call(&mut self, _op: &str, body: &[u8]) -> Result<(Outcome, Value), String> {
        std::hint::black_box(body);
        Ok((Outcome::Ok, Value::Null))
    }
}

impl Target for NullTarget {
    fn name(&self) -> &'static str {
        "null"
    }
    fn connect(&self) -> Result<Box<dyn Client>, String> {
        Ok(Box::new(NullClient))
    }
}

/// No progress display.
pub struct NoProgress;
impl Progress for NoProgress {}

/// Table billing for a table the runner creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Billing {
    OnDemand,
    Provisioned { rcu: u64, wcu: u64 },
}

impl std::str::FromStr for Billing {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "on-demand" {
            return Ok(Billing::OnDemand);
        }
        let bad = || format!("billing {s:?}: on-demand or RCU,WCU (e.g. 500,1000)");
        let (r, w) = s.split_once(',').ok_or_else(bad)?;
        let rcu: u64 = r.trim().parse().map_err(|_| bad())?;
        let wcu: u64 = w.trim().parse().map_err(|_| bad())?;
        if rcu == 0 || wcu == 0 {
            return Err(bad());
        }
        Ok(Billing::Provisioned { rcu, wcu })
    }
}

impl std::fmt::Display for Billing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Billing::OnDemand => write!(f, "on-demand"),
            Billing::Provisioned { rcu, wcu } => write!(f, "{rcu},{wcu}"),
        }
    }
}

/// One real-clock run.
#[derive(Debug, Clone)]
pub struct RealConfig {
    /// Label of the workload (e.g. "zipfian-0.99").
    pub label: String,
    pub spec: WorkloadSpec,
    pub threads: usize,
    /// Stop after this long (None: only `ops` stops the run).
    pub duration: Option<Duration>,
    /// Stop after this many operations in total.
    pub ops: Option<u64>,
    /// Target ops/s over all threads (None: as fast as answers come back).
    pub rate: Option<f64>,
    pub window_secs: u64,
    pub seed: u64,
    pub table: String,
    /// Load `spec.records` items before the run.
    pub load: bool,
    pub billing: Billing,
    /// The `hashlog:partitioning` tag the runner's CreateTable carries (None: no tag).
    pub partitioning_tag: Option<String>,
}

/// DynamoDB table names: 3–255 of `[a-zA-Z0-9_.-]` (so they need no JSON escaping).
pub fn check_table_name(t: &str) -> Result<(), String> {
    let ok = (3..=255).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "table name {t:?}: 3 to 255 characters of a-z, A-Z, 0-9, '_', '-', '.'"
        ))
    }
}

/// The per-op client work: draws the next operation and writes its request body, reusing
/// its buffers (no allocation per op once they have grown).
pub struct OpGen {
    workload: Workload,
    item_size: ItemSize,
    table: String,
    value: Vec<u8>,
    key: [u8; 16],
    /// The request of the op (the GetItem of a read-modify-write).
    pub body: Vec<u8>,
    /// The UpdateItem of a read-modify-write.
    pub body2: Vec<u8>,
}

impl OpGen {
    pub fn new(spec: &WorkloadSpec, table: &str) -> OpGen {
        let max = match spec.item_size {
            ItemSize::Fixed(n) => n,
            ItemSize::Uniform(_, b) => b,
        };
        OpGen {
            workload: Workload::new(spec.clone()),
            item_size: spec.item_size,
            table: table.to_string(),
            value: vec![b'x'; max.saturating_sub(ITEM_KEY_OVERHEAD).max(1)],
            key: [0; 16],
            body: Vec::with_capacity(max + 256),
            body2: Vec::with_capacity(max + 256),
        }
    }

    /// The index the first insert gets (start the shared insert counter here).
    pub fn first_insert(&self) -> u64 {
        self.workload.first_insert()
    }

    /// Draws the next operation at `now_secs` into the run and writes its request(s).
    #[inline]
    pub fn next(&mut self, rng: &mut SmallRng, now_secs: u64, next_insert: &AtomicU64) -> OpKind {
        let (kind, k) = self.workload.next_shared(rng, now_secs, next_insert);
        self.body.clear();
        match kind {
            OpKind::Read => self.get(k),
            OpKind::Update => {
                let (mut b, v) = (std::mem::take(&mut self.body), self.value_len(k));
                self.update_into(&mut b, k, v);
                self.body = b;
            }
            OpKind::Insert => {
                let mut b = std::mem::take(&mut self.body);
                self.item_into(&mut b, k);
                self.body = b;
            }
            OpKind::Scan(n) => self.scan(k, n),
            OpKind::ReadModifyWrite => {
                self.get(k);
                let (mut b, v) = (std::mem::take(&mut self.body2), self.value_len(k));
                b.clear();
                self.update_into(&mut b, k, v);
                self.body2 = b;
            }
        }
        kind
    }

    fn value_len(&self, k: u64) -> usize {
        self.item_size
            .of(k)
            .saturating_sub(ITEM_KEY_OVERHEAD)
            .clamp(1, self.value.len())
    }

    fn key_json(&mut self, out: &mut Vec<u8>, k: u64) {
        out.extend_from_slice(b"{\"pk\":{\"S\":\"");
        out.extend_from_slice(key_bytes(k, &mut self.key));
        out.extend_from_slice(b"\"}");
    }

    fn get(&mut self, k: u64) {
        let mut b = std::mem::take(&mut self.body);
        b.extend_from_slice(b"{\"TableName\":\"");
        b.extend_from_slice(self.table.as_bytes());
        b.extend_from_slice(b"\",\"Key\":");
        self.key_json(&mut b, k);
        b.extend_from_slice(b"}}");
        self.body = b;
    }

    fn update_into(&mut self, b: &mut Vec<u8>, k: u64, vlen: usize) {
        b.extend_from_slice(b"{\"TableName\":\"");
        b.extend_from_slice(self.table.as_bytes());
        b.extend_from_slice(b"\",\"Key\":");
        self.key_json(b, k);
        b.extend_from_slice(
            b"},\"UpdateExpression\":\"SET v = :v\",\"ExpressionAttributeValues\":{\":v\":{\"S\":\"",
        );
        b.extend_from_slice(&self.value[..vlen]);
        b.extend_from_slice(b"\"}}}");
    }

    /// `{"pk":…,"v":…}` of item `k` (its full size).
    fn item_json(&mut self, b: &mut Vec<u8>, k: u64) {
        let vlen = self.value_len(k);
        self.key_json(b, k);
        b.extend_from_slice(b",\"v\":{\"S\":\"");
        b.extend_from_slice(&self.value[..vlen]);
        b.extend_from_slice(b"\"}}");
    }

    /// The PutItem body of item `k`.
    pub fn put_body(&mut self, k: u64) -> Vec<u8> {
        let mut b = Vec::new();
        self.item_into(&mut b, k);
        b
    }

    fn item_into(&mut self, b: &mut Vec<u8>, k: u64) {
        b.extend_from_slice(b"{\"TableName\":\"");
        b.extend_from_slice(self.table.as_bytes());
        b.extend_from_slice(b"\",\"Item\":");
        self.item_json(b, k);
        b.push(b'}');
    }

    fn scan(&mut self, k: u64, n: u32) {
        let mut b = std::mem::take(&mut self.body);
        b.extend_from_slice(b"{\"TableName\":\"");
        b.extend_from_slice(self.table.as_bytes());
        let _ = write!(b, "\",\"Limit\":{n},\"ExclusiveStartKey\":");
        self.key_json(&mut b, k);
        b.extend_from_slice(b"}}");
        self.body = b;
    }

    /// A BatchWriteItem body putting items `lo..hi` into `out`.
    pub fn batch_put(&mut self, out: &mut Vec<u8>, lo: u64, hi: u64) {
        out.clear();
        out.extend_from_slice(b"{\"RequestItems\":{\"");
        out.extend_from_slice(self.table.as_bytes());
        out.extend_from_slice(b"\":[");
        for k in lo..hi {
            if k > lo {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"PutRequest\":{\"Item\":");
            self.item_json(out, k);
            out.extend_from_slice(b"}}");
        }
        out.extend_from_slice(b"]}}");
    }
}

/// The DynamoDB operation(s) of an op kind.
pub fn op_names(kind: OpKind) -> (&'static str, Option<&'static str>) {
    match kind {
        OpKind::Read => ("GetItem", None),
        OpKind::Update => ("UpdateItem", None),
        OpKind::Insert => ("PutItem", None),
        OpKind::Scan(_) => ("Scan", None),
        OpKind::ReadModifyWrite => ("GetItem", Some("UpdateItem")),
    }
}

/// Names of the op kinds, in [`kind_index`] order.
pub const KINDS: [&str; 5] = ["read", "update", "insert", "scan", "read-modify-write"];

pub fn kind_index(kind: OpKind) -> usize {
    match kind {
        OpKind::Read => 0,
        OpKind::Update => 1,
        OpKind::Insert => 2,
        OpKind::Scan(_) => 3,
        OpKind::ReadModifyWrite => 4,
    }
}

fn new_hist() -> Histogram<u64> {
    // 3 significant digits, resized as larger values arrive; values in nanoseconds.
    Histogram::<u64>::new(3).unwrap_or_else(|_| unreachable!("3 significant digits are valid"))
}

/// Counts of one window (or of a whole run).
#[derive(Clone)]
pub struct Acc {
    pub ops: u64,
    pub throttled: u64,
    pub errors: u64,
    /// Latency of every op, nanoseconds.
    pub hist: Histogram<u64>,
}

impl Acc {
    pub fn new() -> Acc {
        Acc {
            ops: 0,
            throttled: 0,
            errors: 0,
            hist: new_hist(),
        }
    }

    #[inline]
    pub fn record(&mut self, latency_ns: u64, outcome: &Outcome) {
        self.ops += 1;
        match outcome {
            Outcome::Ok => {}
            Outcome::Throttled => self.throttled += 1,
            Outcome::Error(_) => self.errors += 1,
        }
        // Histograms resize to fit, so `record` fails only past u64 bucket limits.
        if self.hist.record(latency_ns.max(1)).is_err() {
            self.hist.saturating_record(latency_ns);
        }
    }

    fn merge(&mut self, o: &Acc) {
        self.ops += o.ops;
        self.throttled += o.throttled;
        self.errors += o.errors;
        // Both auto-resize, so adding cannot fail on range.
        let _ = self.hist.add(&o.hist);
    }

    pub fn throttled_pct(&self) -> f64 {
        100.0 * self.throttled as f64 / self.ops.max(1) as f64
    }

    /// Latency at quantile `q`, microseconds.
    pub fn us(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }
}

impl Default for Acc {
    fn default() -> Self {
        Acc::new()
    }
}

/// State every client thread shares (and the progress display reads).
#[derive(Default)]
pub struct Shared {
    /// Operations completed (read by the progress display).
    pub done: AtomicU64,
    issued: AtomicU64,
    next_insert: AtomicU64,
    stop: AtomicBool,
    windows: Mutex<BTreeMap<u64, Acc>>,
    errors: Mutex<BTreeMap<String, (u64, String)>>,
}

impl Shared {
    fn flush(&self, index: u64, acc: &Acc) {
        if acc.ops == 0 {
            return;
        }
        if let Ok(mut w) = self.windows.lock() {
            w.entry(index).or_default().merge(acc);
        }
    }

    fn note_error(&self, kind: &str, body: &Value) {
        if let Ok(mut e) = self.errors.lock() {
            let entry = e.entry(kind.to_string()).or_insert_with(|| {
                let msg = body
                    .get("message")
                    .or_else(|| body.get("Message"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                (0, msg)
            });
            entry.0 += 1;
        }
    }
}

/// One window of a run's report.
#[derive(Debug, Clone)]
pub struct WindowReport {
    pub t_end_s: f64,
    pub secs: f64,
    pub ops: u64,
    pub throttled: u64,
    pub errors: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
}

impl WindowReport {
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.secs.max(1e-9)
    }
}

/// What the engine runner adds: storage counters over the run.
#[derive(Debug, Clone)]
pub struct EngineReport {
    pub durability: String,
    /// Bytes written to the WAL and SSTables per user byte, during the run (load excluded).
    pub write_amplification: f64,
    /// The same over the load and the run.
    pub write_amplification_total: f64,
    pub user_bytes_written: u64,
    pub wal_syncs: u64,
    pub flushes: u64,
    pub compactions: u64,
    /// Size of the data directory once the database is closed (memtables flushed).
    pub bytes_on_disk: u64,
    /// The table's partitioning setting, as the engine reports it.
    pub partitioning: Option<String>,
    /// Capacity partitions and splits of the table at the end (capacity enforced only).
    pub capacity_partitions: Option<(usize, u64)>,
}

/// A finished run.
pub struct RealResult {
    pub runner: &'static str,
    pub config: RealConfig,
    pub load_secs: f64,
    pub elapsed_secs: f64,
    pub total: Acc,
    pub kinds: Vec<(&'static str, Acc)>,
    pub windows: Vec<WindowReport>,
    /// Error type → (count, first message).
    pub errors_by_type: BTreeMap<String, (u64, String)>,
    pub engine: Option<EngineReport>,
}

/// Live progress hooks (the progress bar); all no-ops by default.
pub trait Progress: Sync {
    fn phase(&self, _name: &str, _total: Option<u64>) {}
    fn tick(&self, _done: u64, _elapsed: Duration) {}
    fn finish(&self) {}
}

/// Creates the table unless it exists (with `pk` as its only key, and the
/// `hashlog:partitioning` tag `partitioning` when given), and waits until ACTIVE. A table that
/// exists must have that tag value too.
pub fn ensure_table(
    client: &mut dyn Client,
    table: &str,
    billing: Billing,
    partitioning: Option<&str>,
) -> Result<(), String> {
    let mut body = json!({
        "TableName": table,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    });
    if let Some(p) = partitioning {
        body["Tags"] = json!([{"Key": PARTITIONING_TAG, "Value": p}]);
    }
    match billing {
        Billing::OnDemand => body["BillingMode"] = json!("PAY_PER_REQUEST"),
        Billing::Provisioned { rcu, wcu } => {
            body["BillingMode"] = json!("PROVISIONED");
            body["ProvisionedThroughput"] =
                json!({"ReadCapacityUnits": rcu, "WriteCapacityUnits": wcu});
        }
    }
    let (o, v) = client.call("CreateTable", body.to_string().as_bytes())?;
    match o {
        Outcome::Ok => {}
        Outcome::Error(t) if t == "ResourceInUseException" => {}
        _ => return Err(format!("CreateTable {table}: {v}")),
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let describe = json!({ "TableName": table }).to_string();
    loop {
        let (o, d) = client.call("DescribeTable", describe.as_bytes())?;
        if o != Outcome::Ok {
            return Err(format!("DescribeTable {table}: {d}"));
        }
        let schema = d
            .pointer("/Table/KeySchema")
            .cloned()
            .unwrap_or(Value::Null);
        if schema != json!([{"AttributeName": "pk", "KeyType": "HASH"}]) {
            return Err(format!(
                "table {table} exists with key schema {schema}; the runner needs pk (S) only: \
                 choose another --table"
            ));
        }
        if d.pointer("/Table/TableStatus").and_then(Value::as_str) == Some("ACTIVE") {
            return match partitioning {
                Some(p) => check_partitioning_tag(client, table, &d, p),
                None => Ok(()),
            };
        }
        if Instant::now() > deadline {
            return Err(format!("table {table} not ACTIVE after 60 s"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `hashlog:partitioning` tag of an existing table must be `want`.
fn check_partitioning_tag(
    client: &mut dyn Client,
    table: &str,
    described: &Value,
    want: &str,
) -> Result<(), String> {
    let arn = described
        .pointer("/Table/TableArn")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("DescribeTable {table}: no TableArn"))?;
    let (o, v) = client.call(
        "ListTagsOfResource",
        json!({ "ResourceArn": arn }).to_string().as_bytes(),
    )?;
    if o != Outcome::Ok {
        return Err(format!("ListTagsOfResource {table}: {v}"));
    }
    let have = v["Tags"].as_array().and_then(|tags| {
        tags.iter()
            .find(|t| t["Key"] == PARTITIONING_TAG)
            .and_then(|t| t["Value"].as_str())
    });
    if have == Some(want) {
        Ok(())
    } else {
        Err(format!(
            "table {table} exists with {PARTITIONING_TAG} {have:?}, not {want:?}: choose \
             another --table"
        ))
    }
}

/// Loads items `0..records` with BatchWriteItem over `threads` clients, resending unprocessed
/// items with backoff.
fn load(target: &dyn Target, c: &RealConfig, progress: &dyn Progress) -> Result<(), String> {
    let batches = c.spec.records.div_ceil(LOAD_BATCH);
    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let failed = AtomicBool::new(false);
    progress.phase("load", Some(c.spec.records));
    let t0 = Instant::now();
    std::thread::scope(|s| -> Result<(), String> {
        let hs: Vec<_> = (0..c.threads.max(1))
            .map(|_| {
                let (next, done, failed) = (&next, &done, &failed);
                s.spawn(move || -> Result<(), String> {
                    let r = load_worker(target, c, batches, next, done);
                    if r.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    r
                })
            })
            .collect();
        while !hs.iter().all(|h| h.is_finished()) {
            progress.tick(done.load(Ordering::Relaxed), t0.elapsed());
            std::thread::sleep(Duration::from_millis(100));
        }
        for h in hs {
            h.join().map_err(|_| "load thread panicked".to_string())??;
        }
        Ok(())
    })?;
    progress.finish();
    Ok(())
}

fn load_worker(
    target: &dyn Target,
    c: &RealConfig,
    batches: u64,
    next: &AtomicU64,
    done: &AtomicU64,
) -> Result<(), String> {
    let mut client = target.connect()?;
    let mut gen = OpGen::new(&c.spec, &c.table);
    let mut body = Vec::new();
    loop {
        let b = next.fetch_add(1, Ordering::Relaxed);
        if b >= batches {
            return Ok(());
        }
        let lo = b * LOAD_BATCH;
        let hi = (lo + LOAD_BATCH).min(c.spec.records);
        gen.batch_put(&mut body, lo, hi);
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut backoff = Duration::from_millis(1);
        loop {
            let (o, v) = client.call("BatchWriteItem", &body)?;
            let retry = match o {
                Outcome::Ok => {
                    match v
                        .pointer(&format!("/UnprocessedItems/{}", c.table))
                        .filter(|u| u.as_array().is_some_and(|a| !a.is_empty()))
                    {
                        Some(u) => {
                            body = json!({"RequestItems": {c.table.as_str(): u}})
                                .to_string()
                                .into_bytes();
                            true
                        }
                        None => false,
                    }
                }
                Outcome::Throttled => true,
                Outcome::Error(t) => return Err(format!("loading: BatchWriteItem: {t}: {v}")),
            };
            if !retry {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "loading: items {lo}..{hi} still unprocessed after 120 s of retries"
                ));
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_millis(200));
        }
        done.fetch_add(hi - lo, Ordering::Relaxed);
    }
}

struct Worker<'a> {
    c: &'a RealConfig,
    shared: &'a Shared,
    t0: Instant,
    thread: usize,
}

/// Per-thread totals.
struct ThreadOut {
    kinds: Vec<Acc>,
}

impl Worker<'_> {
    fn run(&self, target: &dyn Target) -> Result<ThreadOut, String> {
        let c = self.c;
        let sh = self.shared;
        let mut client = target.connect()?;
        let mut gen = OpGen::new(&c.spec, &c.table);
        let seed = c
            .seed
            .wrapping_add((self.thread as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut kinds: Vec<Acc> = (0..KINDS.len()).map(|_| Acc::new()).collect();
        let mut win = Acc::new();
        let mut win_index = 0u64;
        let window = Duration::from_secs(c.window_secs.max(1));
        let deadline = c.duration.map(|d| self.t0 + d);
        let threads = c.threads.max(1) as f64;
        let period = c
            .rate
            .filter(|r| *r > 0.0)
            .map(|r| Duration::from_secs_f64(threads / r));
        // Stagger the threads' schedules over one period.
        let mut next_at = period.map(|p| self.t0 + p.mul_f64(self.thread as f64 / threads));
        loop {
            if sh.stop.load(Ordering::Relaxed) {
                break;
            }
            if let Some(total) = c.ops {
                if sh.issued.fetch_add(1, Ordering::Relaxed) >= total {
                    break;
                }
            }
            if let (Some(at), Some(p)) = (next_at.as_mut(), period) {
                if deadline.is_some_and(|d| *at >= d) {
                    break;
                }
                let now = Instant::now();
                if *at > now {
                    std::thread::sleep(*at - now);
                }
                *at += p;
            }
            let start = Instant::now();
            if deadline.is_some_and(|d| start >= d) {
                break;
            }
            let since = start.duration_since(self.t0);
            let wi = since.as_nanos() as u64 / window.as_nanos() as u64;
            if wi != win_index {
                sh.flush(win_index, &win);
                win = Acc::new();
                win_index = wi;
            }
            let kind = gen.next(&mut rng, since.as_secs(), &sh.next_insert);
            let (op, op2) = op_names(kind);
            let (mut outcome, body) = client.call(op, &gen.body)?;
            if let (Outcome::Ok, Some(op2)) = (&outcome, op2) {
                let (o2, b2) = client.call(op2, &gen.body2)?;
                if let Outcome::Error(t) = &o2 {
                    sh.note_error(t, &b2);
                }
                outcome = o2;
            } else if let Outcome::Error(t) = &outcome {
                sh.note_error(t, &body);
            }
            let ns = start.elapsed().as_nanos() as u64;
            win.record(ns, &outcome);
            kinds[kind_index(kind)].record(ns, &outcome);
            sh.done.fetch_add(1, Ordering::Relaxed);
        }
        sh.flush(win_index, &win);
        Ok(ThreadOut { kinds })
    }
}

/// Creates the table (if needed), loads it (if asked), then runs the workload.
pub fn run(
    target: &dyn Target,
    c: &RealConfig,
    progress: &dyn Progress,
) -> Result<RealResult, String> {
    check_table_name(&c.table)?;
    if c.duration.is_none() && c.ops.is_none() {
        return Err("a real-clock run needs --duration or --ops".into());
    }
    ensure_table(
        target.connect()?.as_mut(),
        &c.table,
        c.billing,
        c.partitioning_tag.as_deref(),
    )?;
    let tl = Instant::now();
    if c.load && c.spec.records > 0 {
        load(target, c, progress)?;
    }
    let load_secs = tl.elapsed().as_secs_f64();
    let mut r = run_phase(target, c, progress)?;
    r.load_secs = load_secs;
    Ok(r)
}

/// The run phase alone (the table exists and is loaded).
pub fn run_phase(
    target: &dyn Target,
    c: &RealConfig,
    progress: &dyn Progress,
) -> Result<RealResult, String> {
    if c.duration.is_none() && c.ops.is_none() {
        return Err("a real-clock run needs --duration or --ops".into());
    }
    let shared = Shared::default();
    shared.next_insert.store(
        OpGen::new(&c.spec, &c.table).first_insert(),
        Ordering::Relaxed,
    );
    progress.phase("run", c.ops);
    let t0 = Instant::now();
    let outs: Vec<ThreadOut> = std::thread::scope(|s| -> Result<Vec<ThreadOut>, String> {
        let hs: Vec<_> = (0..c.threads.max(1))
            .map(|thread| {
                let w = Worker {
                    c,
                    shared: &shared,
                    t0,
                    thread,
                };
                s.spawn(move || {
                    let r = w.run(target);
                    if r.is_err() {
                        w.shared.stop.store(true, Ordering::Relaxed);
                    }
                    r
                })
            })
            .collect();
        while !hs.iter().all(|h| h.is_finished()) {
            progress.tick(shared.done.load(Ordering::Relaxed), t0.elapsed());
            std::thread::sleep(Duration::from_millis(50));
        }
        hs.into_iter()
            .map(|h| h.join().map_err(|_| "client thread panicked".to_string())?)
            .collect()
    })?;
    let elapsed = t0.elapsed().as_secs_f64();
    progress.tick(shared.done.load(Ordering::Relaxed), t0.elapsed());
    progress.finish();

    let mut kinds: Vec<(&'static str, Acc)> = KINDS.iter().map(|k| (*k, Acc::new())).collect();
    for o in &outs {
        for (i, a) in o.kinds.iter().enumerate() {
            kinds[i].1.merge(a);
        }
    }
    let mut total = Acc::new();
    for (_, a) in &kinds {
        total.merge(a);
    }
    let wmap = shared
        .windows
        .into_inner()
        .map_err(|_| "window lock poisoned")?;
    let ws = c.window_secs.max(1) as f64;
    let last = wmap.keys().next_back().copied().unwrap_or(0);
    let windows = (0..=last)
        .map(|i| {
            let a = wmap.get(&i).cloned().unwrap_or_default();
            let start = i as f64 * ws;
            let end = ((i + 1) as f64 * ws).min(elapsed.max(start));
            WindowReport {
                t_end_s: end,
                secs: end - start,
                ops: a.ops,
                throttled: a.throttled,
                errors: a.errors,
                p50_us: a.us(0.5),
                p99_us: a.us(0.99),
                p999_us: a.us(0.999),
            }
        })
        .collect();
    Ok(RealResult {
        runner: target.name(),
        config: c.clone(),
        load_secs: 0.0,
        elapsed_secs: elapsed,
        total,
        kinds: kinds.into_iter().filter(|(_, a)| a.ops > 0).collect(),
        windows,
        errors_by_type: shared
            .errors
            .into_inner()
            .map_err(|_| "error lock poisoned")?,
        engine: None,
    })
}

/// Total size of the files under `dir`.
pub fn dir_bytes(dir: &Path) -> Result<u64, String> {
    let mut total = 0;
    for e in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let e = e.map_err(|e| format!("{}: {e}", dir.display()))?;
        let m = e
            .metadata()
            .map_err(|err| format!("{}: {err}", e.path().display()))?;
        total += if m.is_dir() {
            dir_bytes(&e.path())?
        } else {
            m.len()
        };
    }
    Ok(total)
}

/// Header of a real run's `summary.csv`.
pub const SUMMARY_HEADER: &str = "runner,workload,ycsb,dist,item_size,records,threads,\
target_rate_ops_s,elapsed_s,ops,ops_per_s,p50_us,p99_us,p999_us,max_us,throttled,throttled_pct,\
errors,write_amplification,bytes_on_disk";

/// Header of a real run's `windows.csv`.
pub const WINDOWS_HEADER: &str =
    "runner,workload,t_end_s,ops,ops_per_s,p50_us,p99_us,p999_us,throttled,throttled_pct,errors";

fn dist_name(r: &RealResult) -> String {
    crate::study::dist_name(&r.config.spec.dist)
}

/// The `summary.csv` row.
pub fn summary_row(r: &RealResult) -> String {
    let c = &r.config;
    let t = &r.total;
    let (wa, disk) = match &r.engine {
        Some(e) => (
            format!("{:.3}", e.write_amplification),
            e.bytes_on_disk.to_string(),
        ),
        None => (String::new(), String::new()),
    };
    format!(
        "{},{},{},{},{},{},{},{},{:.3},{},{:.1},{:.1},{:.1},{:.1},{:.1},{},{:.3},{},{},{}",
        r.runner,
        c.label,
        c.spec.ycsb.name(),
        dist_name(r),
        c.spec.item_size,
        c.spec.records,
        c.threads,
        c.rate.map(|x| format!("{x}")).unwrap_or_default(),
        r.elapsed_secs,
        t.ops,
        t.ops as f64 / r.elapsed_secs.max(1e-9),
        t.us(0.5),
        t.us(0.99),
        t.us(0.999),
        t.hist.max() as f64 / 1000.0,
        t.throttled,
        t.throttled_pct(),
        t.errors,
        wa,
        disk
    )
}

/// The `windows.csv` rows.
pub fn window_rows(r: &RealResult) -> Vec<String> {
    r.windows
        .iter()
        .map(|w| {
            format!(
                "{},{},{:.3},{},{:.1},{:.1},{:.1},{:.1},{},{:.3},{}",
                r.runner,
                r.config.label,
                w.t_end_s,
                w.ops,
                w.ops_per_sec(),
                w.p50_us,
                w.p99_us,
                w.p999_us,
                w.throttled,
                100.0 * w.throttled as f64 / w.ops.max(1) as f64,
                w.errors
            )
        })
        .collect()
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn acc_json(a: &Acc, secs: f64) -> Value {
    json!({
        "ops": a.ops,
        "ops_per_s": round3(a.ops as f64 / secs.max(1e-9)),
        "p50_us": a.us(0.5),
        "p99_us": a.us(0.99),
        "p999_us": a.us(0.999),
        "max_us": a.hist.max() as f64 / 1000.0,
        "mean_us": round3(a.hist.mean() / 1000.0),
        "throttled": a.throttled,
        "throttled_pct": round3(a.throttled_pct()),
        "errors": a.errors,
    })
}

/// The run as JSON.
pub fn run_json(r: &RealResult, params: Value) -> Value {
    let c = &r.config;
    let windows: Vec<Value> = r
        .windows
        .iter()
        .map(|w| {
            json!({
                "t_end_s": round3(w.t_end_s),
                "ops": w.ops,
                "ops_per_s": round3(w.ops_per_sec()),
                "p50_us": w.p50_us,
                "p99_us": w.p99_us,
                "p999_us": w.p999_us,
                "throttled": w.throttled,
                "throttled_pct": round3(100.0 * w.throttled as f64 / w.ops.max(1) as f64),
                "errors": w.errors,
            })
        })
        .collect();
    let mut by_kind = serde_json::Map::new();
    for (k, a) in &r.kinds {
        by_kind.insert((*k).to_string(), acc_json(a, r.elapsed_secs));
    }
    let errors: serde_json::Map<String, Value> = r
        .errors_by_type
        .iter()
        .map(|(t, (n, m))| (t.clone(), json!({"count": n, "first_message": m})))
        .collect();
    json!({
        "params": params,
        "runner": r.runner,
        "workload": c.label,
        "ycsb": c.spec.ycsb.name(),
        "dist": dist_name(r),
        "item_size": c.spec.item_size.to_string(),
        "records": c.spec.records,
        "threads": c.threads,
        "target_rate_ops_s": c.rate,
        "duration_s": c.duration.map(|d| d.as_secs_f64()),
        "ops_limit": c.ops,
        "window_s": c.window_secs,
        "seed": c.seed,
        "table": c.table,
        "billing": c.billing.to_string(),
        "partitioning_tag": c.partitioning_tag,
        "loaded": c.load,
        "load_s": round3(r.load_secs),
        "elapsed_s": round3(r.elapsed_secs),
        "total": acc_json(&r.total, r.elapsed_secs),
        "by_op": by_kind,
        "errors_by_type": errors,
        "engine": r.engine.as_ref().map(|e| json!({
            "durability": e.durability,
            "write_amplification": round3(e.write_amplification),
            "write_amplification_with_load": round3(e.write_amplification_total),
            "user_bytes_written": e.user_bytes_written,
            "wal_syncs": e.wal_syncs,
            "flushes": e.flushes,
            "compactions": e.compactions,
            "bytes_on_disk": e.bytes_on_disk,
            "partitioning": e.partitioning,
            "capacity_partitions": e.capacity_partitions.map(|p| p.0),
            "capacity_splits": e.capacity_partitions.map(|p| p.1),
        })),
        "machine": crate::machine(),
        "windows": windows,
    })
}

/// Latency CDF points (x = "nines": 1 = p90, 2 = p99, 3 = p99.9; y = µs), up to the nines
/// the sample size supports.
pub fn cdf_points(a: &Acc) -> Vec<(f64, f64)> {
    let max_nines = (a.ops.max(1) as f64).log10().clamp(0.0, 5.0);
    let steps = (max_nines * 20.0).round() as usize;
    (0..=steps)
        .map(|i| {
            let x = max_nines * i as f64 / steps.max(1) as f64;
            let q = 1.0 - 10f64.powf(-x);
            (x, a.us(q))
        })
        .collect()
}

/// Writes summary.csv, windows.csv, latency_cdf.csv, run.json and latency_cdf.svg.
pub fn write_outputs(dir: &Path, params: Value, r: &RealResult) -> Result<(), String> {
    let w = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    w(
        "summary.csv",
        &format!("{SUMMARY_HEADER}\n{}\n", summary_row(r)),
    )?;
    let mut windows = format!("{WINDOWS_HEADER}\n");
    for row in window_rows(r) {
        windows.push_str(&row);
        windows.push('\n');
    }
    w("windows.csv", &windows)?;
    let mut series = vec![Series {
        name: "all".into(),
        points: cdf_points(&r.total),
    }];
    series.extend(r.kinds.iter().map(|(k, a)| Series {
        name: (*k).to_string(),
        points: cdf_points(a),
    }));
    let mut cdf = String::from("op,nines,quantile,latency_us\n");
    for s in &series {
        for (x, y) in &s.points {
            cdf.push_str(&format!(
                "{},{x:.2},{:.6},{y:.1}\n",
                s.name,
                1.0 - 10f64.powf(-x)
            ));
        }
    }
    w("latency_cdf.csv", &cdf)?;
    let text = serde_json::to_string_pretty(&run_json(r, params)).map_err(|e| e.to_string())?;
    w("run.json", &format!("{text}\n"))?;
    let svg = line_chart_y(
        &format!(
            "Latency CDF: {} runner, YCSB {}, {}, {} threads",
            r.runner,
            r.config.spec.ycsb.name(),
            r.config.label,
            r.config.threads
        ),
        "percentile in nines (1 = p90, 2 = p99, 3 = p99.9)",
        "latency (µs, log scale)",
        &series,
        false,
        YAxis::Log,
    )?;
    w("latency_cdf.svg", &svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Distribution;
    use crate::workload::Ycsb;

    fn spec(ycsb: Ycsb) -> WorkloadSpec {
        WorkloadSpec {
            ycsb,
            dist: Distribution::Uniform,
            records: 100,
            item_size: ItemSize::Fixed(100),
            shift_every_secs: None,
            max_scan: 10,
        }
    }

    #[test]
    fn request_bodies_are_the_dynamodb_json_of_each_op() {
        let mut rng = SmallRng::seed_from_u64(3);
        let ins = AtomicU64::new(100);
        let mut seen = [false; 5];
        for y in [Ycsb::A, Ycsb::D, Ycsb::E, Ycsb::F] {
            let mut g = OpGen::new(&spec(y), "usertable");
            for _ in 0..200 {
                let kind = g.next(&mut rng, 0, &ins);
                seen[kind_index(kind)] = true;
                let v: Value = serde_json::from_slice(&g.body).expect("valid JSON");
                assert_eq!(v["TableName"], "usertable");
                match kind {
                    OpKind::Read | OpKind::ReadModifyWrite => {
                        let pk = v["Key"]["pk"]["S"].as_str().expect("key");
                        assert!(pk.starts_with("user") && pk.len() == 16, "{pk}");
                    }
                    OpKind::Update => {
                        let val = v["ExpressionAttributeValues"][":v"]["S"].as_str();
                        assert_eq!(val.map(str::len), Some(100 - ITEM_KEY_OVERHEAD));
                        assert_eq!(v["UpdateExpression"], "SET v = :v");
                    }
                    OpKind::Insert => {
                        let pk = v["Item"]["pk"]["S"].as_str().expect("key");
                        assert!(pk >= "user000000000100", "{pk}");
                        assert_eq!(v["Item"]["v"]["S"].as_str().map(str::len), Some(81));
                    }
                    OpKind::Scan(n) => {
                        assert_eq!(v["Limit"], n);
                        assert!(v["ExclusiveStartKey"]["pk"]["S"].is_string());
                    }
                }
                if kind == OpKind::ReadModifyWrite {
                    let u: Value = serde_json::from_slice(&g.body2).expect("valid JSON");
                    assert_eq!(u["Key"], v["Key"]);
                }
            }
        }
        assert_eq!(seen, [true; 5]);
        let mut g = OpGen::new(&spec(Ycsb::A), "usertable");
        let mut b = Vec::new();
        g.batch_put(&mut b, 25, 50);
        let v: Value = serde_json::from_slice(&b).expect("valid JSON");
        let items = v["RequestItems"]["usertable"].as_array().expect("items");
        assert_eq!(items.len(), 25);
        assert_eq!(
            items[0]["PutRequest"]["Item"]["pk"]["S"],
            "user000000000025"
        );
    }

    #[test]
    fn throttle_errors_are_told_apart_from_other_errors() {
        assert_eq!(
            classify("ProvisionedThroughputExceededException"),
            Outcome::Throttled
        );
        assert_eq!(classify("ThrottlingException"), Outcome::Throttled);
        assert_eq!(
            classify("ValidationException"),
            Outcome::Error("ValidationException".into())
        );
    }

    #[test]
    fn billing_and_table_names_parse() {
        assert_eq!("on-demand".parse::<Billing>(), Ok(Billing::OnDemand));
        assert_eq!(
            "100, 200".parse::<Billing>(),
            Ok(Billing::Provisioned { rcu: 100, wcu: 200 })
        );
        assert!("0,5".parse::<Billing>().is_err());
        assert!(check_table_name("ab").is_err());
        assert!(check_table_name("a\"bc").is_err());
        assert!(check_table_name("usertable").is_ok());
    }
}
