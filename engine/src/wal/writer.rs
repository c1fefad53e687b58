//! The log itself: recovery on open, then one committer thread that writes the batches the
//! appenders queue (one write and one fdatasync each), rotates segments and wakes each batch's
//! writers with one futex wake.

use std::collections::VecDeque;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::{Condvar, Mutex};

use crate::error::{Result, StorageError};
use crate::io::{IoBackend, IoFile, OpenOptions, DIRECT_IO_ALIGN};
use crate::key::SeqNo;
use crate::limits::{GROUP_COMMIT_BATCH_MAX, WAL_RECORD_SIZE_MAX_BYTES};
use crate::wal::format::{
    data_frame_len, decode_segment_header, encode_batch_frame, encode_frame, encode_segment_header,
    BatchInfo, FrameSum, HeaderProblem, SegmentHeader, BATCH_FRAME_LEN, FRAME_DATA,
    SEGMENT_FORMAT_VERSION, SEGMENT_HEADER_LEN,
};
use crate::wal::recover::scan_segment;
use crate::wal::{Durability, WalOptions, WalStats};

/// A batch stops growing once it holds this many payload bytes (it always takes one record).
const BATCH_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Batches of more records than this are woken by the acker thread, so the committer can
/// start the next write and fdatasync while the kernel wakes the writers of the last batch
/// (on a 2-core VM each woken thread costs the waker microseconds).
pub(super) const ACK_INLINE_MAX: usize = 16;
/// Payload bytes that may wait in the queue; appenders beyond it block (backpressure).
const QUEUE_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Zeros written ahead of the write position at a time when preallocating.
const PREALLOCATE_CHUNK_BYTES: u64 = 1024 * 1024;
/// While the disk is full, the committer retries writing the log buffer this often.
const DISK_FULL_RETRY: Duration = Duration::from_millis(50);
/// Suffix of segment file names (`{id:020}.wal`).
const SEGMENT_SUFFIX: &str = ".wal";
/// Suffix of released segments kept for reuse (`{id:020}.wal.free`); never read as a segment.
const RECYCLE_SUFFIX: &str = ".wal.free";
/// Released segment files kept for reuse (`WalOptions::reuse_segments`). A reused file is overwritten in
/// place, so a batch's fdatasync writes the batch and nothing else: no zeros ahead, no file
/// size change. With zeros written ahead instead, 64 durable writers reached 50–57 % of the
/// disk's fdatasync rate and a p99 of 3.5 ms; overwriting reached 68–74 % and 0.8 ms
/// (docs/results/2026-12-05-wal-commit.md, "Recycled segments").
const RECYCLED_SEGMENTS_MAX: usize = 2;

/// A segmented, checksummed write-ahead log with group commit.
#[derive(Debug)]
pub struct Wal {
    shared: Arc<Shared>,
    tx: Sender<Request>,
    committer: Mutex<Option<JoinHandle<()>>>,
    /// Sync durability: the thread that wakes the writers of large batches.
    acker: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug)]
struct Shared {
    io: Arc<dyn IoBackend>,
    dir: PathBuf,
    opts: WalOptions,
    last_seq: AtomicU64,
    poisoned: AtomicBool,
    poison_reason: Mutex<Option<String>>,
    closed: AtomicBool,
    /// Segments in id order; the last one is active.
    segments: Mutex<Vec<SegmentMeta>>,
    /// Released segment files (renamed `*.wal.free`, directory synced) the committer reuses
    /// for new segments.
    recycled: Mutex<Vec<PathBuf>>,
    /// Held across a whole `release_up_to`, so releases happen one at a time, oldest first:
    /// two overlapping ones could otherwise make a newer segment's removal durable before an
    /// older one's, and a crash between would leave a gap in the segment ids.
    releasing: Mutex<()>,
    queued_bytes: Mutex<usize>,
    queue_room: Condvar,
    /// Sync durability: appends waiting for the committer, already grouped into batches.
    queue: Mutex<SyncQueue>,
    /// Sync durability: signalled when the committer takes a batch off a full queue.
    sync_room: Condvar,
    /// Buffered durability: appends numbered and queued here, written by the committer.
    buffer: Mutex<LogBuffer>,
    /// Buffered durability: the committer could not write the buffer because the disk is
    /// full. New appends are refused with [`StorageError::DiskFull`] (the buffer keeps what it
    /// holds and the committer retries) until a write succeeds again.
    disk_full: AtomicBool,
    records: AtomicU64,
    batches: AtomicU64,
    syncs: AtomicU64,
    bytes: AtomicU64,
}

/// Records appended under buffered durability that the committer has not written yet, in
/// sequence order: the first has the committer's next seq, `next_seq` is the one after the
/// last.
#[derive(Debug, Default)]
struct LogBuffer {
    next_seq: SeqNo,
    records: Vec<Vec<u8>>,
}

/// Sync durability: the batches appenders have filled and the committer has not taken yet.
/// An appender joins the last batch while it has room, else opens a new one; the committer
/// takes them from the front. Grouping here, rather than in the committer, is what lets one
/// futex wake answer a whole batch.
#[derive(Debug, Default)]
struct SyncQueue {
    batches: VecDeque<QueuedBatch>,
    /// Payload bytes queued: appenders beyond `QUEUE_BYTES_MAX` wait (backpressure). Kept
    /// here rather than under a lock of its own, so an append takes one lock.
    bytes: usize,
    /// The committer is gone: nothing queued now would ever be written.
    closed: bool,
}

struct QueuedBatch {
    records: Vec<Vec<u8>>,
    bytes: usize,
    ticket: Ticket,
    /// The records' [`OnCommit`]s, by their index in the batch.
    on_commit: Vec<(usize, OnCommit)>,
}

impl std::fmt::Debug for QueuedBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueuedBatch")
            .field("records", &self.records.len())
            .field("bytes", &self.bytes)
            .field("on_commit", &self.on_commit.len())
            .finish()
    }
}

/// Calls a written batch's [`OnCommit`]s with their records' seqs (nothing if it failed).
fn run_on_commit(outcome: &Result<SeqNo>, on_commit: Vec<(usize, OnCommit)>) {
    if let Ok(first) = outcome {
        for (index, f) in on_commit {
            f(first + index as u64);
        }
    }
}

/// How one batch ended, published once to every writer in it. Blocked threads wait on
/// `state` (a futex word): one wake answers them all, where one wake-up call per writer made
/// the waking thread the bottleneck at dozens of writers on two cores. Asynchronous writers
/// ([`Wal::append_async`]) leave a [`Waker`] instead, and cost the waker no system call: it
/// queues their task on its executor.
#[derive(Debug, Default)]
struct BatchDone {
    /// 0 while the batch is pending, 1 once `outcome` is set.
    state: AtomicU32,
    /// Threads that are (or are about to be) blocked on `state`; without any, finishing the
    /// batch makes no futex call.
    sleepers: AtomicU32,
    /// Asynchronous writers to wake, registered under this lock before `state` turns 1.
    wakers: Mutex<Vec<Waker>>,
    /// The seq of the batch's first record, or why it was not written.
    outcome: OnceLock<Result<SeqNo>>,
}

impl BatchDone {
    fn finish(&self, outcome: Result<SeqNo>) {
        if self.publish(outcome) {
            self.wake();
        }
    }

    /// Sets the outcome without waking the waiters (a writer that looks sees it at once);
    /// false if it was already set.
    fn publish(&self, outcome: Result<SeqNo>) -> bool {
        if self.outcome.set(outcome).is_ok() {
            // SeqCst, paired with the sleepers' increment in `wait`: either the sleeper sees
            // 1 here, or `wake` sees the sleeper.
            self.state.store(1, Ordering::SeqCst);
            true
        } else {
            false
        }
    }

    /// Wakes every writer of a published batch: blocked threads with one futex wake, tasks
    /// through their wakers.
    fn wake(&self) {
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            atomic_wait::wake_all(&self.state);
        }
        let wakers = std::mem::take(&mut *self.wakers.lock());
        for w in wakers {
            w.wake();
        }
    }

    /// The answer for the record at `index`, once the batch is finished.
    fn answer(&self, index: usize) -> Result<SeqNo> {
        match self.outcome.get() {
            Some(Ok(first)) => Ok(first + index as u64),
            Some(Err(e)) => Err(replicate(e)),
            None => Err(StorageError::Poisoned(
                "WAL batch finished without an outcome".into(),
            )),
        }
    }

    /// Blocks until the batch is finished; the answer for the record at `index` in it.
    fn wait(&self, index: usize) -> Result<SeqNo> {
        if self.state.load(Ordering::Acquire) == 0 {
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            while self.state.load(Ordering::SeqCst) == 0 {
                atomic_wait::wait(&self.state, 0);
            }
        }
        self.answer(index)
    }

    /// The answer for the record at `index` if the batch is finished; else registers `waker`
    /// (in place of the one at `slot`, if this writer registered before) and returns `None`.
    fn poll(&self, index: usize, slot: &mut Option<usize>, waker: &Waker) -> Option<Result<SeqNo>> {
        if self.state.load(Ordering::Acquire) == 0 {
            let mut wakers = self.wakers.lock();
            // Checked again under the lock `wake` takes after publishing: a waker pushed
            // here is either seen by `wake`, or the batch is seen finished.
            if self.state.load(Ordering::Acquire) == 0 {
                match slot.and_then(|i| wakers.get_mut(i)) {
                    Some(w) => {
                        if !w.will_wake(waker) {
                            w.clone_from(waker);
                        }
                    }
                    None => {
                        *slot = Some(wakers.len());
                        wakers.push(waker.clone());
                    }
                }
                return None;
            }
        }
        Some(self.answer(index))
    }
}

/// What an appender wants done with its record once the log has numbered it and the record
/// counts as acknowledged under the log's durability (written and fdatasync'ed under
/// [`Durability::Sync`], queued under [`Durability::Buffered`]): called with its sequence
/// number before the appender is answered. **Callbacks run one at a time, in sequence
/// order**: on the committer's thread under sync durability, under the log buffer's lock
/// under buffered durability (so they must be short, and must not append). Not called
/// (dropped) if the append fails.
pub type OnCommit = Box<dyn FnOnce(SeqNo) + Send>;

/// A durable append in flight ([`Wal::append_async`]): resolves to the record's sequence
/// number once its batch is written and fdatasync'ed, or to the error the whole batch got.
/// Dropping it does not withdraw the record: it is already queued, and may still become
/// durable (and replay after a crash) without anyone being told.
#[derive(Debug)]
#[must_use = "the append is acknowledged only when this future resolves"]
pub struct Append {
    state: AppendState,
}

#[derive(Debug)]
enum AppendState {
    /// Answered without waiting: buffered durability, or refused before queueing.
    Ready(Option<Result<SeqNo>>),
    Queued {
        done: Arc<BatchDone>,
        index: usize,
        /// This future's place in the batch's waker list, once registered.
        slot: Option<usize>,
    },
}

impl Append {
    /// Blocks until the append is answered (for a writer that gave up awaiting it).
    pub fn wait(self) -> Result<SeqNo> {
        match self.state {
            AppendState::Ready(answer) => answer.unwrap_or_else(|| {
                Err(StorageError::InvalidArgument(
                    "WAL append waited for after it completed".into(),
                ))
            }),
            AppendState::Queued { done, index, .. } => done.wait(index),
        }
    }
}

impl Future for Append {
    type Output = Result<SeqNo>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<SeqNo>> {
        let this = self.get_mut();
        match &mut this.state {
            AppendState::Ready(answer) => Poll::Ready(answer.take().unwrap_or_else(|| {
                Err(StorageError::InvalidArgument(
                    "WAL append future polled after it completed".into(),
                ))
            })),
            AppendState::Queued { done, index, slot } => {
                match done.poll(*index, slot, cx.waker()) {
                    Some(answer) => {
                        this.state = AppendState::Ready(None);
                        Poll::Ready(answer)
                    }
                    None => Poll::Pending,
                }
            }
        }
    }
}

/// The committer's hold on a batch's outcome. A batch dropped unanswered (the committer
/// panicked, or stopped with batches queued) fails its writers rather than leaving them
/// blocked.
#[derive(Debug, Default)]
struct Ticket(Arc<BatchDone>);

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.finish(Err(StorageError::Poisoned(
            "the WAL committer stopped before this append was written".into(),
        )));
    }
}

/// The same error again, for each writer of a batch that failed as a whole.
fn replicate(e: &StorageError) -> StorageError {
    match e {
        StorageError::Io(io) => match io.raw_os_error() {
            Some(code) => StorageError::Io(std::io::Error::from_raw_os_error(code)),
            None => StorageError::Io(std::io::Error::new(io.kind(), io.to_string())),
        },
        StorageError::DiskFull(why) => StorageError::DiskFull(why.clone()),
        StorageError::Poisoned(why) => StorageError::Poisoned(why.clone()),
        StorageError::Closed => StorageError::Closed,
        other => StorageError::Poisoned(other.to_string()),
    }
}

#[derive(Debug, Clone)]
struct SegmentMeta {
    id: u64,
    path: PathBuf,
    /// Highest seq in the segment, if it holds any record.
    last_seq: Option<SeqNo>,
}

enum Request {
    Sync {
        reply: Sender<Result<()>>,
    },
    Close {
        reply: Sender<Result<()>>,
    },
    /// The sync queue or (buffered durability) the log buffer became non-empty.
    Wake,
    /// Buffered durability: answer once the buffer is written (not synced).
    WriteOut {
        reply: Sender<Result<()>>,
    },
}

impl Shared {
    fn poison(&self, why: String) {
        let mut r = self.poison_reason.lock();
        if r.is_none() {
            *r = Some(why);
        }
        self.poisoned.store(true, Ordering::SeqCst);
    }

    fn poisoned_error(&self) -> StorageError {
        StorageError::Poisoned(
            self.poison_reason
                .lock()
                .clone()
                .unwrap_or_else(|| "WAL I/O failure".into()),
        )
    }

    fn check_usable(&self) -> Result<()> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(StorageError::Closed);
        }
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(self.poisoned_error());
        }
        Ok(())
    }

    fn acquire_queue(&self, n: usize) {
        let mut q = self.queued_bytes.lock();
        while *q > 0 && *q + n > QUEUE_BYTES_MAX {
            self.queue_room.wait(&mut q);
        }
        *q += n;
    }

    fn release_queue(&self, n: usize) {
        let mut q = self.queued_bytes.lock();
        *q = q.saturating_sub(n);
        self.queue_room.notify_all();
    }
}

fn segment_name(id: u64) -> String {
    format!("{id:020}{SEGMENT_SUFFIX}")
}

fn recycle_name(id: u64) -> String {
    format!("{id:020}{RECYCLE_SUFFIX}")
}

/// The released segment files in `dir` to reuse: up to [`RECYCLED_SEGMENTS_MAX`] when
/// recycling (`keep`), the rest (or all) deleted.
fn recyclable_files(io: &dyn IoBackend, dir: &Path, keep: bool) -> Result<Vec<PathBuf>> {
    let mut names: Vec<String> = io
        .list_dir(dir)?
        .into_iter()
        .filter(|n| n.ends_with(RECYCLE_SUFFIX))
        .collect();
    // Newest (highest id) first: those are kept.
    names.sort_unstable_by(|a, b| b.cmp(a));
    let mut kept = Vec::new();
    let mut removed = false;
    for n in names {
        let path = dir.join(n);
        if keep && kept.len() < RECYCLED_SEGMENTS_MAX {
            kept.push(path);
        } else {
            io.remove_file(&path)?;
            removed = true;
        }
    }
    if removed {
        io.sync_dir(dir)?;
    }
    Ok(kept)
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn align_down(x: u64) -> u64 {
    x - x % DIRECT_IO_ALIGN as u64
}

fn align_up(x: u64) -> u64 {
    align_down(x + DIRECT_IO_ALIGN as u64 - 1)
}

/// A heap buffer whose slice starts at a [`DIRECT_IO_ALIGN`] boundary (for O_DIRECT).
#[derive(Debug, Default)]
struct AlignedBuf {
    raw: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    /// Returns an aligned, zeroed slice of `len` bytes.
    fn zeroed(&mut self, len: usize) -> &mut [u8] {
        if self.raw.len() < len + DIRECT_IO_ALIGN {
            self.raw = vec![0u8; len + DIRECT_IO_ALIGN];
        }
        self.start = self
            .raw
            .as_ptr()
            .align_offset(DIRECT_IO_ALIGN)
            .min(DIRECT_IO_ALIGN);
        self.len = len;
        let s = &mut self.raw[self.start..self.start + len];
        s.fill(0);
        s
    }

    fn as_slice(&self) -> &[u8] {
        &self.raw[self.start..self.start + self.len]
    }
}

/// The segment appends go to.
#[derive(Debug)]
struct Active {
    id: u64,
    file: Arc<dyn IoFile>,
    /// Where the next batch goes.
    write_pos: u64,
    /// Bytes known durable.
    synced_pos: u64,
    /// Bytes of the file (zeros written ahead when preallocating).
    file_len: u64,
    /// O_DIRECT: the bytes of the partial block before `write_pos`, rewritten with each batch.
    tail: Vec<u8>,
    /// A reused file: bytes of older segments may follow `write_pos` (cut at close).
    recycled: bool,
    /// The segment's frame checksum (seeded with the salt in its header).
    sum: FrameSum,
}

impl Active {
    fn direct(&self) -> bool {
        self.file.is_direct()
    }
}

impl Wal {
    /// Opens (creating if needed) the log in `dir`, calls `replay` for every record in seq
    /// order, cuts a torn tail, and starts the committer. Mid-log damage is
    /// [`StorageError::Corruption`]; a segment from a newer build is
    /// [`StorageError::UnsupportedVersion`]; a file named like a segment that is not one is
    /// [`StorageError::NotADatabase`].
    pub fn open(
        io: Arc<dyn IoBackend>,
        dir: &Path,
        opts: WalOptions,
        replay: &mut dyn FnMut(SeqNo, &[u8]) -> Result<()>,
    ) -> Result<Wal> {
        if opts.segment_size_bytes < (SEGMENT_HEADER_LEN + BATCH_FRAME_LEN) as u64 {
            return Err(StorageError::InvalidArgument(format!(
                "WAL segment size {} is too small",
                opts.segment_size_bytes
            )));
        }
        io.create_dir_all(dir)?;
        let (segments, active, next_seq) = recover(io.as_ref(), dir, &opts, replay)?;
        let recycled = recyclable_files(io.as_ref(), dir, opts.reuse_segments)?;
        let shared = Arc::new(Shared {
            io,
            dir: dir.to_path_buf(),
            opts,
            last_seq: AtomicU64::new(next_seq - 1),
            poisoned: AtomicBool::new(false),
            poison_reason: Mutex::new(None),
            closed: AtomicBool::new(false),
            segments: Mutex::new(segments),
            recycled: Mutex::new(recycled),
            releasing: Mutex::new(()),
            queued_bytes: Mutex::new(0),
            queue_room: Condvar::new(),
            queue: Mutex::new(SyncQueue::default()),
            sync_room: Condvar::new(),
            buffer: Mutex::new(LogBuffer {
                next_seq,
                records: Vec::new(),
            }),
            disk_full: AtomicBool::new(false),
            records: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        });
        let (tx, rx) = crossbeam_channel::bounded(GROUP_COMMIT_BATCH_MAX);
        // Sync durability only: buffered appends are acknowledged before they are written.
        let (ack_tx, acker) = if shared.opts.durability == Durability::Sync {
            let (ack_tx, ack_rx) = crossbeam_channel::unbounded::<Arc<BatchDone>>();
            let handle = std::thread::Builder::new()
                .name("wal-acker".into())
                .spawn(move || {
                    for done in ack_rx {
                        done.wake();
                    }
                })
                .map_err(StorageError::Io)?;
            (Some(ack_tx), Some(handle))
        } else {
            (None, None)
        };
        let mut committer = Committer {
            acker: ack_tx,
            shared: Arc::clone(&shared),
            rx,
            active,
            next_seq,
            batch: Vec::new(),
            aligned: AlignedBuf::default(),
            last_sync: Instant::now(),
        };
        let handle = std::thread::Builder::new()
            .name("wal-committer".into())
            .spawn(move || {
                let _guard = PanicGuard(Arc::clone(&committer.shared));
                committer.run();
            })
            .map_err(StorageError::Io)?;
        Ok(Wal {
            shared,
            tx,
            committer: Mutex::new(Some(handle)),
            acker: Mutex::new(acker),
        })
    }

    /// Appends one record and returns its sequence number. With [`Durability::Sync`] it
    /// returns once the record is on disk (fdatasync'ed, shared with concurrent appenders);
    /// with [`Durability::Buffered`] once it is numbered and queued in the log buffer (the
    /// committer writes the buffer in batches and syncs every interval; a bounded buffer
    /// blocks appenders when full).
    pub fn append(&self, payload: &[u8]) -> Result<SeqNo> {
        self.check_append(payload)?;
        if self.shared.opts.durability == Durability::Sync {
            return self.append_synced(payload);
        }
        self.shared.acquire_queue(payload.len());
        self.append_buffered(payload, None)
    }

    /// Like [`Wal::append`], for asynchronous callers: under [`Durability::Sync`] the
    /// returned future resolves once the record's batch is fdatasync'ed, and the committer
    /// wakes the task instead of a blocked thread, so many writers can share a few executor
    /// threads. Joining the queue still takes a lock, and blocks in the rare case that
    /// [`QUEUE_BYTES_MAX`] of records already wait for the disk (backpressure). Under
    /// [`Durability::Buffered`] the append is answered at once, as [`Wal::append`] does.
    pub fn append_async(&self, payload: &[u8]) -> Append {
        self.append_async_then(payload, None)
    }

    /// [`Wal::append_async`], and `on_commit` called with the record's seq as soon as the
    /// append counts as acknowledged, before the appender is woken: under
    /// [`Durability::Sync`] on the committer's thread once the batch is fdatasync'ed, under
    /// [`Durability::Buffered`] here, under the log buffer's lock, before this returns. Every
    /// append's callback runs in sequence order ([`OnCommit`]). What must follow every
    /// acknowledged append (the engine's memtable insert) then never waits for the appender's
    /// task to be scheduled again, and never races another append's.
    pub fn append_async_then(&self, payload: &[u8], on_commit: Option<OnCommit>) -> Append {
        let state = match self.check_append(payload) {
            Err(e) => AppendState::Ready(Some(Err(e))),
            Ok(()) if self.shared.opts.durability == Durability::Sync => {
                match self.enqueue_synced(payload, on_commit) {
                    Ok((done, index)) => AppendState::Queued {
                        done,
                        index,
                        slot: None,
                    },
                    Err(e) => AppendState::Ready(Some(Err(e))),
                }
            }
            Ok(()) => {
                self.shared.acquire_queue(payload.len());
                AppendState::Ready(Some(self.append_buffered(payload, on_commit)))
            }
        };
        Append { state }
    }

    /// Refuses records over the size limit, and appends to a closed or poisoned log.
    fn check_append(&self, payload: &[u8]) -> Result<()> {
        if payload.len() > WAL_RECORD_SIZE_MAX_BYTES {
            return Err(StorageError::InvalidArgument(format!(
                "WAL record of {} bytes exceeds the limit of {WAL_RECORD_SIZE_MAX_BYTES} bytes",
                payload.len()
            )));
        }
        self.shared.check_usable()
    }

    /// Sync durability: joins the open batch (or opens one), then waits for the committer to
    /// write and fdatasync it.
    fn append_synced(&self, payload: &[u8]) -> Result<SeqNo> {
        let (done, index) = self.enqueue_synced(payload, None)?;
        done.wait(index)
    }

    /// Sync durability: queues the record in the open batch (or a new one) and wakes the
    /// committer if the queue was empty; the batch's outcome and the record's place in it.
    fn enqueue_synced(
        &self,
        payload: &[u8],
        on_commit: Option<OnCommit>,
    ) -> Result<(Arc<BatchDone>, usize)> {
        let record = payload.to_vec();
        let n = record.len();
        let (done, index, was_empty) = {
            let mut q = self.shared.queue.lock();
            while !q.closed && q.bytes > 0 && q.bytes + n > QUEUE_BYTES_MAX {
                self.shared.sync_room.wait(&mut q);
            }
            if q.closed {
                drop(q);
                return Err(self.gone());
            }
            let was_empty = q.batches.is_empty();
            let fits = q.batches.back().is_some_and(|b| {
                b.records.len() < GROUP_COMMIT_BATCH_MAX && b.bytes + n <= BATCH_BYTES_MAX
            });
            if !fits {
                q.batches.push_back(QueuedBatch {
                    records: Vec::new(),
                    bytes: 0,
                    ticket: Ticket::default(),
                    on_commit: Vec::new(),
                });
            }
            let Some(b) = q.batches.back_mut() else {
                return Err(StorageError::Poisoned("WAL queue lost its batch".into()));
            };
            if let Some(f) = on_commit {
                b.on_commit.push((b.records.len(), f));
            }
            b.records.push(record);
            b.bytes += n;
            let answer = (Arc::clone(&b.ticket.0), b.records.len() - 1, was_empty);
            q.bytes += n;
            answer
        };
        if was_empty {
            // A gone committer failed (or will fail) every queued batch, this one included.
            let _ = self.tx.send(Request::Wake);
        }
        Ok((done, index))
    }

    /// Buffered durability: numbers the record and queues it for the committer (the queue
    /// bytes are already acquired; the committer releases them once written), and runs its
    /// callback under the same lock, so callbacks run in sequence order.
    fn append_buffered(&self, payload: &[u8], on_commit: Option<OnCommit>) -> Result<SeqNo> {
        let (seq, was_empty) = {
            let mut b = self.shared.buffer.lock();
            if self.shared.poisoned.load(Ordering::SeqCst) {
                drop(b);
                self.shared.release_queue(payload.len());
                return Err(self.shared.poisoned_error());
            }
            if self.shared.disk_full.load(Ordering::SeqCst) {
                drop(b);
                self.shared.release_queue(payload.len());
                return Err(buffer_full_error());
            }
            let seq = b.next_seq;
            b.next_seq += 1;
            b.records.push(payload.to_vec());
            self.shared.last_seq.store(seq, Ordering::SeqCst);
            if let Some(f) = on_commit {
                f(seq);
            }
            (seq, b.records.len() == 1)
        };
        if was_empty {
            match self.tx.try_send(Request::Wake) {
                // A full channel means the committer has requests to serve, and it drains the
                // buffer after each of them.
                Ok(()) | Err(crossbeam_channel::TrySendError::Full(_)) => {}
                Err(crossbeam_channel::TrySendError::Disconnected(_)) => return Err(self.gone()),
            }
        }
        Ok(seq)
    }

    /// Buffered durability: returns once every record appended so far is written to the
    /// segment file (handed to the OS, not fdatasync'ed). A no-op under sync durability.
    pub fn write_out(&self) -> Result<()> {
        self.shared.check_usable()?;
        if self.shared.opts.durability == Durability::Sync {
            return Ok(());
        }
        let (reply, answer) = crossbeam_channel::bounded(1);
        match self.tx.send(Request::WriteOut { reply }) {
            Ok(()) => answer.recv().unwrap_or_else(|_| Err(self.gone())),
            Err(_) => Err(self.gone()),
        }
    }

    /// Makes every acknowledged record durable (a no-op in [`Durability::Sync`] mode, where
    /// they already are).
    pub fn sync(&self) -> Result<()> {
        self.shared.check_usable()?;
        if self.shared.opts.durability == Durability::Sync {
            return Ok(());
        }
        let (reply, answer) = crossbeam_channel::bounded(1);
        match self.tx.send(Request::Sync { reply }) {
            Ok(()) => answer.recv().unwrap_or_else(|_| Err(self.gone())),
            Err(_) => Err(self.gone()),
        }
    }

    /// The highest acknowledged sequence number (after open: the highest replayed).
    pub fn last_seq(&self) -> SeqNo {
        self.shared.last_seq.load(Ordering::SeqCst)
    }

    /// Deletes the oldest segments whose records all have seq ≤ `seq`; never the active one.
    pub fn release_up_to(&self, seq: SeqNo) -> Result<()> {
        let _one_at_a_time = self.shared.releasing.lock();
        let mut segs = self.shared.segments.lock();
        let mut n = 0;
        while n + 1 < segs.len() && segs[n].last_seq.is_none_or(|l| l <= seq) {
            n += 1;
        }
        if n == 0 {
            return Ok(());
        }
        let released: Vec<SegmentMeta> = segs.drain(..n).collect();
        drop(segs);
        let io = &self.shared.io;
        let room = if self.shared.opts.reuse_segments {
            RECYCLED_SEGMENTS_MAX.saturating_sub(self.shared.recycled.lock().len())
        } else {
            0
        };
        let mut kept = Vec::new();
        for s in released {
            if kept.len() < room {
                let free = self.shared.dir.join(recycle_name(s.id));
                io.rename(&s.path, &free)?;
                kept.push(free);
            } else {
                io.remove_file(&s.path)?;
            }
        }
        io.sync_dir(&self.shared.dir)?;
        // Reusable only once the renames are durable: a reused file gets a new header, and
        // must not reappear under its old segment name after a crash.
        self.shared.recycled.lock().extend(kept);
        Ok(())
    }

    pub fn stats(&self) -> WalStats {
        let s = &self.shared;
        WalStats {
            records: s.records.load(Ordering::Relaxed),
            batches: s.batches.load(Ordering::Relaxed),
            syncs: s.syncs.load(Ordering::Relaxed),
            bytes: s.bytes.load(Ordering::Relaxed),
            segments: s.segments.lock().len() as u64,
        }
    }

    /// Whether an I/O failure poisoned the log (it then refuses appends until reopened).
    pub fn is_poisoned(&self) -> bool {
        self.shared.poisoned.load(Ordering::SeqCst)
    }

    /// Syncs what is buffered and stops the committer. Later calls fail with
    /// [`StorageError::Closed`]. Idempotent; also run on drop.
    pub fn close(&self) -> Result<()> {
        if self.shared.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let (reply, answer) = crossbeam_channel::bounded(1);
        let r = match self.tx.send(Request::Close { reply }) {
            Ok(()) => answer.recv().unwrap_or(Ok(())),
            Err(_) => Ok(()),
        };
        if let Some(h) = self.committer.lock().take() {
            if h.join().is_err() {
                return Err(StorageError::Poisoned(
                    "the WAL committer thread panicked".into(),
                ));
            }
        }
        // The committer is gone, and with it the acker's sender: the acker wakes what it was
        // handed and ends.
        if let Some(h) = self.acker.lock().take() {
            if h.join().is_err() {
                return Err(StorageError::Poisoned(
                    "the WAL acker thread panicked".into(),
                ));
            }
        }
        r
    }

    fn gone(&self) -> StorageError {
        if self.shared.poisoned.load(Ordering::SeqCst) {
            self.shared.poisoned_error()
        } else {
            StorageError::Closed
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// Reads every segment, replays it, cuts a torn tail and opens (or creates) the active
/// segment. Returns the segment list, the active segment and the next sequence number.
fn recover(
    io: &dyn IoBackend,
    dir: &Path,
    opts: &WalOptions,
    replay: &mut dyn FnMut(SeqNo, &[u8]) -> Result<()>,
) -> Result<(Vec<SegmentMeta>, Active, SeqNo)> {
    let mut ids: Vec<u64> = io
        .list_dir(dir)?
        .iter()
        .filter_map(|n| parse_segment_name(n))
        .collect();
    ids.sort_unstable();
    for w in ids.windows(2) {
        if w[1] != w[0] + 1 {
            return Err(StorageError::Corruption(format!(
                "WAL in {}: segment {} is missing (found {} then {})",
                dir.display(),
                w[0] + 1,
                w[0],
                w[1]
            )));
        }
    }
    let mut metas: Vec<SegmentMeta> = Vec::new();
    let mut next_seq: Option<SeqNo> = None;
    let mut active: Option<Active> = None;
    let count = ids.len();
    for (i, &id) in ids.iter().enumerate() {
        let is_last = i + 1 == count;
        let name = segment_name(id);
        let path = dir.join(&name);
        let file = io.open(&path, OpenOptions::read_only())?;
        let len = usize::try_from(file.len()?)
            .map_err(|_| StorageError::Corruption(format!("WAL segment {name} is too large")))?;
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, 0)?;
        drop(file);
        let header = match decode_segment_header(&buf) {
            Ok(h) => h,
            Err(HeaderProblem::Newer(v)) => {
                return Err(StorageError::UnsupportedVersion {
                    what: format!("WAL segment {}", path.display()),
                    found: v,
                    supported: SEGMENT_FORMAT_VERSION,
                })
            }
            Err(HeaderProblem::NotAWal) => {
                return Err(StorageError::NotADatabase(
                    path.display().to_string(),
                    "named like a WAL segment but has no WAL magic".into(),
                ))
            }
            Err(p) if is_last && torn_creation(&buf) => {
                // Created, but the header never became durable: nothing was ever in it.
                let _ = p;
                io.remove_file(&path)?;
                io.sync_dir(dir)?;
                break;
            }
            Err(p) => {
                return Err(StorageError::Corruption(format!(
                    "WAL segment {}: bad header ({p:?})",
                    path.display()
                )))
            }
        };
        if header.id != id {
            return Err(StorageError::Corruption(format!(
                "WAL segment {} says it is segment {}",
                path.display(),
                header.id
            )));
        }
        // A segment may start past where the previous one ended (never before it): recovery
        // skips the numbers a lost tail had given to data that reached SSTables (see
        // `WalOptions::min_next_seq`). Missing segments show as gaps in the ids.
        if let Some(want) = next_seq {
            if header.base_seq < want {
                return Err(StorageError::Corruption(format!(
                    "WAL segment {} starts at seq {}, expected at least {want}",
                    path.display(),
                    header.base_seq
                )));
            }
        }
        if header.base_seq == 0 {
            return Err(StorageError::Corruption(format!(
                "WAL segment {} starts at seq 0",
                path.display()
            )));
        }
        let scan = scan_segment(&buf, &name, &header, is_last)?;
        for &(seq, start, end) in &scan.records {
            replay(seq, &buf[start..end])?;
        }
        next_seq = Some(scan.next_seq);
        metas.push(SegmentMeta {
            id,
            path: path.clone(),
            last_seq: scan.records.last().map(|r| r.0),
        });
        if is_last {
            let direct = OpenOptions {
                direct: opts.direct_io,
                ..OpenOptions::read_write()
            };
            let file = io.open(&path, direct)?;
            let valid_end = scan.valid_end as u64;
            let mut file_len = len as u64;
            if scan.torn {
                file.set_len(valid_end)?;
                file.sync_all()?;
                file_len = valid_end;
            } else {
                // What was read may still be only in the page cache: make it durable before
                // appending after it.
                file.sync_data()?;
            }
            let tail = if file.is_direct() {
                buf[align_down(valid_end) as usize..scan.valid_end].to_vec()
            } else {
                Vec::new()
            };
            active = Some(Active {
                id,
                file,
                write_pos: valid_end,
                synced_pos: valid_end,
                file_len,
                tail,
                recycled: false,
                sum: FrameSum::new(header.salt),
            });
        }
    }
    let recovered_next = next_seq.unwrap_or(1);
    let next_seq = recovered_next.max(opts.min_next_seq);
    if next_seq > recovered_next {
        // The active segment is sealed as a rotation would (preallocated zeros cut, synced);
        // new records go to a segment that starts at the floor.
        if let Some(old) = active.take() {
            if old.file_len > old.write_pos {
                old.file.set_len(old.write_pos)?;
            }
            old.file.sync_all()?;
        }
    }
    let active = match active {
        Some(a) => a,
        None => {
            let id = metas.last().map_or(1, |m| m.id + 1);
            let a = create_segment(io, dir, opts, id, next_seq)?;
            metas.push(SegmentMeta {
                id,
                path: dir.join(segment_name(id)),
                last_seq: None,
            });
            a
        }
    };
    Ok((metas, active, next_seq))
}

/// A last segment whose header is unreadable holds nothing if no batch was ever written to
/// it: then it is the remains of a creation that crashed before the header was durable. A
/// created segment's header is synced before any batch is written, so such a file has
/// nothing but zeros after the header's place (a reused file gets its header under its
/// `.wal.free` name, so it never shows as a segment with a torn header).
fn torn_creation(buf: &[u8]) -> bool {
    let body = buf.get(SEGMENT_HEADER_LEN..).unwrap_or(&[]);
    body.iter().all(|b| *b == 0)
}

/// A new segment's salt: random (std's `RandomState` is keyed from the operating system's
/// random source), never 0 (the unsalted checksum of versions 1 and 2).
fn fresh_salt(id: u64) -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(id);
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    let x = h.finish();
    ((x >> 32) as u32 ^ x as u32).max(1)
}

/// Creates segment `id` starting at `base_seq`: header written and synced, directory synced.
fn create_segment(
    io: &dyn IoBackend,
    dir: &Path,
    opts: &WalOptions,
    id: u64,
    base_seq: SeqNo,
) -> Result<Active> {
    let path = dir.join(segment_name(id));
    let file = io.open(
        &path,
        OpenOptions {
            direct: opts.direct_io,
            ..OpenOptions::create_new()
        },
    )?;
    let salt = fresh_salt(id);
    let header = encode_segment_header(&SegmentHeader { id, base_seq, salt });
    let (tail, file_len) = if file.is_direct() {
        let mut block = AlignedBuf::default();
        block.zeroed(DIRECT_IO_ALIGN)[..SEGMENT_HEADER_LEN].copy_from_slice(&header);
        file.write_all_at_and_sync(block.as_slice(), 0)?;
        (header.to_vec(), DIRECT_IO_ALIGN as u64)
    } else {
        file.write_all_at_and_sync(&header, 0)?;
        (Vec::new(), SEGMENT_HEADER_LEN as u64)
    };
    io.sync_dir(dir)?;
    let pos = SEGMENT_HEADER_LEN as u64;
    Ok(Active {
        id,
        file,
        write_pos: pos,
        synced_pos: pos,
        file_len,
        tail,
        recycled: false,
        sum: FrameSum::new(salt),
    })
}

/// Poisons the log if the committer thread unwinds, so appenders see why it stopped.
struct PanicGuard(Arc<Shared>);

impl Drop for PanicGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.poison("the WAL committer thread panicked".into());
        }
    }
}

/// The committer thread's state.
struct Committer {
    shared: Arc<Shared>,
    rx: Receiver<Request>,
    active: Active,
    next_seq: SeqNo,
    /// The batch being encoded (reused).
    batch: Vec<u8>,
    /// O_DIRECT staging buffer (reused).
    aligned: AlignedBuf,
    last_sync: Instant,
    /// Hands large batches' wake-ups to the acker thread (sync durability).
    acker: Option<Sender<Arc<BatchDone>>>,
}

impl Drop for Committer {
    /// Closes the sync queue and fails what is still in it: those appends were never written.
    fn drop(&mut self) {
        let left = {
            let mut q = self.shared.queue.lock();
            q.closed = true;
            q.bytes = 0;
            self.shared.sync_room.notify_all();
            std::mem::take(&mut q.batches)
        };
        for b in left {
            b.ticket
                .0
                .finish(Err(if self.shared.poisoned.load(Ordering::SeqCst) {
                    self.shared.poisoned_error()
                } else {
                    StorageError::Closed
                }));
        }
    }
}

impl Committer {
    fn run(&mut self) {
        loop {
            let Some(request) = self.next_request() else {
                // Every sender is gone (the Wal was dropped without close).
                self.drain_queue();
                self.drain_buffer();
                let _ = self.sync_if_needed();
                return;
            };
            self.drain_queue();
            self.drain_buffer();
            self.periodic_sync();
            match request {
                Request::Sync { reply } => {
                    let r = self.sync_if_needed();
                    // Acknowledged records still in the buffer are not durable yet.
                    let r = r.and_then(|()| self.buffer_written());
                    let _ = reply.send(r);
                }
                Request::Close { reply } => {
                    self.drain_queue();
                    self.drain_buffer();
                    // A poisoned log has nothing it could still make durable.
                    let r = if self.shared.poisoned.load(Ordering::SeqCst) {
                        Ok(())
                    } else {
                        self.sync_if_needed()
                            .and_then(|()| self.buffer_written())
                            .and_then(|()| self.cut_recycled_tail())
                    };
                    let _ = reply.send(r);
                    return;
                }
                Request::WriteOut { reply } => {
                    let _ = reply.send(if self.shared.poisoned.load(Ordering::SeqCst) {
                        Err(self.shared.poisoned_error())
                    } else {
                        self.buffer_written()
                    });
                }
                Request::Wake => {}
            }
        }
    }

    /// Waits for the next request; in buffered mode wakes up to sync when the interval ends.
    /// While the disk is full it also wakes to retry writing the log buffer.
    fn next_request(&mut self) -> Option<Request> {
        loop {
            let disk_full = self.shared.disk_full.load(Ordering::SeqCst);
            let interval = match self.shared.opts.durability {
                Durability::Buffered { interval } if self.unsynced() => Some(interval),
                _ => None,
            };
            let wait = match (interval, disk_full) {
                (None, false) => return self.rx.recv().ok(),
                (Some(i), false) => i.saturating_sub(self.last_sync.elapsed()),
                (Some(i), true) => i
                    .saturating_sub(self.last_sync.elapsed())
                    .min(DISK_FULL_RETRY),
                (None, true) => DISK_FULL_RETRY,
            };
            match self.rx.recv_timeout(wait.max(Duration::from_micros(1))) {
                Ok(r) => return Some(r),
                Err(RecvTimeoutError::Timeout) => {
                    if disk_full {
                        self.drain_buffer();
                    }
                    self.periodic_sync();
                }
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Buffered durability: an error if acknowledged records are still stuck in the buffer
    /// because the disk is full.
    fn buffer_written(&self) -> Result<()> {
        if self.shared.disk_full.load(Ordering::SeqCst) {
            Err(buffer_full_error())
        } else {
            Ok(())
        }
    }

    fn unsynced(&self) -> bool {
        self.active.synced_pos < self.active.write_pos
            && !self.shared.poisoned.load(Ordering::SeqCst)
    }

    fn periodic_sync(&mut self) {
        if let Durability::Buffered { interval } = self.shared.opts.durability {
            if self.unsynced() && self.last_sync.elapsed() >= interval {
                let _ = self.sync_if_needed();
            }
        }
    }

    fn sync_if_needed(&mut self) -> Result<()> {
        if self.shared.poisoned.load(Ordering::SeqCst) {
            return Err(self.shared.poisoned_error());
        }
        if self.active.synced_pos >= self.active.write_pos {
            return Ok(());
        }
        match self.active.file.sync_data() {
            Ok(()) => {
                self.shared.syncs.fetch_add(1, Ordering::Relaxed);
                self.active.synced_pos = self.active.write_pos;
                self.last_sync = Instant::now();
                Ok(())
            }
            Err(e) => {
                let msg = format!("WAL fdatasync failed: {e}");
                self.shared.poison(msg);
                Err(StorageError::Io(e))
            }
        }
    }

    /// Buffered durability: writes everything in the log buffer, in batches of at most
    /// `GROUP_COMMIT_BATCH_MAX` records and about `BATCH_BYTES_MAX` bytes. A failed write
    /// poisons the log (the records were acknowledged as buffered: like an unsynced tail,
    /// they may be lost; later appends fail), except a full disk: a batch refused for lack of
    /// space wrote nothing, so it and every record after it go back to the front of the
    /// buffer, new appends are refused, and the committer retries until a write succeeds.
    fn drain_buffer(&mut self) {
        loop {
            let mut records = {
                let mut b = self.shared.buffer.lock();
                if b.records.is_empty() {
                    self.shared.disk_full.store(false, Ordering::SeqCst);
                    return;
                }
                std::mem::take(&mut b.records)
            };
            let mut total: usize = records.iter().map(Vec::len).sum();
            if !self.shared.poisoned.load(Ordering::SeqCst) {
                let mut start = 0;
                while start < records.len() {
                    let mut end = start;
                    let mut bytes = 0;
                    while end < records.len()
                        && end - start < GROUP_COMMIT_BATCH_MAX
                        && (end == start || bytes + records[end].len() <= BATCH_BYTES_MAX)
                    {
                        bytes += records[end].len();
                        end += 1;
                    }
                    let chunk: Vec<&[u8]> = records[start..end].iter().map(Vec::as_slice).collect();
                    match self.write_batch(&chunk) {
                        Ok(_) => start = end,
                        Err(StorageError::DiskFull(_)) => {
                            let mut unwritten = records.split_off(start);
                            total -= unwritten.iter().map(Vec::len).sum::<usize>();
                            let mut b = self.shared.buffer.lock();
                            unwritten.append(&mut b.records);
                            b.records = unwritten;
                            self.shared.disk_full.store(true, Ordering::SeqCst);
                            drop(b);
                            self.shared.release_queue(total);
                            return;
                        }
                        Err(e) => {
                            self.shared.poison(format!("WAL write failed: {e}"));
                            break;
                        }
                    }
                }
            }
            self.shared.release_queue(total);
        }
    }

    /// Sync durability: writes and syncs every queued batch, answering each one's writers,
    /// until the queue is empty.
    fn drain_queue(&mut self) {
        loop {
            let batch = {
                let mut q = self.shared.queue.lock();
                let Some(b) = q.batches.pop_front() else {
                    return;
                };
                let was_full = q.bytes + b.bytes > QUEUE_BYTES_MAX;
                q.bytes -= b.bytes;
                if was_full {
                    self.shared.sync_room.notify_all();
                }
                b
            };
            self.commit(batch);
        }
    }

    fn commit(&mut self, batch: QueuedBatch) {
        let QueuedBatch {
            records,
            ticket,
            on_commit,
            ..
        } = batch;
        if self.shared.poisoned.load(Ordering::SeqCst) {
            ticket.0.finish(Err(self.shared.poisoned_error()));
            return;
        }
        let payloads: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
        let outcome = self.write_batch(&payloads);
        match &outcome {
            // A batch refused for lack of space wrote nothing: refuse it, stay usable.
            Ok(_) | Err(StorageError::DiskFull(_)) => {}
            Err(e) => self.shared.poison(format!("WAL write failed: {e}")),
        }
        // Here, on the one thread that numbers batches: callbacks in sequence order.
        run_on_commit(&outcome, on_commit);
        match &self.acker {
            // Large batches: the acker wakes the writers while the committer goes on.
            Some(acker) if records.len() > ACK_INLINE_MAX => {
                if ticket.0.publish(outcome) {
                    if let Err(crossbeam_channel::SendError(done)) =
                        acker.send(Arc::clone(&ticket.0))
                    {
                        done.wake();
                    }
                }
            }
            _ => ticket.0.finish(outcome),
        }
    }

    /// Encodes and writes one batch; returns the seq of its first record.
    fn write_batch(&mut self, pending: &[&[u8]]) -> Result<SeqNo> {
        let batch_len: usize = BATCH_FRAME_LEN
            + pending
                .iter()
                .map(|p| data_frame_len(p.len()))
                .sum::<usize>();
        let seg_size = self.shared.opts.segment_size_bytes;
        if self.active.write_pos > SEGMENT_HEADER_LEN as u64
            && self.active.write_pos + batch_len as u64 > seg_size
        {
            self.rotate()?;
        }
        // From here on a batch that cannot get its space fails before any byte of it is
        // written (preallocation writes zeros ahead, which read as end of log): a full disk
        // refuses the batch without poisoning the log.
        let first = self.next_seq;
        self.batch.clear();
        let info = BatchInfo {
            records: pending.len() as u32,
            batch_len: batch_len as u64,
            synced_through: self.active.synced_pos,
        };
        let sum = &mut self.active.sum;
        encode_batch_frame(&mut self.batch, sum, first, &info);
        for (i, payload) in pending.iter().enumerate() {
            encode_frame(&mut self.batch, sum, FRAME_DATA, first + i as u64, payload);
        }
        let pos = self.active.write_pos;
        let end = pos + batch_len as u64;
        if self.shared.opts.preallocate {
            self.preallocate(end)
                .map_err(|e| e.disk_full_if_enospc("no space to extend the write-ahead log"))?;
        }
        let sync = self.shared.opts.durability == Durability::Sync;
        let file = Arc::clone(&self.active.file);
        if self.active.direct() {
            let block_start = align_down(pos);
            let padded = (align_up(end) - block_start) as usize;
            let buf = self.aligned.zeroed(padded);
            let t = self.active.tail.len();
            buf[..t].copy_from_slice(&self.active.tail);
            buf[t..t + batch_len].copy_from_slice(&self.batch);
            if sync {
                file.write_all_at_and_sync(self.aligned.as_slice(), block_start)?;
            } else {
                file.write_all_at(self.aligned.as_slice(), block_start)?;
            }
            let new_block = align_down(end);
            let from = (new_block - block_start) as usize;
            let to = (end - block_start) as usize;
            self.active.tail = self.aligned.as_slice()[from..to].to_vec();
            self.active.file_len = self.active.file_len.max(block_start + padded as u64);
        } else {
            if sync {
                file.write_all_at_and_sync(&self.batch, pos)?;
            } else {
                file.write_all_at(&self.batch, pos)?;
            }
            self.active.file_len = self.active.file_len.max(end);
        }
        self.active.write_pos = end;
        if sync {
            self.active.synced_pos = end;
            self.last_sync = Instant::now();
            self.shared.syncs.fetch_add(1, Ordering::Relaxed);
        }
        let last = first + pending.len() as u64 - 1;
        self.next_seq = last + 1;
        if let Some(m) = self.shared.segments.lock().last_mut() {
            if m.id == self.active.id {
                m.last_seq = Some(last);
            }
        }
        if self.shared.opts.durability == Durability::Sync {
            self.shared.last_seq.store(last, Ordering::SeqCst);
        }
        self.shared
            .records
            .fetch_add(pending.len() as u64, Ordering::Relaxed);
        self.shared.batches.fetch_add(1, Ordering::Relaxed);
        self.shared
            .bytes
            .fetch_add(batch_len as u64, Ordering::Relaxed);
        Ok(first)
    }

    /// Writes zeros ahead so the file already has its size when batches land (fdatasync then
    /// has no size change to journal).
    fn preallocate(&mut self, need: u64) -> Result<()> {
        if need <= self.active.file_len {
            return Ok(());
        }
        let start = if self.active.direct() {
            align_up(self.active.file_len)
        } else {
            self.active.file_len
        };
        let target = align_up(need.max(start) + PREALLOCATE_CHUNK_BYTES);
        if target <= start {
            return Ok(());
        }
        let len = (target - start) as usize;
        self.aligned.zeroed(len);
        self.active
            .file
            .write_all_at(self.aligned.as_slice(), start)?;
        self.active.file_len = target;
        Ok(())
    }

    /// Seals the active segment (synced, preallocated zeros cut) and starts the next one.
    /// A full disk while creating the next segment removes its partial file and fails with
    /// [`StorageError::DiskFull`]; the sealed segment stays active, so a retry starts over.
    fn rotate(&mut self) -> Result<()> {
        let old = &mut self.active;
        if old.file_len > old.write_pos {
            old.file.set_len(old.write_pos)?;
            old.file_len = old.write_pos;
        }
        old.file.sync_all()?;
        self.shared.syncs.fetch_add(1, Ordering::Relaxed);
        let id = old.id + 1;
        let io = Arc::clone(&self.shared.io);
        let next = match self.reuse_segment(id) {
            Ok(Some(a)) => Ok(a),
            Ok(None) => create_segment(
                io.as_ref(),
                &self.shared.dir,
                &self.shared.opts,
                id,
                self.next_seq,
            ),
            Err(e) => Err(e),
        };
        let next = match next {
            Ok(next) => next,
            Err(e) if e.is_enospc() => {
                let path = self.shared.dir.join(segment_name(id));
                if io.exists(&path) {
                    io.remove_file(&path)?;
                }
                return Err(StorageError::DiskFull(
                    "no space for a new write-ahead log segment".into(),
                ));
            }
            Err(e) => return Err(e),
        };
        self.shared.syncs.fetch_add(1, Ordering::Relaxed);
        self.shared.segments.lock().push(SegmentMeta {
            id,
            path: self.shared.dir.join(segment_name(id)),
            last_seq: None,
        });
        self.active = next;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Makes a released segment file, if one is kept, segment `id`: the new header written
    /// and synced while it still has its `.wal.free` name, then renamed and the directory
    /// synced, before any batch goes into it. The bytes after the header are older segments'
    /// frames, checksummed under other salts (and numbered below the base seq): recovery
    /// takes them for a torn tail.
    /// `Ok(None)` when no file is kept, or the kept one failed before its rename (it is
    /// removed): the caller creates the segment.
    fn reuse_segment(&mut self, id: u64) -> Result<Option<Active>> {
        let Some(free) = self.shared.recycled.lock().pop() else {
            return Ok(None);
        };
        let io = Arc::clone(&self.shared.io);
        let salt = fresh_salt(id);
        let header = encode_segment_header(&SegmentHeader {
            id,
            base_seq: self.next_seq,
            salt,
        });
        let opts = OpenOptions {
            direct: self.shared.opts.direct_io,
            ..OpenOptions::read_write()
        };
        let path = self.shared.dir.join(segment_name(id));
        let aligned = &mut self.aligned;
        let prepared = io.open(&free, opts).and_then(|file| {
            let len = file.len()?;
            if file.is_direct() {
                let block = aligned.zeroed(DIRECT_IO_ALIGN);
                block[..SEGMENT_HEADER_LEN].copy_from_slice(&header);
                file.write_all_at_and_sync(aligned.as_slice(), 0)?;
            } else {
                file.write_all_at_and_sync(&header, 0)?;
            }
            io.rename(&free, &path)?;
            Ok((file, len))
        });
        let (file, len) = match prepared {
            Ok(p) => p,
            Err(_) => {
                let _ = io.remove_file(&free);
                return Ok(None);
            }
        };
        io.sync_dir(&self.shared.dir)?;
        let direct = file.is_direct();
        let pos = SEGMENT_HEADER_LEN as u64;
        Ok(Some(Active {
            id,
            file,
            write_pos: pos,
            synced_pos: pos,
            file_len: if direct {
                len.max(DIRECT_IO_ALIGN as u64)
            } else {
                len.max(pos)
            },
            tail: if direct { header.to_vec() } else { Vec::new() },
            recycled: true,
            sum: FrameSum::new(salt),
        }))
    }

    /// At close: cuts older segments' bytes after the end of a reused active segment, so
    /// the next open finds the log's end at once instead of searching them.
    fn cut_recycled_tail(&mut self) -> Result<()> {
        let a = &mut self.active;
        if a.recycled && a.file_len > a.write_pos {
            a.file.set_len(a.write_pos)?;
            a.file.sync_all()?;
            a.file_len = a.write_pos;
        }
        Ok(())
    }
}

/// Buffered durability: the answer to appends (and syncs) while the committer cannot write
/// the log buffer for lack of space.
fn buffer_full_error() -> StorageError {
    StorageError::DiskFull("the write-ahead log buffer cannot be written".into())
}
