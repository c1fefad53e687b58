//! Merging iterators: k-way merge of sorted entry sources, and the visible view on top of it
//! (newest version at or below a snapshot, tombstones hidden).

use std::cmp::Ordering;
use std::collections::binary_heap::PeekMut;
use std::collections::BinaryHeap;

use crate::error::Result;
use crate::key::{entry_cmp, Entry, SeqNo, ValueKind};

/// A source of entries in entry order (or exact reverse entry order).
pub type EntrySource = Box<dyn Iterator<Item = Result<Entry>> + Send>;

struct HeapItem {
    entry: Entry,
    /// Index of the source; a lower index is a newer source and wins ties.
    source: usize,
    reverse: bool,
}

impl PartialEq for HeapItem {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for HeapItem {}
impl PartialOrd for HeapItem {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for HeapItem {
    // BinaryHeap pops the greatest: make "comes first" the greatest.
    fn cmp(&self, other: &Self) -> Ordering {
        let by_entry = entry_cmp(
            &self.entry.user_key,
            self.entry.seq,
            &other.entry.user_key,
            other.entry.seq,
        );
        let by_entry = if self.reverse {
            by_entry
        } else {
            by_entry.reverse()
        };
        by_entry.then_with(|| other.source.cmp(&self.source))
    }
}

/// All versions of all sources, merged into one stream in entry order (or reverse entry order
/// when `reverse`; every source must then be reversed too).
pub struct MergeIter {
    sources: Vec<EntrySource>,
    heap: BinaryHeap<HeapItem>,
    reverse: bool,
    started: bool,
    failed: bool,
}

impl MergeIter {
    pub fn new(sources: Vec<EntrySource>, reverse: bool) -> Self {
        MergeIter {
            sources,
            heap: BinaryHeap::new(),
            reverse,
            started: false,
            failed: false,
        }
    }

    fn pull(&mut self, source: usize) -> Result<()> {
        if let Some(next) = self.sources[source].next() {
            let entry = next?;
            self.heap.push(HeapItem {
                entry,
                source,
                reverse: self.reverse,
            });
        }
        Ok(())
    }
}

impl Iterator for MergeIter {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if !self.started {
            self.started = true;
            for i in 0..self.sources.len() {
                if let Err(e) = self.pull(i) {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        // The smallest entry's source usually has the next one too: its successor takes its
        // place at the top and sinks once (one sift-down), instead of a pop and a push.
        let mut top = self.heap.peek_mut()?;
        match self.sources[top.source].next() {
            Some(Ok(next)) => Some(Ok(std::mem::replace(&mut top.entry, next))),
            Some(Err(e)) => {
                PeekMut::pop(top);
                self.failed = true;
                Some(Err(e))
            }
            None => Some(Ok(PeekMut::pop(top).entry)),
        }
    }
}

/// The user-visible view of a merged stream: for each user key, the newest version with
/// `seq ≤ snapshot`, and nothing for keys whose newest visible version is a tombstone.
pub struct VisibleIter {
    inner: MergeIter,
    snapshot: SeqNo,
    reverse: bool,
    last_key: Option<Vec<u8>>,
    /// Reverse mode: the best version seen so far of the current user key.
    pending: Option<Entry>,
}

impl VisibleIter {
    pub fn new(inner: MergeIter, snapshot: SeqNo) -> Self {
        let reverse = inner.reverse;
        VisibleIter {
            inner,
            snapshot,
            reverse,
            last_key: None,
            pending: None,
        }
    }

    fn next_forward(&mut self) -> Option<Result<(Vec<u8>, Vec<u8>)>> {
        loop {
            let e = match self.inner.next()? {
                Ok(e) => e,
                Err(err) => return Some(Err(err)),
            };
            if e.seq > self.snapshot {
                continue;
            }
            if self.last_key.as_deref() == Some(e.user_key.as_slice()) {
                continue;
            }
            // The buffer is reused: a page of keys costs no allocation per key here.
            match &mut self.last_key {
                Some(k) => {
                    k.clear();
                    k.extend_from_slice(&e.user_key);
                }
                None => self.last_key = Some(e.user_key.clone()),
            }
            if e.kind == ValueKind::Put {
                return Some(Ok((e.user_key, Vec::from(e.value))));
            }
        }
    }

    fn next_reverse(&mut self) -> Option<Result<(Vec<u8>, Vec<u8>)>> {
        loop {
            match self.inner.next() {
                None => {
                    let p = self.pending.take()?;
                    if p.kind == ValueKind::Put {
                        return Some(Ok((p.user_key, Vec::from(p.value))));
                    }
                }
                Some(Err(err)) => return Some(Err(err)),
                Some(Ok(e)) => {
                    if e.seq > self.snapshot {
                        continue;
                    }
                    let same_key = self
                        .pending
                        .as_ref()
                        .is_some_and(|p| p.user_key.as_slice() == e.user_key.as_slice());
                    // Reverse order brings older versions of a key first: a later one is newer.
                    let prev = self.pending.replace(e);
                    if same_key {
                        continue;
                    }
                    if let Some(p) = prev {
                        if p.kind == ValueKind::Put {
                            return Some(Ok((p.user_key, Vec::from(p.value))));
                        }
                    }
                }
            }
        }
    }
}

impl Iterator for VisibleIter {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.reverse {
            self.next_reverse()
        } else {
            self.next_forward()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn e(k: &str, seq: SeqNo, put: bool) -> Entry {
        Entry {
            user_key: k.as_bytes().to_vec(),
            seq,
            kind: if put {
                ValueKind::Put
            } else {
                ValueKind::Delete
            },
            value: if put {
                format!("{k}{seq}").into_bytes().into()
            } else {
                Bytes::new()
            },
        }
    }

    fn src(mut v: Vec<Entry>, reverse: bool) -> EntrySource {
        v.sort_by(|a, b| entry_cmp(&a.user_key, a.seq, &b.user_key, b.seq));
        if reverse {
            v.reverse();
        }
        Box::new(v.into_iter().map(Ok))
    }

    fn visible(sources: Vec<Vec<Entry>>, snapshot: SeqNo, reverse: bool) -> Vec<(String, String)> {
        let srcs = sources.into_iter().map(|s| src(s, reverse)).collect();
        VisibleIter::new(MergeIter::new(srcs, reverse), snapshot)
            .map(|r| r.expect("ok"))
            .map(|(k, v)| {
                (
                    String::from_utf8(k).expect("utf8"),
                    String::from_utf8(v).expect("utf8"),
                )
            })
            .collect()
    }

    #[test]
    fn newest_visible_version_wins_and_tombstones_hide() {
        let newer = vec![e("a", 5, true), e("b", 6, false), e("d", 9, true)];
        let older = vec![e("a", 1, true), e("b", 2, true), e("c", 3, true)];
        for reverse in [false, true] {
            let mut got = visible(vec![newer.clone(), older.clone()], 100, reverse);
            if reverse {
                got.reverse();
            }
            assert_eq!(
                got,
                vec![
                    ("a".into(), "a5".into()),
                    ("c".into(), "c3".into()),
                    ("d".into(), "d9".into())
                ]
            );
            let mut at4 = visible(vec![newer.clone(), older.clone()], 4, reverse);
            if reverse {
                at4.reverse();
            }
            assert_eq!(
                at4,
                vec![
                    ("a".into(), "a1".into()),
                    ("b".into(), "b2".into()),
                    ("c".into(), "c3".into())
                ]
            );
        }
    }

    #[test]
    fn trailing_tombstone_in_reverse_is_hidden() {
        let got = visible(vec![vec![e("a", 1, false), e("b", 2, true)]], 10, true);
        assert_eq!(got, vec![("b".into(), "b2".into())]);
        let got = visible(vec![vec![e("a", 1, true), e("a", 2, false)]], 10, true);
        assert!(got.is_empty());
    }

    #[test]
    fn raw_merge_interleaves_in_entry_order() {
        let m = MergeIter::new(
            vec![
                src(vec![e("a", 2, true), e("c", 1, true)], false),
                src(vec![e("b", 3, true)], false),
            ],
            false,
        );
        let keys: Vec<_> = m.map(|x| x.expect("ok").user_key).collect();
        assert_eq!(keys, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    }

    proptest::proptest! {
        /// The k-way merge of sorted sources is their sorted union, in both directions; on a
        /// tie (the same key and seq in two sources) the newer source (lower index) comes first.
        #[test]
        fn merge_is_the_sorted_union(
            sources in proptest::collection::vec(
                proptest::collection::vec((0u8..12, 0u64..6), 0..20), 0..6),
            reverse: bool,
        ) {
            let mut want: Vec<(Vec<u8>, SeqNo, usize)> = Vec::new();
            let mut srcs = Vec::new();
            for (i, s) in sources.iter().enumerate() {
                let mut v: Vec<Entry> = s.iter().map(|&(k, seq)| e(&format!("k{k:02}"), seq, true)).collect();
                v.sort_by(|a, b| entry_cmp(&a.user_key, a.seq, &b.user_key, b.seq));
                v.dedup_by(|a, b| a.user_key == b.user_key && a.seq == b.seq);
                want.extend(v.iter().map(|x| (x.user_key.clone(), x.seq, i)));
                srcs.push(src(v, reverse));
            }
            want.sort_by(|a, b| entry_cmp(&a.0, a.1, &b.0, b.1).then(a.2.cmp(&b.2)));
            if reverse {
                // Reverse entry order; a tie still goes to the newer source first.
                want.sort_by(|a, b| entry_cmp(&b.0, b.1, &a.0, a.1).then(a.2.cmp(&b.2)));
            }
            let got: Vec<(Vec<u8>, SeqNo)> = MergeIter::new(srcs, reverse)
                .map(|r| r.expect("ok"))
                .map(|x| (x.user_key, x.seq))
                .collect();
            let want: Vec<(Vec<u8>, SeqNo)> = want.into_iter().map(|(k, s, _)| (k, s)).collect();
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn a_failing_source_ends_the_merge_at_its_error() {
        let failing: EntrySource = Box::new(
            vec![
                Ok(e("a", 1, true)),
                Err(crate::error::StorageError::Corruption("bad block".into())),
                Ok(e("z", 1, true)),
            ]
            .into_iter(),
        );
        let m = MergeIter::new(vec![failing, src(vec![e("b", 2, true)], false)], false);
        // The error is met while replacing "a" at the top: the merge answers it and stops (a
        // reader gives up at its first error; "b" and "z" never come).
        let got: Vec<_> = m.collect();
        assert_eq!(got.len(), 1);
        assert!(got[0].is_err());
    }
}
