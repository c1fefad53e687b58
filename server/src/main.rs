//! `hashlog serve`: a DynamoDB endpoint (JSON 1.0 over HTTP/1.1) on the hashlog engine.

mod http;
mod metrics;
mod sigv4;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use hashlog::api::{Database, DatabaseOptions};
use hashlog::db::EngineOptions;
use hashlog::wal::Durability;

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

#[derive(Clone, Copy, ValueEnum, Debug, PartialEq)]
enum DurabilityArg {
    /// An acknowledged write has been fdatasync'ed (group commit).
    Sync,
    /// The WAL is synced every 10 ms: a crash can lose the last 10 ms (benchmarks only).
    Buffered,
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Data directory (created if missing).
    #[arg(long, default_value = "./hashlog-data")]
    data_dir: PathBuf,
    /// Address to listen on (port 0 picks a free port; the chosen one is printed).
    #[arg(long, default_value = "127.0.0.1:8000")]
    listen: SocketAddr,
    /// AWS shared-credentials INI file; turns on SigV4 verification.
    #[arg(long)]
    credentials: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "sync")]
    durability: DurabilityArg,
    /// Listen on a non-loopback address without --credentials.
    #[arg(long)]
    allow_unauthenticated: bool,
    /// Log level (error, warn, info, debug, trace); RUST_LOG overrides.
    #[arg(long, default_value = "info")]
    log: String,
    /// Region named in ARNs.
    #[arg(long, default_value = "us-east-1")]
    region: String,
}

fn main() {
    let cli = Cli::parse();
    let Cmd::Serve(args) = cli.cmd;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&args.log));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = serve(args) {
        eprintln!("hashlog: {e}");
        std::process::exit(1);
    }
}

fn serve(args: ServeArgs) -> Result<(), String> {
    if args.credentials.is_none() && !args.listen.ip().is_loopback() && !args.allow_unauthenticated
    {
        return Err(format!(
            "refusing to listen on {} without --credentials: anyone could read and write your data. \
             Pass --credentials FILE, or --allow-unauthenticated to do it anyway",
            args.listen
        ));
    }
    let creds = match &args.credentials {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            let c = sigv4::Credentials::parse_ini(&text);
            if c.keys.is_empty() {
                return Err(format!(
                    "{} has no aws_access_key_id/aws_secret_access_key pair",
                    p.display()
                ));
            }
            Some(c)
        }
        None => None,
    };
    let eo = EngineOptions {
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
        eo,
        DatabaseOptions {
            region: args.region.clone(),
            account_id: "000000000000".into(),
        },
    )
    .map_err(|e| format!("cannot open {}: {e}", args.data_dir.display()))?;
    if let Some(e) = db.engine() {
        if let Some(note) = e.io_note() {
            tracing::warn!("io_uring unavailable, using std I/O: {note}");
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(256)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let state = Arc::new(http::State::new(
        db,
        creds,
        args.durability == DurabilityArg::Buffered,
    ));
    runtime.block_on(http::run(state, args.listen, args.data_dir.clone()))
}
