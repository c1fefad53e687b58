//! Writes an SSTable in entry order. Blocks are encoded straight into one output buffer that
//! goes to the file in chunks of about [`WRITE_CHUNK_BYTES`], so a table costs a handful of
//! writes, never one per entry; the tail (last data blocks, meta blocks, footer) goes out in
//! one write linked with its fdatasync.

use std::cmp::Ordering;
use std::sync::Arc;

use super::block::BlockBuilder;
use super::bloom::Bloom;
use super::footer::Footer;
use super::index::IndexBuilder;
use super::{
    trailer, BlockHandle, SstMeta, SstOptions, FOOTER_BYTES, SST_FORMAT_VERSION,
    SST_KEY_SIZE_MAX_BYTES, SST_VALUE_SIZE_MAX_BYTES, TRAILER_BYTES,
};
use crate::error::{Result, StorageError};
use crate::io::IoFile;
use crate::key::{entry_cmp, SeqNo, ValueKind};

/// Output is written once this much is buffered.
pub const WRITE_CHUNK_BYTES: usize = 1 << 20;

/// Builds one table. Entries go in with [`SstWriter::add`] in strictly ascending entry order;
/// [`SstWriter::finish`] completes the file and returns its [`SstMeta`].
pub struct SstWriter {
    file: Arc<dyn IoFile>,
    opts: SstOptions,
    block: BlockBuilder,
    index: IndexBuilder,
    /// Bloom hashes of the distinct user keys.
    hashes: Vec<u64>,
    pending: Vec<u8>,
    /// Bytes already written to the file (the offset of `pending[0]`).
    written: u64,
    meta: SstMeta,
    last_key: Vec<u8>,
    last_seq: SeqNo,
    /// A write failed: the file has a hole or a torn chunk, so the writer refuses to go on.
    failed: bool,
}

impl std::fmt::Debug for SstWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SstWriter")
            .field("table", &self.meta.table_id)
            .field("entries", &self.meta.entry_count)
            .field("written", &self.written)
            .finish()
    }
}

impl SstWriter {
    /// A writer of table `table_id` into `file` (new and empty; writing starts at offset 0).
    /// Options are clamped into what the format supports ([`SstOptions::sanitized`]).
    pub fn new(file: Arc<dyn IoFile>, table_id: u64, opts: SstOptions) -> SstWriter {
        let opts = opts.sanitized();
        SstWriter {
            file,
            block: BlockBuilder::new(opts.restart_interval, opts.block_size_bytes + 1024),
            opts,
            index: IndexBuilder::default(),
            hashes: Vec::new(),
            pending: Vec::with_capacity(WRITE_CHUNK_BYTES + 64 * 1024),
            written: 0,
            meta: SstMeta {
                table_id,
                ..Default::default()
            },
            last_key: Vec::new(),
            last_seq: 0,
            failed: false,
        }
    }

    /// Entries added so far.
    pub fn entry_count(&self) -> u64 {
        self.meta.entry_count
    }

    /// Bytes the file will have if it were finished now, without meta blocks and footer.
    pub fn estimated_size(&self) -> u64 {
        self.written + self.pending.len() as u64 + self.block.size_estimate() as u64
    }

    /// Adds an entry. Entries must come in strictly ascending entry order (user key
    /// ascending, then seq descending); anything else is `InvalidArgument`, as are keys over
    /// [`SST_KEY_SIZE_MAX_BYTES`] (`KeyTooLarge`) and values over
    /// [`SST_VALUE_SIZE_MAX_BYTES`] (`ValueTooLarge`).
    pub fn add(
        &mut self,
        user_key: &[u8],
        seq: SeqNo,
        kind: ValueKind,
        value: &[u8],
    ) -> Result<()> {
        self.check_usable()?;
        if user_key.len() > SST_KEY_SIZE_MAX_BYTES {
            return Err(StorageError::KeyTooLarge {
                size: user_key.len(),
                max: SST_KEY_SIZE_MAX_BYTES,
            });
        }
        if value.len() > SST_VALUE_SIZE_MAX_BYTES {
            return Err(StorageError::ValueTooLarge {
                size: value.len(),
                max: SST_VALUE_SIZE_MAX_BYTES,
            });
        }
        let first = self.meta.entry_count == 0;
        if !first && entry_cmp(&self.last_key, self.last_seq, user_key, seq) != Ordering::Less {
            return Err(StorageError::InvalidArgument(format!(
                "sstable {}: entry #{} (key of {} bytes, seq {seq}) does not follow the previous \
                 entry (seq {}) in entry order",
                self.meta.table_id,
                self.meta.entry_count,
                user_key.len(),
                self.last_seq,
            )));
        }
        let new_key = first || self.last_key.as_slice() != user_key;
        if new_key {
            self.hashes.push(Bloom::hash(user_key));
            self.last_key.clear();
            self.last_key.extend_from_slice(user_key);
        }
        self.last_seq = seq;
        if first {
            self.meta.smallest_key = user_key.to_vec();
            self.meta.min_seq = seq;
            self.meta.max_seq = seq;
        } else {
            self.meta.min_seq = self.meta.min_seq.min(seq);
            self.meta.max_seq = self.meta.max_seq.max(seq);
        }
        self.meta.entry_count += 1;
        if kind == ValueKind::Delete {
            self.meta.tombstone_count += 1;
        }
        self.meta.raw_key_bytes += user_key.len() as u64;
        self.meta.raw_value_bytes += value.len() as u64;
        self.block.add(user_key, seq, kind, value);
        if self.block.size_estimate() >= self.opts.block_size_bytes {
            self.finish_data_block()?;
        }
        Ok(())
    }

    fn check_usable(&self) -> Result<()> {
        if self.failed {
            return Err(StorageError::InvalidArgument(format!(
                "sstable {}: an earlier write failed; the table must be discarded",
                self.meta.table_id
            )));
        }
        Ok(())
    }

    /// Ends the current data block (its last entry is the last one added) and indexes it.
    fn finish_data_block(&mut self) -> Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        let start = self.pending.len();
        let mut pending = std::mem::take(&mut self.pending);
        self.block.finish_into(&mut pending);
        self.pending = pending;
        let handle = self.seal_block(start)?;
        self.index.add(&self.last_key, self.last_seq, handle);
        self.flush_if_full()
    }

    /// Appends a meta block payload and its trailer.
    fn push_block(&mut self, payload: &[u8]) -> Result<BlockHandle> {
        let start = self.pending.len();
        self.pending.extend_from_slice(payload);
        self.seal_block(start)
    }

    /// Appends the trailer of the payload at `pending[start..]`; returns the block's handle.
    fn seal_block(&mut self, start: usize) -> Result<BlockHandle> {
        let payload = &self.pending[start..];
        let len = u32::try_from(payload.len()).map_err(|_| {
            StorageError::InvalidArgument(format!(
                "sstable {}: block of {} bytes exceeds the format's 4 GiB",
                self.meta.table_id,
                payload.len()
            ))
        })?;
        let t = trailer(payload);
        self.pending.extend_from_slice(&t);
        Ok(BlockHandle {
            offset: self.written + start as u64,
            len,
        })
    }

    fn flush_if_full(&mut self) -> Result<()> {
        if self.pending.len() >= WRITE_CHUNK_BYTES {
            self.failed = true;
            self.file.write_all_at(&self.pending, self.written)?;
            self.failed = false;
            self.file
                .start_writeback(self.written, self.pending.len() as u64);
            self.written += self.pending.len() as u64;
            self.pending.clear();
        }
        Ok(())
    }

    /// Writes the remaining data, index, bloom filter, properties and footer, then
    /// fdatasyncs the file. The returned meta is also what the properties block holds.
    pub fn finish(mut self) -> Result<SstMeta> {
        self.check_usable()?;
        self.finish_data_block()?;
        if self.meta.entry_count > 0 {
            self.meta.largest_key = self.last_key.clone();
        }
        let index = self.push_block(&self.index.finish())?;
        let bloom_payload = Bloom::build(&self.hashes, self.opts.bloom_bits_per_key).encode();
        let bloom = self.push_block(&bloom_payload)?;
        // The properties hold the file size, which depends on their own (varint) length: find
        // the fixed point (the length only grows with the size, so this settles in a couple
        // of rounds).
        let props_offset = self.written + self.pending.len() as u64;
        let tail = (TRAILER_BYTES + FOOTER_BYTES) as u64;
        let mut props = self.meta.to_bytes();
        for _ in 0..16 {
            let size = props_offset + props.len() as u64 + tail;
            if size == self.meta.file_size {
                break;
            }
            self.meta.file_size = size;
            props = self.meta.to_bytes();
        }
        let props_h = self.push_block(&props)?;
        let footer = Footer {
            index,
            bloom,
            props: props_h,
            version: SST_FORMAT_VERSION,
        };
        self.pending.extend_from_slice(&footer.encode());
        self.failed = true;
        self.file
            .write_all_at_and_sync(&self.pending, self.written)?;
        self.failed = false;
        self.written += self.pending.len() as u64;
        if self.written != self.meta.file_size {
            return Err(StorageError::InvalidArgument(format!(
                "sstable {}: wrote {} bytes but the properties say {}",
                self.meta.table_id, self.written, self.meta.file_size
            )));
        }
        Ok(self.meta)
    }
}
