//! Writes an SSTable in entry order, buffering output in large chunks.

use std::cmp::Ordering;
use std::sync::Arc;

use super::block::BlockBuilder;
use super::bloom::Bloom;
use super::{
    trailer, BlockHandle, SstMeta, SstOptions, FOOTER_BYTES, SST_FORMAT_VERSION, SST_MAGIC,
};
use crate::codec::{put_bytes, put_u32, put_u64};
use crate::error::{Result, StorageError};
use crate::io::IoFile;
use crate::key::{entry_cmp, SeqNo, ValueKind};

const WRITE_CHUNK_BYTES: usize = 1 << 20;

pub struct SstWriter {
    file: Arc<dyn IoFile>,
    opts: SstOptions,
    block: BlockBuilder,
    /// (last key, last seq, handle) per finished data block.
    index: Vec<(Vec<u8>, SeqNo, BlockHandle)>,
    hashes: Vec<u64>,
    pending: Vec<u8>,
    written: u64,
    meta: SstMeta,
    last: Option<(Vec<u8>, SeqNo)>,
    block_last: Option<(Vec<u8>, SeqNo)>,
}

impl std::fmt::Debug for SstWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SstWriter")
            .field("table", &self.meta.table_id)
            .finish()
    }
}

impl SstWriter {
    pub fn new(file: Arc<dyn IoFile>, table_id: u64, opts: SstOptions) -> SstWriter {
        let block = BlockBuilder::new(opts.restart_interval);
        SstWriter {
            file,
            opts,
            block,
            index: Vec::new(),
            hashes: Vec::new(),
            pending: Vec::with_capacity(WRITE_CHUNK_BYTES),
            written: 0,
            meta: SstMeta {
                table_id,
                min_seq: SeqNo::MAX,
                ..Default::default()
            },
            last: None,
            block_last: None,
        }
    }

    /// Adds an entry; entries must come in strictly increasing entry order.
    pub fn add(
        &mut self,
        user_key: &[u8],
        seq: SeqNo,
        kind: ValueKind,
        value: &[u8],
    ) -> Result<()> {
        if user_key.len() > u16::MAX as usize {
            return Err(StorageError::KeyTooLarge {
                size: user_key.len(),
                max: u16::MAX as usize,
            });
        }
        if value.len() > u32::MAX as usize / 2 {
            return Err(StorageError::ValueTooLarge {
                size: value.len(),
                max: u32::MAX as usize / 2,
            });
        }
        let new_key = match &self.last {
            Some((k, s)) => {
                if entry_cmp(k, *s, user_key, seq) != Ordering::Less {
                    return Err(StorageError::InvalidArgument(format!(
                        "sstable {}: entries added out of order",
                        self.meta.table_id
                    )));
                }
                k.as_slice() != user_key
            }
            None => true,
        };
        if new_key {
            self.hashes.push(Bloom::hash(user_key));
        }
        if self.meta.entry_count == 0 {
            self.meta.smallest_key = user_key.to_vec();
        }
        self.meta.entry_count += 1;
        if kind == ValueKind::Delete {
            self.meta.tombstone_count += 1;
        }
        self.meta.min_seq = self.meta.min_seq.min(seq);
        self.meta.max_seq = self.meta.max_seq.max(seq);
        self.meta.raw_key_bytes += user_key.len() as u64;
        self.meta.raw_value_bytes += value.len() as u64;
        self.block.add(user_key, seq, kind, value);
        self.last = Some((user_key.to_vec(), seq));
        self.block_last = self.last.clone();
        if self.block.size_estimate() >= self.opts.block_size_bytes {
            self.finish_block()?;
        }
        Ok(())
    }

    fn finish_block(&mut self) -> Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        let payload = self.block.finish();
        let handle = self.write_block(&payload)?;
        if let Some((k, s)) = self.block_last.take() {
            self.index.push((k, s, handle));
        }
        Ok(())
    }

    fn write_block(&mut self, payload: &[u8]) -> Result<BlockHandle> {
        let handle = BlockHandle {
            offset: self.written + self.pending.len() as u64,
            len: payload.len() as u32,
        };
        self.pending.extend_from_slice(payload);
        self.pending.extend_from_slice(&trailer(payload));
        if self.pending.len() >= WRITE_CHUNK_BYTES {
            self.flush_pending()?;
        }
        Ok(handle)
    }

    fn flush_pending(&mut self) -> Result<()> {
        if !self.pending.is_empty() {
            self.file.write_all_at(&self.pending, self.written)?;
            self.written += self.pending.len() as u64;
            self.pending.clear();
        }
        Ok(())
    }

    /// Writes the remaining blocks, index, bloom filter, properties and footer, then syncs.
    pub fn finish(mut self) -> Result<SstMeta> {
        self.finish_block()?;
        if self.meta.entry_count == 0 {
            self.meta.min_seq = 0;
        }
        if let Some((k, _)) = &self.last {
            self.meta.largest_key = k.clone();
        }
        let mut index = Vec::new();
        put_u32(&mut index, self.index.len() as u32);
        for (k, s, h) in &self.index {
            put_bytes(&mut index, k);
            put_u64(&mut index, *s);
            put_u64(&mut index, h.offset);
            put_u32(&mut index, h.len);
        }
        let index_h = self.write_block(&index)?;
        let bloom = Bloom::build(&self.hashes, self.opts.bloom_bits_per_key).encode();
        let bloom_h = self.write_block(&bloom)?;
        let props = self.meta.encode();
        let props_h = self.write_block(&props)?;
        let mut footer = Vec::with_capacity(FOOTER_BYTES);
        for h in [index_h, bloom_h, props_h] {
            put_u64(&mut footer, h.offset);
            put_u32(&mut footer, h.len);
        }
        put_u32(&mut footer, SST_FORMAT_VERSION);
        footer.resize(FOOTER_BYTES - 16, 0);
        footer.extend_from_slice(SST_MAGIC);
        let ck = xxhash_rust::xxh3::xxh3_64(&footer);
        put_u64(&mut footer, ck);
        self.pending.extend_from_slice(&footer);
        self.flush_pending()?;
        self.file.sync_data()?;
        self.meta.file_size = self.written;
        Ok(self.meta)
    }
}
