//! One partition's log-structured merge tree: memtable → immutable memtables → SSTables in
//! levels, described by a versioned manifest; flush; compaction strategies chosen by a pure
//! function; merge iterators with sequence-number snapshots; tombstones.

pub mod compaction;
pub mod manifest;
pub mod merge;
mod tree;

pub use compaction::{CompactionConfig, CompactionStrategy};
pub use tree::{sst_path, TableHandle, Tree, TreeContext, TreeOptions, TreeState};
