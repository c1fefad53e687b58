//! WAL group commit: throughput of durable (fdatasync'ed) 1 KiB appends with 1, 4, 16 and 64
//! concurrent writers, on the io_uring and std backends in the same run.
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hashlog::io::{default_backend, BackendKind, IoBackend};
use hashlog::wal::{Durability, Wal, WalOptions};

fn run(io: Arc<dyn IoBackend>, writers: usize, per_writer: u64) -> Duration {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = WalOptions {
        durability: Durability::Sync,
        ..WalOptions::default()
    };
    let wal = Arc::new(Wal::open(io, dir.path(), opts, &mut |_, _| Ok(())).expect("open"));
    let payload = vec![0xabu8; 1024];
    let t0 = Instant::now();
    let hs: Vec<_> = (0..writers)
        .map(|_| {
            let wal = Arc::clone(&wal);
            let p = payload.clone();
            std::thread::spawn(move || {
                for _ in 0..per_writer {
                    wal.append(&p).expect("append");
                }
            })
        })
        .collect();
    for h in hs {
        h.join().expect("join");
    }
    t0.elapsed()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("wal_group_commit_1KiB");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(4));
    for (name, kind) in [("io_uring", BackendKind::Uring), ("std", BackendKind::Std)] {
        let (io, note) = default_backend(kind);
        if let Some(n) = note {
            eprintln!("{name}: {n}");
        }
        for writers in [1usize, 4, 16, 64] {
            let per_writer = (2000 / writers as u64).max(20);
            g.throughput(Throughput::Elements(per_writer * writers as u64));
            g.bench_with_input(BenchmarkId::new(name, writers), &writers, |b, &w| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| run(Arc::clone(&io), w, per_writer))
                        .sum()
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
