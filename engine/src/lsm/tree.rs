//! One partition's log-structured merge tree: an active memtable, immutable memtables waiting
//! to be flushed, and SSTables in levels.
//!
//! Concurrency: the tree's `state` is an immutable snapshot (`Arc<TreeState>`) swapped under a
//! short lock, so reads never wait for flushes or compactions. Writes are inserted one batch at
//! a time in sequence order (the log runs the inserts: `db::Applier`), each holding
//! `write_gate` shared for its insert; rotation takes it exclusively, between two batches.
//! Hence every write in an older memtable has a smaller sequence number than every write in a
//! newer one, which makes "flushed up to `max_seq` of the flushed memtable" exact, and lets
//! point reads stop at the first (newest) source that has the key.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::compaction::{choose, CompactionConfig};
use super::manifest::{EditOp, Manifest, TableInfo, VersionEdit};
use super::merge::{EntrySource, MergeIter, VisibleIter};
use crate::error::{Result, StorageError};
use crate::io::{IoBackend, OpenOptions};
use crate::key::{Entry, SeqNo, ValueKind};
use crate::kv::SpaceId;
use crate::memtable::Memtable;
use crate::sstable::{BlockCache, ReadMode, SstOptions, SstReader, SstWriter};

/// Sizing of a tree.
#[derive(Debug, Clone)]
pub struct TreeOptions {
    pub memtable_bytes: usize,
    pub sst: SstOptions,
    pub compaction: CompactionConfig,
    pub read_mode: ReadMode,
}

impl Default for TreeOptions {
    fn default() -> Self {
        TreeOptions {
            memtable_bytes: crate::limits::MEMTABLE_SIZE_DEFAULT_BYTES,
            sst: SstOptions::default(),
            compaction: CompactionConfig::default(),
            read_mode: ReadMode::Mmap,
        }
    }
}

/// An SSTable in the tree.
#[derive(Debug)]
pub struct TableHandle {
    pub info: TableInfo,
    pub reader: Arc<SstReader>,
}

/// What a tree holds at one instant.
#[derive(Debug, Clone)]
pub struct TreeState {
    pub active: Arc<Memtable>,
    /// Newest first.
    pub immutables: Vec<Arc<Memtable>>,
    /// `levels[0]` newest data first (overlapping); deeper levels sorted, disjoint.
    pub levels: Vec<Vec<Arc<TableHandle>>>,
}

/// Shared services a tree's flushes and compactions use.
#[derive(Debug)]
pub struct TreeContext {
    pub io: Arc<dyn IoBackend>,
    pub sst_dir: PathBuf,
    pub cache: Arc<BlockCache>,
    pub manifest: Mutex<Manifest>,
    pub next_file_id: AtomicU64,
    pub next_memtable_id: AtomicU64,
    pub options: TreeOptions,
    /// Bytes written to SSTables by flushes and by compactions (write amplification).
    pub flushed_bytes: AtomicU64,
    pub compacted_bytes: AtomicU64,
    pub compactions: AtomicU64,
    pub flushes: AtomicU64,
}

pub fn sst_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:08}.sst"))
}

impl TreeContext {
    pub fn open_table(&self, info: TableInfo) -> Result<Arc<TableHandle>> {
        let file = self
            .io
            .open(&sst_path(&self.sst_dir, info.id), OpenOptions::read_only())?;
        let reader = SstReader::open(
            file,
            info.id,
            Arc::clone(&self.cache),
            self.options.read_mode,
        )?;
        Ok(Arc::new(TableHandle { info, reader }))
    }

    fn alloc_file_id(&self) -> u64 {
        self.next_file_id.fetch_add(1, Ordering::SeqCst)
    }
}

/// One partition.
#[derive(Debug)]
pub struct Tree {
    pub id: u64,
    pub space: SpaceId,
    pub hash_lo: u64,
    pub hash_hi: u64,
    /// Held shared by a batch's memtable insert, exclusively by a rotation.
    write_gate: RwLock<()>,
    state: RwLock<Arc<TreeState>>,
    flushed_seq: AtomicU64,
    flushing: AtomicBool,
    compacting: AtomicBool,
}

fn insert_l0(level: &mut Vec<Arc<TableHandle>>, t: Arc<TableHandle>) {
    let at = level.partition_point(|x| x.info.max_seq > t.info.max_seq);
    level.insert(at, t);
}

fn insert_sorted(level: &mut Vec<Arc<TableHandle>>, t: Arc<TableHandle>) {
    let at = level.partition_point(|x| x.info.smallest < t.info.smallest);
    level.insert(at, t);
}

impl Tree {
    pub fn new(
        id: u64,
        space: SpaceId,
        hash_lo: u64,
        hash_hi: u64,
        flushed_seq: SeqNo,
        levels: Vec<Vec<Arc<TableHandle>>>,
        ctx: &TreeContext,
    ) -> Tree {
        let active = Arc::new(Memtable::new(
            ctx.next_memtable_id.fetch_add(1, Ordering::Relaxed),
        ));
        Tree {
            id,
            space,
            hash_lo,
            hash_hi,
            write_gate: RwLock::new(()),
            state: RwLock::new(Arc::new(TreeState {
                active,
                immutables: vec![],
                levels,
            })),
            flushed_seq: AtomicU64::new(flushed_seq),
            flushing: AtomicBool::new(false),
            compacting: AtomicBool::new(false),
        }
    }

    /// Every write with seq ≤ this is in SSTables.
    pub fn flushed_seq(&self) -> SeqNo {
        self.flushed_seq.load(Ordering::SeqCst)
    }

    pub fn state(&self) -> Arc<TreeState> {
        Arc::clone(&self.state.read())
    }

    /// Shared hold that keeps the active memtable from rotating: taken for a batch's insert
    /// (inserts come one batch at a time, in sequence order).
    pub fn write_gate(&self) -> RwLockReadGuard<'_, ()> {
        self.write_gate.read()
    }

    /// Inserts into the active memtable. The caller holds [`Tree::write_gate`].
    pub fn insert(&self, user_key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) {
        self.state.read().active.insert(user_key, seq, kind, value);
    }

    /// Whether writers should wait for flushes/compactions to catch up.
    pub fn should_stall(&self) -> bool {
        let st = self.state.read();
        st.immutables.len() >= crate::limits::IMMUTABLE_MEMTABLES_MAX
            || st.levels.first().map_or(0, |l| l.len()) >= crate::limits::L0_STALL_TABLES
    }

    /// Freezes the active memtable when it is over `threshold` bytes (or non-empty, when
    /// `threshold` is 0). Returns whether it did.
    pub fn maybe_rotate(&self, threshold: usize, ctx: &TreeContext) -> bool {
        if !self.needs_rotation(threshold) {
            return false;
        }
        let gate = self.write_gate.write();
        self.rotate_gated(&gate, threshold, ctx)
    }

    /// [`Tree::maybe_rotate`] for a thread that must not wait: gives up (false) while a batch's
    /// insert or another rotation holds the gate; a later write rotates instead.
    pub fn try_rotate(&self, threshold: usize, ctx: &TreeContext) -> bool {
        if !self.needs_rotation(threshold) {
            return false;
        }
        match self.write_gate.try_write() {
            Some(gate) => self.rotate_gated(&gate, threshold, ctx),
            None => false,
        }
    }

    /// Whether the active memtable has reached `threshold` bytes and should be rotated.
    pub fn needs_rotation(&self, threshold: usize) -> bool {
        let st = self.state.read();
        !st.active.is_empty() && st.active.size_bytes() >= threshold
    }

    fn rotate_gated(
        &self,
        _gate: &RwLockWriteGuard<'_, ()>,
        threshold: usize,
        ctx: &TreeContext,
    ) -> bool {
        let mut st = self.state.write();
        if st.active.is_empty() || st.active.size_bytes() < threshold {
            return false;
        }
        let mut next = (**st).clone();
        let fresh = Arc::new(Memtable::new(
            ctx.next_memtable_id.fetch_add(1, Ordering::Relaxed),
        ));
        let old = std::mem::replace(&mut next.active, fresh);
        next.immutables.insert(0, old);
        *st = Arc::new(next);
        true
    }

    pub fn has_immutables(&self) -> bool {
        !self.state.read().immutables.is_empty()
    }

    /// The smallest sequence number held only in memory (the WAL must keep it), if any.
    pub fn oldest_unflushed_seq(&self) -> Option<SeqNo> {
        let st = self.state.read();
        st.immutables
            .iter()
            .rev()
            .chain(std::iter::once(&st.active))
            .filter_map(|m| m.min_seq())
            .min()
    }

    /// The newest version of `user_key` visible at `snapshot`, tombstones included.
    pub fn get(&self, user_key: &[u8], snapshot: SeqNo) -> Result<Option<Entry>> {
        let st = self.state();
        if let Some(e) = st.active.get(user_key, snapshot) {
            return Ok(Some(e));
        }
        for m in &st.immutables {
            if let Some(e) = m.get(user_key, snapshot) {
                return Ok(Some(e));
            }
        }
        for (n, level) in st.levels.iter().enumerate() {
            if n == 0 {
                for t in level {
                    if t.info.smallest.as_slice() <= user_key
                        && user_key <= t.info.largest.as_slice()
                    {
                        if let Some(e) = t.reader.get(user_key, snapshot)? {
                            return Ok(Some(e));
                        }
                    }
                }
            } else {
                let at = level.partition_point(|t| t.info.largest.as_slice() < user_key);
                if let Some(t) = level.get(at) {
                    if t.info.smallest.as_slice() <= user_key {
                        if let Some(e) = t.reader.get(user_key, snapshot)? {
                            return Ok(Some(e));
                        }
                    }
                }
            }
        }
        Ok(None)
    }

    /// Reads ahead, in one batch per SSTable, the data blocks that [`Tree::get`] of each of
    /// `keys` would read first: for a key no memtable holds, in the first table (newest level
    /// first) whose range and bloom filter may hold it. Returns how many blocks it read.
    pub fn prefetch(&self, keys: &[&[u8]], snapshot: SeqNo) -> Result<usize> {
        let st = self.state();
        let mut per: Vec<(&Arc<SstReader>, Vec<&[u8]>)> = Vec::new();
        'key: for &k in keys {
            if st.active.get(k, snapshot).is_some()
                || st.immutables.iter().any(|m| m.get(k, snapshot).is_some())
            {
                continue;
            }
            for (n, level) in st.levels.iter().enumerate() {
                let first = if n == 0 {
                    level.iter().find(|t| t.reader.may_contain(k))
                } else {
                    let at = level.partition_point(|t| t.info.largest.as_slice() < k);
                    level.get(at).filter(|t| t.reader.may_contain(k))
                };
                if let Some(t) = first {
                    match per.iter_mut().find(|(r, _)| Arc::ptr_eq(r, &t.reader)) {
                        Some((_, ks)) => ks.push(k),
                        None => per.push((&t.reader, vec![k])),
                    }
                    continue 'key;
                }
            }
        }
        let mut read = 0;
        for (r, ks) in per {
            read += r.prefetch(&ks, snapshot)?;
        }
        Ok(read)
    }

    /// Sources for a merged scan of `[lower, upper]`, newest first.
    pub fn sources(
        &self,
        lower: &Bound<Vec<u8>>,
        upper: &Bound<Vec<u8>>,
        reverse: bool,
    ) -> Vec<EntrySource> {
        let st = self.state();
        let mut out: Vec<EntrySource> = Vec::new();
        for m in std::iter::once(&st.active).chain(st.immutables.iter()) {
            if !m.is_empty() {
                out.push(Box::new(m.iter(lower.clone(), upper.clone(), reverse)));
            }
        }
        for (n, level) in st.levels.iter().enumerate() {
            let tables: Vec<Arc<TableHandle>> = level
                .iter()
                .filter(|t| table_overlaps(&t.info, lower, upper))
                .cloned()
                .collect();
            if tables.is_empty() {
                continue;
            }
            if n == 0 {
                for t in tables {
                    out.push(table_iter(&t, lower, upper, reverse));
                }
            } else {
                out.push(Box::new(ConcatIter::new(
                    tables,
                    lower.clone(),
                    upper.clone(),
                    reverse,
                )));
            }
        }
        out
    }

    /// Visible `(key, value)` pairs of `[lower, upper]` at `snapshot`.
    pub fn scan(
        &self,
        lower: Bound<Vec<u8>>,
        upper: Bound<Vec<u8>>,
        reverse: bool,
        snapshot: SeqNo,
    ) -> VisibleIter {
        VisibleIter::new(
            MergeIter::new(self.sources(&lower, &upper, reverse), reverse),
            snapshot,
        )
    }

    /// Flushes the oldest immutable memtable to an L0 SSTable. Returns whether it did any work.
    pub fn flush_oldest(&self, ctx: &TreeContext, durable_upto: SeqNo) -> Result<bool> {
        if self.flushing.swap(true, Ordering::SeqCst) {
            return Ok(false);
        }
        let r = self.flush_inner(ctx, durable_upto);
        self.flushing.store(false, Ordering::SeqCst);
        r
    }

    /// Flushes the oldest immutable memtable if its writes are all durable in the log (seq
    /// ≤ `durable_upto`); else leaves it for a later round.
    fn flush_inner(&self, ctx: &TreeContext, durable_upto: SeqNo) -> Result<bool> {
        let Some(mem) = self.state().immutables.last().cloned() else {
            return Ok(false);
        };
        if mem.max_seq() > durable_upto {
            return Ok(false);
        }
        let mut ops = Vec::new();
        let mut added = None;
        if !mem.is_empty() {
            let id = ctx.alloc_file_id();
            let path = sst_path(&ctx.sst_dir, id);
            let built: Result<_> = (|| {
                let file = ctx.io.open(&path, OpenOptions::create_new())?;
                let mut w = SstWriter::new(file, id, ctx.options.sst.clone());
                for e in mem.iter(Bound::Unbounded, Bound::Unbounded, false) {
                    let e = e?;
                    w.add(&e.user_key, e.seq, e.kind, &e.value)?;
                }
                let meta = w.finish()?;
                ctx.io.sync_dir(&ctx.sst_dir)?;
                Ok(meta)
            })();
            // A full disk leaves only a partial file nothing refers to: remove it and report
            // a retryable DiskFull (the memtable stays, readable, and is flushed later).
            let meta = match built {
                Ok(meta) => meta,
                Err(e) if e.is_enospc() => {
                    discard_files(ctx, &[id])?;
                    return Err(StorageError::DiskFull(
                        "no space to flush a memtable to an SSTable".into(),
                    ));
                }
                Err(e) => return Err(e),
            };
            ctx.flushed_bytes
                .fetch_add(meta.file_size, Ordering::Relaxed);
            let info = TableInfo {
                id,
                file_size: meta.file_size,
                entries: meta.entry_count,
                tombstones: meta.tombstone_count,
                smallest: meta.smallest_key.clone(),
                largest: meta.largest_key.clone(),
                min_seq: meta.min_seq,
                max_seq: meta.max_seq,
            };
            ops.push(EditOp::AddTable {
                partition: self.id,
                level: 0,
                table: info.clone(),
            });
            added = Some(ctx.open_table(info)?);
        }
        let flushed = mem.max_seq().max(self.flushed_seq());
        ops.push(EditOp::SetFlushedSeq {
            partition: self.id,
            seq: flushed,
        });
        if let Err(e) = ctx.manifest.lock().apply(VersionEdit { ops }) {
            if let (StorageError::DiskFull(_), Some(t)) = (&e, &added) {
                // The manifest never named the new table: drop it; the memtable stays.
                ctx.cache.evict_table(t.info.id);
                discard_files(ctx, &[t.info.id])?;
            }
            return Err(e);
        }
        self.flushed_seq.store(flushed, Ordering::SeqCst);
        let mut st = self.state.write();
        let mut next = (**st).clone();
        next.immutables.retain(|m| !Arc::ptr_eq(m, &mem));
        if let Some(t) = added {
            if next.levels.is_empty() {
                next.levels.push(Vec::new());
            }
            insert_l0(&mut next.levels[0], t);
        }
        *st = Arc::new(next);
        ctx.flushes.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    /// Whether a compaction is due by the configured strategy.
    pub fn compaction_due(&self, cfg: &CompactionConfig) -> bool {
        choose(&self.level_infos(), cfg).is_some()
    }

    fn level_infos(&self) -> Vec<Vec<TableInfo>> {
        self.state()
            .levels
            .iter()
            .map(|l| l.iter().map(|t| t.info.clone()).collect())
            .collect()
    }

    /// Runs one compaction if one is due. Returns whether it did any work.
    pub fn compact_once(&self, ctx: &TreeContext) -> Result<bool> {
        if self.compacting.swap(true, Ordering::SeqCst) {
            return Ok(false);
        }
        let r = self.compact_inner(ctx);
        self.compacting.store(false, Ordering::SeqCst);
        r
    }

    fn compact_inner(&self, ctx: &TreeContext) -> Result<bool> {
        let cfg = ctx.options.compaction;
        let st = self.state();
        let infos: Vec<Vec<TableInfo>> = st
            .levels
            .iter()
            .map(|l| l.iter().map(|t| t.info.clone()).collect())
            .collect();
        let Some(choice) = choose(&infos, &cfg) else {
            return Ok(false);
        };
        let mut inputs: Vec<Arc<TableHandle>> = Vec::new();
        for (lv, id) in &choice.inputs {
            if let Some(t) = st
                .levels
                .get(*lv)
                .and_then(|l| l.iter().find(|t| t.info.id == *id))
            {
                inputs.push(Arc::clone(t));
            }
        }
        // Newest first: L0 runs are already ordered that way, deeper levels are older.
        let sources: Vec<EntrySource> = inputs
            .iter()
            .map(|t| table_iter(t, &Bound::Unbounded, &Bound::Unbounded, false))
            .collect();
        let merged = MergeIter::new(sources, false);

        // Files this compaction creates; on a full disk they are removed again.
        let mut created: Vec<u64> = Vec::new();
        let built: Result<_> = (|| {
            let mut outputs: Vec<TableInfo> = Vec::new();
            let mut writer: Option<(u64, SstWriter)> = None;
            let mut last_key: Option<Vec<u8>> = None;
            let mut raw_bytes: u64 = 0;
            let finish = |w: (u64, SstWriter), outputs: &mut Vec<TableInfo>| -> Result<()> {
                let (id, w) = w;
                let meta = w.finish()?;
                ctx.compacted_bytes
                    .fetch_add(meta.file_size, Ordering::Relaxed);
                outputs.push(TableInfo {
                    id,
                    file_size: meta.file_size,
                    entries: meta.entry_count,
                    tombstones: meta.tombstone_count,
                    smallest: meta.smallest_key,
                    largest: meta.largest_key,
                    min_seq: meta.min_seq,
                    max_seq: meta.max_seq,
                });
                Ok(())
            };
            for e in merged {
                let e = e?;
                // Only the newest version of each key survives (see docs/ARCHITECTURE.md on
                // snapshots), and a tombstone only while older data may lie below.
                if last_key.as_deref() == Some(e.user_key.as_slice()) {
                    continue;
                }
                last_key = Some(e.user_key.clone());
                if e.kind == ValueKind::Delete && choice.drop_tombstones {
                    continue;
                }
                if writer.is_none() {
                    raw_bytes = 0;
                    let id = ctx.alloc_file_id();
                    created.push(id);
                    let file = ctx
                        .io
                        .open(&sst_path(&ctx.sst_dir, id), OpenOptions::create_new())?;
                    writer = Some((id, SstWriter::new(file, id, ctx.options.sst.clone())));
                }
                if let Some((_, w)) = writer.as_mut() {
                    w.add(&e.user_key, e.seq, e.kind, &e.value)?;
                    raw_bytes += (e.user_key.len() + e.value.len() + 16) as u64;
                    if raw_bytes >= cfg.target_file_bytes && choice.output_level > 0 {
                        if let Some(done) = writer.take() {
                            finish(done, &mut outputs)?;
                        }
                    }
                }
            }
            if let Some(done) = writer.take() {
                finish(done, &mut outputs)?;
            }
            ctx.io.sync_dir(&ctx.sst_dir)?;
            Ok(outputs)
        })();
        let outputs = match built {
            Ok(outputs) => outputs,
            Err(e) if e.is_enospc() => {
                discard_files(ctx, &created)?;
                return Err(StorageError::DiskFull(
                    "no space to write a compaction's output".into(),
                ));
            }
            Err(e) => return Err(e),
        };

        let mut ops: Vec<EditOp> = choice
            .inputs
            .iter()
            .map(|(lv, id)| EditOp::RemoveTable {
                partition: self.id,
                level: *lv as u32,
                table_id: *id,
            })
            .collect();
        let mut handles = Vec::new();
        for info in outputs {
            ops.push(EditOp::AddTable {
                partition: self.id,
                level: choice.output_level as u32,
                table: info.clone(),
            });
            handles.push(ctx.open_table(info)?);
        }
        if let Err(e) = ctx.manifest.lock().apply(VersionEdit { ops }) {
            if matches!(e, StorageError::DiskFull(_)) {
                // The manifest never named the outputs: drop them; the inputs stay live.
                for h in &handles {
                    ctx.cache.evict_table(h.info.id);
                }
                drop(handles);
                discard_files(ctx, &created)?;
            }
            return Err(e);
        }
        {
            let mut st = self.state.write();
            let mut next = (**st).clone();
            for (lv, id) in &choice.inputs {
                if let Some(l) = next.levels.get_mut(*lv) {
                    l.retain(|t| t.info.id != *id);
                }
            }
            while next.levels.len() <= choice.output_level {
                next.levels.push(Vec::new());
            }
            for h in handles {
                if choice.output_level == 0 {
                    insert_l0(&mut next.levels[0], h);
                } else {
                    insert_sorted(&mut next.levels[choice.output_level], h);
                }
            }
            *st = Arc::new(next);
        }
        for t in inputs {
            ctx.cache.evict_table(t.info.id);
            // Readers that still hold the table keep its file open; unlinking is safe.
            ctx.io.remove_file(&sst_path(&ctx.sst_dir, t.info.id))?;
        }
        ctx.compactions.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    /// Approximate live entries and bytes.
    pub fn stats(&self) -> (u64, u64) {
        let st = self.state();
        let mut keys = st.active.len() as u64;
        let mut bytes = st.active.size_bytes() as u64;
        for m in &st.immutables {
            keys += m.len() as u64;
            bytes += m.size_bytes() as u64;
        }
        for t in st.levels.iter().flatten() {
            keys += t.info.entries.saturating_sub(2 * t.info.tombstones);
            bytes += t.info.file_size;
        }
        (keys, bytes)
    }

    /// Tables per level (for metrics).
    pub fn tables_per_level(&self) -> Vec<usize> {
        self.state().levels.iter().map(|l| l.len()).collect()
    }
}

fn table_overlaps(t: &TableInfo, lower: &Bound<Vec<u8>>, upper: &Bound<Vec<u8>>) -> bool {
    let above_lower = match lower {
        Bound::Included(l) => t.largest >= *l,
        Bound::Excluded(l) => t.largest > *l,
        Bound::Unbounded => true,
    };
    let below_upper = match upper {
        Bound::Included(u) => t.smallest <= *u,
        Bound::Excluded(u) => t.smallest < *u,
        Bound::Unbounded => true,
    };
    above_lower && below_upper
}

fn table_iter(
    t: &Arc<TableHandle>,
    lower: &Bound<Vec<u8>>,
    upper: &Bound<Vec<u8>>,
    reverse: bool,
) -> EntrySource {
    if reverse {
        Box::new(t.reader.iter_rev(lower.clone(), upper.clone()))
    } else {
        Box::new(t.reader.iter(lower.clone(), upper.clone()))
    }
}

/// Iterates a level's disjoint, sorted tables one after another, opening each only when
/// reached.
struct ConcatIter {
    tables: std::collections::VecDeque<Arc<TableHandle>>,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    reverse: bool,
    current: Option<EntrySource>,
}

impl ConcatIter {
    fn new(
        tables: Vec<Arc<TableHandle>>,
        lower: Bound<Vec<u8>>,
        upper: Bound<Vec<u8>>,
        reverse: bool,
    ) -> Self {
        let mut tables: std::collections::VecDeque<_> = tables.into();
        if reverse {
            tables = tables.into_iter().rev().collect();
        }
        ConcatIter {
            tables,
            lower,
            upper,
            reverse,
            current: None,
        }
    }
}

impl Iterator for ConcatIter {
    type Item = Result<Entry>;
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(cur) = self.current.as_mut() {
                if let Some(x) = cur.next() {
                    return Some(x);
                }
                self.current = None;
            }
            let t = self.tables.pop_front()?;
            self.current = Some(table_iter(&t, &self.lower, &self.upper, self.reverse));
        }
    }
}

/// Removes files a failed flush or compaction created (nothing refers to them yet).
fn discard_files(ctx: &TreeContext, ids: &[u64]) -> Result<()> {
    for &id in ids {
        let path = sst_path(&ctx.sst_dir, id);
        if ctx.io.exists(&path) {
            ctx.io.remove_file(&path)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::std_backend::StdBackend;
    use crate::lsm::manifest::PartitionDesc;
    use crate::sstable::BlockCache;

    fn context(dir: &Path) -> TreeContext {
        let io: Arc<dyn IoBackend> = Arc::new(StdBackend::new());
        let sst_dir = dir.join("sst");
        io.create_dir_all(&sst_dir).expect("sst dir");
        let mut manifest = Manifest::create(Arc::clone(&io), dir).expect("manifest");
        manifest
            .apply(VersionEdit {
                ops: vec![EditOp::CreateSpace {
                    space: 1,
                    created_seq: 0,
                    partitions: vec![PartitionDesc {
                        id: 1,
                        hash_lo: 0,
                        hash_hi: u64::MAX,
                    }],
                }],
            })
            .expect("create space");
        TreeContext {
            io,
            sst_dir,
            cache: Arc::new(BlockCache::new(1 << 20)),
            manifest: Mutex::new(manifest),
            next_file_id: AtomicU64::new(1),
            next_memtable_id: AtomicU64::new(1),
            options: TreeOptions::default(),
            flushed_bytes: AtomicU64::new(0),
            compacted_bytes: AtomicU64::new(0),
            compactions: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
        }
    }

    #[test]
    fn a_memtable_is_flushed_only_once_the_log_holds_all_its_writes_durably() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = context(dir.path());
        let tree = Tree::new(1, 1, 0, u64::MAX, 0, vec![], &ctx);
        for seq in 1..=3u64 {
            let _gate = tree.write_gate();
            tree.insert(format!("k{seq}").as_bytes(), seq, ValueKind::Put, b"v");
        }
        assert!(tree.maybe_rotate(0, &ctx), "rotated");
        // The log has made only seqs up to 2 durable: the memtable holding 3 waits.
        assert!(!tree.flush_oldest(&ctx, 2).expect("flush"));
        assert!(tree.has_immutables());
        assert_eq!(tree.flushed_seq(), 0);
        assert!(tree.flush_oldest(&ctx, 3).expect("flush"));
        assert!(!tree.has_immutables());
        assert_eq!(tree.flushed_seq(), 3);
        assert_eq!(
            tree.get(b"k3", 3).expect("get").map(|e| e.value),
            Some(bytes::Bytes::from_static(b"v"))
        );
    }
}
