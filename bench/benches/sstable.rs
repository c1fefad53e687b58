//! SSTable point lookups (cached block hit, miss with and without bloom) and range scans, over
//! the mmap and I/O-layer read paths.
use std::hint::black_box;
use std::ops::Bound;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hashlog::io::std_backend::StdBackend;
use hashlog::io::{IoBackend, OpenOptions};
use hashlog::key::ValueKind;
use hashlog::sstable::{BlockCache, ReadMode, SstOptions, SstReader, SstWriter};

const N: u64 = 50_000;

fn key(i: u64) -> Vec<u8> {
    format!("user{:012}", i * 2).into_bytes()
}

fn build(dir: &std::path::Path, bloom_bits: usize) -> std::path::PathBuf {
    let path = dir.join(format!("b{bloom_bits}.sst"));
    let io = StdBackend::new();
    let f = io.open(&path, OpenOptions::create_new()).expect("create");
    let opts = SstOptions {
        bloom_bits_per_key: bloom_bits,
        ..SstOptions::default()
    };
    let mut w = SstWriter::new(f, 1, opts);
    let v = vec![b'v'; 1024];
    for i in 0..N {
        w.add(&key(i), 1, ValueKind::Put, &v).expect("add");
    }
    w.finish().expect("finish");
    path
}

fn open(path: &std::path::Path, mode: ReadMode, cache_bytes: usize) -> Arc<SstReader> {
    let f = StdBackend::new()
        .open(path, OpenOptions::read_only())
        .expect("open");
    SstReader::open(f, 1, Arc::new(BlockCache::new(cache_bytes)), mode).expect("reader")
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let with_bloom = build(dir.path(), 10);
    let no_bloom = build(dir.path(), 1);
    let mut g = c.benchmark_group("sstable");
    g.throughput(Throughput::Elements(1));
    for (name, mode) in [("mmap", ReadMode::Mmap), ("io", ReadMode::Io)] {
        let r = open(&with_bloom, mode, 256 << 20);
        // Warm the cache: every block decoded once.
        for i in 0..N {
            let _ = r.get(&key(i), u64::MAX >> 8);
        }
        g.bench_function(format!("get_hit_cached_block/{name}"), |b| {
            let mut i = 0u64;
            b.iter(|| {
                i = (i + 7919) % N;
                black_box(r.get(&key(i), u64::MAX >> 8).expect("get"))
            })
        });
        let cold = open(&with_bloom, mode, 0);
        g.bench_function(format!("get_hit_uncached/{name}"), |b| {
            let mut i = 0u64;
            b.iter(|| {
                i = (i + 7919) % N;
                black_box(cold.get(&key(i), u64::MAX >> 8).expect("get"))
            })
        });
    }
    let bloom = open(&with_bloom, ReadMode::Mmap, 256 << 20);
    let weak = open(&no_bloom, ReadMode::Mmap, 256 << 20);
    for (name, r) in [("bloom10", &bloom), ("bloom1", &weak)] {
        g.bench_function(format!("get_miss/{name}"), |b| {
            let mut i = 0u64;
            b.iter(|| {
                i = (i + 7919) % N;
                // Odd numbers are absent but fall inside the table's key range.
                let k = format!("user{:012}", i * 2 + 1).into_bytes();
                black_box(r.get(&k, u64::MAX >> 8).expect("get"))
            })
        });
    }
    g.throughput(Throughput::Elements(1000));
    g.bench_function("scan_1000", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i = (i + 7919) % (N - 1000);
            let n = bloom
                .iter(Bound::Included(key(i)), Bound::Unbounded)
                .take(1000)
                .count();
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
