//! How partitions grow under the strategies other than `hash-split` (whose splits are
//! `TableCapacity::split` and its callers in `table.rs`):
//!
//! - `fixed-hash`: never — no split for heat, size or throughput;
//! - `consistent-hash`: a node is added to the ring (it takes about `1/(N+1)` of every other
//!   node's keys): one per maintenance step for heat (a hot node, unless its load is one key)
//!   or size (a node past the size limit), and as many as the table's throughput needs when
//!   the rate rises;
//! - `key-range`: ranges split at partition keys sampled from their traffic, by
//!   `routing::choose_key_split` (the weighted median, no split on one hot key) — for heat,
//!   for size, and until the table has the ranges its throughput (and its `N`) asks for. The
//!   first layout of `key-range:N` takes the `N` quantiles of the first full sample (128
//!   keys) of the one range the table starts with ([`KeyRange::from_sample`]).
//!
//! Everything here runs under the state lock, from maintenance or a mode change, and
//! publishes a new map (partitions and layout together) as `split` does.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use super::super::bucket::MILLI;
use super::super::partition::{
    choose_split, Partition, PartitionMap, SplitOutcome, SplitReason, SAMPLE_SLOTS,
};
use super::super::routing::{choose_key_split, KeyLayout, KeySamples, KeySplit, Layout};
use super::{CapacityEvent, CapacityMode, State, TableCapacity};
use crate::key::key_hash;
use crate::limits::PARTITIONING_PARTITIONS_MAX;
use crate::partition::{KeyRange, Partitioner, PartitioningStrategy};

impl TableCapacity {
    /// Partitions a table rate of `rate_milli` (read, write) needs at the partition maxima.
    fn partitions_needed(&self, rate_milli: [u64; 2]) -> usize {
        (0..2)
            .map(|i| rate_milli[i].div_ceil(self.part_max_milli(i).max(1)) as usize)
            .max()
            .unwrap_or(1)
            .max(1)
    }

    /// The even share of the provisioned rate over `n` partitions (None on-demand).
    fn provisioned_base(&self, st: &State, n: usize) -> Option<[u64; 2]> {
        match st.mode {
            CapacityMode::Provisioned { read, write } => Some([
                read * MILLI as u64 / n.max(1) as u64,
                write * MILLI as u64 / n.max(1) as u64,
            ]),
            CapacityMode::OnDemand { .. } => None,
        }
    }

    /// After a new map with more partitions: the new even share, applied to every partition
    /// when adaptive capacity is off (as `split` does).
    fn rebase(&self, st: &mut State, base: Option<[u64; 2]>, now: u64) {
        let Some(base) = base else {
            return;
        };
        st.base_share_milli = base;
        if !self.cfg.adaptive_capacity {
            for p in &self.map.load().parts {
                for (i, b) in base.iter().enumerate() {
                    self.set_allowance(p, i, *b, now);
                }
            }
        }
    }

    /// `fit_partitions` for the other strategies: enough partitions for `rate_milli`.
    pub(super) fn fit_strategy(&self, st: &mut State, rate_milli: [u64; 2], now: u64) {
        match self.partitioning {
            PartitioningStrategy::HashSplit | PartitioningStrategy::FixedHash { .. } => {}
            PartitioningStrategy::ConsistentHash { .. } => {
                let need = self.partitions_needed(rate_milli);
                let n = self.map.load().parts.len();
                if need > n {
                    self.add_nodes(st, need - n, SplitReason::Throughput, None, now);
                }
            }
            PartitioningStrategy::KeyRange { .. } => self.grow_keys(st, &[], now),
        }
    }

    /// The maintenance step's splits for the other strategies; `heat` are the partitions
    /// that stayed hot long enough (empty unless `split_for_heat`).
    pub(super) fn maintain_strategy(&self, st: &mut State, heat: Vec<Arc<Partition>>, now: u64) {
        match self.partitioning {
            PartitioningStrategy::HashSplit | PartitioningStrategy::FixedHash { .. } => {}
            PartitioningStrategy::ConsistentHash { .. } => self.grow_ring(st, &heat, now),
            PartitioningStrategy::KeyRange { .. } => self.grow_keys(st, &heat, now),
        }
    }

    fn note_hot_key(&self, st: &mut State, p: &Partition, hash: u64, now: u64) {
        p.track.lock().hot_key_reported = true;
        self.push_event(
            st,
            CapacityEvent::HotKey {
                at_micros: now,
                partition_id: p.id,
                hash,
            },
        );
    }

    // ---- consistent hashing ----

    /// One node for the first hot node whose load is not one key, else one for a node past
    /// the size limit.
    fn grow_ring(&self, st: &mut State, heat: &[Arc<Partition>], now: u64) {
        let map = self.map.load();
        let Layout::Ring(ring) = &map.layout else {
            return;
        };
        let mut grow: Option<(SplitReason, Option<u64>)> = None;
        for p in heat {
            let Some(idx) = map.parts.iter().position(|q| Arc::ptr_eq(q, p)) else {
                continue;
            };
            // The node's samples that still route to it (a node added since took some).
            let mut samples = p.samples();
            samples.retain(|h| ring.node_of_hash(*h) == idx);
            match choose_split(
                0,
                u64::MAX,
                &mut samples,
                self.cfg.split_min_samples,
                self.cfg.hot_key_share_pct,
            ) {
                SplitOutcome::Split { .. } => {
                    grow = Some((SplitReason::Heat, Some(p.id)));
                    break;
                }
                SplitOutcome::HotKey(h) => self.note_hot_key(st, p, h, now),
                SplitOutcome::TooFewSamples => {}
            }
        }
        let max = self.cfg.partition_size_max_bytes;
        if grow.is_none() && map.parts.iter().any(|p| p.size_bytes.load(Relaxed) > max) {
            grow = Some((SplitReason::Size, None));
        }
        if let Some((reason, hot)) = grow {
            self.add_nodes(st, 1, reason, hot, now);
        }
    }

    /// Adds `k` nodes to the ring (at most up to [`PARTITIONING_PARTITIONS_MAX`] nodes). The
    /// nodes there keep their buckets and counters; each hands `1/(N+k)` of its size to the
    /// new ones and starts a new hot period (the load it had is partly gone).
    fn add_nodes(&self, st: &mut State, k: usize, reason: SplitReason, hot: Option<u64>, now: u64) {
        let old = self.map.load();
        let Layout::Ring(ring) = &old.layout else {
            return;
        };
        let n = old.parts.len();
        let k = k.min((PARTITIONING_PARTITIONS_MAX as usize).saturating_sub(n));
        if k == 0 {
            return;
        }
        let n_after = n + k;
        let base = self.provisioned_base(st, n_after);
        let allowance = base.unwrap_or([self.part_max_milli(0), self.part_max_milli(1)]);
        let mut moved = 0u64;
        for p in &old.parts {
            let s = p.size_bytes.load(Relaxed);
            let keep = (s as u128 * n as u128 / n_after as u128) as u64;
            p.size_bytes.store(keep, Relaxed);
            moved += s - keep;
            let mut tr = p.track.lock();
            tr.hot_us = 0;
            tr.hot_key_reported = false;
        }
        let mut ring = ring.clone();
        let mut parts = old.parts.clone();
        for j in 0..k {
            let node = ring.add_node();
            let id = st.next_id;
            st.next_id += 1;
            let part = self.new_partition(id, 0, u64::MAX, allowance, now);
            let share = moved / k as u64 + if j == 0 { moved % k as u64 } else { 0 };
            part.size_bytes.store(share, Relaxed);
            parts.push(Arc::new(part));
            st.splits += 1;
            self.push_event(
                st,
                CapacityEvent::NodeAdded {
                    at_micros: now,
                    reason,
                    node_id: id,
                    nodes: node + 1,
                    hot_partition_id: hot,
                },
            );
        }
        st.epoch += 1;
        self.map.publish(PartitionMap::with_layout(
            st.epoch,
            parts,
            Layout::Ring(ring),
        ));
        self.rebase(st, base, now);
    }

    // ---- key ranges ----

    /// Ranges a key-range table should have: its `N`, or more when its throughput needs it.
    fn key_target(&self) -> usize {
        let n = match self.partitioning {
            PartitioningStrategy::KeyRange { partitions } => partitions.unwrap_or(1) as usize,
            _ => 1,
        };
        let rate = [0, 1].map(|i| self.table[i].rate_milli());
        n.max(self.partitions_needed(rate))
    }

    /// Splits for the first layout, heat, size and throughput, as far as the key samples
    /// allow (a range without enough samples waits for its traffic).
    fn grow_keys(&self, st: &mut State, heat: &[Arc<Partition>], now: u64) {
        let map = self.map.load();
        let Layout::Keys(kl) = &map.layout else {
            return;
        };
        let n = map.parts.len();
        let target = self.key_target();
        let min = self.cfg.split_min_samples;
        let hot_pct = self.cfg.hot_key_share_pct;
        if n == 1 && target > 1 {
            // The first layout waits for a full sample (nothing else splits the one range
            // meanwhile): its quantiles place every range at once.
            if let Some(s) = kl.samples.first().map(|s| s.samples()) {
                if s.len() >= SAMPLE_SLOTS {
                    let first = KeyRange::from_sample(target, s);
                    if first.partition_count() > 1 {
                        let points = first.splits().to_vec();
                        self.split_keys(st, vec![(0, points, SplitReason::Throughput)], now);
                        return;
                    }
                }
            }
            // A sample of one repeated key lays out one range: then split as usual.
            if kl
                .samples
                .first()
                .is_none_or(|s| s.samples().len() < SAMPLE_SLOTS)
            {
                return;
            }
        }
        let splits = kl.ranges.splits();
        let choose = |i: usize| -> KeySplit {
            let lo = i.checked_sub(1).and_then(|j| splits.get(j));
            let hi = splits.get(i);
            let mut samples = kl.samples.get(i).map_or_else(Vec::new, |s| s.samples());
            choose_key_split(
                lo.map(Vec::as_slice),
                hi.map(Vec::as_slice),
                &mut samples,
                min,
                hot_pct,
            )
        };
        let mut plans: Vec<(usize, Vec<Vec<u8>>, SplitReason)> = Vec::new();
        for p in heat {
            let Some(i) = map.parts.iter().position(|q| Arc::ptr_eq(q, p)) else {
                continue;
            };
            match choose(i) {
                KeySplit::Split(at) => plans.push((i, vec![at], SplitReason::Heat)),
                KeySplit::HotKey(key) => self.note_hot_key(st, p, key_hash(&key), now),
                KeySplit::TooFewSamples => {}
            }
        }
        let max = self.cfg.partition_size_max_bytes;
        for (i, p) in map.parts.iter().enumerate() {
            if p.size_bytes.load(Relaxed) > max && !plans.iter().any(|(j, ..)| *j == i) {
                if let KeySplit::Split(at) = choose(i) {
                    plans.push((i, vec![at], SplitReason::Size));
                }
            }
        }
        let mut missing = target.saturating_sub(n + plans.len());
        if missing > 0 {
            // The busiest ranges (most keys sampled) split first.
            let mut order: Vec<usize> = (0..n)
                .filter(|i| !plans.iter().any(|(j, ..)| j == i))
                .collect();
            order
                .sort_by_key(|&i| std::cmp::Reverse(kl.samples.get(i).map_or(0, |s| s.recorded())));
            for i in order {
                if missing == 0 {
                    break;
                }
                if let KeySplit::Split(at) = choose(i) {
                    plans.push((i, vec![at], SplitReason::Throughput));
                    missing -= 1;
                }
            }
        }
        if !plans.is_empty() {
            self.split_keys(st, plans, now);
        }
    }

    /// Replaces each planned range `(index, points, reason)` by the ranges its split points
    /// (sorted, strictly inside it) cut it into, swapping in a new map once. Children get
    /// fresh buckets and samples, the allowance `split` gives, and equal shares of the size.
    fn split_keys(&self, st: &mut State, plans: Vec<(usize, Vec<Vec<u8>>, SplitReason)>, now: u64) {
        let old = self.map.load();
        let Layout::Keys(kl) = &old.layout else {
            return;
        };
        let splits = kl.ranges.splits();
        // Keep only points strictly inside their range, in order, without repeats.
        let plans: Vec<(usize, Vec<Vec<u8>>, SplitReason)> = plans
            .into_iter()
            .filter_map(|(i, mut points, reason)| {
                let lo = i.checked_sub(1).and_then(|j| splits.get(j));
                let hi = splits.get(i);
                points.sort_unstable();
                points.dedup();
                points.retain(|p| lo.is_none_or(|lo| p > lo) && hi.is_none_or(|hi| p < hi));
                (i < old.parts.len() && !points.is_empty()).then_some((i, points, reason))
            })
            .collect();
        if plans.is_empty() {
            return;
        }
        let n_after = old.parts.len() + plans.iter().map(|(_, p, _)| p.len()).sum::<usize>();
        let mut all_splits = splits.to_vec();
        all_splits.extend(plans.iter().flat_map(|(_, p, _)| p.iter().cloned()));
        let ranges = KeyRange::from_splits(all_splits);
        if ranges.partition_count() != n_after {
            // Unreachable: every point is strictly inside its own range, so they are distinct.
            return;
        }
        let base = self.provisioned_base(st, n_after);
        let mut parts = Vec::with_capacity(n_after);
        let mut samples = Vec::with_capacity(n_after);
        let mut remap = Vec::with_capacity(old.parts.len());
        for (i, p) in old.parts.iter().enumerate() {
            remap.push(parts.len() as u32);
            let Some((_, points, reason)) = plans.iter().find(|(j, ..)| *j == i) else {
                parts.push(Arc::clone(p));
                samples.push(
                    kl.samples
                        .get(i)
                        .cloned()
                        .unwrap_or_else(|| Arc::new(KeySamples::default())),
                );
                continue;
            };
            let allowance: [u64; 2] = std::array::from_fn(|d| match base {
                Some(b) if self.cfg.adaptive_capacity => (p.share[d].rate_milli() / 2).max(b[d]),
                Some(b) => b[d],
                None => self.part_max_milli(d),
            });
            let pieces = points.len() + 1;
            let size = p.size_bytes.load(Relaxed) / pieces as u64;
            let mut children = Vec::with_capacity(pieces);
            for _ in 0..pieces {
                let id = st.next_id;
                st.next_id += 1;
                let child = self.new_partition(id, 0, u64::MAX, allowance, now);
                child.size_bytes.store(size, Relaxed);
                parts.push(Arc::new(child));
                samples.push(Arc::new(KeySamples::default()));
                children.push(id);
            }
            for d in 0..2 {
                st.retired_consumed_milli[d] += p.ops[d].consumed_milli.load(Relaxed);
                st.retired_throttled[d] += p.ops[d].throttled.load(Relaxed);
            }
            st.splits += points.len() as u64;
            self.push_event(
                st,
                CapacityEvent::KeySplit {
                    at_micros: now,
                    reason: *reason,
                    parent_id: p.id,
                    split_keys: points.clone(),
                    children,
                },
            );
        }
        st.epoch += 1;
        self.map.publish(PartitionMap::with_layout(
            st.epoch,
            parts,
            Layout::Keys(KeyLayout {
                ranges,
                samples,
                remap: Some((old.epoch, remap)),
            }),
        ));
        self.rebase(st, base, now);
    }
}
