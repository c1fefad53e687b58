//! A DynamoDB workload over HTTP against any endpoint (hashlog or another emulator): N
//! keep-alive connections, each a thread with a blocking client, PutItem / GetItem / Query of
//! fixed-size items, throughput and latency percentiles.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{json, Value};

pub struct Conn {
    host: String,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    /// The server said it closes the connection after its answer (`Connection: close`, or
    /// HTTP/1.0 without keep-alive): the next request opens a new one, as any client would.
    closing: bool,
}

fn addr_of(endpoint: &str) -> Result<String, String> {
    let rest = endpoint
        .strip_prefix("http://")
        .ok_or("only http:// endpoints are supported")?;
    Ok(rest.trim_end_matches('/').to_string())
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
        let writer = s.try_clone().map_err(|e| e.to_string())?;
        Ok(Conn {
            host,
            reader: BufReader::new(s),
            writer,
            closing: false,
        })
    }

    /// One request; returns (HTTP status, body).
    pub fn call(&mut self, op: &str, body: &Value) -> Result<(u16, Value), String> {
        self.call_raw(op, body.to_string().as_bytes())
    }

    /// One request with a JSON body already serialised; returns (HTTP status, body).
    pub fn call_raw(&mut self, op: &str, body: &[u8]) -> Result<(u16, Value), String> {
        if self.closing {
            *self = Self::open(self.host.clone())?;
        }
        let mut req = format!(
            "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: DynamoDB_20120810.{op}\r\n\
             X-Amz-Date: 20260101T000000Z\r\nAuthorization: AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=00\r\n\
             Content-Length: {}\r\n\r\n",
            self.host,
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body);
        self.writer.write_all(&req).map_err(|e| e.to_string())?;
        let mut line = String::new();
        self.reader
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line {line:?}"))?;
        let mut closing = line.starts_with("HTTP/1.0");
        let mut len: Option<usize> = None;
        let mut chunked = false;
        loop {
            line.clear();
            self.reader
                .read_line(&mut line)
                .map_err(|e| e.to_string())?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                let k = k.trim().to_ascii_lowercase();
                if k == "content-length" {
                    len = v.trim().parse().ok();
                } else if k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked") {
                    chunked = true;
                } else if k == "connection" {
                    let v = v.trim().to_ascii_lowercase();
                    closing = v == "close" || (closing && v != "keep-alive");
                }
            }
        }
        let mut buf = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.reader
                    .read_line(&mut line)
                    .map_err(|e| e.to_string())?;
                let n = usize::from_str_radix(line.trim(), 16).map_err(|e| e.to_string())?;
                let mut chunk = vec![0u8; n + 2];
                self.reader
                    .read_exact(&mut chunk)
                    .map_err(|e| e.to_string())?;
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
        } else {
            buf.resize(len.unwrap_or(0), 0);
            self.reader
                .read_exact(&mut buf)
                .map_err(|e| e.to_string())?;
        }
        self.closing = closing;
        let v = if buf.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&buf).map_err(|e| e.to_string())?
        };
        Ok((status, v))
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

fn item(i: u64, value: &str) -> Value {
    json!({"pk": {"S": format!("user{}", i / 10)}, "sk": {"N": (i % 10).to_string()}, "v": {"S": value}})
}

pub struct Report {
    pub ops_per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub errors: u64,
}

/// Runs `ops` operations of kind `op` (put, get, query) over `threads` connections.
pub fn run(
    endpoint: &str,
    table: &str,
    op: &str,
    threads: usize,
    ops: u64,
    keys: u64,
    value_size: usize,
) -> Result<Report, String> {
    let value: String = "x".repeat(value_size);
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let hs: Vec<_> = (0..threads.max(1))
        .map(|t| {
            let (endpoint, table, op, value) = (endpoint.to_string(), table.to_string(), op.to_string(), value.clone());
            let (next, errors) = (Arc::clone(&next), Arc::clone(&errors));
            std::thread::spawn(move || -> Result<Histogram<u64>, String> {
                let mut c = Conn::connect(&endpoint)?;
                let mut h = Histogram::<u64>::new(3).map_err(|e| e.to_string())?;
                let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ t as u64;
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= ops {
                        return Ok(h);
                    }
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let i = if op == "put" { n % keys.max(1) } else { x % keys.max(1) };
                    let (name, body) = match op.as_str() {
                        "put" => ("PutItem", json!({"TableName": table, "Item": item(i, &value)})),
                        "get" => ("GetItem", json!({"TableName": table, "Key": {"pk": {"S": format!("user{}", i / 10)}, "sk": {"N": (i % 10).to_string()}}})),
                        _ => ("Query", json!({"TableName": table, "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": format!("user{}", i / 10)}}})),
                    };
                    let s = Instant::now();
                    let (st, _) = c.call(name, &body)?;
                    let _ = h.record(s.elapsed().as_nanos() as u64);
                    if st != 200 {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let mut hist = Histogram::<u64>::new(3).map_err(|e| e.to_string())?;
    for h in hs {
        hist.add(h.join().map_err(|_| "worker panicked")??)
            .map_err(|e| e.to_string())?;
    }
    let secs = t0.elapsed().as_secs_f64();
    Ok(Report {
        ops_per_sec: ops as f64 / secs,
        p50_us: hist.value_at_quantile(0.5) as f64 / 1000.0,
        p99_us: hist.value_at_quantile(0.99) as f64 / 1000.0,
        p999_us: hist.value_at_quantile(0.999) as f64 / 1000.0,
        errors: errors.load(Ordering::Relaxed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

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
}
