//! Batched point reads from cold SSTables, as BatchGetItem makes them: the engine's
//! `Kv::prefetch` (the keys' data blocks read ahead, one `read_many` batch per SSTable) against
//! reading key by key, on io_uring and std. Before every row the engine is reopened with an
//! empty block cache, and before every batch the tables' pages are dropped from the page cache
//! (`posix_fadvise(DONTNEED)`), so each batch's blocks come from the device. Rows alternate
//! their order per round.

use std::path::Path;
use std::time::Instant;

use hashlog::db::{Engine, EngineOptions};
use hashlog::io::BackendKind;
use hashlog::kv::{Kv, KvWrite};
use hdrhistogram::Histogram;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const SPACE: u64 = 1;

/// One measured row.
#[derive(Debug, Clone)]
pub struct Row {
    pub backend: &'static str,
    pub prefetch: bool,
    pub round: usize,
    pub batches: u64,
    pub keys_per_batch: usize,
    /// Blocks the prefetches read.
    pub prefetched: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p99_us: u64,
}

pub const HEADER: &str = "| backend | reads | round | batches | µs per batch (mean) | p50 µs | p99 µs | blocks read ahead |\n|---|---|---|---|---|---|---|---|";

impl Row {
    pub fn format(&self) -> String {
        format!(
            "| {} | {} | {} | {} | {:.0} | {} | {} | {} |",
            self.backend,
            if self.prefetch {
                format!("prefetch, then {} gets", self.keys_per_batch)
            } else {
                format!("{} gets", self.keys_per_batch)
            },
            self.round,
            self.batches,
            self.mean_us,
            self.p50_us,
            self.p99_us,
            self.prefetched
        )
    }
}

fn key(i: u64) -> Vec<u8> {
    // Spread over the key space, so a batch's keys fall in different blocks.
    i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes().to_vec()
}

fn options(backend: BackendKind) -> EngineOptions {
    EngineOptions {
        backend,
        ..EngineOptions::default()
    }
}

/// Writes `items` items of `value_bytes` into `dir`, flushed and compacted into SSTables.
pub fn load(dir: &Path, items: u64, value_bytes: usize) -> Result<(), String> {
    let e = Engine::open(dir, options(BackendKind::Std)).map_err(|e| format!("open: {e}"))?;
    e.create_space(SPACE, 1)
        .map_err(|e| format!("create space: {e}"))?;
    let mut rng = SmallRng::seed_from_u64(1);
    let mut i = 0;
    while i < items {
        let batch: Vec<KvWrite> = (i..(i + 256).min(items))
            .map(|k| KvWrite {
                space: SPACE,
                key: key(k),
                value: Some((0..value_bytes).map(|_| rng.gen::<u8>()).collect()),
            })
            .collect();
        i += batch.len() as u64;
        e.write(batch).map_err(|e| format!("write: {e}"))?;
    }
    e.flush_all().map_err(|e| format!("flush: {e}"))?;
    e.compact_all().map_err(|e| format!("compact: {e}"))?;
    e.close().map_err(|e| format!("close: {e}"))
}

/// Drops every file's pages under `dir` from the page cache.
fn evict(dir: &Path) -> Result<(), String> {
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let Ok(entry) = entry else {
            continue;
        };
        let p = entry.path();
        if p.is_dir() {
            evict(&p)?;
            continue;
        }
        // A file a background compaction just removed has nothing left to drop.
        let f = match std::fs::File::open(&p) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("{}: {e}", p.display())),
        };
        use std::os::fd::AsRawFd;
        // SAFETY: a valid open descriptor; the call only advises the kernel.
        let r = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        if r != 0 {
            return Err(format!("posix_fadvise {}: error {r}", p.display()));
        }
    }
    Ok(())
}

/// One row: `batches` batches of `per_batch` distinct random keys out of `items`.
#[allow(clippy::too_many_arguments)]
fn row(
    dir: &Path,
    backend: (&'static str, BackendKind),
    prefetch: bool,
    items: u64,
    per_batch: usize,
    batches: u64,
    round: usize,
) -> Result<Row, String> {
    evict(dir)?;
    let e = Engine::open(dir, options(backend.1)).map_err(|e| format!("reopen: {e}"))?;
    let mut rng = SmallRng::seed_from_u64(round as u64 * 1000 + u64::from(prefetch));
    let mut hist = Histogram::<u64>::new(3).map_err(|e| e.to_string())?;
    let mut total = 0.0;
    let mut prefetched = 0u64;
    for _ in 0..batches {
        let mut ids: Vec<u64> = (0..per_batch).map(|_| rng.gen_range(0..items)).collect();
        ids.sort_unstable();
        ids.dedup();
        let keys: Vec<Vec<u8>> = ids.iter().map(|&i| key(i)).collect();
        let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        // Every batch starts cold: the kernel's readahead of earlier batches would otherwise
        // bring most of a small table into the page cache.
        evict(dir)?;
        let t = Instant::now();
        if prefetch {
            prefetched += e
                .prefetch(SPACE, &refs)
                .map_err(|e| format!("prefetch: {e}"))? as u64;
        }
        for k in &refs {
            if e.get(SPACE, k).map_err(|e| format!("get: {e}"))?.is_none() {
                return Err("a loaded key is missing".into());
            }
        }
        let us = t.elapsed().as_secs_f64() * 1e6;
        total += us;
        hist.record(us as u64).map_err(|e| e.to_string())?;
    }
    e.close().map_err(|e| format!("close: {e}"))?;
    Ok(Row {
        backend: backend.0,
        prefetch,
        round,
        batches,
        keys_per_batch: per_batch,
        prefetched,
        mean_us: total / batches.max(1) as f64,
        p50_us: hist.value_at_quantile(0.5),
        p99_us: hist.value_at_quantile(0.99),
    })
}

/// Every (backend, prefetch) row per round, the order reversed every other round.
pub fn run(
    dir: &Path,
    items: u64,
    per_batch: usize,
    batches: u64,
    rounds: usize,
) -> Result<Vec<Row>, String> {
    let mut specs = vec![
        (("io_uring", BackendKind::Uring), true),
        (("std", BackendKind::Std), true),
        (("io_uring", BackendKind::Uring), false),
        (("std", BackendKind::Std), false),
    ];
    let mut rows = Vec::new();
    for round in 1..=rounds {
        for &(backend, prefetch) in &specs {
            rows.push(row(
                dir, backend, prefetch, items, per_batch, batches, round,
            )?);
        }
        specs.reverse();
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_run_reads_every_key_and_prefetches_only_when_asked() {
        let dir = tempfile::tempdir().expect("tempdir");
        load(dir.path(), 3000, 200).expect("load");
        let rows = run(dir.path(), 3000, 20, 3, 1).expect("run");
        assert_eq!(rows.len(), 4);
        for r in &rows {
            assert_eq!(r.batches, 3);
            if !r.prefetch {
                assert_eq!(r.prefetched, 0, "{r:?}");
            }
        }
    }
}
