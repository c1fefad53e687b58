//! Swarm fault campaign: the seeded fault injector (`hashlog::io::faulty`) under an
//! expected-state oracle, with fault *rates that vary per seed* (swarm testing: some seeds
//! have no torn writes but many sync failures, others the reverse, ...), so rare combinations
//! get their turn.
//!
//! Each seed runs several rounds against one database directory. A round opens the engine over
//! a fresh fault injector with the seed's rates (a failed open is retried without faults and
//! must then succeed), checks the recovered state against the oracle, and runs a random
//! single-threaded workload of puts, deletes and atomic multi-key batches, with reads checked
//! against the model and an occasional `flush_all`. Tiny memtables make flushes and
//! compactions run under the faults too. The round ends in a simulated power loss (unsynced
//! data lost) or a clean close.
//!
//! The oracle (as RocksDB's expected state): every operation is recorded as acknowledged,
//! refused (`DiskFull`, or refused by a poisoned engine: nothing may have been written) or in
//! doubt (any other error: it may or may not be durable). After recovery the database must
//! hold exactly the round's starting state plus a prefix of the round's operations in which
//! every acknowledged one is applied, every refused one is absent and in-doubt ones are
//! applied whole or not at all. Under sync durability the prefix must include every
//! acknowledged operation; under buffered durability at least those before the last
//! successful `flush_all`. After any error other than `DiskFull` the engine must refuse the
//! next write. Reads never return a wrong value (an injected read error may make them fail).
//!
//! `HASHLOG_FAULT_SEEDS` (default 16), `HASHLOG_FAULT_SEED_BASE` (default 20261205),
//! `HASHLOG_FAULT_ROUNDS` (rounds per seed, default 4), `HASHLOG_FAULT_OPS` (operations per
//! round, default 200). A failure names its seed: rerun with `HASHLOG_FAULT_SEED_BASE=<seed>
//! HASHLOG_FAULT_SEEDS=1`.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hashlog::db::{Engine, EngineOptions};
use hashlog::error::StorageError;
use hashlog::io::faulty::{FaultConfig, FaultStats, FaultyBackend};
use hashlog::io::std_backend::StdBackend;
use hashlog::io::IoBackend;
use hashlog::kv::{Kv, KvWrite};
use hashlog::sstable::ReadMode;
use hashlog::wal::Durability;

type State = BTreeMap<Vec<u8>, Vec<u8>>;

const SPACE: u64 = 1;

/// SplitMix64: small, seedable, and enough for choosing operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Zero half the time, else log-uniform in [1e-3, 3e-2].
    fn rate(&mut self) -> f64 {
        if self.below(2) == 0 {
            0.0
        } else {
            10f64.powf(-3.0 + self.unit() * (3.0 - 1.52))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Acked,
    /// Nothing of it may be in the database.
    Refused,
    /// It may be applied (whole) or not.
    InDoubt,
}

#[derive(Debug, Clone)]
struct Op {
    writes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    status: Status,
}

fn apply(state: &mut State, op: &Op) {
    for (k, v) in &op.writes {
        match v {
            Some(v) => state.insert(k.clone(), v.clone()),
            None => state.remove(k),
        };
    }
}

/// Whether `got` is `base` plus a prefix of `ops` of length ≥ `floor` (acked applied, refused
/// not, in-doubt either way).
fn explains(base: &State, ops: &[Op], floor: usize, got: &State) -> Result<(), String> {
    let doubt: Vec<usize> = (0..ops.len())
        .filter(|&i| ops[i].status == Status::InDoubt)
        .collect();
    if doubt.len() > 8 {
        return Err(format!(
            "{} in-doubt operations: too many to check",
            doubt.len()
        ));
    }
    for mask in 0u32..(1 << doubt.len()) {
        let mut state = base.clone();
        if floor == 0 && &state == got {
            return Ok(());
        }
        for (i, op) in ops.iter().enumerate() {
            let applied = match op.status {
                Status::Acked => true,
                Status::Refused => false,
                Status::InDoubt => {
                    let bit = doubt.iter().position(|&d| d == i).unwrap_or(0);
                    mask & (1 << bit) != 0
                }
            };
            if applied {
                apply(&mut state, op);
            }
            if i + 1 >= floor && &state == got {
                return Ok(());
            }
        }
    }
    let mut want = base.clone();
    for op in ops.iter().filter(|o| o.status == Status::Acked) {
        apply(&mut want, op);
    }
    let missing = want.keys().filter(|k| !got.contains_key(*k)).count();
    let extra = got.keys().filter(|k| !want.contains_key(*k)).count();
    let differ = want
        .iter()
        .filter(|(k, v)| got.get(*k).is_some_and(|g| g != *v))
        .count();
    Err(format!(
        "recovered state is no allowed prefix of the round's operations (floor {floor} of {}): \
         against all acknowledged applied, {missing} keys missing, {extra} extra, {differ} \
         with other values",
        ops.len()
    ))
}

fn key(i: u64) -> Vec<u8> {
    format!("k{:04}", i).into_bytes()
}

fn value(rng: &mut Rng, tag: u64) -> Vec<u8> {
    let len = 1 + rng.below(600) as usize;
    let mut v = tag.to_be_bytes().to_vec();
    v.resize(len.max(8), (tag % 251) as u8);
    v
}

fn options(io: Arc<dyn IoBackend>, durability: Durability, read_mode: ReadMode) -> EngineOptions {
    let mut o = EngineOptions {
        io_override: Some(io),
        durability,
        background_threads: 1,
        ..EngineOptions::default()
    };
    o.tree.memtable_bytes = 8 * 1024;
    // Small segments with reuse on: the log rotates, flushes release segments and their
    // files are reused, all under injected faults.
    o.wal_segment_bytes = 16 * 1024;
    o.wal_reuse_segments = true;
    o.tree.compaction.l0_trigger = 2;
    o.tree.read_mode = read_mode;
    if read_mode == ReadMode::Io {
        // A small block cache, so reads reach the (faulty) I/O layer.
        o.block_cache_bytes = 8 * 1024;
    }
    o
}

fn scan_all(engine: &Engine) -> Result<State, StorageError> {
    engine
        .scan(SPACE, Bound::Unbounded, Bound::Unbounded, false)?
        .collect()
}

#[derive(Debug, Default)]
struct Totals {
    rounds: u64,
    crashes: u64,
    acked: u64,
    refused: u64,
    in_doubt: u64,
    reads_checked: u64,
    open_failures: u64,
    poisoned_rounds: u64,
    faults: FaultStats,
}

fn add_stats(t: &mut FaultStats, s: FaultStats) {
    t.ops += s.ops;
    t.read_errors += s.read_errors;
    t.write_errors += s.write_errors;
    t.enospc_errors += s.enospc_errors;
    t.torn_writes += s.torn_writes;
    t.sync_errors += s.sync_errors;
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn run_seed(seed: u64, rounds: u64, ops_per_round: u64, totals: &mut Totals) -> Result<(), String> {
    let mut rng = Rng(seed);
    let config = FaultConfig {
        read_error: rng.rate(),
        write_error: rng.rate(),
        write_enospc: rng.rate(),
        torn_write: rng.rate(),
        sync_error: rng.rate(),
        fail_nth_op: None,
    };
    let durability = if rng.below(2) == 0 {
        Durability::Sync
    } else {
        Durability::Buffered {
            interval: Duration::from_millis(5),
        }
    };
    let partitions = 1 + rng.below(4) as u32;
    // Block reads through the I/O layer see injected read errors; mmap reads do not.
    let read_mode = if rng.below(2) == 0 {
        ReadMode::Io
    } else {
        ReadMode::Mmap
    };
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path: &Path = dir.path();
    {
        let io: Arc<dyn IoBackend> = Arc::new(StdBackend::new());
        let engine =
            Engine::open(path, options(io, durability, read_mode)).map_err(|e| e.to_string())?;
        engine
            .create_space(SPACE, partitions)
            .map_err(|e| e.to_string())?;
        engine.close().map_err(|e| e.to_string())?;
    }
    let mut base: State = State::new();
    let mut ops: Vec<Op> = Vec::new();
    let mut floor = 0usize;
    let mut tag = 0u64;
    for round in 0..=rounds {
        let ctx = |what: String| {
            format!("seed {seed} round {round} ({durability:?}, {partitions} partitions, {read_mode:?} reads, {config:?}): {what}")
        };
        // Open under faults; a failed open must leave a database that opens cleanly.
        let faulty = Arc::new(FaultyBackend::new(
            Arc::new(StdBackend::new()),
            config,
            seed ^ (round + 1).wrapping_mul(0x51_7cc1_b727_220a),
        ));
        let io: Arc<dyn IoBackend> = faulty.clone();
        let (engine, faulty) = match Engine::open(path, options(io, durability, read_mode)) {
            Ok(e) => (e, faulty),
            Err(_) => {
                totals.open_failures += 1;
                add_stats(&mut totals.faults, faulty.stats());
                drop(faulty);
                let clean = Arc::new(FaultyBackend::new(
                    Arc::new(StdBackend::new()),
                    FaultConfig::default(),
                    seed,
                ));
                let io: Arc<dyn IoBackend> = clean.clone();
                let e = Engine::open(path, options(io, durability, read_mode))
                    .map_err(|e| ctx(format!("reopen without faults after a failed open: {e}")))?;
                (e, clean)
            }
        };
        // Verify recovery with faults off, then arm them for the workload.
        let armed = faulty.config();
        faulty.set_config(FaultConfig::default());
        let got = scan_all(&engine).map_err(|e| ctx(format!("scan after recovery: {e}")))?;
        explains(&base, &ops, floor, &got).map_err(ctx)?;
        base = got;
        ops.clear();
        floor = 0;
        if round == rounds {
            add_stats(&mut totals.faults, faulty.stats());
            break;
        }
        faulty.set_config(armed);
        totals.rounds += 1;

        let mut model = base.clone();
        let mut poisoned = false;
        for _ in 0..ops_per_round {
            let pick = rng.below(100);
            if pick < 3 {
                match engine.flush_all() {
                    Ok(()) => floor = ops.len(),
                    Err(StorageError::DiskFull(_)) => {}
                    Err(_) => poisoned = true,
                }
                continue;
            }
            if pick < 23 {
                let k = key(rng.below(64));
                match engine.get(SPACE, &k) {
                    Ok(v) => {
                        totals.reads_checked += 1;
                        if v.as_ref() != model.get(&k) {
                            return Err(ctx(format!(
                                "read of {:?} returned a value the model does not have",
                                String::from_utf8_lossy(&k)
                            )));
                        }
                    }
                    Err(StorageError::Corruption(e)) => {
                        return Err(ctx(format!("corruption reported on read: {e}")))
                    }
                    Err(_) => {}
                }
                continue;
            }
            let n = if pick < 33 { 2 + rng.below(3) } else { 1 };
            let mut writes = Vec::new();
            for _ in 0..n {
                tag += 1;
                let k = key(rng.below(64));
                let v = (rng.below(5) != 0).then(|| value(&mut rng, tag));
                writes.push((k, v));
            }
            let kv: Vec<KvWrite> = writes
                .iter()
                .map(|(k, v)| KvWrite {
                    space: SPACE,
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect();
            let status = match engine.write(kv) {
                Ok(_) => {
                    if poisoned {
                        return Err(ctx("a write succeeded after an I/O error".into()));
                    }
                    Status::Acked
                }
                Err(StorageError::DiskFull(_)) => Status::Refused,
                // Refused by an engine that already failed: nothing was written.
                Err(_) if poisoned => Status::Refused,
                Err(_) => {
                    poisoned = true;
                    Status::InDoubt
                }
            };
            let op = Op { writes, status };
            if status == Status::Acked {
                apply(&mut model, &op);
            }
            match status {
                Status::Acked => totals.acked += 1,
                Status::Refused => totals.refused += 1,
                Status::InDoubt => totals.in_doubt += 1,
            }
            ops.push(op);
            if poisoned && ops.iter().filter(|o| o.status == Status::Refused).count() > 2 {
                break;
            }
        }
        if poisoned {
            totals.poisoned_rounds += 1;
        }
        if durability == Durability::Sync {
            // Every acknowledged write is durable: the prefix must cover all of them.
            floor = ops
                .iter()
                .rposition(|o| o.status == Status::Acked)
                .map_or(floor, |i| i + 1);
        }
        if rng.below(4) == 0 {
            // A clean close makes everything acknowledged durable, unless the engine failed.
            if engine.close().is_ok() && !poisoned {
                floor = floor.max(
                    ops.iter()
                        .rposition(|o| o.status == Status::Acked)
                        .map_or(0, |i| i + 1),
                );
            }
        } else {
            let _ = faulty.simulate_crash();
            totals.crashes += 1;
        }
        add_stats(&mut totals.faults, faulty.stats());
        drop(engine);
    }
    Ok(())
}

#[test]
fn swarm_of_fault_rates_never_loses_an_acknowledged_write() {
    let seeds = env("HASHLOG_FAULT_SEEDS", 16);
    let base = env("HASHLOG_FAULT_SEED_BASE", 20261205);
    let rounds = env("HASHLOG_FAULT_ROUNDS", 4);
    let ops = env("HASHLOG_FAULT_OPS", 200);
    let mut totals = Totals::default();
    for seed in base..base + seeds {
        if let Err(e) = run_seed(seed, rounds, ops, &mut totals) {
            panic!("{e}\nreplay: HASHLOG_FAULT_SEED_BASE={seed} HASHLOG_FAULT_SEEDS=1");
        }
    }
    let f = &totals.faults;
    println!(
        "fault swarm: {seeds} seeds from {base}, {} rounds ({} power losses), {} acknowledged, \
         {} refused, {} in doubt, {} reads checked, {} rounds ended poisoned, {} opens failed \
         under faults; injected over {} I/O operations: {} read errors, {} write errors, {} \
         ENOSPC, {} torn writes, {} sync errors; 0 violations",
        totals.rounds,
        totals.crashes,
        totals.acked,
        totals.refused,
        totals.in_doubt,
        totals.reads_checked,
        totals.poisoned_rounds,
        totals.open_failures,
        f.ops,
        f.read_errors,
        f.write_errors,
        f.enospc_errors,
        f.torn_writes,
        f.sync_errors,
    );
    assert!(totals.acked > 0, "the campaign acknowledged nothing");
    assert!(
        f.write_errors + f.enospc_errors + f.torn_writes + f.sync_errors > 0,
        "the campaign injected no fault"
    );
}
