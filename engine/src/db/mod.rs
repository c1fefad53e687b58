//! The engine: keyspaces split into hash-range partitions, each a log-structured merge tree
//! ([`crate::lsm::Tree`]), under one shared write-ahead log with group commit.
//!
//! **Why one shared WAL, not one per partition.** A DynamoDB transaction or a base write with
//! its index effects touches several partitions and must commit atomically: with one log it is
//! one checksummed record, written and fdatasync'ed once, and group commit batches writers of
//! *every* partition into the same fdatasync — with per-partition logs a 100-partition table
//! would pay up to 100 syncs where one suffices. Partitions stay movable: a partition's state
//! is its SSTables plus the log records above its `flushed_seq`, so moving or splitting one is
//! "flush it, then hand over its SSTables" (the log suffix is then empty for it).
//!
//! Layout of a data directory:
//! ```text
//! HASHLOG            identity: magic, format version, checksum
//! CURRENT            names the live manifest
//! MANIFEST-000001    log of version edits (lsm::manifest)
//! wal/               WAL segments (wal)
//! sst/00000042.sst   SSTables (sstable)
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rustc_hash::FxHashMap;
use std::future::Future;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex, RwLock};

use crate::codec::{put_bytes, put_u32, put_u64, put_u8, Reader};
use crate::error::{Result, StorageError};
use crate::io::{default_backend, BackendKind, IoBackend, OpenOptions};
use crate::key::{routing_hash, SeqNo, ValueKind};
use crate::kv::{AsyncWrite, Kv, KvIter, KvWrite, Snapshot, SpaceId, SpaceStats, SYSTEM_SPACE};
use crate::limits;
use crate::lsm::manifest::{EditOp, Manifest, PartitionDesc, VersionEdit};
use crate::lsm::{Tree, TreeContext, TreeOptions};
use crate::sstable::BlockCache;
use crate::wal::{Append, Durability, Wal, WalOptions};

pub const IDENTITY_FILE: &str = "HASHLOG";
/// While the disk is full, background flushes and compactions are retried this often.
const DISK_FULL_RETRY: Duration = Duration::from_millis(100);
pub const IDENTITY_MAGIC: &[u8; 8] = b"HASHLOG\0";
/// Format version of the data directory as a whole (bumped when any file format changes in a
/// way old builds cannot read).
pub const DB_FORMAT_VERSION: u32 = 1;
const BATCH_FORMAT_VERSION: u8 = 1;

/// How an engine is opened.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub backend: BackendKind,
    /// Use this backend instead of `backend` (tests: the fault injector).
    pub io_override: Option<Arc<dyn IoBackend>>,
    pub durability: Durability,
    pub tree: TreeOptions,
    pub block_cache_bytes: usize,
    pub wal_segment_bytes: u64,
    /// `WalOptions::reuse_segments` (on by default; see there).
    pub wal_reuse_segments: bool,
    pub background_threads: usize,
    /// The nice value the background (flush and compaction) threads take (0: as the
    /// process). Above 0 they yield the CPU to request threads: on a small machine a flush
    /// or compaction sharing a core with a request thread held that thread off it for
    /// milliseconds, and with it every request it served.
    pub background_nice: i32,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            backend: BackendKind::Auto,
            io_override: None,
            durability: Durability::Sync,
            tree: TreeOptions::default(),
            block_cache_bytes: limits::BLOCK_CACHE_DEFAULT_BYTES,
            wal_segment_bytes: limits::WAL_SEGMENT_SIZE_DEFAULT_BYTES,
            wal_reuse_segments: true,
            background_threads: 2,
            background_nice: limits::BACKGROUND_NICE_DEFAULT,
        }
    }
}

/// Lowers the calling thread's scheduling priority to `nice` (Linux: a thread's nice value
/// is its own). Best effort: a refusal leaves the thread as it was.
fn lower_thread_priority(nice: i32) {
    #[cfg(target_os = "linux")]
    if nice > 0 {
        // SAFETY: plain system calls about the calling thread; they touch no memory of ours.
        unsafe {
            let tid = libc::syscall(libc::SYS_gettid);
            if let Ok(tid) = libc::id_t::try_from(tid) {
                libc::setpriority(libc::PRIO_PROCESS, tid, nice);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

/// A keyspace: partitions sorted by hash range.
#[derive(Debug)]
struct Space {
    partitions: Vec<Arc<Tree>>,
}

impl Space {
    fn route(&self, hash: u64) -> Option<&Arc<Tree>> {
        let at = self.partitions.partition_point(|t| t.hash_lo <= hash);
        at.checked_sub(1).and_then(|i| self.partitions.get(i))
    }
}

/// Which sequence numbers are applied: reads see the longest applied prefix.
#[derive(Debug, Default)]
struct Visibility {
    state: Mutex<VisibilityState>,
    /// A batch's insert panicked after the log numbered it: its seq will never be applied,
    /// so no later one can become visible. Waiters fail instead of waiting forever, and the
    /// engine poisons itself at its next check.
    failed: AtomicBool,
}

#[derive(Debug, Default)]
struct VisibilityState {
    /// Every seq up to this one is applied.
    visible: SeqNo,
    /// Applied seqs above `visible` (waiting for an earlier one).
    done: BTreeSet<SeqNo>,
    /// Writers waiting for their seq to become visible, woken exactly when it does. (One
    /// condition variable woke every waiter at every completion: with 64 writers acknowledged
    /// together that was thousands of futex wake-ups per group commit.)
    waiters: BTreeMap<SeqNo, Waiter>,
}

/// A writer waiting for its seq to become visible: a blocked thread or an awaiting task.
#[derive(Debug)]
enum Waiter {
    Thread(std::thread::Thread),
    Task(Waker),
}

impl Waiter {
    fn wake(self) {
        match self {
            Waiter::Thread(t) => t.unpark(),
            Waiter::Task(w) => w.wake(),
        }
    }
}

impl Visibility {
    fn visible(&self) -> SeqNo {
        self.state.lock().visible
    }

    fn complete(&self, seq: SeqNo) {
        let woken = {
            let mut st = self.state.lock();
            st.done.insert(seq);
            let before = st.visible;
            loop {
                let next = st.visible + 1;
                if st.done.remove(&next) {
                    st.visible = next;
                } else {
                    break;
                }
            }
            if st.visible == before {
                return;
            }
            let first_not_visible = st.visible + 1;
            let later = st.waiters.split_off(&first_not_visible);
            std::mem::replace(&mut st.waiters, later)
        };
        for w in woken.into_values() {
            w.wake();
        }
    }

    /// Marks the prefix broken (a numbered batch will never be applied) and wakes everyone.
    fn fail(&self) {
        self.failed.store(true, Ordering::SeqCst);
        self.wake_all();
    }

    fn has_failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    /// Wakes every waiter (they see the engine poisoned, or wait again).
    fn wake_all(&self) {
        let all = std::mem::take(&mut self.state.lock().waiters);
        for w in all.into_values() {
            w.wake();
        }
    }

    /// Waits until `seq` is visible, or the engine is poisoned.
    fn wait(&self, seq: SeqNo, poisoned: &AtomicBool) -> Result<()> {
        loop {
            {
                let mut st = self.state.lock();
                if st.visible >= seq {
                    st.waiters.remove(&seq);
                    return Ok(());
                }
                if poisoned.load(Ordering::SeqCst) || self.has_failed() {
                    st.waiters.remove(&seq);
                    return Err(StorageError::Poisoned(
                        "a write before this one failed".into(),
                    ));
                }
                st.waiters
                    .insert(seq, Waiter::Thread(std::thread::current()));
            }
            // An unpark between the unlock and here is kept as the thread's token; a spurious
            // or timed-out wake-up just checks again.
            std::thread::park_timeout(Duration::from_millis(20));
        }
    }

    /// [`Visibility::wait`] for a task: ready once `seq` is visible, or the engine poisoned
    /// ([`Visibility::wake_all`] wakes every waiter when it is).
    fn poll_wait(
        &self,
        seq: SeqNo,
        poisoned: &AtomicBool,
        cx: &mut Context<'_>,
    ) -> Poll<Result<()>> {
        let mut st = self.state.lock();
        if st.visible >= seq {
            st.waiters.remove(&seq);
            return Poll::Ready(Ok(()));
        }
        if poisoned.load(Ordering::SeqCst) || self.has_failed() {
            st.waiters.remove(&seq);
            return Poll::Ready(Err(StorageError::Poisoned(
                "a write before this one failed".into(),
            )));
        }
        st.waiters.insert(seq, Waiter::Task(cx.waker().clone()));
        Poll::Pending
    }
}

struct Inner {
    dir: PathBuf,
    io: Arc<dyn IoBackend>,
    io_note: Option<String>,
    ctx: TreeContext,
    wal: Wal,
    spaces: RwLock<FxHashMap<SpaceId, Arc<Space>>>,
    /// Shared with the log's commit callbacks ([`Applier`]), which make writes visible.
    visibility: Arc<Visibility>,
    poisoned: AtomicBool,
    poison_reason: Mutex<Option<String>>,
    /// Set while background flushes/compactions fail for lack of space (the reason); cleared
    /// by the next background step that succeeds.
    disk_full: Mutex<Option<String>>,
    /// Background steps that failed for lack of space, ever.
    disk_full_failures: AtomicU64,
    work: Mutex<u64>,
    work_cv: Condvar,
    progress: Mutex<u64>,
    progress_cv: Condvar,
    shutdown: AtomicBool,
    user_bytes: Arc<AtomicU64>,
    options: EngineOptions,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("dir", &self.dir)
            .field("io", &self.io.name())
            .finish()
    }
}

/// The storage engine. Implements [`Kv`].
#[derive(Debug)]
pub struct Engine {
    inner: Arc<Inner>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

/// Engine-wide counters and gauges (for metrics and benchmarks).
#[derive(Debug, Clone, Default)]
pub struct EngineStats {
    pub io_backend: String,
    pub partitions: usize,
    pub memtable_bytes: u64,
    pub immutable_memtables: usize,
    pub tables_per_level: Vec<usize>,
    pub compaction_debt_partitions: usize,
    pub flushes: u64,
    pub compactions: u64,
    pub user_bytes_written: u64,
    pub flushed_bytes: u64,
    pub compacted_bytes: u64,
    pub wal_bytes: u64,
    pub wal_syncs: u64,
    pub wal_records: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
}

impl EngineStats {
    /// Bytes written to SSTables per byte of user data logged.
    pub fn write_amplification(&self) -> f64 {
        if self.user_bytes_written == 0 {
            return 0.0;
        }
        (self.flushed_bytes + self.compacted_bytes + self.wal_bytes) as f64
            / self.user_bytes_written as f64
    }
}

fn encode_batch(writes: &[KvWrite]) -> Vec<u8> {
    let size: usize = writes
        .iter()
        .map(|w| 8 + 1 + 8 + w.key.len() + w.value.as_ref().map_or(0, |v| v.len()))
        .sum();
    let mut out = Vec::with_capacity(size + 5);
    put_u8(&mut out, BATCH_FORMAT_VERSION);
    put_u32(&mut out, writes.len() as u32);
    for w in writes {
        put_u64(&mut out, w.space);
        match &w.value {
            Some(v) => {
                put_u8(&mut out, ValueKind::Put as u8);
                put_bytes(&mut out, &w.key);
                put_bytes(&mut out, v);
            }
            None => {
                put_u8(&mut out, ValueKind::Delete as u8);
                put_bytes(&mut out, &w.key);
                put_bytes(&mut out, &[]);
            }
        }
    }
    out
}

/// One decoded write of a WAL batch: `(space, kind, key, value)`.
pub type BatchWrite<'a> = (SpaceId, ValueKind, &'a [u8], &'a [u8]);

/// Decodes a WAL batch, writes in order.
pub fn decode_batch(buf: &[u8]) -> Result<Vec<BatchWrite<'_>>> {
    let mut r = Reader::new(buf, "wal batch");
    let v = r.u8()?;
    if v != BATCH_FORMAT_VERSION {
        return Err(StorageError::UnsupportedVersion {
            what: "wal batch".into(),
            found: v as u32,
            supported: BATCH_FORMAT_VERSION as u32,
        });
    }
    let n = r.count(17)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let space = r.u64()?;
        let kind = ValueKind::from_u8(r.u8()?)
            .ok_or_else(|| StorageError::Corruption("wal batch: unknown value kind".into()))?;
        let key = r.bytes()?;
        let value = r.bytes()?;
        out.push((space, kind, key, value));
    }
    if !r.is_empty() {
        return Err(StorageError::Corruption("wal batch: trailing bytes".into()));
    }
    Ok(out)
}

fn identity_bytes() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(IDENTITY_MAGIC);
    put_u32(&mut b, DB_FORMAT_VERSION);
    put_u32(&mut b, 0);
    let ck = xxhash_rust::xxh3::xxh3_64(&b);
    put_u64(&mut b, ck);
    b
}

fn check_identity(io: &dyn IoBackend, dir: &Path) -> Result<bool> {
    let shown = dir.display().to_string();
    let path = dir.join(IDENTITY_FILE);
    if !io.exists(&path) {
        let entries = if io.exists(dir) {
            io.list_dir(dir)?
        } else {
            vec![]
        };
        if entries.is_empty() {
            return Ok(false);
        }
        return Err(StorageError::NotADatabase(
            shown,
            format!("the directory is not empty and has no {IDENTITY_FILE} file"),
        ));
    }
    let f = io.open(&path, OpenOptions::read_only())?;
    let len = f.len()? as usize;
    if len != 24 {
        return Err(StorageError::NotADatabase(
            shown,
            format!("{IDENTITY_FILE} has the wrong size"),
        ));
    }
    let mut b = vec![0u8; len];
    f.read_exact_at(&mut b, 0)?;
    if &b[..8] != IDENTITY_MAGIC {
        return Err(StorageError::NotADatabase(
            shown,
            format!("{IDENTITY_FILE} has the wrong magic"),
        ));
    }
    let mut r = Reader::new(&b[8..], "identity");
    let version = r.u32()?;
    let _reserved = r.u32()?;
    let ck = r.u64()?;
    if xxhash_rust::xxh3::xxh3_64(&b[..16]) != ck {
        return Err(StorageError::Corruption(format!(
            "{shown}/{IDENTITY_FILE}: checksum mismatch"
        )));
    }
    if version > DB_FORMAT_VERSION {
        return Err(StorageError::UnsupportedVersion {
            what: format!("database {shown}"),
            found: version,
            supported: DB_FORMAT_VERSION,
        });
    }
    Ok(true)
}

fn split_hash_space(first_id: u64, n: u32) -> Vec<PartitionDesc> {
    let n = n.max(1) as u128;
    let span = (u64::MAX as u128 + 1) / n;
    (0..n)
        .map(|i| {
            let lo = (i * span) as u64;
            let hi = if i + 1 == n {
                u64::MAX
            } else {
                ((i + 1) * span - 1) as u64
            };
            PartitionDesc {
                id: first_id + i as u64,
                hash_lo: lo,
                hash_hi: hi,
            }
        })
        .collect()
}

impl Engine {
    /// Opens (or creates) a database in `dir`. A non-empty directory that is not a hashlog
    /// database, or one with a newer format, is refused and left untouched.
    pub fn open(dir: &Path, options: EngineOptions) -> Result<Engine> {
        let (io, io_note) = match &options.io_override {
            Some(io) => (Arc::clone(io), None),
            None => default_backend(options.backend),
        };
        let exists = check_identity(io.as_ref(), dir)?;
        let sst_dir = dir.join("sst");
        let wal_dir = dir.join("wal");
        let manifest = if exists {
            Manifest::open(Arc::clone(&io), dir)?
        } else {
            io.create_dir_all(dir)?;
            io.create_dir_all(&sst_dir)?;
            io.create_dir_all(&wal_dir)?;
            let mut m = Manifest::create(Arc::clone(&io), dir)?;
            m.apply(VersionEdit {
                ops: vec![
                    EditOp::CreateSpace {
                        space: SYSTEM_SPACE,
                        created_seq: 0,
                        partitions: split_hash_space(1, 1),
                    },
                    EditOp::NextIds {
                        file: 1,
                        partition: 2,
                    },
                ],
            })?;
            let f = io.open(
                &dir.join(IDENTITY_FILE),
                OpenOptions {
                    create: true,
                    write: true,
                    truncate: true,
                    ..Default::default()
                },
            )?;
            f.write_all_at_and_sync(&identity_bytes(), 0)?;
            io.sync_dir(dir)?;
            m
        };
        io.create_dir_all(&sst_dir)?;
        io.create_dir_all(&wal_dir)?;
        let state = manifest.state.clone();
        let ctx = TreeContext {
            io: Arc::clone(&io),
            sst_dir: sst_dir.clone(),
            cache: Arc::new(BlockCache::new(options.block_cache_bytes)),
            manifest: Mutex::new(manifest),
            next_file_id: AtomicU64::new(state.next_file_id.max(1)),
            next_memtable_id: AtomicU64::new(1),
            options: options.tree.clone(),
            flushed_bytes: AtomicU64::new(0),
            compacted_bytes: AtomicU64::new(0),
            compactions: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
        };
        // Orphan SSTables (written by a flush or compaction that crashed before its manifest
        // edit) are deleted; tables the manifest names must all exist.
        let live: BTreeSet<u64> = state.live_tables().collect();
        for name in io.list_dir(&sst_dir)? {
            let id = name
                .strip_suffix(".sst")
                .and_then(|s| s.parse::<u64>().ok());
            match id {
                Some(id) if live.contains(&id) => {}
                Some(_) => io.remove_file(&sst_dir.join(&name))?,
                None => {}
            }
        }
        let mut spaces: FxHashMap<SpaceId, Arc<Space>> = FxHashMap::default();
        let mut by_partition: HashMap<u64, Arc<Tree>> = HashMap::new();
        for (space_id, sp) in &state.spaces {
            let mut trees = Vec::new();
            for pd in &sp.partitions {
                let ps = state.partitions.get(&pd.id).ok_or_else(|| {
                    StorageError::Corruption(format!(
                        "manifest: space {space_id} names missing partition {}",
                        pd.id
                    ))
                })?;
                let mut levels = Vec::new();
                for lv in &ps.levels {
                    let mut handles = Vec::new();
                    for t in lv {
                        handles.push(ctx.open_table(t.clone())?);
                    }
                    levels.push(handles);
                }
                let tree = Arc::new(Tree::new(
                    pd.id,
                    *space_id,
                    pd.hash_lo,
                    pd.hash_hi,
                    ps.flushed_seq,
                    levels,
                    &ctx,
                ));
                by_partition.insert(pd.id, Arc::clone(&tree));
                trees.push(tree);
            }
            trees.sort_by_key(|t| t.hash_lo);
            spaces.insert(*space_id, Arc::new(Space { partitions: trees }));
        }
        // Sequence numbers already used by durable data: a crash may have cut the WAL tail
        // below them (buffered durability, or a flush that ran ahead of the sync).
        let seq_floor = state
            .spaces
            .values()
            .map(|s| s.created_seq)
            .chain(state.partitions.values().flat_map(|p| {
                std::iter::once(p.flushed_seq).chain(p.levels.iter().flatten().map(|t| t.max_seq))
            }))
            .max()
            .unwrap_or(0);
        let wal_opts = WalOptions {
            segment_size_bytes: options.wal_segment_bytes,
            durability: options.durability,
            reuse_segments: options.wal_reuse_segments,
            min_next_seq: seq_floor + 1,
            ..WalOptions::default()
        };
        let mut replayed = 0u64;
        let wal = Wal::open(Arc::clone(&io), &wal_dir, wal_opts, &mut |seq, payload| {
            for (space, kind, key, value) in decode_batch(payload)? {
                let Some(sp) = spaces.get(&space) else {
                    continue;
                };
                let Some(created) = state.spaces.get(&space).map(|s| s.created_seq) else {
                    continue;
                };
                if seq <= created {
                    continue;
                }
                let Some(tree) = sp.route(routing_hash(key)) else {
                    continue;
                };
                if seq > tree.flushed_seq() {
                    tree.insert(key, seq, kind, value);
                    replayed += 1;
                }
            }
            Ok(())
        })?;
        let _ = replayed;
        let visibility = Arc::new(Visibility::default());
        visibility.state.lock().visible = wal.last_seq();
        let inner = Arc::new(Inner {
            dir: dir.to_path_buf(),
            io,
            io_note,
            ctx,
            wal,
            spaces: RwLock::new(spaces),
            visibility,
            poisoned: AtomicBool::new(false),
            poison_reason: Mutex::new(None),
            disk_full: Mutex::new(None),
            disk_full_failures: AtomicU64::new(0),
            work: Mutex::new(0),
            work_cv: Condvar::new(),
            progress: Mutex::new(0),
            progress_cv: Condvar::new(),
            shutdown: AtomicBool::new(false),
            user_bytes: Arc::new(AtomicU64::new(0)),
            options: options.clone(),
        });
        let mut workers = Vec::new();
        for i in 0..options.background_threads.max(1) {
            let inner = Arc::clone(&inner);
            let h = std::thread::Builder::new()
                .name(format!("hashlog-bg-{i}"))
                .spawn(move || inner.background_loop())
                .map_err(StorageError::Io)?;
            workers.push(h);
        }
        let engine = Engine {
            inner,
            workers: Mutex::new(workers),
        };
        // Memtables refilled by replay that are already over size get flushed soon.
        engine
            .inner
            .rotate_full(engine.inner.options.tree.memtable_bytes);
        Ok(engine)
    }

    /// Why io_uring is not in use, when it is not.
    pub fn io_note(&self) -> Option<&str> {
        self.inner.io_note.as_deref()
    }

    pub fn io_backend_name(&self) -> String {
        self.inner.io.name()
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Rotates every non-empty memtable and waits until all are flushed: after it returns the
    /// WAL holds nothing the SSTables do not.
    /// A full disk fails it with [`StorageError::DiskFull`] once a flush attempted after the
    /// call began failed for lack of space.
    pub fn flush_all(&self) -> Result<()> {
        let failures = self.inner.disk_full_failures.load(Ordering::SeqCst);
        self.inner.rotate_full(0);
        self.inner.kick();
        loop {
            self.inner.check_poison()?;
            if self.inner.disk_full_failures.load(Ordering::SeqCst) > failures {
                if let Some(why) = self.inner.disk_full.lock().clone() {
                    return Err(StorageError::DiskFull(why));
                }
            }
            let pending = self.inner.all_trees().iter().any(|t| t.has_immutables());
            if !pending {
                break;
            }
            let mut p = self.inner.progress.lock();
            self.inner
                .progress_cv
                .wait_for(&mut p, Duration::from_millis(20));
        }
        self.inner.release_wal()
    }

    /// Runs compactions until none is due (benchmarks and tests).
    pub fn compact_all(&self) -> Result<()> {
        loop {
            self.inner.check_poison()?;
            let mut did = false;
            for t in self.inner.all_trees() {
                did |= t.compact_once(&self.inner.ctx)?;
            }
            if !did {
                return Ok(());
            }
        }
    }

    pub fn stats(&self) -> EngineStats {
        let i = &self.inner;
        let mut s = EngineStats {
            io_backend: i.io.name(),
            ..Default::default()
        };
        for t in i.all_trees() {
            s.partitions += 1;
            let st = t.state();
            s.memtable_bytes += st.active.size_bytes() as u64;
            s.immutable_memtables += st.immutables.len();
            for m in &st.immutables {
                s.memtable_bytes += m.size_bytes() as u64;
            }
            for (n, lv) in st.levels.iter().enumerate() {
                if s.tables_per_level.len() <= n {
                    s.tables_per_level.push(0);
                }
                s.tables_per_level[n] += lv.len();
            }
            if t.compaction_due(&i.ctx.options.compaction) {
                s.compaction_debt_partitions += 1;
            }
        }
        s.flushes = i.ctx.flushes.load(Ordering::Relaxed);
        s.compactions = i.ctx.compactions.load(Ordering::Relaxed);
        s.user_bytes_written = i.user_bytes.load(Ordering::Relaxed);
        s.flushed_bytes = i.ctx.flushed_bytes.load(Ordering::Relaxed);
        s.compacted_bytes = i.ctx.compacted_bytes.load(Ordering::Relaxed);
        let w = i.wal.stats();
        s.wal_bytes = w.bytes;
        s.wal_syncs = w.syncs;
        s.wal_records = w.records;
        let c = i.ctx.cache.stats();
        s.cache_hits = c.hits;
        s.cache_misses = c.misses;
        s
    }

    /// Stops background work and makes everything durable. Also done on drop.
    pub fn close(&self) -> Result<()> {
        let r = if self.inner.poisoned.load(Ordering::SeqCst) {
            Ok(())
        } else {
            self.flush_all()
        };
        self.inner.shutdown.store(true, Ordering::SeqCst);
        self.inner.kick();
        for h in self.workers.lock().drain(..) {
            let _ = h.join();
        }
        let s = self.inner.wal.sync();
        r.and(s)
    }

    fn space(&self, space: SpaceId) -> Result<Arc<Space>> {
        self.inner
            .spaces
            .read()
            .get(&space)
            .cloned()
            .ok_or(StorageError::NoSuchSpace(space))
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.inner.shutdown.store(true, Ordering::SeqCst);
        self.inner.kick();
        for h in self.workers.lock().drain(..) {
            let _ = h.join();
        }
    }
}

impl Inner {
    fn all_trees(&self) -> Vec<Arc<Tree>> {
        self.spaces
            .read()
            .values()
            .flat_map(|s| s.partitions.iter().cloned())
            .collect()
    }

    fn kick(&self) {
        *self.work.lock() += 1;
        self.work_cv.notify_all();
    }

    fn poison(&self, why: String) {
        let mut r = self.poison_reason.lock();
        if r.is_none() {
            crate::lsm::manifest::note(&format!("poisoned: {why}"));
            *r = Some(why);
        }
        self.poisoned.store(true, Ordering::SeqCst);
        self.progress_cv.notify_all();
        self.visibility.wake_all();
    }

    fn check_poison(&self) -> Result<()> {
        if self.visibility.has_failed() && !self.poisoned.load(Ordering::SeqCst) {
            self.poison(
                "a batch's memtable insert panicked: later writes cannot become visible".into(),
            );
        }
        if self.poisoned.load(Ordering::SeqCst) {
            let why = self.poison_reason.lock().clone().unwrap_or_default();
            return Err(StorageError::Poisoned(why));
        }
        Ok(())
    }

    fn rotate_full(&self, threshold: usize) {
        let mut any = false;
        for t in self.all_trees() {
            any |= t.maybe_rotate(threshold, &self.ctx);
        }
        if any {
            self.kick();
        }
    }

    fn release_wal(&self) -> Result<()> {
        let mut upto = self.visibility.visible();
        for t in self.all_trees() {
            if let Some(s) = t.oldest_unflushed_seq() {
                upto = upto.min(s.saturating_sub(1));
            }
        }
        self.wal.release_up_to(upto)
    }

    fn background_loop(&self) {
        lower_thread_priority(self.options.background_nice);
        while !self.shutdown.load(Ordering::SeqCst) {
            if self.poisoned.load(Ordering::SeqCst) {
                let mut w = self.work.lock();
                self.work_cv.wait_for(&mut w, Duration::from_millis(100));
                continue;
            }
            // A panic (a bug) poisons the engine like a failed step, rather than killing the
            // thread and leaving the memtables it was flushing to fill until writers stall.
            let step =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.background_step()))
                    .unwrap_or_else(|p| {
                        let why = p
                            .downcast_ref::<&str>()
                            .map(|s| (*s).to_string())
                            .or_else(|| p.downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "a panic".into());
                        Err(StorageError::Poisoned(format!(
                            "background thread panicked: {why}"
                        )))
                    });
            match step {
                Ok(did) => {
                    if self.disk_full.lock().take().is_some() {
                        crate::lsm::manifest::note("disk space available again");
                    }
                    if did {
                        *self.progress.lock() += 1;
                        self.progress_cv.notify_all();
                    } else {
                        let mut w = self.work.lock();
                        self.work_cv.wait_for(&mut w, Duration::from_millis(50));
                    }
                }
                // Nothing was half done: the failed step left no file behind and changed no
                // state. Retry after a pause; writers that need room meanwhile get DiskFull.
                Err(StorageError::DiskFull(why)) => {
                    if self.disk_full.lock().replace(why.clone()).is_none() {
                        crate::lsm::manifest::note(&format!("disk full: {why}"));
                    }
                    self.disk_full_failures.fetch_add(1, Ordering::SeqCst);
                    self.progress_cv.notify_all();
                    let mut w = self.work.lock();
                    self.work_cv.wait_for(&mut w, DISK_FULL_RETRY);
                }
                Err(e) => self.poison(format!("background flush/compaction failed: {e}")),
            }
        }
    }

    /// One unit of background work: a flush if any is pending (they free memory and unblock
    /// writers), else a compaction. Returns whether it did anything.
    fn background_step(&self) -> Result<bool> {
        let trees = self.all_trees();
        for t in &trees {
            if !t.has_immutables() {
                continue;
            }
            // Nothing reaches an SSTable before the WAL records that carry it are durable
            // (a no-op under sync durability, where they already are): otherwise a crash
            // under buffered durability would keep one tree's flushed part of a batch and
            // lose the rest of it with the log tail — a write half recovered. The sync covers
            // what was appended before it; a memtable holding anything later (rotated while
            // another thread flushed the one before it) waits for the next round's sync.
            let durable_upto = self.wal.last_seq();
            self.wal.sync()?;
            if t.flush_oldest(&self.ctx, durable_upto)? {
                self.release_wal()?;
                return Ok(true);
            }
        }
        let cfg = self.ctx.options.compaction;
        for t in &trees {
            if t.compaction_due(&cfg) && t.compact_once(&self.ctx)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn wait_for_room(&self, trees: &[Arc<Tree>]) -> Result<()> {
        loop {
            self.check_poison()?;
            if !trees.iter().any(|t| t.should_stall()) {
                return Ok(());
            }
            // Memtables are full and cannot be flushed: refuse rather than wait for space.
            if let Some(why) = self.disk_full.lock().clone() {
                return Err(StorageError::DiskFull(why));
            }
            self.kick();
            let mut p = self.progress.lock();
            self.progress_cv.wait_for(&mut p, Duration::from_millis(10));
        }
    }
}

/// A batch checked and routed: the last write of each key, the partition each goes to, and
/// those partitions once each (in id order).
struct Routed {
    writes: Vec<KvWrite>,
    routed: Vec<Arc<Tree>>,
    distinct: Vec<Arc<Tree>>,
}

impl Inner {
    /// Checks a batch's sizes, keeps the last write of each key and routes each write.
    fn route(&self, writes: Vec<KvWrite>) -> Result<Routed> {
        // Later writes to the same key win: keep only the last.
        let mut last: FxHashMap<(SpaceId, &[u8]), usize> =
            FxHashMap::with_capacity_and_hasher(writes.len(), Default::default());
        for (n, w) in writes.iter().enumerate() {
            if w.key.len() > limits::USER_KEY_SIZE_MAX_BYTES {
                return Err(StorageError::KeyTooLarge {
                    size: w.key.len(),
                    max: limits::USER_KEY_SIZE_MAX_BYTES,
                });
            }
            if let Some(v) = &w.value {
                if v.len() > limits::VALUE_SIZE_MAX_BYTES {
                    return Err(StorageError::ValueTooLarge {
                        size: v.len(),
                        max: limits::VALUE_SIZE_MAX_BYTES,
                    });
                }
            }
            last.insert((w.space, w.key.as_slice()), n);
        }
        let writes: Vec<KvWrite> = if last.len() == writes.len() {
            writes
        } else {
            let keep: BTreeSet<usize> = last.values().copied().collect();
            writes
                .into_iter()
                .enumerate()
                .filter(|(n, _)| keep.contains(n))
                .map(|(_, w)| w)
                .collect()
        };
        let mut routed: Vec<Arc<Tree>> = Vec::with_capacity(writes.len());
        {
            let spaces = self.spaces.read();
            for w in &writes {
                let sp = spaces
                    .get(&w.space)
                    .ok_or(StorageError::NoSuchSpace(w.space))?;
                let t = sp.route(routing_hash(&w.key)).ok_or_else(|| {
                    StorageError::Corruption(format!("keyspace {} has no partitions", w.space))
                })?;
                routed.push(Arc::clone(t));
            }
        }
        let mut distinct: Vec<Arc<Tree>> = routed.clone();
        distinct.sort_by_key(|t| t.id);
        distinct.dedup_by_key(|t| t.id);
        Ok(Routed {
            writes,
            routed,
            distinct,
        })
    }

    /// A failed log append: a full disk leaves the engine usable (nothing reached the log);
    /// anything else poisons it.
    fn append_failed(&self, e: StorageError) -> StorageError {
        if !matches!(e, StorageError::DiskFull(_)) {
            self.poison(format!("WAL append failed: {e}"));
        }
        e
    }

    /// Queues a routed batch in the log. The log inserts it and makes it visible as soon as
    /// it is acknowledged ([`Applier`]), one batch at a time in sequence order: on the
    /// committer's thread under sync durability, here (under the log buffer's lock) under
    /// buffered durability. So no later write waits for this writer's thread or task to be
    /// scheduled again to become visible (it used to: a reactor thread preempted between its
    /// batches' commit and their inserts held up the other reactor's writes), and since
    /// inserts come in sequence order, a rotation between two of them leaves every write in
    /// the older memtable numbered below every write in the newer: the gate is held for an
    /// insert, not from before the append (a rotation used to wait for every write in flight,
    /// and sent the writes behind it to the blocking pool meanwhile).
    fn queue(
        &self,
        writes: Vec<KvWrite>,
        routed: Vec<Arc<Tree>>,
        distinct: Vec<Arc<Tree>>,
    ) -> Append {
        let payload = encode_batch(&writes);
        let applier = Applier {
            writes,
            routed,
            distinct,
            bytes: payload.len() as u64,
            visibility: Arc::clone(&self.visibility),
            user_bytes: Arc::clone(&self.user_bytes),
        };
        self.wal
            .append_async_then(&payload, Some(Box::new(move |seq| applier.apply(seq))))
    }
}

/// What a queued batch's memtable insert needs, run by the log once the batch is
/// acknowledged. It holds no reference to the engine (it may be the last owner of what it
/// holds, and runs on the log's own threads).
struct Applier {
    writes: Vec<KvWrite>,
    routed: Vec<Arc<Tree>>,
    /// The partitions written, once each (in id order): their gates are held for the insert.
    distinct: Vec<Arc<Tree>>,
    bytes: u64,
    visibility: Arc<Visibility>,
    user_bytes: Arc<AtomicU64>,
}

impl Applier {
    /// Inserts the batch, numbered `seq`, into its partitions' memtables (holding their write
    /// gates, so none rotates in the middle of the batch) and marks `seq` applied. If the
    /// insert panics (a bug), the visibility prefix is marked failed on the way out: the seq
    /// is numbered and will never be applied, and every later writer would wait for it.
    fn apply(self, seq: SeqNo) {
        struct Unfinished<'a>(&'a Visibility, bool);
        impl Drop for Unfinished<'_> {
            fn drop(&mut self) {
                if !self.1 {
                    self.0.fail();
                }
            }
        }
        let mut unfinished = Unfinished(&self.visibility, false);
        let gates: Vec<_> = self.distinct.iter().map(|t| t.write_gate()).collect();
        for (w, t) in self.writes.iter().zip(&self.routed) {
            match &w.value {
                Some(v) => t.insert(&w.key, seq, ValueKind::Put, v),
                None => t.insert(&w.key, seq, ValueKind::Delete, &[]),
            }
        }
        drop(gates);
        unfinished.1 = true;
        drop(unfinished);
        self.user_bytes.fetch_add(self.bytes, Ordering::Relaxed);
        self.visibility.complete(seq);
    }
}

enum Stage {
    /// Waiting for the log (which inserts the batch once it is acknowledged).
    Appending(Append),
    /// Inserted; waiting for the earlier seqs to become visible.
    Visible(SeqNo),
    Finished,
}

/// The future of [`Engine::write_async`]: the log append (the log inserts the batch),
/// visibility, then a rotation if one is due and the gate is free. Dropping it
/// withdraws nothing: the log still inserts the batch once it is acknowledged.
struct PendingWrite {
    inner: Arc<Inner>,
    stage: Stage,
    distinct: Vec<Arc<Tree>>,
}

impl Future for PendingWrite {
    type Output = Result<SeqNo>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<SeqNo>> {
        let this = self.get_mut();
        loop {
            match std::mem::replace(&mut this.stage, Stage::Finished) {
                Stage::Appending(mut append) => match Pin::new(&mut append).poll(cx) {
                    Poll::Pending => {
                        this.stage = Stage::Appending(append);
                        return Poll::Pending;
                    }
                    Poll::Ready(Ok(seq)) => this.stage = Stage::Visible(seq),
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(this.inner.append_failed(e))),
                },
                Stage::Visible(seq) => {
                    let i = &this.inner;
                    match i.visibility.poll_wait(seq, &i.poisoned, cx) {
                        Poll::Pending => {
                            this.stage = Stage::Visible(seq);
                            return Poll::Pending;
                        }
                        Poll::Ready(r) => r?,
                    }
                    let threshold = i.ctx.options.memtable_bytes;
                    let mut rotated = false;
                    for t in &this.distinct {
                        rotated |= t.try_rotate(threshold, &i.ctx);
                    }
                    if rotated {
                        i.kick();
                    }
                    return Poll::Ready(Ok(seq));
                }
                Stage::Finished => {
                    return Poll::Ready(Err(StorageError::InvalidArgument(
                        "write future polled after it completed".into(),
                    )))
                }
            }
        }
    }
}

impl Kv for Engine {
    fn create_space(&self, space: SpaceId, partitions: u32) -> Result<()> {
        if partitions == 0 {
            return Err(StorageError::InvalidArgument(
                "partitions must be ≥ 1".into(),
            ));
        }
        self.inner.check_poison()?;
        let i = &self.inner;
        let mut m = i.ctx.manifest.lock();
        if m.state.spaces.contains_key(&space) {
            return Err(StorageError::SpaceExists(space));
        }
        let created_seq = i.wal.last_seq();
        let first = m.state.next_partition_id;
        let descs = split_hash_space(first, partitions);
        let next_file = m.state.next_file_id;
        m.apply(VersionEdit {
            ops: vec![
                EditOp::CreateSpace {
                    space,
                    created_seq,
                    partitions: descs.clone(),
                },
                EditOp::NextIds {
                    file: next_file,
                    partition: first + partitions as u64,
                },
            ],
        })?;
        let trees = descs
            .iter()
            .map(|d| {
                Arc::new(Tree::new(
                    d.id,
                    space,
                    d.hash_lo,
                    d.hash_hi,
                    created_seq,
                    vec![],
                    &i.ctx,
                ))
            })
            .collect();
        i.spaces
            .write()
            .insert(space, Arc::new(Space { partitions: trees }));
        Ok(())
    }

    fn drop_space(&self, space: SpaceId) -> Result<()> {
        self.inner.check_poison()?;
        let i = &self.inner;
        let removed = {
            let mut m = i.ctx.manifest.lock();
            if !m.state.spaces.contains_key(&space) {
                return Err(StorageError::NoSuchSpace(space));
            }
            m.apply(VersionEdit {
                ops: vec![EditOp::DropSpace { space }],
            })?;
            i.spaces.write().remove(&space)
        };
        if let Some(sp) = removed {
            for t in &sp.partitions {
                for h in t.state().levels.iter().flatten() {
                    i.ctx.cache.evict_table(h.info.id);
                    let _ =
                        i.io.remove_file(&crate::lsm::sst_path(&i.ctx.sst_dir, h.info.id));
                }
            }
        }
        Ok(())
    }

    fn has_space(&self, space: SpaceId) -> bool {
        self.inner.spaces.read().contains_key(&space)
    }

    fn write(&self, writes: Vec<KvWrite>) -> Result<SeqNo> {
        let i = &self.inner;
        i.check_poison()?;
        if writes.is_empty() {
            return Ok(i.visibility.visible());
        }
        let Routed {
            writes,
            routed,
            distinct,
        } = i.route(writes)?;
        i.wait_for_room(&distinct)?;
        let seq = match i.queue(writes, routed, distinct.clone()).wait() {
            Ok(s) => s,
            Err(e) => return Err(i.append_failed(e)),
        };
        i.visibility.wait(seq, &i.poisoned)?;
        let threshold = i.ctx.options.memtable_bytes;
        let mut rotated = false;
        for t in &distinct {
            rotated |= t.maybe_rotate(threshold, &i.ctx);
        }
        if rotated {
            i.kick();
        }
        Ok(seq)
    }

    fn write_async(&self, writes: Vec<KvWrite>) -> AsyncWrite {
        let i = &self.inner;
        if let Err(e) = i.check_poison() {
            return AsyncWrite::Done(Err(e));
        }
        if writes.is_empty() {
            return AsyncWrite::Done(Ok(i.visibility.visible()));
        }
        let Routed {
            writes,
            routed,
            distinct,
        } = match i.route(writes) {
            Ok(r) => r,
            Err(e) => return AsyncWrite::Done(Err(e)),
        };
        // A stall (memtables waiting for flushes) is left to `write` on a thread that may
        // block. A memtable due to rotate is not: the write goes in (a memtable's size is a
        // threshold, not a hard limit) and its future rotates it after (`try_rotate`, which
        // gives up while an insert or another rotation holds the gate; the next write's
        // tries again). A memtable at twice its size, which every such try missed, goes to
        // `write`, whose rotation waits for the gate.
        let threshold = i.ctx.options.memtable_bytes;
        if distinct
            .iter()
            .any(|t| t.should_stall() || t.needs_rotation(threshold.saturating_mul(2)))
        {
            return AsyncWrite::WouldBlock(writes);
        }
        AsyncWrite::Queued(Box::pin(PendingWrite {
            inner: Arc::clone(&self.inner),
            stage: Stage::Appending(i.queue(writes, routed, distinct.clone())),
            distinct,
        }))
    }

    fn get_at(&self, space: SpaceId, key: &[u8], snapshot: Snapshot) -> Result<Option<Vec<u8>>> {
        let sp = self.space(space)?;
        let Some(t) = sp.route(routing_hash(key)) else {
            return Ok(None);
        };
        Ok(t.get(key, snapshot.0)?
            .and_then(|e| (e.kind == ValueKind::Put).then(|| Vec::from(e.value))))
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot(self.inner.visibility.visible())
    }

    fn prefetch(&self, space: SpaceId, keys: &[&[u8]]) -> Result<usize> {
        let sp = self.space(space)?;
        let snapshot = self.inner.visibility.visible();
        // Keys grouped by the partition (tree) they route to.
        let mut per: Vec<(&Arc<Tree>, Vec<&[u8]>)> = Vec::new();
        for &k in keys {
            let Some(t) = sp.route(routing_hash(k)) else {
                continue;
            };
            match per.iter_mut().find(|(p, _)| Arc::ptr_eq(p, t)) {
                Some((_, ks)) => ks.push(k),
                None => per.push((t, vec![k])),
            }
        }
        let mut read = 0;
        for (t, ks) in per {
            read += t.prefetch(&ks, snapshot)?;
        }
        Ok(read)
    }

    fn scan(
        &self,
        space: SpaceId,
        lower: Bound<Vec<u8>>,
        upper: Bound<Vec<u8>>,
        reverse: bool,
    ) -> Result<KvIter> {
        let sp = self.space(space)?;
        let snapshot = self.inner.visibility.visible();
        let lo_hash = match &lower {
            Bound::Included(k) | Bound::Excluded(k) => routing_hash(k),
            Bound::Unbounded => 0,
        };
        let hi_hash = match &upper {
            Bound::Included(k) | Bound::Excluded(k) => routing_hash(k),
            Bound::Unbounded => u64::MAX,
        };
        let mut trees: Vec<Arc<Tree>> = sp
            .partitions
            .iter()
            .filter(|t| t.hash_hi >= lo_hash && t.hash_lo <= hi_hash)
            .cloned()
            .collect();
        if reverse {
            trees.reverse();
        }
        Ok(Box::new(trees.into_iter().flat_map(move |t| {
            t.scan(lower.clone(), upper.clone(), reverse, snapshot)
        })))
    }

    fn space_stats(&self, space: SpaceId) -> Result<SpaceStats> {
        let sp = self.space(space)?;
        let mut s = SpaceStats::default();
        for t in &sp.partitions {
            let (k, b) = t.stats();
            s.approximate_keys += k;
            s.approximate_bytes += b;
        }
        Ok(s)
    }
}

#[cfg(test)]
pub(crate) mod tests;

#[cfg(test)]
mod visibility_tests {
    use super::*;

    #[test]
    fn the_prefix_advances_only_over_completed_seqs_and_wakes_exactly_its_waiters() {
        let v = Arc::new(Visibility::default());
        let poisoned = Arc::new(AtomicBool::new(false));
        v.complete(2);
        v.complete(3);
        assert_eq!(v.visible(), 0, "1 is missing");
        let waiters: Vec<_> = [3u64, 5]
            .into_iter()
            .map(|seq| {
                let (v, p) = (Arc::clone(&v), Arc::clone(&poisoned));
                std::thread::spawn(move || v.wait(seq, &p).map(|()| seq))
            })
            .collect();
        // Both register (bounded wait: the test fails rather than hangs if they never do).
        for _ in 0..2_000 {
            if v.state.lock().waiters.len() == 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(v.state.lock().waiters.len(), 2);
        v.complete(1);
        assert_eq!(v.visible(), 3);
        assert_eq!(
            v.state.lock().waiters.keys().copied().collect::<Vec<_>>(),
            vec![5],
            "only the waiter for 3 was taken off to be woken"
        );
        v.complete(5);
        assert_eq!(v.visible(), 3, "4 is missing");
        v.complete(4);
        assert_eq!(v.visible(), 5);
        for w in waiters {
            assert!(w.join().expect("join").is_ok());
        }
        assert!(v.state.lock().waiters.is_empty());
        assert!(v.state.lock().done.is_empty());
    }

    /// A thread waiting for seq 2 to be visible, once its wait is registered (or 2 s on).
    fn waiting_for_2(
        v: &Arc<Visibility>,
        poisoned: &Arc<AtomicBool>,
    ) -> std::thread::JoinHandle<Result<(), StorageError>> {
        let w = {
            let (v, p) = (Arc::clone(v), Arc::clone(poisoned));
            std::thread::spawn(move || v.wait(2, &p))
        };
        for _ in 0..2_000 {
            if !v.state.lock().waiters.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        w
    }

    #[test]
    fn a_poisoned_engine_releases_waiters_with_an_error() {
        let v = Arc::new(Visibility::default());
        let poisoned = Arc::new(AtomicBool::new(false));
        let w = waiting_for_2(&v, &poisoned);
        poisoned.store(true, Ordering::SeqCst);
        v.wake_all();
        assert!(matches!(
            w.join().expect("join"),
            Err(StorageError::Poisoned(_))
        ));
        assert!(v.state.lock().waiters.is_empty());
    }

    #[test]
    fn a_failed_prefix_releases_waiters_and_a_later_check_poisons_the_engine() {
        let v = Arc::new(Visibility::default());
        let not_poisoned = Arc::new(AtomicBool::new(false));
        let w = waiting_for_2(&v, &not_poisoned);
        // An insert that panicked after its seq was numbered (`Applier::apply`'s guard).
        v.fail();
        assert!(matches!(
            w.join().expect("join"),
            Err(StorageError::Poisoned(_))
        ));
        assert!(matches!(
            v.wait(1, &not_poisoned),
            Err(StorageError::Poisoned(_))
        ));
        // The engine notices at its next check, and refuses writes from then on.
        let dir = tempfile::tempdir().expect("tempdir");
        let e = Engine::open(dir.path(), EngineOptions::default()).expect("open");
        e.inner.visibility.fail();
        assert!(matches!(
            e.write(vec![KvWrite {
                space: 1,
                key: b"k".to_vec(),
                value: Some(b"v".to_vec()),
            }]),
            Err(StorageError::Poisoned(_))
        ));
    }
}
