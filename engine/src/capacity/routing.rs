//! How a key finds its capacity partition under each [`PartitioningStrategy`], and the layout
//! a table starts with.
//!
//! The map of a table (`partition.rs`'s `PartitionMap`) carries a [`Layout`] next to its
//! partitions, published together, so routing always sees a layout and partitions of the same
//! epoch:
//! - [`Layout::Hash`]: ranges of the xxh3 key hash, looked up in the map's sorted starts
//!   (`hash-split`, and `fixed-hash`, whose ranges never change);
//! - [`Layout::Ring`]: a [`ConsistentHash`] ring; partition `i` is node `i`;
//! - [`Layout::Keys`]: a [`KeyRange`] over the raw partition-key bytes; partition `i` is range
//!   `i`, plus a sample of the keys each range admitted (to choose split points).
//!
//! Routing reuses the study's partitioners (`crate::partition`), so a table routes a key
//! exactly as the `Partitioner` of the same name does for the same layout.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::Mutex;

use super::error::Op;
use super::partition::{
    even_ranges, fast_rand, PartitionMap, SAMPLE_MILLI_PER_SAMPLE, SAMPLE_SLOTS,
};
use crate::partition::{ConsistentHash, KeyRange, Partitioner, PartitioningStrategy};

/// How keys route to the partitions of one map.
#[derive(Debug)]
pub(crate) enum Layout {
    /// By key hash over the map's range starts.
    Hash,
    /// By key hash on a consistent-hashing ring; partition `i` is node `i`.
    Ring(ConsistentHash),
    /// By partition-key bytes; partition `i` is key range `i`.
    Keys(KeyLayout),
}

/// A key-range table's layout.
#[derive(Debug)]
pub(crate) struct KeyLayout {
    /// The split points.
    pub ranges: KeyRange,
    /// Keys sampled per partition (by index), shared with the next map for partitions that
    /// did not split.
    pub samples: Vec<Arc<KeySamples>>,
    /// `(epoch, to)`: the partition at index `i` in the map of `epoch` (the previous one)
    /// starts the range now at index `to[i]` (itself, or its left child after a split). Lets
    /// a ticket admitted before a split be charged without its key.
    pub remap: Option<(u64, Vec<u32>)>,
}

/// Partition keys a key range admitted: [`SAMPLE_SLOTS`] slots filled in order, then
/// overwritten at random, each admission sampled with probability proportional to its
/// minimum cost (a write twice a read), as hash samples weigh charges by units.
#[derive(Debug, Default)]
pub(crate) struct KeySamples {
    recorded: AtomicU64,
    slots: Mutex<Vec<Vec<u8>>>,
}

impl KeySamples {
    /// Samples `key` with probability `milli / SAMPLE_MILLI_PER_SAMPLE`.
    #[inline]
    pub fn maybe_sample(&self, key: &[u8], milli: u64) {
        let r = fast_rand();
        if r % SAMPLE_MILLI_PER_SAMPLE >= milli {
            return;
        }
        self.recorded.fetch_add(1, Relaxed);
        let mut slots = self.slots.lock();
        if slots.len() < SAMPLE_SLOTS {
            slots.push(key.to_vec());
        } else {
            let s = &mut slots[((r >> 32) as usize) % SAMPLE_SLOTS];
            s.clear();
            s.extend_from_slice(key);
        }
    }

    /// The keys held now.
    pub fn samples(&self) -> Vec<Vec<u8>> {
        self.slots.lock().clone()
    }

    /// Samples taken since the partition was created (a measure of its load).
    pub fn recorded(&self) -> u64 {
        self.recorded.load(Relaxed)
    }
}

/// Milli-units an admission of `op` costs at least (what its key sample is weighted by).
fn min_milli(op: Op) -> u64 {
    match op {
        Op::Read => 500,
        Op::Write => 1000,
    }
}

/// Partition `hash` scales to among `n`: where a key-range table admits a request that has
/// only a hash (a Scan segment's first hash), so such requests spread evenly.
#[inline]
pub(crate) fn scaled(hash: u64, n: usize) -> usize {
    ((hash as u128 * n.max(1) as u128) >> 64) as usize
}

/// Index of the partition of the key with hash `hash` and, when the caller has them, bytes
/// `key` (the partition key). Without the bytes a key-range layout routes by [`scaled`].
#[inline]
pub(crate) fn route(map: &PartitionMap, hash: u64, key: Option<&[u8]>) -> usize {
    match &map.layout {
        Layout::Hash => map.route(hash),
        Layout::Ring(ring) => ring.node_of_hash(hash),
        Layout::Keys(k) => match key {
            Some(key) => k.ranges.partition_of(key),
            None => scaled(hash, map.parts.len()),
        },
    }
}

/// Where a ticket admitted at index `idx` of the map of `epoch` is charged now that the map
/// has changed: by hash for hash and ring layouts (exact); for key ranges the partition that
/// now starts the ticket's old range when the map changed once since, else by [`scaled`].
pub(crate) fn reroute(map: &PartitionMap, epoch: u64, idx: usize, hash: u64) -> usize {
    match &map.layout {
        Layout::Keys(k) => match &k.remap {
            Some((from, to)) if *from == epoch => match to.get(idx) {
                Some(&i) => i as usize,
                None => scaled(hash, map.parts.len()),
            },
            _ => scaled(hash, map.parts.len()),
        },
        _ => route(map, hash, None),
    }
}

/// After admitting `op` at index `idx`: a key-range layout may sample the key.
#[inline]
pub(crate) fn admitted(map: &PartitionMap, idx: usize, op: Op, key: Option<&[u8]>) {
    if let (Layout::Keys(k), Some(key)) = (&map.layout, key) {
        if let Some(s) = k.samples.get(idx) {
            s.maybe_sample(key, min_milli(op));
        }
    }
}

/// The partitions (hash ranges `(start, last)`) and layout a controller starts with; `n` is
/// the count the table's throughput and size need (what `hash-split` starts with).
///
/// `fixed-hash:N` starts (and stays) at N even ranges; `consistent-hash:N:V` at N nodes (the
/// controller adds nodes when its throughput needs more); `key-range` at one range, since no
/// key has been seen yet. Ring nodes and key ranges are not hash ranges: they report the
/// whole hash space `(0, u64::MAX)`.
pub(crate) fn initial(strategy: PartitioningStrategy, n: usize) -> (Vec<(u64, u64)>, Layout) {
    match strategy {
        PartitioningStrategy::HashSplit => (even_ranges(n), Layout::Hash),
        PartitioningStrategy::FixedHash { partitions } => {
            (even_ranges(partitions.max(1) as usize), Layout::Hash)
        }
        PartitioningStrategy::ConsistentHash { nodes, vnodes } => {
            let ring = ConsistentHash::new(nodes.max(1) as usize, vnodes.max(1) as usize);
            (
                vec![(0, u64::MAX); ring.partition_count()],
                Layout::Ring(ring),
            )
        }
        PartitioningStrategy::KeyRange { .. } => (
            vec![(0, u64::MAX)],
            Layout::Keys(KeyLayout {
                ranges: KeyRange::from_splits(Vec::new()),
                samples: vec![Arc::new(KeySamples::default())],
                remap: None,
            }),
        ),
    }
}

/// What a split of a key range decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeySplit {
    /// Split so that the new right-hand range starts at this key.
    Split(Vec<u8>),
    /// One key carries (almost) all the load.
    HotKey(Vec<u8>),
    /// Too few samples to choose.
    TooFewSamples,
}

/// `choose_split` (`partition.rs`) over key bytes: for the range `[lo, hi)` (`None`:
/// unbounded), the boundary between two distinct sampled keys that best balances the samples
/// on both sides (the weighted median), unless one key holds at least `hot_key_share_pct`
/// percent of them.
pub(crate) fn choose_key_split(
    lo: Option<&[u8]>,
    hi: Option<&[u8]>,
    samples: &mut Vec<Vec<u8>>,
    min_samples: usize,
    hot_key_share_pct: u64,
) -> KeySplit {
    samples.retain(|k| {
        lo.is_none_or(|lo| k.as_slice() >= lo) && hi.is_none_or(|hi| k.as_slice() < hi)
    });
    let n = samples.len();
    if n < min_samples.max(1) {
        return KeySplit::TooFewSamples;
    }
    samples.sort_unstable();
    let mut top = (0usize, 0usize);
    let mut run = (0usize, 0usize);
    for i in 0..n {
        if i > 0 && samples[i] == samples[run.0] {
            run.1 += 1;
        } else {
            run = (i, 1);
        }
        if run.1 > top.1 {
            top = run;
        }
    }
    if (top.1 as u64) * 100 >= hot_key_share_pct * n as u64 {
        return KeySplit::HotKey(samples[top.0].clone());
    }
    let mut best: Option<(usize, usize)> = None;
    for i in 1..n {
        if samples[i] != samples[i - 1] {
            let imbalance = i.abs_diff(n - i);
            if best.is_none_or(|(b, _)| imbalance < b) {
                best = Some((imbalance, i));
            }
        }
    }
    match best {
        Some((_, i)) => KeySplit::Split(samples[i].clone()),
        None => KeySplit::HotKey(samples[top.0].clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    #[test]
    fn key_split_is_the_weighted_median_inside_the_range() {
        let mut s: Vec<Vec<u8>> = (0..100)
            .map(|i| k(&format!("k{:03}", i * i / 100)))
            .collect();
        s.push(k("a-below"));
        s.push(k("z-above"));
        match choose_key_split(Some(b"k"), Some(b"l"), &mut s, 32, 95) {
            KeySplit::Split(at) => {
                assert!(at.as_slice() > b"k000".as_slice(), "{at:?}");
                let left = s.iter().filter(|x| **x < at).count();
                assert!((40..=60).contains(&left), "{left}");
                assert_eq!(s.len(), 100, "samples outside the range are dropped");
            }
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn one_hot_key_or_too_few_samples_do_not_split() {
        let mut s = vec![k("hot"); 97];
        s.extend([k("a"), k("b"), k("c")]);
        assert_eq!(
            choose_key_split(None, None, &mut s, 32, 95),
            KeySplit::HotKey(k("hot"))
        );
        let mut s = vec![k("a"), k("b")];
        assert_eq!(
            choose_key_split(None, None, &mut s, 32, 95),
            KeySplit::TooFewSamples
        );
    }

    #[test]
    fn scaled_hashes_cover_every_partition_in_order() {
        assert_eq!(scaled(0, 4), 0);
        assert_eq!(scaled(u64::MAX, 4), 3);
        assert_eq!(scaled(1 << 63, 4), 2);
        assert_eq!(scaled(u64::MAX, 0), 0);
    }

    #[test]
    fn key_samples_fill_then_stay_bounded() {
        let s = KeySamples::default();
        for i in 0..10_000u32 {
            s.maybe_sample(&i.to_be_bytes(), SAMPLE_MILLI_PER_SAMPLE);
        }
        assert_eq!(s.recorded(), 10_000, "probability one samples every call");
        assert_eq!(s.samples().len(), SAMPLE_SLOTS);
        let never = KeySamples::default();
        never.maybe_sample(b"x", 0);
        assert_eq!(never.recorded(), 0);
    }
}
