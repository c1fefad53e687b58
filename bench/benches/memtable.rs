//! Memtable insert and point lookup.
use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hashlog::key::ValueKind;
use hashlog::memtable::Memtable;

fn keys(n: usize) -> Vec<Vec<u8>> {
    (0..n as u64)
        .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes().to_vec())
        .collect()
}

fn bench(c: &mut Criterion) {
    let value = vec![7u8; 1024];
    let mut g = c.benchmark_group("memtable");
    for n in [10_000usize, 100_000] {
        let ks = keys(n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("insert_1KiB", n), &ks, |b, ks| {
            b.iter(|| {
                let m = Memtable::new(1);
                for (i, k) in ks.iter().enumerate() {
                    m.insert(k, i as u64 + 1, ValueKind::Put, &value);
                }
                black_box(m.len())
            })
        });
        let m = Arc::new(Memtable::new(1));
        for (i, k) in ks.iter().enumerate() {
            m.insert(k, i as u64 + 1, ValueKind::Put, &value);
        }
        g.throughput(Throughput::Elements(1));
        g.bench_with_input(BenchmarkId::new("get_hit", n), &ks, |b, ks| {
            let mut i = 0usize;
            b.iter(|| {
                i = (i + 7919) % ks.len();
                black_box(m.get(&ks[i], u64::MAX >> 8))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
