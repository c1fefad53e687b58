//! SSTables: immutable sorted files of entries (user key, sequence number, kind, value), one
//! partition's flushed and compacted data.
//!
//! File layout (docs/FORMAT.md, "SSTable"): data blocks, then the index block, the bloom
//! filter block and the properties block, then a fixed 64-byte footer. Every block is
//! followed by a 9-byte trailer (compression type, xxh3-64 checksum of payload and type); the
//! footer has magic, format version and its own checksum.
//!
//! - [`SstWriter`] takes entries in entry order ([`crate::key::entry_cmp`]) and writes them in
//!   large buffered chunks, then the meta blocks and footer, then fdatasyncs.
//! - [`SstReader`] verifies footer, index, bloom filter and properties at open; data blocks are
//!   verified when first read and then kept decoded in the shared [`BlockCache`]. Point reads
//!   ([`SstReader::get`]) consult the bloom filter, then binary-search the index, then the
//!   block; range reads ([`SstReader::iter`], [`SstReader::iter_rev`]) seek through the index.
//! - [`SstMeta`] describes a finished table; it is stored in the properties block and has a
//!   compact serialization ([`SstMeta::to_bytes`]) for the manifest.
//!
//! Readers bounds-check every decoded length and offset and verify every checksum before
//! using a byte, so corruption is a `StorageError::Corruption("sstable <id>: <what> at offset
//! <n>")`, never a panic or a wrong answer.

mod block;
mod bloom;
mod cache;
mod footer;
mod index;
mod reader;
mod writer;

#[cfg(test)]
mod tests;

pub use bloom::Bloom;
pub use cache::{BlockCache, CacheStats};
pub use reader::{SstIter, SstReader};
pub use writer::{SstWriter, WRITE_CHUNK_BYTES};

use std::fmt::Display;

use crate::error::{Result, StorageError};
use crate::key::SeqNo;

/// The magic at footer bytes 48..56.
pub const SST_MAGIC: &[u8; 8] = b"HLSSTBL\0";
/// The newest SSTable format this build writes and reads.
pub const SST_FORMAT_VERSION: u32 = 1;
/// Size of the footer at the end of every table.
pub const FOOTER_BYTES: usize = 64;
/// Size of the trailer after every block: compression type byte and xxh3-64 checksum.
pub const TRAILER_BYTES: usize = 9;
/// Block compression types (only "none" so far; the byte is there so it can change).
pub const COMPRESSION_NONE: u8 = 0;
/// Entries between restart points when the options do not say.
pub const RESTART_INTERVAL_DEFAULT: usize = 16;
/// Largest user key the block format holds (its length is a u16).
pub const SST_KEY_SIZE_MAX_BYTES: usize = u16::MAX as usize;
/// Largest value the block format holds (its length is a u32; blocks stay below 4 GiB).
pub const SST_VALUE_SIZE_MAX_BYTES: usize = 1 << 31;
/// Bounds the writer clamps `block_size_bytes` into.
pub const SST_BLOCK_SIZE_MIN_BYTES: usize = 64;
pub const SST_BLOCK_SIZE_MAX_BYTES: usize = 64 << 20;
/// Version byte of the [`SstMeta`] serialization.
pub const SST_META_VERSION: u8 = 1;

/// How a table is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SstOptions {
    /// Target size of a data block before its trailer (an entry is never split, so a block
    /// holding one large value is larger). Clamped to
    /// [`SST_BLOCK_SIZE_MIN_BYTES`]..=[`SST_BLOCK_SIZE_MAX_BYTES`].
    pub block_size_bytes: usize,
    /// Bloom filter bits per distinct user key; 0 writes no filter (every lookup inside the
    /// key range reads the index and a block). Clamped to at most 64.
    pub bloom_bits_per_key: usize,
    /// Entries between restart points of a data block (at least 1).
    pub restart_interval: usize,
}

impl Default for SstOptions {
    fn default() -> Self {
        SstOptions {
            block_size_bytes: crate::limits::SST_BLOCK_SIZE_DEFAULT_BYTES,
            bloom_bits_per_key: crate::limits::BLOOM_BITS_PER_KEY_DEFAULT,
            restart_interval: RESTART_INTERVAL_DEFAULT,
        }
    }
}

impl SstOptions {
    /// The options with every field clamped into what the format supports.
    pub fn sanitized(&self) -> SstOptions {
        SstOptions {
            block_size_bytes: self
                .block_size_bytes
                .clamp(SST_BLOCK_SIZE_MIN_BYTES, SST_BLOCK_SIZE_MAX_BYTES),
            bloom_bits_per_key: self.bloom_bits_per_key.min(64),
            restart_interval: self.restart_interval.clamp(1, u16::MAX as usize),
        }
    }
}

/// How data blocks are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadMode {
    /// Memory-map the (immutable) file; block reads are copies out of the mapping. Falls back
    /// to [`ReadMode::Io`] when the file has no std file underneath.
    Mmap,
    /// Read blocks through the I/O backend (io_uring or pread).
    Io,
}

/// What a finished table holds (also stored in its properties block).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SstMeta {
    pub table_id: u64,
    /// Length of the file in bytes.
    pub file_size: u64,
    /// Entries (versions), tombstones included.
    pub entry_count: u64,
    pub tombstone_count: u64,
    /// Smallest and largest user key (empty when the table is empty).
    pub smallest_key: Vec<u8>,
    pub largest_key: Vec<u8>,
    /// Smallest and largest sequence number (0 when the table is empty).
    pub min_seq: SeqNo,
    pub max_seq: SeqNo,
    /// Sums of user key lengths and value lengths over all entries, before prefix compression.
    pub raw_key_bytes: u64,
    pub raw_value_bytes: u64,
}

impl SstMeta {
    /// The compact serialization (also the properties block): `version: u8` (1), then LEB128
    /// varints table_id, file_size, entry_count, tombstone_count, min_seq, max_seq,
    /// raw_key_bytes, raw_value_bytes, then smallest_key and largest_key as varint length ‖
    /// bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(1 + 8 * 10 + 20 + self.smallest_key.len() + self.largest_key.len());
        out.push(SST_META_VERSION);
        for v in [
            self.table_id,
            self.file_size,
            self.entry_count,
            self.tombstone_count,
            self.min_seq,
            self.max_seq,
            self.raw_key_bytes,
            self.raw_value_bytes,
        ] {
            put_varint(&mut out, v);
        }
        put_varint(&mut out, self.smallest_key.len() as u64);
        out.extend_from_slice(&self.smallest_key);
        put_varint(&mut out, self.largest_key.len() as u64);
        out.extend_from_slice(&self.largest_key);
        out
    }

    /// Decodes [`SstMeta::to_bytes`] output; anything else is `Corruption` (a newer version
    /// byte is `UnsupportedVersion`).
    pub fn from_bytes(buf: &[u8]) -> Result<SstMeta> {
        SstMeta::decode_in(buf, None, 0)
    }

    /// Decodes with errors naming the table and the absolute file offset of the properties.
    pub(crate) fn decode_in(buf: &[u8], table: Option<u64>, base: u64) -> Result<SstMeta> {
        let mut d = Dec::new(buf, table, base, "properties");
        let version = d.u8()?;
        if version > SST_META_VERSION {
            return Err(StorageError::UnsupportedVersion {
                what: match table {
                    Some(t) => format!("sstable {t} properties"),
                    None => "sstable meta".to_string(),
                },
                found: u32::from(version),
                supported: u32::from(SST_META_VERSION),
            });
        }
        if version == 0 {
            return Err(d.err("version 0"));
        }
        let meta = SstMeta {
            table_id: d.varint()?,
            file_size: d.varint()?,
            entry_count: d.varint()?,
            tombstone_count: d.varint()?,
            min_seq: d.varint()?,
            max_seq: d.varint()?,
            raw_key_bytes: d.varint()?,
            raw_value_bytes: d.varint()?,
            smallest_key: d.var_bytes(SST_KEY_SIZE_MAX_BYTES)?.to_vec(),
            largest_key: d.var_bytes(SST_KEY_SIZE_MAX_BYTES)?.to_vec(),
        };
        d.finish()?;
        let consistent = meta.tombstone_count <= meta.entry_count
            && if meta.entry_count == 0 {
                meta.smallest_key.is_empty()
                    && meta.largest_key.is_empty()
                    && meta.min_seq == 0
                    && meta.max_seq == 0
            } else {
                meta.min_seq <= meta.max_seq && meta.smallest_key <= meta.largest_key
            };
        if !consistent {
            return Err(d.err("inconsistent counts, keys or sequence numbers"));
        }
        Ok(meta)
    }
}

/// A block's location: offset and length of its payload (the trailer follows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlockHandle {
    pub offset: u64,
    pub len: u32,
}

impl BlockHandle {
    /// Offset just past the block's trailer, `None` on overflow.
    pub(crate) fn end_with_trailer(&self) -> Option<u64> {
        self.offset
            .checked_add(u64::from(self.len))?
            .checked_add(TRAILER_BYTES as u64)
    }
}

/// The trailer written after a block payload.
pub(crate) fn trailer(payload: &[u8]) -> [u8; TRAILER_BYTES] {
    let mut t = [0u8; TRAILER_BYTES];
    t[0] = COMPRESSION_NONE;
    t[1..].copy_from_slice(&block_checksum(payload, COMPRESSION_NONE).to_le_bytes());
    t
}

/// xxh3-64 over the payload followed by the compression byte.
pub(crate) fn block_checksum(payload: &[u8], compression: u8) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(payload);
    h.update(&[compression]);
    h.digest()
}

/// Checks a block's trailer (`raw` = payload ‖ trailer, read at `offset`) and returns the
/// payload length.
pub(crate) fn verify_block(raw: &[u8], table: u64, offset: u64, what: &str) -> Result<usize> {
    let Some(len) = raw.len().checked_sub(TRAILER_BYTES) else {
        return Err(corruption(
            table,
            format_args!("{what} shorter than a trailer"),
            offset,
        ));
    };
    let (payload, t) = raw.split_at(len);
    let compression = t[0];
    let mut ck = [0u8; 8];
    ck.copy_from_slice(&t[1..]);
    if block_checksum(payload, compression) != u64::from_le_bytes(ck) {
        return Err(corruption(
            table,
            format_args!("{what} checksum mismatch"),
            offset,
        ));
    }
    if compression != COMPRESSION_NONE {
        return Err(corruption(
            table,
            format_args!("{what} has unknown compression type {compression}"),
            offset + len as u64,
        ));
    }
    Ok(len)
}

/// `Corruption("sstable <table>: <what> at offset <offset>")`.
pub(crate) fn corruption(table: u64, what: impl Display, offset: u64) -> StorageError {
    StorageError::Corruption(format!("sstable {table}: {what} at offset {offset}"))
}

/// Appends `v` as an unsigned LEB128 varint (1 to 10 bytes).
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A bounds-checked cursor over a decoded structure. Errors name the table (when known), the
/// structure and the absolute file offset of the failing byte.
pub(crate) struct Dec<'a> {
    buf: &'a [u8],
    pos: usize,
    table: Option<u64>,
    base: u64,
    what: &'static str,
}

impl<'a> Dec<'a> {
    pub(crate) fn new(buf: &'a [u8], table: Option<u64>, base: u64, what: &'static str) -> Self {
        Dec {
            buf,
            pos: 0,
            table,
            base,
            what,
        }
    }

    pub(crate) fn err(&self, msg: &str) -> StorageError {
        let offset = self.base.saturating_add(self.pos as u64);
        match self.table {
            Some(t) => corruption(t, format_args!("{}: {msg}", self.what), offset),
            None => {
                StorageError::Corruption(format!("sstable {}: {msg} at offset {offset}", self.what))
            }
        }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(self.err("truncated"));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A canonical LEB128 varint of at most 10 bytes.
    pub(crate) fn varint(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.u8()?;
            if i == 9 && b > 1 {
                return Err(self.err("varint overflows 64 bits"));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if i > 0 && b == 0 {
                    return Err(self.err("overlong varint"));
                }
                return Ok(v);
            }
        }
        Err(self.err("varint longer than 10 bytes"))
    }

    /// u32 LE length ‖ bytes, the length at most `max`.
    pub(crate) fn u32_bytes(&mut self, max: usize) -> Result<&'a [u8]> {
        let n = self.u32()? as usize;
        if n > max {
            return Err(self.err("length over the limit"));
        }
        self.take(n)
    }

    /// varint length ‖ bytes, the length at most `max`.
    pub(crate) fn var_bytes(&mut self, max: usize) -> Result<&'a [u8]> {
        let n = self.varint()?;
        if n > max as u64 {
            return Err(self.err("length over the limit"));
        }
        self.take(n as usize)
    }

    /// A u32 count of items that take at least `min_item_bytes` each: refuses counts the
    /// remaining input cannot hold, so garbage cannot make a decoder allocate gigabytes.
    pub(crate) fn count(&mut self, min_item_bytes: usize) -> Result<usize> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_item_bytes.max(1)) > self.remaining() {
            return Err(self.err("count larger than the remaining input"));
        }
        Ok(n)
    }

    /// Fails unless every byte was consumed.
    pub(crate) fn finish(&self) -> Result<()> {
        if self.remaining() != 0 {
            return Err(self.err("trailing bytes"));
        }
        Ok(())
    }
}
