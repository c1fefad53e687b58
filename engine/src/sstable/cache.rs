//! The block cache: decoded blocks keyed by (table id, block offset), sharded, with a byte
//! budget and CLOCK eviction (a hit sets a reference bit; the hand clears bits and evicts
//! unreferenced blocks).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::block::Block;

const SHARDS: usize = 16;

#[derive(Debug, Default)]
struct Shard {
    map: HashMap<(u64, u64), (Arc<Block>, bool)>,
    clock: VecDeque<(u64, u64)>,
    used: usize,
}

/// Hit and miss counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub bytes: u64,
}

#[derive(Debug)]
pub struct BlockCache {
    shards: Vec<Mutex<Shard>>,
    shard_budget: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

fn shard_of(key: (u64, u64)) -> usize {
    let h = key.0.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ key.1.wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    (h >> 59) as usize % SHARDS
}

impl BlockCache {
    pub fn new(capacity_bytes: usize) -> Self {
        BlockCache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            shard_budget: capacity_bytes / SHARDS,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub fn get(&self, table: u64, offset: u64) -> Option<Arc<Block>> {
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

    pub fn insert(&self, table: u64, offset: u64, block: Arc<Block>) {
        let charge = block.charge();
        if charge > self.shard_budget {
            return;
        }
        let key = (table, offset);
        let mut s = self.shards[shard_of(key)].lock();
        if s.map.contains_key(&key) {
            return;
        }
        while s.used + charge > self.shard_budget {
            let Some(victim) = s.clock.pop_front() else {
                break;
            };
            let evict = match s.map.get_mut(&victim) {
                Some((_, referenced)) if *referenced => {
                    *referenced = false;
                    false
                }
                Some(_) => true,
                None => continue,
            };
            if evict {
                if let Some((b, _)) = s.map.remove(&victim) {
                    s.used -= b.charge();
                }
            } else {
                s.clock.push_back(victim);
            }
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
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            bytes: self.shards.iter().map(|s| s.lock().used as u64).sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::block::BlockBuilder;
    use super::*;
    use crate::key::ValueKind;

    fn block(n: usize) -> Arc<Block> {
        let mut b = BlockBuilder::new(16);
        for i in 0..n {
            b.add(
                format!("k{i:05}").as_bytes(),
                1,
                ValueKind::Put,
                &[0u8; 100],
            );
        }
        Arc::new(Block::decode(b.finish(), 1, 0).expect("decode"))
    }

    #[test]
    fn stays_within_budget_and_counts_hits() {
        let c = BlockCache::new(16 * 4096);
        for off in 0..200u64 {
            c.insert(1, off, block(10));
        }
        let st = c.stats();
        assert!(st.bytes <= 16 * 4096, "{st:?}");
        c.insert(2, 0, block(1));
        assert!(c.get(2, 0).is_some());
        assert!(c.get(3, 0).is_none());
        let st = c.stats();
        assert_eq!((st.hits, st.misses), (1, 1));
        c.evict_table(2);
        assert!(c.get(2, 0).is_none());
    }
}
