use std::ops::Bound;
use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::error::StorageError;
use crate::io::std_backend::StdBackend;
use crate::io::{IoBackend, OpenOptions};
use crate::key::{entry_cmp, Entry, ValueKind};

fn build(dir: &std::path::Path, name: &str, entries: &[Entry], opts: SstOptions) -> SstMeta {
    let io = StdBackend::new();
    let f = io
        .open(&dir.join(name), OpenOptions::create_new())
        .expect("create");
    let mut w = SstWriter::new(f, 1, opts);
    for e in entries {
        w.add(&e.user_key, e.seq, e.kind, &e.value).expect("add");
    }
    w.finish().expect("finish")
}

fn open(dir: &std::path::Path, name: &str, mode: ReadMode) -> crate::error::Result<Arc<SstReader>> {
    let io = StdBackend::new();
    let f = io.open(&dir.join(name), OpenOptions::read_only())?;
    SstReader::open(f, 1, Arc::new(BlockCache::new(1 << 20)), mode)
}

fn entries(n: usize, versions: u64) -> Vec<Entry> {
    let mut v = Vec::new();
    for i in 0..n {
        for s in (1..=versions).rev() {
            let kind = if (i + s as usize).is_multiple_of(5) {
                ValueKind::Delete
            } else {
                ValueKind::Put
            };
            v.push(Entry {
                user_key: format!("key{i:06}").into_bytes(),
                seq: s * 10 + (i as u64 % 3),
                kind,
                value: if kind == ValueKind::Put {
                    vec![(i % 251) as u8; i % 300]
                } else {
                    vec![]
                },
            });
        }
    }
    v.sort_by(|a, b| entry_cmp(&a.user_key, a.seq, &b.user_key, b.seq));
    v
}

fn small_blocks() -> SstOptions {
    SstOptions {
        block_size_bytes: 256,
        ..SstOptions::default()
    }
}

#[test]
fn round_trip_with_versions_tombstones_and_snapshots() {
    let dir = tempfile::tempdir().expect("tempdir");
    let es = entries(500, 3);
    let meta = build(dir.path(), "t.sst", &es, small_blocks());
    assert_eq!(meta.entry_count, es.len() as u64);
    for mode in [ReadMode::Mmap, ReadMode::Io] {
        let r = open(dir.path(), "t.sst", mode).expect("open");
        assert_eq!(r.meta().entry_count, es.len() as u64);
        let all: Vec<Entry> = r
            .iter(Bound::Unbounded, Bound::Unbounded)
            .map(|e| e.expect("e"))
            .collect();
        assert_eq!(all, es);
        let mut rev: Vec<Entry> = r
            .iter_rev(Bound::Unbounded, Bound::Unbounded)
            .map(|e| e.expect("e"))
            .collect();
        rev.reverse();
        assert_eq!(rev, es);
        for e in es.iter().step_by(7) {
            let got = r.get(&e.user_key, e.seq).expect("get").expect("present");
            assert_eq!(&got, e);
        }
        let k = b"key000010".to_vec();
        let newest = r.get(&k, u64::MAX).expect("get").expect("present");
        assert_eq!(newest.seq, 31);
        assert_eq!(r.get(&k, 5).expect("get"), None, "older than every version");
        assert_eq!(r.get(b"absent", u64::MAX).expect("get"), None);
    }
}

#[test]
fn single_entry_and_large_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = Entry {
        user_key: b"k".to_vec(),
        seq: 1,
        kind: ValueKind::Put,
        value: vec![9u8; 100_000],
    };
    build(
        dir.path(),
        "a.sst",
        std::slice::from_ref(&big),
        small_blocks(),
    );
    let r = open(dir.path(), "a.sst", ReadMode::Io).expect("open");
    assert_eq!(r.get(b"k", 10).expect("get"), Some(big));
}

#[test]
fn out_of_order_add_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let io = StdBackend::new();
    let f = io
        .open(&dir.path().join("x.sst"), OpenOptions::create_new())
        .expect("create");
    let mut w = SstWriter::new(f, 1, SstOptions::default());
    w.add(b"b", 1, ValueKind::Put, b"").expect("add");
    assert!(w.add(b"a", 1, ValueKind::Put, b"").is_err());
    assert!(
        w.add(b"b", 1, ValueKind::Put, b"").is_err(),
        "same version twice"
    );
}

#[test]
fn flipping_any_byte_is_detected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let es = entries(30, 2);
    build(dir.path(), "t.sst", &es, small_blocks());
    let path = dir.path().join("t.sst");
    let good = std::fs::read(&path).expect("read");
    for at in 0..good.len() {
        let mut bad = good.clone();
        bad[at] ^= 0x41;
        std::fs::write(&path, &bad).expect("write");
        let result = open(dir.path(), "t.sst", ReadMode::Io).and_then(|r| {
            r.iter(Bound::Unbounded, Bound::Unbounded)
                .collect::<crate::error::Result<Vec<Entry>>>()
        });
        match result {
            Err(StorageError::Corruption(_)) | Err(StorageError::UnsupportedVersion { .. }) => {}
            Ok(got) => panic!(
                "flip at {at} of {} went undetected (same data: {})",
                good.len(),
                got == es
            ),
            Err(e) => panic!("flip at {at}: unexpected error {e}"),
        }
    }
}

#[test]
fn newer_format_and_foreign_files_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    build(dir.path(), "t.sst", &entries(3, 1), SstOptions::default());
    let path = dir.path().join("t.sst");
    let mut b = std::fs::read(&path).expect("read");
    let n = b.len();
    let foot = n - FOOTER_BYTES;
    b[foot + 36..foot + 40].copy_from_slice(&(SST_FORMAT_VERSION + 1).to_le_bytes());
    let ck = xxhash_rust::xxh3::xxh3_64(&b[foot..n - 8]);
    b[n - 8..].copy_from_slice(&ck.to_le_bytes());
    std::fs::write(&path, &b).expect("write");
    assert!(matches!(
        open(dir.path(), "t.sst", ReadMode::Mmap),
        Err(StorageError::UnsupportedVersion { .. })
    ));
    std::fs::write(&path, vec![7u8; 500]).expect("write");
    assert!(matches!(
        open(dir.path(), "t.sst", ReadMode::Mmap),
        Err(StorageError::Corruption(_))
    ));
    std::fs::write(&path, b"short").expect("write");
    assert!(matches!(
        open(dir.path(), "t.sst", ReadMode::Io),
        Err(StorageError::Corruption(_))
    ));
}

fn bound() -> impl Strategy<Value = Bound<Vec<u8>>> {
    prop_oneof![
        Just(Bound::Unbounded),
        (0u8..40).prop_map(|k| Bound::Included(vec![b'k', k])),
        (0u8..40).prop_map(|k| Bound::Excluded(vec![b'k', k])),
    ]
}

fn in_range(k: &[u8], lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> bool {
    let a = match lo {
        Bound::Included(l) => k >= l.as_slice(),
        Bound::Excluded(l) => k > l.as_slice(),
        Bound::Unbounded => true,
    };
    let b = match hi {
        Bound::Included(h) => k <= h.as_slice(),
        Bound::Excluded(h) => k < h.as_slice(),
        Bound::Unbounded => true,
    };
    a && b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]
    #[test]
    fn iteration_matches_a_sorted_model(
        raw in prop::collection::btree_set((0u8..40, 1u64..6), 1..120),
        lo in bound(),
        hi in bound(),
        block in 64usize..600,
    ) {
        let mut es: Vec<Entry> = raw.iter().map(|(k, s)| Entry {
            user_key: vec![b'k', *k],
            seq: *s,
            kind: if (k + *s as u8).is_multiple_of(4) { ValueKind::Delete } else { ValueKind::Put },
            value: vec![*k; (*s as usize) * 9],
        }).collect();
        es.sort_by(|a, b| entry_cmp(&a.user_key, a.seq, &b.user_key, b.seq));
        let dir = tempfile::tempdir().expect("tempdir");
        build(dir.path(), "p.sst", &es, SstOptions { block_size_bytes: block, restart_interval: 3, ..SstOptions::default() });
        let r = open(dir.path(), "p.sst", ReadMode::Mmap).expect("open");
        let want: Vec<Entry> = es.iter().filter(|e| in_range(&e.user_key, &lo, &hi)).cloned().collect();
        let fwd: Vec<Entry> = r.iter(lo.clone(), hi.clone()).map(|e| e.expect("e")).collect();
        prop_assert_eq!(&fwd, &want);
        let mut rev: Vec<Entry> = r.iter_rev(lo.clone(), hi.clone()).map(|e| e.expect("e")).collect();
        rev.reverse();
        prop_assert_eq!(&rev, &want);
    }
}
