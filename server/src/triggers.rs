//! Stream triggers: what AWS Lambda does with a DynamoDB stream, for `hashlog serve`.
//!
//! `--trigger TABLE=TARGET` attaches a consumer to TABLE's stream. TARGET is an `http://`
//! URL (each batch is POSTed as JSON; any 2xx answer is success) or `exec:COMMAND` (run with
//! `sh -c`, the batch on its stdin; exit status 0 is success). A batch is
//! `{"Records": [...]}` with the records in stream order, each as GetRecords returns it plus
//! `eventSourceARN`, at most `batch_size` records.
//!
//! Delivery is at least once and in order: after a successful batch the consumer writes the
//! batch's last sequence number to its checkpoint file (`<data>/triggers/<TABLE>.checkpoint`,
//! replaced atomically), and resumes after it on restart. A failing batch is retried with
//! exponential backoff (100 ms doubling, at most 5 s) up to `max_attempts` times; then it is
//! appended to the dead-letter file `<data>/triggers/<TABLE>.dlq.jsonl` (one JSON line per
//! batch, with the error) and the consumer moves on, as Lambda's on-failure destination does.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::Executor;

/// Where a trigger delivers batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `http://host:port/path`
    Http {
        host: String,
        port: u16,
        path: String,
    },
    /// `exec:COMMAND`, run with `sh -c`.
    Exec(String),
}

/// One `--trigger TABLE=TARGET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerSpec {
    pub table: String,
    pub target: Target,
}

impl std::str::FromStr for TriggerSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<TriggerSpec, String> {
        let (table, target) = s.split_once('=').ok_or_else(|| {
            format!("trigger {s:?}: expected TABLE=http://... or TABLE=exec:COMMAND")
        })?;
        if table.is_empty() {
            return Err(format!("trigger {s:?}: empty table name"));
        }
        let target = if let Some(cmd) = target.strip_prefix("exec:") {
            if cmd.trim().is_empty() {
                return Err(format!("trigger {s:?}: empty command"));
            }
            Target::Exec(cmd.to_string())
        } else if let Some(rest) = target.strip_prefix("http://") {
            let (hostport, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, "/"),
            };
            let (host, port) = match hostport.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_string(),
                    p.parse::<u16>()
                        .map_err(|_| format!("trigger {s:?}: bad port {p:?}"))?,
                ),
                None => (hostport.to_string(), 80),
            };
            if host.is_empty() {
                return Err(format!("trigger {s:?}: empty host"));
            }
            Target::Http {
                host,
                port,
                path: path.to_string(),
            }
        } else {
            return Err(format!(
                "trigger {s:?}: target must start with http:// or exec: (https is not supported)"
            ));
        };
        Ok(TriggerSpec {
            table: table.to_string(),
            target,
        })
    }
}

/// Delivery settings shared by every trigger.
#[derive(Debug, Clone)]
pub struct TriggerOptions {
    pub batch_size: usize,
    pub max_attempts: u32,
    /// Where checkpoints and dead-letter files go.
    pub dir: PathBuf,
    /// Wait between polls of an idle stream.
    pub idle_poll: Duration,
}

/// Runs consumers until `stop` is set.
pub struct Triggers {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Triggers {
    /// Starts one consumer thread per spec.
    pub fn start(
        exec: Arc<dyn Executor>,
        specs: Vec<TriggerSpec>,
        opts: TriggerOptions,
    ) -> Result<Triggers, String> {
        let stop = Arc::new(AtomicBool::new(false));
        if specs.is_empty() {
            return Ok(Triggers {
                stop,
                threads: Vec::new(),
            });
        }
        std::fs::create_dir_all(&opts.dir)
            .map_err(|e| format!("cannot create {}: {e}", opts.dir.display()))?;
        let mut threads = Vec::new();
        for spec in specs {
            let c = Consumer {
                exec: Arc::clone(&exec),
                spec,
                opts: opts.clone(),
                stop: Arc::clone(&stop),
            };
            let h = std::thread::Builder::new()
                .name(format!("hashlog-trigger-{}", c.spec.table))
                .spawn(move || c.run())
                .map_err(|e| format!("cannot start a trigger thread: {e}"))?;
            threads.push(h);
        }
        Ok(Triggers { stop, threads })
    }

    /// Stops every consumer (after its current delivery) and waits for them.
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Where a consumer is in a stream.
#[derive(Debug, Default)]
struct Checkpoint {
    arn: String,
    /// Shard → the sequence number of its last delivered record.
    shards: std::collections::BTreeMap<String, String>,
    /// Shards read to their end.
    finished: std::collections::BTreeSet<String>,
    /// A one-shard-format checkpoint's sequence number, until placed in a shard.
    legacy_seq: Option<String>,
}

impl Checkpoint {
    /// Places a one-shard-format sequence number in the shard whose range holds it.
    fn resolve_legacy(&mut self, shards: &[Value]) {
        let Some(seq) = self.legacy_seq.take() else {
            return;
        };
        let n: u128 = seq.parse().unwrap_or(0);
        let num = |v: &Value| v.as_str().and_then(|s| s.parse::<u128>().ok());
        for s in shards {
            let range = &s["SequenceNumberRange"];
            let starts = num(&range["StartingSequenceNumber"]).is_none_or(|a| a <= n);
            let ends = num(&range["EndingSequenceNumber"]).is_none_or(|b| n <= b);
            if let (true, true, Some(id)) = (starts, ends, s["ShardId"].as_str()) {
                self.shards.insert(id.to_string(), seq);
                return;
            }
        }
    }
}

struct Consumer {
    exec: Arc<dyn Executor>,
    spec: TriggerSpec,
    opts: TriggerOptions,
    stop: Arc<AtomicBool>,
}

fn call(exec: &dyn Executor, op: &str, body: Value) -> Result<Value, String> {
    exec.execute(op, body.to_string().as_bytes())
        .map_err(|e| format!("{}: {}", e.code.type_name(), e.message))
}

impl Consumer {
    fn checkpoint_path(&self) -> PathBuf {
        self.opts
            .dir
            .join(format!("{}.checkpoint", self.spec.table))
    }

    fn dlq_path(&self) -> PathBuf {
        self.opts.dir.join(format!("{}.dlq.jsonl", self.spec.table))
    }

    /// The checkpoint: the stream it belongs to, each shard's last delivered sequence number,
    /// and the shards read to their end. (A checkpoint of the one-shard format,
    /// `{"StreamArn", "SequenceNumber"}`, applies to the shard whose range holds that number.)
    fn load_checkpoint(&self) -> Option<Checkpoint> {
        let s = std::fs::read_to_string(self.checkpoint_path()).ok()?;
        let v: Value = serde_json::from_str(&s).ok()?;
        let mut cp = Checkpoint {
            arn: v["StreamArn"].as_str()?.to_string(),
            ..Checkpoint::default()
        };
        if let Some(m) = v["Shards"].as_object() {
            for (id, seq) in m {
                if let Some(seq) = seq.as_str() {
                    cp.shards.insert(id.clone(), seq.to_string());
                }
            }
        }
        for id in v["Finished"].as_array().into_iter().flatten() {
            if let Some(id) = id.as_str() {
                cp.finished.insert(id.to_string());
            }
        }
        cp.legacy_seq = v["SequenceNumber"].as_str().map(str::to_string);
        Some(cp)
    }

    fn save_checkpoint(&self, cp: &Checkpoint) -> Result<(), String> {
        let path = self.checkpoint_path();
        let tmp = path.with_extension("checkpoint.tmp");
        let body =
            json!({"StreamArn": cp.arn, "Shards": cp.shards, "Finished": cp.finished}).to_string();
        let mut f = std::fs::File::create(&tmp).map_err(|e| e.to_string())?;
        f.write_all(body.as_bytes()).map_err(|e| e.to_string())?;
        f.sync_all().map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, &path).map_err(|e| e.to_string())
    }

    fn sleep(&self, d: Duration) {
        let mut left = d;
        while !left.is_zero() && !self.stop.load(Ordering::SeqCst) {
            let step = left.min(Duration::from_millis(50));
            std::thread::sleep(step);
            left -= step;
        }
    }

    /// The table's current stream and its shards (all pages of DescribeStream).
    fn shards(&self) -> Result<Option<(String, Vec<Value>)>, String> {
        let d = call(
            self.exec.as_ref(),
            "DescribeTable",
            json!({"TableName": self.spec.table}),
        )?;
        let Some(arn) = d["Table"]["LatestStreamArn"].as_str().map(str::to_string) else {
            return Ok(None);
        };
        let mut shards = Vec::new();
        let mut req = json!({"StreamArn": arn});
        loop {
            let s = call(self.exec.as_ref(), "Streams.DescribeStream", req.clone())?;
            let desc = &s["StreamDescription"];
            shards.extend(desc["Shards"].as_array().cloned().unwrap_or_default());
            match desc["LastEvaluatedShardId"].as_str() {
                Some(last) => req["ExclusiveStartShardId"] = json!(last),
                None => break,
            }
        }
        Ok(Some((arn, shards)))
    }

    /// An iterator for a shard: after its checkpoint, or from its trim horizon.
    fn shard_iterator(
        &self,
        arn: &str,
        shard: &str,
        after: Option<&str>,
    ) -> Result<Option<String>, String> {
        let mut req =
            json!({"StreamArn": arn, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"});
        if let Some(seq) = after {
            req["ShardIteratorType"] = json!("AFTER_SEQUENCE_NUMBER");
            req["SequenceNumber"] = json!(seq);
        }
        let it = match call(self.exec.as_ref(), "Streams.GetShardIterator", req) {
            Ok(it) => it,
            // Trimmed past the checkpoint: nothing older is left to deliver.
            Err(e) if after.is_some() && e.starts_with("TrimmedDataAccessException") => call(
                self.exec.as_ref(),
                "Streams.GetShardIterator",
                json!({"StreamArn": arn, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"}),
            )?,
            Err(e) => return Err(e),
        };
        Ok(it["ShardIterator"].as_str().map(str::to_string))
    }

    /// Reads the stream as Lambda does: every shard in order, a child only after its parent
    /// was read to its end (so each item's records arrive in order), shards of one generation
    /// round-robin.
    fn run(self) {
        let mut warned = false;
        let mut cp = Checkpoint::default();
        // Shard → its next iterator, for the shards being read.
        let mut reading: Vec<(String, String)> = Vec::new();
        let mut last_listing = std::time::Instant::now() - Duration::from_secs(3600);
        while !self.stop.load(Ordering::SeqCst) {
            if reading.is_empty() || last_listing.elapsed() > Duration::from_secs(5) {
                last_listing = std::time::Instant::now();
                match self.shards() {
                    Ok(Some((arn, shards))) => {
                        if cp.arn != arn {
                            cp = match self.load_checkpoint() {
                                Some(c) if c.arn == arn => c,
                                _ => Checkpoint {
                                    arn: arn.clone(),
                                    ..Checkpoint::default()
                                },
                            };
                            cp.resolve_legacy(&shards);
                            reading.clear();
                        }
                        let ids: Vec<&str> = shards
                            .iter()
                            .filter_map(|s| s["ShardId"].as_str())
                            .collect();
                        for s in &shards {
                            let Some(id) = s["ShardId"].as_str() else {
                                continue;
                            };
                            let parent_done = s["ParentShardId"]
                                .as_str()
                                .is_none_or(|p| cp.finished.contains(p) || !ids.contains(&p));
                            if !parent_done
                                || cp.finished.contains(id)
                                || reading.iter().any(|(r, _)| r == id)
                            {
                                continue;
                            }
                            match self.shard_iterator(
                                &arn,
                                id,
                                cp.shards.get(id).map(String::as_str),
                            ) {
                                Ok(Some(it)) => reading.push((id.to_string(), it)),
                                Ok(None) => {}
                                Err(e) => {
                                    tracing::warn!(table = %self.spec.table, shard = id, error = %e, "trigger could not open a shard");
                                }
                            }
                        }
                    }
                    Ok(None) | Err(_) => {
                        if !warned {
                            tracing::warn!(table = %self.spec.table, "trigger waiting for the table's stream");
                            warned = true;
                        }
                        self.sleep(Duration::from_secs(1));
                        continue;
                    }
                }
            }
            let mut delivered = false;
            let mut finished_any = false;
            let mut next_round = Vec::with_capacity(reading.len());
            for (shard, it) in std::mem::take(&mut reading) {
                if self.stop.load(Ordering::SeqCst) {
                    next_round.push((shard, it));
                    continue;
                }
                let page = match call(
                    self.exec.as_ref(),
                    "Streams.GetRecords",
                    json!({"ShardIterator": it, "Limit": self.opts.batch_size}),
                ) {
                    Ok(p) => p,
                    Err(e) => {
                        // An expired or invalid iterator is reopened from the checkpoint.
                        tracing::warn!(table = %self.spec.table, shard = %shard, error = %e, "trigger could not read the stream");
                        continue;
                    }
                };
                let mut records = page["Records"].as_array().cloned().unwrap_or_default();
                let next = page["NextShardIterator"].as_str().map(str::to_string);
                if !records.is_empty() {
                    for r in &mut records {
                        r["eventSourceARN"] = json!(cp.arn);
                    }
                    let last_seq = records
                        .last()
                        .and_then(|r| r["dynamodb"]["SequenceNumber"].as_str())
                        .unwrap_or_default()
                        .to_string();
                    self.deliver_with_retries(&json!({"Records": records}));
                    cp.shards.insert(shard.clone(), last_seq);
                    delivered = true;
                }
                let ended = next.is_none();
                match next {
                    Some(n) => next_round.push((shard, n)),
                    None => {
                        cp.finished.insert(shard);
                        finished_any = true;
                    }
                }
                if !records.is_empty() || ended {
                    if let Err(e) = self.save_checkpoint(&cp) {
                        tracing::warn!(table = %self.spec.table, error = %e, "trigger could not save its checkpoint");
                    }
                }
            }
            reading = next_round;
            if finished_any {
                // Children of a finished shard may start now.
                last_listing = std::time::Instant::now() - Duration::from_secs(3600);
            } else if !delivered {
                self.sleep(self.opts.idle_poll);
            }
        }
    }

    fn deliver_with_retries(&self, batch: &Value) {
        let mut backoff = Duration::from_millis(100);
        let mut last_err = String::new();
        for attempt in 1..=self.opts.max_attempts.max(1) {
            match deliver(&self.spec.target, batch) {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(table = %self.spec.table, attempt, error = %e, "trigger delivery failed");
                    last_err = e;
                }
            }
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            if attempt < self.opts.max_attempts {
                self.sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
        let line = json!({"table": self.spec.table, "error": last_err, "batch": batch}).to_string();
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dlq_path())
            .and_then(|mut f| {
                f.write_all(line.as_bytes())?;
                f.write_all(b"\n")?;
                f.sync_all()
            });
        if let Err(e) = written {
            tracing::error!(table = %self.spec.table, error = %e, "trigger could not write its dead-letter file");
        }
    }
}

/// Delivers one batch once.
fn deliver(target: &Target, batch: &Value) -> Result<(), String> {
    let body = batch.to_string();
    match target {
        Target::Exec(cmd) => {
            let mut child = Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
            if let Some(mut stdin) = child.stdin.take() {
                // A command that does not read its input is not an error.
                let _ = stdin.write_all(body.as_bytes());
            }
            let status = child.wait().map_err(|e| e.to_string())?;
            if status.success() {
                Ok(())
            } else {
                Err(format!("{cmd:?} exited with {status}"))
            }
        }
        Target::Http { host, port, path } => post(host, *port, path, &body),
    }
}

/// One HTTP/1.1 POST with a bounded wait; success is a 2xx status.
fn post(host: &str, port: u16, path: &str, body: &str) -> Result<(), String> {
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}:{port}: {e}"))?
        .next()
        .ok_or_else(|| format!("cannot resolve {host}:{port}"))?;
    let timeout = Duration::from_secs(10);
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut status_line = String::new();
    let mut r = BufReader::new(s);
    r.read_line(&mut status_line).map_err(|e| e.to_string())?;
    // Drain the rest (bounded) so the peer sees a clean close.
    let mut sink = Vec::new();
    let _ = r.take(1 << 20).read_to_end(&mut sink);
    let code = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| format!("bad HTTP answer: {status_line:?}"))?;
    if (200..300).contains(&code) {
        Ok(())
    } else {
        Err(format!("HTTP {code}"))
    }
}

/// The default trigger directory under a data directory.
pub fn default_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("triggers")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        let s: TriggerSpec = "orders=http://127.0.0.1:9000/hook".parse().expect("http");
        assert_eq!(
            s.target,
            Target::Http {
                host: "127.0.0.1".into(),
                port: 9000,
                path: "/hook".into()
            }
        );
        let s: TriggerSpec = "t1=exec:cat >> /tmp/x".parse().expect("exec");
        assert_eq!(s.target, Target::Exec("cat >> /tmp/x".into()));
        assert!("nope".parse::<TriggerSpec>().is_err());
        assert!("t=https://x".parse::<TriggerSpec>().is_err());
        assert!("t=http://h:notaport/".parse::<TriggerSpec>().is_err());
    }

    #[test]
    fn exec_delivery_reports_exit_status() {
        let b = json!({"Records": []});
        assert!(deliver(&Target::Exec("cat > /dev/null".into()), &b).is_ok());
        assert!(deliver(&Target::Exec("exit 3".into()), &b).is_err());
    }
}
