//! `hashlog-bench walcommit`: the WAL's group commit against the disk it runs on, in one run.
//!
//! For each writer count and each I/O backend, N threads append 1 KiB records to a fresh
//! durable (`sync`) log for a fixed time; the log's own counters give records per fdatasync
//! and the mean bytes per batch. Right after each row the same directory is measured raw: one
//! thread writes blocks of that row's mean batch size sequentially into a preallocated file
//! with `pwrite` + `fdatasync` (what fio's `--fdatasync=1` does), so the ceiling "the disk's
//! fdatasync rate for that batch size" comes from the same minute as the row it bounds.
//! Rows alternate backends at each writer count, so a disk whose rate drifts over the run
//! affects both alike.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hashlog::io::uring::{UringBackend, UringOptions};
use hashlog::io::{default_backend, BackendKind, IoBackend};
use hashlog::wal::{Durability, Wal, WalOptions, WalStats};
use hdrhistogram::Histogram;

/// One measured row.
#[derive(Debug, Clone)]
pub struct Row {
    pub backend: &'static str,
    pub writers: usize,
    /// How the writers run.
    pub kind: Writers,
    /// Whether segments were released during the row (their files reused: the bench turns `reuse_segments` on).
    pub release: bool,
    pub records: u64,
    pub syncs: u64,
    pub batch_bytes: u64,
    pub secs: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    /// Raw pwrite+fdatasync per second at `batch_bytes`, measured right after the row.
    pub disk_syncs_per_sec: f64,
    /// The log's own threads: (name, share of the row's time on a CPU, share runnable but
    /// waiting for one).
    pub log_threads: Vec<(String, f64, f64)>,
}

impl Row {
    pub fn records_per_sec(&self) -> f64 {
        self.records as f64 / self.secs
    }
    pub fn records_per_sync(&self) -> f64 {
        self.records as f64 / self.syncs.max(1) as f64
    }
    pub fn syncs_per_sec(&self) -> f64 {
        self.syncs as f64 / self.secs
    }
    /// Achieved fdatasyncs per second over what the disk does at this batch size.
    pub fn of_disk(&self) -> f64 {
        self.syncs_per_sec() / self.disk_syncs_per_sec.max(f64::MIN_POSITIVE)
    }
    /// Records per second over the ceiling if every sync carried one record per writer at the
    /// disk's rate for this row's batch size (a stricter reading of "what the disk allows").
    pub fn of_full_batches(&self) -> f64 {
        self.records_per_sec() / (self.writers as f64 * self.disk_syncs_per_sec).max(1.0)
    }
}

pub const HEADER: &str = "| backend | writers | records/s | records per sync | mean batch KiB | syncs/s | disk syncs/s at that size | of disk | of full batches | p50 µs | p99 µs | log threads: on CPU / waiting for a CPU |\n|---|---|---|---|---|---|---|---|---|---|---|---|";

pub fn format_row(r: &Row) -> String {
    format!(
        "| {} | {} | {:.0} | {:.1} | {:.1} | {:.0} | {:.0} | {:.0} % | {:.0} % | {} | {} | {} |",
        if r.release {
            r.backend.to_string()
        } else {
            format!("{}, no segment released", r.backend)
        },
        match r.kind {
            Writers::Threads => format!("{} threads", r.writers),
            Writers::Tasks { runtime_threads } => {
                format!("{} tasks on {runtime_threads} threads", r.writers)
            }
        },
        r.records_per_sec(),
        r.records_per_sync(),
        r.batch_bytes as f64 / 1024.0,
        r.syncs_per_sec(),
        r.disk_syncs_per_sec,
        100.0 * r.of_disk(),
        100.0 * r.of_full_batches(),
        r.p50_us,
        r.p99_us,
        r.log_threads
            .iter()
            .map(|(n, run, wait)| format!("{n} {:.0} / {:.0} %", 100.0 * run, 100.0 * wait))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// How the writers of a row run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writers {
    /// One OS thread per writer, blocked in [`Wal::append`] until its batch is synced.
    Threads,
    /// One tokio task per writer awaiting [`Wal::append_async`], on a runtime of this many
    /// worker threads (as the server's requests run).
    Tasks { runtime_threads: usize },
}

/// What one row runs.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub writers: usize,
    pub kind: Writers,
    pub record_bytes: usize,
    /// `WalOptions::preallocate` (zeros written ahead of the log's end).
    pub preallocate: bool,
    /// Release segments behind the log's end every 20 ms, as flushes do (the bench turns
    /// `WalOptions::reuse_segments` on, so their files are reused); `false`: every segment is
    /// a new file.
    pub release: bool,
    /// Appending before the measured time starts (the first segments are new files; later
    /// ones reuse released ones).
    pub warmup: Duration,
    pub dur: Duration,
}

/// Appends `spec.record_bytes` records from `spec.writers` writers for `spec.dur` to a fresh
/// sync WAL in `dir` (removed afterwards).
pub fn run_wal(
    backend: &'static str,
    io: Arc<dyn IoBackend>,
    dir: &Path,
    spec: Spec,
) -> Result<Row, String> {
    let Spec {
        writers,
        kind,
        record_bytes,
        preallocate,
        release,
        warmup,
        dur,
    } = spec;
    let wdir = dir.join(format!("wal-{}-{writers}", backend.replace(' ', "-")));
    std::fs::create_dir_all(&wdir).map_err(|e| format!("{}: {e}", wdir.display()))?;
    let opts = WalOptions {
        durability: Durability::Sync,
        preallocate,
        // Released segments (`release`) are kept and reused.
        reuse_segments: true,
        ..WalOptions::default()
    };
    let wal = Arc::new(
        Wal::open(io, &wdir, opts, &mut |_, _| Ok(())).map_err(|e| format!("WAL open: {e}"))?,
    );
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    // As the engine does once flushes have made records durable elsewhere: segments behind
    // the log's end are released (deleted, or kept for reuse), here every 20 ms.
    let releaser = {
        let (wal, stop) = (Arc::clone(&wal), Arc::clone(&stop));
        std::thread::spawn(move || {
            while release && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
                wal.release_up_to(wal.last_seq())?;
            }
            Ok::<(), hashlog::error::StorageError>(())
        })
    };
    let timing = Timing { warmup, dur };
    let w = Writer {
        wal: Arc::clone(&wal),
        stop: Arc::clone(&stop),
        errors: Arc::clone(&errors),
        record_bytes,
    };
    let measured = match kind {
        Writers::Threads => with_threads(&w, writers, timing),
        Writers::Tasks { runtime_threads } => with_tasks(&w, writers, runtime_threads, timing),
    };
    stop.store(true, Ordering::Relaxed);
    let measured = measured?;
    releaser
        .join()
        .map_err(|_| "the releasing thread panicked".to_string())?
        .map_err(|e| format!("releasing segments: {e}"))?;
    let Measured {
        interval:
            Interval {
                before,
                after,
                secs,
                sched0,
                sched1,
            },
        hist,
    } = measured;
    wal.close().map_err(|e| format!("WAL close: {e}"))?;
    drop(wal);
    let _ = std::fs::remove_dir_all(&wdir);
    if errors.load(Ordering::Relaxed) > 0 {
        return Err(format!("{} appends failed", errors.load(Ordering::Relaxed)));
    }
    let records = after.records - before.records;
    let batches = (after.batches - before.batches).max(1);
    Ok(Row {
        backend,
        writers,
        kind,
        release,
        records,
        syncs: after.syncs - before.syncs,
        batch_bytes: (after.bytes - before.bytes) / batches,
        secs,
        p50_us: hist.value_at_quantile(0.50),
        p99_us: hist.value_at_quantile(0.99),
        disk_syncs_per_sec: 0.0,
        log_threads: sched1
            .iter()
            .map(|(name, run1, wait1)| {
                let (run0, wait0) = sched0
                    .iter()
                    .find(|(n, _, _)| n == name)
                    .map_or((0, 0), |(_, r, w)| (*r, *w));
                (
                    name.clone(),
                    (run1 - run0) as f64 / 1e9 / secs,
                    (wait1 - wait0) as f64 / 1e9 / secs,
                )
            })
            .collect(),
    })
}

/// What a row's writers left: the log's counters and the schedulers' before and after the
/// measured interval, and every append's latency.
struct Measured {
    interval: Interval,
    hist: Histogram<u64>,
}

/// (name, ns on CPU, ns runnable but waiting for a CPU) per thread.
type Sched = Vec<(String, u64, u64)>;

/// The log's counters and the log threads' scheduling before and after the measured time.
struct Interval {
    before: WalStats,
    after: WalStats,
    secs: f64,
    sched0: Sched,
    sched1: Sched,
}

fn new_hist() -> Result<Histogram<u64>, String> {
    Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(|e| format!("histogram: {e}"))
}

/// How long writers append before and while the row is measured.
#[derive(Debug, Clone, Copy)]
struct Timing {
    warmup: Duration,
    dur: Duration,
}

/// The measured interval: the warm-up, counters before, `dur` of appending, counters after.
fn measure(wal: &Wal, timing: Timing) -> Interval {
    std::thread::sleep(timing.warmup);
    let dur = timing.dur;
    let before = wal.stats();
    let sched0 = thread_sched("wal-");
    let t0 = Instant::now();
    std::thread::sleep(dur);
    let after = wal.stats();
    let secs = t0.elapsed().as_secs_f64();
    let sched1 = thread_sched("wal-");
    Interval {
        before,
        after,
        secs,
        sched0,
        sched1,
    }
}

/// What every writer of a row shares.
#[derive(Clone)]
struct Writer {
    wal: Arc<Wal>,
    stop: Arc<AtomicBool>,
    errors: Arc<AtomicU64>,
    record_bytes: usize,
}

impl Writer {
    fn payload(&self) -> Vec<u8> {
        vec![0xabu8; self.record_bytes]
    }

    fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed)
    }

    /// Records one append started at `t`; false (and the failure counted) if it failed.
    fn finished(&self, ok: bool, t: Instant, h: &mut Option<Histogram<u64>>) -> bool {
        if !ok {
            self.errors.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        if let Some(h) = h.as_mut() {
            let _ = h.record(t.elapsed().as_micros().max(1) as u64);
        }
        true
    }
}

/// Every writer's latencies in one histogram.
fn merge(hists: Vec<Option<Histogram<u64>>>) -> Result<Histogram<u64>, String> {
    let mut all = new_hist()?;
    for h in hists.into_iter().flatten() {
        all.add(h).map_err(|e| format!("histogram: {e}"))?;
    }
    Ok(all)
}

fn with_threads(w: &Writer, writers: usize, timing: Timing) -> Result<Measured, String> {
    let start_gate = Arc::new(std::sync::Barrier::new(writers + 1));
    let handles: Vec<_> = (0..writers)
        .map(|_| {
            let (w, gate) = (w.clone(), Arc::clone(&start_gate));
            std::thread::spawn(move || {
                let payload = w.payload();
                let mut h = new_hist().ok();
                gate.wait();
                while w.running() {
                    let t = Instant::now();
                    let ok = w.wal.append(&payload).is_ok();
                    if !w.finished(ok, t, &mut h) {
                        break;
                    }
                }
                h
            })
        })
        .collect();
    start_gate.wait();
    let interval = measure(&w.wal, timing);
    w.stop.store(true, Ordering::Relaxed);
    let hists = handles
        .into_iter()
        .map(|h| h.join().map_err(|_| "writer panicked".to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Measured {
        interval,
        hist: merge(hists)?,
    })
}

fn with_tasks(
    w: &Writer,
    writers: usize,
    runtime_threads: usize,
    timing: Timing,
) -> Result<Measured, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(runtime_threads.max(1))
        .thread_name("bench-rt")
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let started = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..writers)
        .map(|_| {
            let (w, started) = (w.clone(), Arc::clone(&started));
            rt.spawn(async move {
                let payload = w.payload();
                let mut h = new_hist().ok();
                started.fetch_add(1, Ordering::SeqCst);
                while w.running() {
                    let t = Instant::now();
                    let ok = w.wal.append_async(&payload).await.is_ok();
                    if !w.finished(ok, t, &mut h) {
                        break;
                    }
                }
                h
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while (started.load(Ordering::SeqCst) as usize) < writers {
        if Instant::now() > deadline {
            w.stop.store(true, Ordering::Relaxed);
            return Err("writer tasks did not start within 10 s".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let interval = measure(&w.wal, timing);
    w.stop.store(true, Ordering::Relaxed);
    let hists = handles
        .into_iter()
        .map(|h| {
            rt.block_on(h)
                .map_err(|e| format!("writer task failed: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    rt.shutdown_timeout(Duration::from_secs(5));
    Ok(Measured {
        interval,
        hist: merge(hists)?,
    })
}

/// (name, ns on CPU, ns runnable but waiting for a CPU) of this process's threads whose name
/// starts with `prefix`, from /proc/self/task/*/schedstat (empty where unavailable).
fn thread_sched(prefix: &str) -> Sched {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for t in tasks.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        let comm = comm.trim();
        if !comm.starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
        let mut f = stat
            .split_whitespace()
            .map(|x| x.parse::<u64>().unwrap_or(0));
        if let (Some(run), Some(wait)) = (f.next(), f.next()) {
            out.push((comm.to_string(), run, wait));
        }
    }
    out
}

/// The backends by command-line name: `uring` (the default io_uring backend: buffered writes
/// and fdatasync as plain calls), `uring-all-ops` (buffered writes and fdatasync on the ring
/// too, linked) and `std`.
pub fn backend_named(name: &str) -> Result<(&'static str, Arc<dyn IoBackend>), String> {
    match name {
        "std" => Ok(("std", default_backend(BackendKind::Std).0)),
        "uring" | "io_uring" => match default_backend(BackendKind::Uring) {
            (io, None) => Ok(("io_uring", io)),
            (_, Some(why)) => Err(format!("io_uring unavailable: {why}")),
        },
        "uring-all-ops" => UringBackend::with_options(UringOptions {
            all_ops_via_ring: true,
            ..UringOptions::default()
        })
        .map(|u| {
            (
                "io_uring, all ops on the ring",
                Arc::new(u) as Arc<dyn IoBackend>,
            )
        })
        .map_err(|e| format!("io_uring unavailable: {e}")),
        other => Err(format!(
            "unknown backend {other:?} (uring, uring-all-ops, std)"
        )),
    }
}

/// What fio `--rw=write --bs=B --fdatasync=1 --ioengine=sync` measures: sequential writes of
/// `block` bytes, each followed by fdatasync, into a file preallocated with zeros (as the
/// WAL preallocates), for `dur`. Returns syncs per second.
pub fn disk_sync_rate(dir: &Path, block: usize, area: u64, dur: Duration) -> Result<f64, String> {
    let path = dir.join("disk-probe");
    let f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let block = block.max(512);
    // Blocks wrap around in the preallocated area: overwrites change no file size.
    let prealloc: u64 = area.max(block as u64);
    let zeros = vec![0u8; 1024 * 1024];
    let mut off = 0;
    while off < prealloc {
        let n = (prealloc - off).min(zeros.len() as u64) as usize;
        f.write_all_at(&zeros[..n], off)
            .map_err(|e| e.to_string())?;
        off += n as u64;
    }
    f.sync_all().map_err(|e| e.to_string())?;
    let buf = vec![0x5au8; block];
    let t0 = Instant::now();
    let mut n = 0u64;
    let mut pos = 0u64;
    while t0.elapsed() < dur {
        if pos + block as u64 > prealloc {
            pos = 0;
        }
        f.write_all_at(&buf, pos).map_err(|e| e.to_string())?;
        f.sync_data().map_err(|e| e.to_string())?;
        pos += block as u64;
        n += 1;
    }
    let secs = t0.elapsed().as_secs_f64();
    drop(f);
    let _ = std::fs::remove_file(&path);
    Ok(n as f64 / secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_row_counts_records_and_syncs_and_measures_the_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (name, io) = backend_named("std").expect("std");
        for (kind, preallocate) in [
            (Writers::Threads, true),
            (Writers::Tasks { runtime_threads: 2 }, false),
        ] {
            let spec = Spec {
                writers: 4,
                kind,
                record_bytes: 1024,
                preallocate,
                release: true,
                warmup: Duration::from_millis(50),
                dur: Duration::from_millis(200),
            };
            let mut r = run_wal(name, Arc::clone(&io), dir.path(), spec).expect("row");
            assert!(r.records > 0 && r.syncs > 0, "{r:?}");
            assert!(
                r.records >= r.syncs,
                "a sync carries at least one record: {r:?}"
            );
            assert!(r.batch_bytes >= 1024, "{r:?}");
            r.disk_syncs_per_sec = disk_sync_rate(
                dir.path(),
                r.batch_bytes as usize,
                1 << 20,
                Duration::from_millis(100),
            )
            .expect("disk");
            assert!(r.disk_syncs_per_sec > 0.0);
            let line = format_row(&r);
            assert_eq!(line.matches('|').count(), 13, "{line}");
            let writers = match kind {
                Writers::Threads => "| 4 threads |",
                Writers::Tasks { .. } => "| 4 tasks on 2 threads |",
            };
            assert!(line.contains(writers), "{line}");
            assert!(std::fs::read_dir(dir.path()).expect("ls").next().is_none());
        }
    }
}
