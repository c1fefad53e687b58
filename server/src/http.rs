//! The HTTP front: routing, body limits, SigV4, the blocking bridge to the [`Executor`],
//! DynamoDB's response headers and error shapes, metrics, and graceful shutdown.
//!
//! Wire protocol: `POST /` with `Content-Type: application/x-amz-json-1.0` (or 1.1) and
//! `X-Amz-Target: DynamoDB_20120810.<Operation>` (or `DynamoDBStreams_20120810.<Operation>`,
//! handed to the executor as `Streams.<Operation>`). Every API response carries
//! `x-amzn-RequestId` and `x-amz-crc32` (CRC32 of the body, which boto3 verifies). `GET /` is a
//! health check, `GET /metrics` the Prometheus exposition.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hashlog::api::{ApiError, ErrorCode, Response as Answer, STAGED_OPERATIONS};
use hashlog::table::StagedWrite;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::executor::Executor;
use crate::metrics::{answer_facts, Metrics, Outcome};
use crate::placer::{self, ReadPlacer};
use crate::sigv4::{self, Credentials, RequestParts};

/// The JSON 1.0 content type DynamoDB speaks.
pub const CONTENT_TYPE_JSON_10: &str = "application/x-amz-json-1.0";
pub const CONTENT_TYPE_JSON_11: &str = "application/x-amz-json-1.1";
const TARGET_PREFIX: &str = "DynamoDB_20120810.";
const STREAMS_TARGET_PREFIX: &str = "DynamoDBStreams_20120810.";
/// Metric label of requests whose operation could not be determined.
const UNKNOWN_OPERATION_LABEL: &str = "_unknown";
/// Largest number of requests reading or executing at once (see [`ServerConfig`]).
const IN_FLIGHT_CAP: u32 = 1 << 20;
/// Largest request-body budget, in KiB (1 TiB: beyond any real setting).
const BODY_BUDGET_CAP_KIB: u32 = 1 << 30;

/// How the server behaves; [`ServerConfig::default`] is what `hashlog serve` uses.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `Some`: every API request must carry a valid SigV4 signature by one of these
    /// identities. `None`: any credentials (or none) are accepted, like DynamoDB Local.
    pub credentials: Option<Credentials>,
    /// Largest request body read; larger ones are refused without being buffered.
    pub request_body_max_bytes: usize,
    /// API requests reading their body or executing at once; more wait (bounds memory).
    pub requests_in_flight_max: usize,
    /// Request-body bytes being read or executed at once (by Content-Length; a body without
    /// one counts as `request_body_max_bytes`); more requests wait. With the per-request cap
    /// this bounds what overload can make the server hold.
    pub request_bytes_in_flight_max: usize,
    /// How long a client may take to send a request body.
    pub body_read_timeout: Duration,
    /// How long a client may take to send request headers.
    pub header_read_timeout: Duration,
    /// On shutdown, how long in-flight requests get to finish.
    pub drain_timeout: Duration,
    /// Extra gauges on `/metrics` (e.g. the durability mode), as `hashlog_<name>`.
    pub static_gauges: Vec<(String, f64)>,
    /// Run small reads on the reactor threads ([`placement`]); `false`: every operation runs
    /// on the blocking pool. On by default: an inline GetItem costs half the server CPU of an
    /// offloaded one and answers sooner; a data block it must read from the file is read
    /// through `tokio::task::block_in_place`, so the reactor's other connections move to
    /// another thread meanwhile (docs/ARCHITECTURE.md, "The HTTP front's threads").
    pub inline_reads: bool,
    /// Run single-item writes (PutItem, UpdateItem, DeleteItem) on the reactor threads up to
    /// their log append and await their group commit there, instead of a blocking-pool thread
    /// waiting for it (`Executor::respond_staged`); `false`: they run on the blocking pool.
    /// On by default: no thread handoff and no blocked thread per write. A write that would
    /// wait (its item locked, writes stalled) still finishes on the blocking pool.
    pub inline_writes: bool,
    /// The region the server stands in for (`GET /` answers as that region's endpoint does).
    pub region: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            credentials: None,
            request_body_max_bytes: hashlog::limits::REQUEST_BODY_MAX_BYTES,
            requests_in_flight_max: 1024,
            request_bytes_in_flight_max: 256 * 1024 * 1024,
            body_read_timeout: Duration::from_secs(60),
            header_read_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(30),
            static_gauges: Vec::new(),
            inline_reads: true,
            inline_writes: true,
            region: "us-east-1".into(),
        }
    }
}

/// Why serving stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot read the bound address: {0}")]
    LocalAddr(std::io::Error),
    #[error("cannot install a signal handler: {0}")]
    Signal(std::io::Error),
    #[error("shutdown hook failed: {0}")]
    Shutdown(String),
    #[error("shutdown hook did not run: {0}")]
    ShutdownTask(String),
}

/// Unique request ids: a per-process prefix (start time and pid) and a counter.
struct RequestIds {
    prefix: u64,
    next: AtomicU64,
}

impl RequestIds {
    fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        RequestIds {
            prefix: mix(nanos ^ (u64::from(std::process::id()) << 32)),
            next: AtomicU64::new(1),
        }
    }

    /// 52 characters of `[0-9A-V]`, the length and alphabet of DynamoDB's request ids (52
    /// of `[0-9A-Z]`): 256 bits, the counter among them, so unique within the process and
    /// very likely across runs.
    fn next(&self) -> String {
        const DIGITS: &[u8; 32] = b"0123456789ABCDEFGHIJKLMNOPQRSTUV";
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let words = [
            self.prefix,
            n,
            mix(self.prefix ^ n),
            mix(n.rotate_left(17) ^ !self.prefix),
        ];
        let mut out = String::with_capacity(52);
        let (mut acc, mut bits) = (0u128, 0u32);
        for w in words {
            acc = (acc << 64) | u128::from(w);
            bits += 64;
            while bits >= 5 {
                bits -= 5;
                out.push(char::from(DIGITS[((acc >> bits) & 31) as usize]));
            }
            acc &= (1u128 << bits) - 1;
        }
        if bits > 0 {
            out.push(char::from(DIGITS[((acc << (5 - bits)) & 31) as usize]));
        }
        out
    }
}

/// SplitMix64's finalizer.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Everything the request handlers share.
pub struct App {
    executor: Arc<dyn Executor>,
    config: ServerConfig,
    metrics: Metrics,
    ids: RequestIds,
    in_flight: Arc<Semaphore>,
    permits: u32,
    /// Request-body budget in KiB ([`ServerConfig::request_bytes_in_flight_max`]).
    body_budget: Arc<Semaphore>,
    body_budget_kib: u32,
    connections_open: Arc<AtomicUsize>,
    connections_total: AtomicU64,
    /// Single-item writes staged on a reactor that awaited their commit there, and those
    /// handed to the blocking pool because they would have waited (an item's lock stripe
    /// held, writes stalled behind flushes).
    writes_awaited: AtomicU64,
    writes_handed_off: AtomicU64,
    started: Instant,
    /// Whether small reads run inline right now ([`crate::placer`]).
    placer: ReadPlacer,
}

impl App {
    pub fn new(executor: Arc<dyn Executor>, config: ServerConfig) -> Arc<App> {
        let permits = u32::try_from(config.requests_in_flight_max)
            .unwrap_or(IN_FLIGHT_CAP)
            .clamp(1, IN_FLIGHT_CAP);
        let body_budget_kib = u32::try_from(config.request_bytes_in_flight_max.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, BODY_BUDGET_CAP_KIB);
        Arc::new(App {
            body_budget: Arc::new(Semaphore::new(body_budget_kib as usize)),
            body_budget_kib,
            executor,
            metrics: Metrics::default(),
            ids: RequestIds::new(),
            in_flight: Arc::new(Semaphore::new(permits as usize)),
            permits,
            connections_open: Arc::default(),
            connections_total: AtomicU64::new(0),
            writes_awaited: AtomicU64::new(0),
            writes_handed_off: AtomicU64::new(0),
            started: Instant::now(),
            placer: ReadPlacer::default(),
            config,
        })
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The `/metrics` text: request metrics, server gauges, then the executor's.
    pub fn render_metrics(&self) -> String {
        let mut gauges = vec![
            (
                "http_connections_open".to_string(),
                self.connections_open.load(Ordering::Relaxed) as f64,
            ),
            (
                "http_connections_total".to_string(),
                self.connections_total.load(Ordering::Relaxed) as f64,
            ),
            (
                "requests_in_flight".to_string(),
                f64::from(self.permits) - self.in_flight.available_permits() as f64,
            ),
            (
                "request_bytes_in_flight".to_string(),
                1024.0
                    * (f64::from(self.body_budget_kib)
                        - self.body_budget.available_permits() as f64),
            ),
            (
                "uptime_seconds".to_string(),
                self.started.elapsed().as_secs_f64(),
            ),
            // Where small reads run now (1: inline on the reactors), and how many windows of
            // reads from the device sent them to the blocking pool (server/src/placer.rs).
            (
                "reads_inline".to_string(),
                f64::from(u8::from(self.config.inline_reads && self.placer.inline())),
            ),
            (
                "read_offload_windows_total".to_string(),
                self.placer.offload_windows() as f64,
            ),
            (
                "writes_awaited_total".to_string(),
                self.writes_awaited.load(Ordering::Relaxed) as f64,
            ),
            (
                "writes_handed_off_total".to_string(),
                self.writes_handed_off.load(Ordering::Relaxed) as f64,
            ),
        ];
        gauges.extend(self.config.static_gauges.iter().cloned());
        gauges.extend(self.executor.engine_metrics());
        self.metrics.render(&gauges)
    }
}

type Resp = Response<Full<Bytes>>;

fn now_unix_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn plain(status: StatusCode, body: impl Into<Bytes>, content_type: &'static str) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// An API response: body, CRC32, request id, content type.
fn api_response(status: u16, body: Vec<u8>, request_id: &str, content_type: &'static str) -> Resp {
    let crc = crc32fast::hash(&body);
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    h.insert("x-amz-crc32", HeaderValue::from(crc));
    r
}

fn error_body(e: &ApiError) -> Vec<u8> {
    e.to_json().to_string().into_bytes()
}

/// What the request line and headers say about an API call.
struct Call {
    request_id: String,
    operation: Option<String>,
    content_type: &'static str,
    started: Instant,
}

impl Call {
    fn op_label(&self) -> &str {
        self.operation.as_deref().unwrap_or(UNKNOWN_OPERATION_LABEL)
    }
}

/// `X-Amz-Target` → the operation handed to the executor.
pub fn operation_of(target: &str) -> Option<String> {
    let valid = |op: &str| !op.is_empty() && op.bytes().all(|b| b.is_ascii_alphanumeric());
    if let Some(op) = target.strip_prefix(TARGET_PREFIX) {
        return valid(op).then(|| op.to_string());
    }
    if let Some(op) = target.strip_prefix(STREAMS_TARGET_PREFIX) {
        return valid(op).then(|| format!("Streams.{op}"));
    }
    None
}

/// The response content type for a request's content type; `Err` for one we do not speak.
/// A missing Content-Type is taken as JSON 1.0 (curl-friendly).
fn content_type_of(headers: &HeaderMap) -> Result<&'static str, String> {
    let Some(v) = headers.get(CONTENT_TYPE) else {
        return Ok(CONTENT_TYPE_JSON_10);
    };
    let s = String::from_utf8_lossy(v.as_bytes());
    let media = s.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case(CONTENT_TYPE_JSON_10)
        || media.eq_ignore_ascii_case("application/json")
    {
        Ok(CONTENT_TYPE_JSON_10)
    } else if media.eq_ignore_ascii_case(CONTENT_TYPE_JSON_11) {
        Ok(CONTENT_TYPE_JSON_11)
    } else {
        Err(s.into_owned())
    }
}

/// Largest request body whose operation may run on a reactor thread (see [`placement`]);
/// bigger bodies are parsed, and run, on a blocking thread.
pub const INLINE_BODY_MAX_BYTES: usize = 16 * 1024;

/// Where the HTTP front runs an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// On the reactor thread that read the request: no thread handoff. Only for operations
    /// that never wait for the WAL or for a lock a writer holds across I/O, and whose work is
    /// bounded and small.
    Inline,
    /// On tokio's blocking pool: writes (they wait for their group commit, or for room when
    /// the engine stalls), anything unbounded or CPU-heavy, and anything unknown.
    Offload,
}

/// Where `operation` runs, given what the probe read from its body (the rule is documented
/// in docs/ARCHITECTURE.md, "The HTTP front's threads").
///
/// Inline: GetItem (one item of at most 400 KB, read without a lock), the catalog reads
/// (DescribeTable, ListTables, DescribeTimeToLive, ListTagsOfResource, DescribeLimits), and
/// Query: a page reads up to 1 MB, but past its first 32 items or 64 KiB the engine reads the
/// rest through the thread's blocking hook, which moves it off the reactor
/// (`block_in_place`), and the answer of such a page is encoded off it too. Offloaded: every
/// write, BatchGetItem and TransactGetItems (up to 100 items: 16 MB and 4 MB answers), Scan (a
/// page reads up to 1 MB, usually all of it), the Streams API, and anything else. The caller
/// offloads bodies over [`INLINE_BODY_MAX_BYTES`] without asking.
pub fn placement(operation: &str, _facts: &RequestFacts) -> Placement {
    match operation {
        "GetItem" | "DescribeTable" | "ListTables" | "DescribeTimeToLive"
        | "ListTagsOfResource" | "DescribeLimits" | "Query" => Placement::Inline,
        _ => Placement::Offload,
    }
}

/// What the server reads from a request body before running it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFacts {
    /// The table the request is about, for metrics: `TableName`, or the one table of a batch
    /// (empty when there is none, or several).
    pub table: String,
    /// A positive integer `Limit`, if the body has one.
    pub limit: Option<u64>,
}

/// Reads [`RequestFacts`] from a body, skipping everything else without allocating. A body
/// that is not a JSON object gives the default facts (the executor reports the error).
pub fn probe(body: &[u8]) -> RequestFacts {
    probe_for(body, true)
}

/// [`probe`]; without `want_limit`, reading stops at a string `TableName` (SDKs send it
/// first), so a PutItem's item is not parsed a second time just to name its table in the
/// metrics, and `limit` is then `None` whatever the body says. Past the table nothing is
/// read: a duplicate `TableName` or a malformed rest still names the first one (the
/// executor answers the error; only the metrics' label differs from [`probe`]'s).
pub fn probe_for(body: &[u8], want_limit: bool) -> RequestFacts {
    use serde::de::{Deserializer as _, Error as _, IgnoredAny, MapAccess, Visitor};
    use std::cell::{Cell, RefCell};

    #[derive(serde::Deserialize)]
    #[serde(field_identifier)]
    enum Key {
        TableName,
        RequestItems,
        Limit,
        #[serde(other)]
        Other,
    }
    #[derive(Default)]
    struct Found {
        table_name: Option<String>,
        request_items: Option<BTreeMap<String, IgnoredAny>>,
        limit: Option<Value>,
    }
    struct Facts<'a> {
        found: &'a RefCell<Found>,
        stopped: &'a Cell<bool>,
        want_limit: bool,
    }
    impl<'de> Visitor<'de> for Facts<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a request object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<Key>()? {
                let mut found = self.found.borrow_mut();
                match key {
                    Key::TableName if found.table_name.is_some() => {
                        return Err(A::Error::duplicate_field("TableName"))
                    }
                    Key::TableName => {
                        // `null` reads as absent, as an `Option` field would.
                        found.table_name = map.next_value()?;
                        if !self.want_limit && found.table_name.is_some() {
                            self.stopped.set(true);
                            return Err(A::Error::custom("stop"));
                        }
                    }
                    Key::RequestItems if found.request_items.is_some() => {
                        return Err(A::Error::duplicate_field("RequestItems"))
                    }
                    Key::RequestItems => found.request_items = Some(map.next_value()?),
                    Key::Limit if found.limit.is_some() => {
                        return Err(A::Error::duplicate_field("Limit"))
                    }
                    Key::Limit => found.limit = Some(map.next_value()?),
                    Key::Other => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(())
        }
    }

    let found = RefCell::new(Found::default());
    let stopped = Cell::new(false);
    let mut de = serde_json::Deserializer::from_slice(body);
    let read = de
        .deserialize_map(Facts {
            found: &found,
            stopped: &stopped,
            want_limit,
        })
        .and_then(|()| de.end());
    if read.is_err() && !stopped.get() {
        return RequestFacts::default();
    }
    let p = found.into_inner();
    let table = match (p.table_name, p.request_items) {
        (Some(t), _) => t,
        (None, Some(m)) if m.len() == 1 => m.into_keys().next().unwrap_or_default(),
        _ => String::new(),
    };
    RequestFacts {
        table,
        limit: p.limit.as_ref().and_then(Value::as_u64).filter(|l| *l > 0),
    }
}

impl App {
    fn record(
        &self,
        call: &Call,
        table: &str,
        status: u16,
        error: Option<&ApiError>,
        ok: Option<&Answer>,
    ) {
        let seconds = call.started.elapsed().as_secs_f64();
        let facts = ok
            .map(|v| answer_facts(call.op_label(), v))
            .unwrap_or_default();
        self.metrics.record(&Outcome {
            table,
            operation: call.op_label(),
            seconds,
            error_type: error.map(|e| e.code.type_name()),
            status,
            returned_items: facts.returned_items,
            read_units: facts.read_units,
            write_units: facts.write_units,
        });
        let us = (seconds * 1e6) as u64;
        let id = call.request_id.as_str();
        let op = call.op_label();
        match error {
            Some(e) if e.code.http_status() >= 500 => tracing::error!(
                target: "hashlog::request",
                request_id = id, op, table, status, us, error = %e, "request failed"
            ),
            Some(e) => tracing::info!(
                target: "hashlog::request",
                request_id = id, op, table, status, us, error = e.code.type_name(), "request refused"
            ),
            None => tracing::info!(
                target: "hashlog::request",
                request_id = id, op, table, status, us, "request"
            ),
        }
    }

    /// An error answered by the server itself (before or instead of the executor). `close`
    /// when the request body was not read: the connection cannot be reused.
    fn refuse(&self, call: &Call, e: ApiError, close: bool) -> Resp {
        let status = e.code.http_status();
        self.record(call, "", status, Some(&e), None);
        let mut r = api_response(status, error_body(&e), &call.request_id, call.content_type);
        if close {
            r.headers_mut()
                .insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
        }
        r
    }
}

async fn handle(app: Arc<App>, req: Request<Incoming>) -> Result<Resp, Infallible> {
    let method = req.method().clone();
    if method == Method::GET || method == Method::HEAD {
        return Ok(match req.uri().path() {
            // DynamoDB's endpoints answer a GET / with this line (trailing space included);
            // health checks look for it.
            "/" => plain(
                StatusCode::OK,
                format!("healthy: dynamodb.{}.amazonaws.com ", app.config.region),
                "text/plain; charset=utf-8",
            ),
            "/metrics" => {
                let a = Arc::clone(&app);
                match tokio::task::spawn_blocking(move || a.render_metrics()).await {
                    Ok(text) => plain(StatusCode::OK, text, "text/plain; version=0.0.4"),
                    Err(e) => plain(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("metrics failed: {e}\n"),
                        "text/plain; charset=utf-8",
                    ),
                }
            }
            _ => plain(
                StatusCode::NOT_FOUND,
                "not found\n",
                "text/plain; charset=utf-8",
            ),
        });
    }
    let origin = req.headers().contains_key(hyper::header::ORIGIN);
    if method == Method::OPTIONS && origin {
        return Ok(cors_preflight(&app, req.headers()));
    }
    if method != Method::POST {
        // DynamoDB's answer to any other method: 404 and this body.
        let body = b"<UnknownOperationException/>\n".to_vec();
        let mut r = api_response(404, body, &app.ids.next(), "text/plain; charset=utf-8");
        if origin {
            allow_any_origin(&mut r);
        }
        return Ok(r);
    }
    let mut r = api(app, req).await;
    if origin {
        allow_any_origin(&mut r);
    }
    Ok(r)
}

/// A browser's request (it sent `Origin`) may read the answer, from any origin, as
/// DynamoDB's endpoints allow: the AWS SDK for JavaScript in a page works against hashlog.
fn allow_any_origin(r: &mut Resp) {
    let h = r.headers_mut();
    h.insert(
        hyper::header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        hyper::header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("x-amzn-RequestId,x-amzn-ErrorType,x-amz-crc32"),
    );
}

/// A CORS preflight (`OPTIONS` with `Origin`): 200 with no body, allowing the headers and
/// method asked for, for two days, as DynamoDB answers it.
fn cors_preflight(app: &App, headers: &hyper::HeaderMap) -> Resp {
    let mut r = api_response(
        200,
        Vec::new(),
        &app.ids.next(),
        "text/plain; charset=utf-8",
    );
    let h = r.headers_mut();
    h.remove(CONTENT_TYPE);
    h.remove("x-amz-crc32");
    h.insert(
        hyper::header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        hyper::header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("172800"),
    );
    if let Some(v) = headers.get(hyper::header::ACCESS_CONTROL_REQUEST_HEADERS) {
        h.insert(hyper::header::ACCESS_CONTROL_ALLOW_HEADERS, v.clone());
    }
    if let Some(v) = headers.get(hyper::header::ACCESS_CONTROL_REQUEST_METHOD) {
        h.insert(hyper::header::ACCESS_CONTROL_ALLOW_METHODS, v.clone());
    }
    r
}

async fn api(app: Arc<App>, req: Request<Incoming>) -> Resp {
    let (parts, body) = req.into_parts();
    let content_type = content_type_of(&parts.headers);
    let target = parts
        .headers
        .get("x-amz-target")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string());
    let call = Call {
        request_id: app.ids.next(),
        operation: target.as_deref().and_then(operation_of),
        content_type: match &content_type {
            Ok(c) => c,
            Err(_) => CONTENT_TYPE_JSON_10,
        },
        started: Instant::now(),
    };

    // Refuse an oversized body before reading a byte of it.
    let max = app.config.request_body_max_bytes;
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(n) = declared.filter(|n| *n > max as u64) {
        let e = ApiError::validation(format!(
            "Request size {n} exceeds the maximum request size of {max} bytes"
        ));
        return app.refuse(&call, e, true);
    }

    // Authentication, header stage: no body is read for a request that cannot be valid.
    let mut header_list: Vec<(String, String)> = Vec::new();
    let mut pending = None;
    if let Some(creds) = &app.config.credentials {
        header_list = parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let rp = RequestParts {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or(""),
            headers: &header_list,
        };
        match sigv4::check_headers(&rp, creds, now_unix_secs()) {
            Ok(p) => pending = Some(p),
            Err(e) => return app.refuse(&call, e.to_api_error(), true),
        }
    }

    if let Err(ct) = &content_type {
        let e = ApiError::new(
            ErrorCode::UnknownOperationException,
            format!(
                "Content-Type '{ct}' is not supported: send {CONTENT_TYPE_JSON_10} or {CONTENT_TYPE_JSON_11}"
            ),
        );
        return app.refuse(&call, e, true);
    }

    // Bound what is buffered: a permit per request being read or executed.
    let Ok(permit) = Arc::clone(&app.in_flight).acquire_owned().await else {
        let e = ApiError::new(ErrorCode::ServiceUnavailable, "The server is shutting down");
        return app.refuse(&call, e, true);
    };
    // And a share of the body budget, by declared size, held until the request has executed.
    let want_kib = declared
        .map_or(max as u64, |n| n.min(max as u64))
        .div_ceil(1024)
        .clamp(1, u64::from(app.body_budget_kib)) as u32;
    let Ok(body_permit) = Arc::clone(&app.body_budget)
        .acquire_many_owned(want_kib)
        .await
    else {
        let e = ApiError::new(ErrorCode::ServiceUnavailable, "The server is shutting down");
        return app.refuse(&call, e, true);
    };
    let collected = tokio::time::timeout(
        app.config.body_read_timeout,
        Limited::new(body, max).collect(),
    )
    .await;
    let body = match collected {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) => {
            let msg = if e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                format!("Request body exceeds the maximum request size of {max} bytes")
            } else {
                format!("Could not read the request body: {e}")
            };
            return app.refuse(&call, ApiError::validation(msg), true);
        }
        Err(_) => {
            let e = ApiError::validation("Timed out reading the request body");
            return app.refuse(&call, e, true);
        }
    };

    if let Some(p) = &pending {
        let rp = RequestParts {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or(""),
            headers: &header_list,
        };
        if let Err(e) = p.verify(&rp, &body) {
            return app.refuse(&call, e.to_api_error(), false);
        }
    }

    let Some(operation) = call.operation.clone() else {
        let msg = match &target {
            None => "Missing X-Amz-Target header".to_string(),
            Some(t) => format!("Unknown operation: X-Amz-Target '{t}'"),
        };
        let e = ApiError::new(ErrorCode::UnknownOperationException, msg);
        return app.refuse(&call, e, false);
    };

    if operation == "DescribeEndpoints" {
        let host = parts
            .headers
            .get(hyper::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost")
            .to_string();
        let v = json!({"Endpoints": [{"Address": host, "CachePeriodInMinutes": 1440}]});
        let body = v.to_string().into_bytes();
        app.record(&call, "", 200, None, Some(&Answer::Json(v)));
        return api_response(200, body, &call.request_id, call.content_type);
    }

    // With `inline_writes`, a single-item write runs here up to its log append and its
    // commit is awaited; what would wait goes to the blocking pool.
    if app.config.inline_writes
        && body.len() <= INLINE_BODY_MAX_BYTES
        && STAGED_OPERATIONS.contains(&operation.as_str())
        && app.placer.inline()
    {
        let file_reads = placer::file_reads_on_thread();
        let staged = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            hashlog::io::blocking::with_blocking_hook(placer::read_in_place, || {
                app.executor.respond_staged(&operation, &body)
            })
        }));
        match staged {
            Ok(None) => {}
            Ok(Some(staged)) => {
                app.placer
                    .observe(placer::file_reads_on_thread() != file_reads);
                let table = probe_for(&body, false).table;
                drop(body);
                let result = match staged {
                    StagedWrite::Done(r) => Ok(r),
                    // Spawned, so the write finishes (and its item's lock is released only
                    // once it is visible) even if this request's connection goes away.
                    StagedWrite::Commit(commit) => {
                        app.writes_awaited.fetch_add(1, Ordering::Relaxed);
                        tokio::spawn(commit).await.map_err(|e| e.to_string())
                    }
                    StagedWrite::Blocking(rest) => {
                        app.writes_handed_off.fetch_add(1, Ordering::Relaxed);
                        tokio::task::spawn_blocking(move || {
                            hashlog::io::blocking::with_blocking_hook(placer::read_counted, rest)
                        })
                        .await
                        .map_err(|e| e.to_string())
                    }
                };
                drop(permit);
                drop(body_permit);
                let executed = result.map(|r| {
                    let encoded = match &r {
                        Ok(v) => serde_json::to_vec(v).map_err(|e| {
                            ApiError::internal(format!("could not encode the response: {e}"))
                        }),
                        Err(e) => Ok(error_body(e)),
                    };
                    (table, r.map(Answer::Json), encoded)
                });
                return answer(&app, &call, executed);
            }
            Err(p) => return answer(&app, &call, Err(panic_text(p.as_ref()))),
        }
    }

    // With `inline_reads`, reads that touch no log and answer little run here, on the
    // reactor, while recent ones found their blocks in memory ([`crate::placer`]); everything
    // else (a write waits for its WAL sync; a Scan page is up to 1 MB of work) on a blocking
    // thread.
    // Only Query and Scan have a `Limit`; the rest stop reading at the table.
    let facts = (body.len() <= INLINE_BODY_MAX_BYTES)
        .then(|| probe_for(&body, matches!(operation.as_str(), "Query" | "Scan")));
    let eligible = match &facts {
        Some(f) if app.config.inline_reads => placement(&operation, f) == Placement::Inline,
        _ => false,
    };
    let place = if eligible && app.placer.inline() {
        Placement::Inline
    } else {
        Placement::Offload
    };
    let a = Arc::clone(&app);
    let work = move || {
        let file_reads = placer::file_reads_on_thread();
        let long_work = placer::long_work_on_thread();
        let table = match facts {
            Some(f) => f.table,
            None => probe_for(&body, false).table,
        };
        // Reads come back as items and are serialised from them, with no `Value` tree.
        let result = a.executor.respond(&operation, &body);
        drop(body);
        drop(permit);
        drop(body_permit);
        let missed = placer::file_reads_on_thread() != file_reads;
        let long = placer::long_work_on_thread() != long_work;
        let encode = || match &result {
            Ok(v) => v
                .to_json_vec()
                .map_err(|e| ApiError::internal(format!("could not encode the response: {e}"))),
            Err(e) => Ok(error_body(e)),
        };
        // A long page has a long answer: it is encoded through the hook too, off the reactor.
        let encoded = if long {
            hashlog::io::blocking::blocking(hashlog::io::blocking::Wait::LongWork, || Ok(encode()))
                .unwrap_or_else(|e| {
                    Err(ApiError::internal(format!(
                        "could not encode the response: {e}"
                    )))
                })
        } else {
            encode()
        };
        (table, result, encoded, missed)
    };
    let joined = match place {
        Placement::Inline => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            hashlog::io::blocking::with_blocking_hook(placer::read_in_place, work)
        }))
        .map_err(|p| panic_text(p.as_ref())),
        Placement::Offload => tokio::task::spawn_blocking(move || {
            hashlog::io::blocking::with_blocking_hook(placer::read_counted, work)
        })
        .await
        .map_err(|e| e.to_string()),
    };
    let joined = joined.map(|(table, result, encoded, missed)| {
        if eligible {
            app.placer.observe(missed);
        }
        (table, result, encoded)
    });
    answer(&app, &call, joined)
}

/// An executed request's answer: (the table for metrics, the result, its encoded body), or
/// why the executing task failed.
type Executed = Result<(String, Result<Answer, ApiError>, Result<Vec<u8>, ApiError>), String>;

/// The HTTP answer to an executed request, recorded in the metrics.
fn answer(app: &App, call: &Call, executed: Executed) -> Resp {
    match executed {
        Ok((table, Ok(v), Ok(bytes))) => {
            app.record(call, &table, 200, None, Some(&v));
            api_response(200, bytes, &call.request_id, call.content_type)
        }
        Ok((table, Err(e), Ok(bytes))) => {
            let status = e.code.http_status();
            app.record(call, &table, status, Some(&e), None);
            api_response(status, bytes, &call.request_id, call.content_type)
        }
        Ok((table, _, Err(e))) => {
            let status = e.code.http_status();
            app.record(call, &table, status, Some(&e), None);
            api_response(status, error_body(&e), &call.request_id, call.content_type)
        }
        Err(why) => {
            // The executor panicked: a bug, reported as DynamoDB reports its own failures.
            let e = ApiError::internal(format!("request task failed: {why}"));
            app.refuse(call, e, false)
        }
    }
}

/// What a panic payload says.
fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    match (p.downcast_ref::<&str>(), p.downcast_ref::<String>()) {
        (Some(s), _) => format!("panicked: {s}"),
        (_, Some(s)) => format!("panicked: {s}"),
        _ => "panicked".to_string(),
    }
}

/// Binds `addr` (port 0 picks a free port; read it back with `local_addr`).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })
}

/// One connection's requests until it closes or the server stops (then gracefully: the
/// request in flight is answered, the connection closed).
async fn connection(
    a: Arc<App>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
) {
    let _open = Held::new(&a.connections_open);
    a.connections_total.fetch_add(1, Ordering::Relaxed);
    let svc_app = Arc::clone(&a);
    let svc = service_fn(move |req| handle(Arc::clone(&svc_app), req));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(a.config.header_read_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    let stopped = async move {
        // The guard `wait_for` returns must not live across an await.
        let _ = stop.wait_for(|s| *s).await.map(|_| ());
    };
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = stopped => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, "connection ended: {e}");
    }
}

/// One count in a gauge of open connections, given back when dropped (a task that panics or
/// is aborted included).
struct Held(Arc<AtomicUsize>);

impl Held {
    fn new(gauge: &Arc<AtomicUsize>) -> Held {
        gauge.fetch_add(1, Ordering::Relaxed);
        Held(Arc::clone(gauge))
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves connections from `listener` until `shutdown` completes; then stops accepting,
/// lets in-flight requests finish (up to [`ServerConfig::drain_timeout`]), and calls the
/// executor's shutdown hook. Connections are served by the runtime this runs on.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    serve_on(listener, app, shutdown, Vec::new()).await
}

/// [`serve`] with each connection pinned to one of `reactors` (single-threaded runtimes, one
/// per thread): the one serving the fewest connections when it is accepted. A connection's
/// requests then never move between threads, and no worker wakes another to steal them,
/// which costs a multi-thread runtime a cross-core wake-up per burst of requests
/// (docs/results/2026-12-05-server-reactors.md). Empty: the runtime this runs on serves them.
pub async fn serve_on(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
    reactors: Vec<tokio::runtime::Handle>,
) -> Result<(), ServeError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    let load: Vec<Arc<AtomicUsize>> = reactors.iter().map(|_| Arc::default()).collect();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        // Typically EMFILE: back off instead of spinning.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let a = Arc::clone(&app);
                let stop = stop_rx.clone();
                match load.iter().enumerate().min_by_key(|(_, n)| n.load(Ordering::Relaxed)) {
                    None => {
                        conns.spawn(connection(a, stream, peer, stop));
                    }
                    Some((i, n)) => {
                        // The socket leaves this runtime's I/O driver and joins the chosen
                        // reactor's, inside the task that reactor runs.
                        let std = match stream.into_std() {
                            Ok(s) => s,
                            Err(e) => {
                                tracing::warn!(%peer, "cannot hand the connection over: {e}");
                                continue;
                            }
                        };
                        // Counted until the task ends however it ends (a panic, an abort, or
                        // a runtime that never ran it), or the reactor would look busy forever.
                        let held = Held::new(n);
                        conns.spawn_on(
                            async move {
                                let _held = held;
                                match tokio::net::TcpStream::from_std(std) {
                                    Ok(stream) => connection(a, stream, peer, stop).await,
                                    Err(e) => tracing::warn!(%peer, "cannot register the connection: {e}"),
                                }
                            },
                            &reactors[i],
                        );
                    }
                }
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!(
        connections = conns.len(),
        "shutting down: no new connections; finishing in-flight requests"
    );
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(app.config.drain_timeout, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = conns.len(),
            "drain timeout: closing connections that are still busy"
        );
        conns.abort_all();
    }
    // Requests whose connection was aborted may still be executing: wait for their permits.
    match tokio::time::timeout(
        app.config.drain_timeout,
        app.in_flight.acquire_many(app.permits),
    )
    .await
    {
        Ok(Ok(p)) => {
            p.forget();
            app.in_flight.close();
            app.body_budget.close();
        }
        _ => tracing::warn!("requests still executing at shutdown"),
    }
    let ex = Arc::clone(&app.executor);
    tokio::task::spawn_blocking(move || ex.shutdown())
        .await
        .map_err(|e| ServeError::ShutdownTask(e.to_string()))?
        .map_err(ServeError::Shutdown)?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on the first SIGINT or SIGTERM. Call it inside the runtime.
pub fn shutdown_signal() -> Result<impl Future<Output = ()>, ServeError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(ServeError::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(ServeError::Signal)?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read from the file inside an inline request goes through `block_in_place`: on a
    /// runtime with one worker, work queued on the runtime still runs while the read waits
    /// (here the "read" waits for exactly such work). Without the hook the worker is simply
    /// blocked and the queued work never runs while it waits.
    #[test]
    fn an_inline_read_that_waits_for_the_file_leaves_the_reactor_to_other_tasks() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let wait_for_other_task = |hooked: bool| {
            rt.block_on(async move {
                tokio::spawn(async move {
                    let read = || {
                        hashlog::io::blocking::blocking(hashlog::io::blocking::Wait::Device, || {
                            let (tx, rx) = std::sync::mpsc::channel();
                            tokio::spawn(async move {
                                let _ = tx.send(());
                            });
                            Ok(rx.recv_timeout(Duration::from_millis(if hooked {
                                10_000
                            } else {
                                300
                            })))
                        })
                    };
                    let got = if hooked {
                        hashlog::io::blocking::with_blocking_hook(
                            crate::placer::read_in_place,
                            read,
                        )
                    } else {
                        read()
                    };
                    got.expect("read").is_ok()
                })
                .await
                .expect("task")
            })
        };
        assert!(
            wait_for_other_task(true),
            "block_in_place let the other task run"
        );
        assert!(
            !wait_for_other_task(false),
            "a plainly blocked worker runs nothing else"
        );
    }

    #[test]
    fn targets_map_to_operations() {
        assert_eq!(
            operation_of("DynamoDB_20120810.PutItem").as_deref(),
            Some("PutItem")
        );
        assert_eq!(
            operation_of("DynamoDBStreams_20120810.GetRecords").as_deref(),
            Some("Streams.GetRecords")
        );
        for bad in [
            "",
            "DynamoDB_20120810.",
            "DynamoDB_20120810",
            "DynamoDB_20111205.PutItem",
            "DynamoDB_20120810.Put Item",
            "DynamoDB_20120810.Put\"Item",
            "PutItem",
        ] {
            assert_eq!(operation_of(bad), None, "{bad}");
        }
    }

    fn table_of(body: &[u8]) -> String {
        probe(body).table
    }

    #[test]
    fn table_probe_reads_table_name_or_single_batch_table() {
        assert_eq!(
            table_of(br#"{"Item":{"TableName":{"S":"x"}},"TableName":"t1"}"#),
            "t1"
        );
        assert_eq!(
            table_of(br#"{"RequestItems":{"only":{"Keys":[{"a":{"S":"x"}}]}}}"#),
            "only"
        );
        assert_eq!(table_of(br#"{"RequestItems":{"a":{},"b":{}}}"#), "");
        assert_eq!(table_of(b"{not json"), "");
        assert_eq!(table_of(br#"{"TableName":5}"#), "");
    }

    /// Stopping at the table gives the same table as reading the whole body, for bodies
    /// with the table first, last, escaped, missing or of the wrong type.
    #[test]
    fn a_probe_that_stops_at_the_table_names_the_same_table() {
        for b in [
            &br#"{"TableName":"t1","Item":{"TableName":{"S":"x"},"v":{"S":"\u0041"}}}"#[..],
            br#"{"Item":{"TableName":{"S":"x"}},"TableName":"t1"}"#,
            br#"{"Tabl\u0065Name":"t2","Item":{}}"#,
            br#"{"RequestItems":{"only":{"Keys":[]}}}"#,
            br#"{"TableName":5,"Item":{}}"#,
            br#"{"TableName":null,"RequestItems":{"t":{}}}"#,
            br#"{"TableName":"t1","Limit":7}"#,
            b"{not json",
            b"[]",
        ] {
            assert_eq!(
                probe_for(b, false).table,
                probe(b).table,
                "{}",
                String::from_utf8_lossy(b)
            );
        }
        // Past the table, a body is not read: a malformed rest still names it.
        assert_eq!(
            probe_for(br#"{"TableName":"t1","Item":{bad"#, false).table,
            "t1"
        );
        assert_eq!(probe(br#"{"TableName":"t1","Item":{bad"#).table, "");
    }

    #[test]
    fn probe_reads_a_positive_integer_limit_only() {
        let limit = |b: &[u8]| probe(b).limit;
        assert_eq!(limit(br#"{"TableName":"t1","Limit":10}"#), Some(10));
        assert_eq!(
            limit(br#"{"Limit":10,"TableName":"t1","X":{"Limit":1000}}"#),
            Some(10)
        );
        for b in [
            &br#"{"TableName":"t1"}"#[..],
            br#"{"Limit":0}"#,
            br#"{"Limit":-5}"#,
            br#"{"Limit":2.5}"#,
            br#"{"Limit":"10"}"#,
            br#"{"Limit":null}"#,
            br#"{"Limit":1e3}"#,
            b"[]",
        ] {
            assert_eq!(limit(b), None, "{}", String::from_utf8_lossy(b));
        }
        // A Limit of the wrong type does not hide the table.
        assert_eq!(probe(br#"{"TableName":"t1","Limit":"x"}"#).table, "t1");
    }

    #[test]
    fn reads_that_cannot_wait_on_the_log_run_inline_and_the_rest_offloaded() {
        let none = RequestFacts::default();
        let limited = |l: u64| RequestFacts {
            table: "t1".into(),
            limit: Some(l),
        };
        for op in [
            "GetItem",
            "DescribeTable",
            "ListTables",
            "DescribeTimeToLive",
            "ListTagsOfResource",
            "DescribeLimits",
        ] {
            assert_eq!(placement(op, &none), Placement::Inline, "{op}");
        }
        for op in [
            "PutItem",
            "UpdateItem",
            "DeleteItem",
            "BatchWriteItem",
            "TransactWriteItems",
            "CreateTable",
            "DeleteTable",
            "UpdateTable",
            "TagResource",
            "UntagResource",
            "UpdateTimeToLive",
            "BatchGetItem",
            "TransactGetItems",
            "Scan",
            "Streams.ListStreams",
            "Streams.DescribeStream",
            "Streams.GetShardIterator",
            "Streams.GetRecords",
            "NoSuchOperation",
        ] {
            assert_eq!(placement(op, &none), Placement::Offload, "{op}");
        }
        // A Query runs inline with or without a Limit (a long page leaves the reactor itself).
        assert_eq!(placement("Query", &none), Placement::Inline);
        assert_eq!(placement("Query", &limited(1)), Placement::Inline);
        assert_eq!(placement("Query", &limited(10_000)), Placement::Inline);
        // A Limit makes a Scan no cheaper to place: it may filter through 1 MB per page.
        assert_eq!(placement("Scan", &limited(1)), Placement::Offload);
        assert_eq!(placement("PutItem", &limited(1)), Placement::Offload);
    }

    #[test]
    fn request_ids_are_unique_and_shaped_as_dynamodbs() {
        let ids = RequestIds::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let id = ids.next();
            assert_eq!(id.len(), 52, "{id}");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()),
                "{id}"
            );
            assert!(seen.insert(id));
        }
    }

    #[test]
    fn content_types_accepted() {
        let mut h = HeaderMap::new();
        assert_eq!(content_type_of(&h), Ok(CONTENT_TYPE_JSON_10));
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-amz-json-1.1"),
        );
        assert_eq!(content_type_of(&h), Ok(CONTENT_TYPE_JSON_11));
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-amz-json-1.0; charset=utf-8"),
        );
        assert_eq!(content_type_of(&h), Ok(CONTENT_TYPE_JSON_10));
        h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(content_type_of(&h).is_err());
    }
}
