//! The partitioning strategies in the capacity layer on a simulated clock: each routes as the
//! study's `Partitioner` of the same name, and each grows (or does not) as docs/CAPACITY.md
//! says.

use std::sync::Arc;
use std::time::Duration;

use super::clock::MICROS_PER_SEC;
use super::*;
use crate::partition::{
    CapacityRanges, ConsistentHash, FixedHash, KeyRange, Partitioner, PartitioningStrategy,
};

const START_US: u64 = 20_000 * 86_400 * MICROS_PER_SEC;

fn key(i: u64) -> Vec<u8> {
    format!("user{i:012}").into_bytes()
}

fn strategy(s: &str) -> PartitioningStrategy {
    s.parse().expect("strategy")
}

fn table(mode: CapacityMode, cfg: CapacityConfig, s: &str) -> (SimClock, Arc<TableCapacity>) {
    let clock = SimClock::new(START_US);
    let tc = TableCapacity::with_partitioning(mode, 0, cfg, Arc::new(clock.clone()), strategy(s));
    (clock, Arc::new(tc))
}

/// Splits quickly: 2 s of heat and 8 samples.
fn quick_split() -> CapacityConfig {
    CapacityConfig {
        split_sustain_secs: 2,
        split_min_samples: 8,
        ..CapacityConfig::default()
    }
}

/// Offers `per_sec` writes of one unit for `secs` simulated seconds in 1 ms steps, the i-th
/// on `keys[i % len]`, by partition-key bytes; returns how many were throttled.
fn offer(clock: &SimClock, tc: &TableCapacity, keys: &[Vec<u8>], per_sec: u64, secs: u64) -> u64 {
    let mut throttled = 0;
    let mut due = 0u64;
    let mut i = 0usize;
    for _ in 0..secs * 1000 {
        clock.advance(Duration::from_millis(1));
        due += per_sec;
        while due >= 1000 {
            due -= 1000;
            match tc.admit_key(Op::Write, &keys[i % keys.len()]) {
                Ok(t) => tc.charge(t, 1.0),
                Err(_) => throttled += 1,
            }
            i += 1;
        }
    }
    throttled
}

#[test]
fn each_strategy_routes_as_the_partitioner_of_the_same_name() {
    let keys: Vec<Vec<u8>> = (0..5000).map(key).collect();
    let prov = CapacityMode::provisioned(100, 100);
    // fixed-hash:8 is FixedHash::new(8).
    let (_, tc) = table(prov, CapacityConfig::default(), "fixed-hash:8");
    let fixed = FixedHash::new(8);
    assert_eq!(tc.partition_count(), 8);
    assert_eq!(tc.partitioning().partitioner_name(), fixed.name());
    for k in &keys {
        assert_eq!(tc.route_key(k), fixed.partition_of(k));
    }
    // consistent-hash:8:64 is ConsistentHash::new(8, 64).
    let (_, tc) = table(prov, CapacityConfig::default(), "consistent-hash:8:64");
    let ring = ConsistentHash::new(8, 64);
    assert_eq!(tc.partition_count(), 8);
    for k in &keys {
        assert_eq!(tc.route_key(k), ring.partition_of(k));
    }
    // hash-split is the split-for-heat partitioner that mirrors the controller.
    let (_, tc) = table(
        CapacityMode::on_demand(),
        CapacityConfig::default(),
        "hash-split",
    );
    let mirror = CapacityRanges::new(Arc::clone(&tc));
    assert_eq!(tc.partition_count(), 4);
    for k in &keys {
        assert_eq!(tc.route_key(k), mirror.partition_of(k));
    }
    // key-range:4 starts as one range, then lays out 4 at the quantiles of the first keys
    // it admits; it then routes as KeyRange over those split points, in key order.
    let (clock, tc) = table(prov, quick_split(), "key-range:4");
    assert_eq!(tc.partition_count(), 1);
    assert_eq!(tc.key_splits(), Some(Vec::new()));
    let shuffled: Vec<Vec<u8>> = (0..5000u64).map(|i| key((i * 7919) % 5000)).collect();
    // About 3,600 writes, one in 16 sampled: the 128-key sample fills in about 23 s.
    offer(&clock, &tc, &shuffled, 90, 40);
    assert_eq!(tc.partition_count(), 4, "{:?}", tc.stats().events);
    let splits = tc.key_splits().expect("key-range");
    let ranges = KeyRange::from_splits(splits.clone());
    assert_eq!(ranges.partition_count(), 4);
    let mut counts = [0u64; 4];
    let mut last = 0;
    for k in &keys {
        let p = tc.route_key(k);
        assert_eq!(p, ranges.partition_of(k));
        assert!(p >= last, "key order broken at {k:?}");
        last = p;
        counts[p] += 1;
    }
    // Quantiles of a 128-key sample of a uniform load: each range holds a quarter of the
    // keys, ± 4.5 standard deviations (± 860 of 1,250).
    assert!(
        counts.iter().all(|&c| (400..=2100).contains(&c)),
        "{counts:?} {splits:?}"
    );
    assert!(matches!(
        tc.stats().events.first(),
        Some(CapacityEvent::KeySplit {
            reason: SplitReason::Throughput,
            parent_id: 0,
            ..
        })
    ));
}

/// Keys of partition `p` of `tc`, `n` of them.
fn keys_of(tc: &TableCapacity, p: usize, n: usize) -> Vec<Vec<u8>> {
    (0..1_000_000)
        .map(key)
        .filter(|k| tc.route_key(k) == p)
        .take(n)
        .collect()
}

#[test]
fn fixed_hash_never_splits_under_heat_or_size_while_hash_split_does() {
    let mode = CapacityMode::provisioned(1000, 1000);
    let (clock, split) = table(mode, quick_split(), "hash-split");
    let (fclock, fixed) = table(mode, quick_split(), "fixed-hash:1");
    // 1,000 WCU/s on many keys of one partition for 20 s: at its maximum.
    let keys = keys_of(&split, 0, 512);
    offer(&clock, &split, &keys, 1000, 20);
    offer(&fclock, &fixed, &keys, 1000, 20);
    let (s, f) = (split.stats(), fixed.stats());
    assert!(
        s.splits > 0 && split.partition_count() > 1,
        "{:?}",
        s.events
    );
    assert_eq!(f.splits, 0, "{:?}", f.events);
    assert_eq!(fixed.partition_count(), 1);
    // Nor for size, nor for a higher provisioned rate.
    let big = fixed.config().partition_size_max_bytes + 1;
    fixed.report_size(0, big);
    fixed.add_size_key(0, b"k", 1);
    fixed.set_provisioned(9000, 9000);
    fclock.advance(Duration::from_secs(1));
    fixed.tick();
    assert_eq!(fixed.partition_count(), 1);
    assert_eq!(fixed.stats().splits, 0);
}

#[test]
fn consistent_hash_adds_a_node_for_heat_and_routes_as_the_larger_ring() {
    let (clock, tc) = table(
        CapacityMode::provisioned(1000, 1000),
        quick_split(),
        "consistent-hash:4:64",
    );
    assert_eq!(tc.partition_count(), 4);
    let keys = keys_of(&tc, 0, 512);
    offer(&clock, &tc, &keys, 1000, 20);
    let st = tc.stats();
    assert!(tc.partition_count() > 4, "{:?}", st.events);
    assert!(
        matches!(
            st.events.first(),
            Some(CapacityEvent::NodeAdded {
                reason: SplitReason::Heat,
                nodes: 5,
                hot_partition_id: Some(0),
                ..
            })
        ),
        "{:?}",
        st.events
    );
    assert_eq!(st.splits, tc.partition_count() as u64 - 4);
    let ring = ConsistentHash::new(tc.partition_count(), 64);
    for k in (0..5000).map(key) {
        assert_eq!(tc.route_key(&k), ring.partition_of(&k));
    }
    // Ring nodes are not hash ranges: each reports the whole hash space.
    assert!(st
        .partitions
        .iter()
        .all(|p| (p.start, p.last) == (0, u64::MAX)));
}

#[test]
fn consistent_hash_reports_a_hot_key_instead_of_adding_nodes() {
    let (clock, tc) = table(
        CapacityMode::provisioned(1000, 1000),
        quick_split(),
        "consistent-hash:4:64",
    );
    let one = vec![key(7)];
    assert!(offer(&clock, &tc, &one, 1200, 20) > 0);
    let st = tc.stats();
    assert_eq!(tc.partition_count(), 4);
    assert!(
        st.events.iter().any(|e| matches!(e,
            CapacityEvent::HotKey { hash, .. } if *hash == crate::key::key_hash(&one[0]))),
        "{:?}",
        st.events
    );
}

#[test]
fn consistent_hash_adds_the_nodes_a_higher_rate_needs() {
    let (_, tc) = table(
        CapacityMode::provisioned(100, 100),
        CapacityConfig::default(),
        "consistent-hash:2:16",
    );
    assert_eq!(tc.partition_count(), 2);
    tc.set_provisioned(100, 5000);
    assert_eq!(tc.partition_count(), 5);
    let ring = ConsistentHash::new(5, 16);
    for k in (0..2000).map(key) {
        assert_eq!(tc.route_key(&k), ring.partition_of(&k));
    }
    // On-demand from the start: the instant capacity (4,000 WRU) needs 4.
    let (_, od) = table(
        CapacityMode::on_demand(),
        CapacityConfig::default(),
        "consistent-hash:2:16",
    );
    assert_eq!(od.partition_count(), 4);
}

#[test]
fn key_range_splits_a_hot_range_at_an_observed_key_and_keeps_key_order() {
    let (clock, tc) = table(
        CapacityMode::provisioned(100, 1000),
        quick_split(),
        "key-range",
    );
    assert_eq!(tc.partition_count(), 1);
    // Hot: 1,000 WCU/s over keys user…1000–1999 only.
    let hot: Vec<Vec<u8>> = (0..1000u64)
        .map(|i| key(1000 + (i * 7919) % 1000))
        .collect();
    offer(&clock, &tc, &hot, 1000, 20);
    let st = tc.stats();
    assert!(tc.partition_count() >= 2, "{:?}", st.events);
    let Some(CapacityEvent::KeySplit {
        reason, split_keys, ..
    }) = st.events.first()
    else {
        panic!("{:?}", st.events)
    };
    assert_eq!(*reason, SplitReason::Heat);
    // The split point is one of the hot keys, near their weighted median.
    let at = &split_keys[0];
    assert!(
        at.as_slice() > key(1100).as_slice() && at.as_slice() < key(1900).as_slice(),
        "{at:?}"
    );
    let mut last = 0;
    for k in (0..5000).map(key) {
        let p = tc.route_key(&k);
        assert!(p >= last);
        last = p;
    }
    assert_eq!(tc.route_key(&key(0)), 0);
    assert_eq!(tc.route_key(&key(4999)), tc.partition_count() - 1);
    // Requests that only have a hash (a Scan segment) spread over the ranges.
    assert!(tc.admit(Op::Read, u64::MAX).is_ok());
}

#[test]
fn key_range_splits_for_size_in_maintenance() {
    let cfg = CapacityConfig {
        partition_size_max_bytes: 1000,
        split_min_samples: 8,
        ..CapacityConfig::default()
    };
    let (clock, tc) = table(CapacityMode::provisioned(100, 100), cfg, "key-range");
    let keys: Vec<Vec<u8>> = (0..500u64).map(|i| key((i * 7919) % 500)).collect();
    offer(&clock, &tc, &keys, 50, 10);
    for k in &keys {
        tc.add_size_key(crate::key::key_hash(k), k, 10);
    }
    assert_eq!(tc.partition_count(), 1, "size splits wait for maintenance");
    clock.advance(Duration::from_secs(1));
    tc.tick();
    assert_eq!(tc.partition_count(), 2, "{:?}", tc.stats().events);
    assert!(matches!(
        tc.stats().events.last(),
        Some(CapacityEvent::KeySplit {
            reason: SplitReason::Size,
            ..
        })
    ));
    let sizes: u64 = tc.stats().partitions.iter().map(|p| p.size_bytes).sum();
    assert_eq!(sizes, 5000);
}
