//! Reads an SSTable: footer and meta blocks verified at open, data blocks verified when first
//! read and then kept decoded in the block cache.

use std::cmp::Ordering;
use std::ops::Bound;
use std::sync::Arc;

use super::block::Block;
use super::bloom::Bloom;
use super::cache::BlockCache;
use super::footer::Footer;
use super::index::Index;
use super::{corruption, verify_block, BlockHandle, ReadMode, SstMeta, FOOTER_BYTES};
use crate::error::{Result, StorageError};
use crate::io::IoFile;
use crate::key::{entry_cmp, Entry, SeqNo};

/// An open table. Cheap to share (`Arc`); every method takes `&self` and is thread-safe.
pub struct SstReader {
    id: u64,
    file: Arc<dyn IoFile>,
    mmap: Option<memmap2::Mmap>,
    cache: Arc<BlockCache>,
    index: Index,
    bloom: Bloom,
    meta: SstMeta,
    footer: Footer,
}

impl std::fmt::Debug for SstReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SstReader")
            .field("id", &self.id)
            .field("blocks", &self.index.len())
            .field("mmap", &self.mmap.is_some())
            .field("meta", &self.meta)
            .finish()
    }
}

impl SstReader {
    /// Opens table `table_id` in `file`: reads and verifies the footer (magic, checksum,
    /// version), then the index, bloom and properties blocks (checksums and structure). A file
    /// that is not an SSTable or is damaged is `Corruption` naming the table; a newer format
    /// version is `UnsupportedVersion`. With [`ReadMode::Mmap`] the file is memory-mapped
    /// when it has a std file underneath, and read through the I/O backend otherwise.
    pub fn open(
        file: Arc<dyn IoFile>,
        table_id: u64,
        cache: Arc<BlockCache>,
        mode: ReadMode,
    ) -> Result<Arc<SstReader>> {
        let id = table_id;
        let mut len = file.len()?;
        if len < FOOTER_BYTES as u64 {
            return Err(corruption(
                id,
                format_args!("file of {len} bytes is shorter than a footer"),
                0,
            ));
        }
        let mmap = match (mode, file.std_file()) {
            // SAFETY: SSTables are written once, synced, and never modified afterwards (they
            // are only deleted, which keeps existing mappings valid); the engine never
            // truncates or rewrites a table file while a reader exists. Every access through
            // the mapping is bounds-checked against its length.
            (ReadMode::Mmap, Some(f)) => Some(unsafe { memmap2::Mmap::map(f) }?),
            _ => None,
        };
        if let Some(m) = &mmap {
            len = m.len() as u64;
        }
        let mut reader = SstReader {
            id,
            file,
            mmap,
            cache,
            index: Index::default(),
            bloom: Bloom::none(),
            meta: SstMeta::default(),
            footer: Footer::default(),
        };
        let footer_at = len
            .checked_sub(FOOTER_BYTES as u64)
            .ok_or_else(|| corruption(id, "file shorter than a footer", 0))?;
        let raw = reader.read_raw(footer_at, FOOTER_BYTES)?;
        let mut fb = [0u8; FOOTER_BYTES];
        fb.copy_from_slice(&raw);
        let footer = Footer::decode(&fb, id, footer_at)?;

        // v1 layout: index, bloom and properties blocks are contiguous and end at the footer,
        // so they are read (and verified) with one read.
        let (ih, bh, ph) = (footer.index, footer.bloom, footer.props);
        let contiguous = ih.end_with_trailer() == Some(bh.offset)
            && bh.end_with_trailer() == Some(ph.offset)
            && ph.end_with_trailer() == Some(footer_at);
        if !contiguous {
            return Err(corruption(
                id,
                "meta block handles are not contiguous",
                footer_at,
            ));
        }
        let tail_len = usize::try_from(footer_at - ih.offset)
            .map_err(|_| corruption(id, "meta blocks larger than memory", ih.offset))?;
        let tail = reader.read_raw(ih.offset, tail_len)?;
        let block_of = |h: BlockHandle, what: &str| -> Result<&[u8]> {
            // In range: the handles tile [ih.offset, footer_at) exactly.
            let start = (h.offset - ih.offset) as usize;
            let end = start + h.len as usize + super::TRAILER_BYTES;
            let raw = &tail[start..end];
            let n = verify_block(raw, id, h.offset, what)?;
            Ok(&raw[..n])
        };
        let index_raw = block_of(ih, "index block")?;
        let bloom_raw = block_of(bh, "bloom block")?;
        let props_raw = block_of(ph, "properties block")?;

        let index = Index::decode(index_raw, id, ih.offset, ih.offset)?;
        let bloom = Bloom::decode(bloom_raw)
            .ok_or_else(|| corruption(id, "malformed bloom filter", bh.offset))?;
        let meta = SstMeta::decode_in(props_raw, Some(id), ph.offset)?;
        if meta.table_id != id {
            return Err(corruption(
                id,
                format_args!("properties name table {}", meta.table_id),
                ph.offset,
            ));
        }
        if meta.file_size != len {
            return Err(corruption(
                id,
                format_args!(
                    "properties give a file size of {} but the file has {len} bytes",
                    meta.file_size
                ),
                ph.offset,
            ));
        }
        if (meta.entry_count == 0) != (index.len() == 0) || meta.entry_count < index.len() as u64 {
            return Err(corruption(
                id,
                format_args!(
                    "properties count {} entries in {} data blocks",
                    meta.entry_count,
                    index.len()
                ),
                ph.offset,
            ));
        }
        if index.len() > 0 {
            let last = index.len() - 1;
            if index.last_key(last) != meta.largest_key.as_slice() {
                return Err(corruption(
                    id,
                    "largest key differs from the index",
                    ph.offset,
                ));
            }
        }
        reader.index = index;
        reader.bloom = bloom;
        reader.meta = meta;
        reader.footer = footer;
        Ok(Arc::new(reader))
    }

    /// Whether data block `i`'s bytes are in the page cache (see [`SstReader::resident`]).
    #[cfg(test)]
    pub(crate) fn block_resident(&self, i: usize) -> bool {
        let h = self.index.handle(i);
        self.resident(h.offset, h.len as usize + super::TRAILER_BYTES)
    }

    /// The data block a point read of `user_key` at `snapshot` reads.
    #[cfg(test)]
    pub(crate) fn block_of(&self, user_key: &[u8], snapshot: SeqNo) -> usize {
        self.index.find(user_key, snapshot)
    }

    /// Whether `len` bytes at `offset` are in the page cache, so reading them cannot wait for
    /// the device: asked of the kernel (`mincore`) for a mapped table; never known (false) for
    /// one read through the file.
    fn resident(&self, offset: u64, len: usize) -> bool {
        let Some(m) = &self.mmap else {
            return false;
        };
        let page = page_size();
        let Ok(start) = usize::try_from(offset) else {
            return false;
        };
        let Some(end) = start.checked_add(len).filter(|e| *e <= m.len()) else {
            return false;
        };
        if len == 0 {
            return true;
        }
        let base = m.as_ptr() as usize;
        let first = (base + start) & !(page - 1);
        let last = base + end;
        let pages = (last - first).div_ceil(page);
        // A byte per page: on the stack for blocks up to 256 KiB (4 KiB pages), else on the heap.
        let mut small = [0u8; 64];
        let mut large = Vec::new();
        let vec: &mut [u8] = if pages <= small.len() {
            &mut small[..pages]
        } else {
            large.resize(pages, 0);
            &mut large
        };
        // SAFETY: `first..last` lies within the mapping (its start rounded down to the page the
        // mapping's own first byte is on, which is page-aligned), and `vec` has a byte for
        // each of its `pages` pages.
        let r =
            unsafe { libc::mincore(first as *mut libc::c_void, last - first, vec.as_mut_ptr()) };
        r == 0 && vec.iter().all(|b| b & 1 == 1)
    }

    /// Reads `len` bytes at `offset`, from the mapping or through the file.
    fn read_raw(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        if let Some(m) = &self.mmap {
            let range = usize::try_from(offset)
                .ok()
                .and_then(|s| Some((s, s.checked_add(len)?)))
                .filter(|(_, e)| *e <= m.len());
            let Some((start, end)) = range else {
                return Err(corruption(self.id, "read past the end of the file", offset));
            };
            return Ok(m[start..end].to_vec());
        }
        let mut buf = vec![0u8; len];
        self.file.read_exact_at(&mut buf, offset).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                corruption(self.id, "read past the end of the file", offset)
            } else {
                StorageError::Io(e)
            }
        })?;
        Ok(buf)
    }

    /// Data block `i`, from the cache or read, verified, decoded and cached.
    fn block(&self, i: usize) -> Result<Arc<Block>> {
        let h = self.index.handle(i);
        if let Some(b) = self.cache.get(self.id, h.offset) {
            return Ok(b);
        }
        // A miss reads the file. When the bytes may have to come from the device, through the
        // thread's blocking hook (a reactor thread hands its other work away meanwhile); bytes
        // of the mapping that are resident in the page cache are copied at once.
        let len = h.len as usize + super::TRAILER_BYTES;
        let raw = if self.resident(h.offset, len) {
            self.read_raw(h.offset, len)?
        } else {
            crate::io::blocking::blocking(crate::io::blocking::Wait::Device, || {
                self.read_raw(h.offset, len)
            })?
        };
        self.install_block(i, raw)
    }

    /// Reads into the block cache, as one batch ([`IoFile::read_many`]: one submission on
    /// io_uring), the data blocks that point reads of `keys` at `snapshot` would read and that
    /// are neither cached nor (for a mapped table) resident in the page cache. Returns how
    /// many it read; fewer than two wanted blocks are left to the reads themselves. Blocks
    /// are verified as [`SstReader::get`] verifies them.
    pub fn prefetch(&self, keys: &[&[u8]], snapshot: SeqNo) -> Result<usize> {
        let mut want: Vec<usize> = keys
            .iter()
            .filter(|k| self.may_contain(k))
            .map(|k| self.index.find(k, snapshot))
            .filter(|&i| i < self.index.len())
            .collect();
        want.sort_unstable();
        want.dedup();
        want.retain(|&i| {
            let h = self.index.handle(i);
            !self.cache.contains(self.id, h.offset)
                && !self.resident(h.offset, h.len as usize + super::TRAILER_BYTES)
        });
        if want.len() < 2 {
            return Ok(0);
        }
        let mut bufs: Vec<Vec<u8>> = want
            .iter()
            .map(|&i| vec![0u8; self.index.handle(i).len as usize + super::TRAILER_BYTES])
            .collect();
        {
            let mut reqs: Vec<(u64, &mut [u8])> = want
                .iter()
                .zip(bufs.iter_mut())
                .map(|(&i, b)| (self.index.handle(i).offset, b.as_mut_slice()))
                .collect();
            crate::io::blocking::blocking(crate::io::blocking::Wait::Device, || {
                self.file.read_many(&mut reqs).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::UnexpectedEof {
                        corruption(self.id, "read past the end of the file", 0)
                    } else {
                        StorageError::Io(e)
                    }
                })
            })?;
        }
        for (&i, raw) in want.iter().zip(bufs) {
            self.install_block(i, raw)?;
        }
        Ok(want.len())
    }

    /// Verifies, decodes and caches the raw bytes (block and trailer) of data block `i`.
    fn install_block(&self, i: usize, mut raw: Vec<u8>) -> Result<Arc<Block>> {
        let h = self.index.handle(i);
        let n = verify_block(&raw, self.id, h.offset, "data block")?;
        raw.truncate(n);
        let b = Block::decode(raw, self.id, h.offset)?;
        // The block must hold exactly the entries the index says: it ends at the index's last
        // entry and starts after the previous block's.
        let Some(last) = b.len().checked_sub(1) else {
            return Err(corruption(self.id, "empty data block", h.offset));
        };
        if b.key(last) != self.index.last_key(i) || b.seq(last) != self.index.last_seq(i) {
            return Err(corruption(
                self.id,
                "data block does not end where the index says",
                h.offset,
            ));
        }
        if i > 0
            && entry_cmp(
                self.index.last_key(i - 1),
                self.index.last_seq(i - 1),
                b.key(0),
                b.seq(0),
            ) != Ordering::Less
        {
            return Err(corruption(
                self.id,
                "data block overlaps the previous block",
                h.offset,
            ));
        }
        let b = Arc::new(b);
        self.cache.insert(self.id, h.offset, Arc::clone(&b));
        Ok(b)
    }

    /// The table id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The table's meta, from its properties block.
    pub fn meta(&self) -> &SstMeta {
        &self.meta
    }

    /// The table's format version.
    pub fn format_version(&self) -> u32 {
        self.footer.version
    }

    /// Number of data blocks.
    pub fn block_count(&self) -> usize {
        self.index.len()
    }

    /// Whether the file is read through a memory mapping.
    pub fn is_mmapped(&self) -> bool {
        self.mmap.is_some()
    }

    /// Memory the reader keeps outside the block cache (index and bloom filter).
    pub fn resident_bytes(&self) -> usize {
        self.index.size_bytes() + self.bloom.size_bytes()
    }

    /// False when the table certainly holds no version of `user_key` (key range and bloom
    /// filter); true when it may.
    pub fn may_contain(&self, user_key: &[u8]) -> bool {
        self.meta.entry_count > 0
            && user_key >= self.meta.smallest_key.as_slice()
            && user_key <= self.meta.largest_key.as_slice()
            && self.bloom.may_contain(user_key)
    }

    /// The newest version of `user_key` with seq ≤ `snapshot`, tombstones included (the
    /// caller interprets them). Reads no block when [`SstReader::may_contain`] says no.
    pub fn get(&self, user_key: &[u8], snapshot: SeqNo) -> Result<Option<Entry>> {
        if !self.may_contain(user_key) {
            return Ok(None);
        }
        let bi = self.index.find(user_key, snapshot);
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

    /// Every version of every user key within the bounds, in entry order. The first block is
    /// found through the index; the iterator holds the reader alive.
    pub fn iter(self: &Arc<Self>, lower: Bound<Vec<u8>>, upper: Bound<Vec<u8>>) -> SstIter {
        SstIter::new(Arc::clone(self), lower, upper, false)
    }

    /// Every version of every user key within the bounds, in exact reverse entry order.
    pub fn iter_rev(self: &Arc<Self>, lower: Bound<Vec<u8>>, upper: Bound<Vec<u8>>) -> SstIter {
        SstIter::new(Arc::clone(self), lower, upper, true)
    }
}

/// An owned iterator over a table's entries (forward or reverse). After an error it yields
/// nothing more.
pub struct SstIter {
    t: Arc<SstReader>,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    reverse: bool,
    block_idx: usize,
    block: Option<Arc<Block>>,
    /// Forward: index of the next entry. Reverse: one past the index of the next entry.
    pos: usize,
    started: bool,
    done: bool,
}

impl std::fmt::Debug for SstIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SstIter")
            .field("table", &self.t.id)
            .field("reverse", &self.reverse)
            .field("block", &self.block_idx)
            .field("pos", &self.pos)
            .field("done", &self.done)
            .finish()
    }
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

    /// Positions on the first entry to yield, seeking through the index.
    fn start(&mut self) -> Result<()> {
        self.started = true;
        let n = self.t.index.len();
        if n == 0 {
            self.done = true;
            return Ok(());
        }
        // Forward: the first entry ≥ lower. Reverse: just past the last entry ≤ upper. In
        // entry order (key, SEQ_MAX-ish u64::MAX) precedes every version of key and (key, 0)
        // follows them all (seq 0 itself sorts last).
        let (bound, forward) = if self.reverse {
            (&self.upper, false)
        } else {
            (&self.lower, true)
        };
        let (key, seq, skip_key) = match bound {
            Bound::Unbounded if forward => (Vec::new(), u64::MAX, false),
            Bound::Unbounded => {
                self.block_idx = n - 1;
                let b = self.t.block(n - 1)?;
                self.pos = b.len();
                self.block = Some(b);
                return Ok(());
            }
            // Forward included / reverse excluded: position at the first version of k.
            Bound::Included(k) if forward => (k.clone(), u64::MAX, false),
            Bound::Excluded(k) if !forward => (k.clone(), u64::MAX, false),
            // Forward excluded / reverse included: position after the last version of k.
            Bound::Included(k) | Bound::Excluded(k) => (k.clone(), 0, true),
        };
        let bi = self.t.index.find(&key, seq);
        if bi >= n {
            if forward {
                self.done = true;
                return Ok(());
            }
            self.block_idx = n - 1;
            let b = self.t.block(n - 1)?;
            self.pos = b.len();
            self.block = Some(b);
            return Ok(());
        }
        let b = self.t.block(bi)?;
        let mut i = b.seek(&key, seq);
        if skip_key {
            // Only (k, 0) can remain at i with key k.
            while i < b.len() && b.key(i) == key.as_slice() {
                i += 1;
            }
        }
        self.block_idx = bi;
        self.pos = i;
        self.block = Some(b);
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
        while !self.done {
            let Some(b) = self.block.as_ref() else {
                self.done = true;
                break;
            };
            if !self.reverse {
                if self.pos < b.len() {
                    if !self.in_upper(b.key(self.pos)) {
                        self.done = true;
                        break;
                    }
                    let e = b.entry(self.pos);
                    self.pos += 1;
                    return Ok(Some(e));
                }
                if self.block_idx + 1 >= self.t.index.len() {
                    self.done = true;
                    break;
                }
                self.block_idx += 1;
                self.block = Some(self.t.block(self.block_idx)?);
                self.pos = 0;
            } else {
                if self.pos > 0 {
                    let i = self.pos - 1;
                    if !self.in_lower(b.key(i)) {
                        self.done = true;
                        break;
                    }
                    let e = b.entry(i);
                    self.pos = i;
                    return Ok(Some(e));
                }
                if self.block_idx == 0 {
                    self.done = true;
                    break;
                }
                self.block_idx -= 1;
                let nb = self.t.block(self.block_idx)?;
                self.pos = nb.len();
                self.block = Some(nb);
            }
        }
        self.block = None;
        Ok(None)
    }
}

impl Iterator for SstIter {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => None,
            Err(e) => {
                self.done = true;
                self.block = None;
                Some(Err(e))
            }
        }
    }
}

impl std::iter::FusedIterator for SstIter {}

/// The system's page size (mappings start on a page).
fn page_size() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: sysconf has no preconditions.
        let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(p)
            .ok()
            .filter(|p| p.is_power_of_two())
            .unwrap_or(4096)
    })
}
