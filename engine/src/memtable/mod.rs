//! The memtable: a concurrent ordered map of entries (crossbeam-skiplist), newest version of a
//! user key first, with size accounting so the tree knows when to rotate it.
//!
//! Writers insert concurrently without locks; readers see a consistent view through sequence
//! numbers (an entry with `seq > snapshot` is invisible). A full memtable is frozen (made
//! immutable) by the tree and flushed to an SSTable; reads go on during the flush.

use std::cmp::Ordering;
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
            done: false,
        }
    }
}

/// An owned iterator over a memtable's entries within user-key bounds. It re-seeks from its
/// last key on every step (O(log n)), so it holds no borrow of the skiplist and can outlive
/// the caller's stack frame.
pub struct MemtableIter {
    mem: Arc<Memtable>,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    reverse: bool,
    cursor: Option<InternalKey>,
    done: bool,
}

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

impl Iterator for MemtableIter {
    type Item = Result<Entry, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let map = &self.mem.map;
        let found = if !self.reverse {
            match &self.cursor {
                Some(c) => map.lower_bound(Bound::Excluded(c)),
                None => match &self.lower {
                    // Smallest internal key of user key l is (l, SEQ max).
                    Bound::Included(l) => map.lower_bound(Bound::Included(&InternalKey {
                        user_key: l.clone(),
                        seq: u64::MAX,
                    })),
                    // Past every version of l: (l, 0) is its largest internal key.
                    Bound::Excluded(l) => map.lower_bound(Bound::Excluded(&InternalKey {
                        user_key: l.clone(),
                        seq: 0,
                    })),
                    Bound::Unbounded => map.front(),
                },
            }
        } else {
            match &self.cursor {
                Some(c) => map.upper_bound(Bound::Excluded(c)),
                None => match &self.upper {
                    Bound::Included(u) => map.upper_bound(Bound::Included(&InternalKey {
                        user_key: u.clone(),
                        seq: 0,
                    })),
                    Bound::Excluded(u) => map.upper_bound(Bound::Excluded(&InternalKey {
                        user_key: u.clone(),
                        seq: u64::MAX,
                    })),
                    Bound::Unbounded => map.back(),
                },
            }
        };
        let Some(e) = found else {
            self.done = true;
            return None;
        };
        let k = e.key();
        let in_range = if self.reverse {
            within_lower(&k.user_key, &self.lower)
        } else {
            within_upper(&k.user_key, &self.upper)
        };
        if !in_range {
            self.done = true;
            return None;
        }
        let out = Entry {
            user_key: k.user_key.clone(),
            seq: k.seq,
            kind: e.value().kind,
            value: e.value().value.clone(),
        };
        self.cursor = Some(k.clone());
        Some(Ok(out))
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
