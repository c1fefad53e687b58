//! Shared by `bad_input.rs`, `linearizable.rs`, `crash_campaign.rs` and `overload.rs`: the real
//! server (`hashlog::api::Database` over the storage engine in a temporary directory) on
//! 127.0.0.1:0 in-process, the `hashlog` binary as a child process, and a minimal blocking
//! HTTP/1.1 client whose every read and write is bounded by a timeout.
//!
//! Unlike `http_roundtrip.rs`'s client, this one never panics on a transport failure: it
//! returns `Err` so the caller can report a dropped connection as a finding.

#![allow(dead_code)]

pub mod linearizability;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hashlog::api::{Database, DatabaseOptions};
use hashlog::db::EngineOptions;
use hashlog::wal::Durability;
use hashlog_server::{App, Executor, ServeError, ServerConfig};
use serde_json::Value;

pub const NS: &str = "com.amazonaws.dynamodb.v20120810#";

/// A `hashlog` server running in this process on its own runtime thread.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), ServeError>>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// The engine in a fresh temporary directory, served with `config`.
    pub fn start(durability: Durability, config: ServerConfig) -> TestServer {
        TestServer::start_with(durability, config, DatabaseOptions::default())
    }

    /// [`TestServer::start`] with the database options `hashlog serve` would derive from its
    /// flags (capacity enforcement, default partitioning, ...).
    pub fn start_with(
        durability: Durability,
        config: ServerConfig,
        options: DatabaseOptions,
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::open(
            dir.path(),
            EngineOptions {
                durability,
                background_threads: 1,
                ..EngineOptions::default()
            },
            options,
        )
        .expect("open database");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(64)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(hashlog_server::bind("127.0.0.1:0".parse().expect("addr")))
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let app = App::new(Arc::new(db) as Arc<dyn Executor>, config);
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
            stop: Some(tx),
            thread: Some(thread),
            _dir: dir,
        }
    }

    /// Signals shutdown and waits (bounded) for `serve` to return, flush included.
    pub fn stop(&mut self) -> Result<(), ServeError> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let Some(t) = self.thread.take() else {
            return Ok(());
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !t.is_finished() {
            assert!(Instant::now() < deadline, "server did not stop in time");
            std::thread::sleep(Duration::from_millis(10));
        }
        t.join().expect("server thread panicked")
    }

    pub fn connect(&self) -> Conn {
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

/// Test server settings: the production defaults with a short drain.
pub fn test_config() -> ServerConfig {
    ServerConfig {
        drain_timeout: Duration::from_secs(5),
        ..ServerConfig::default()
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON, or `None` when it is not JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The part of `__type` after `#` ("" when absent).
    pub fn error_name(&self) -> String {
        self.json()
            .and_then(|v| v["__type"].as_str().map(str::to_string))
            .map(|t| t.rsplit('#').next().unwrap_or("").to_string())
            .unwrap_or_default()
    }

    /// Whether the server said it will close the connection after this reply.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// One keep-alive HTTP/1.1 connection; reads and writes time out after `io_timeout`.
pub struct Conn {
    reader: BufReader<TcpStream>,
    pub addr: SocketAddr,
}

pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

impl Conn {
    pub fn new(addr: SocketAddr) -> Conn {
        Conn::try_new(addr).expect("connect")
    }

    /// Like [`Conn::new`] but a refused or failed connection is an `Err` (the server may be
    /// down, as in the crash campaign).
    pub fn try_new(addr: SocketAddr) -> Result<Conn, String> {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .map_err(|e| format!("connect {addr}: {e}"))?;
        for r in [
            s.set_read_timeout(Some(IO_TIMEOUT)),
            s.set_write_timeout(Some(IO_TIMEOUT)),
            s.set_nodelay(true),
        ] {
            r.map_err(|e| format!("socket option: {e}"))?;
        }
        Ok(Conn {
            reader: BufReader::new(s),
            addr,
        })
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.reader
            .get_mut()
            .write_all(bytes)
            .map_err(|e| format!("write: {e}"))
    }

    /// A POST / with the given headers (Host and Content-Length are added).
    pub fn post(&mut self, headers: &[(&str, &str)], body: &[u8]) -> Result<Reply, String> {
        let mut req = format!(
            "POST / HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (k, v) in headers {
            req.push_str(k);
            req.push_str(": ");
            req.push_str(v);
            req.push_str("\r\n");
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.send_raw(&bytes)?;
        self.read_reply()
    }

    /// Like [`Conn::post`] but a failed write (the server answered early and closed) is
    /// ignored: the answer may still be readable.
    pub fn post_lenient(&mut self, headers: &[(&str, &str)], body: &[u8]) -> Result<Reply, String> {
        let mut req = format!(
            "POST / HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        self.send_raw(req.as_bytes())?;
        let _ = self.send_raw(body);
        self.read_reply()
    }

    /// A DynamoDB call: `X-Amz-Target: DynamoDB_20120810.<op>`, JSON 1.0.
    pub fn call(&mut self, op: &str, body: &Value) -> Result<Reply, String> {
        let target = format!("DynamoDB_20120810.{op}");
        self.post(
            &[
                ("Content-Type", "application/x-amz-json-1.0"),
                ("X-Amz-Target", &target),
            ],
            body.to_string().as_bytes(),
        )
    }

    pub fn read_reply(&mut self) -> Result<Reply, String> {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .map_err(|e| format!("status line: {e}"))?;
        if n == 0 {
            return Err("connection closed before a response".into());
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line {line:?}"))?;
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            self.reader
                .read_line(&mut h)
                .map_err(|e| format!("header: {e}"))?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h
                .split_once(':')
                .ok_or_else(|| format!("bad header line {h:?}"))?;
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .ok_or_else(|| format!("no content-length in {headers:?}"))?;
        let mut body = vec![0; len];
        self.reader
            .read_exact(&mut body)
            .map_err(|e| format!("body: {e}"))?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }
}

/// Seed from `var` when set (replay), else from the clock; printed either way.
pub fn seed_from_env(var: &str) -> u64 {
    let seed = std::env::var(var)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    eprintln!("{var}={seed}");
    seed
}

/// A number from env `var`, or `default`.
pub fn env_usize(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default)
}

/// Most a child server may take to print its address and answer.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The `hashlog` binary as a child process; killed (SIGKILL) and reaped when dropped.
pub struct ChildServer {
    pub child: Child,
    pub addr: SocketAddr,
}

pub fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

impl ChildServer {
    /// Starts `hashlog serve --data-dir <data> --listen 127.0.0.1:0 <args>` (stderr to `log`),
    /// waits (bounded) until it prints its address and answers ListTables.
    pub fn start(data: &Path, log: &Path, args: &[&str]) -> Result<ChildServer, String> {
        let log_file = std::fs::File::create(log).map_err(|e| format!("log file: {e}"))?;
        let mut child = Command::new(env!("CARGO_BIN_EXE_hashlog"))
            .arg("serve")
            .arg("--data-dir")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .map_err(|e| format!("spawn hashlog: {e}"))?;
        let stdout = child.stdout.take();
        let mut server = ChildServer {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let stdout = stdout.ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel::<String>();
        // Drains stdout until the child dies, so it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if Instant::now() > deadline {
                return Err(format!(
                    "no address printed within {START_TIMEOUT:?}; log:\n{}",
                    log_tail(log)
                ));
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("server exited ({status}); log:\n{}", log_tail(log)));
            }
            match rx.recv_timeout(Duration::from_millis(20)) {
                Ok(line) => {
                    let Some(rest) = line.split("http://").nth(1) else {
                        continue;
                    };
                    let addr = rest.split_whitespace().next().unwrap_or("");
                    server.addr = addr
                        .parse()
                        .map_err(|e| format!("bad address in {line:?}: {e}"))?;
                    break;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(Duration::from_millis(20))
                }
            }
        }
        loop {
            let answer = Conn::try_new(server.addr)
                .and_then(|mut c| c.call("ListTables", &serde_json::json!({})));
            match answer {
                Ok(r) if r.status == 200 => return Ok(server),
                _ if Instant::now() > deadline => {
                    return Err(format!(
                        "server at {} does not answer: {answer:?}; log:\n{}",
                        server.addr,
                        log_tail(log)
                    ))
                }
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        self.kill();
    }
}
