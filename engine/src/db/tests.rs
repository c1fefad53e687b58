use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::Ordering::SeqCst;

use proptest::prelude::*;

use super::*;
use crate::kv::MemKv;
use crate::lsm::{CompactionConfig, CompactionStrategy};

/// Every durability, the buffered one with a short interval.
fn both_durabilities() -> [Durability; 2] {
    [
        Durability::Sync,
        Durability::Buffered {
            interval: Duration::from_millis(5),
        },
    ]
}

fn small_options(strategy: CompactionStrategy) -> EngineOptions {
    let mut o = EngineOptions {
        backend: BackendKind::Std,
        ..EngineOptions::default()
    };
    o.tree.memtable_bytes = 16 * 1024;
    o.tree.sst.block_size_bytes = 512;
    o.tree.compaction = CompactionConfig {
        strategy,
        l0_trigger: 2,
        level_base_bytes: 32 * 1024,
        target_file_bytes: 16 * 1024,
        ..CompactionConfig::default()
    };
    o.block_cache_bytes = 256 * 1024;
    o.wal_segment_bytes = 64 * 1024;
    o.background_threads = 1;
    o
}

fn key(space_hash: u64, k: u32) -> Vec<u8> {
    let mut v = space_hash.wrapping_mul(k as u64 + 1).to_be_bytes().to_vec();
    v.extend_from_slice(&k.to_be_bytes());
    v
}

fn put(space: SpaceId, k: Vec<u8>, v: &[u8]) -> KvWrite {
    KvWrite {
        space,
        key: k,
        value: Some(v.to_vec()),
    }
}

fn scan_all(kv: &dyn Kv, space: SpaceId, reverse: bool) -> Vec<(Vec<u8>, Vec<u8>)> {
    kv.scan(space, Bound::Unbounded, Bound::Unbounded, reverse)
        .expect("scan")
        .collect::<Result<Vec<_>>>()
        .expect("iter")
}

#[test]
fn writes_survive_reopen_through_flushes_and_compactions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = small_options(CompactionStrategy::Leveled);
    let mut model = BTreeMap::new();
    {
        let e = Engine::open(dir.path(), opts.clone()).expect("open");
        e.create_space(7, 4).expect("create");
        for round in 0..20u32 {
            let mut batch = Vec::new();
            for k in 0..50u32 {
                let kk = key(0x9e37_79b9_7f4a_7c15, k + (round % 3) * 17);
                let v = format!("r{round}k{k}").repeat(10).into_bytes();
                model.insert(kk.clone(), v.clone());
                batch.push(put(7, kk, &v));
            }
            e.write(batch).expect("write");
        }
        let victim = key(0x9e37_79b9_7f4a_7c15, 3);
        e.write(vec![KvWrite {
            space: 7,
            key: victim.clone(),
            value: None,
        }])
        .expect("delete");
        model.remove(&victim);
        e.flush_all().expect("flush");
        e.compact_all().expect("compact");
        let s = e.stats();
        assert!(s.flushes > 0, "small memtables flushed: {s:?}");
        assert_eq!(
            scan_all(&e, 7, false),
            model.clone().into_iter().collect::<Vec<_>>()
        );
        e.close().expect("close");
    }
    let e = Engine::open(dir.path(), opts).expect("reopen");
    let got = scan_all(&e, 7, false);
    assert_eq!(got, model.clone().into_iter().collect::<Vec<_>>());
    let mut rev = scan_all(&e, 7, true);
    rev.reverse();
    assert_eq!(rev, got);
    for (k, v) in &model {
        assert_eq!(e.get(7, k).expect("get").as_ref(), Some(v));
    }
}

#[test]
fn unflushed_writes_replay_from_the_wal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = small_options(CompactionStrategy::Leveled);
    opts.tree.memtable_bytes = 1 << 30;
    {
        let e = Engine::open(dir.path(), opts.clone()).expect("open");
        e.create_space(1, 2).expect("create");
        e.write(vec![put(1, key(1, 1), b"one"), put(1, key(1, 2), b"two")])
            .expect("write");
        e.write(vec![KvWrite {
            space: 1,
            key: key(1, 2),
            value: None,
        }])
        .expect("write");
        // Dropped without close: nothing flushed, everything must come back from the WAL.
        std::mem::forget(e);
    }
    let e = Engine::open(dir.path(), opts).expect("reopen");
    assert_eq!(e.get(1, &key(1, 1)).expect("get"), Some(b"one".to_vec()));
    assert_eq!(e.get(1, &key(1, 2)).expect("get"), None);
}

/// Buffered durability: a flush makes data durable in SSTables while the WAL tail that
/// numbered it is still unsynced. A crash then cuts the log below sequence numbers the
/// SSTables use; recovery must number new writes past them, or the flushed data hides behind
/// the read snapshot and new writes sort under it.
#[test]
fn flushed_data_outlives_a_lost_wal_tail_and_new_writes_number_past_it() {
    use crate::io::faulty::{FaultConfig, FaultyBackend};
    let dir = tempfile::tempdir().expect("tempdir");
    let open = |seed: u64| {
        let io = Arc::new(FaultyBackend::new(
            Arc::new(crate::io::std_backend::StdBackend::new()),
            FaultConfig::default(),
            seed,
        ));
        let mut opts = small_options(CompactionStrategy::Leveled);
        opts.io_override = Some(io.clone());
        opts.durability = crate::wal::Durability::Buffered {
            interval: Duration::from_secs(3600),
        };
        (Engine::open(dir.path(), opts).expect("open"), io)
    };
    let (e, io) = open(1);
    e.create_space(3, 2).expect("create");
    e.write(vec![put(3, key(3, 1), b"flushed")]).expect("write");
    e.flush_all().expect("flush");
    io.simulate_crash().expect("crash");
    drop(e);

    let (e, io) = open(2);
    assert_eq!(
        e.get(3, &key(3, 1)).expect("get"),
        Some(b"flushed".to_vec())
    );
    // A new version of the same key must win over the flushed one, now and after a crash.
    e.write(vec![put(3, key(3, 1), b"newer")]).expect("write");
    assert_eq!(e.get(3, &key(3, 1)).expect("get"), Some(b"newer".to_vec()));
    e.flush_all().expect("flush");
    io.simulate_crash().expect("crash");
    drop(e);

    let (e, _io) = open(3);
    assert_eq!(e.get(3, &key(3, 1)).expect("get"), Some(b"newer".to_vec()));
}

#[test]
fn non_database_directory_is_refused_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("notes.txt"), b"mine").expect("write");
    let err =
        Engine::open(dir.path(), small_options(CompactionStrategy::Leveled)).expect_err("refused");
    assert!(matches!(err, StorageError::NotADatabase(..)), "{err}");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .map(|e| e.expect("e").file_name())
        .collect();
    assert_eq!(names.len(), 1);
}

#[test]
fn newer_format_version_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(Engine::open(dir.path(), small_options(CompactionStrategy::Leveled)).expect("open"));
    let mut b = Vec::new();
    b.extend_from_slice(IDENTITY_MAGIC);
    put_u32(&mut b, DB_FORMAT_VERSION + 1);
    put_u32(&mut b, 0);
    let ck = xxhash_rust::xxh3::xxh3_64(&b);
    put_u64(&mut b, ck);
    std::fs::write(dir.path().join(IDENTITY_FILE), &b).expect("write");
    let err =
        Engine::open(dir.path(), small_options(CompactionStrategy::Leveled)).expect_err("refused");
    assert!(
        matches!(err, StorageError::UnsupportedVersion { .. }),
        "{err}"
    );
}

#[test]
fn oversize_keys_and_values_are_typed_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = Engine::open(dir.path(), small_options(CompactionStrategy::Leveled)).expect("open");
    e.create_space(1, 1).expect("create");
    let big_key = vec![1u8; limits::USER_KEY_SIZE_MAX_BYTES + 1];
    assert!(matches!(
        e.write(vec![put(1, big_key, b"v")]),
        Err(StorageError::KeyTooLarge { .. })
    ));
    let big_val = vec![1u8; limits::VALUE_SIZE_MAX_BYTES + 1];
    assert!(matches!(
        e.write(vec![put(1, key(1, 1), &big_val)]),
        Err(StorageError::ValueTooLarge { .. })
    ));
    assert!(matches!(
        e.write(vec![put(99, key(1, 1), b"v")]),
        Err(StorageError::NoSuchSpace(99))
    ));
}

#[test]
fn dropped_space_stays_dropped_after_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = small_options(CompactionStrategy::Tiered);
    {
        let e = Engine::open(dir.path(), opts.clone()).expect("open");
        e.create_space(3, 2).expect("create");
        e.write(vec![put(3, key(3, 1), b"x")]).expect("write");
        e.drop_space(3).expect("drop");
        assert!(!e.has_space(3));
        std::mem::forget(e);
    }
    let e = Engine::open(dir.path(), opts).expect("reopen");
    assert!(!e.has_space(3));
    e.create_space(4, 1).expect("create");
    assert_eq!(scan_all(&e, 4, false), vec![]);
}

#[test]
fn concurrent_writers_all_land() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = Arc::new(
        Engine::open(dir.path(), small_options(CompactionStrategy::Leveled)).expect("open"),
    );
    e.create_space(1, 3).expect("create");
    let threads: Vec<_> = (0..4u32)
        .map(|t| {
            let e = Arc::clone(&e);
            std::thread::spawn(move || {
                for i in 0..200u32 {
                    e.write(vec![put(1, key(7, t * 1000 + i), &[t as u8; 100])])
                        .expect("write");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("join");
    }
    assert_eq!(scan_all(e.as_ref(), 1, false).len(), 800);
    let s = e.stats();
    assert!(s.wal_records >= 800);
}

#[derive(Debug, Clone)]
enum Op {
    Put(u8, u8),
    Delete(u8),
    Batch(Vec<(u8, Option<u8>)>),
    Flush,
    Compact,
    Reopen,
    Scan(bool),
    /// Prefetch these keys, then get each: the answers are the model's.
    PrefetchGet(Vec<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any::<u8>(), any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
        2 => any::<u8>().prop_map(Op::Delete),
        2 => prop::collection::vec((any::<u8>(), prop::option::of(any::<u8>())), 1..8).prop_map(Op::Batch),
        1 => Just(Op::Flush),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
        1 => any::<bool>().prop_map(Op::Scan),
        1 => prop::collection::vec(any::<u8>(), 1..12).prop_map(Op::PrefetchGet),
    ]
}

fn pkey(k: u8) -> Vec<u8> {
    // Spread keys over the hash space so several partitions are used.
    let mut v = (k as u64)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .to_be_bytes()
        .to_vec();
    v.push(k);
    v
}

fn pval(k: u8, v: u8) -> Vec<u8> {
    vec![v; 40 + (k as usize % 7) * 30]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]
    #[test]
    fn engine_matches_model(ops in prop::collection::vec(op(), 1..120), leveled in any::<bool>()) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut opts = small_options(if leveled { CompactionStrategy::Leveled } else { CompactionStrategy::Tiered });
        opts.tree.memtable_bytes = 2048;
        let mut engine = Engine::open(dir.path(), opts.clone()).expect("open");
        engine.create_space(5, 3).expect("create");
        let model = MemKv::new();
        model.create_space(5, 3).expect("create");
        for op in ops {
            match op {
                Op::Put(k, v) => {
                    let w = vec![put(5, pkey(k), &pval(k, v))];
                    engine.write(w.clone()).expect("write");
                    model.write(w).expect("write");
                }
                Op::Delete(k) => {
                    let w = vec![KvWrite { space: 5, key: pkey(k), value: None }];
                    engine.write(w.clone()).expect("write");
                    model.write(w).expect("write");
                }
                Op::Batch(items) => {
                    let w: Vec<_> = items.iter().map(|(k, v)| KvWrite { space: 5, key: pkey(*k), value: v.map(|v| pval(*k, v)) }).collect();
                    engine.write(w.clone()).expect("write");
                    model.write(w).expect("write");
                }
                Op::Flush => engine.flush_all().expect("flush"),
                Op::Compact => engine.compact_all().expect("compact"),
                Op::Reopen => {
                    if leveled { engine.close().expect("close"); }
                    drop(engine);
                    engine = Engine::open(dir.path(), opts.clone()).expect("reopen");
                }
                Op::Scan(rev) => {
                    prop_assert_eq!(scan_all(&engine, 5, rev), scan_all(&model, 5, rev));
                }
                Op::PrefetchGet(ks) => {
                    let keys: Vec<Vec<u8>> = ks.iter().map(|k| pkey(*k)).collect();
                    let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
                    engine.prefetch(5, &refs).expect("prefetch");
                    for k in &keys {
                        prop_assert_eq!(engine.get(5, k).expect("get"), model.get(5, k).expect("get"));
                    }
                }
            }
        }
        for k in 0..=255u8 {
            prop_assert_eq!(engine.get(5, &pkey(k)).expect("get"), model.get(5, &pkey(k)).expect("get"));
        }
        let lo = pkey(10);
        let hi = pkey(200);
        let (a, b) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        for rev in [false, true] {
            let got: Vec<_> = engine.scan(5, Bound::Included(a.clone()), Bound::Excluded(b.clone()), rev).expect("scan").collect::<Result<_>>().expect("iter");
            let want: Vec<_> = model.scan(5, Bound::Included(a.clone()), Bound::Excluded(b.clone()), rev).expect("scan").collect::<Result<_>>().expect("iter");
            prop_assert_eq!(got, want);
        }
    }
}

#[test]
fn prefetch_reads_ahead_what_gets_then_find_and_changes_no_answer() {
    for mode in [crate::sstable::ReadMode::Io, crate::sstable::ReadMode::Mmap] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut opts = small_options(CompactionStrategy::Leveled);
        opts.tree.read_mode = mode;
        let mut model = BTreeMap::new();
        {
            let e = Engine::open(dir.path(), opts.clone()).expect("open");
            e.create_space(7, 2).expect("create");
            for round in 0..10u32 {
                let batch: Vec<KvWrite> = (0..60u32)
                    .map(|k| {
                        let kk = key(0x9e37_79b9_7f4a_7c15, k + round * 7);
                        let v = format!("r{round}k{k}").repeat(8).into_bytes();
                        model.insert(kk.clone(), v.clone());
                        put(7, kk, &v)
                    })
                    .collect();
                e.write(batch).expect("write");
            }
            e.flush_all().expect("flush");
            e.compact_all().expect("compact");
            e.close().expect("close");
        }
        // Reopened: an empty block cache, the data in SSTables only.
        let e = Engine::open(dir.path(), opts).expect("reopen");
        let mut keys: Vec<Vec<u8>> = model.keys().step_by(3).cloned().collect();
        keys.push(key(0x1234, 999_999)); // absent
        let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        let read = e.prefetch(7, &refs).expect("prefetch");
        if mode == crate::sstable::ReadMode::Io {
            assert!(read >= 2, "cold blocks read in batches: {read}");
            assert_eq!(e.prefetch(7, &refs).expect("again"), 0, "now cached");
        }
        for k in &keys {
            assert_eq!(e.get(7, k).expect("get").as_ref(), model.get(k));
        }
        assert!(matches!(
            e.prefetch(99, &refs),
            Err(StorageError::NoSuchSpace(99))
        ));
    }
}

/// Polls boxed futures on this thread until all are ready, parking between rounds; panics
/// after 30 s (a lost wake-up would otherwise hang the test).
pub(crate) fn drive_all<T>(mut futs: Vec<Pin<Box<dyn Future<Output = T> + Send>>>) -> Vec<T> {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut out: Vec<Option<T>> = futs.iter().map(|_| None).collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        for (f, o) in futs.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                if let Poll::Ready(r) = f.as_mut().poll(&mut cx) {
                    *o = Some(r);
                }
            }
        }
        if out.iter().all(Option::is_some) {
            return out.into_iter().flatten().collect();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "async writes not answered within 30 s (lost wake-up?)"
        );
        std::thread::park_timeout(Duration::from_millis(100));
    }
}

/// `write_async` as a caller that must not block uses it: queued writes are awaited, the
/// rest (a stall, a rotation due) done with `write`.
fn write_all_async(e: &Engine, batches: Vec<Vec<KvWrite>>) -> (usize, usize) {
    let mut futs = Vec::new();
    let mut blocked = 0;
    for b in batches {
        match e.write_async(b) {
            AsyncWrite::Queued(f) => futs.push(f),
            AsyncWrite::Done(r) => {
                r.expect("write answered at once");
            }
            AsyncWrite::WouldBlock(b) => {
                blocked += 1;
                e.write(b).expect("blocking write");
            }
        }
    }
    let queued = futs.len();
    for r in drive_all(futs) {
        r.expect("async write");
    }
    (queued, blocked)
}

#[test]
fn async_writes_are_visible_when_answered_and_survive_reopen() {
    for durability in both_durabilities() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut opts = small_options(CompactionStrategy::Leveled);
        opts.durability = durability;
        let mut model = BTreeMap::new();
        let (mut queued, mut blocked) = (0usize, 0usize);
        {
            let e = Engine::open(dir.path(), opts.clone()).expect("open");
            e.create_space(3, 4).expect("create");
            for round in 0..40u32 {
                // 16 batches in flight at once, some touching the same keys.
                let batches: Vec<Vec<KvWrite>> = (0..16u32)
                    .map(|i| {
                        let k = key(3, (round * 7 + i) % 200);
                        let mut v = format!("r{round}i{i}").into_bytes();
                        v.resize(200, b'.');
                        vec![put(3, k, &v)]
                    })
                    .collect();
                for b in &batches {
                    model.insert(b[0].key.clone(), b[0].value.clone().expect("value"));
                }
                let (q, b) = write_all_async(&e, batches);
                queued += q;
                blocked += b;
                // Answered means visible: every write of the round reads back.
                for (k, v) in &model {
                    assert_eq!(e.get(3, k).expect("get").as_ref(), Some(v));
                }
            }
            assert!(queued > blocked, "{queued} queued, {blocked} handed back");
            // 16 KiB memtables: the awaited writes rotated them too.
            assert!(e.stats().flushes > 0);
        }
        let e = Engine::open(dir.path(), opts).expect("reopen");
        let got: BTreeMap<Vec<u8>, Vec<u8>> = scan_all(&e, 3, false).into_iter().collect();
        assert_eq!(got, model, "{durability:?}");
    }
}

#[test]
fn an_async_write_dropped_before_its_commit_still_lands_and_later_writes_go_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = small_options(CompactionStrategy::Leveled);
    let e = Engine::open(dir.path(), opts).expect("open");
    e.create_space(5, 2).expect("create");
    let AsyncWrite::Queued(f) = e.write_async(vec![put(5, b"dropped".to_vec(), b"v")]) else {
        panic!("an idle engine queues the write");
    };
    drop(f);
    // A later write must not wait forever for the abandoned seq to become visible.
    let seq = e
        .write(vec![put(5, b"after".to_vec(), b"w")])
        .expect("write");
    assert!(seq > 0);
    assert_eq!(
        e.get(5, b"dropped").expect("get").as_deref(),
        Some(&b"v"[..])
    );
    assert_eq!(e.get(5, b"after").expect("get").as_deref(), Some(&b"w"[..]));
}

#[test]
fn async_and_blocking_writers_interleave_without_losing_a_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = small_options(CompactionStrategy::Tiered);
    let e = Arc::new(Engine::open(dir.path(), opts.clone()).expect("open"));
    e.create_space(9, 3).expect("create");
    let blocking: Vec<_> = (0..2u32)
        .map(|t| {
            let e = Arc::clone(&e);
            std::thread::spawn(move || {
                for i in 0..300u32 {
                    e.write(vec![put(9, key(9, 10_000 * (t + 1) + i), b"blocking")])
                        .expect("write");
                }
            })
        })
        .collect();
    for round in 0..30u32 {
        let batches = (0..10u32)
            .map(|i| vec![put(9, key(9, round * 10 + i), b"async")])
            .collect();
        write_all_async(&e, batches);
    }
    for h in blocking {
        h.join().expect("join");
    }
    assert_eq!(scan_all(&*e, 9, false).len(), 300 + 600);
    drop(e);
    let e = Engine::open(dir.path(), opts).expect("reopen");
    assert_eq!(scan_all(&e, 9, false).len(), 300 + 600);
}

#[test]
fn an_async_write_past_the_memtable_size_is_queued_and_rotates_it_once_visible() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = small_options(CompactionStrategy::Leveled);
    let e = Engine::open(dir.path(), opts).expect("open");
    e.create_space(4, 1).expect("create");
    let queue = |w: KvWrite| match e.write_async(vec![w]) {
        AsyncWrite::Queued(f) => f,
        other => panic!("an engine that is not stalled queues the write: {other:?}"),
    };
    // `big` fills the 16 KiB memtable. The log inserts it once it is committed, polled or
    // not; rotating is its future's to do, and it is not polled yet.
    let big = queue(put(4, b"b".to_vec(), &[7u8; 20_000]));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while e.get(4, b"b").expect("get").is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "an unpolled write was never applied"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    // A memtable due to rotate does not hand writes back: they go in, over the size.
    let flushes = e.stats().flushes;
    let third = queue(put(4, b"c".to_vec(), b"3"));
    drive_all(vec![big, third]).into_iter().for_each(|r| {
        r.expect("write");
    });
    for (k, v) in [(&b"b"[..], &[7u8; 20_000][..]), (b"c", b"3")] {
        assert_eq!(e.get(4, k).expect("get").as_deref(), Some(v));
    }
    // The futures rotated the memtable once their writes were visible; its flush follows.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while e.stats().flushes == flushes && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        e.stats().flushes > flushes,
        "the due rotation was never made"
    );
}

/// Every write to one key, acknowledged in turn, is what reads see next, while other writers
/// (async and blocking) fill 16 KiB memtables so they rotate every few batches: a rotation
/// between two batches must leave every newer version in a newer memtable, or a point read
/// (which stops at the first memtable that has the key) would see an older one.
#[test]
fn a_key_reads_its_last_acknowledged_version_across_rotations_under_both_durabilities() {
    for durability in both_durabilities() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut opts = small_options(CompactionStrategy::Leveled);
        opts.durability = durability;
        let e = Arc::new(Engine::open(dir.path(), opts).expect("open"));
        e.create_space(6, 4).expect("create");
        let stop = Arc::new(AtomicBool::new(false));
        let noise: Vec<_> = (0..3u32)
            .map(|n| {
                let (e, stop) = (Arc::clone(&e), Arc::clone(&stop));
                std::thread::spawn(move || {
                    let mut i = 0u32;
                    while !stop.load(SeqCst) && i < 20_000 {
                        let w = vec![put(6, key(n.into(), i % 64), &[n as u8; 900])];
                        if n == 0 {
                            e.write(w).expect("blocking write");
                        } else {
                            write_all_async(&e, vec![w]);
                        }
                        i += 1;
                    }
                })
            })
            .collect();
        let hot = b"hot".to_vec();
        let mut last = 0u32;
        for v in 0..20_000u32 {
            if v >= 400 && e.stats().flushes >= 5 {
                break;
            }
            last = v;
            let value = v.to_be_bytes();
            write_all_async(&e, vec![vec![put(6, hot.clone(), &value)]]);
            assert_eq!(
                e.get(6, &hot).expect("get").as_deref(),
                Some(&value[..]),
                "{durability:?}: version {v} acknowledged, then not read"
            );
        }
        stop.store(true, SeqCst);
        for h in noise {
            h.join().expect("noise writer");
        }
        assert!(e.stats().flushes >= 5, "{durability:?}: memtables rotated");
        drop(e);
        let e =
            Engine::open(dir.path(), small_options(CompactionStrategy::Leveled)).expect("reopen");
        assert_eq!(
            e.get(6, &hot).expect("get").as_deref(),
            Some(&last.to_be_bytes()[..]),
            "{durability:?}: after reopen"
        );
    }
}
