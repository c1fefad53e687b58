//! Capacity hot path: `admit` + `charge` on a table controller with the real clock, single
//! threaded and with two threads contending (on different partitions, and on one partition),
//! plus the throttled path. Target: under 100 ns per admitted request.
use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hashlog::capacity::{CapacityConfig, CapacityMode, Op, SystemClock, TableCapacity};

/// A table of 1,000 partitions that never throttles the benchmark's load, so the cases measure
/// the admitted path (with the default maxima a 1,000-partition table serves at most 3 M RCU,
/// and one thread asks more: over half of its requests were throttled). The partition maxima
/// are raised to 50 M units/s and the table provisioned at 40 G units/s; the 1,000 partitions
/// come from the size (1,000 × the partition size limit), so each has a 40 M units/s allowance.
/// `check_unthrottled` verifies the premise after the run.
fn big_table() -> Arc<TableCapacity> {
    big_table_with(CapacityConfig::default())
}

fn big_table_with(cfg: CapacityConfig) -> Arc<TableCapacity> {
    let cfg = CapacityConfig {
        partition_read_max: 50_000_000,
        partition_write_max: 50_000_000,
        ..cfg
    };
    let size = 1_000 * cfg.partition_size_max_bytes;
    let t = Arc::new(TableCapacity::new(
        CapacityMode::provisioned(40_000_000_000, 40_000_000_000),
        size,
        cfg,
        Arc::new(SystemClock::new()),
    ));
    assert_eq!(t.partition_count(), 1_000);
    t
}

/// Panics if `t` throttled anything: its cases would then have measured the throttled path.
fn check_unthrottled(name: &str, t: &TableCapacity) {
    let s = t.stats();
    let throttled = s.read.throttled_requests + s.write.throttled_requests;
    assert_eq!(throttled, 0, "{name}: {throttled} requests throttled");
}

fn hashes(n: usize, seed: u64) -> Vec<u64> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        })
        .collect()
}

fn admit_charge(t: &TableCapacity, op: Op, h: u64) {
    if let Ok(ticket) = t.admit(op, h) {
        t.charge(ticket, 1.0);
    }
}

/// Runs `iters` admit+charge on each of two threads; returns the wall time (so the reported
/// time is per operation per thread, with both threads running).
fn two_threads(t: &Arc<TableCapacity>, iters: u64, same_partition: bool) -> Duration {
    let barrier = Arc::new(Barrier::new(3));
    let hs: Vec<_> = (0..2u64)
        .map(|k| {
            let t = Arc::clone(t);
            let b = Arc::clone(&barrier);
            let keys = if same_partition {
                vec![42u64; 1]
            } else {
                hashes(4096, 0x5eed + k)
            };
            std::thread::spawn(move || {
                b.wait();
                for i in 0..iters as usize {
                    let op = if i & 3 == 0 { Op::Write } else { Op::Read };
                    admit_charge(&t, op, keys[i % keys.len()]);
                }
                b.wait();
            })
        })
        .collect();
    barrier.wait();
    let t0 = Instant::now();
    barrier.wait();
    let d = t0.elapsed();
    for h in hs {
        h.join().expect("join");
    }
    d
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("capacity_admit_charge");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(3));

    let t = big_table();
    let keys = hashes(4096, 0xfeed);
    let mut i = 0usize;
    g.bench_function("single_thread", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let op = if i & 3 == 0 { Op::Write } else { Op::Read };
            admit_charge(&t, op, black_box(keys[i % keys.len()]));
        })
    });

    // A small table (4 partitions, all in cache): the cost of the code, not of cache misses.
    let small = Arc::new(TableCapacity::new(
        CapacityMode::provisioned(12_000, 4_000),
        0,
        CapacityConfig::default(),
        Arc::new(SystemClock::new()),
    ));
    g.bench_function("single_thread_4_partitions", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            if let Ok(ticket) = small.admit(Op::Read, black_box(keys[i % keys.len()])) {
                small.charge(ticket, 0.0);
            }
        })
    });

    // Admission alone (no charge) and the throttled path: a 1-unit table in debt.
    g.bench_function("admit_only", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(t.admit(Op::Read, keys[i % keys.len()]).ok())
        })
    });
    let tiny = TableCapacity::new(
        CapacityMode::provisioned(1, 1),
        0,
        CapacityConfig::default(),
        Arc::new(SystemClock::new()),
    );
    if let Ok(tk) = tiny.admit(Op::Read, 1) {
        tiny.charge(tk, 1_000_000.0);
    }
    g.bench_function("throttled", |b| {
        b.iter(|| black_box(tiny.admit(Op::Read, black_box(7)).is_err()))
    });

    g.bench_function("two_threads_spread", |b| {
        b.iter_custom(|iters| two_threads(&t, iters, false))
    });
    g.bench_function("two_threads_one_partition", |b| {
        b.iter_custom(|iters| two_threads(&t, iters, true))
    });
    // The same with every debit written to the table bucket at once (no per-thread batching):
    // the shared line the batching exists to avoid.
    let unbatched = big_table_with(CapacityConfig {
        batched_table_debits: false,
        ..CapacityConfig::default()
    });
    g.bench_function("two_threads_spread_unbatched", |b| {
        b.iter_custom(|iters| two_threads(&unbatched, iters, false))
    });
    g.bench_function("single_thread_unbatched", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let op = if i & 3 == 0 { Op::Write } else { Op::Read };
            admit_charge(&unbatched, op, black_box(keys[i % keys.len()]));
        })
    });
    g.finish();
    check_unthrottled("big table", &t);
    check_unthrottled("unbatched table", &unbatched);
    check_unthrottled("4-partition table", &small);
}

criterion_group!(benches, bench);
criterion_main!(benches);
