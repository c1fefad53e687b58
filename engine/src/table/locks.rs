//! Striped per-item locks: a fixed array of mutexes, an item's stripe chosen by hashing its
//! keyspace and storage key. Two items may share a stripe (they then serialize needlessly, never
//! incorrectly); multi-item operations lock their stripes in ascending order, so they cannot
//! deadlock with each other.

use std::sync::Arc;

use parking_lot::{ArcMutexGuard, Mutex, MutexGuard, RawMutex};

use crate::kv::SpaceId;

/// Lock stripes: enough that unrelated hot items rarely collide. With 32 PutItems in flight
/// on distinct items, 4,096 stripes sent 235–251 of 60,000 to the blocking pool to wait for a
/// stripe an unrelated item held; 16,384 sent 37–38 (`hashlog_writes_handed_off_total`), for
/// ~0.6 MB.
pub const LOCK_STRIPES: usize = 16384;

pub struct KeyLocks {
    /// Each in an `Arc` so a writer that awaits its commit can own its hold
    /// ([`KeyLocks::try_lock_owned`]).
    stripes: Vec<Arc<Mutex<()>>>,
}

/// An item's lock held by value (it may move to another thread with the write it guards).
pub type OwnedKeyLock = ArcMutexGuard<RawMutex, ()>;

impl Default for KeyLocks {
    fn default() -> Self {
        KeyLocks::new()
    }
}

impl KeyLocks {
    pub fn new() -> Self {
        KeyLocks {
            stripes: (0..LOCK_STRIPES)
                .map(|_| Arc::new(Mutex::new(())))
                .collect(),
        }
    }

    fn stripe(space: SpaceId, key: &[u8]) -> usize {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(&space.to_le_bytes());
        h.update(key);
        (h.digest() % LOCK_STRIPES as u64) as usize
    }

    /// Locks one item.
    pub fn lock_one(&self, space: SpaceId, key: &[u8]) -> MutexGuard<'_, ()> {
        self.stripes[Self::stripe(space, key)].lock()
    }

    /// Locks one item, held by value.
    pub fn lock_owned(&self, space: SpaceId, key: &[u8]) -> OwnedKeyLock {
        self.stripes[Self::stripe(space, key)].lock_arc()
    }

    /// Locks one item if nobody holds its stripe (a reactor thread must not wait).
    pub fn try_lock_owned(&self, space: SpaceId, key: &[u8]) -> Option<OwnedKeyLock> {
        self.stripes[Self::stripe(space, key)].try_lock_arc()
    }

    /// Locks every item's stripe, in ascending stripe order, each stripe once.
    pub fn lock_many<'k>(
        &self,
        keys: impl Iterator<Item = (SpaceId, &'k [u8])>,
    ) -> Vec<MutexGuard<'_, ()>> {
        let mut idx: Vec<usize> = keys.map(|(s, k)| Self::stripe(s, k)).collect();
        idx.sort_unstable();
        idx.dedup();
        idx.into_iter().map(|i| self.stripes[i].lock()).collect()
    }

    /// Waits until every item lock taken before the call has been released, taking and
    /// releasing each stripe in turn (writers are held up one stripe at a time, briefly).
    /// A writer reads the table's description under its item's lock and holds the lock until
    /// its write is visible, so once this returns every write that read the description from
    /// before a catalog change is visible, and every later one reads the new description.
    pub fn barrier(&self) {
        for s in &self.stripes {
            drop(s.lock());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_barrier_waits_for_every_lock_taken_before_it() {
        let l = Arc::new(KeyLocks::new());
        let held = l.lock_owned(7, b"in flight");
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = {
            let l = Arc::clone(&l);
            std::thread::spawn(move || {
                l.barrier();
                let _ = tx.send(());
            })
        };
        assert!(
            rx.recv_timeout(std::time::Duration::from_millis(200))
                .is_err(),
            "the barrier passed a held lock"
        );
        drop(held);
        assert!(rx.recv_timeout(std::time::Duration::from_secs(10)).is_ok());
        waiter.join().expect("join");
        // Nothing held: it passes at once.
        l.barrier();
    }

    #[test]
    fn lock_many_takes_each_stripe_once_even_for_repeated_keys() {
        let l = KeyLocks::new();
        let keys: Vec<(SpaceId, &[u8])> = vec![(1, b"a"), (1, b"a"), (2, b"b")];
        let guards = l.lock_many(keys.into_iter());
        assert!(guards.len() <= 2 && !guards.is_empty());
    }
}
