//! The block cache: decoded data blocks keyed by (table id, block offset), shared by every
//! table of a database and both read modes.
//!
//! 16 shards, each behind its own mutex, each with an equal share of the byte budget and
//! CLOCK eviction: a hit sets the block's reference bit; when room is needed the hand passes
//! over blocks in insertion order, clearing set bits (a second chance) and evicting blocks
//! whose bit is clear. Blocks are handed out as `Arc`s, so an evicted block stays alive for
//! readers that hold it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use rustc_hash::FxHashMap;

use super::block::Block;

const SHARDS: usize = 16;

type Key = (u64, u64);

#[derive(Debug, Default)]
struct Shard {
    map: FxHashMap<Key, (Arc<Block>, bool)>,
    clock: VecDeque<Key>,
    used: usize,
}

/// Counters of a [`BlockCache`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups that found their block.
    pub hits: u64,
    /// Lookups that did not (each is followed by a read and decode of the block).
    pub misses: u64,
    /// Blocks evicted to make room.
    pub evictions: u64,
    /// Bytes charged by the cached blocks now.
    pub bytes: u64,
    /// Blocks cached now.
    pub blocks: u64,
}

/// A sharded CLOCK cache of decoded blocks with a byte budget.
#[derive(Debug)]
pub struct BlockCache {
    shards: Vec<Mutex<Shard>>,
    capacity_bytes: usize,
    shard_budget: usize,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

fn shard_of(key: Key) -> usize {
    let h = key.0.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ key.1.wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    (h >> 60) as usize % SHARDS
}

impl BlockCache {
    /// A cache holding at most `capacity_bytes` of decoded blocks (0 caches nothing).
    pub fn new(capacity_bytes: usize) -> Self {
        BlockCache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            capacity_bytes,
            shard_budget: capacity_bytes / SHARDS,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// The byte budget.
    pub fn capacity_bytes(&self) -> usize {
        self.capacity_bytes
    }

    /// The block of `table` at `offset`, counting a hit or a miss.
    pub(crate) fn get(&self, table: u64, offset: u64) -> Option<Arc<Block>> {
        let key = (table, offset);
        let mut s = self.shards[shard_of(key)].lock();
        match s.map.get_mut(&key) {
            Some((b, referenced)) => {
                *referenced = true;
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(Arc::clone(b))
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Whether the block of `table` at `offset` is cached, counting nothing (a read-ahead
    /// asks this, and the read that follows counts its hit).
    pub(crate) fn contains(&self, table: u64, offset: u64) -> bool {
        let key = (table, offset);
        self.shards[shard_of(key)].lock().map.contains_key(&key)
    }

    /// Caches a block, evicting others as the budget requires. A block larger than a shard's
    /// share of the budget is not cached.
    pub(crate) fn insert(&self, table: u64, offset: u64, block: Arc<Block>) {
        let charge = block.charge();
        if charge > self.shard_budget {
            return;
        }
        let key = (table, offset);
        let mut s = self.shards[shard_of(key)].lock();
        if s.map.contains_key(&key) {
            return;
        }
        let mut evicted = 0u64;
        while s.used + charge > self.shard_budget {
            let Some(victim) = s.clock.pop_front() else {
                break;
            };
            let second_chance = match s.map.get_mut(&victim) {
                Some((_, referenced)) if *referenced => {
                    *referenced = false;
                    true
                }
                Some(_) => false,
                None => continue,
            };
            if second_chance {
                s.clock.push_back(victim);
            } else if let Some((b, _)) = s.map.remove(&victim) {
                s.used -= b.charge();
                evicted += 1;
            }
        }
        if evicted > 0 {
            self.evictions.fetch_add(evicted, Ordering::Relaxed);
        }
        s.used += charge;
        s.map.insert(key, (block, false));
        s.clock.push_back(key);
    }

    /// Drops every block of a table (after compaction deletes it).
    pub fn evict_table(&self, table: u64) {
        for shard in &self.shards {
            let mut s = shard.lock();
            let mut freed = 0;
            s.map.retain(|k, (b, _)| {
                let keep = k.0 != table;
                if !keep {
                    freed += b.charge();
                }
                keep
            });
            s.used -= freed;
            s.clock.retain(|k| k.0 != table);
        }
    }

    pub fn stats(&self) -> CacheStats {
        let (mut bytes, mut blocks) = (0u64, 0u64);
        for shard in &self.shards {
            let s = shard.lock();
            bytes += s.used as u64;
            blocks += s.map.len() as u64;
        }
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            bytes,
            blocks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::block::BlockBuilder;
    use super::*;
    use crate::key::ValueKind;

    fn block(n: usize) -> Arc<Block> {
        let mut b = BlockBuilder::new(16, 4096);
        for i in 0..n {
            b.add(
                format!("k{i:05}").as_bytes(),
                1,
                ValueKind::Put,
                &[0u8; 100],
            );
        }
        let mut raw = Vec::new();
        b.finish_into(&mut raw);
        Arc::new(Block::decode(raw, 1, 0).expect("decode"))
    }

    #[test]
    fn stays_within_budget_and_counts_hits_and_misses() {
        let c = BlockCache::new(16 * 4096);
        for off in 0..200u64 {
            c.insert(1, off, block(10));
        }
        let st = c.stats();
        assert!(st.bytes <= 16 * 4096, "{st:?}");
        assert!(st.evictions > 0, "{st:?}");
        c.insert(2, 0, block(1));
        assert!(c.get(2, 0).is_some());
        assert!(c.get(3, 0).is_none());
        let st = c.stats();
        assert_eq!((st.hits, st.misses), (1, 1));
    }

    #[test]
    fn evict_table_drops_only_that_table() {
        let c = BlockCache::new(1 << 20);
        for off in 0..8u64 {
            c.insert(1, off, block(2));
            c.insert(2, off, block(2));
        }
        c.evict_table(2);
        assert!((0..8).all(|off| c.get(2, off).is_none()));
        assert!((0..8).all(|off| c.get(1, off).is_some()));
        assert_eq!(c.stats().blocks, 8);
        c.evict_table(1);
        assert_eq!(c.stats().bytes, 0);
    }

    #[test]
    fn referenced_blocks_get_a_second_chance() {
        let one = block(4);
        // Budget for about three blocks per shard; use offsets that land in one shard.
        let c = BlockCache::new(SHARDS * (one.charge() * 3 + one.charge() / 2));
        let offs: Vec<u64> = (0..10_000u64)
            .filter(|o| shard_of((7, *o)) == 0)
            .take(5)
            .collect();
        c.insert(7, offs[0], block(4));
        c.insert(7, offs[1], block(4));
        c.insert(7, offs[2], block(4));
        assert!(c.get(7, offs[0]).is_some(), "mark the oldest referenced");
        c.insert(7, offs[3], block(4));
        assert!(c.get(7, offs[0]).is_some(), "referenced block survived");
        assert!(c.get(7, offs[1]).is_none(), "unreferenced oldest evicted");
    }

    #[test]
    fn zero_capacity_caches_nothing() {
        let c = BlockCache::new(0);
        c.insert(1, 0, block(1));
        assert!(c.get(1, 0).is_none());
    }
}
