//! Capacity partitions: ranges of the routing-hash space, each with its buckets, counters and
//! a small sample of the hashes it served; the map that routes a hash to one; and the choice of
//! a split point from the samples.

use std::cell::Cell;
use std::sync::atomic::{
    AtomicPtr, AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
};
use std::sync::Arc;

use parking_lot::Mutex;

use super::bucket::{CreditBucket, Weighted};
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
    /// Milli-units consumed (charged). Also the debits of the dimension's allowance bucket
    /// ([`Partition::share`]): a charge is one add here.
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

/// One capacity partition: the hash range `[start, last]`.
///
/// Layout: a request touches only the first two cache lines — `max` and `share[0]` fill the
/// first, `share[1]` and the counters the second (`repr(C)`, aligned to a line) — so a request
/// on a partition not in cache waits for two lines fetched in parallel instead of three or
/// four scattered ones; the range, size, samples and maintenance state follow.
///
/// The buckets keep credit; their debits are the consumed counters (`ops[i].consumed_milli`):
/// `share[i]` is debited by dimension `i`'s counter, `max` by both, weighted
/// ([`Partition::max_debits`]). A charge is one atomic add.
#[derive(Debug)]
#[repr(C, align(64))]
pub(crate) struct Partition {
    /// Hard maximum, in "combined" milli-units: a read unit costs `write_max`, a write unit
    /// `read_max`, and the rate is `read_max · write_max` per second, so reads and writes
    /// share the maximum linearly and exactly. Its debits are [`Partition::max_debits`].
    pub max: CreditBucket,
    /// The partition's allowance per dimension (even share, raised by adaptive capacity), with
    /// burst. Its debits are `ops[i].consumed_milli`.
    pub share: [CreditBucket; 2],
    pub ops: [OpCounters; 2],
    pub id: u64,
    pub start: u64,
    pub last: u64,
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
        max: CreditBucket,
        share: [CreditBucket; 2],
    ) -> Partition {
        Partition {
            max,
            share,
            ops: Default::default(),
            id,
            start,
            last,
            size_bytes: AtomicU64::new(0),
            samples: std::array::from_fn(|_| AtomicU64::new(0)),
            recorded: AtomicU64::new(0),
            track: Mutex::new(Track::default()),
        }
    }

    /// The debits of the maximum bucket: `weights[0]` per read milli-unit consumed plus
    /// `weights[1]` per write milli-unit.
    #[inline]
    pub fn max_debits(&self, weights: [u64; 2]) -> Weighted<'_, 2> {
        Weighted {
            counters: [&self.ops[0].consumed_milli, &self.ops[1].consumed_milli],
            weights,
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
///
/// Routing is two-level: `route_first[b]` is the partition holding the first hash of bucket
/// `b` (the top `64 − route_shift` bits of the hash) and `route_first[b + 1]` bounds the last
/// one, so a lookup reads one index entry and compares the hash with the starts between the
/// two — none in most buckets (about two buckets per partition), and never more than a binary
/// search over that stretch when splits crowd many partitions into one bucket.
#[derive(Debug)]
pub(crate) struct PartitionMap {
    pub epoch: u64,
    pub starts: Vec<u64>,
    pub parts: Vec<Arc<Partition>>,
    /// How a key finds its partition when the table is not partitioned by hash ranges
    /// (`routing.rs`; [`Layout::Hash`] routes by `starts`, through the route index).
    pub layout: Layout,
    route_shift: u32,
    route_first: Box<[u32]>,
}

/// Candidate starts a route compares one by one; more take a binary search.
const ROUTE_SCAN: usize = 8;
/// The route index has at most `2^ROUTE_BITS_MAX` buckets (256 KiB).
const ROUTE_BITS_MAX: u32 = 16;

impl PartitionMap {
    pub fn new(epoch: u64, parts: Vec<Arc<Partition>>) -> PartitionMap {
        PartitionMap::with_layout(epoch, parts, Layout::Hash)
    }

    /// A map whose keys route by `layout`.
    pub fn with_layout(epoch: u64, parts: Vec<Arc<Partition>>, layout: Layout) -> PartitionMap {
        let starts: Vec<u64> = parts.iter().map(|p| p.start).collect();
        let (route_shift, route_first) = route_index(&starts);
        PartitionMap {
            epoch,
            starts,
            parts,
            layout,
            route_shift,
            route_first,
        }
    }

    /// Index of the partition holding `hash`.
    #[inline]
    pub fn route(&self, hash: u64) -> usize {
        let b = (hash >> self.route_shift) as usize;
        if let (Some(&lo), Some(&hi)) = (self.route_first.get(b), self.route_first.get(b + 1)) {
            let (lo, hi) = (lo as usize, hi as usize);
            if hi.wrapping_sub(lo) <= ROUTE_SCAN {
                if let Some(candidates) = self.starts.get(lo + 1..=hi) {
                    return lo + candidates.iter().filter(|&&s| s <= hash).count();
                }
            }
        }
        self.route_crowded(hash)
    }

    /// [`PartitionMap::route`] in a bucket holding more than `ROUTE_SCAN` starts: a binary
    /// search over them.
    #[cold]
    #[inline(never)]
    fn route_crowded(&self, hash: u64) -> usize {
        let b = (hash >> self.route_shift) as usize;
        let (Some(&lo), Some(&hi)) = (self.route_first.get(b), self.route_first.get(b + 1)) else {
            return self.route_search(hash);
        };
        let lo = lo as usize;
        match self.starts.get(lo + 1..=hi as usize) {
            Some(candidates) => lo + candidates.partition_point(|&s| s <= hash),
            None => self.route_search(hash),
        }
    }

    /// [`PartitionMap::route`] by binary search over all starts (the reference).
    pub fn route_search(&self, hash: u64) -> usize {
        self.starts
            .partition_point(|&s| s <= hash)
            .saturating_sub(1)
    }
}

/// The first level of the routing map over sorted `starts`: the shift that leaves a hash's
/// bucket number (about two buckets per partition, at most `2^ROUTE_BITS_MAX`) and, per
/// bucket, the partition holding its first hash, plus a last entry `starts.len() − 1`.
fn route_index(starts: &[u64]) -> (u32, Box<[u32]>) {
    let n = starts.len().max(1);
    // ceil(log2 n) + 1, in 1..=ROUTE_BITS_MAX.
    let bits = (usize::BITS - (n - 1).leading_zeros() + 1).clamp(1, ROUTE_BITS_MAX);
    let shift = 64 - bits;
    let buckets = 1usize << bits;
    let mut first = Vec::with_capacity(buckets + 1);
    let mut j = 0usize;
    for b in 0..buckets {
        let bucket_start = (b as u64) << shift;
        while starts.get(j + 1).is_some_and(|&s| s <= bucket_start) {
            j += 1;
        }
        first.push(j as u32);
    }
    first.push(starts.len().saturating_sub(1) as u32);
    (shift, first.into_boxed_slice())
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
    // 0 until first use (xorshift never reaches 0 from a non-zero state); a `const`
    // initializer makes each access a plain thread-local read.
    static RNG: Cell<u64> = const { Cell::new(0) };
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
        if x == 0 {
            x = seed();
        }
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
    use crate::capacity::bucket::TokenBucket;

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

    /// A map over partitions starting at `starts` (sorted, the first 0).
    fn map_of(starts: &[u64]) -> PartitionMap {
        let bucket = || CreditBucket::new(0, 0, 0, 0);
        let parts = starts
            .iter()
            .enumerate()
            .map(|(i, &start)| {
                let last = starts.get(i + 1).map_or(u64::MAX, |next| next - 1);
                Arc::new(Partition::new(
                    i as u64,
                    start,
                    last,
                    bucket(),
                    [bucket(), bucket()],
                ))
            })
            .collect();
        PartitionMap::new(0, parts)
    }

    /// Every hash where a route could go wrong: each start and its neighbours, every bucket
    /// boundary of the route index, the ends of the space, and `random` more.
    fn probe_hashes(m: &PartitionMap, random: &[u64]) -> Vec<u64> {
        let mut hs = vec![0, 1, u64::MAX - 1, u64::MAX];
        for &s in &m.starts {
            hs.extend([s.wrapping_sub(1), s, s.wrapping_add(1)]);
        }
        for b in 0..m.route_first.len() as u64 - 1 {
            let first = b << m.route_shift;
            hs.extend([first.wrapping_sub(1), first, first.wrapping_add(1)]);
        }
        hs.extend_from_slice(random);
        hs
    }

    fn assert_routes_agree(m: &PartitionMap, random: &[u64]) {
        for h in probe_hashes(m, random) {
            let fast = m.route(h);
            assert_eq!(fast, m.route_search(h), "hash {h:#x}");
            let p = &m.parts[fast];
            assert!(p.start <= h && h <= p.last, "hash {h:#x} routed to {p:?}");
        }
    }

    #[test]
    fn hot_fields_fill_the_first_two_cache_lines() {
        let p = Partition::new(0, 0, u64::MAX, CreditBucket::new(0, 0, 0, 0), {
            [CreditBucket::new(0, 0, 0, 0), CreditBucket::new(0, 0, 0, 0)]
        });
        let base = std::ptr::addr_of!(p) as usize;
        assert_eq!(base % 64, 0);
        let line = |f: usize| (f - base) / 64;
        assert_eq!(std::mem::size_of::<TokenBucket>(), 32);
        assert_eq!(std::mem::size_of::<CreditBucket>(), 32);
        assert_eq!(line(std::ptr::addr_of!(p.max) as usize), 0);
        assert_eq!(line(std::ptr::addr_of!(p.share[0]) as usize + 31), 0);
        assert_eq!(line(std::ptr::addr_of!(p.share[1]) as usize), 1);
        assert_eq!(line(std::ptr::addr_of!(p.ops[1]) as usize + 15), 1);
    }

    #[test]
    fn routing_finds_the_range() {
        let r = even_ranges(4);
        assert_eq!(r[0].0, 0);
        assert_eq!(r[3].1, u64::MAX);
        assert_eq!(r[1].0, r[0].1 + 1);
        let starts: Vec<u64> = r.iter().map(|x| x.0).collect();
        let m = map_of(&starts);
        assert_eq!(m.route(0), 0);
        assert_eq!(m.route(r[1].0 - 1), 0);
        assert_eq!(m.route(r[1].0), 1);
        assert_eq!(m.route(u64::MAX), 3);
    }

    #[test]
    fn route_index_sizes_and_crowded_buckets() {
        // One partition: every hash goes to it.
        let m = map_of(&[0]);
        assert_routes_agree(&m, &[]);
        // Index about two buckets per partition, capped.
        assert_eq!(map_of(&[0]).route_first.len(), 3);
        let even = |n: usize| even_ranges(n).into_iter().map(|r| r.0).collect::<Vec<_>>();
        assert_eq!(map_of(&even(1_000)).route_first.len(), 2_049);
        assert_eq!(map_of(&even(1_024)).route_first.len(), 2_049);
        assert_eq!(map_of(&even(1_025)).route_first.len(), 4_097);
        assert_eq!(map_of(&even(100_000)).route_first.len(), (1 << 16) + 1);
        for n in [2, 3, 4, 7, 1_000, 1_025, 100_000] {
            assert_routes_agree(&map_of(&even(n)), &[]);
        }
        // 500 partitions inside one bucket (a hot range split again and again): the binary
        // search branch; 5 in one bucket: the scan branch.
        for crowd in [5u64, 500] {
            let mut starts = vec![0u64];
            starts.extend((1..=crowd).map(|i| (7 << 60) + i * 1_000));
            starts.push(9 << 60);
            assert_routes_agree(&map_of(&starts), &[(7 << 60) + 123_456]);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// On random maps, before and after random splits (anywhere, or crowded into a narrow
        /// range as repeated heat splits of one hot range make them), the indexed route equals
        /// the binary search and lands in the partition's range.
        #[test]
        fn fast_route_equals_binary_search_on_random_maps_and_after_splits(
            initial in 1usize..700,
            splits in proptest::collection::vec(
                (proptest::prelude::any::<u64>(), proptest::prelude::any::<u64>(), 0u8..4),
                0..300,
            ),
            random in proptest::collection::vec(proptest::prelude::any::<u64>(), 64),
        ) {
            let mut ranges = even_ranges(initial);
            let narrow = ranges[ranges.len() / 2];
            for (k, &(pick, at, mode)) in splits.iter().enumerate() {
                let i = if mode == 0 {
                    // Crowd: split the partition holding a point near the middle range's start.
                    let h = narrow.0.saturating_add(pick % 4_096);
                    ranges.partition_point(|r| r.0 <= h) - 1
                } else {
                    (pick % ranges.len() as u64) as usize
                };
                let (start, last) = ranges[i];
                if last > start {
                    // Right child starts in (start, last].
                    let at = start + 1 + at % (last - start);
                    ranges[i] = (start, at - 1);
                    ranges.insert(i + 1, (at, last));
                }
                if k % 50 == 49 || k + 1 == splits.len() {
                    let starts: Vec<u64> = ranges.iter().map(|r| r.0).collect();
                    assert_routes_agree(&map_of(&starts), &random);
                }
            }
            let starts: Vec<u64> = ranges.iter().map(|r| r.0).collect();
            assert_routes_agree(&map_of(&starts), &random);
        }
    }
}
