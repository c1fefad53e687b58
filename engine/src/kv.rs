//! The storage contract the table layer writes through: keyspaces of ordered byte keys,
//! atomic durable multi-key write batches, point reads, range scans and snapshots.
//!
//! [`crate::db::Engine`] implements it over the log-structured, hash-partitioned engine;
//! [`MemKv`] implements it over `BTreeMap`s and is the model the engine is tested against.

use std::collections::BTreeMap;
use std::future::Future;
use std::ops::Bound;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;

use crate::error::{Result, StorageError};
use crate::key::SeqNo;

/// A keyspace: one table's base data, one index, the catalog, ...
pub type SpaceId = u64;

/// The keyspace that holds the catalog. Created when a database is created.
pub const SYSTEM_SPACE: SpaceId = 0;

/// One write of a batch: `value: None` deletes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvWrite {
    pub space: SpaceId,
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

/// An owned iterator over `(key, value)` pairs of a scan.
pub type KvIter = Box<dyn Iterator<Item = Result<(Vec<u8>, Vec<u8>)>> + Send>;

/// Approximate size of a keyspace (DynamoDB refreshes these about every six hours; ours are
/// cheaper and fresher, but still estimates: versions not yet compacted away are counted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpaceStats {
    pub approximate_keys: u64,
    pub approximate_bytes: u64,
}

/// A consistent point in time: reads at a snapshot see exactly the batches with
/// sequence number ≤ it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Snapshot(pub SeqNo);

/// What [`Kv::write_async`] did with a batch.
pub enum AsyncWrite {
    /// Queued: the future resolves as [`Kv::write`] returns (durable and visible). Dropping
    /// it withdraws nothing: the store applies the write once it is durable either way.
    Queued(Pin<Box<dyn Future<Output = Result<SeqNo>> + Send>>),
    /// Answered at once: an error, or nothing to write.
    Done(Result<SeqNo>),
    /// Queueing would mean waiting (writes stalled behind flushes, a memtable at twice its size
    /// that no write could rotate yet): the writes, untouched, for [`Kv::write`] on a thread
    /// that may block.
    WouldBlock(Vec<KvWrite>),
}

impl std::fmt::Debug for AsyncWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AsyncWrite::Queued(_) => f.write_str("Queued"),
            AsyncWrite::Done(r) => f.debug_tuple("Done").field(r).finish(),
            AsyncWrite::WouldBlock(w) => f.debug_tuple("WouldBlock").field(&w.len()).finish(),
        }
    }
}

pub trait Kv: Send + Sync {
    /// Creates a keyspace split into `partitions` hash-range partitions (≥ 1).
    fn create_space(&self, space: SpaceId, partitions: u32) -> Result<()>;
    /// Drops a keyspace and all its data.
    fn drop_space(&self, space: SpaceId) -> Result<()>;
    /// Whether a keyspace exists.
    fn has_space(&self, space: SpaceId) -> bool;
    /// Applies every write atomically: after a crash all or none of them are present. Returns
    /// after the batch is durable (in the default sync mode) and visible to reads. Within a
    /// batch a later write to the same key wins.
    fn write(&self, writes: Vec<KvWrite>) -> Result<SeqNo>;
    /// [`Kv::write`] for a caller that must not block (a reactor thread): the writes are
    /// queued in the log and the returned future resolves when `write` would have returned.
    /// A store answers [`AsyncWrite::WouldBlock`] (handing the writes back, untouched) when
    /// queueing them would mean waiting, as the default does.
    fn write_async(&self, writes: Vec<KvWrite>) -> AsyncWrite {
        AsyncWrite::WouldBlock(writes)
    }
    /// The latest visible value of a key.
    fn get(&self, space: SpaceId, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get_at(space, key, self.snapshot())
    }
    /// The value of a key as of a snapshot.
    fn get_at(&self, space: SpaceId, key: &[u8], snapshot: Snapshot) -> Result<Option<Vec<u8>>>;
    /// A snapshot of everything visible now.
    fn snapshot(&self) -> Snapshot;
    /// A hint that `keys` of `space` are about to be read one by one: a store may read
    /// what they need ahead, in batches. Returns how many blocks it read (0: nothing to do,
    /// as for a store in memory). Reads are as correct without it.
    fn prefetch(&self, _space: SpaceId, _keys: &[&[u8]]) -> Result<usize> {
        Ok(0)
    }
    /// Keys in `[lower, upper]` (bounds as given) in ascending order, or descending when
    /// `reverse`, as of the latest snapshot.
    fn scan(
        &self,
        space: SpaceId,
        lower: Bound<Vec<u8>>,
        upper: Bound<Vec<u8>>,
        reverse: bool,
    ) -> Result<KvIter>;
    fn space_stats(&self, space: SpaceId) -> Result<SpaceStats>;
}

/// The model: every keyspace a `BTreeMap`, every version kept so snapshots work.
type Versions = Vec<(SeqNo, Option<Vec<u8>>)>;

#[derive(Debug, Default)]
pub struct MemKv {
    // space -> key -> versions (seq ascending; None = deleted)
    spaces: RwLock<BTreeMap<SpaceId, BTreeMap<Vec<u8>, Versions>>>,
    seq: AtomicU64,
}

impl MemKv {
    pub fn new() -> Self {
        let kv = MemKv::default();
        kv.spaces.write().insert(SYSTEM_SPACE, BTreeMap::new());
        kv
    }
}

fn visible(versions: &[(SeqNo, Option<Vec<u8>>)], at: SeqNo) -> Option<&Vec<u8>> {
    versions
        .iter()
        .rev()
        .find(|(s, _)| *s <= at)
        .and_then(|(_, v)| v.as_ref())
}

impl Kv for MemKv {
    fn create_space(&self, space: SpaceId, partitions: u32) -> Result<()> {
        if partitions == 0 {
            return Err(StorageError::InvalidArgument(
                "partitions must be ≥ 1".into(),
            ));
        }
        let mut s = self.spaces.write();
        if s.contains_key(&space) {
            return Err(StorageError::SpaceExists(space));
        }
        s.insert(space, BTreeMap::new());
        Ok(())
    }

    fn drop_space(&self, space: SpaceId) -> Result<()> {
        self.spaces
            .write()
            .remove(&space)
            .map(|_| ())
            .ok_or(StorageError::NoSuchSpace(space))
    }

    fn has_space(&self, space: SpaceId) -> bool {
        self.spaces.read().contains_key(&space)
    }

    fn write(&self, writes: Vec<KvWrite>) -> Result<SeqNo> {
        let mut s = self.spaces.write();
        for w in &writes {
            if !s.contains_key(&w.space) {
                return Err(StorageError::NoSuchSpace(w.space));
            }
        }
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        for w in writes {
            let versions = s.entry(w.space).or_default().entry(w.key).or_default();
            if versions.last().map(|(sq, _)| *sq) == Some(seq) {
                versions.pop();
            }
            versions.push((seq, w.value));
        }
        Ok(seq)
    }

    fn get_at(&self, space: SpaceId, key: &[u8], snapshot: Snapshot) -> Result<Option<Vec<u8>>> {
        let s = self.spaces.read();
        let sp = s.get(&space).ok_or(StorageError::NoSuchSpace(space))?;
        Ok(sp.get(key).and_then(|v| visible(v, snapshot.0)).cloned())
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot(self.seq.load(Ordering::SeqCst))
    }

    fn scan(
        &self,
        space: SpaceId,
        lower: Bound<Vec<u8>>,
        upper: Bound<Vec<u8>>,
        reverse: bool,
    ) -> Result<KvIter> {
        let at = self.snapshot().0;
        let s = self.spaces.read();
        let sp = s.get(&space).ok_or(StorageError::NoSuchSpace(space))?;
        if let (Bound::Included(l) | Bound::Excluded(l), Bound::Included(u) | Bound::Excluded(u)) =
            (&lower, &upper)
        {
            if l > u {
                return Ok(Box::new(std::iter::empty()));
            }
        }
        let mut out: Vec<(Vec<u8>, Vec<u8>)> = sp
            .range((lower, upper))
            .filter_map(|(k, v)| visible(v, at).map(|v| (k.clone(), v.clone())))
            .collect();
        if reverse {
            out.reverse();
        }
        Ok(Box::new(out.into_iter().map(Ok)))
    }

    fn space_stats(&self, space: SpaceId) -> Result<SpaceStats> {
        let at = self.snapshot().0;
        let s = self.spaces.read();
        let sp = s.get(&space).ok_or(StorageError::NoSuchSpace(space))?;
        let mut st = SpaceStats::default();
        for (k, v) in sp {
            if let Some(v) = visible(v, at) {
                st.approximate_keys += 1;
                st.approximate_bytes += (k.len() + v.len()) as u64;
            }
        }
        Ok(st)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(space: SpaceId, k: &[u8], v: Option<&[u8]>) -> KvWrite {
        KvWrite {
            space,
            key: k.to_vec(),
            value: v.map(|v| v.to_vec()),
        }
    }

    #[test]
    fn snapshots_see_only_earlier_batches() {
        let kv = MemKv::new();
        kv.create_space(1, 1).expect("create");
        kv.write(vec![w(1, b"a", Some(b"1"))]).expect("write");
        let snap = kv.snapshot();
        kv.write(vec![w(1, b"a", Some(b"2")), w(1, b"b", Some(b"x"))])
            .expect("write");
        kv.write(vec![w(1, b"a", None)]).expect("write");
        assert_eq!(kv.get_at(1, b"a", snap).expect("get"), Some(b"1".to_vec()));
        assert_eq!(kv.get(1, b"a").expect("get"), None);
        let all: Vec<_> = kv
            .scan(1, Bound::Unbounded, Bound::Unbounded, true)
            .expect("scan")
            .collect::<Result<_>>()
            .expect("iter");
        assert_eq!(all, vec![(b"b".to_vec(), b"x".to_vec())]);
    }

    #[test]
    fn writes_to_missing_space_fail_whole() {
        let kv = MemKv::new();
        kv.create_space(1, 1).expect("create");
        assert!(kv
            .write(vec![w(1, b"a", Some(b"1")), w(9, b"a", Some(b"1"))])
            .is_err());
        assert_eq!(kv.get(1, b"a").expect("get"), None);
    }
}
