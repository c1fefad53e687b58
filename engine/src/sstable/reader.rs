//! Reads an SSTable: footer and meta blocks verified at open, data blocks verified when first
//! read and then kept decoded in the block cache.

use std::ops::Bound;
use std::sync::Arc;

use super::block::Block;
use super::bloom::Bloom;
use super::cache::BlockCache;
use super::{
    trailer, BlockHandle, ReadMode, SstMeta, FOOTER_BYTES, SST_FORMAT_VERSION, SST_MAGIC,
    TRAILER_BYTES,
};
use crate::codec::Reader;
use crate::error::{Result, StorageError};
use crate::io::IoFile;
use crate::key::{Entry, SeqNo};

#[derive(Debug)]
struct IndexEntry {
    last_key: Vec<u8>,
    last_seq: SeqNo,
    handle: BlockHandle,
}

pub struct SstReader {
    id: u64,
    file: Arc<dyn IoFile>,
    mmap: Option<memmap2::Mmap>,
    cache: Arc<BlockCache>,
    index: Vec<IndexEntry>,
    bloom: Bloom,
    meta: SstMeta,
}

impl std::fmt::Debug for SstReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SstReader")
            .field("id", &self.id)
            .field("blocks", &self.index.len())
            .finish()
    }
}

fn corrupt(id: u64, what: &str, offset: u64) -> StorageError {
    StorageError::Corruption(format!("sstable {id}: {what} at offset {offset}"))
}

impl SstReader {
    pub fn open(
        file: Arc<dyn IoFile>,
        id: u64,
        cache: Arc<BlockCache>,
        mode: ReadMode,
    ) -> Result<Arc<SstReader>> {
        let len = file.len()?;
        if len < FOOTER_BYTES as u64 {
            return Err(corrupt(id, "file shorter than a footer", 0));
        }
        let mmap = match (mode, file.std_file()) {
            // SAFETY: SSTables are written once, synced, and never modified afterwards (they are
            // only deleted, which keeps existing mappings valid); the engine never truncates or
            // rewrites a table file while a reader exists.
            (ReadMode::Mmap, Some(f)) => Some(unsafe { memmap2::Mmap::map(f) }?),
            _ => None,
        };
        let mut reader = SstReader {
            id,
            file,
            mmap,
            cache,
            index: Vec::new(),
            bloom: Bloom::build(&[], 1),
            meta: SstMeta::default(),
        };
        let footer_off = len - FOOTER_BYTES as u64;
        let footer = reader.read_raw(footer_off, FOOTER_BYTES)?;
        if &footer[FOOTER_BYTES - 16..FOOTER_BYTES - 8] != SST_MAGIC {
            return Err(corrupt(id, "bad magic (not an SSTable)", footer_off));
        }
        let mut ck = [0u8; 8];
        ck.copy_from_slice(&footer[FOOTER_BYTES - 8..]);
        if xxhash_rust::xxh3::xxh3_64(&footer[..FOOTER_BYTES - 8]) != u64::from_le_bytes(ck) {
            return Err(corrupt(id, "footer checksum mismatch", footer_off));
        }
        let mut r = Reader::new(&footer, "sstable footer");
        let mut handles = [BlockHandle { offset: 0, len: 0 }; 3];
        for h in handles.iter_mut() {
            *h = BlockHandle {
                offset: r.u64()?,
                len: r.u32()?,
            };
        }
        let version = r.u32()?;
        if version > SST_FORMAT_VERSION {
            return Err(StorageError::UnsupportedVersion {
                what: format!("sstable {id}"),
                found: version,
                supported: SST_FORMAT_VERSION,
            });
        }
        let [index_h, bloom_h, props_h] = handles;
        let index_raw = reader.read_block_payload(index_h, footer_off)?;
        let mut ir = Reader::new(&index_raw, "sstable index");
        let n = ir.count(24)?;
        let mut index = Vec::with_capacity(n);
        for _ in 0..n {
            let last_key = ir.bytes()?.to_vec();
            let last_seq = ir.u64()?;
            let handle = BlockHandle {
                offset: ir.u64()?,
                len: ir.u32()?,
            };
            if handle.offset + handle.len as u64 + TRAILER_BYTES as u64 > index_h.offset {
                return Err(corrupt(
                    id,
                    "index points past the data blocks",
                    index_h.offset,
                ));
            }
            index.push(IndexEntry {
                last_key,
                last_seq,
                handle,
            });
        }
        let bloom_raw = reader.read_block_payload(bloom_h, footer_off)?;
        reader.bloom = Bloom::decode(&bloom_raw)
            .ok_or_else(|| corrupt(id, "bad bloom filter", bloom_h.offset))?;
        let props_raw = reader.read_block_payload(props_h, footer_off)?;
        reader.meta = SstMeta::decode(&props_raw, len)?;
        reader.index = index;
        Ok(Arc::new(reader))
    }

    fn read_raw(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        if let Some(m) = &self.mmap {
            let start =
                usize::try_from(offset).map_err(|_| corrupt(self.id, "offset overflow", offset))?;
            let end = start.checked_add(len).filter(|e| *e <= m.len());
            let Some(end) = end else {
                return Err(corrupt(self.id, "read past end of file", offset));
            };
            return Ok(m[start..end].to_vec());
        }
        let mut buf = vec![0u8; len];
        self.file.read_exact_at(&mut buf, offset).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                corrupt(self.id, "read past end of file", offset)
            } else {
                StorageError::Io(e)
            }
        })?;
        Ok(buf)
    }

    /// Reads a block and its trailer, verifies the checksum, returns the payload.
    fn read_block_payload(&self, h: BlockHandle, limit: u64) -> Result<Vec<u8>> {
        let total = h.len as usize + TRAILER_BYTES;
        if h.offset.checked_add(total as u64).is_none_or(|e| e > limit) {
            return Err(corrupt(self.id, "block handle out of range", h.offset));
        }
        let mut raw = self.read_raw(h.offset, total)?;
        let t = raw.split_off(h.len as usize);
        if t.as_slice() != trailer(&raw).as_slice() {
            return Err(corrupt(self.id, "block checksum mismatch", h.offset));
        }
        Ok(raw)
    }

    fn block(&self, i: usize) -> Result<Arc<Block>> {
        let h = self.index[i].handle;
        if let Some(b) = self.cache.get(self.id, h.offset) {
            return Ok(b);
        }
        let raw = self.read_block_payload(h, self.meta.file_size)?;
        let b = Arc::new(Block::decode(raw, self.id, h.offset)?);
        if b.is_empty() {
            return Err(corrupt(self.id, "empty data block", h.offset));
        }
        self.cache.insert(self.id, h.offset, Arc::clone(&b));
        Ok(b)
    }

    /// Index of the first block whose last entry is ≥ (key, seq).
    fn find_block(&self, key: &[u8], seq: SeqNo) -> usize {
        self.index.partition_point(|e| {
            crate::key::entry_cmp(&e.last_key, e.last_seq, key, seq) == std::cmp::Ordering::Less
        })
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn meta(&self) -> &SstMeta {
        &self.meta
    }

    pub fn may_contain(&self, user_key: &[u8]) -> bool {
        self.bloom.may_contain(user_key)
    }

    /// The newest version of `user_key` with seq ≤ `snapshot` (tombstones included).
    pub fn get(&self, user_key: &[u8], snapshot: SeqNo) -> Result<Option<Entry>> {
        if !self.bloom.may_contain(user_key) {
            return Ok(None);
        }
        let bi = self.find_block(user_key, snapshot);
        if bi >= self.index.len() {
            return Ok(None);
        }
        let b = self.block(bi)?;
        let i = b.seek(user_key, snapshot);
        if i < b.len() && b.key(i) == user_key {
            return Ok(Some(b.entry(i)));
        }
        Ok(None)
    }

    /// All versions within the user-key bounds, in entry order.
    pub fn iter(self: &Arc<Self>, lower: Bound<Vec<u8>>, upper: Bound<Vec<u8>>) -> SstIter {
        SstIter::new(Arc::clone(self), lower, upper, false)
    }

    /// All versions within the user-key bounds, in exact reverse entry order.
    pub fn iter_rev(self: &Arc<Self>, lower: Bound<Vec<u8>>, upper: Bound<Vec<u8>>) -> SstIter {
        SstIter::new(Arc::clone(self), lower, upper, true)
    }
}

/// An owned iterator over a table's entries (forward or reverse).
pub struct SstIter {
    t: Arc<SstReader>,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    reverse: bool,
    block_idx: usize,
    block: Option<Arc<Block>>,
    /// Forward: next entry index. Reverse: one past the next entry index.
    pos: usize,
    started: bool,
    done: bool,
}

impl SstIter {
    fn new(t: Arc<SstReader>, lower: Bound<Vec<u8>>, upper: Bound<Vec<u8>>, reverse: bool) -> Self {
        SstIter {
            t,
            lower,
            upper,
            reverse,
            block_idx: 0,
            block: None,
            pos: 0,
            started: false,
            done: false,
        }
    }

    fn start(&mut self) -> Result<()> {
        self.started = true;
        let n = self.t.index.len();
        if n == 0 {
            self.done = true;
            return Ok(());
        }
        if !self.reverse {
            // First entry ≥ lower.
            let (key, seq) = match &self.lower {
                Bound::Included(k) => (k.clone(), u64::MAX),
                Bound::Excluded(k) => (k.clone(), 0),
                Bound::Unbounded => (Vec::new(), u64::MAX),
            };
            let bi = self.t.find_block(&key, seq);
            if bi >= n {
                self.done = true;
                return Ok(());
            }
            let b = self.t.block(bi)?;
            let mut i = b.seek(&key, seq);
            if let Bound::Excluded(k) = &self.lower {
                while i < b.len() && b.key(i) == k.as_slice() {
                    i += 1;
                }
            }
            self.block_idx = bi;
            self.pos = i;
            self.block = Some(b);
        } else {
            // Last entry ≤ upper: the entry just before the first entry > upper.
            let (key, seq, after) = match &self.upper {
                Bound::Included(k) => (k.clone(), 0, true),
                Bound::Excluded(k) => (k.clone(), u64::MAX, false),
                Bound::Unbounded => {
                    self.block_idx = n - 1;
                    let b = self.t.block(n - 1)?;
                    self.pos = b.len();
                    self.block = Some(b);
                    return Ok(());
                }
            };
            let bi = self.t.find_block(&key, seq).min(n - 1);
            let b = self.t.block(bi)?;
            let mut i = b.seek(&key, seq);
            if after {
                while i < b.len() && b.key(i) == key.as_slice() {
                    i += 1;
                }
            }
            self.block_idx = bi;
            self.pos = i;
            self.block = Some(b);
        }
        Ok(())
    }

    fn in_upper(&self, key: &[u8]) -> bool {
        match &self.upper {
            Bound::Included(u) => key <= u.as_slice(),
            Bound::Excluded(u) => key < u.as_slice(),
            Bound::Unbounded => true,
        }
    }

    fn in_lower(&self, key: &[u8]) -> bool {
        match &self.lower {
            Bound::Included(l) => key >= l.as_slice(),
            Bound::Excluded(l) => key > l.as_slice(),
            Bound::Unbounded => true,
        }
    }

    fn step(&mut self) -> Result<Option<Entry>> {
        if !self.started {
            self.start()?;
        }
        loop {
            if self.done {
                return Ok(None);
            }
            let Some(b) = self.block.clone() else {
                self.done = true;
                return Ok(None);
            };
            if !self.reverse {
                if self.pos < b.len() {
                    if !self.in_upper(b.key(self.pos)) {
                        self.done = true;
                        return Ok(None);
                    }
                    let e = b.entry(self.pos);
                    self.pos += 1;
                    return Ok(Some(e));
                }
                self.block_idx += 1;
                if self.block_idx >= self.t.index.len() {
                    self.done = true;
                    return Ok(None);
                }
                self.block = Some(self.t.block(self.block_idx)?);
                self.pos = 0;
            } else {
                if self.pos > 0 {
                    let i = self.pos - 1;
                    if !self.in_lower(b.key(i)) {
                        self.done = true;
                        return Ok(None);
                    }
                    self.pos = i;
                    return Ok(Some(b.entry(i)));
                }
                if self.block_idx == 0 {
                    self.done = true;
                    return Ok(None);
                }
                self.block_idx -= 1;
                let nb = self.t.block(self.block_idx)?;
                self.pos = nb.len();
                self.block = Some(nb);
            }
        }
    }
}

impl Iterator for SstIter {
    type Item = Result<Entry>;
    fn next(&mut self) -> Option<Self::Item> {
        match self.step() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => None,
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
