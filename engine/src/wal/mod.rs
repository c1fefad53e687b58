//! The write-ahead log: every committed write batch is one checksummed record here before it
//! touches a memtable, so a crash loses nothing that was acknowledged.
//!
//! The log is a directory of segment files (`{id:020}.wal`), each a header plus batches of
//! records (byte layout in [`format`] and docs/FORMAT.md). Appenders queue their records on a
//! bounded channel; one committer thread takes every waiting record (up to
//! [`GROUP_COMMIT_BATCH_MAX`](crate::limits::GROUP_COMMIT_BATCH_MAX)), gives them consecutive
//! sequence numbers, writes them as one batch with one write and one fdatasync, and wakes
//! them all (group commit). Recovery ([`recover`]) replays every complete batch, cuts a torn
//! tail (a batch that was being written at the crash) and refuses mid-log damage. After a
//! failed write or fsync the log is poisoned and refuses appends until reopened.

pub mod format;
pub mod recover;
mod writer;

#[cfg(test)]
mod tests;

use std::time::Duration;

pub use writer::{Append, OnCommit, Wal};

/// When an append is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// After the record is fdatasync'ed (shared by the whole group commit batch).
    Sync,
    /// After the record is written; a timer fdatasyncs every `interval`. A crash can lose the
    /// last interval of acknowledged records (never a record in the middle).
    Buffered { interval: Duration },
}

/// How the log is laid out and synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalOptions {
    /// A new segment is started when a batch would take the active one past this size.
    pub segment_size_bytes: u64,
    pub durability: Durability,
    /// Write segments with O_DIRECT (falls back to buffered I/O where the file system refuses).
    pub direct_io: bool,
    /// Write zeros ahead of the log end (1 MiB at a time), so an fdatasync has no file-size
    /// change to journal.
    pub preallocate: bool,
    /// Keep released segment files (at most 2, as `*.wal.free`) and reuse them for new
    /// segments, so batches overwrite allocated, durable blocks: a batch's fdatasync then
    /// writes the batch and nothing else (no zeros ahead, no size change). On by default.
    /// A reused file's old bytes include stored values; every segment's frame checksums are
    /// seeded with its own random salt, so neither the older segment's frames nor a value
    /// crafted as frames read as log after a crash (docs/FORMAT.md, "Reused files").
    pub reuse_segments: bool,
    /// The first sequence number new records may take. Recovery starts a fresh segment at
    /// this number when the recovered log ends below it: data flushed to SSTables may carry
    /// sequence numbers the log lost with its unsynced tail (buffered durability), and
    /// reusing those numbers would hide new writes behind — or under — the flushed ones.
    pub min_next_seq: crate::key::SeqNo,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_size_bytes: crate::limits::WAL_SEGMENT_SIZE_DEFAULT_BYTES,
            durability: Durability::Sync,
            direct_io: false,
            preallocate: true,
            reuse_segments: true,
            min_next_seq: 0,
        }
    }
}

/// Counters since the log was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WalStats {
    /// Records appended.
    pub records: u64,
    /// Group commit batches written.
    pub batches: u64,
    /// fdatasync/fsync calls on segments.
    pub syncs: u64,
    /// Bytes written to segments (frames, not padding or preallocation).
    pub bytes: u64,
    /// Segment files currently in the log.
    pub segments: u64,
}
