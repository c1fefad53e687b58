//! `hashlog-bench`: workloads against the engine in-process (and, later, any DynamoDB endpoint).
//!
//! `hashlog-bench engine --workload fill --threads 16 --ops 20000` writes 1 KiB values with
//! N concurrent writers through the engine's group commit, then reports throughput, latency
//! percentiles and engine counters (WAL syncs, records per sync, write amplification).

mod http;
mod keys;
mod peers;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use hashlog::db::{Engine, EngineOptions};
use hashlog::io::BackendKind;
use hashlog::kv::{Kv, KvWrite};
use hashlog::wal::Durability;
use hdrhistogram::Histogram;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use keys::{Distribution, KeyGen};

#[derive(Parser)]
#[command(name = "hashlog-bench", about = "Benchmarks and workloads for hashlog")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// In-process workload against the storage engine.
    Engine(EngineArgs),
    /// The same fill/read workload against hashlog and the peer engines this build has
    /// (`--features peers` adds fjall), in one run.
    Peers(PeersArgs),
    /// PutItem/GetItem/Query of fixed-size items against any DynamoDB endpoint over HTTP
    /// (keep-alive connections, one per thread).
    Http(HttpArgs),
}

#[derive(clap::Args, Debug)]
struct HttpArgs {
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    endpoint: String,
    /// Label for the output row (e.g. the server's name and durability setting).
    #[arg(long, default_value = "endpoint")]
    label: String,
    #[arg(long, default_value = "hashlog_bench")]
    table: String,
    /// Operations to run, comma-separated: put, get, query (put first loads the keys).
    #[arg(long, default_value = "put,get,query")]
    ops_kinds: String,
    #[arg(long, default_value_t = 16)]
    threads: usize,
    #[arg(long, default_value_t = 10_000)]
    ops: u64,
    /// Distinct items (10 sort keys per partition key).
    #[arg(long, default_value_t = 5_000)]
    keys: u64,
    #[arg(long, default_value_t = 1024)]
    value_size: usize,
}

#[derive(clap::Args, Debug)]
struct PeersArgs {
    /// Writer thread counts to run, comma-separated.
    #[arg(long, default_value = "1,16,64")]
    threads: String,
    #[arg(long, default_value_t = 10_000)]
    ops: u64,
    #[arg(long, default_value_t = 1024)]
    value_size: usize,
    /// Durability: sync (every acknowledged write fdatasync'ed) or buffered.
    #[arg(long, value_enum, default_value = "sync")]
    durability: DurabilityArg,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Debug)]
enum Workload {
    /// Every operation writes a new or existing key.
    Fill,
    /// Loads `keys` keys, then every operation reads one.
    Read,
    /// Loads, then 50% reads / 50% updates (YCSB A).
    Mixed,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Debug)]
enum Backend {
    Auto,
    Uring,
    Std,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Debug)]
enum DurabilityArg {
    Sync,
    Buffered,
}

#[derive(clap::Args, Debug)]
struct EngineArgs {
    #[arg(long, value_enum, default_value = "fill")]
    workload: Workload,
    /// Concurrent client threads.
    #[arg(long, default_value_t = 16)]
    threads: usize,
    /// Operations in total (after loading).
    #[arg(long, default_value_t = 20_000)]
    ops: u64,
    /// Distinct keys.
    #[arg(long, default_value_t = 100_000)]
    keys: u64,
    #[arg(long, default_value_t = 1024)]
    value_size: usize,
    /// uniform | zipfian[:θ] | scrambled[:θ] | hotspot[:keyfrac,opfrac] | latest[:θ]
    #[arg(long, default_value = "uniform")]
    dist: String,
    #[arg(long, value_enum, default_value = "auto")]
    backend: Backend,
    #[arg(long, value_enum, default_value = "sync")]
    durability: DurabilityArg,
    /// Partitions of the keyspace.
    #[arg(long, default_value_t = 4)]
    partitions: u32,
    /// Data directory (default: a fresh temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Engine(a) => run_engine(a),
        Cmd::Peers(a) => run_peers(a),
        Cmd::Http(a) => run_http(a),
    };
    if let Err(e) = r {
        eprintln!("hashlog-bench: {e}");
        std::process::exit(1);
    }
}

fn key_bytes(i: u64) -> Vec<u8> {
    let mut k = i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes().to_vec();
    k.extend_from_slice(format!("user{i:012}").as_bytes());
    k
}

fn run_engine(a: EngineArgs) -> Result<(), String> {
    let dist: Distribution = a.dist.parse()?;
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = a.dir.clone().unwrap_or_else(|| tmp.path().join("db"));
    let mut opts = EngineOptions {
        ..EngineOptions::default()
    };
    opts.backend = match a.backend {
        Backend::Auto => BackendKind::Auto,
        Backend::Uring => BackendKind::Uring,
        Backend::Std => BackendKind::Std,
    };
    opts.durability = match a.durability {
        DurabilityArg::Sync => Durability::Sync,
        DurabilityArg::Buffered => Durability::Buffered {
            interval: Duration::from_millis(10),
        },
    };
    let engine = Arc::new(Engine::open(&dir, opts).map_err(|e| e.to_string())?);
    if let Some(note) = engine.io_note() {
        eprintln!("note: {note}");
    }
    const SPACE: u64 = 1;
    if !engine.has_space(SPACE) {
        engine
            .create_space(SPACE, a.partitions)
            .map_err(|e| e.to_string())?;
    }
    let value = vec![b'x'; a.value_size];
    if a.workload != Workload::Fill {
        let t0 = Instant::now();
        let batch = 100u64;
        let mut i = 0;
        while i < a.keys {
            let w: Vec<KvWrite> = (i..(i + batch).min(a.keys))
                .map(|k| KvWrite {
                    space: SPACE,
                    key: key_bytes(k),
                    value: Some(value.clone()),
                })
                .collect();
            engine.write(w).map_err(|e| e.to_string())?;
            i += batch;
        }
        engine.flush_all().map_err(|e| e.to_string())?;
        eprintln!("loaded {} keys in {:.2?}", a.keys, t0.elapsed());
    }
    let before = engine.stats();
    let next_op = Arc::new(AtomicU64::new(0));
    let gen = KeyGen::new(dist, a.keys);
    let t0 = Instant::now();
    let handles: Vec<_> = (0..a.threads.max(1))
        .map(|t| {
            let engine = Arc::clone(&engine);
            let next_op = Arc::clone(&next_op);
            let gen = gen.clone();
            let value = value.clone();
            let workload = a.workload;
            let total = a.ops;
            let seed = a.seed.wrapping_add(t as u64);
            std::thread::spawn(move || -> Result<Histogram<u64>, String> {
                let mut rng = SmallRng::seed_from_u64(seed);
                let mut h = Histogram::<u64>::new(3).map_err(|e| e.to_string())?;
                while next_op.fetch_add(1, Ordering::Relaxed) < total {
                    let k = key_bytes(gen.next(&mut rng, total));
                    let read = match workload {
                        Workload::Fill => false,
                        Workload::Read => true,
                        Workload::Mixed => rng.gen_bool(0.5),
                    };
                    let s = Instant::now();
                    if read {
                        engine.get(SPACE, &k).map_err(|e| e.to_string())?;
                    } else {
                        engine
                            .write(vec![KvWrite {
                                space: SPACE,
                                key: k,
                                value: Some(value.clone()),
                            }])
                            .map_err(|e| e.to_string())?;
                    }
                    let _ = h.record(s.elapsed().as_nanos() as u64);
                }
                Ok(h)
            })
        })
        .collect();
    let mut hist = Histogram::<u64>::new(3).map_err(|e| e.to_string())?;
    for h in handles {
        let part = h.join().map_err(|_| "worker panicked".to_string())??;
        hist.add(part).map_err(|e| e.to_string())?;
    }
    let secs = t0.elapsed().as_secs_f64();
    let after = engine.stats();
    let syncs = after.wal_syncs - before.wal_syncs;
    let records = after.wal_records - before.wal_records;
    let out = serde_json::json!({
        "workload": format!("{:?}", a.workload).to_lowercase(),
        "dist": a.dist,
        "threads": a.threads,
        "ops": a.ops,
        "value_size": a.value_size,
        "backend": after.io_backend,
        "durability": format!("{:?}", a.durability).to_lowercase(),
        "ops_per_sec": a.ops as f64 / secs,
        "p50_us": hist.value_at_quantile(0.50) as f64 / 1000.0,
        "p99_us": hist.value_at_quantile(0.99) as f64 / 1000.0,
        "p999_us": hist.value_at_quantile(0.999) as f64 / 1000.0,
        "wal_syncs": syncs,
        "records_per_sync": if syncs > 0 { records as f64 / syncs as f64 } else { 0.0 },
        "write_amplification": after.write_amplification(),
    });
    println!("{out}");
    engine.close().map_err(|e| e.to_string())?;
    Ok(())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpu}, {cores} cores, Linux {}", kernel.trim())
}

fn run_peers(a: PeersArgs) -> Result<(), String> {
    let sync = a.durability == DurabilityArg::Sync;
    println!("# machine: {}", machine());
    println!(
        "# {} ops of {} B values per run, durability {:?}",
        a.ops, a.value_size, a.durability
    );
    println!("| engine | threads | put ops/s | put p50 µs | put p99 µs | get ops/s | get p50 µs | get p99 µs |");
    println!("|---|---|---|---|---|---|---|---|");
    for t in a.threads.split(',') {
        let threads: usize = t
            .trim()
            .parse()
            .map_err(|e| format!("--threads {t}: {e}"))?;
        let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
        for store in peers::stores(tmp.path(), sync)? {
            let store: std::sync::Arc<dyn peers::Store> = std::sync::Arc::from(store);
            let (w, r) = peers::fill_then_read(&store, threads, a.ops, a.value_size)?;
            println!(
                "| {} | {threads} | {:.0} | {:.1} | {:.1} | {:.0} | {:.1} | {:.1} |",
                store.name(),
                w.ops_per_sec,
                w.p50_us,
                w.p99_us,
                r.ops_per_sec,
                r.p50_us,
                r.p99_us
            );
        }
    }
    Ok(())
}

fn run_http(a: HttpArgs) -> Result<(), String> {
    http::ensure_table(&a.endpoint, &a.table)?;
    for op in a.ops_kinds.split(',') {
        let ops = if op == "put" {
            a.ops.max(a.keys)
        } else {
            a.ops
        };
        let r = http::run(
            &a.endpoint,
            &a.table,
            op.trim(),
            a.threads,
            ops,
            a.keys,
            a.value_size,
        )?;
        println!(
            "| {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {} |",
            a.label, op, a.threads, r.ops_per_sec, r.p50_us, r.p99_us, r.p999_us, r.errors
        );
    }
    Ok(())
}
