//! The HTTP front: routing, body limits, authentication, the blocking bridge to the engine,
//! DynamoDB's response headers and error shapes, and graceful shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::metrics::{Metrics, Outcome};
use crate::sigv4::{self, Credentials, SignedRequest};
use hashlog::api::{ApiError, Database, ErrorCode};
use hashlog::limits::REQUEST_BODY_MAX_BYTES;

pub struct State {
    db: Database,
    creds: Option<Credentials>,
    metrics: Metrics,
    next_id: AtomicU64,
    boot: u64,
    buffered: bool,
}

impl State {
    pub fn new(db: Database, creds: Option<Credentials>, buffered: bool) -> State {
        let boot = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        State {
            db,
            creds,
            metrics: Metrics::default(),
            next_id: AtomicU64::new(1),
            boot,
            buffered,
        }
    }

    fn request_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let h = xxh(self.boot, n);
        format!("{:016X}{:016X}", h, n ^ self.boot.rotate_left(17))
    }
}

fn xxh(a: u64, b: u64) -> u64 {
    let mut x = a ^ b.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^ (x >> 33)
}

fn respond(state: &State, status: u16, body: Vec<u8>) -> Response<Full<Bytes>> {
    let crc = crc32fast::hash(&body);
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amzn-requestid", state.request_id())
        .header("x-amz-crc32", crc.to_string())
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn error_response(
    state: &State,
    type_name: &str,
    message: &str,
    status: u16,
) -> Response<Full<Bytes>> {
    let body = json!({"__type": format!("com.amazonaws.dynamodb.v20120810#{type_name}"), "message": message});
    respond(state, status, body.to_string().into_bytes())
}

fn text(status: u16, body: String, ctype: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
        .header("content-type", ctype)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let started = Instant::now();
    if req.method() == Method::GET {
        return Ok(match req.uri().path() {
            "/metrics" => {
                let gauges = engine_gauges(&state);
                text(
                    200,
                    state.metrics.render(&gauges),
                    "text/plain; version=0.0.4",
                )
            }
            _ => text(200, "healthy: hashlog\n".into(), "text/plain"),
        });
    }
    if req.method() != Method::POST {
        return Ok(error_response(
            &state,
            "UnknownOperationException",
            "Only POST is supported",
            400,
        ));
    }
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_default();
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, REQUEST_BODY_MAX_BYTES).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(error_response(
                &state,
                "RequestEntityTooLarge",
                "Request Entity Too Large",
                413,
            ));
        }
    };
    if let Some(creds) = &state.creds {
        let headers: Vec<(String, String)> = parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let sreq = SignedRequest {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or(""),
            headers,
            body: &body,
        };
        if let Err(e) = sigv4::verify(&sreq, creds, now_secs()) {
            tracing::info!(target = %target, error = e.type_name(), "request refused");
            return Ok(error_response(&state, e.type_name(), &e.message(), 400));
        }
    }
    let operation = match target.split_once('.') {
        Some(("DynamoDB_20120810", op)) => op.to_string(),
        Some(("DynamoDBStreams_20120810", op)) => format!("Streams.{op}"),
        _ => {
            return Ok(error_response(&state, "UnknownOperationException", "", 400));
        }
    };
    if operation == "DescribeEndpoints" {
        let host = parts
            .headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1:8000")
            .to_string();
        let body = json!({"Endpoints": [{"Address": host, "CachePeriodInMinutes": 1440}]});
        return Ok(respond(&state, 200, body.to_string().into_bytes()));
    }
    let table_hint = table_name(&body).unwrap_or_default();
    let st = Arc::clone(&state);
    let op = operation.clone();
    let result = tokio::task::spawn_blocking(move || st.db.execute(&op, &body))
        .await
        .unwrap_or_else(|e| Err(ApiError::internal(format!("request task failed: {e}"))));
    let seconds = started.elapsed().as_secs_f64();
    Ok(match result {
        Ok(v) => {
            let returned = v
                .get("Count")
                .and_then(Value::as_u64)
                .or_else(|| v.get("Item").map(|_| 1))
                .unwrap_or(0);
            let units = v
                .pointer("/ConsumedCapacity/CapacityUnits")
                .and_then(Value::as_f64)
                .unwrap_or(0.0);
            let table = v
                .pointer("/ConsumedCapacity/TableName")
                .and_then(Value::as_str)
                .unwrap_or(&table_hint)
                .to_string();
            state.metrics.record(&Outcome {
                table: &table,
                operation: &operation,
                seconds,
                error_type: None,
                status: 200,
                returned_items: returned,
                consumed_units: units,
            });
            tracing::debug!(op = %operation, ms = seconds * 1000.0, "ok");
            respond(&state, 200, v.to_string().into_bytes())
        }
        Err(e) => {
            let status = e.code.http_status();
            state.metrics.record(&Outcome {
                table: &table_hint,
                operation: &operation,
                seconds,
                error_type: Some(e.code.type_name()),
                status,
                returned_items: 0,
                consumed_units: 0.0,
            });
            if e.code == ErrorCode::InternalServerError {
                tracing::error!(op = %operation, error = %e, "internal error");
            } else {
                tracing::debug!(op = %operation, error = %e, "client error");
            }
            respond(&state, status, e.to_json().to_string().into_bytes())
        }
    })
}

/// The request's top-level `"TableName"` string, found without parsing the whole body (for
/// per-table metrics; the engine parses the request properly).
fn table_name(body: &[u8]) -> Option<String> {
    const KEY: &[u8] = b"\"TableName\"";
    let at = body.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let rest = &body[at..];
    let colon = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    if rest[colon] != b':' {
        return None;
    }
    let rest = &rest[colon + 1..];
    let q = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    if rest[q] != b'"' {
        return None;
    }
    let rest = &rest[q + 1..];
    let end = rest.iter().position(|b| *b == b'"' || *b == b'\\')?;
    let name = std::str::from_utf8(&rest[..end]).ok()?;
    (name.len() <= 255).then(|| name.to_string())
}

fn engine_gauges(state: &State) -> Vec<(String, f64)> {
    let Some(e) = state.db.engine() else {
        return vec![];
    };
    let s = e.stats();
    let mut g = vec![
        ("memtable_bytes".to_string(), s.memtable_bytes as f64),
        (
            "immutable_memtables".to_string(),
            s.immutable_memtables as f64,
        ),
        ("partitions".to_string(), s.partitions as f64),
        ("wal_bytes_written".to_string(), s.wal_bytes as f64),
        ("wal_syncs".to_string(), s.wal_syncs as f64),
        (
            "compaction_debt_partitions".to_string(),
            s.compaction_debt_partitions as f64,
        ),
        ("flushes".to_string(), s.flushes as f64),
        ("compactions".to_string(), s.compactions as f64),
        ("write_amplification".to_string(), s.write_amplification()),
        (
            "block_cache_hit_ratio".to_string(),
            if s.cache_hits + s.cache_misses > 0 {
                s.cache_hits as f64 / (s.cache_hits + s.cache_misses) as f64
            } else {
                0.0
            },
        ),
        (
            "durability_buffered".to_string(),
            if state.buffered { 1.0 } else { 0.0 },
        ),
    ];
    for (n, c) in s.tables_per_level.iter().enumerate() {
        g.push((format!("sstables_level_{n}"), *c as f64));
    }
    g
}

/// Serves until SIGINT or SIGTERM, then stops accepting, lets in-flight requests finish,
/// flushes the engine and returns.
pub async fn run(state: Arc<State>, addr: SocketAddr, data_dir: PathBuf) -> Result<(), String> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    println!(
        "hashlog serving DynamoDB on http://{local} (data: {})",
        data_dir.display()
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let active = Arc::new(AtomicU64::new(0));
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot install SIGTERM handler: {e}"))?;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let st = Arc::clone(&state);
                let mut stop = stop_rx.clone();
                let active = Arc::clone(&active);
                active.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let svc = service_fn(move |req| handle(Arc::clone(&st), req));
                    let conn = http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), svc);
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = stop.changed() => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                    active.fetch_sub(1, Ordering::SeqCst);
                });
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = sigterm.recv() => break,
        }
    }
    tracing::info!("shutting down: finishing in-flight requests");
    drop(listener);
    let _ = stop_tx.send(true);
    let deadline = Instant::now() + Duration::from_secs(10);
    while active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let st = Arc::clone(&state);
    tokio::task::spawn_blocking(move || st.db.close())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("flush on shutdown failed: {e}"))?;
    tracing::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::table_name;

    #[test]
    fn table_name_is_found_without_a_full_parse() {
        assert_eq!(
            table_name(br#"{"Key":{},"TableName" : "orders"}"#),
            Some("orders".into())
        );
        assert_eq!(table_name(br#"{"TableName":5}"#), None);
        assert_eq!(table_name(b"{}"), None);
    }
}
