//! HTTP round trips against a fake executor on 127.0.0.1:0: headers, error shapes, limits,
//! keep-alive, SigV4, metrics and graceful shutdown. Every wait is bounded and every server
//! started here is stopped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hashlog::api::{ApiError, ErrorCode};
use hashlog_server::sigv4::{self, Credentials, RequestParts};
use hashlog_server::{App, Executor, ServeError, ServerConfig};
use serde_json::{json, Value};

/// Answers by operation name: `Echo` (the op and the raw body), `Query` (3 items with consumed
/// capacity), `Fail` (ConditionalCheckFailedException with an Item), `Slow` (sleeps 1 s),
/// `Panic`; `PutItem` waits (up to 10 s) until a `GetItem` opens the gate, and answers whether
/// it was opened; `GetItem` opens it (and panics on the body `panic`); anything else is
/// UnknownOperationException.
#[derive(Default)]
struct Fake {
    calls: AtomicUsize,
    shutdowns: AtomicUsize,
    gate: (std::sync::Mutex<bool>, std::sync::Condvar),
}

impl Executor for Fake {
    fn execute(&self, op: &str, body: &[u8]) -> Result<Value, ApiError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match op {
            "Echo" | "Streams.Echo" => Ok(json!({
                "op": op,
                "body": String::from_utf8_lossy(body),
            })),
            "Query" => Ok(json!({
                "Items": [{}, {}, {}],
                "Count": 3,
                "ScannedCount": 5,
                "ConsumedCapacity": {"TableName": "t", "CapacityUnits": 1.5},
            })),
            "Fail" => Err(ApiError::new(
                ErrorCode::ConditionalCheckFailedException,
                "The conditional request failed",
            )
            .with_extra("Item", json!({"pk": {"S": "a"}}))),
            "Slow" => {
                std::thread::sleep(Duration::from_millis(1000));
                Ok(json!({"slow": true}))
            }
            "Panic" => panic!("fake executor panics on purpose"),
            "PutItem" => {
                let (open, cv) = &self.gate;
                let deadline = Instant::now() + Duration::from_secs(10);
                let mut g = open.lock().expect("gate");
                while !*g && Instant::now() < deadline {
                    g = cv
                        .wait_timeout(g, Duration::from_millis(50))
                        .expect("gate")
                        .0;
                }
                Ok(json!({"released": *g}))
            }
            "GetItem" => {
                if body == b"panic" {
                    panic!("fake GetItem panics on purpose");
                }
                let (open, cv) = &self.gate;
                *open.lock().expect("gate") = true;
                cv.notify_all();
                Ok(json!({"Item": {"pk": {"S": "a"}}}))
            }
            other => Err(ApiError::new(
                ErrorCode::UnknownOperationException,
                format!("Unknown operation {other}"),
            )),
        }
    }

    fn shutdown(&self) -> Result<(), String> {
        self.shutdowns.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn engine_metrics(&self) -> Vec<(String, f64)> {
        vec![("fake_gauge".into(), 42.0)]
    }
}

struct TestServer {
    addr: SocketAddr,
    fake: Arc<Fake>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), ServeError>>>,
}

impl TestServer {
    fn start(config: ServerConfig) -> TestServer {
        let fake = Arc::new(Fake::default());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(hashlog_server::bind("127.0.0.1:0".parse().expect("addr")))
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let app = App::new(Arc::clone(&fake) as Arc<dyn Executor>, config);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let r = runtime.block_on(hashlog_server::serve(listener, app, async {
                let _ = rx.await;
            }));
            runtime.shutdown_timeout(Duration::from_secs(5));
            r
        });
        TestServer {
            addr,
            fake,
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    /// [`TestServer::start`] as `hashlog serve --reactors pinned` runs: two single-threaded
    /// runtimes, the serving thread's and one on a thread of its own, connections pinned.
    fn start_pinned(config: ServerConfig) -> TestServer {
        let fake = Arc::new(Fake::default());
        let one = || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
        };
        let (main, other) = (one(), one());
        let listener = main
            .block_on(hashlog_server::bind("127.0.0.1:0".parse().expect("addr")))
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let app = App::new(Arc::clone(&fake) as Arc<dyn Executor>, config);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handles = vec![main.handle().clone(), other.handle().clone()];
        let thread = std::thread::spawn(move || {
            let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
            let reactor = std::thread::spawn(move || {
                other.block_on(async {
                    let _ = done_rx.await;
                })
            });
            let r = main.block_on(hashlog_server::serve_on(
                listener,
                app,
                async {
                    let _ = rx.await;
                },
                handles,
            ));
            let _ = done_tx.send(());
            reactor.join().expect("reactor thread");
            r
        });
        TestServer {
            addr,
            fake,
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    fn default() -> TestServer {
        TestServer::start(test_config())
    }

    /// Signals shutdown and waits (bounded) for `serve` to return.
    fn stop(&mut self) -> Result<(), ServeError> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let Some(t) = self.thread.take() else {
            return Ok(());
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !t.is_finished() {
            assert!(Instant::now() < deadline, "server did not stop in time");
            std::thread::sleep(Duration::from_millis(10));
        }
        t.join().expect("server thread panicked")
    }

    fn connect(&self) -> Conn {
        Conn::new(self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.stop();
        }
    }
}

fn test_config() -> ServerConfig {
    ServerConfig {
        drain_timeout: Duration::from_secs(5),
        ..ServerConfig::default()
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    fn error_type(&self) -> String {
        self.json()["__type"].as_str().unwrap_or("").to_string()
    }
}

/// A minimal blocking HTTP/1.1 client on one connection (bounded by read timeouts).
struct Conn {
    reader: BufReader<TcpStream>,
    host: String,
}

impl Conn {
    fn new(addr: SocketAddr) -> Conn {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        s.set_write_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        Conn {
            reader: BufReader::new(s),
            host: addr.to_string(),
        }
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.reader.get_mut().write_all(bytes).expect("write");
    }

    fn post(&mut self, target: Option<&str>, body: &[u8]) -> Reply {
        let mut headers = vec![("Content-Type", "application/x-amz-json-1.0".to_string())];
        if let Some(t) = target {
            headers.push(("X-Amz-Target", t.to_string()));
        }
        self.request("POST", "/", &headers, body)
    }

    fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Reply {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.host,
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.send_raw(&bytes);
        self.read_reply()
    }

    fn read_reply(&mut self) -> Reply {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("status line");
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            self.reader.read_line(&mut h).expect("header");
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').expect("header line");
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .expect("content-length");
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body).expect("body");
        Reply {
            status,
            headers,
            body,
        }
    }

    /// True when the server closed the connection (EOF within the read timeout).
    fn is_closed(&mut self) -> bool {
        let mut buf = [0u8; 1];
        matches!(self.reader.read(&mut buf), Ok(0) | Err(_))
    }
}

const NS: &str = "com.amazonaws.dynamodb.v20120810#";

#[test]
fn round_trip_carries_request_id_crc32_and_content_type() {
    let srv = TestServer::default();
    let mut c = srv.connect();
    let r = c.post(Some("DynamoDB_20120810.Echo"), br#"{"TableName":"t"}"#);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.0"));
    let crc: u32 = r
        .header("x-amz-crc32")
        .expect("crc header")
        .parse()
        .expect("number");
    assert_eq!(crc, crc32fast::hash(&r.body));
    let id = r.header("x-amzn-requestid").expect("request id");
    assert_eq!(id.len(), 52);
    let v = r.json();
    assert_eq!(v["op"], "Echo");
    assert_eq!(v["body"], r#"{"TableName":"t"}"#);
}

#[test]
fn keep_alive_connection_serves_many_requests_with_unique_ids() {
    let srv = TestServer::default();
    let mut c = srv.connect();
    let mut ids = std::collections::HashSet::new();
    for i in 0..25 {
        let r = c.post(
            Some("DynamoDB_20120810.Echo"),
            format!("{{\"n\":{i}}}").as_bytes(),
        );
        assert_eq!(r.status, 200);
        assert!(ids.insert(r.header("x-amzn-requestid").expect("id").to_string()));
    }
    // An error does not cost the connection either.
    assert_eq!(c.post(Some("DynamoDB_20120810.Fail"), b"{}").status, 400);
    let m = c.request("GET", "/metrics", &[], b"");
    let text = String::from_utf8(m.body).expect("utf8");
    assert!(
        text.contains("hashlog_http_connections_total 1\n"),
        "{text}"
    );
}

#[test]
fn executor_errors_keep_dynamodb_shape_and_status() {
    let srv = TestServer::default();
    let mut c = srv.connect();
    let r = c.post(Some("DynamoDB_20120810.Fail"), b"{}");
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(v["__type"], format!("{NS}ConditionalCheckFailedException"));
    assert_eq!(v["message"], "The conditional request failed");
    assert_eq!(v["Item"], json!({"pk": {"S": "a"}}));
    let crc: u32 = r
        .header("x-amz-crc32")
        .expect("crc")
        .parse()
        .expect("number");
    assert_eq!(crc, crc32fast::hash(&r.body));
    assert!(r.header("x-amzn-requestid").is_some());

    let r = c.post(Some("DynamoDB_20120810.Panic"), b"{}");
    assert_eq!(r.status, 500);
    assert_eq!(r.error_type(), format!("{NS}InternalServerError"));
    // The server survives a panicking executor.
    assert_eq!(c.post(Some("DynamoDB_20120810.Echo"), b"{}").status, 200);
}

/// With inline reads, writes still run on the blocking pool: three writes blocked in the
/// executor (more than the two reactor threads) leave the reactor free to read, and run
/// inline, the GetItem that releases them. Run inline, the writes would hold both reactor threads and the third write and the
/// GetItem would never be read.
#[test]
fn writes_waiting_off_the_reactor_do_not_stall_inline_reads() {
    let srv = TestServer::start(ServerConfig {
        inline_reads: true,
        ..test_config()
    });
    let addr = srv.addr;
    let writers: Vec<_> = (0..3)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = Conn::new(addr);
                let r = c.post(Some("DynamoDB_20120810.PutItem"), b"{}");
                (r.status, r.json())
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    while srv.fake.calls.load(Ordering::SeqCst) < 3 {
        assert!(
            Instant::now() < deadline,
            "the three writes never all reached the executor"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut c = srv.connect();
    let r = c.post(Some("DynamoDB_20120810.GetItem"), b"{}");
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"Item": {"pk": {"S": "a"}}}));
    for w in writers {
        let (status, v) = w.join().expect("writer");
        assert_eq!(status, 200);
        assert_eq!(v, json!({"released": true}));
    }
}

/// An operation run inline that panics is answered like one on the blocking pool: a 500
/// InternalServerError, and the connection and the server carry on.
#[test]
fn an_inline_operation_that_panics_is_an_internal_error() {
    let srv = TestServer::start(ServerConfig {
        inline_reads: true,
        ..test_config()
    });
    let mut c = srv.connect();
    let r = c.post(Some("DynamoDB_20120810.GetItem"), b"panic");
    assert_eq!(r.status, 500);
    assert_eq!(r.error_type(), format!("{NS}InternalServerError"));
    let r = c.post(Some("DynamoDB_20120810.GetItem"), b"{}");
    assert_eq!(r.status, 200);
    assert_eq!(c.post(Some("DynamoDB_20120810.Echo"), b"{}").status, 200);
}

#[test]
fn missing_or_unknown_target_is_unknown_operation_without_calling_the_executor() {
    let srv = TestServer::default();
    let mut c = srv.connect();
    for target in [
        None,
        Some("Foo.Bar"),
        Some("DynamoDB_20120810."),
        Some("DynamoDB_20120810"),
        Some("DynamoDB_20111205.ListTables"),
    ] {
        let r = c.post(target, b"{}");
        assert_eq!(r.status, 400, "{target:?}");
        assert_eq!(
            r.error_type(),
            format!("{NS}UnknownOperationException"),
            "{target:?}"
        );
        assert!(r.json()["message"].as_str().is_some());
    }
    assert_eq!(srv.fake.calls.load(Ordering::SeqCst), 0);
}

#[test]
fn streams_target_reaches_executor_as_streams_operation() {
    let srv = TestServer::default();
    let r = srv
        .connect()
        .post(Some("DynamoDBStreams_20120810.Echo"), b"{}");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["op"], "Streams.Echo");
}

#[test]
fn malformed_json_reaches_the_executor_as_raw_bytes() {
    let srv = TestServer::default();
    let r = srv
        .connect()
        .post(Some("DynamoDB_20120810.Echo"), b"{not json");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["body"], "{not json");
}

#[test]
fn json_1_1_is_echoed_and_other_content_types_refused() {
    let srv = TestServer::default();
    let mut c = srv.connect();
    let r = c.request(
        "POST",
        "/",
        &[
            ("Content-Type", "application/x-amz-json-1.1".into()),
            ("X-Amz-Target", "DynamoDB_20120810.Echo".into()),
        ],
        b"{}",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.1"));
    let mut c = srv.connect();
    let r = c.request(
        "POST",
        "/",
        &[
            ("Content-Type", "text/plain".into()),
            ("X-Amz-Target", "DynamoDB_20120810.Echo".into()),
        ],
        b"{}",
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.error_type(), format!("{NS}UnknownOperationException"));
}

#[test]
fn oversized_body_is_refused_before_it_is_read() {
    let srv = TestServer::start(ServerConfig {
        request_body_max_bytes: 1024,
        ..test_config()
    });
    // Declared too large: answered from the headers alone, and the connection is closed.
    let mut c = srv.connect();
    c.send_raw(
        format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\n\
             X-Amz-Target: DynamoDB_20120810.Echo\r\nContent-Length: {}\r\n\r\n",
            10_000_000
        )
        .as_bytes(),
    );
    let r = c.read_reply();
    assert_eq!(r.status, 400);
    assert_eq!(r.error_type(), format!("{NS}ValidationException"));
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.is_closed());

    // Chunked (no length): the read stops at the limit.
    let mut c = srv.connect();
    let chunk = "a".repeat(800);
    c.send_raw(
        format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\n\
             X-Amz-Target: DynamoDB_20120810.Echo\r\nTransfer-Encoding: chunked\r\n\r\n\
             320\r\n{chunk}\r\n320\r\n{chunk}\r\n0\r\n\r\n"
        )
        .as_bytes(),
    );
    let r = c.read_reply();
    assert_eq!(r.status, 400);
    assert_eq!(r.error_type(), format!("{NS}ValidationException"));
    // At the limit is fine.
    let r = srv
        .connect()
        .post(Some("DynamoDB_20120810.Echo"), &[b' '; 1024]);
    assert_eq!(r.status, 200);
    assert_eq!(srv.fake.calls.load(Ordering::SeqCst), 1);
}

#[test]
fn describe_endpoints_is_answered_by_the_server() {
    let srv = TestServer::default();
    let r = srv
        .connect()
        .post(Some("DynamoDB_20120810.DescribeEndpoints"), b"{}");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"Endpoints": [{"Address": srv.addr.to_string(), "CachePeriodInMinutes": 1440}]})
    );
    assert_eq!(srv.fake.calls.load(Ordering::SeqCst), 0);
}

#[test]
fn health_and_metrics_pages() {
    let srv = TestServer::default();
    let mut c = srv.connect();
    let r = c.request("GET", "/", &[], b"");
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).starts_with("healthy"));
    assert_eq!(c.request("GET", "/nope", &[], b"").status, 404);
    assert_eq!(
        c.post(Some("DynamoDB_20120810.Query"), br#"{"TableName":"t"}"#)
            .status,
        200
    );
    assert_eq!(
        c.post(Some("DynamoDB_20120810.Fail"), br#"{"TableName":"t"}"#)
            .status,
        400
    );
    let r = c.request("GET", "/metrics", &[], b"");
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body).expect("utf8");
    for want in [
        "dynamodb_ReturnedItemCount{table=\"t\",operation=\"Query\"} 3",
        "dynamodb_ConsumedReadCapacityUnits{table=\"t\",operation=\"Query\"} 1.5",
        "dynamodb_SuccessfulRequestLatency_count{table=\"t\",operation=\"Query\"} 1",
        "dynamodb_ConditionalCheckFailedRequests{table=\"t\",operation=\"Fail\"} 1",
        "dynamodb_UserErrors{table=\"t\",operation=\"Fail\"} 1",
        "hashlog_fake_gauge 42",
        // Small reads run inline (the default) and no window sent them to the pool.
        "hashlog_reads_inline 1",
        "hashlog_read_offload_windows_total 0",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}

#[test]
fn blocking_executor_does_not_stall_other_requests() {
    let srv = TestServer::default();
    let addr = srv.addr;
    // More slow requests than reactor threads.
    let slow: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                Conn::new(addr)
                    .post(Some("DynamoDB_20120810.Slow"), b"{}")
                    .status
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    assert_eq!(
        srv.connect()
            .post(Some("DynamoDB_20120810.Echo"), b"{}")
            .status,
        200
    );
    assert!(
        t.elapsed() < Duration::from_millis(600),
        "a fast request waited {:?} behind blocking ones",
        t.elapsed()
    );
    for h in slow {
        assert_eq!(h.join().expect("client"), 200);
    }
}

#[test]
fn graceful_shutdown_finishes_in_flight_requests_then_calls_the_hook() {
    let mut srv = TestServer::default();
    let addr = srv.addr;
    let idle = srv.connect();
    let in_flight = std::thread::spawn(move || {
        Conn::new(addr)
            .post(Some("DynamoDB_20120810.Slow"), b"{}")
            .status
    });
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(srv.fake.shutdowns.load(Ordering::SeqCst), 0);
    srv.stop().expect("clean stop");
    assert_eq!(in_flight.join().expect("client"), 200);
    assert_eq!(srv.fake.shutdowns.load(Ordering::SeqCst), 1);
    drop(idle);
    // No longer accepting.
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err());
}

fn signed_post(addr: SocketAddr, key: &str, secret: &str, amz_date: &str, body: &[u8]) -> Reply {
    let host = addr.to_string();
    let mut headers: Vec<(String, String)> = vec![
        ("content-type".into(), "application/x-amz-json-1.0".into()),
        ("host".into(), host),
        ("x-amz-date".into(), amz_date.into()),
        ("x-amz-target".into(), "DynamoDB_20120810.Echo".into()),
    ];
    let signed: Vec<String> = headers.iter().map(|(k, _)| k.clone()).collect();
    let auth = sigv4::parse_authorization(&format!(
        "AWS4-HMAC-SHA256 Credential={key}/{}/us-east-1/dynamodb/aws4_request, SignedHeaders={}, Signature=0",
        &amz_date[..8],
        signed.join(";")
    ))
    .expect("auth");
    let parts = RequestParts {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
    };
    let canonical = sigv4::canonical_request(&parts, &signed, &sigv4::sha256_hex(body));
    let sig = sigv4::signature(secret, &auth, amz_date, &canonical);
    headers.push((
        "authorization".into(),
        format!(
            "AWS4-HMAC-SHA256 Credential={key}/{}/us-east-1/dynamodb/aws4_request, SignedHeaders={}, Signature={sig}",
            &amz_date[..8],
            signed.join(";")
        ),
    ));
    let mut c = Conn::new(addr);
    let mut req = format!("POST / HTTP/1.1\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in &headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    c.send_raw(&bytes);
    c.read_reply()
}

fn now_amz_date(offset_secs: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    sigv4::format_amz_date(now + offset_secs)
}

#[test]
fn sigv4_is_enforced_when_credentials_are_configured() {
    let srv = TestServer::start(ServerConfig {
        credentials: Some(Credentials::parse_ini(
            "[default]\naws_access_key_id = AKIDGOOD\naws_secret_access_key = goodsecret\n",
        )),
        ..test_config()
    });
    let body = br#"{"TableName":"t"}"#;
    let ok = signed_post(srv.addr, "AKIDGOOD", "goodsecret", &now_amz_date(0), body);
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));

    let bad = signed_post(srv.addr, "AKIDGOOD", "wrong", &now_amz_date(0), body);
    assert_eq!(bad.status, 400);
    assert_eq!(bad.error_type(), format!("{NS}InvalidSignatureException"));

    let unknown = signed_post(srv.addr, "AKIDNOPE", "goodsecret", &now_amz_date(0), body);
    assert_eq!(
        unknown.error_type(),
        format!("{NS}UnrecognizedClientException")
    );
    assert_eq!(
        unknown.json()["message"],
        "The security token included in the request is invalid."
    );

    let stale = signed_post(
        srv.addr,
        "AKIDGOOD",
        "goodsecret",
        &now_amz_date(-20 * 60),
        body,
    );
    assert_eq!(stale.error_type(), format!("{NS}InvalidSignatureException"));
    assert!(stale.json()["message"]
        .as_str()
        .unwrap_or("")
        .starts_with("Signature expired: "));

    let unsigned = srv.connect().post(Some("DynamoDB_20120810.Echo"), body);
    assert_eq!(unsigned.status, 400);
    assert_eq!(
        unsigned.error_type(),
        format!("{NS}MissingAuthenticationTokenException")
    );
    assert_eq!(
        unsigned.json()["message"],
        "Request is missing Authentication Token"
    );
    // Only the good request reached the executor.
    assert_eq!(srv.fake.calls.load(Ordering::SeqCst), 1);
}

/// Connections pinned to single-threaded reactors: several keep-alive connections are served
/// at once (a slow request on one does not hold up the others' answers), and shutdown still
/// finishes the request in flight before calling the hook once.
#[test]
fn pinned_reactors_serve_connections_and_shut_down_gracefully() {
    let mut srv = TestServer::start_pinned(test_config());
    let addr = srv.addr;
    let slow = std::thread::spawn(move || {
        Conn::new(addr)
            .post(Some("DynamoDB_20120810.Slow"), b"{}")
            .status
    });
    std::thread::sleep(Duration::from_millis(100));
    let mut conns: Vec<Conn> = (0..4).map(|_| srv.connect()).collect();
    for round in 0..5 {
        for c in &mut conns {
            let r = c.post(Some("DynamoDB_20120810.Query"), b"{}");
            assert_eq!(r.status, 200, "round {round}");
            assert_eq!(r.json()["Count"], 3);
        }
    }
    assert!(
        !slow.is_finished(),
        "the other connections' answers came only after the slow request's"
    );
    srv.stop().expect("clean stop");
    assert_eq!(slow.join().expect("client"), 200);
    assert_eq!(srv.fake.shutdowns.load(Ordering::SeqCst), 1);
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err());
}
