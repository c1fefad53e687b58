//! SSTables: immutable sorted files of entries (user key, sequence number, kind, value), one
//! partition's flushed and compacted data.
//!
//! File layout (docs/FORMAT.md, "SSTable"): data blocks, then the index block, the bloom
//! filter block and the properties block, then a fixed 64-byte footer. Every block is followed
//! by a 9-byte trailer (compression type, xxh3-64 checksum of payload and type); the footer has
//! magic, format version and its own checksum. Readers verify every checksum before using a
//! byte, and bounds-check every decoded length, so corruption is an error, never a panic or a
//! wrong answer.

mod block;
mod bloom;
mod cache;
mod reader;
mod writer;

#[cfg(test)]
mod tests;

pub use block::{Block, BlockBuilder};
pub use bloom::Bloom;
pub use cache::{BlockCache, CacheStats};
pub use reader::{SstIter, SstReader};
pub use writer::SstWriter;

use crate::codec::{put_bytes, put_u64, Reader};
use crate::error::Result;
use crate::key::SeqNo;

pub const SST_MAGIC: &[u8; 8] = b"HLSSTBL\0";
pub const SST_FORMAT_VERSION: u32 = 1;
pub const FOOTER_BYTES: usize = 64;
pub const TRAILER_BYTES: usize = 9;
/// Block compression types (only "none" so far; the byte is there so it can change).
pub const COMPRESSION_NONE: u8 = 0;

/// How a table is built.
#[derive(Debug, Clone)]
pub struct SstOptions {
    pub block_size_bytes: usize,
    pub bloom_bits_per_key: usize,
    pub restart_interval: usize,
}

impl Default for SstOptions {
    fn default() -> Self {
        SstOptions {
            block_size_bytes: crate::limits::SST_BLOCK_SIZE_DEFAULT_BYTES,
            bloom_bits_per_key: crate::limits::BLOOM_BITS_PER_KEY_DEFAULT,
            restart_interval: 16,
        }
    }
}

/// How data blocks are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadMode {
    /// Memory-map the (immutable) file; block reads are slices.
    Mmap,
    /// Read blocks through the I/O backend (io_uring or pread).
    Io,
}

/// What a finished table holds (also stored in its properties block).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SstMeta {
    pub table_id: u64,
    pub file_size: u64,
    pub entry_count: u64,
    pub tombstone_count: u64,
    pub smallest_key: Vec<u8>,
    pub largest_key: Vec<u8>,
    pub min_seq: SeqNo,
    pub max_seq: SeqNo,
    pub raw_key_bytes: u64,
    pub raw_value_bytes: u64,
}

impl SstMeta {
    /// The properties block encoding (file_size is not stored: it is the file's length).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_u64(&mut out, self.table_id);
        put_u64(&mut out, self.entry_count);
        put_u64(&mut out, self.tombstone_count);
        put_bytes(&mut out, &self.smallest_key);
        put_bytes(&mut out, &self.largest_key);
        put_u64(&mut out, self.min_seq);
        put_u64(&mut out, self.max_seq);
        put_u64(&mut out, self.raw_key_bytes);
        put_u64(&mut out, self.raw_value_bytes);
        out
    }

    pub fn decode(buf: &[u8], file_size: u64) -> Result<SstMeta> {
        let mut r = Reader::new(buf, "sstable properties");
        Ok(SstMeta {
            table_id: r.u64()?,
            file_size,
            entry_count: r.u64()?,
            tombstone_count: r.u64()?,
            smallest_key: r.bytes()?.to_vec(),
            largest_key: r.bytes()?.to_vec(),
            min_seq: r.u64()?,
            max_seq: r.u64()?,
            raw_key_bytes: r.u64()?,
            raw_value_bytes: r.u64()?,
        })
    }
}

/// A block's location: offset and length of its payload (the trailer follows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockHandle {
    pub offset: u64,
    pub len: u32,
}

pub(crate) fn trailer(payload: &[u8]) -> [u8; TRAILER_BYTES] {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(payload);
    h.update(&[COMPRESSION_NONE]);
    let ck = h.digest();
    let mut t = [0u8; TRAILER_BYTES];
    t[0] = COMPRESSION_NONE;
    t[1..].copy_from_slice(&ck.to_le_bytes());
    t
}
