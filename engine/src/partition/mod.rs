//! Partitioning strategies behind one [`Partitioner`] trait, for the partitioning study
//! (`hashlog-bench study`, docs/STUDY.md).
//!
//! - [`FixedHash`]: N even ranges of the xxh3 key hash ([`crate::key::key_hash`]), never split.
//! - [`ConsistentHash`]: a ring of nodes with virtual nodes; adding a node moves ~1/(N+1) of
//!   the keys, all to the new node.
//! - [`KeyRange`]: order-preserving ranges of the raw key bytes, split points taken as the
//!   quantiles of a key sample.
//! - [`CapacityRanges`]: hash ranges that split for heat, delegating the split decision to the
//!   capacity layer ([`crate::capacity::TableCapacity`]); the partitioner mirrors its map.
//!
//! Every strategy maps each key to exactly one partition index in `0..partition_count()`.
//! [`PartitioningStrategy`] (`strategy.rs`) is the per-table setting that makes a real table's
//! capacity partitions route as one of them (docs/CAPACITY.md).

mod strategy;

use std::sync::Arc;

use crate::capacity::TableCapacity;
use crate::key::key_hash;

pub use strategy::{
    BadPartitioning, PartitioningStrategy, CONSISTENT_VNODES_DEFAULT, PARTITIONING_TAG,
};

/// Maps partition keys to partitions.
pub trait Partitioner: Send + Sync {
    /// Short name for reports.
    fn name(&self) -> &'static str;
    /// Number of partitions now.
    fn partition_count(&self) -> usize;
    /// The partition of `key`, in `0..partition_count()`.
    fn partition_of(&self, key: &[u8]) -> usize;
    /// Re-reads the layout if it can change (split-for-heat); true when it changed.
    fn refresh(&mut self) -> bool {
        false
    }
}

/// Start hashes of `n` even ranges of the 64-bit hash space (the first is 0).
pub fn even_starts(n: usize) -> Vec<u64> {
    let n = n.max(1) as u128;
    (0..n).map(|i| (i * (1u128 << 64) / n) as u64).collect()
}

fn route(starts: &[u64], hash: u64) -> usize {
    starts.partition_point(|&s| s <= hash).saturating_sub(1)
}

/// N fixed, even ranges of the xxh3 hash of the partition key.
#[derive(Debug, Clone)]
pub struct FixedHash {
    starts: Vec<u64>,
}

impl FixedHash {
    /// `n` partitions (at least one).
    pub fn new(n: usize) -> FixedHash {
        FixedHash {
            starts: even_starts(n),
        }
    }

    /// The first hash of each partition.
    pub fn starts(&self) -> &[u64] {
        &self.starts
    }
}

impl Partitioner for FixedHash {
    fn name(&self) -> &'static str {
        "fixed-hash"
    }
    fn partition_count(&self) -> usize {
        self.starts.len()
    }
    fn partition_of(&self, key: &[u8]) -> usize {
        route(&self.starts, key_hash(key))
    }
}

/// Consistent hashing: each node owns `vnodes` points on a ring of 64-bit hashes; a key belongs
/// to the node of the first point at or after its hash (wrapping).
#[derive(Debug, Clone)]
pub struct ConsistentHash {
    vnodes: usize,
    nodes: usize,
    /// (point, node), sorted by point.
    ring: Vec<(u64, usize)>,
}

impl ConsistentHash {
    /// `nodes` nodes with `vnodes` virtual nodes each.
    pub fn new(nodes: usize, vnodes: usize) -> ConsistentHash {
        let mut c = ConsistentHash {
            vnodes: vnodes.max(1),
            nodes: 0,
            ring: Vec::new(),
        };
        for _ in 0..nodes.max(1) {
            c.add_node();
        }
        c
    }

    /// Adds a node (index `partition_count()` before the call) and returns its index.
    pub fn add_node(&mut self) -> usize {
        let node = self.nodes;
        self.nodes += 1;
        for v in 0..self.vnodes {
            let point = key_hash(format!("node-{node}/vnode-{v}").as_bytes());
            self.ring.push((point, node));
        }
        self.ring.sort_unstable();
        node
    }

    /// The node owning key hash `h`: the node of the first ring point at or after it
    /// (wrapping).
    #[inline]
    pub fn node_of_hash(&self, h: u64) -> usize {
        let i = self.ring.partition_point(|&(p, _)| p < h);
        self.ring
            .get(i)
            .or_else(|| self.ring.first())
            .map_or(0, |&(_, n)| n)
    }

    /// Virtual nodes per node.
    pub fn vnodes(&self) -> usize {
        self.vnodes
    }
}

impl Partitioner for ConsistentHash {
    fn name(&self) -> &'static str {
        "consistent"
    }
    fn partition_count(&self) -> usize {
        self.nodes
    }
    fn partition_of(&self, key: &[u8]) -> usize {
        self.node_of_hash(key_hash(key))
    }
}

/// Order-preserving ranges of the raw key bytes. Partition `i` holds keys `k` with
/// `split[i-1] <= k < split[i]`.
#[derive(Debug, Clone)]
pub struct KeyRange {
    splits: Vec<Vec<u8>>,
}

impl KeyRange {
    /// Up to `n` ranges whose split points are the `i/n` quantiles of `sample` (duplicates
    /// collapse, so a small or repetitive sample gives fewer partitions).
    pub fn from_sample(n: usize, mut sample: Vec<Vec<u8>>) -> KeyRange {
        sample.sort_unstable();
        let n = n.max(1);
        let mut splits: Vec<Vec<u8>> = Vec::with_capacity(n - 1);
        if !sample.is_empty() {
            for i in 1..n {
                let k = &sample[i * sample.len() / n];
                if splits.last() != Some(k) && !sample[0].eq(k) {
                    splits.push(k.clone());
                }
            }
        }
        KeyRange { splits }
    }

    /// Ranges with these split points (sorted; duplicates collapse): partition `i` starts at
    /// the `i`-th distinct point, partition 0 holds every key below the first.
    pub fn from_splits(mut splits: Vec<Vec<u8>>) -> KeyRange {
        splits.sort_unstable();
        splits.dedup();
        KeyRange { splits }
    }

    /// The split points (first key of partitions 1..).
    pub fn splits(&self) -> &[Vec<u8>] {
        &self.splits
    }
}

impl Partitioner for KeyRange {
    fn name(&self) -> &'static str {
        "key-range"
    }
    fn partition_count(&self) -> usize {
        self.splits.len() + 1
    }
    fn partition_of(&self, key: &[u8]) -> usize {
        self.splits.partition_point(|s| s.as_slice() <= key)
    }
}

/// Hash ranges that split for heat: the capacity layer decides the splits (sustained load near
/// the partition maximum, weighted-median split point, no split on a single hot key); this
/// partitioner mirrors its map, refreshed by [`Partitioner::refresh`].
pub struct CapacityRanges {
    capacity: Arc<TableCapacity>,
    starts: Vec<u64>,
    splits: u64,
}

impl std::fmt::Debug for CapacityRanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CapacityRanges")
            .field("partitions", &self.starts.len())
            .field("splits", &self.splits)
            .finish()
    }
}

impl CapacityRanges {
    /// Mirrors `capacity`'s partition map.
    pub fn new(capacity: Arc<TableCapacity>) -> CapacityRanges {
        let mut c = CapacityRanges {
            capacity,
            starts: Vec::new(),
            splits: u64::MAX,
        };
        c.refresh();
        c
    }

    /// The controller it mirrors.
    pub fn capacity(&self) -> &Arc<TableCapacity> {
        &self.capacity
    }

    /// Splits the controller reported at the last refresh.
    pub fn splits(&self) -> u64 {
        self.splits
    }
}

impl Partitioner for CapacityRanges {
    fn name(&self) -> &'static str {
        "split-for-heat"
    }
    fn partition_count(&self) -> usize {
        self.starts.len().max(1)
    }
    fn partition_of(&self, key: &[u8]) -> usize {
        route(&self.starts, key_hash(key))
    }
    fn refresh(&mut self) -> bool {
        if self.capacity.partition_count() == self.starts.len() && self.splits != u64::MAX {
            return false;
        }
        let stats = self.capacity.stats();
        self.starts = stats.partitions.iter().map(|p| p.start).collect();
        self.splits = stats.splits;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::{CapacityConfig, CapacityMode, Op, SimClock};

    fn key(i: u64) -> Vec<u8> {
        format!("user{i:012}").into_bytes()
    }

    #[test]
    fn every_key_maps_to_exactly_one_partition_in_range() {
        let sample: Vec<Vec<u8>> = (0..1000).map(|i| key(i * 10)).collect();
        let parts: Vec<Box<dyn Partitioner>> = vec![
            Box::new(FixedHash::new(7)),
            Box::new(ConsistentHash::new(7, 64)),
            Box::new(KeyRange::from_sample(7, sample)),
        ];
        for p in &parts {
            let mut seen = vec![0u64; p.partition_count()];
            for i in 0..20_000 {
                let k = key(i);
                let a = p.partition_of(&k);
                assert!(a < p.partition_count(), "{}: {a}", p.name());
                assert_eq!(a, p.partition_of(&k), "{} is not a function", p.name());
                seen[a] += 1;
            }
            assert!(seen.iter().all(|&c| c > 0), "{}: {seen:?}", p.name());
        }
    }

    #[test]
    fn fixed_hash_ranges_are_even_and_balanced() {
        let p = FixedHash::new(8);
        assert_eq!(p.starts()[0], 0);
        assert_eq!(p.starts()[4], 1 << 63);
        let mut counts = [0u64; 8];
        for i in 0..80_000 {
            counts[p.partition_of(&key(i))] += 1;
        }
        assert!(
            counts.iter().all(|&c| (9_000..11_000).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn consistent_hashing_moves_about_one_in_n_keys_only_to_the_new_node() {
        let mut p = ConsistentHash::new(8, 128);
        let keys: Vec<Vec<u8>> = (0..50_000).map(key).collect();
        let before: Vec<usize> = keys.iter().map(|k| p.partition_of(k)).collect();
        let new = p.add_node();
        assert_eq!(new, 8);
        let mut moved = 0;
        for (k, b) in keys.iter().zip(&before) {
            let a = p.partition_of(k);
            if a != *b {
                assert_eq!(a, new, "a key moved between old nodes");
                moved += 1;
            }
        }
        let frac = moved as f64 / keys.len() as f64;
        // Expected 1/9 = 0.111; 128 vnodes keep the node's share within a few percent.
        assert!((0.08..0.15).contains(&frac), "moved {frac}");
    }

    #[test]
    fn key_range_preserves_order_and_balances_its_sample() {
        let sample: Vec<Vec<u8>> = (0..4000).rev().map(|i| key(i * 3)).collect();
        let p = KeyRange::from_sample(4, sample);
        assert_eq!(p.partition_count(), 4);
        let mut last = 0;
        let mut counts = [0u64; 4];
        for i in 0..12_000 {
            let a = p.partition_of(&key(i));
            assert!(a >= last, "order broken at {i}");
            last = a;
            counts[a] += 1;
        }
        assert!(counts.iter().all(|&c| c == 3000), "{counts:?}");
        // Keys below the first split and above the last.
        assert_eq!(p.partition_of(b""), 0);
        assert_eq!(p.partition_of(b"zzz"), 3);
        // A degenerate sample gives one partition.
        let one = KeyRange::from_sample(4, vec![key(1); 10]);
        assert_eq!(one.partition_count(), 1);
    }

    #[test]
    fn capacity_ranges_mirror_the_controller_and_follow_a_split() {
        let clock = SimClock::new(0);
        let cfg = CapacityConfig {
            split_sustain_secs: 2,
            split_min_samples: 8,
            ..CapacityConfig::default()
        };
        let cap = Arc::new(TableCapacity::new(
            CapacityMode::on_demand(),
            0,
            cfg,
            Arc::new(clock.clone()),
        ));
        let mut p = CapacityRanges::new(Arc::clone(&cap));
        let n0 = p.partition_count();
        assert_eq!(n0, cap.partition_count());
        // Hammer many keys of partition 0 at its maximum (1000 WCU/s) for a while.
        let keys: Vec<Vec<u8>> = (0..200_000)
            .map(key)
            .filter(|k| p.partition_of(k) == 0)
            .take(512)
            .collect();
        for step in 0..20_000u64 {
            clock.set(step * 1_000);
            let k = &keys[(step as usize) % keys.len()];
            if let Ok(t) = cap.admit(Op::Write, key_hash(k)) {
                cap.charge(t, 1.0);
            }
        }
        cap.tick();
        assert!(p.refresh(), "no split after 20 s at the maximum");
        assert!(p.partition_count() > n0);
        assert_eq!(p.splits(), cap.stats().splits);
        for k in &keys {
            assert!(p.partition_of(k) < p.partition_count());
        }
    }
}
