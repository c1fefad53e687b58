//! Table-level tests: round trips, snapshots, bounds, seeks, corruption and version refusal.
//! They run over a small test-only [`IoFile`] on `std::fs::File`, independent of the engine's
//! I/O backends.

use std::cmp::Reverse;

use bytes::Bytes;
use std::collections::BTreeMap;
use std::io;
use std::ops::Bound;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::error::StorageError;
use crate::io::IoFile;
use crate::key::{entry_cmp, Entry, SeqNo, ValueKind};

#[derive(Debug)]
struct TestFile {
    file: std::fs::File,
    expose_std: bool,
    writes: AtomicUsize,
}

impl IoFile for TestFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        FileExt::read_exact_at(&self.file, buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        FileExt::write_all_at(&self.file, buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }
    fn sync_all(&self) -> io::Result<()> {
        self.file.sync_all()
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }
    fn std_file(&self) -> Option<&std::fs::File> {
        self.expose_std.then_some(&self.file)
    }
}

fn test_file(path: &Path, create: bool, expose_std: bool) -> Arc<TestFile> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(create)
        .create_new(create)
        .open(path)
        .expect("open test file");
    Arc::new(TestFile {
        file,
        expose_std,
        writes: AtomicUsize::new(0),
    })
}

const ID: u64 = 7;

fn write_table(path: &Path, entries: &[Entry], opts: SstOptions) -> SstMeta {
    let f = test_file(path, true, true);
    let mut w = SstWriter::new(f, ID, opts);
    for e in entries {
        w.add(&e.user_key, e.seq, e.kind, &e.value).expect("add");
    }
    w.finish().expect("finish")
}

fn open_table(path: &Path, mode: ReadMode) -> crate::error::Result<Arc<SstReader>> {
    SstReader::open(
        test_file(path, false, true),
        ID,
        Arc::new(BlockCache::new(1 << 20)),
        mode,
    )
}

fn read_all(r: &Arc<SstReader>) -> crate::error::Result<Vec<Entry>> {
    r.iter(Bound::Unbounded, Bound::Unbounded).collect()
}

fn put(key: &[u8], seq: SeqNo, value: &[u8]) -> Entry {
    Entry {
        user_key: key.to_vec(),
        seq,
        kind: ValueKind::Put,
        value: Bytes::copy_from_slice(value),
    }
}

fn del(key: &[u8], seq: SeqNo) -> Entry {
    Entry {
        user_key: key.to_vec(),
        seq,
        kind: ValueKind::Delete,
        value: Bytes::new(),
    }
}

fn sorted(mut v: Vec<Entry>) -> Vec<Entry> {
    v.sort_by(|a, b| entry_cmp(&a.user_key, a.seq, &b.user_key, b.seq));
    v
}

/// `n` keys with `versions` versions each; some tombstones, some empty values.
fn entries(n: usize, versions: u64) -> Vec<Entry> {
    let mut v = Vec::new();
    for i in 0..n {
        let key = format!("key{i:06}").into_bytes();
        for s in 1..=versions {
            let seq = s * 10 + (i as u64 % 3);
            if (i + s as usize).is_multiple_of(5) {
                v.push(del(&key, seq));
            } else {
                v.push(put(&key, seq, &vec![(i % 251) as u8; i % 300]));
            }
        }
    }
    sorted(v)
}

fn small_blocks() -> SstOptions {
    SstOptions {
        block_size_bytes: 256,
        ..SstOptions::default()
    }
}

struct Tmp {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn tmp() -> Tmp {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.sst");
    Tmp { _dir: dir, path }
}

#[test]
fn round_trip_with_versions_tombstones_and_empty_values() {
    let t = tmp();
    let es = entries(500, 3);
    let meta = write_table(&t.path, &es, small_blocks());
    assert_eq!(meta.entry_count, es.len() as u64);
    assert_eq!(
        meta.tombstone_count,
        es.iter().filter(|e| e.kind == ValueKind::Delete).count() as u64
    );
    assert_eq!(meta.smallest_key, b"key000000");
    assert_eq!(meta.largest_key, b"key000499");
    assert_eq!((meta.min_seq, meta.max_seq), (10, 32));
    assert_eq!(
        meta.raw_value_bytes,
        es.iter().map(|e| e.value.len() as u64).sum::<u64>()
    );
    assert_eq!(
        meta.file_size,
        std::fs::metadata(&t.path).expect("stat").len()
    );
    for mode in [ReadMode::Mmap, ReadMode::Io] {
        let r = open_table(&t.path, mode).expect("open");
        assert_eq!(r.is_mmapped(), mode == ReadMode::Mmap);
        assert_eq!(r.meta(), &meta, "properties block holds the meta");
        assert!(r.block_count() > 10);
        assert_eq!(read_all(&r).expect("read"), es);
        let mut rev: Vec<Entry> = r
            .iter_rev(Bound::Unbounded, Bound::Unbounded)
            .map(|e| e.expect("entry"))
            .collect();
        rev.reverse();
        assert_eq!(rev, es);
        for e in &es {
            assert_eq!(r.get(&e.user_key, e.seq).expect("get").as_ref(), Some(e));
        }
    }
}

#[test]
fn get_returns_the_newest_version_visible_at_the_snapshot() {
    let t = tmp();
    let es = vec![
        put(b"a", 3, b"a3"),
        put(b"b", 9, b"b9"),
        del(b"b", 7),
        put(b"b", 5, b"b5"),
        put(b"b", 2, b""),
        put(b"c", 1, b"c1"),
    ];
    write_table(&t.path, &es, SstOptions::default());
    let r = open_table(&t.path, ReadMode::Io).expect("open");
    let get = |k: &[u8], s| r.get(k, s).expect("get");
    assert_eq!(get(b"b", crate::key::SEQ_MAX), Some(es[1].clone()));
    assert_eq!(get(b"b", 9), Some(es[1].clone()));
    assert_eq!(get(b"b", 8), Some(es[2].clone()), "tombstones are returned");
    assert_eq!(get(b"b", 6), Some(es[3].clone()));
    assert_eq!(get(b"b", 4), Some(es[4].clone()), "empty value");
    assert_eq!(get(b"b", 1), None, "older than every version");
    assert_eq!(get(b"a", 2), None);
    assert_eq!(get(b"0", 100), None, "below the key range");
    assert_eq!(get(b"bb", 100), None, "between keys");
    assert_eq!(get(b"d", 100), None, "above the key range");
}

#[test]
fn large_values_span_more_than_a_block() {
    let t = tmp();
    let es = sorted(vec![
        put(b"big1", 4, &vec![1u8; 100_000]),
        put(b"big1", 3, &vec![2u8; 5_000]),
        put(b"big2", 1, &vec![3u8; 300_000]),
        put(b"small", 2, b"x"),
    ]);
    let meta = write_table(&t.path, &es, small_blocks());
    assert!(meta.file_size > 405_000);
    for mode in [ReadMode::Mmap, ReadMode::Io] {
        let r = open_table(&t.path, mode).expect("open");
        assert_eq!(read_all(&r).expect("read"), es);
        assert_eq!(r.get(b"big2", 10).expect("get").as_ref(), Some(&es[2]));
        assert_eq!(r.get(b"big1", 3).expect("get").as_ref(), Some(&es[1]));
    }
}

#[test]
fn single_entry_table() {
    let t = tmp();
    let e = put(b"only", 42, b"v");
    let meta = write_table(&t.path, std::slice::from_ref(&e), SstOptions::default());
    assert_eq!((meta.min_seq, meta.max_seq), (42, 42));
    assert_eq!(meta.smallest_key, meta.largest_key);
    let r = open_table(&t.path, ReadMode::Mmap).expect("open");
    assert_eq!(read_all(&r).expect("read"), vec![e.clone()]);
    assert_eq!(r.get(b"only", 42).expect("get"), Some(e.clone()));
    assert_eq!(r.get(b"only", 41).expect("get"), None);
    let rev: Vec<Entry> = r
        .iter_rev(
            Bound::Included(b"only".to_vec()),
            Bound::Included(b"only".to_vec()),
        )
        .map(|x| x.expect("entry"))
        .collect();
    assert_eq!(rev, vec![e]);
}

#[test]
fn empty_table_is_valid_and_empty() {
    let t = tmp();
    let meta = write_table(&t.path, &[], SstOptions::default());
    assert_eq!(meta.entry_count, 0);
    let r = open_table(&t.path, ReadMode::Io).expect("open");
    assert_eq!(r.block_count(), 0);
    assert!(read_all(&r).expect("read").is_empty());
    assert_eq!(r.iter_rev(Bound::Unbounded, Bound::Unbounded).count(), 0);
    assert_eq!(r.get(b"", 1).expect("get"), None);
    assert!(!r.may_contain(b""));
}

#[test]
fn out_of_order_add_is_a_typed_error() {
    let t = tmp();
    let mut w = SstWriter::new(test_file(&t.path, true, true), ID, SstOptions::default());
    w.add(b"b", 5, ValueKind::Put, b"").expect("add");
    let older_key = w.add(b"a", 9, ValueKind::Put, b"");
    assert!(matches!(older_key, Err(StorageError::InvalidArgument(_))));
    let same = w.add(b"b", 5, ValueKind::Put, b"");
    assert!(
        matches!(same, Err(StorageError::InvalidArgument(_))),
        "same version twice"
    );
    let newer = w.add(b"b", 6, ValueKind::Put, b"");
    assert!(
        matches!(newer, Err(StorageError::InvalidArgument(_))),
        "seq must descend"
    );
    w.add(b"b", 4, ValueKind::Delete, b"")
        .expect("older version of b");
    w.add(b"c", 100, ValueKind::Put, b"").expect("next key");
    let meta = w.finish().expect("finish");
    assert_eq!(meta.entry_count, 3, "refused entries are not written");
}

#[test]
fn oversized_keys_are_refused() {
    let t = tmp();
    let mut w = SstWriter::new(test_file(&t.path, true, true), ID, SstOptions::default());
    let key = vec![b'k'; SST_KEY_SIZE_MAX_BYTES + 1];
    assert!(matches!(
        w.add(&key, 1, ValueKind::Put, b""),
        Err(StorageError::KeyTooLarge { .. })
    ));
    let key = vec![b'k'; SST_KEY_SIZE_MAX_BYTES];
    w.add(&key, 1, ValueKind::Put, b"v")
        .expect("largest key fits");
    w.finish().expect("finish");
    let r = open_table(&t.path, ReadMode::Io).expect("open");
    assert_eq!(
        r.get(&key, 1).expect("get").map(|e| e.value),
        Some(Bytes::from_static(b"v"))
    );
}

#[test]
fn writer_writes_in_large_chunks() {
    let t = tmp();
    let f = test_file(&t.path, true, true);
    let mut w = SstWriter::new(Arc::clone(&f) as Arc<dyn IoFile>, ID, SstOptions::default());
    for i in 0..20_000u64 {
        w.add(
            format!("k{i:08}").as_bytes(),
            1,
            ValueKind::Put,
            &[7u8; 100],
        )
        .expect("add");
    }
    let meta = w.finish().expect("finish");
    let writes = f.writes.load(Ordering::Relaxed) as u64;
    let max = meta.file_size / writer::WRITE_CHUNK_BYTES as u64 + 2;
    assert!(
        writes <= max,
        "{writes} writes for {} bytes",
        meta.file_size
    );
}

#[test]
fn mmap_mode_falls_back_to_io_without_a_std_file() {
    let t = tmp();
    let es = entries(50, 2);
    write_table(&t.path, &es, small_blocks());
    let f = test_file(&t.path, false, false);
    let r =
        SstReader::open(f, ID, Arc::new(BlockCache::new(1 << 20)), ReadMode::Mmap).expect("open");
    assert!(!r.is_mmapped());
    assert_eq!(read_all(&r).expect("read"), es);
}

#[test]
fn bloom_negatives_skip_block_reads() {
    let t = tmp();
    let es: Vec<Entry> = (0..2000u64)
        .map(|i| put(format!("k{:06}", i * 2).as_bytes(), 1, b"v"))
        .collect();
    write_table(&t.path, &es, small_blocks());
    let cache = Arc::new(BlockCache::new(0));
    let r = SstReader::open(
        test_file(&t.path, false, true),
        ID,
        Arc::clone(&cache),
        ReadMode::Io,
    )
    .expect("open");
    let absent: Vec<Vec<u8>> = (0..2000u64)
        .map(|i| format!("k{:06}", i * 2 + 1).into_bytes())
        .collect();
    let may = absent.iter().filter(|k| r.may_contain(k)).count() as u64;
    assert!(
        may < 100,
        "{may} of 2000 absent keys pass a 10 bits/key filter"
    );
    for k in &absent {
        assert_eq!(r.get(k, 5).expect("get"), None);
    }
    let st = cache.stats();
    assert_eq!(
        st.hits + st.misses,
        may,
        "only bloom positives touch a block"
    );
}

#[test]
fn iteration_seeks_through_the_index() {
    let t = tmp();
    let es: Vec<Entry> = (0..3000u64)
        .map(|i| put(format!("k{i:06}").as_bytes(), 1, &[1u8; 40]))
        .collect();
    write_table(&t.path, &es, small_blocks());
    let cache = Arc::new(BlockCache::new(1 << 20));
    let r = SstReader::open(
        test_file(&t.path, false, true),
        ID,
        Arc::clone(&cache),
        ReadMode::Io,
    )
    .expect("open");
    assert!(r.block_count() > 100);
    let first = r
        .iter(Bound::Included(b"k002500".to_vec()), Bound::Unbounded)
        .next()
        .expect("some")
        .expect("ok");
    assert_eq!(first.user_key, b"k002500");
    assert_eq!(
        cache.stats().misses,
        1,
        "one block read, not a scan from the start"
    );
    let last = r
        .iter_rev(Bound::Unbounded, Bound::Excluded(b"k000100".to_vec()))
        .next()
        .expect("some")
        .expect("ok");
    assert_eq!(last.user_key, b"k000099");
    assert!(cache.stats().misses <= 3);
}

#[test]
fn iterator_is_send_static_and_keeps_the_reader_alive() {
    fn assert_send_static<T: Send + 'static>(_: &T) {}
    let t = tmp();
    let es = entries(100, 1);
    write_table(&t.path, &es, small_blocks());
    let r = open_table(&t.path, ReadMode::Mmap).expect("open");
    let it = r.iter(Bound::Unbounded, Bound::Unbounded);
    assert_send_static(&it);
    drop(r);
    let got = std::thread::spawn(move || it.collect::<crate::error::Result<Vec<Entry>>>())
        .join()
        .expect("thread")
        .expect("read");
    assert_eq!(got, es);
}

#[test]
fn concurrent_gets_share_one_small_cache() {
    let t = tmp();
    let es = entries(400, 2);
    write_table(&t.path, &es, small_blocks());
    let r = SstReader::open(
        test_file(&t.path, false, true),
        ID,
        Arc::new(BlockCache::new(16 * 1024)),
        ReadMode::Mmap,
    )
    .expect("open");
    let es = Arc::new(es);
    let threads: Vec<_> = (0..4)
        .map(|k| {
            let (r, es) = (Arc::clone(&r), Arc::clone(&es));
            std::thread::spawn(move || {
                for e in es.iter().skip(k).step_by(3) {
                    assert_eq!(r.get(&e.user_key, e.seq).expect("get").as_ref(), Some(e));
                }
            })
        })
        .collect();
    for th in threads {
        th.join().expect("thread");
    }
}

/// Opens and fully reads the table (entries and every get), as a reader of damaged data would.
fn open_and_read(path: &Path, mode: ReadMode) -> crate::error::Result<Vec<Entry>> {
    let r = open_table(path, mode)?;
    let all = read_all(&r)?;
    let rev: Vec<Entry> = r
        .iter_rev(Bound::Unbounded, Bound::Unbounded)
        .collect::<crate::error::Result<_>>()?;
    if rev.len() != all.len() {
        return Err(StorageError::Corruption("reverse differs".into()));
    }
    Ok(all)
}

#[test]
fn flipping_any_byte_is_detected() {
    let t = tmp();
    let es = entries(30, 2);
    write_table(&t.path, &es, small_blocks());
    let good = std::fs::read(&t.path).expect("read");
    assert!(good.len() > 2000, "several blocks: {}", good.len());
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&t.path)
        .expect("open rw");
    for at in 0..good.len() {
        f.write_all_at(&[good[at] ^ 0x41], at as u64).expect("flip");
        for mode in [ReadMode::Io, ReadMode::Mmap] {
            match open_and_read(&t.path, mode) {
                Err(StorageError::Corruption(msg)) => {
                    assert!(
                        msg.starts_with(&format!("sstable {ID}: ")) && msg.contains(" at offset "),
                        "flip at {at}: message {msg:?}"
                    );
                }
                Err(StorageError::UnsupportedVersion { .. }) => {}
                Ok(got) => panic!(
                    "flip at {at} of {} went undetected (same data: {})",
                    good.len(),
                    got == es
                ),
                Err(e) => panic!("flip at {at}: unexpected error {e}"),
            }
        }
        f.write_all_at(&good[at..at + 1], at as u64)
            .expect("restore");
    }
    assert_eq!(open_and_read(&t.path, ReadMode::Io).expect("intact"), es);
}

#[test]
fn truncation_at_any_length_is_refused() {
    let t = tmp();
    write_table(&t.path, &entries(10, 1), small_blocks());
    let good = std::fs::read(&t.path).expect("read");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&t.path)
        .expect("open rw");
    for len in 0..good.len() {
        f.set_len(len as u64).expect("truncate");
        for mode in [ReadMode::Io, ReadMode::Mmap] {
            assert!(
                matches!(open_table(&t.path, mode), Err(StorageError::Corruption(_))),
                "truncated to {len}"
            );
        }
    }
    f.set_len(0).expect("truncate");
    f.write_all_at(&good, 0).expect("restore");
    let mut extended = good.clone();
    extended.extend_from_slice(&[0u8; 10]);
    f.write_all_at(&extended, 0).expect("extend");
    assert!(matches!(
        open_table(&t.path, ReadMode::Io),
        Err(StorageError::Corruption(_))
    ));
}

#[test]
fn newer_format_version_is_refused() {
    let t = tmp();
    write_table(&t.path, &entries(3, 1), SstOptions::default());
    let mut b = std::fs::read(&t.path).expect("read");
    let n = b.len();
    let foot = n - FOOTER_BYTES;
    b[foot + 36..foot + 40].copy_from_slice(&(SST_FORMAT_VERSION + 1).to_le_bytes());
    let ck = xxhash_rust::xxh3::xxh3_64(&b[foot..n - 8]);
    b[n - 8..].copy_from_slice(&ck.to_le_bytes());
    std::fs::write(&t.path, &b).expect("write");
    for mode in [ReadMode::Mmap, ReadMode::Io] {
        match open_table(&t.path, mode) {
            Err(StorageError::UnsupportedVersion {
                found, supported, ..
            }) => assert_eq!(
                (found, supported),
                (SST_FORMAT_VERSION + 1, SST_FORMAT_VERSION)
            ),
            other => panic!("expected UnsupportedVersion, got {other:?}"),
        }
    }
}

#[test]
fn a_file_that_is_not_an_sstable_is_refused() {
    let t = tmp();
    let cases: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"short".to_vec(),
        vec![7u8; 500],
        (0..4096u32).map(|i| (i * 31 % 253) as u8).collect(),
    ];
    for bytes in cases {
        std::fs::write(&t.path, &bytes).expect("write");
        for mode in [ReadMode::Mmap, ReadMode::Io] {
            match open_table(&t.path, mode) {
                Err(StorageError::Corruption(msg)) => {
                    assert!(msg.starts_with(&format!("sstable {ID}:")), "{msg}")
                }
                other => panic!("{} bytes: expected Corruption, got {other:?}", bytes.len()),
            }
        }
    }
}

#[test]
fn opening_under_another_table_id_is_refused() {
    let t = tmp();
    write_table(&t.path, &entries(3, 1), SstOptions::default());
    let r = SstReader::open(
        test_file(&t.path, false, true),
        ID + 1,
        Arc::new(BlockCache::new(1 << 20)),
        ReadMode::Io,
    );
    assert!(matches!(r, Err(StorageError::Corruption(_))));
}

#[test]
fn no_bloom_filter_still_answers_correctly() {
    let t = tmp();
    let es = entries(100, 2);
    write_table(
        &t.path,
        &es,
        SstOptions {
            bloom_bits_per_key: 0,
            ..small_blocks()
        },
    );
    let r = open_table(&t.path, ReadMode::Io).expect("open");
    assert!(
        r.may_contain(b"key000050x"),
        "no filter: only the key range decides"
    );
    assert_eq!(r.get(b"key000050x", 100).expect("get"), None);
    for e in es.iter().step_by(5) {
        assert_eq!(r.get(&e.user_key, e.seq).expect("get").as_ref(), Some(e));
    }
}

#[test]
fn meta_serialization_round_trips_and_refuses_garbage() {
    let meta = SstMeta {
        table_id: 12,
        file_size: 1 << 40,
        entry_count: 1000,
        tombstone_count: 10,
        smallest_key: b"aaa".to_vec(),
        largest_key: b"zzz".to_vec(),
        min_seq: 1,
        max_seq: crate::key::SEQ_MAX,
        raw_key_bytes: 3000,
        raw_value_bytes: u64::MAX,
    };
    let b = meta.to_bytes();
    // Fixed-width fields would take 8 × 8 + 2 × 4 + 6 = 78 bytes.
    assert!(b.len() <= 41, "compact: {} bytes", b.len());
    assert_eq!(SstMeta::from_bytes(&b).expect("decode"), meta);
    for n in 0..b.len() {
        assert!(SstMeta::from_bytes(&b[..n]).is_err(), "truncated to {n}");
    }
    let mut longer = b.clone();
    longer.push(0);
    assert!(SstMeta::from_bytes(&longer).is_err(), "trailing byte");
    let mut newer = b.clone();
    newer[0] = SST_META_VERSION + 1;
    assert!(matches!(
        SstMeta::from_bytes(&newer),
        Err(StorageError::UnsupportedVersion { .. })
    ));
    let inconsistent = SstMeta {
        tombstone_count: 1001,
        ..meta.clone()
    };
    assert!(SstMeta::from_bytes(&inconsistent.to_bytes()).is_err());
    assert_eq!(
        SstMeta::from_bytes(&SstMeta::default().to_bytes()).expect("empty"),
        SstMeta::default()
    );
}

#[test]
fn varints_are_canonical() {
    for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
        let mut b = Vec::new();
        put_varint(&mut b, v);
        let mut d = Dec::new(&b, None, 0, "test");
        assert_eq!(d.varint().expect("varint"), v);
        assert!(d.finish().is_ok());
    }
    let overlong = [0x80u8, 0x00];
    assert!(Dec::new(&overlong, None, 0, "t").varint().is_err());
    let overflow = [0xffu8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
    assert!(Dec::new(&overflow, None, 0, "t").varint().is_err());
}

fn in_range(k: &[u8], lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> bool {
    (match lo {
        Bound::Included(l) => k >= l.as_slice(),
        Bound::Excluded(l) => k > l.as_slice(),
        Bound::Unbounded => true,
    }) && (match hi {
        Bound::Included(h) => k <= h.as_slice(),
        Bound::Excluded(h) => k < h.as_slice(),
        Bound::Unbounded => true,
    })
}

/// Keys of varying length sharing prefixes, so prefix compression and restarts matter.
fn model_key(i: u8) -> Vec<u8> {
    let mut k = vec![b'k'; 1 + (i % 3) as usize];
    k.push(i / 3);
    k
}

fn bound() -> impl Strategy<Value = Bound<Vec<u8>>> {
    prop_oneof![
        Just(Bound::Unbounded),
        (0u8..48).prop_map(|i| Bound::Included(model_key(i))),
        (0u8..48).prop_map(|i| Bound::Excluded(model_key(i))),
    ]
}

type Model = BTreeMap<(Vec<u8>, Reverse<SeqNo>), (ValueKind, Vec<u8>)>;

fn model_entries(m: &Model) -> Vec<Entry> {
    m.iter()
        .map(|((k, Reverse(s)), (kind, v))| Entry {
            user_key: k.clone(),
            seq: *s,
            kind: *kind,
            value: v.clone().into(),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]
    #[test]
    fn iteration_and_gets_match_a_btreemap_model(
        raw in prop::collection::vec((0u8..40, 0u64..8, any::<bool>(), 0usize..120), 1..150),
        lo in bound(),
        hi in bound(),
        block in 64usize..600,
        restart in 1usize..5,
        probes in prop::collection::vec((0u8..48, 0u64..10), 20),
    ) {
        let mut model = Model::new();
        for (k, s, tomb, vlen) in raw {
            let v = if tomb { (ValueKind::Delete, Vec::new()) } else { (ValueKind::Put, vec![k; vlen]) };
            model.insert((model_key(k), Reverse(s)), v);
        }
        let es = model_entries(&model);
        let t = tmp();
        write_table(&t.path, &es, SstOptions { block_size_bytes: block, restart_interval: restart, ..SstOptions::default() });
        let r = open_table(&t.path, ReadMode::Mmap).expect("open");
        let want: Vec<Entry> = es.iter().filter(|e| in_range(&e.user_key, &lo, &hi)).cloned().collect();
        let fwd: Vec<Entry> = r.iter(lo.clone(), hi.clone()).map(|e| e.expect("entry")).collect();
        prop_assert_eq!(&fwd, &want);
        let rev: Vec<Entry> = r.iter_rev(lo.clone(), hi.clone()).map(|e| e.expect("entry")).collect();
        let want_rev: Vec<Entry> = want.iter().rev().cloned().collect();
        prop_assert_eq!(&rev, &want_rev);
        for (k, snap) in probes {
            let key = model_key(k);
            let expect = model
                .range((key.clone(), Reverse(snap))..=(key.clone(), Reverse(0)))
                .next()
                .map(|((k, Reverse(s)), (kind, v))| Entry { user_key: k.clone(), seq: *s, kind: *kind, value: v.clone().into() });
            prop_assert_eq!(r.get(&key, snap).expect("get"), expect);
        }
    }
}

/// Pages of `path` in the page cache, and pages in all.
fn resident_pages(path: &Path) -> (usize, usize) {
    let f = std::fs::File::open(path).expect("open");
    // SAFETY: a read-only mapping of a file nothing writes during the test.
    let m = unsafe { memmap2::Mmap::map(&f) }.expect("map");
    let pages = m.len().div_ceil(4096);
    let mut v = vec![0u8; pages + 1];
    // SAFETY: the mapping is page-aligned and `v` has a byte per page.
    let r = unsafe { libc::mincore(m.as_ptr() as *mut libc::c_void, m.len(), v.as_mut_ptr()) };
    assert_eq!(r, 0, "mincore");
    (v[..pages].iter().filter(|b| *b & 1 == 1).count(), pages)
}

/// Drops the file's pages from the page cache where the file system allows it.
fn drop_from_page_cache(path: &Path) {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path).expect("open");
    f.sync_all().expect("sync");
    // SAFETY: advice on an open descriptor; no memory is involved.
    unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
}

/// A data block that must be read from the file (a block-cache miss whose bytes may not be in
/// the page cache) goes through the thread's blocking hook, once per block; hits, keys the
/// bloom filter rules out, and mapped bytes the page cache holds never do. Iterators too.
#[test]
fn block_reads_that_may_wait_for_the_device_and_only_they_go_through_the_blocking_hook() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static HOOKED: AtomicUsize = AtomicUsize::new(0);
    fn hook(why: crate::io::blocking::Wait, f: &mut dyn FnMut()) {
        assert_eq!(why, crate::io::blocking::Wait::Device);
        HOOKED.fetch_add(1, Ordering::SeqCst);
        f();
    }
    fn hooked<R>(f: impl FnOnce() -> R) -> (R, usize) {
        crate::io::blocking::with_blocking_hook(hook, || {
            let before = HOOKED.load(Ordering::SeqCst);
            let r = f();
            (r, HOOKED.load(Ordering::SeqCst) - before)
        })
    }
    let t = tmp();
    let es = entries(20_000, 1);
    write_table(&t.path, &es, SstOptions::default());
    let mut seen_cold = false;
    for mode in [ReadMode::Io, ReadMode::Mmap] {
        for cold in [false, true] {
            if !cold {
                // Every page read once: resident wherever a page cache exists.
                let _ = std::fs::read(&t.path).expect("read");
            }
            let r = open_table(&t.path, mode).expect("open");
            if cold {
                drop_from_page_cache(&t.path);
            }
            for e in [&es[7_000], &es[13_000], &es[19_000]] {
                // Io reads never know whether the bytes are resident; mapped ones ask.
                let expect = match mode {
                    ReadMode::Io => 1,
                    ReadMode::Mmap => {
                        usize::from(!r.block_resident(r.block_of(&e.user_key, e.seq)))
                    }
                };
                seen_cold |= mode == ReadMode::Mmap && expect == 1;
                let (got, first) = hooked(|| r.get(&e.user_key, e.seq).expect("get"));
                assert_eq!(got.as_ref(), Some(e));
                assert_eq!(first, expect, "{mode:?} cold={cold}");
                let (got, second) = hooked(|| r.get(&e.user_key, e.seq).expect("get"));
                assert_eq!(got.as_ref(), Some(e));
                assert_eq!(second, 0, "{mode:?}: a cached block needs no hook");
            }
            let (absent, none) = hooked(|| r.get(b"zzz-not-there", u64::MAX).expect("get"));
            assert_eq!((absent, none), (None, 0));
            if !cold {
                // The kernel may have dropped a page since the file was read (another test's
                // pressure on the page cache): a mapped read may only go through the hook for
                // a block it finds out of the page cache now.
                let not_resident = (0..r.block_count())
                    .filter(|&b| !r.block_resident(b))
                    .count();
                let (all, n) = hooked(|| read_all(&r).expect("read"));
                assert_eq!(all, es);
                match mode {
                    // Every block but those still cached (the cache holds 1 MiB of ~2.6).
                    ReadMode::Io => assert!(n >= r.block_count() - 3 && n <= r.block_count()),
                    ReadMode::Mmap => assert!(
                        n <= not_resident,
                        "a resident mapping is read at once ({n} hooked, {not_resident} blocks out)"
                    ),
                }
            }
        }
    }
    // Where the file system can drop pages, the mapped reads did meet non-resident blocks.
    let (resident, pages) = {
        drop_from_page_cache(&t.path);
        resident_pages(&t.path)
    };
    if resident < pages / 2 {
        assert!(
            seen_cold,
            "no mapped read found its block out of the page cache"
        );
    }
}

#[test]
fn prefetch_reads_the_blocks_point_reads_need_in_one_batch_and_verifies_them() {
    let t = tmp();
    let es: Vec<Entry> = (0..2000u64)
        .map(|i| put(format!("k{i:06}").as_bytes(), 1, &[i as u8; 40]))
        .collect();
    write_table(&t.path, &es, small_blocks());
    let open = |cache: &Arc<BlockCache>| {
        SstReader::open(
            test_file(&t.path, false, true),
            ID,
            Arc::clone(cache),
            ReadMode::Io,
        )
        .expect("open")
    };
    let cache = Arc::new(BlockCache::new(1 << 20));
    let r = open(&cache);
    let keys: Vec<Vec<u8>> = (0..2000u64)
        .step_by(97)
        .map(|i| format!("k{i:06}").into_bytes())
        .collect();
    let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    let absent = b"k999999x".to_vec();
    let read = r
        .prefetch(&[refs.as_slice(), &[absent.as_slice()]].concat(), 5)
        .expect("prefetch");
    assert_eq!(
        read,
        keys.len(),
        "one block per key here, none for the absent key"
    );
    let before = cache.stats();
    for (k, i) in keys.iter().zip((0..2000u64).step_by(97)) {
        let e = r.get(k, 5).expect("get").expect("present");
        assert_eq!(e.value, vec![i as u8; 40]);
    }
    let after = cache.stats();
    assert_eq!(
        after.misses, before.misses,
        "every read hit the prefetched blocks"
    );
    assert_eq!(
        r.prefetch(&refs, 5).expect("again"),
        0,
        "cached blocks are not read twice"
    );
    // A damaged block fails the prefetch as it fails a read.
    let bytes = std::fs::read(&t.path).expect("read");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&t.path)
        .expect("open rw");
    f.write_all_at(&[bytes[300] ^ 0x41], 300).expect("flip");
    let r = open(&Arc::new(BlockCache::new(1 << 20)));
    let all: Vec<Vec<u8>> = (0..2000u64)
        .step_by(7)
        .map(|i| format!("k{i:06}").into_bytes())
        .collect();
    let refs: Vec<&[u8]> = all.iter().map(Vec::as_slice).collect();
    assert!(matches!(
        r.prefetch(&refs, 5),
        Err(StorageError::Corruption(_))
    ));
}
