//! Batched page-cache reads, io_uring against std, interleaved: criterion runs one backend
//! after the other, so on a shared machine a drift between the two runs is as large as the
//! difference asked about. Here each round times every (batch size, backend) pair back to
//! back over the same number of reads, alternating which backend goes first, and the ratio
//! is taken per round.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use hashlog::io::{default_backend, BackendKind, IoBackend, IoFile, OpenOptions};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const BLOCK: usize = 4096;

/// Writes a file of `bytes` random bytes (read back through the page cache afterwards).
pub fn make_file(path: &Path, bytes: u64) -> Result<(), String> {
    let io = default_backend(BackendKind::Std).0;
    let f = io
        .open(
            path,
            OpenOptions {
                create: true,
                write: true,
                truncate: true,
                ..OpenOptions::default()
            },
        )
        .map_err(|e| format!("create {}: {e}", path.display()))?;
    let mut rng = SmallRng::seed_from_u64(7);
    let mut chunk = vec![0u8; 1 << 20];
    let mut off = 0;
    while off < bytes {
        rng.fill(&mut chunk[..]);
        f.write_all_at(&chunk, off)
            .map_err(|e| format!("write: {e}"))?;
        off += chunk.len() as u64;
    }
    Ok(())
}

/// Nanoseconds per read of `reads` random 4 KiB reads in batches of `batch`.
fn time_reads(
    f: &Arc<dyn IoFile>,
    blocks: u64,
    batch: usize,
    reads: u64,
    seed: u64,
) -> Result<f64, String> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut buf = vec![0u8; batch * BLOCK];
    let batches = reads.div_ceil(batch as u64);
    let start = Instant::now();
    for _ in 0..batches {
        let mut reqs: Vec<(u64, &mut [u8])> = buf
            .chunks_mut(BLOCK)
            .map(|c| (rng.gen_range(0..blocks) * BLOCK as u64, c))
            .collect();
        f.read_many(&mut reqs)
            .map_err(|e| format!("read_many: {e}"))?;
    }
    Ok(start.elapsed().as_nanos() as f64 / (batches * batch as u64) as f64)
}

/// One table row: a batch size's per-round ns/read for each backend and their ratio.
pub struct Row {
    pub batch: usize,
    pub uring: Vec<f64>,
    pub std: Vec<f64>,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

impl Row {
    /// io_uring's time over std's per round (below 1: io_uring faster), sorted.
    fn ratios(&self) -> Vec<f64> {
        let mut r: Vec<f64> = self
            .uring
            .iter()
            .zip(&self.std)
            .map(|(u, s)| u / s)
            .collect();
        r.sort_by(f64::total_cmp);
        r
    }

    pub fn format(&self) -> String {
        let mut u = self.uring.clone();
        let mut s = self.std.clone();
        let mut ratios = self.ratios();
        format!(
            "| {} | {:.0} | {:.0} | {:.3} | {:.3}–{:.3} |",
            self.batch,
            median(&mut u),
            median(&mut s),
            median(&mut ratios),
            ratios.first().copied().unwrap_or(f64::NAN),
            ratios.last().copied().unwrap_or(f64::NAN),
        )
    }
}

pub const HEADER: &str = "| batch | io_uring ns/read (median) | std ns/read (median) | io_uring / std (median of rounds) | range over rounds |\n|---|---|---|---|---|";

/// Runs `rounds` rounds over `batches` on a file of `file_bytes` in `dir`.
pub fn run(
    dir: &Path,
    file_bytes: u64,
    batches: &[usize],
    reads: u64,
    rounds: usize,
) -> Result<Vec<Row>, String> {
    let path = dir.join("ioreads.blocks");
    make_file(&path, file_bytes)?;
    let blocks = file_bytes / BLOCK as u64;
    let uring = match default_backend(BackendKind::Uring) {
        (io, None) => io,
        (_, Some(why)) => return Err(format!("io_uring unavailable: {why}")),
    };
    let std_io: Arc<dyn IoBackend> = default_backend(BackendKind::Std).0;
    let open = |io: &Arc<dyn IoBackend>| {
        io.open(&path, OpenOptions::read_only())
            .map_err(|e| format!("open: {e}"))
    };
    let (fu, fs) = (open(&uring)?, open(&std_io)?);
    // Warm the page cache and both code paths.
    for f in [&fu, &fs] {
        time_reads(f, blocks, 8, blocks.min(65_536), 1)?;
    }
    let mut rows: Vec<Row> = batches
        .iter()
        .map(|&batch| Row {
            batch,
            uring: vec![],
            std: vec![],
        })
        .collect();
    for round in 0..rounds {
        for row in rows.iter_mut() {
            let seed = (round * 1000 + row.batch) as u64;
            if round % 2 == 0 {
                row.uring
                    .push(time_reads(&fu, blocks, row.batch, reads, seed)?);
                row.std
                    .push(time_reads(&fs, blocks, row.batch, reads, seed)?);
            } else {
                row.std
                    .push(time_reads(&fs, blocks, row.batch, reads, seed)?);
                row.uring
                    .push(time_reads(&fu, blocks, row.batch, reads, seed)?);
            }
        }
    }
    let _ = std::fs::remove_file(&path);
    Ok(rows)
}
