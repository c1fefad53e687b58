//! `hashlog-bench writeamp`: write and space amplification of the LSM tree under the leveled
//! and tiered compaction strategies, with uniform and zipfian overwrites.
//!
//! Each row opens a fresh engine (buffered WAL, one partition), writes every one of `keys` keys
//! once (in hashed order), then `overwrites` puts whose keys follow the distribution, then
//! flushes every memtable and runs compactions until none is due, so both strategies are
//! measured in a settled state. User bytes are what the benchmark wrote (key + value per put);
//! the engine's counters give the bytes written to the WAL, by flushes and by compactions.

use std::path::Path;
use std::time::{Duration, Instant};

use hashlog::db::{Engine, EngineOptions};
use hashlog::kv::{Kv, KvWrite};
use hashlog::lsm::{CompactionConfig, CompactionStrategy, TreeOptions};
use hashlog::wal::Durability;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::keys::{Distribution, KeyGen};

/// What one row is run with.
#[derive(Debug, Clone)]
pub struct Params {
    pub keys: u64,
    pub overwrites: u64,
    pub value_size: usize,
    pub memtable_bytes: usize,
    pub seed: u64,
}

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub strategy: CompactionStrategy,
    pub dist: String,
    pub user_bytes: u64,
    pub live_bytes: u64,
    pub wal_bytes: u64,
    pub flushed_bytes: u64,
    pub compacted_bytes: u64,
    pub sst_bytes_on_disk: u64,
    pub compactions: u64,
    pub flushes: u64,
    pub tables_per_level: Vec<usize>,
    pub secs: f64,
}

impl Row {
    /// (WAL + flushes + compactions) / user bytes.
    pub fn write_amp(&self) -> f64 {
        (self.wal_bytes + self.flushed_bytes + self.compacted_bytes) as f64
            / self.user_bytes.max(1) as f64
    }
    /// (flushes + compactions) / user bytes: the part the compaction strategy decides.
    pub fn sst_write_amp(&self) -> f64 {
        (self.flushed_bytes + self.compacted_bytes) as f64 / self.user_bytes.max(1) as f64
    }
    /// SSTable bytes on disk / live bytes (one key + value per distinct key).
    pub fn space_amp(&self) -> f64 {
        self.sst_bytes_on_disk as f64 / self.live_bytes.max(1) as f64
    }
}

pub const HEADER: &str = "| strategy | overwrites | user MiB | WAL MiB | flush MiB | compaction MiB | WA (WAL+SST) | WA (SST) | space amp | compactions | flushes | tables per level | s |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|";

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

pub fn format_row(r: &Row) -> String {
    let strategy = match r.strategy {
        CompactionStrategy::Leveled => "leveled",
        CompactionStrategy::Tiered => "tiered",
    };
    format!(
        "| {strategy} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} | {:.2} | {} | {} | {:?} | {:.1} |",
        r.dist,
        mib(r.user_bytes),
        mib(r.wal_bytes),
        mib(r.flushed_bytes),
        mib(r.compacted_bytes),
        r.write_amp(),
        r.sst_write_amp(),
        r.space_amp(),
        r.compactions,
        r.flushes,
        r.tables_per_level,
        r.secs
    )
}

/// The key of index `i`: a hashed prefix spreads consecutive indexes over the key space.
fn key(i: u64) -> Vec<u8> {
    let mut k = i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes().to_vec();
    k.extend_from_slice(format!("user{i:012}").as_bytes());
    k
}

fn sst_bytes(dir: &Path) -> Result<u64, String> {
    let mut total = 0;
    let rd = std::fs::read_dir(dir.join("sst")).map_err(|e| format!("{}: {e}", dir.display()))?;
    for e in rd {
        let e = e.map_err(|e| e.to_string())?;
        if e.path().extension().is_some_and(|x| x == "sst") {
            total += e.metadata().map_err(|e| e.to_string())?.len();
        }
    }
    Ok(total)
}

/// Engine options for one strategy: levels sized from the memtable (L1 holds
/// `l0_trigger` memtables, output files are one memtable), which with the default 8 MiB
/// memtable is exactly the engine's default configuration.
pub fn engine_options(strategy: CompactionStrategy, memtable_bytes: usize) -> EngineOptions {
    let base = CompactionConfig::default();
    EngineOptions {
        durability: Durability::Buffered {
            interval: Duration::from_millis(100),
        },
        tree: TreeOptions {
            memtable_bytes,
            compaction: CompactionConfig {
                strategy,
                level_base_bytes: (base.l0_trigger.max(1) * memtable_bytes) as u64,
                target_file_bytes: memtable_bytes as u64,
                ..base
            },
            ..TreeOptions::default()
        },
        ..EngineOptions::default()
    }
}

/// Runs compactions until none is due. `compact_all` skips a partition whose background worker
/// is mid-compaction, so this waits for such a worker and tries again (bounded).
fn settle(engine: &Engine) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        engine.compact_all().map_err(|e| e.to_string())?;
        if engine.stats().compaction_debt_partitions == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err("compactions still due after 600 s".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs one (strategy, distribution) row in a fresh temporary directory.
pub fn run_one(
    strategy: CompactionStrategy,
    dist_name: &str,
    dist: Distribution,
    p: &Params,
) -> Result<Row, String> {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = tmp.path().join("db");
    let engine = Engine::open(&dir, engine_options(strategy, p.memtable_bytes))
        .map_err(|e| e.to_string())?;
    engine.create_space(1, 1).map_err(|e| e.to_string())?;
    let value = vec![b'v'; p.value_size];
    let keys = p.keys.max(1);
    let gen = KeyGen::new(dist, keys);
    let mut rng = SmallRng::seed_from_u64(p.seed);
    let mut user_bytes = 0u64;
    let t0 = Instant::now();
    let mut put = |i: u64| -> Result<(), String> {
        let k = key(i);
        user_bytes += (k.len() + value.len()) as u64;
        engine
            .write(vec![KvWrite {
                space: 1,
                key: k,
                value: Some(value.clone()),
            }])
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    for i in 0..keys {
        put(i)?;
    }
    for _ in 0..p.overwrites {
        put(gen.next(&mut rng, keys - 1))?;
    }
    engine.flush_all().map_err(|e| e.to_string())?;
    settle(&engine)?;
    let secs = t0.elapsed().as_secs_f64();
    let s = engine.stats();
    let live_bytes = keys * (key(0).len() + p.value_size) as u64;
    let sst_bytes_on_disk = sst_bytes(&dir)?;
    engine.close().map_err(|e| e.to_string())?;
    Ok(Row {
        strategy,
        dist: dist_name.to_string(),
        user_bytes,
        live_bytes,
        wal_bytes: s.wal_bytes,
        flushed_bytes: s.flushed_bytes,
        compacted_bytes: s.compacted_bytes,
        sst_bytes_on_disk,
        compactions: s.compactions,
        flushes: s.flushes,
        tables_per_level: s.tables_per_level,
        secs,
    })
}
