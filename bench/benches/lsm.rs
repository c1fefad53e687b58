//! LSM background work through the tree's public API (`hashlog::lsm::Tree`):
//! - flush: one memtable holding a default memtable's worth of 1 KiB values (8 MiB of key +
//!   value bytes) written out as an L0 SSTable, fsyncs and the manifest edit included;
//! - compaction: `l0_trigger` (4) such tables, adjacent ones sharing half their keys, merged
//!   once by the leveled strategy (L0 → L1, output split into target-size files) and by the
//!   tiered one (four similar runs → one run).
//!
//! Throughput is key + value bytes of the input (memtable entries, or entries of the merged
//! tables). Every iteration starts from a fresh directory; only the flush or the compaction is
//! timed. The I/O backend is the engine's default (io_uring when the kernel allows it).
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use hashlog::io::{default_backend, BackendKind, IoBackend};
use hashlog::key::ValueKind;
use hashlog::lsm::manifest::{EditOp, Manifest, PartitionDesc, VersionEdit};
use hashlog::lsm::{CompactionConfig, CompactionStrategy, Tree, TreeContext, TreeOptions};
use hashlog::sstable::BlockCache;

const VALUE: usize = 1024;
const KEY: usize = 24;
/// Entries per memtable: a default-size memtable's worth of key + value bytes.
const ENTRIES: u64 = (hashlog::limits::MEMTABLE_SIZE_DEFAULT_BYTES / (KEY + VALUE)) as u64;

fn key(i: u64) -> Vec<u8> {
    let mut k = i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes().to_vec();
    k.extend_from_slice(format!("user{i:012}").as_bytes());
    debug_assert_eq!(k.len(), KEY);
    k
}

struct Fixture {
    _dir: tempfile::TempDir,
    ctx: TreeContext,
    tree: Tree,
    next_seq: u64,
}

fn fixture(io: &Arc<dyn IoBackend>, strategy: CompactionStrategy) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let sst_dir: PathBuf = dir.path().join("sst");
    io.create_dir_all(&sst_dir).expect("sst dir");
    let mut manifest = Manifest::create(Arc::clone(io), dir.path()).expect("manifest");
    manifest
        .apply(VersionEdit {
            ops: vec![
                EditOp::CreateSpace {
                    space: 1,
                    created_seq: 0,
                    partitions: vec![PartitionDesc {
                        id: 1,
                        hash_lo: 0,
                        hash_hi: u64::MAX,
                    }],
                },
                EditOp::NextIds {
                    file: 1,
                    partition: 2,
                },
            ],
        })
        .expect("create space");
    let options = TreeOptions {
        compaction: CompactionConfig {
            strategy,
            ..CompactionConfig::default()
        },
        ..TreeOptions::default()
    };
    let ctx = TreeContext {
        io: Arc::clone(io),
        sst_dir,
        cache: Arc::new(BlockCache::new(64 << 20)),
        manifest: parking_lot::Mutex::new(manifest),
        next_file_id: AtomicU64::new(1),
        next_memtable_id: AtomicU64::new(1),
        options,
        flushed_bytes: AtomicU64::new(0),
        compacted_bytes: AtomicU64::new(0),
        compactions: AtomicU64::new(0),
        flushes: AtomicU64::new(0),
    };
    let tree = Tree::new(1, 1, 0, u64::MAX, 0, vec![], &ctx);
    Fixture {
        _dir: dir,
        ctx,
        tree,
        next_seq: 1,
    }
}

/// Fills the active memtable with keys `first..first + ENTRIES` and freezes it.
fn fill_and_rotate(f: &mut Fixture, first: u64) {
    let value = vec![b'v'; VALUE];
    {
        let _gate = f.tree.write_gate();
        for i in first..first + ENTRIES {
            f.tree.insert(&key(i), f.next_seq, ValueKind::Put, &value);
            f.next_seq += 1;
        }
    }
    assert!(f.tree.maybe_rotate(0, &f.ctx), "memtable rotated");
}

fn bench(c: &mut Criterion) {
    let (io, note) = default_backend(BackendKind::Auto);
    if let Some(why) = note {
        eprintln!("lsm bench: std backend ({why})");
    }
    let mut g = c.benchmark_group("lsm");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(15));

    g.throughput(Throughput::Bytes(ENTRIES * (KEY + VALUE) as u64));
    g.bench_function(format!("flush_memtable/{}", io.name()), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut f = fixture(&io, CompactionStrategy::Leveled);
                fill_and_rotate(&mut f, 0);
                let t0 = Instant::now();
                assert!(
                    f.tree.flush_oldest(&f.ctx, u64::MAX).expect("flush"),
                    "flushed"
                );
                total += t0.elapsed();
            }
            total
        })
    });

    let trigger = CompactionConfig::default().l0_trigger.max(1) as u64;
    g.throughput(Throughput::Bytes(trigger * ENTRIES * (KEY + VALUE) as u64));
    for (name, strategy) in [
        ("leveled", CompactionStrategy::Leveled),
        ("tiered", CompactionStrategy::Tiered),
    ] {
        g.bench_function(format!("compact_{trigger}_tables/{name}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut f = fixture(&io, strategy);
                    for t in 0..trigger {
                        // Table t shares half its keys with table t - 1.
                        fill_and_rotate(&mut f, t * ENTRIES / 2);
                        assert!(
                            f.tree.flush_oldest(&f.ctx, u64::MAX).expect("flush"),
                            "flushed"
                        );
                    }
                    assert!(f.tree.compaction_due(&f.ctx.options.compaction), "due");
                    let t0 = Instant::now();
                    assert!(f.tree.compact_once(&f.ctx).expect("compact"), "compacted");
                    total += t0.elapsed();
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
