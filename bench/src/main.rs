//! `hashlog-bench`: workloads against the engine in-process and any DynamoDB endpoint, and the
//! partitioning study on a simulated clock.
//!
//! `hashlog-bench engine --workload fill --threads 16 --ops 20000` writes 1 KiB values with
//! N concurrent writers through the engine's group commit, then reports throughput, latency
//! percentiles and engine counters (WAL syncs, records per sync, write amplification).
//! `hashlog-bench run --runner sim|engine|http` runs one YCSB configuration on the simulated
//! clock (capacity layer only) or on the real clock through DynamoDB's request API.

mod batchget;
mod config;
mod cost;
mod http;
mod ioreads;
mod keys;
mod peers;
mod plot;
mod progress;
mod runner;
mod sim;
mod study;
mod walcommit;
mod workload;
mod writeamp;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use hashlog::api::{Database, DatabaseOptions};
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
    /// (`--features peers` adds fjall, `--features peers-rocksdb` also RocksDB), in one run.
    Peers(PeersArgs),
    /// Write and space amplification, leveled vs tiered compaction, uniform and zipfian
    /// overwrites (one fresh engine per row).
    Writeamp(WriteampArgs),
    /// The WAL's group commit (durable 1 KiB appends, N writers, io_uring and std) against
    /// the disk's own pwrite+fdatasync rate at each row's batch size, measured in the same
    /// run.
    Walcommit(WalcommitArgs),
    /// Batched 4 KiB page-cache reads through `read_many`, io_uring against std, interleaved
    /// per round (the ratio is taken within each round).
    Ioreads(IoreadsArgs),
    /// Batched point reads from cold SSTables (BatchGetItem's shape): the engine's prefetch
    /// (one `read_many` batch per SSTable) against key by key, io_uring and std.
    Batchget(BatchgetArgs),
    /// PutItem/GetItem/Query of fixed-size items against any DynamoDB endpoint over HTTP
    /// (keep-alive connections, one per thread).
    Http(HttpArgs),
    /// One partitioning configuration on the simulated clock (capacity layer in the loop).
    Run(RunArgs),
    /// The partitioning study: strategies × distributions × capacity policies.
    Study(StudyArgs),
    /// The real-clock runner's own per-op cost (against a client that answers at once)
    /// next to a PutItem through `Database::execute`, and the key generators' throughput.
    Overhead(OverheadArgs),
}

#[derive(clap::Args, Debug)]
struct BatchgetArgs {
    /// Items loaded (1 table, flushed and compacted).
    #[arg(long, default_value_t = 200_000)]
    items: u64,
    /// Value bytes per item.
    #[arg(long, default_value_t = 1000)]
    value_bytes: usize,
    /// Keys per batch (BatchGetItem takes up to 100).
    #[arg(long, default_value_t = 100)]
    keys: usize,
    /// Batches per row.
    #[arg(long, default_value_t = 40)]
    batches: u64,
    /// Rounds (rows alternate their order).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Directory for the database, on the disk to measure [default: a temporary directory].
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct IoreadsArgs {
    /// Reads per batch (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "8,32")]
    batches: Vec<usize>,
    /// Reads per backend, batch size and round.
    #[arg(long, default_value_t = 400_000)]
    reads: u64,
    /// Rounds (backends alternate which goes first).
    #[arg(long, default_value_t = 7)]
    rounds: usize,
    /// File size in MiB (it must fit in the page cache).
    #[arg(long, default_value_t = 256)]
    file_mib: u64,
    /// Directory for the file [default: a temporary directory].
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct WalcommitArgs {
    /// Concurrent writers per row (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,4,16,64")]
    writers: Vec<usize>,
    /// Seconds per row (and per disk probe).
    #[arg(long, default_value_t = 4.0)]
    secs: f64,
    /// Record payload bytes.
    #[arg(long, default_value_t = 1024)]
    record_bytes: usize,
    /// Directory on the disk to measure [default: a temporary directory].
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Backends to compare (comma-separated: uring, uring-all-ops, std).
    #[arg(long, value_delimiter = ',', default_value = "uring,uring-all-ops,std")]
    backends: Vec<String>,
    /// Rounds over the whole table (rows of one writer count stay side by side).
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// How writers run (comma-separated): `threads` (one OS thread each, blocked in
    /// `Wal::append`) and/or `tasks` (tokio tasks awaiting `Wal::append_async`).
    #[arg(long, value_delimiter = ',', default_value = "threads")]
    kinds: Vec<String>,
    /// Worker threads of the runtime the `tasks` writers run on [default: the CPUs].
    #[arg(long)]
    runtime_threads: Option<usize>,
    /// The WAL writes zeros ahead of its end (`WalOptions::preallocate`).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    preallocate: bool,
    /// Seconds of appending before each row's measured time (segments are released every
    /// 20 ms throughout, as flushes do; the first ones are new files, later ones reused).
    #[arg(long, default_value_t = 1.5)]
    warmup: f64,
    /// Release segments as flushes would (comma-separated: true, false); `false` keeps every
    /// segment, so none is reused (each new segment is a new file written zeros ahead).
    #[arg(long, value_delimiter = ',', default_value = "true")]
    release: Vec<bool>,
}

#[derive(clap::Args, Debug)]
struct OverheadArgs {
    /// Runner ops against the null client.
    #[arg(long, default_value_t = 2_000_000)]
    ops: u64,
    /// PutItems through Database::execute per durability setting.
    #[arg(long, default_value_t = 20_000)]
    puts: u64,
    /// YCSB workload the runner draws.
    #[arg(long, value_enum, default_value = "a")]
    ycsb: workload::Ycsb,
    #[arg(long, default_value = "zipfian:0.99")]
    dist: String,
    #[arg(long, default_value_t = 100_000)]
    records: u64,
    #[arg(long, default_value = "1000")]
    item_size: String,
    /// Generator draws per distribution (0: skip).
    #[arg(long, default_value_t = 10_000_000)]
    gen_draws: u64,
}

#[derive(clap::Args, Debug, Clone)]
struct SimArgs {
    /// YCSB core workload (op mix).
    #[arg(long, value_enum, default_value = "a")]
    ycsb: workload::Ycsb,
    /// Distinct keys loaded before the run.
    #[arg(long, default_value_t = 100_000)]
    records: u64,
    /// Item size in bytes, or uniform:MIN-MAX.
    #[arg(long, default_value = "1000")]
    item_size: String,
    /// Offered load, operations per second [default: 2000 simulated; real-clock runners:
    /// unlimited, each thread sends its next request when the last is answered].
    #[arg(long)]
    rate: Option<u64>,
    /// Seconds to run [default: 1800 simulated; real-clock runners: 10 real seconds, or
    /// until --ops when that is given].
    #[arg(long)]
    duration: Option<u64>,
    /// Seconds per reported window.
    #[arg(long, default_value_t = 10)]
    window: u64,
    /// Partitions (N of the fixed layouts; starting count for split-for-heat).
    #[arg(long, default_value_t = 16)]
    partitions: usize,
    /// Virtual nodes per node (consistent hashing).
    #[arg(long, default_value_t = 64)]
    vnodes: usize,
    /// Capacity model scale: partition maxima (3000 RCU / 1000 WCU) and on-demand starting
    /// peaks divided by this, so loads are this many times smaller than the table modelled.
    #[arg(long, default_value_t = 10)]
    scale: u64,
    /// Hot set moves every this many seconds in the shifting workload(s).
    #[arg(long, default_value_t = 300)]
    shift_every: u64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[command(flatten)]
    prices: cost::Prices,
}

impl SimArgs {
    /// Offered ops per simulated second.
    fn sim_rate(&self) -> u64 {
        self.rate.unwrap_or(2000)
    }
    /// Simulated seconds.
    fn sim_duration(&self) -> u64 {
        self.duration.unwrap_or(1800)
    }
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Debug)]
enum RunnerKind {
    /// Simulated clock, capacity layer only (deterministic).
    Sim,
    /// Real clock, in-process `hashlog::api::Database` over the storage engine.
    Engine,
    /// Real clock, any DynamoDB endpoint over HTTP (--endpoint).
    Http,
}

/// Options of the real-clock runners (`--runner engine|http`).
#[derive(clap::Args, Debug)]
struct RealArgs {
    /// Client threads (each with its own connection).
    #[arg(long, default_value_t = 8)]
    threads: usize,
    /// Stop after this many operations in total (and after --duration if given too).
    #[arg(long)]
    ops: Option<u64>,
    /// Engine runner: data directory (default: a fresh temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Engine runner: WAL durability.
    #[arg(long, value_enum, default_value = "sync")]
    durability: DurabilityArg,
    /// Engine runner: throttle by the table's capacity, as `hashlog serve --capacity enforce`.
    #[arg(long)]
    enforce_capacity: bool,
    /// HTTP runner: the DynamoDB endpoint.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    endpoint: String,
    /// Table to create (if missing) and use; its key must be `pk` (S).
    #[arg(long, default_value = "usertable")]
    table: String,
    /// Billing of the table when the runner creates it: on-demand or RCU,WCU (provisioned).
    #[arg(long, default_value = "on-demand")]
    billing: String,
    /// Do not load --records items first (the table is already loaded).
    #[arg(long)]
    no_load: bool,
    /// No progress bar (it is drawn only when stdout and stderr are terminals anyway).
    #[arg(long)]
    quiet: bool,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Where the ops go.
    #[arg(long, value_enum, default_value = "sim")]
    runner: RunnerKind,
    #[command(flatten)]
    sim: SimArgs,
    #[command(flatten)]
    real: RealArgs,
    /// Partitioning. Sim: the study's partitioner. Engine and HTTP runners: the table's
    /// partitioning setting (fixed-hash:N, consistent-hash:N:VNODES, key-range:N with N =
    /// --partitions; split-for-heat is hashlog's default, hash-split) — engine: the database's
    /// default for the table it creates (counts only with --enforce-capacity); HTTP: the
    /// CreateTable tag `hashlog:partitioning` (the server must enforce capacity).
    #[arg(long, value_enum, default_value = "split-for-heat")]
    strategy: sim::Strategy,
    #[arg(long, value_enum, default_value = "prov-adaptive")]
    policy: sim::Policy,
    /// Key distribution: uniform, zipfian[:θ], scrambled[:θ], hotspot[:k,o], latest[:θ].
    #[arg(long, default_value = "zipfian:0.99")]
    dist: String,
    /// Move the hot set every --shift-every seconds.
    #[arg(long)]
    shifting: bool,
    /// Write the outputs (CSV, JSON, SVG) here; otherwise print the summary row.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct StudyArgs {
    #[command(flatten)]
    sim: SimArgs,
    /// Preset: 600 simulated seconds per configuration, hot set moving every 120 s.
    #[arg(long)]
    quick: bool,
    /// Output directory.
    #[arg(long, default_value = "docs/results/study")]
    out: PathBuf,
    /// Skip the generator throughput measurement (timing; not deterministic).
    #[arg(long)]
    no_gen_bench: bool,
    /// The matrix and parameters from a TOML file (bench/study.toml is the default matrix).
    /// Flags given on the command line override the file; --ycsb is ignored when the file has
    /// [[matrix]] blocks.
    #[arg(long)]
    config: Option<PathBuf>,
    /// No progress output: no bar (drawn only when stdout and stderr are terminals anyway)
    /// and no line per configuration.
    #[arg(long)]
    quiet: bool,
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
    /// Keep-alive connections, each with one request in flight.
    #[arg(long, default_value_t = 16)]
    threads: usize,
    /// Drive the connections from this many event-loop threads instead of one blocking
    /// thread per connection (less client CPU per request on a machine shared with the server).
    #[arg(long)]
    client_threads: Option<usize>,
    #[arg(long, default_value_t = 10_000)]
    ops: u64,
    /// Distinct items (10 sort keys per partition key).
    #[arg(long, default_value_t = 5_000)]
    keys: u64,
    #[arg(long, default_value_t = 1024)]
    value_size: usize,
    /// The server's process id: its CPU time per operation (from /proc/PID/stat, all its
    /// threads, 10 ms ticks) is reported next to the client's, each also with its system
    /// (kernel) part in the last two columns.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Open loop: send this many requests per second in all, on a fixed schedule, instead of
    /// each connection's next request as soon as its last is answered. A request that finds
    /// every connection busy waits, and the wait counts in its latency: the tail at a given
    /// load, comparable across servers of different speeds.
    #[arg(long)]
    rate: Option<f64>,
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

#[derive(clap::Args, Debug)]
struct WriteampArgs {
    /// Value size in bytes.
    #[arg(long, default_value_t = 1024)]
    values: usize,
    /// Distinct keys, each written once first [default: 200000; --quick: 20000].
    #[arg(long)]
    keys: Option<u64>,
    /// Puts after the fill, keys drawn by each distribution [default: 3 × keys].
    #[arg(long)]
    overwrites: Option<u64>,
    /// Memtable size in KiB; L1 target = 4 memtables, output files = 1 memtable
    /// [default: 8192, the engine's default; --quick: 1024].
    #[arg(long)]
    memtable_kib: Option<usize>,
    /// Key distributions of the overwrites, comma-separated (uniform, zipfian[:θ], ...).
    #[arg(long, default_value = "uniform,zipfian")]
    dists: String,
    /// Small sizes (about 80 MiB written per row) for a run well under a minute.
    #[arg(long)]
    quick: bool,
    #[arg(long, default_value_t = 1)]
    seed: u64,
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
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let r = match cli.cmd {
        Cmd::Engine(a) => run_engine(a),
        Cmd::Peers(a) => run_peers(a),
        Cmd::Writeamp(a) => run_writeamp(a),
        Cmd::Walcommit(a) => run_walcommit(a),
        Cmd::Ioreads(a) => run_ioreads(a),
        Cmd::Batchget(a) => run_batchget(a),
        Cmd::Http(a) => run_http(a),
        Cmd::Run(a) => run_sim(a),
        Cmd::Study(a) => run_study(a, matches.subcommand_matches("study")),
        Cmd::Overhead(a) => run_overhead(a),
    };
    if let Err(e) = r {
        eprintln!("hashlog-bench: {e}");
        std::process::exit(1);
    }
}

fn sim_config(
    a: &SimArgs,
    label: &str,
    dist: Distribution,
    shifting: bool,
    strategy: sim::Strategy,
    policy: sim::Policy,
) -> Result<sim::SimConfig, String> {
    Ok(sim::SimConfig {
        label: label.to_string(),
        strategy,
        policy,
        workload: workload::WorkloadSpec {
            ycsb: a.ycsb,
            dist,
            records: a.records,
            item_size: a.item_size.parse()?,
            shift_every_secs: shifting.then_some(a.shift_every),
            max_scan: 100,
        },
        rate: a.sim_rate(),
        duration_secs: a.sim_duration(),
        window_secs: a.window,
        partitions: a.partitions,
        vnodes: a.vnodes,
        scale: a.scale,
        seed: a.seed,
        prices: a.prices,
    })
}

fn params_json(a: &SimArgs) -> serde_json::Value {
    serde_json::json!({
        "ycsb": a.ycsb.name(),
        "records": a.records,
        "item_size": a.item_size,
        "rate_ops_s": a.sim_rate(),
        "duration_s": a.sim_duration(),
        "window_s": a.window,
        "partitions": a.partitions,
        "vnodes": a.vnodes,
        "scale": a.scale,
        "shift_every_s": a.shift_every,
        "seed": a.seed,
        "prices_usd": {
            "source": "as published by AWS, 2024 prices (us-east-1, Standard), verify before use",
            "on_demand_per_million_wru": a.prices.od_write_per_million,
            "on_demand_per_million_rru": a.prices.od_read_per_million,
            "wcu_hour": a.prices.wcu_hour,
            "rcu_hour": a.prices.rcu_hour,
        },
    })
}

fn run_label(a: &RunArgs) -> String {
    if a.shifting {
        format!("shifting-{}", a.dist.replace(':', "-"))
    } else {
        a.dist.replace(':', "-")
    }
}

fn run_sim(a: RunArgs) -> Result<(), String> {
    if a.runner != RunnerKind::Sim {
        return run_real(a);
    }
    let dist: Distribution = a.dist.parse()?;
    let label = run_label(&a);
    let c = sim_config(&a.sim, &label, dist, a.shifting, a.strategy, a.policy)?;
    let runs = study::run_all(std::slice::from_ref(&c), a.real.quiet)?;
    match a.out {
        Some(dir) => study::write_outputs(&dir, &params_json(&a.sim), &runs),
        None => {
            println!("{}", study::SUMMARY_HEADER);
            for r in &runs {
                println!("{}", study::summary_row(r));
            }
            Ok(())
        }
    }
}

/// The table partitioning that `--strategy` (with `--partitions` and `--vnodes`) names.
fn table_partitioning(
    s: sim::Strategy,
    a: &SimArgs,
) -> Result<hashlog::partition::PartitioningStrategy, String> {
    let text = match s {
        sim::Strategy::SplitForHeat => "hash-split".to_string(),
        sim::Strategy::FixedHash => format!("fixed-hash:{}", a.partitions),
        sim::Strategy::Consistent => format!("consistent-hash:{}:{}", a.partitions, a.vnodes),
        sim::Strategy::KeyRange => format!("key-range:{}", a.partitions),
    };
    text.parse()
        .map_err(|e| format!("--strategy {}: {e}", s.name()))
}

/// `run --runner engine|http`: the real-clock runners.
fn run_real(a: RunArgs) -> Result<(), String> {
    let dist: Distribution = a.dist.parse()?;
    let r = &a.real;
    let partitioning = table_partitioning(a.strategy, &a.sim)?;
    if a.runner == RunnerKind::Engine && !r.enforce_capacity && !partitioning.is_hash_split() {
        eprintln!(
            "note: --strategy {} changes nothing without --enforce-capacity",
            a.strategy.name()
        );
    }
    let c = runner::RealConfig {
        label: run_label(&a),
        spec: workload::WorkloadSpec {
            ycsb: a.sim.ycsb,
            dist,
            records: a.sim.records,
            item_size: a.sim.item_size.parse()?,
            shift_every_secs: a.shifting.then_some(a.sim.shift_every),
            max_scan: 100,
        },
        threads: r.threads.max(1),
        duration: match (a.sim.duration, r.ops) {
            (Some(d), _) => Some(Duration::from_secs(d)),
            (None, Some(_)) => None,
            (None, None) => Some(Duration::from_secs(10)),
        },
        ops: r.ops,
        rate: a.sim.rate.map(|x| x as f64),
        window_secs: a.sim.window.max(1),
        seed: a.sim.seed,
        table: r.table.clone(),
        load: !r.no_load,
        billing: r.billing.parse()?,
        // HTTP: the tag (none for the default, so other endpoints see a plain CreateTable).
        partitioning_tag: (a.runner == RunnerKind::Http && !partitioning.is_hash_split())
            .then(|| partitioning.to_string()),
    };
    runner::check_table_name(&c.table)?;
    let progress = progress::RunBar::new(r.quiet, c.duration);
    let result = match a.runner {
        RunnerKind::Http => runner::run(
            &runner::HttpTarget {
                endpoint: r.endpoint.clone(),
            },
            &c,
            &progress,
        )?,
        _ => run_engine_target(r, &c, partitioning, &progress)?,
    };
    let params = serde_json::json!({
        "runner": result.runner,
        "strategy": a.strategy.name(),
        "partitioning": partitioning.to_string(),
        "endpoint": (a.runner == RunnerKind::Http).then_some(&r.endpoint),
        "durability": (a.runner == RunnerKind::Engine).then(|| format!("{:?}", r.durability).to_lowercase()),
        "enforce_capacity": r.enforce_capacity,
        "shift_every_s": c.spec.shift_every_secs,
    });
    match &a.out {
        Some(dir) => {
            runner::write_outputs(dir, params, &result)?;
            eprintln!("{}", runner::summary_row(&result));
            Ok(())
        }
        None => {
            println!("{}", runner::SUMMARY_HEADER);
            println!("{}", runner::summary_row(&result));
            println!();
            println!("{}", runner::WINDOWS_HEADER);
            for w in runner::window_rows(&result) {
                println!("{w}");
            }
            Ok(())
        }
    }
}

/// `overhead`: (a) the runner's client loop against [`runner::NullTarget`] (key draw, op
/// choice, request body, pacing checks, counters, two histogram records per op), single
/// thread; (b) single-thread PutItems of pre-built bodies through `Database::execute`, sync
/// and buffered; the ratio a/b; (c) key generator throughput.
fn run_overhead(a: OverheadArgs) -> Result<(), String> {
    let spec = workload::WorkloadSpec {
        ycsb: a.ycsb,
        dist: a.dist.parse()?,
        records: a.records,
        item_size: a.item_size.parse()?,
        shift_every_secs: None,
        max_scan: 100,
    };
    let c = runner::RealConfig {
        label: a.dist.replace(':', "-"),
        spec: spec.clone(),
        threads: 1,
        duration: None,
        ops: Some(a.ops.max(1)),
        rate: None,
        window_secs: 10,
        seed: 42,
        table: "usertable".into(),
        load: false,
        billing: runner::Billing::OnDemand,
        partitioning_tag: None,
    };
    let cpu0 = process_cpu_time();
    let r = runner::run_phase(&runner::NullTarget, &c, &runner::NoProgress)?;
    let cpu_ns = process_cpu_time().saturating_sub(cpu0).as_nanos() as f64;
    let runner_ns = r.elapsed_secs * 1e9 / r.total.ops.max(1) as f64;
    println!("# machine: {}", machine());
    println!(
        "runner per-op work (YCSB {}, {}, {} B items, null client, 1 thread): {:.1} ns/op \
         wall, {:.1} ns/op CPU, over {} ops",
        a.ycsb.name(),
        a.dist,
        a.item_size,
        runner_ns,
        cpu_ns / r.total.ops.max(1) as f64,
        r.total.ops,
    );
    let mut puts = Vec::new();
    for durability in [DurabilityArg::Buffered, DurabilityArg::Sync] {
        let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
        let db = Database::open(
            tmp.path(),
            EngineOptions {
                durability: match durability {
                    DurabilityArg::Sync => Durability::Sync,
                    DurabilityArg::Buffered => Durability::Buffered {
                        interval: Duration::from_millis(10),
                    },
                },
                ..EngineOptions::default()
            },
            DatabaseOptions::default(),
        )
        .map_err(|e| e.to_string())?;
        let db = Arc::new(db);
        let target = runner::EngineTarget(Arc::clone(&db));
        let mut client = runner::Target::connect(&target)?;
        runner::ensure_table(
            client.as_mut(),
            "usertable",
            runner::Billing::OnDemand,
            None,
        )?;
        let mut gen = runner::OpGen::new(&spec, "usertable");
        let bodies: Vec<Vec<u8>> = (0..a.puts.max(1)).map(|k| gen.put_body(k)).collect();
        let mut h = Histogram::<u64>::new(3).map_err(|e| e.to_string())?;
        let t0 = Instant::now();
        for b in &bodies {
            let s = Instant::now();
            let v = db.execute("PutItem", b).map_err(|e| e.to_string())?;
            let ns = s.elapsed().as_nanos() as u64;
            drop(v);
            h.record(ns.max(1)).map_err(|e| e.to_string())?;
        }
        let mean_ns = t0.elapsed().as_nanos() as f64 / bodies.len() as f64;
        db.close().map_err(|e| e.to_string())?;
        let name = format!("{durability:?}").to_lowercase();
        println!(
            "PutItem via Database::execute ({name}, 1 thread, {} puts): mean {:.1} µs, \
             p50 {:.1} µs, p99 {:.1} µs",
            bodies.len(),
            mean_ns / 1000.0,
            h.value_at_quantile(0.5) as f64 / 1000.0,
            h.value_at_quantile(0.99) as f64 / 1000.0
        );
        puts.push((name, mean_ns, h.value_at_quantile(0.5) as f64));
    }
    for (name, mean, p50) in &puts {
        println!(
            "runner overhead vs a {name} PutItem: {:.2} % of the mean, {:.2} % of the median",
            100.0 * runner_ns / mean,
            100.0 * runner_ns / p50
        );
    }
    if a.gen_draws > 0 {
        for (d, wall, cpu) in
            study::generator_throughput_cpu(a.records.max(2), a.gen_draws, &process_cpu_time)
        {
            println!(
                "generator {d:<16} {:>8.1} M keys/s wall, {:>8.1} M keys per CPU second",
                wall / 1e6,
                cpu / 1e6
            );
        }
    }
    Ok(())
}

/// CPU time the process has used so far (all threads); zero if the clock cannot be read.
fn process_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec that outlives the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// Write amplification between two snapshots of the engine's counters.
fn write_amp(before: &hashlog::db::EngineStats, after: &hashlog::db::EngineStats) -> f64 {
    let user = after.user_bytes_written - before.user_bytes_written;
    let written = (after.flushed_bytes + after.compacted_bytes + after.wal_bytes)
        - (before.flushed_bytes + before.compacted_bytes + before.wal_bytes);
    if user == 0 {
        0.0
    } else {
        written as f64 / user as f64
    }
}

/// The engine runner: opens `hashlog::api::Database` in `--dir` (or a temporary directory),
/// runs, then closes it and measures the directory.
fn run_engine_target(
    r: &RealArgs,
    c: &runner::RealConfig,
    partitioning: hashlog::partition::PartitioningStrategy,
    progress: &dyn runner::Progress,
) -> Result<runner::RealResult, String> {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = r.dir.clone().unwrap_or_else(|| tmp.path().join("db"));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let engine = EngineOptions {
        durability: match r.durability {
            DurabilityArg::Sync => Durability::Sync,
            DurabilityArg::Buffered => Durability::Buffered {
                interval: Duration::from_millis(10),
            },
        },
        ..EngineOptions::default()
    };
    let db = Arc::new(
        Database::open(
            &dir,
            engine,
            DatabaseOptions {
                enforce_capacity: r.enforce_capacity,
                // The table setting: the table the runner creates gets it.
                default_partitioning: partitioning,
                ..DatabaseOptions::default()
            },
        )
        .map_err(|e| format!("cannot open {}: {e}", dir.display()))?,
    );
    let eng = db
        .engine()
        .cloned()
        .ok_or("Database::open gave no storage engine")?;
    if let Some(note) = eng.io_note() {
        eprintln!("note: {note}");
    }
    let at_open = eng.stats();
    // The run's counters start after the load: a progress hook marks the switch.
    let marks = StatsAtRun {
        inner: progress,
        engine: &eng,
        at_run: std::sync::Mutex::new(None),
    };
    let mut result = runner::run(&runner::EngineTarget(Arc::clone(&db)), c, &marks)?;
    let after = eng.stats();
    let at_run = marks
        .at_run
        .into_inner()
        .map_err(|_| "stats lock poisoned")?
        .unwrap_or_else(|| at_open.clone());
    let table_partitioning = db.tables().partitioning(&c.table).map(|p| p.to_string());
    let capacity_partitions = db
        .tables()
        .capacity_controllers()
        .into_iter()
        .find(|(name, _)| *name == c.table)
        .map(|(_, cap)| (cap.partition_count(), cap.stats().splits));
    db.close().map_err(|e| format!("close: {e}"))?;
    drop(eng);
    drop(db);
    result.engine = Some(runner::EngineReport {
        durability: format!("{:?}", r.durability).to_lowercase(),
        write_amplification: write_amp(&at_run, &after),
        write_amplification_total: write_amp(&at_open, &after),
        user_bytes_written: after.user_bytes_written - at_run.user_bytes_written,
        wal_syncs: after.wal_syncs - at_run.wal_syncs,
        flushes: after.flushes - at_run.flushes,
        compactions: after.compactions - at_run.compactions,
        bytes_on_disk: runner::dir_bytes(&dir)?,
        partitioning: table_partitioning,
        capacity_partitions,
    });
    Ok(result)
}

/// Passes progress on and snapshots the engine's counters when the run phase starts.
struct StatsAtRun<'a> {
    inner: &'a dyn runner::Progress,
    engine: &'a Engine,
    at_run: std::sync::Mutex<Option<hashlog::db::EngineStats>>,
}

impl runner::Progress for StatsAtRun<'_> {
    fn phase(&self, name: &str, total: Option<u64>) {
        if name == "run" {
            if let Ok(mut s) = self.at_run.lock() {
                *s = Some(self.engine.stats());
            }
        }
        self.inner.phase(name, total);
    }
    fn tick(&self, done: u64, elapsed: Duration) {
        self.inner.tick(done, elapsed);
    }
    fn finish(&self) {
        self.inner.finish();
    }
}

fn run_study(mut a: StudyArgs, m: Option<&clap::ArgMatches>) -> Result<(), String> {
    let on_command_line = |id: &str| {
        m.and_then(|m| m.value_source(id)) == Some(clap::parser::ValueSource::CommandLine)
    };
    let mut matrix = config::default_matrix(a.sim.ycsb);
    if let Some(path) = &a.config {
        let f = config::load(path)?;
        // The file's values replace the flags' defaults; flags given on the command line win.
        macro_rules! set {
            ($field:ident) => {
                if let Some(v) = f.$field.clone() {
                    if !on_command_line(stringify!($field)) {
                        a.sim.$field = v;
                    }
                }
            };
            ($field:ident, opt) => {
                if let Some(v) = f.$field {
                    if !on_command_line(stringify!($field)) {
                        a.sim.$field = Some(v);
                    }
                }
            };
        }
        set!(seed);
        set!(duration, opt);
        set!(rate, opt);
        set!(window);
        set!(records);
        set!(item_size);
        set!(partitions);
        set!(vnodes);
        set!(scale);
        set!(shift_every);
        if !f.matrix.is_empty() {
            matrix = f.matrix;
        }
    }
    if a.quick {
        a.sim.duration = Some(600);
        a.sim.shift_every = 120;
    }
    let mut configs = Vec::new();
    for c in config::expand(&matrix)? {
        let mut sa = a.sim.clone();
        sa.ycsb = c.ycsb;
        configs.push(sim_config(
            &sa, &c.label, c.dist, c.shifting, c.strategy, c.policy,
        )?);
    }
    let t = Instant::now();
    let runs = study::run_all(&configs, a.quiet)?;
    let mut params = params_json(&a.sim);
    params["quick"] = serde_json::json!(a.quick);
    if let Some(path) = &a.config {
        params["config"] = serde_json::json!(path.display().to_string());
    }
    study::write_outputs(&a.out, &params, &runs)?;
    eprintln!(
        "{} configurations in {:.1}s -> {}",
        runs.len(),
        t.elapsed().as_secs_f64(),
        a.out.display()
    );
    if !a.no_gen_bench {
        let mut csv = String::from("dist,keys_per_sec\n");
        for (d, kps) in study::generator_throughput(a.sim.records.max(2), 10_000_000) {
            eprintln!("generator {d:<16} {:>8.1} M keys/s", kps / 1e6);
            csv.push_str(&format!("{d},{kps:.0}\n"));
        }
        std::fs::write(a.out.join("generators.csv"), csv).map_err(|e| e.to_string())?;
    }
    Ok(())
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

/// `dir`, or a new temporary directory, removed when the returned guard drops.
fn dir_or_temp(dir: &Option<PathBuf>) -> Result<(PathBuf, Option<tempfile::TempDir>), String> {
    match dir {
        Some(d) => Ok((d.clone(), None)),
        None => {
            let t = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
            Ok((t.path().to_path_buf(), Some(t)))
        }
    }
}

fn run_batchget(a: BatchgetArgs) -> Result<(), String> {
    if a.items == 0 || a.keys == 0 || a.batches == 0 || a.rounds == 0 {
        return Err("--items, --keys, --batches and --rounds must be positive".into());
    }
    let (dir, _tmp) = dir_or_temp(&a.dir)?;
    let db = dir.join("batchget-db");
    let _ = std::fs::remove_dir_all(&db);
    println!(
        "# {}; {} items of {} B in {} (flushed, compacted); {} batches of {} keys per row; page cache dropped and engine reopened before each row",
        machine(),
        a.items,
        a.value_bytes,
        db.display(),
        a.batches,
        a.keys
    );
    batchget::load(&db, a.items, a.value_bytes)?;
    let rows = batchget::run(&db, a.items, a.keys, a.batches, a.rounds)?;
    println!("{}", batchget::HEADER);
    for r in &rows {
        println!("{}", r.format());
    }
    let _ = std::fs::remove_dir_all(&db);
    Ok(())
}

fn run_ioreads(a: IoreadsArgs) -> Result<(), String> {
    if a.batches.contains(&0) || a.rounds == 0 || a.reads == 0 || a.file_mib == 0 {
        return Err("--batches, --rounds, --reads and --file-mib must be positive".into());
    }
    let (dir, _tmp) = dir_or_temp(&a.dir)?;
    println!(
        "# {}; {} MiB file in {} (page cache); {} reads per backend, batch size and round; {} rounds",
        machine(),
        a.file_mib,
        dir.display(),
        a.reads,
        a.rounds
    );
    let rows = ioreads::run(&dir, a.file_mib << 20, &a.batches, a.reads, a.rounds)?;
    println!("{}", ioreads::HEADER);
    for r in &rows {
        println!("{}", r.format());
    }
    Ok(())
}

fn run_walcommit(a: WalcommitArgs) -> Result<(), String> {
    let (dir, _tmp) = dir_or_temp(&a.dir)?;
    let backends = a
        .backends
        .iter()
        .map(|b| walcommit::backend_named(b))
        .collect::<Result<Vec<_>, _>>()?;
    if !(a.secs > 0.0 && a.secs.is_finite()) {
        return Err("--secs must be positive".into());
    }
    let dur = Duration::from_secs_f64(a.secs);
    if !(a.warmup >= 0.0 && a.warmup.is_finite()) {
        return Err("--warmup must be zero or positive".into());
    }
    let warmup = Duration::from_secs_f64(a.warmup);
    println!(
        "# {}; dir {}; {} s per row after {} s of warm-up; {} B records",
        machine(),
        dir.display(),
        a.secs,
        a.warmup,
        a.record_bytes
    );
    println!("{}", walcommit::HEADER);
    let runtime_threads = a
        .runtime_threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let kinds = a
        .kinds
        .iter()
        .map(|k| match k.as_str() {
            "threads" => Ok(walcommit::Writers::Threads),
            "tasks" => Ok(walcommit::Writers::Tasks { runtime_threads }),
            other => Err(format!("unknown writer kind {other:?} (threads, tasks)")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    for _ in 0..a.rounds {
        for &w in &a.writers {
            for &kind in &kinds {
                for &release in &a.release {
                    for (name, io) in &backends {
                        let spec = walcommit::Spec {
                            writers: w,
                            kind,
                            record_bytes: a.record_bytes,
                            preallocate: a.preallocate,
                            release,
                            warmup,
                            dur,
                        };
                        let mut r = walcommit::run_wal(name, Arc::clone(io), &dir, spec)?;
                        r.disk_syncs_per_sec =
                            walcommit::disk_sync_rate(&dir, r.batch_bytes as usize, 64 << 20, dur)?;
                        println!("{}", walcommit::format_row(&r));
                    }
                }
            }
        }
    }
    Ok(())
}

fn run_writeamp(a: WriteampArgs) -> Result<(), String> {
    use hashlog::lsm::CompactionStrategy;
    let keys = a.keys.unwrap_or(if a.quick { 20_000 } else { 200_000 });
    let p = writeamp::Params {
        keys,
        overwrites: a.overwrites.unwrap_or(3 * keys),
        value_size: a.values,
        memtable_bytes: a.memtable_kib.unwrap_or(if a.quick { 1024 } else { 8192 }) * 1024,
        seed: a.seed,
    };
    let dists: Vec<(String, Distribution)> = a
        .dists
        .split(',')
        .map(|d| Ok((d.trim().to_string(), d.trim().parse::<Distribution>()?)))
        .collect::<Result<_, String>>()?;
    println!("# machine: {}", machine());
    println!(
        "# {} keys of {} B values written once, then {} overwrites; memtable {} KiB; buffered WAL, 1 partition",
        p.keys,
        p.value_size,
        p.overwrites,
        p.memtable_bytes / 1024
    );
    println!("{}", writeamp::HEADER);
    for (name, dist) in &dists {
        for strategy in [CompactionStrategy::Leveled, CompactionStrategy::Tiered] {
            let r = writeamp::run_one(strategy, name, *dist, &p)?;
            println!("{}", writeamp::format_row(&r));
        }
    }
    Ok(())
}

fn run_http(a: HttpArgs) -> Result<(), String> {
    http::ensure_table(&a.endpoint, &a.table)?;
    let ops_kinds = a
        .ops_kinds
        .split(',')
        .map(http::Op::parse)
        .collect::<Result<Vec<_>, _>>()?;
    for op in ops_kinds {
        let ops = if op == http::Op::Put {
            a.ops.max(a.keys)
        } else {
            a.ops
        };
        let client_cpu = own_cpu_split();
        let server_cpu = a.server_pid.map(server_cpu_split).transpose()?;
        let client = match a.client_threads {
            Some(k) => http::Client::Events(k),
            None => http::Client::Threads,
        };
        let r = http::run(
            &a.endpoint,
            &a.table,
            op,
            a.threads,
            client,
            ops,
            a.keys,
            a.value_size,
            a.rate,
        )?;
        let per_op = |d: Duration| format!("{:.0}", d.as_secs_f64() * 1e6 / ops as f64);
        let per_op_1 = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1e6 / ops as f64);
        let client = own_cpu_split().since(client_cpu);
        let (server_us, server_sys_us) = match (a.server_pid, server_cpu) {
            (Some(pid), Some(before)) => {
                let s = server_cpu_split(pid)?.since(before);
                (per_op(s.total()), per_op_1(s.system))
            }
            _ => (String::new(), String::new()),
        };
        println!(
            "| {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {} | {} | {} | {} |",
            a.label,
            op.name(),
            a.threads,
            r.ops_per_sec,
            r.p50_us,
            r.p99_us,
            r.p999_us,
            r.errors,
            per_op(client.total()),
            server_us,
            per_op_1(client.system),
            server_sys_us
        );
    }
    Ok(())
}

/// A process's CPU time, split as the kernel accounts it: in its own code (user) and in the
/// kernel on its behalf (system: for a server on loopback, mostly the TCP stack).
#[derive(Debug, Clone, Copy, Default)]
struct CpuSplit {
    user: Duration,
    system: Duration,
}

impl CpuSplit {
    fn total(&self) -> Duration {
        self.user + self.system
    }

    fn since(&self, before: CpuSplit) -> CpuSplit {
        CpuSplit {
            user: self.user.saturating_sub(before.user),
            system: self.system.saturating_sub(before.system),
        }
    }
}

/// This process's CPU time (every thread), from `getrusage` (microsecond resolution).
fn own_cpu_split() -> CpuSplit {
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage that outlives the call.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return CpuSplit::default();
    }
    let d = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64)
            + Duration::from_micros(t.tv_usec.clamp(0, 999_999) as u64)
    };
    CpuSplit {
        user: d(ru.ru_utime),
        system: d(ru.ru_stime),
    }
}

/// CPU time (all threads, exited ones included) process `pid` has used, from
/// `/proc/PID/stat` in clock ticks.
fn server_cpu_split(pid: u32) -> Result<CpuSplit, String> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    // Fields after the command name (which may hold blanks, and ends at the last ')'):
    // state is field 3, utime 14, stime 15.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| format!("{path}: no command name"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> Result<u64, String> {
        fields
            .get(n - 3)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| format!("{path}: field {n} unreadable"))
    };
    // SAFETY: sysconf has no memory-safety preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as f64 } else { 100.0 };
    let ticks = |n: usize| -> Result<Duration, String> {
        Ok(Duration::from_secs_f64(field(n)? as f64 / hz))
    };
    Ok(CpuSplit {
        user: ticks(14)?,
        system: ticks(15)?,
    })
}
