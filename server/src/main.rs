//! `hashlog serve`: a DynamoDB endpoint (JSON 1.0 over HTTP/1.1) on the hashlog engine.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use hashlog::api::{Database, DatabaseOptions};
use hashlog::db::EngineOptions;
use hashlog::wal::Durability;
use hashlog_server::sigv4::Credentials;

/// mimalloc instead of glibc's malloc: a request allocates and frees many small buffers on
/// the reactor threads, and glibc's bins and consolidation were about a sixth of a PutItem's
/// server time (docs/results/2026-12-05-async-writes.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use hashlog_server::triggers::{TriggerOptions, TriggerSpec, Triggers};
use hashlog_server::{check_listen_policy, App, Executor, ServerConfig};

#[derive(Parser)]
#[command(
    name = "hashlog",
    version,
    about = "A DynamoDB-compatible storage engine"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the DynamoDB API over HTTP.
    Serve(ServeArgs),
}

#[derive(Clone, Copy, ValueEnum, Debug, PartialEq, Eq)]
enum CapacityArg {
    /// Throttle as DynamoDB does.
    Enforce,
    /// Never throttle.
    Off,
}

#[derive(Clone, Copy, ValueEnum, Debug, PartialEq, Eq)]
enum DurabilityArg {
    /// An acknowledged write has been fdatasync'ed (group commit).
    Sync,
    /// The WAL is synced every 10 ms: a crash can lose the last 10 ms (benchmarks only).
    Buffered,
}

#[derive(Clone, Copy, ValueEnum, Debug, PartialEq, Eq)]
enum ReactorsArg {
    /// One single-threaded runtime per reactor thread; each connection stays on one.
    Pinned,
    /// One multi-thread (work-stealing) runtime over all reactor threads.
    Shared,
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Data directory (created if missing).
    #[arg(long, default_value = "./hashlog-data")]
    data_dir: PathBuf,
    /// Address to listen on (port 0 picks a free port; the bound one is printed).
    #[arg(long, default_value = "127.0.0.1:8000")]
    listen: SocketAddr,
    /// AWS shared-credentials INI file: every profile's key pair is accepted, and every
    /// request must be signed (SigV4) by one of them.
    #[arg(long)]
    credentials: Option<PathBuf>,
    /// `sync`: an acknowledged write is on disk. `buffered`: synced every 10 ms (benchmarks).
    #[arg(long, value_enum, default_value = "sync")]
    durability: DurabilityArg,
    /// Without --credentials, listen on a non-loopback address anyway.
    #[arg(long)]
    allow_unauthenticated: bool,
    /// Log level (error, warn, info, debug, trace) or filter; RUST_LOG overrides.
    #[arg(long, default_value = "info")]
    log: String,
    /// The region this endpoint stands in for: named in ARNs and in the `GET /` health
    /// answer, and, with --credentials, the region requests must be signed for.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Seconds between TTL sweeps (expired items deleted, old stream records trimmed).
    #[arg(long, default_value_t = 30.0)]
    ttl_sweep_interval: f64,
    /// Most items one TTL sweep deletes.
    #[arg(long, default_value_t = 10_000)]
    ttl_deletes_per_sweep: usize,
    /// `enforce`: throttle requests beyond each table's provisioned or on-demand capacity
    /// (ProvisionedThroughputExceededException), as DynamoDB does. `off`: never throttle (as
    /// DynamoDB Local); ConsumedCapacity is reported either way.
    #[arg(long, value_enum, default_value = "enforce")]
    capacity: CapacityArg,
    /// Target-tracking auto scaling for every provisioned table, as TARGET_PCT,MIN,MAX
    /// (e.g. 70,5,40000): scale out after 2 minutes above the target, in after 15 minutes
    /// 20 points below it, within the daily decrease quota (docs/CAPACITY.md).
    #[arg(long, value_name = "TARGET,MIN,MAX", value_parser = parse_autoscale)]
    autoscale: Option<hashlog::capacity::ScalingPolicy>,
    /// How new tables' capacity partitions are laid out unless their CreateTable carries the
    /// tag `hashlog:partitioning`: hash-split (hash ranges that split for heat, DynamoDB's
    /// way), fixed-hash:N, consistent-hash:N[:VNODES] or key-range[:N] (docs/CAPACITY.md).
    /// Stored with each table when it is created.
    #[arg(long, value_name = "STRATEGY", default_value = "hash-split")]
    partitioning: hashlog::partition::PartitioningStrategy,
    /// Attach a consumer to a table's stream: TABLE=http://host:port/path (POST each batch)
    /// or TABLE=exec:COMMAND (batch on stdin); repeatable. Checkpoints and dead letters go to
    /// DATA_DIR/triggers/.
    #[arg(long = "trigger", value_name = "TABLE=TARGET")]
    triggers: Vec<TriggerSpec>,
    /// Most records per trigger batch.
    #[arg(long, default_value_t = 100)]
    trigger_batch_size: usize,
    /// Delivery attempts per batch before it goes to the dead-letter file.
    #[arg(long, default_value_t = 5)]
    trigger_max_attempts: u32,
    /// Request-body MiB being read or executed at once; further requests wait (with the
    /// 16 MiB request cap, this bounds the memory an overload can take).
    #[arg(long, default_value_t = 256)]
    max_in_flight_mib: usize,
    /// Reactor (tokio worker) threads. Small reads run on them (docs/ARCHITECTURE.md, "The
    /// HTTP front's threads"); writes and long reads run on a separate blocking pool.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=256))]
    reactor_threads: u16,
    /// How connections meet the reactor threads: `pinned`, each connection served by one
    /// thread's own runtime (no cross-thread wake-ups, the least CPU per request), or
    /// `shared`, one work-stealing runtime (a busy connection's neighbours move to the other
    /// thread; a read that must wait for the device does not hold up its thread's other
    /// connections).
    #[arg(long, value_enum, default_value = "pinned")]
    reactors: ReactorsArg,
    /// Run every operation on the blocking pool, small reads included. By default small reads
    /// (GetItem, catalog reads, Query) run on the reactor threads: half the
    /// CPU per read, but a read the OS preempts delays the other connections of its thread
    /// (docs/ARCHITECTURE.md, "The HTTP front's threads").
    #[arg(long)]
    offload_reads: bool,
    /// Small reads on the reactor threads: the default (kept so older command lines work).
    #[arg(long, hide = true, conflicts_with = "offload_reads")]
    inline_reads: bool,
    /// Run PutItem, UpdateItem and DeleteItem on the blocking pool, each thread waiting for
    /// its group commit. By default they run on the reactor threads up to the log append and
    /// await the commit there (no thread handoff, no blocked thread per write); one that would
    /// wait (its item locked by another write, writes stalled) still goes to the pool.
    #[arg(long)]
    offload_writes: bool,
}

/// Opens the storage engine in `args.data_dir` and returns it as the server's executor.
///
/// ENGINE WIRING: this is the one place that knows the engine's API; the rest of the server
/// sees only [`Executor`] (implemented for `hashlog::api::Database` in `executor.rs`).
fn open_backend(args: &ServeArgs) -> Result<Arc<dyn Executor>, String> {
    std::fs::create_dir_all(&args.data_dir)
        .map_err(|e| format!("cannot create {}: {e}", args.data_dir.display()))?;
    let engine = EngineOptions {
        durability: match args.durability {
            DurabilityArg::Sync => Durability::Sync,
            DurabilityArg::Buffered => Durability::Buffered {
                interval: Duration::from_millis(10),
            },
        },
        ..EngineOptions::default()
    };
    let db = Database::open(
        &args.data_dir,
        engine,
        DatabaseOptions {
            region: args.region.clone(),
            account_id: "000000000000".into(),
            ttl_sweep_interval: Some(std::time::Duration::from_secs_f64(
                args.ttl_sweep_interval.clamp(0.01, 86_400.0),
            )),
            ttl_deletes_per_sweep: args.ttl_deletes_per_sweep,
            enforce_capacity: args.capacity == CapacityArg::Enforce,
            capacity_clock: None,
            autoscale: args.autoscale,
            default_partitioning: args.partitioning,
            ..DatabaseOptions::default()
        },
    )
    .map_err(|e| format!("cannot open {}: {e}", args.data_dir.display()))?;
    if let Some(note) = db.engine().and_then(|e| e.io_note()) {
        tracing::warn!("io_uring unavailable, using std I/O: {note}");
    }
    Ok(Arc::new(db))
}

fn parse_autoscale(s: &str) -> Result<hashlog::capacity::ScalingPolicy, String> {
    let parts: Vec<u64> = s
        .split(',')
        .map(|p| {
            p.trim()
                .parse::<u64>()
                .map_err(|_| format!("{p:?} is not a number"))
        })
        .collect::<Result<_, _>>()?;
    let [target, min, max] = parts.as_slice() else {
        return Err("expected TARGET_PCT,MIN,MAX".into());
    };
    hashlog::capacity::ScalingPolicy::new(*target, *min, *max).map_err(|e| e.to_string())
}

/// Turns transparent huge pages off for this process. mimalloc hands memory back to the OS
/// and takes fresh pages again as memtables and request buffers come and go; with THP on,
/// each fresh touch of such a region zeroed a whole 2 MiB page (`clear_page_erms`, about 6 %
/// of the server's samples in a put phase). Without: 1.05–1.25× the buffered PutItems at
/// 32 connections and a lower p99.9, GetItem unchanged (docs/results/2026-12-06-commit-apply.md).
fn disable_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with integer arguments only; it changes a flag of this process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

fn main() {
    disable_transparent_huge_pages();
    let Cmd::Serve(args) = Cli::parse().cmd;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&args.log))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = serve(args) {
        eprintln!("hashlog: {e}");
        std::process::exit(1);
    }
}

fn serve(args: ServeArgs) -> Result<(), String> {
    check_listen_policy(
        args.listen,
        args.credentials.is_some(),
        args.allow_unauthenticated,
    )?;
    let credentials = match &args.credentials {
        Some(p) => Some(
            Credentials::load(p)
                .map_err(|e| e.to_string())?
                .in_region(&args.region),
        ),
        None => None,
    };
    if let Some(c) = &credentials {
        tracing::info!(identities = c.len(), "SigV4 verification on");
    }
    // Two cores: two reactor threads; engine calls block on their own threads (a write waits
    // for its group commit, so many may wait at once).
    let reactors = Reactors::start(args.reactors, usize::from(args.reactor_threads))?;
    let runtime = &reactors.main;
    let backend = open_backend(&args)?;
    let config = ServerConfig {
        credentials,
        region: args.region.clone(),
        static_gauges: vec![(
            "durability_buffered".into(),
            if args.durability == DurabilityArg::Buffered {
                1.0
            } else {
                0.0
            },
        )],
        request_bytes_in_flight_max: args.max_in_flight_mib.max(1) * 1024 * 1024,
        inline_reads: args.inline_reads || !args.offload_reads,
        inline_writes: !args.offload_writes,
        ..ServerConfig::default()
    };
    let triggers = Triggers::start(
        Arc::clone(&backend),
        args.triggers.clone(),
        TriggerOptions {
            batch_size: args.trigger_batch_size.clamp(1, 1000),
            max_attempts: args.trigger_max_attempts.max(1),
            dir: hashlog_server::triggers::default_dir(&args.data_dir),
            idle_poll: Duration::from_millis(100),
        },
    )?;
    let app = App::new(backend, config);
    let served = runtime.block_on(async {
        // Signal handlers first: a SIGTERM right after the address is printed must be graceful.
        let stop = hashlog_server::shutdown_signal().map_err(|e| e.to_string())?;
        let listener = hashlog_server::bind(args.listen)
            .await
            .map_err(|e| e.to_string())?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        println!(
            "hashlog serving DynamoDB on http://{local} (data: {}, durability: {})",
            args.data_dir.display(),
            match args.durability {
                DurabilityArg::Sync => "sync",
                DurabilityArg::Buffered => "buffered (benchmarks only: a crash can lose 10 ms)",
            }
        );
        hashlog_server::serve_on(listener, app, stop, reactors.handles.clone())
            .await
            .map_err(|e| e.to_string())
    });
    reactors.stop();
    triggers.stop();
    served
}

/// The runtimes connections are served on. `Shared`: one multi-thread runtime (`main`).
/// `Pinned`: one current-thread runtime per reactor thread, each driven by its own thread until
/// [`Reactors::stop`]; `main`, driven by the main thread, only accepts, handles signals and
/// shuts down, so a request that holds up a reactor never holds up those.
struct Reactors {
    main: tokio::runtime::Runtime,
    /// The runtimes connections are pinned to (empty when shared).
    handles: Vec<tokio::runtime::Handle>,
    stop: Option<tokio::sync::watch::Sender<bool>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Reactors {
    fn start(kind: ReactorsArg, threads: usize) -> Result<Reactors, String> {
        let failed = |e: std::io::Error| format!("cannot start the runtime: {e}");
        if kind == ReactorsArg::Shared {
            let main = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .max_blocking_threads(512)
                .thread_name("hashlog-http")
                .enable_all()
                .build()
                .map_err(failed)?;
            return Ok(Reactors {
                main,
                handles: Vec::new(),
                stop: None,
                threads: Vec::new(),
            });
        }
        let one = || {
            tokio::runtime::Builder::new_current_thread()
                .max_blocking_threads(512)
                .thread_name("hashlog-http")
                .enable_all()
                .build()
                .map_err(failed)
        };
        let main = one()?;
        let mut handles = Vec::new();
        let (tx, rx) = tokio::sync::watch::channel(false);
        let mut joins = Vec::new();
        for i in 0..threads.max(1) {
            let rt = one()?;
            handles.push(rt.handle().clone());
            let mut rx = rx.clone();
            let t = std::thread::Builder::new()
                .name(format!("hashlog-reactor-{i}"))
                .spawn(move || {
                    // Drives the runtime (its connections' tasks) until the server stops.
                    rt.block_on(async move {
                        let _ = rx.wait_for(|s| *s).await.map(|_| ());
                    });
                    // The server drained its connections before stopping the reactors: what
                    // is left is a request past the drain timeout, not worth waiting on.
                    rt.shutdown_timeout(SHUTDOWN_GRACE);
                })
                .map_err(|e| format!("cannot start a reactor thread: {e}"))?;
            joins.push(t);
        }
        Ok(Reactors {
            main,
            handles,
            stop: Some(tx),
            threads: joins,
        })
    }

    /// Stops and joins the reactor threads (after the server drained its connections).
    fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(true);
        }
        for t in self.threads.drain(..) {
            if t.join().is_err() {
                tracing::error!("a reactor thread panicked");
            }
        }
        self.main.shutdown_timeout(SHUTDOWN_GRACE);
    }
}

/// How long a stopping runtime waits for blocking work still running after the drain.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
