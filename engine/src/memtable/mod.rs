//! The memtable: a concurrent ordered map of entries (crossbeam-skiplist), newest version of a
//! user key first, with size accounting so the tree knows when to rotate it.
//!
//! Writers insert concurrently without locks; readers see a consistent view through sequence
//! numbers (an entry with `seq > snapshot` is invisible). A full memtable is frozen (made
//! immutable) by the tree and flushed to an SSTable; reads go on during the flush.

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::Arc;

use bytes::Bytes;
use crossbeam_skiplist::SkipMap;

use crate::error::StorageError;
use crate::key::{entry_cmp, Entry, SeqNo, ValueKind};

/// A skiplist key: a user key and a sequence number, ordered by [`entry_cmp`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalKey {
    pub user_key: Vec<u8>,
    pub seq: SeqNo,
}

impl Ord for InternalKey {
    fn cmp(&self, other: &Self) -> Ordering {
        entry_cmp(&self.user_key, self.seq, &other.user_key, other.seq)
    }
}

impl PartialOrd for InternalKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug)]
struct Slot {
    kind: ValueKind,
    /// Shared with the entries reads hand out (a clone is a reference count).
    value: Bytes,
}

/// Per-entry bookkeeping overhead counted on top of key and value bytes (skiplist node,
/// pointers, allocation headers): an estimate, so flushes happen at a predictable memory use.
const ENTRY_OVERHEAD_BYTES: usize = 64;

/// One memtable.
#[derive(Debug)]
pub struct Memtable {
    id: u64,
    map: SkipMap<InternalKey, Slot>,
    size_bytes: AtomicUsize,
    min_seq: AtomicU64,
    max_seq: AtomicU64,
}

impl Memtable {
    pub fn new(id: u64) -> Self {
        Memtable {
            id,
            map: SkipMap::new(),
            size_bytes: AtomicUsize::new(0),
            min_seq: AtomicU64::new(u64::MAX),
            max_seq: AtomicU64::new(0),
        }
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// Inserts one version. A second insert of the same (key, seq) replaces the first (the WAL
    /// replays a batch as a whole, and within a batch the last write to a key wins).
    pub fn insert(&self, user_key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) {
        let add = user_key.len() + value.len() + ENTRY_OVERHEAD_BYTES;
        self.map.insert(
            InternalKey {
                user_key: user_key.to_vec(),
                seq,
            },
            Slot {
                kind,
                value: Bytes::copy_from_slice(value),
            },
        );
        self.size_bytes.fetch_add(add, AtomicOrdering::Relaxed);
        self.min_seq.fetch_min(seq, AtomicOrdering::Relaxed);
        self.max_seq.fetch_max(seq, AtomicOrdering::Relaxed);
    }

    /// The newest version of `user_key` with `seq ≤ snapshot`, tombstones included.
    pub fn get(&self, user_key: &[u8], snapshot: SeqNo) -> Option<Entry> {
        let probe = InternalKey {
            user_key: user_key.to_vec(),
            seq: snapshot,
        };
        let e = self.map.lower_bound(Bound::Included(&probe))?;
        if e.key().user_key != user_key {
            return None;
        }
        Some(Entry {
            user_key: user_key.to_vec(),
            seq: e.key().seq,
            kind: e.value().kind,
            value: e.value().value.clone(),
        })
    }

    /// Approximate bytes held.
    pub fn size_bytes(&self) -> usize {
        self.size_bytes.load(AtomicOrdering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Smallest sequence number inserted, if any.
    pub fn min_seq(&self) -> Option<SeqNo> {
        let s = self.min_seq.load(AtomicOrdering::Relaxed);
        (s != u64::MAX).then_some(s)
    }

    /// Largest sequence number inserted (0 when empty).
    pub fn max_seq(&self) -> SeqNo {
        self.max_seq.load(AtomicOrdering::Relaxed)
    }

    /// Every version in entry order (for flushes), or reverse order.
    pub fn iter(
        self: &Arc<Self>,
        lower: Bound<Vec<u8>>,
        upper: Bound<Vec<u8>>,
        reverse: bool,
    ) -> MemtableIter {
        MemtableIter {
            mem: Arc::clone(self),
            lower,
            upper,
            reverse,
            cursor: None,
            buf: VecDeque::new(),
            batch: BATCH_FIRST,
            done: false,
        }
    }
}

/// An owned iterator over a memtable's entries within user-key bounds. It holds no borrow of
/// the skiplist (so it can outlive the caller's stack frame): it takes entries in batches,
/// one seek from its last key per batch and a walk along the list within it, so a long scan
/// pays O(log n) per batch rather than per entry. Batches start small (a Query with a small
/// `Limit` takes few) and double up to [`BATCH_MAX`].
pub struct MemtableIter {
    mem: Arc<Memtable>,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    reverse: bool,
    /// The last internal key taken into `buf` (the next batch starts past it).
    cursor: Option<InternalKey>,
    buf: VecDeque<Entry>,
    batch: usize,
    done: bool,
}

/// Entries in a memtable iterator's first batch, and in its largest.
const BATCH_FIRST: usize = 4;
const BATCH_MAX: usize = 256;

fn within_upper(key: &[u8], upper: &Bound<Vec<u8>>) -> bool {
    match upper {
        Bound::Included(u) => key <= u.as_slice(),
        Bound::Excluded(u) => key < u.as_slice(),
        Bound::Unbounded => true,
    }
}

fn within_lower(key: &[u8], lower: &Bound<Vec<u8>>) -> bool {
    match lower {
        Bound::Included(l) => key >= l.as_slice(),
        Bound::Excluded(l) => key > l.as_slice(),
        Bound::Unbounded => true,
    }
}

/// Hands entries of `it` to `take` until it refuses one or `want` were taken; whether the
/// walk ended (the list, or the bounds `take` checks) rather than the batch.
fn fill<'a>(
    it: impl Iterator<Item = crossbeam_skiplist::map::Entry<'a, InternalKey, Slot>>,
    want: usize,
    mut take: impl FnMut(crossbeam_skiplist::map::Entry<'a, InternalKey, Slot>) -> bool,
) -> bool {
    let mut taken = 0;
    for e in it {
        if !take(e) {
            return true;
        }
        taken += 1;
        if taken == want {
            return false;
        }
    }
    true
}

impl MemtableIter {
    /// Where the next batch starts, as a bound on internal keys: past the cursor, or the
    /// user-key bound on the side the walk starts from.
    fn start(&self) -> Bound<InternalKey> {
        if let Some(c) = &self.cursor {
            return Bound::Excluded(c.clone());
        }
        let ik = |k: &Vec<u8>, seq| InternalKey {
            user_key: k.clone(),
            seq,
        };
        match (self.reverse, &self.lower, &self.upper) {
            // Smallest internal key of user key l is (l, SEQ max); (l, 0) its largest.
            (false, Bound::Included(l), _) => Bound::Included(ik(l, u64::MAX)),
            (false, Bound::Excluded(l), _) => Bound::Excluded(ik(l, 0)),
            (true, _, Bound::Included(u)) => Bound::Included(ik(u, 0)),
            (true, _, Bound::Excluded(u)) => Bound::Excluded(ik(u, u64::MAX)),
            _ => Bound::Unbounded,
        }
    }

    /// Takes the next batch into `buf`; `done` once the list or the bounds end.
    fn refill(&mut self) {
        let start = self.start();
        let want = self.batch;
        self.batch = (self.batch * 2).min(BATCH_MAX);
        let map = &self.mem.map;
        let take = |e: crossbeam_skiplist::map::Entry<'_, InternalKey, Slot>| {
            let k = e.key();
            let in_range = if self.reverse {
                within_lower(&k.user_key, &self.lower)
            } else {
                within_upper(&k.user_key, &self.upper)
            };
            if in_range {
                self.buf.push_back(Entry {
                    user_key: k.user_key.clone(),
                    seq: k.seq,
                    kind: e.value().kind,
                    value: e.value().value.clone(),
                });
            }
            in_range
        };
        let ended = if self.reverse {
            fill(map.range((Bound::Unbounded, start)).rev(), want, take)
        } else {
            fill(map.range((start, Bound::Unbounded)), want, take)
        };
        if let Some(last) = self.buf.back() {
            self.cursor = Some(InternalKey {
                user_key: last.user_key.clone(),
                seq: last.seq,
            });
        }
        self.done = ended;
    }
}

impl Iterator for MemtableIter {
    type Item = Result<Entry, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() && !self.done {
            self.refill();
        }
        self.buf.pop_front().map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(it: MemtableIter) -> Vec<(Vec<u8>, SeqNo)> {
        it.map(|e| e.expect("entry"))
            .map(|e| (e.user_key, e.seq))
            .collect()
    }

    #[test]
    fn get_returns_newest_visible_version() {
        let m = Memtable::new(1);
        m.insert(b"k", 1, ValueKind::Put, b"v1");
        m.insert(b"k", 5, ValueKind::Put, b"v5");
        m.insert(b"k", 9, ValueKind::Delete, b"");
        m.insert(b"j", 7, ValueKind::Put, b"j");
        assert_eq!(
            m.get(b"k", 4).map(|e| e.value),
            Some(Bytes::from_static(b"v1"))
        );
        assert_eq!(
            m.get(b"k", 5).map(|e| e.value),
            Some(Bytes::from_static(b"v5"))
        );
        assert_eq!(m.get(b"k", 100).map(|e| e.kind), Some(ValueKind::Delete));
        assert_eq!(m.get(b"k", 0), None);
        assert_eq!(m.get(b"l", 100), None);
        assert_eq!(m.min_seq(), Some(1));
        assert_eq!(m.max_seq(), 9);
    }

    #[test]
    fn iteration_respects_bounds_in_both_directions() {
        let m = Arc::new(Memtable::new(1));
        for (k, s) in [(b"a", 1), (b"b", 2), (b"b", 3), (b"c", 4), (b"d", 5)] {
            m.insert(k, s, ValueKind::Put, b"");
        }
        let fwd = collect(m.iter(
            Bound::Included(b"b".to_vec()),
            Bound::Excluded(b"d".to_vec()),
            false,
        ));
        assert_eq!(
            fwd,
            vec![(b"b".to_vec(), 3), (b"b".to_vec(), 2), (b"c".to_vec(), 4)]
        );
        let rev = collect(m.iter(
            Bound::Excluded(b"a".to_vec()),
            Bound::Included(b"c".to_vec()),
            true,
        ));
        assert_eq!(
            rev,
            vec![(b"c".to_vec(), 4), (b"b".to_vec(), 2), (b"b".to_vec(), 3)]
        );
        let all = collect(m.iter(Bound::Unbounded, Bound::Unbounded, true));
        assert_eq!(all.len(), 5);
        let excl = collect(m.iter(Bound::Excluded(b"b".to_vec()), Bound::Unbounded, false));
        assert_eq!(excl.first().map(|x| x.0.clone()), Some(b"c".to_vec()));
    }

    fn arb_bound() -> impl proptest::strategy::Strategy<Value = Bound<Vec<u8>>> {
        use proptest::prelude::*;
        prop_oneof![
            Just(Bound::Unbounded),
            (0u8..40).prop_map(|k| Bound::Included(vec![k])),
            (0u8..40).prop_map(|k| Bound::Excluded(vec![k])),
        ]
    }

    proptest::proptest! {
        /// Iteration in batches (4, 8, … 256 entries, one seek each) gives every version
        /// within the bounds, in entry order or its reverse, as a sorted model does: pages
        /// of up to 600 versions of 40 keys cross many batch boundaries.
        #[test]
        fn batched_iteration_matches_a_sorted_model(
            writes in proptest::collection::vec((0u8..40, 1u64..1000), 0..600),
            lower in arb_bound(),
            upper in arb_bound(),
            reverse in proptest::bool::ANY,
        ) {
            let m = Arc::new(Memtable::new(1));
            let mut model = std::collections::BTreeSet::new();
            for (k, seq) in &writes {
                m.insert(&[*k], *seq, ValueKind::Put, &[*k]);
                model.insert((vec![*k], std::cmp::Reverse(*seq)));
            }
            let mut want: Vec<(Vec<u8>, SeqNo)> = model
                .into_iter()
                .filter(|(k, _)| within_lower(k, &lower) && within_upper(k, &upper))
                .map(|(k, s)| (k, s.0))
                .collect();
            if reverse {
                want.reverse();
            }
            proptest::prop_assert_eq!(collect(m.iter(lower, upper, reverse)), want);
        }
    }

    #[test]
    fn concurrent_inserts_are_all_visible() {
        let m = Arc::new(Memtable::new(1));
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let m = Arc::clone(&m);
                std::thread::spawn(move || {
                    for i in 0..1000u64 {
                        let seq = t * 1000 + i + 1;
                        m.insert(&seq.to_be_bytes(), seq, ValueKind::Put, b"x");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("join");
        }
        assert_eq!(m.len(), 4000);
        assert!(m.size_bytes() >= 4000 * (8 + 1));
    }
}
