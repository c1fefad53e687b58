//! A DynamoDB workload over HTTP against any endpoint (hashlog or another emulator): N
//! keep-alive connections, each a thread with a blocking client, PutItem / GetItem / Query of
//! fixed-size items, throughput and latency percentiles.
//!
//! The client is the same for every server and kept cheap, since it shares the machine with
//! the server it measures: request bodies are written into reused buffers from pre-serialised
//! fragments, response headers are parsed without allocating, and a response body is checked
//! with a typed parse that skips what it does not need (no `serde_json::Value` tree). Every
//! answer is still checked: HTTP 200 and well-formed JSON, a GetItem's answer must hold an
//! `Item` and a Query's a `Count` of at least one (the put phase loaded every key); anything
//! else counts as an error.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{json, Value};

pub struct Conn {
    host: String,
    stream: TcpStream,
    /// The server said it closes the connection after its answer (`Connection: close`, or
    /// HTTP/1.0 without keep-alive): the next request opens a new one, as any client would.
    closing: bool,
    buf: Buffers,
}

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 64 * 1024;

/// A connection's reused buffers: the request being sent, bytes read and not yet parsed, one
/// read's bytes, the last response's body.
struct Buffers {
    req: Vec<u8>,
    rbuf: Vec<u8>,
    tmp: Vec<u8>,
    body: Vec<u8>,
}

impl Buffers {
    fn new() -> Buffers {
        Buffers {
            req: Vec::with_capacity(4096),
            rbuf: Vec::with_capacity(READ_CHUNK),
            tmp: vec![0; READ_CHUNK],
            body: Vec::with_capacity(16 * 1024),
        }
    }

    /// The response at the front of what was read, once all of it is (its body in `body`,
    /// its bytes consumed); `None`: read more (into `tmp`, then [`Buffers::got`]).
    fn response(&mut self) -> Result<Option<Parsed>, String> {
        let p = parse_response(&self.rbuf, &mut self.body)?;
        if let Some(p) = &p {
            self.rbuf.drain(..p.consumed);
        }
        Ok(p)
    }

    /// `n` bytes were read into `tmp`.
    fn got(&mut self, n: usize) {
        self.rbuf.extend_from_slice(&self.tmp[..n]);
    }
}

fn addr_of(endpoint: &str) -> Result<String, String> {
    let rest = endpoint
        .strip_prefix("http://")
        .ok_or("only http:// endpoints are supported")?;
    Ok(rest.trim_end_matches('/').to_string())
}

/// The bytes of a header line without its line end and surrounding blanks.
fn trim_bytes(mut b: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = b {
        if first.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = b {
        if last.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    b
}

/// Whether `hay` contains `needle`, ASCII case-insensitively.
fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

fn parse_usize(b: &[u8], radix: u32) -> Option<usize> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| usize::from_str_radix(s, radix).ok())
}

/// Writes a DynamoDB request (headers and body) into `out`.
fn write_request(out: &mut Vec<u8>, host: &str, op: &str, body: &[u8]) -> Result<(), String> {
    out.clear();
    write!(
        out,
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: DynamoDB_20120810.{op}\r\n\
         X-Amz-Date: 20260101T000000Z\r\nAuthorization: AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=00\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    out.extend_from_slice(body);
    Ok(())
}

/// One HTTP/1.1 response read from the front of a buffer.
#[derive(Debug, PartialEq, Eq)]
struct Parsed {
    status: u16,
    /// Bytes of the buffer the response took.
    consumed: usize,
    /// The server closes the connection after it.
    closing: bool,
}

/// The line starting at `*at` (without its `\n`), moving `*at` past it; `None` while the
/// buffer does not hold the whole line.
fn next_line<'b>(buf: &'b [u8], at: &mut usize) -> Option<&'b [u8]> {
    let rest = buf.get(*at..)?;
    let n = rest.iter().position(|b| *b == b'\n')?;
    *at += n + 1;
    Some(&rest[..n])
}

/// Parses the response at the start of `buf`, its body (de-chunked) into `body`. `Ok(None)`
/// while `buf` does not hold all of it yet: read more and call again. One parser for the
/// blocking and the event-driven client.
fn parse_response(buf: &[u8], body: &mut Vec<u8>) -> Result<Option<Parsed>, String> {
    let mut at = 0;
    let Some(status_line) = next_line(buf, &mut at) else {
        return Ok(None);
    };
    let status: u16 = status_line
        .split(|b| *b == b' ')
        .filter(|p| !p.is_empty())
        .nth(1)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| format!("bad status line {:?}", String::from_utf8_lossy(status_line)))?;
    let mut closing = status_line.starts_with(b"HTTP/1.0");
    let mut len: Option<usize> = None;
    let mut chunked = false;
    loop {
        let Some(line) = next_line(buf, &mut at) else {
            return Ok(None);
        };
        let l = trim_bytes(line);
        if l.is_empty() {
            break;
        }
        let Some(colon) = l.iter().position(|b| *b == b':') else {
            continue;
        };
        let (k, v) = (trim_bytes(&l[..colon]), trim_bytes(&l[colon + 1..]));
        if k.eq_ignore_ascii_case(b"content-length") {
            len = parse_usize(v, 10);
        } else if k.eq_ignore_ascii_case(b"transfer-encoding") {
            chunked = contains_ignore_case(v, b"chunked");
        } else if k.eq_ignore_ascii_case(b"connection") {
            closing = v.eq_ignore_ascii_case(b"close")
                || (closing && !v.eq_ignore_ascii_case(b"keep-alive"));
        }
    }
    body.clear();
    if chunked {
        loop {
            let Some(line) = next_line(buf, &mut at) else {
                return Ok(None);
            };
            let size = trim_bytes(line);
            // Chunk extensions (`;name=value`) follow the size.
            let size = size.split(|b| *b == b';').next().unwrap_or(size);
            let n = parse_usize(trim_bytes(size), 16)
                .ok_or_else(|| format!("bad chunk size {:?}", String::from_utf8_lossy(line)))?;
            if n == 0 {
                // Trailers, up to the empty line.
                loop {
                    let Some(line) = next_line(buf, &mut at) else {
                        return Ok(None);
                    };
                    if trim_bytes(line).is_empty() {
                        break;
                    }
                }
                break;
            }
            let Some(chunk) = at.checked_add(n).and_then(|end| buf.get(at..end)) else {
                return Ok(None);
            };
            body.extend_from_slice(chunk);
            at += n;
            // The CRLF after the chunk.
            if next_line(buf, &mut at).is_none() {
                return Ok(None);
            }
        }
    } else {
        let n = len.unwrap_or(0);
        let Some(b) = at.checked_add(n).and_then(|end| buf.get(at..end)) else {
            return Ok(None);
        };
        body.extend_from_slice(b);
        at += n;
    }
    Ok(Some(Parsed {
        status,
        consumed: at,
        closing,
    }))
}

impl Conn {
    pub fn connect(endpoint: &str) -> Result<Conn, String> {
        let host = addr_of(endpoint)?;
        Self::open(host)
    }

    fn open(host: String) -> Result<Conn, String> {
        let s = TcpStream::connect(&host).map_err(|e| format!("connect {host}: {e}"))?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        Ok(Conn {
            host,
            stream: s,
            closing: false,
            buf: Buffers::new(),
        })
    }

    /// One request; returns (HTTP status, body).
    pub fn call(&mut self, op: &str, body: &Value) -> Result<(u16, Value), String> {
        self.call_raw(op, body.to_string().as_bytes())
    }

    /// One request with a JSON body already serialised; returns (HTTP status, body).
    pub fn call_raw(&mut self, op: &str, body: &[u8]) -> Result<(u16, Value), String> {
        let status = self.send(op, body)?;
        let v = if self.buf.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&self.buf.body).map_err(|e| e.to_string())?
        };
        Ok((status, v))
    }

    /// The body of the last answer [`Conn::send`] read.
    pub fn body(&self) -> &[u8] {
        &self.buf.body
    }

    /// One request; returns the HTTP status and leaves the body in [`Conn::body`].
    pub fn send(&mut self, op: &str, body: &[u8]) -> Result<u16, String> {
        if self.closing {
            *self = Self::open(self.host.clone())?;
        }
        write_request(&mut self.buf.req, &self.host, op, body)?;
        self.stream
            .write_all(&self.buf.req)
            .map_err(|e| e.to_string())?;
        loop {
            if let Some(p) = self.buf.response()? {
                self.closing = p.closing;
                return Ok(p.status);
            }
            let n = self
                .stream
                .read(&mut self.buf.tmp)
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed by the server".into());
            }
            self.buf.got(n);
        }
    }
}

/// [`Conn`] on a tokio runtime: the event-driven client, many connections per thread.
struct AsyncConn {
    host: String,
    stream: tokio::net::TcpStream,
    closing: bool,
    buf: Buffers,
}

impl AsyncConn {
    async fn open(host: String) -> Result<AsyncConn, String> {
        let s = tokio::net::TcpStream::connect(&host)
            .await
            .map_err(|e| format!("connect {host}: {e}"))?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        Ok(AsyncConn {
            host,
            stream: s,
            closing: false,
            buf: Buffers::new(),
        })
    }

    /// [`Conn::send`]: one request, its status; the body is left in `body`. Gives up after
    /// 30 s without the whole answer, as the blocking client's read timeout does.
    async fn send(&mut self, op: &str, body: &[u8]) -> Result<u16, String> {
        tokio::time::timeout(Duration::from_secs(30), self.exchange(op, body))
            .await
            .map_err(|_| "no answer within 30 s".to_string())?
    }

    async fn exchange(&mut self, op: &str, body: &[u8]) -> Result<u16, String> {
        if self.closing {
            *self = Self::open(self.host.clone()).await?;
        }
        write_request(&mut self.buf.req, &self.host, op, body)?;
        let mut out = &self.buf.req[..];
        while !out.is_empty() {
            match self.stream.try_write(out) {
                Ok(n) => out = &out[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    self.stream.writable().await.map_err(|e| e.to_string())?
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        loop {
            if let Some(p) = self.buf.response()? {
                self.closing = p.closing;
                return Ok(p.status);
            }
            match self.stream.try_read(&mut self.buf.tmp) {
                Ok(0) => return Err("connection closed by the server".into()),
                Ok(n) => self.buf.got(n),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    self.stream.readable().await.map_err(|e| e.to_string())?
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }
}

pub fn ensure_table(endpoint: &str, table: &str) -> Result<(), String> {
    let mut c = Conn::connect(endpoint)?;
    let (st, v) = c.call("CreateTable", &json!({
        "TableName": table,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
        "BillingMode": "PAY_PER_REQUEST"
    }))?;
    if st != 200 && !v.to_string().contains("ResourceInUse") {
        return Err(format!("CreateTable failed: {v}"));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let (_, d) = c.call("DescribeTable", &json!({"TableName": table}))?;
        if d.pointer("/Table/TableStatus").and_then(Value::as_str) == Some("ACTIVE") {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err("table never became ACTIVE".into())
}

/// The operations the workload runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Put,
    Get,
    Query,
}

impl Op {
    pub fn parse(s: &str) -> Result<Op, String> {
        match s.trim() {
            "put" => Ok(Op::Put),
            "get" => Ok(Op::Get),
            "query" => Ok(Op::Query),
            other => Err(format!("unknown op {other:?}: expected put, get or query")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Op::Put => "put",
            Op::Get => "get",
            Op::Query => "query",
        }
    }

    fn target(self) -> &'static str {
        match self {
            Op::Put => "PutItem",
            Op::Get => "GetItem",
            Op::Query => "Query",
        }
    }
}

/// Request bodies of the workload, written from fragments serialised once.
struct Bodies {
    /// `"table"` as a JSON string.
    table: String,
    /// The item's value attribute as a JSON string.
    value: String,
}

impl Bodies {
    fn new(table: &str, value: &str) -> Result<Bodies, String> {
        Ok(Bodies {
            table: serde_json::to_string(table).map_err(|e| e.to_string())?,
            value: serde_json::to_string(value).map_err(|e| e.to_string())?,
        })
    }

    /// The body of `op` on item `i` (partition key `user{i/10}`, sort key `i % 10`).
    fn write(&self, out: &mut Vec<u8>, op: Op, i: u64) -> std::io::Result<()> {
        out.clear();
        let (t, pk, sk) = (&self.table, i / 10, i % 10);
        match op {
            Op::Put => write!(
                out,
                r#"{{"TableName":{t},"Item":{{"pk":{{"S":"user{pk}"}},"sk":{{"N":"{sk}"}},"v":{{"S":{}}}}}}}"#,
                self.value
            ),
            Op::Get => write!(
                out,
                r#"{{"TableName":{t},"Key":{{"pk":{{"S":"user{pk}"}},"sk":{{"N":"{sk}"}}}}}}"#
            ),
            Op::Query => write!(
                out,
                r#"{{"TableName":{t},"KeyConditionExpression":"pk = :p","ExpressionAttributeValues":{{":p":{{"S":"user{pk}"}}}}}}"#
            ),
        }
    }
}

#[derive(Deserialize)]
struct GetAnswer {
    #[serde(rename = "Item")]
    item: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct QueryAnswer {
    #[serde(rename = "Count")]
    count: u64,
}

/// Whether an answer is the success `op` expects: HTTP 200, well-formed JSON, and for a get
/// an `Item`, for a query a `Count` of at least one.
fn answer_ok(op: Op, status: u16, body: &[u8]) -> bool {
    if status != 200 {
        return false;
    }
    match op {
        Op::Put => serde_json::from_slice::<IgnoredAny>(body).is_ok(),
        Op::Get => serde_json::from_slice::<GetAnswer>(body).is_ok_and(|a| a.item.is_some()),
        Op::Query => serde_json::from_slice::<QueryAnswer>(body).is_ok_and(|a| a.count >= 1),
    }
}

pub struct Report {
    pub ops_per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    /// Answers that were not the expected success (see [`answer_ok`]).
    pub errors: u64,
}

/// How the client drives its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// One OS thread per connection, blocked in each call (as most SDK users' threads are).
    Threads,
    /// This many OS threads, each an event loop (a tokio current-thread runtime) driving its
    /// share of the connections: fewer wake-ups per request, so a client sharing the machine
    /// with the server takes less of its CPU.
    Events(usize),
}

/// The workload's shared state: which item comes next and how many answers were wrong.
struct Work {
    op: Op,
    ops: u64,
    keys: u64,
    next: AtomicU64,
    errors: AtomicU64,
    bodies: Bodies,
    /// Open loop: when request `n` is due.
    pace: Option<Pace>,
}

/// A fixed schedule: request `n` is due at `start + n × interval`.
#[derive(Debug, Clone, Copy)]
struct Pace {
    start: Instant,
    interval: Duration,
}

impl Pace {
    fn due(&self, n: u64) -> Instant {
        let nanos = self.interval.as_nanos().saturating_mul(u128::from(n));
        self.start + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// Where a request's latency is measured from. Closed loop: when it is sent. Open loop: when
/// it was due, if the connection was late for it (the wait counts, or a stalled server
/// would hide its stall behind the requests it kept from being sent, the "coordinated
/// omission" of closed-loop clients); else when it is sent after waiting for it to fall due
/// (so the timer's own lateness does not count).
enum Start {
    Now,
    Late(Instant),
    At(Instant),
}

impl Work {
    fn start(&self, n: u64) -> Start {
        match self.pace {
            None => Start::Now,
            Some(p) => {
                let due = p.due(n);
                if due <= Instant::now() {
                    Start::Late(due)
                } else {
                    Start::At(due)
                }
            }
        }
    }
}

impl Work {
    /// The next request's body, or `None` once `ops` have been handed out. Puts write items
    /// `0..ops` (mod `keys`) in order; gets and queries pick keys uniformly at random (`x` is
    /// the caller's xorshift state).
    fn next_body(&self, x: &mut u64, out: &mut Vec<u8>) -> Result<Option<u64>, String> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        if n >= self.ops {
            return Ok(None);
        }
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        let i = if self.op == Op::Put {
            n % self.keys.max(1)
        } else {
            *x % self.keys.max(1)
        };
        self.bodies
            .write(out, self.op, i)
            .map_err(|e| e.to_string())?;
        Ok(Some(n))
    }

    fn check(&self, status: u16, body: &[u8]) {
        if !answer_ok(self.op, status, body) {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn seed(t: usize) -> u64 {
    0x9e37_79b9_7f4a_7c15u64 ^ t as u64
}

/// One connection's requests on the blocking client.
fn drive_blocking(endpoint: &str, work: &Work, t: usize) -> Result<Histogram<u64>, String> {
    let mut c = Conn::connect(endpoint)?;
    let mut h = Histogram::<u64>::new(3).map_err(|e| e.to_string())?;
    let mut body = Vec::with_capacity(4096);
    let mut x = seed(t);
    while let Some(n) = work.next_body(&mut x, &mut body)? {
        let s = match work.start(n) {
            Start::Now => Instant::now(),
            Start::Late(due) => due,
            Start::At(due) => {
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                Instant::now()
            }
        };
        let st = c.send(work.op.target(), &body)?;
        let _ = h.record(s.elapsed().as_nanos() as u64);
        work.check(st, c.body());
    }
    Ok(h)
}

/// One connection's requests on the event-driven client.
async fn drive_events(host: String, work: Arc<Work>, t: usize) -> Result<Histogram<u64>, String> {
    let mut c = AsyncConn::open(host).await?;
    let mut h = Histogram::<u64>::new(3).map_err(|e| e.to_string())?;
    let mut body = Vec::with_capacity(4096);
    let mut x = seed(t);
    while let Some(n) = work.next_body(&mut x, &mut body)? {
        let s = match work.start(n) {
            Start::Now => Instant::now(),
            Start::Late(due) => due,
            Start::At(due) => {
                tokio::time::sleep_until(due.into()).await;
                Instant::now()
            }
        };
        let st = c.send(work.op.target(), &body).await?;
        let _ = h.record(s.elapsed().as_nanos() as u64);
        work.check(st, &c.buf.body);
    }
    Ok(h)
}

/// `conns` connections on one event-loop thread.
fn event_thread(
    host: String,
    work: Arc<Work>,
    conns: std::ops::Range<usize>,
) -> Result<Histogram<u64>, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let mut set = tokio::task::JoinSet::new();
        for t in conns {
            set.spawn(drive_events(host.clone(), Arc::clone(&work), t));
        }
        let mut hist = Histogram::<u64>::new(3).map_err(|e| e.to_string())?;
        while let Some(r) = set.join_next().await {
            hist.add(r.map_err(|e| e.to_string())??)
                .map_err(|e| e.to_string())?;
        }
        Ok(hist)
    })
}

/// How long an open-loop run waits before its first request is due (connections open
/// meanwhile, so they are not counted late).
const PACE_LEAD: Duration = Duration::from_millis(50);

/// Runs `ops` operations of kind `op` over `connections` keep-alive connections: each as
/// fast as its connection answers (closed loop), or with `rate`, `rate` requests per second
/// in all on a fixed schedule (open loop; a request waits for a free connection, and that
/// wait counts in its latency).
#[allow(clippy::too_many_arguments)]
pub fn run(
    endpoint: &str,
    table: &str,
    op: Op,
    connections: usize,
    client: Client,
    ops: u64,
    keys: u64,
    value_size: usize,
    rate: Option<f64>,
) -> Result<Report, String> {
    let value: String = "x".repeat(value_size);
    let pace = match rate {
        None => None,
        Some(r) if r.is_finite() && r > 0.0 => Some(Pace {
            start: Instant::now() + PACE_LEAD,
            interval: Duration::from_secs_f64(1.0 / r),
        }),
        Some(r) => {
            return Err(format!(
                "--rate must be a positive number of requests per second, not {r}"
            ))
        }
    };
    let work = Arc::new(Work {
        op,
        ops,
        keys,
        next: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        bodies: Bodies::new(table, &value)?,
        pace,
    });
    let connections = connections.max(1);
    let t0 = Instant::now();
    let hs: Vec<_> = match client {
        Client::Threads => (0..connections)
            .map(|t| {
                let (endpoint, work) = (endpoint.to_string(), Arc::clone(&work));
                std::thread::spawn(move || drive_blocking(&endpoint, &work, t))
            })
            .collect(),
        Client::Events(threads) => {
            let threads = threads.clamp(1, connections);
            let host = addr_of(endpoint)?;
            (0..threads)
                .map(|k| {
                    // Connections k*c/threads .. (k+1)*c/threads: every one on some thread.
                    let conns = k * connections / threads..(k + 1) * connections / threads;
                    let (host, work) = (host.clone(), Arc::clone(&work));
                    std::thread::spawn(move || event_thread(host, work, conns))
                })
                .collect()
        }
    };
    let mut hist = Histogram::<u64>::new(3).map_err(|e| e.to_string())?;
    for h in hs {
        hist.add(h.join().map_err(|_| "worker panicked")??)
            .map_err(|e| e.to_string())?;
    }
    let secs = match pace {
        Some(p) => Instant::now()
            .saturating_duration_since(p.start)
            .as_secs_f64(),
        None => t0.elapsed().as_secs_f64(),
    };
    Ok(Report {
        ops_per_sec: ops as f64 / secs,
        p50_us: hist.value_at_quantile(0.5) as f64 / 1000.0,
        p99_us: hist.value_at_quantile(0.99) as f64 / 1000.0,
        p999_us: hist.value_at_quantile(0.999) as f64 / 1000.0,
        errors: work.errors.load(Ordering::Relaxed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;

    /// Reads one request (headers and a Content-Length body) from `r`.
    fn read_request(r: &mut BufReader<TcpStream>) -> Vec<u8> {
        let mut len = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            r.read_line(&mut line).expect("read");
            if line.trim_end().is_empty() {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().expect("len");
            }
        }
        let mut body = vec![0u8; len];
        r.read_exact(&mut body).expect("body");
        body
    }

    /// A server that answers one request per connection and closes it (as moto's Werkzeug
    /// does): the client must reconnect for the next request.
    #[test]
    fn a_connection_close_answer_makes_the_next_request_reconnect() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = std::thread::spawn(move || {
            for _ in 0..3 {
                let (mut s, _) = listener.accept().expect("accept");
                let mut r = BufReader::new(s.try_clone().expect("clone"));
                read_request(&mut r);
                let answer = b"{\"TableNames\":[]}";
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    answer.len()
                );
                s.write_all(head.as_bytes()).expect("write");
                s.write_all(answer).expect("write");
            }
        });
        let mut c = Conn::connect(&format!("http://{addr}")).expect("connect");
        for _ in 0..3 {
            let (st, v) = c.call("ListTables", &json!({})).expect("call");
            assert_eq!(st, 200);
            assert_eq!(v["TableNames"], json!([]));
        }
        server.join().expect("server");
    }

    /// A server that answers a chunked body (with an extension and a trailer) with upper-case
    /// header names, then a Content-Length one, on one keep-alive connection.
    fn chunked_then_sized(listener: TcpListener) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("accept");
            let mut r = BufReader::new(s.try_clone().expect("clone"));
            let got = read_request(&mut r);
            assert_eq!(got, br#"{"a":1}"#);
            s.write_all(
                b"HTTP/1.1 200 OK\r\nTRANSFER-ENCODING: Chunked\r\n\r\n\
                  6;ext=1\r\n{\"Coun\r\n5\r\nt\":2}\r\n0\r\nX-Trailer: y\r\n\r\n",
            )
            .expect("write");
            read_request(&mut r);
            s.write_all(b"HTTP/1.1 400 Bad Request\r\nCONTENT-LENGTH: 2\r\n\r\n{}")
                .expect("write");
        })
    }

    #[test]
    fn chunked_and_content_length_answers_on_one_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = chunked_then_sized(listener);
        let mut c = Conn::connect(&format!("http://{addr}")).expect("connect");
        assert_eq!(c.send("Query", br#"{"a":1}"#).expect("send"), 200);
        assert_eq!(c.body(), br#"{"Count":2}"#);
        assert!(answer_ok(Op::Query, 200, c.body()));
        assert_eq!(c.send("Query", b"{}").expect("send"), 400);
        assert_eq!(c.body(), b"{}");
        server.join().expect("server");
    }

    /// The event-driven client reads the same answers as the blocking one.
    #[test]
    fn the_event_client_reads_chunked_and_sized_answers() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = chunked_then_sized(listener);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let mut c = AsyncConn::open(addr.to_string()).await.expect("connect");
            assert_eq!(c.send("Query", br#"{"a":1}"#).await.expect("send"), 200);
            assert_eq!(c.buf.body, br#"{"Count":2}"#);
            assert_eq!(c.send("Query", b"{}").await.expect("send"), 400);
            assert_eq!(c.buf.body, b"{}");
        });
        server.join().expect("server");
    }

    /// Every strict prefix of a response is incomplete; the whole one parses and takes
    /// exactly its own bytes when another response follows it.
    #[test]
    fn responses_parse_only_when_whole() {
        let one: &[u8] =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        let two: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi";
        let mut body = Vec::new();
        for r in [one, two] {
            for n in 0..r.len() {
                assert_eq!(parse_response(&r[..n], &mut body), Ok(None), "{n}");
            }
        }
        let both = [one, two].concat();
        let p = parse_response(&both, &mut body)
            .expect("parse")
            .expect("whole");
        assert_eq!((p.status, p.consumed, p.closing), (200, one.len(), false));
        assert_eq!(body, b"abc");
        let p = parse_response(&both[p.consumed..], &mut body)
            .expect("parse")
            .expect("whole");
        assert_eq!((p.status, p.consumed, p.closing), (200, two.len(), true));
        assert_eq!(body, b"hi");
        assert!(parse_response(b"HTTP/1.1 abc\r\n", &mut body).is_err());
    }

    #[test]
    fn an_open_loop_schedule_spaces_requests_evenly_and_refuses_a_bad_rate() {
        let start = Instant::now();
        let p = Pace {
            start,
            interval: Duration::from_secs_f64(1.0 / 4000.0),
        };
        assert_eq!(p.due(0), start);
        assert_eq!(p.due(4000) - start, Duration::from_secs(1));
        assert_eq!(p.due(6000) - p.due(2000), Duration::from_secs(1));
        for bad in [0.0, -5.0, f64::NAN, f64::INFINITY] {
            let r = run(
                "http://127.0.0.1:9",
                "t",
                Op::Get,
                1,
                Client::Threads,
                1,
                1,
                8,
                Some(bad),
            );
            assert!(r.is_err(), "rate {bad} refused");
        }
    }

    #[test]
    fn bodies_are_the_json_of_each_request() {
        let b = Bodies::new("tab\"le", "x\ny").expect("bodies");
        let mut out = Vec::new();
        let parse = |o: &[u8]| serde_json::from_slice::<Value>(o).expect("json");
        b.write(&mut out, Op::Put, 123).expect("write");
        assert_eq!(
            parse(&out),
            json!({"TableName": "tab\"le", "Item": {"pk": {"S": "user12"}, "sk": {"N": "3"}, "v": {"S": "x\ny"}}})
        );
        b.write(&mut out, Op::Get, 7).expect("write");
        assert_eq!(
            parse(&out),
            json!({"TableName": "tab\"le", "Key": {"pk": {"S": "user0"}, "sk": {"N": "7"}}})
        );
        b.write(&mut out, Op::Query, 4999).expect("write");
        assert_eq!(
            parse(&out),
            json!({"TableName": "tab\"le", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "user499"}}})
        );
    }

    #[test]
    fn answers_are_checked_per_operation() {
        assert!(answer_ok(Op::Put, 200, b"{}"));
        assert!(!answer_ok(Op::Put, 400, b"{}"));
        assert!(!answer_ok(Op::Put, 200, b"{"));
        assert!(answer_ok(Op::Get, 200, br#"{"Item":{"pk":{"S":"a"}}}"#));
        assert!(!answer_ok(Op::Get, 200, b"{}"));
        assert!(!answer_ok(Op::Get, 500, br#"{"Item":{}}"#));
        assert!(answer_ok(
            Op::Query,
            200,
            br#"{"Items":[{}],"Count":1,"ScannedCount":1}"#
        ));
        assert!(!answer_ok(Op::Query, 200, br#"{"Items":[],"Count":0}"#));
        assert!(!answer_ok(Op::Query, 200, br#"{"Items":[]}"#));
        assert_eq!(Op::parse(" get").expect("op"), Op::Get);
        assert!(Op::parse("scan").is_err());
    }
}
