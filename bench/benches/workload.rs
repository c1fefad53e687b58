//! Key-generator throughput (keys/s per distribution) and the cost of one partitioner lookup.
//! Target: at least 10 M keys/s per thread for every distribution.
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hashlog::partition::{ConsistentHash, FixedHash, KeyRange, Partitioner};
use rand::rngs::SmallRng;
use rand::SeedableRng;

#[allow(dead_code, unused_imports)]
#[path = "../src/keys.rs"]
mod keys;

use keys::{Distribution, KeyGen};

const BATCH: u64 = 100_000;

fn generators(c: &mut Criterion) {
    let mut g = c.benchmark_group("keygen");
    g.throughput(Throughput::Elements(BATCH));
    for (name, d) in [
        ("uniform", Distribution::Uniform),
        ("zipfian-0.99", Distribution::Zipfian { theta: 0.99 }),
        (
            "scrambled-0.99",
            Distribution::ScrambledZipfian { theta: 0.99 },
        ),
        (
            "hotspot-0.2-0.8",
            Distribution::Hotspot {
                hot_key_fraction: 0.2,
                hot_op_fraction: 0.8,
            },
        ),
        ("latest-0.99", Distribution::Latest { theta: 0.99 }),
    ] {
        let gen = KeyGen::new(d, 100_000);
        let mut rng = SmallRng::seed_from_u64(1);
        g.bench_function(BenchmarkId::new("draw", name), |b| {
            b.iter(|| {
                let mut acc = 0u64;
                for _ in 0..BATCH {
                    acc = acc.wrapping_add(gen.next(&mut rng, 99_999));
                }
                black_box(acc)
            })
        });
    }
    g.finish();
}

fn partitioners(c: &mut Criterion) {
    let keys: Vec<Vec<u8>> = (0..10_000u64)
        .map(|i| format!("user{:012}", i * 7).into_bytes())
        .collect();
    let parts: Vec<Box<dyn Partitioner>> = vec![
        Box::new(FixedHash::new(16)),
        Box::new(ConsistentHash::new(16, 64)),
        Box::new(KeyRange::from_sample(16, keys.clone())),
    ];
    let mut g = c.benchmark_group("partition_of");
    g.throughput(Throughput::Elements(keys.len() as u64));
    for p in &parts {
        g.bench_function(p.name(), |b| {
            b.iter(|| keys.iter().map(|k| p.partition_of(k)).sum::<usize>())
        });
    }
    g.finish();
}

criterion_group!(benches, generators, partitioners);
criterion_main!(benches);
