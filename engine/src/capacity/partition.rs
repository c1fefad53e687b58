//! Capacity partitions: ranges of the routing-hash space, each with its buckets, counters and
//! a small sample of the hashes it served; the map that routes a hash to one; and the choice of
//! a split point from the samples.

use std::cell::Cell;
use std::sync::atomic::{
    AtomicPtr, AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
};
use std::sync::Arc;

use parking_lot::Mutex;

use super::bucket::TokenBucket;
use super::routing::Layout;

/// Key-hash samples each partition keeps (a ring overwritten at random once full).
pub const SAMPLE_SLOTS: usize = 128;
/// A charge is sampled with probability `units / SAMPLE_UNITS_PER_SAMPLE` (capped at 1), so
/// samples weigh keys by the capacity they consume.
pub const SAMPLE_MILLI_PER_SAMPLE: u64 = 16_000;

/// Why a split happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitReason {
    /// Sustained consumption near the partition maximum.
    Heat,
    /// The partition grew past the size limit.
    Size,
    /// The table's throughput needs more partitions (provisioned increase, on-demand peak).
    Throughput,
}

/// What a split-for-heat attempt decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitOutcome {
    /// Split so that the new right-hand partition starts at this hash.
    Split {
        /// First hash of the right child.
        at: u64,
    },
    /// One hash carries (almost) all the load: splitting cannot help.
    HotKey(u64),
    /// Too few samples to choose.
    TooFewSamples,
}

/// Chooses where to split `[start, last]` from the sampled hashes: the boundary between two
/// distinct sampled hashes that best balances the sample weight on both sides (the weighted
/// median), unless one hash holds at least `hot_key_share_pct` percent of the samples.
pub fn choose_split(
    start: u64,
    last: u64,
    samples: &mut Vec<u64>,
    min_samples: usize,
    hot_key_share_pct: u64,
) -> SplitOutcome {
    samples.retain(|h| *h >= start && *h <= last);
    let n = samples.len();
    if n < min_samples.max(1) {
        return SplitOutcome::TooFewSamples;
    }
    samples.sort_unstable();
    // Distinct values with their counts.
    let mut top = (samples[0], 0usize);
    let mut run = (samples[0], 0usize);
    for &h in samples.iter() {
        if h == run.0 {
            run.1 += 1;
        } else {
            run = (h, 1);
        }
        if run.1 > top.1 {
            top = run;
        }
    }
    if start == last || (top.1 as u64) * 100 >= hot_key_share_pct * n as u64 {
        return SplitOutcome::HotKey(top.0);
    }
    // Candidate boundaries: every index i where samples[i] != samples[i-1]; left = i samples.
    let mut best: Option<(usize, u64)> = None;
    for i in 1..n {
        if samples[i] != samples[i - 1] {
            let imbalance = i.abs_diff(n - i);
            if best.is_none_or(|(b, _)| imbalance < b) {
                best = Some((imbalance, samples[i]));
            }
        }
    }
    match best {
        Some((_, at)) => SplitOutcome::Split { at },
        None => SplitOutcome::HotKey(top.0),
    }
}

/// Per-dimension counters of one partition.
#[derive(Debug, Default)]
pub(crate) struct OpCounters {
    /// Milli-units consumed (charged).
    pub consumed_milli: AtomicU64,
    /// Requests refused.
    pub throttled: AtomicU64,
}

/// Maintenance-only state of a partition (touched by the tick, never by the hot path).
#[derive(Debug, Default, Clone)]
pub(crate) struct Track {
    pub last_consumed_milli: [u64; 2],
    pub last_throttled: [u64; 2],
    /// Microseconds the partition has been continuously hot.
    pub hot_us: u64,
    /// Microseconds each dimension has been cool (below half its allowance).
    pub cool_us: [u64; 2],
    /// A hot key was reported for the current hot period.
    pub hot_key_reported: bool,
}

/// One capacity partition: the hash range `[start, last]`. `repr(C)` keeps the fields the hot
/// path touches together at the front (three cache lines), the samples after them.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Partition {
    pub id: u64,
    pub start: u64,
    pub last: u64,
    /// Hard maximum, in "combined" milli-units: a read unit costs `write_max`, a write unit
    /// `read_max`, and the rate is `read_max · write_max` per second, so reads and writes
    /// share the maximum linearly and exactly.
    pub max: TokenBucket,
    /// The partition's allowance per dimension (even share, raised by adaptive capacity), with
    /// burst.
    pub share: [TokenBucket; 2],
    pub ops: [OpCounters; 2],
    pub size_bytes: AtomicU64,
    recorded: AtomicU64,
    samples: [AtomicU64; SAMPLE_SLOTS],
    pub track: Mutex<Track>,
}

impl Partition {
    pub fn new(
        id: u64,
        start: u64,
        last: u64,
        max: TokenBucket,
        share: [TokenBucket; 2],
    ) -> Partition {
        Partition {
            id,
            start,
            last,
            max,
            share,
            ops: Default::default(),
            size_bytes: AtomicU64::new(0),
            samples: std::array::from_fn(|_| AtomicU64::new(0)),
            recorded: AtomicU64::new(0),
            track: Mutex::new(Track::default()),
        }
    }

    /// Samples `hash` with probability proportional to `milli` consumed.
    #[inline]
    pub fn maybe_sample(&self, hash: u64, milli: u64) {
        let r = fast_rand();
        if r % SAMPLE_MILLI_PER_SAMPLE < milli {
            let n = self.recorded.fetch_add(1, Relaxed);
            let slot = if (n as usize) < SAMPLE_SLOTS {
                n as usize
            } else {
                ((r >> 32) as usize) % SAMPLE_SLOTS
            };
            self.samples[slot].store(hash, Relaxed);
        }
    }

    /// The samples recorded so far.
    pub fn samples(&self) -> Vec<u64> {
        let n = (self.recorded.load(Relaxed) as usize).min(SAMPLE_SLOTS);
        self.samples[..n].iter().map(|s| s.load(Relaxed)).collect()
    }

    /// Fraction of the hash space this partition covers.
    pub fn range_fraction(&self) -> f64 {
        ((self.last - self.start) as f64 + 1.0) / 18_446_744_073_709_551_616.0
    }
}

/// The routing map: sorted range starts (the first is 0) and their partitions. Replaced as a
/// whole on a split; `epoch` counts replacements.
#[derive(Debug)]
pub(crate) struct PartitionMap {
    pub epoch: u64,
    pub starts: Vec<u64>,
    pub parts: Vec<Arc<Partition>>,
    /// How a key finds its partition when the table is not partitioned by hash ranges
    /// (`routing.rs`; [`Layout::Hash`] routes by `starts`).
    pub layout: Layout,
}

impl PartitionMap {
    pub fn new(epoch: u64, parts: Vec<Arc<Partition>>) -> PartitionMap {
        PartitionMap::with_layout(epoch, parts, Layout::Hash)
    }

    /// A map whose keys route by `layout`.
    pub fn with_layout(epoch: u64, parts: Vec<Arc<Partition>>, layout: Layout) -> PartitionMap {
        PartitionMap {
            epoch,
            starts: parts.iter().map(|p| p.start).collect(),
            parts,
            layout,
        }
    }

    /// Index of the partition holding `hash`.
    #[inline]
    pub fn route(&self, hash: u64) -> usize {
        self.starts
            .partition_point(|&s| s <= hash)
            .saturating_sub(1)
    }
}

/// The current routing map, readable without writing shared memory.
///
/// Readers do one `Acquire` load of a pointer. A new map is published by storing a new
/// pointer; every map ever published stays alive (in `all`) until the cell drops, so a reader
/// holding `&PartitionMap` can never see it freed. Memory: one map per split batch (a map is
/// 16 bytes per partition), bounded by the number of splits a table ever makes.
#[derive(Debug)]
pub(crate) struct MapCell {
    current: AtomicPtr<PartitionMap>,
    all: parking_lot::Mutex<Vec<Arc<PartitionMap>>>,
}

impl MapCell {
    pub fn new(map: PartitionMap) -> MapCell {
        let arc = Arc::new(map);
        let ptr = Arc::as_ptr(&arc).cast_mut();
        MapCell {
            current: AtomicPtr::new(ptr),
            all: parking_lot::Mutex::new(vec![arc]),
        }
    }

    /// The current map.
    #[inline]
    pub fn load(&self) -> &PartitionMap {
        // SAFETY: `current` only ever holds pointers obtained from `Arc::as_ptr` of maps that
        // are pushed into `all` before being published, and `all` never removes an element
        // while `self` lives, so the pointee is alive (and never mutated) for the lifetime of
        // `&self`.
        unsafe { &*self.current.load(Acquire) }
    }

    /// Publishes `map` as the current one.
    pub fn publish(&self, map: PartitionMap) {
        let arc = Arc::new(map);
        let ptr = Arc::as_ptr(&arc).cast_mut();
        self.all.lock().push(arc);
        self.current.store(ptr, Release);
    }
}

/// `n` even ranges of the hash space as `(start, last)`.
pub(crate) fn even_ranges(n: usize) -> Vec<(u64, u64)> {
    let n = n.max(1) as u128;
    let space = 1u128 << 64;
    (0..n)
        .map(|i| {
            let start = (i * space / n) as u64;
            let last = ((i + 1) * space / n - 1) as u64;
            (start, last)
        })
        .collect()
}

thread_local! {
    static RNG: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);
    NEXT.fetch_add(0x9e37_79b9_7f4a_7c15, Relaxed) | 1
}

/// A per-thread xorshift64* generator: no shared state on the hot path.
#[inline]
pub(crate) fn fast_rand() -> u64 {
    RNG.with(|c| {
        let mut x = c.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        c.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_point_is_the_weighted_median_not_the_midpoint() {
        // Load on [1000, 1100] of the range [0, u64::MAX], heavier near the low end.
        let mut s: Vec<u64> = (0..100).map(|i| 1000 + (i * i) / 100).collect();
        match choose_split(0, u64::MAX, &mut s, 32, 95) {
            SplitOutcome::Split { at } => {
                assert!((1000..=1100).contains(&at), "{at}");
                let left = s.iter().filter(|h| **h < at).count();
                assert!((40..=60).contains(&left), "{left}");
            }
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn a_single_hot_hash_is_not_split() {
        let mut s = vec![77u64; 64];
        assert_eq!(
            choose_split(0, 1000, &mut s, 32, 95),
            SplitOutcome::HotKey(77)
        );
        let mut s = vec![77u64; 97];
        s.extend([1, 2, 3]);
        assert_eq!(
            choose_split(0, 1000, &mut s, 32, 95),
            SplitOutcome::HotKey(77)
        );
        let mut s = vec![5u64; 10];
        assert_eq!(
            choose_split(0, 1000, &mut s, 32, 95),
            SplitOutcome::TooFewSamples
        );
    }

    #[test]
    fn routing_finds_the_range() {
        let r = even_ranges(4);
        assert_eq!(r[0].0, 0);
        assert_eq!(r[3].1, u64::MAX);
        assert_eq!(r[1].0, r[0].1 + 1);
        let starts: Vec<u64> = r.iter().map(|x| x.0).collect();
        let m = PartitionMap {
            epoch: 0,
            starts,
            parts: Vec::new(),
            layout: Layout::Hash,
        };
        assert_eq!(m.route(0), 0);
        assert_eq!(m.route(r[1].0 - 1), 0);
        assert_eq!(m.route(r[1].0), 1);
        assert_eq!(m.route(u64::MAX), 3);
    }
}
