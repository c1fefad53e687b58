//! The io_uring backend: io_uring where the kernel does the work asynchronously, plain system
//! calls where a ring would only add a handoff.
//!
//! **What goes through a ring (by default).** A batch of reads (`read_many` of two or more) is
//! submitted at once on the calling thread's own small ring (one per thread, created on first
//! use, up to 64 reads in flight): page-cache hits complete during the submission, misses go to
//! the device together instead of one after another. O_DIRECT writes go through the same ring.
//!
//! **What does not.** A single read, a write to a file without O_DIRECT, and every
//! `fdatasync`/`fsync` are plain calls on the calling thread. The kernel hands every io_uring
//! fsync, and on ext4 every buffered io_uring write, to an io-wq worker thread, and a single
//! read gains nothing from a ring: a caller that waits for the result pays the submission (and
//! for punted work the handoff to the worker and the wake-up back) for nothing. Measured with
//! `hashlog-bench walcommit` and `cargo bench --bench io` (docs/results/2026-12-05-wal-commit.md
//! and docs/results/2026-12-05-io-reads.md).
//!
//! **[`UringOptions::all_ops_via_ring`]** keeps the earlier design for comparison: reads go to
//! rings owned by dedicated threads, and writes and syncs to the calling thread's ring, with
//! `write_all_at_and_sync` as one linked submission (write with `IOSQE_IO_LINK`, then
//! `fdatasync`). For a ring thread, a caller turns its operation into a [`Job`] (one or more
//! submission entries that reference the caller's buffer by raw pointer), sends it over a
//! crossbeam channel and blocks on a one-shot reply channel. The ring thread drains every
//! queued job, pushes all their entries and enters the kernel once (`submit_and_wait`), so
//! concurrent callers share one system call. Completions are matched to jobs by `user_data`;
//! short reads and writes are resubmitted for the remainder; a job replies only when none of its
//! entries is still in the kernel. File creation, rename, listing and directory sync use std:
//! they are rare and need no batching.
//!
//! A ring thread sleeping in the kernel is woken by an eventfd it keeps a read armed on; callers
//! write the eventfd only when the thread says it is about to sleep.
//!
//! If a ring thread stops (it never panics by design, but a fatal `io_uring_enter` error ends
//! it), queued jobs are dropped with it, their reply channels disconnect and the callers get an
//! error instead of hanging.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use io_uring::{opcode, squeue, types, IoUring};
use parking_lot::Mutex;

use crate::io::std_backend::{list_dir_std, open_std, sync_dir_std};
use crate::io::{IoBackend, IoFile, OpenOptions};

/// How many rings (threads) and how deep each is, and where fsyncs run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UringOptions {
    /// Rings, each with its own thread, started only for [`UringOptions::all_ops_via_ring`];
    /// files are spread over them round-robin. At least 1.
    pub rings: usize,
    /// Submission queue entries per ring (rounded up to a power of two by the kernel).
    pub entries: u32,
    /// Put every operation on a ring: reads on the shared ring threads, writes and syncs on
    /// the calling thread's ring (write+fsync linked). Off by default, where single reads,
    /// buffered writes and fsyncs are plain system calls: the kernel runs an io_uring fsync,
    /// and on ext4 a buffered io_uring write, on an io-wq worker thread (seen in `perf` as
    /// `iou-wrk` threads in `io_write`), and a caller that blocks until they are done pays the
    /// handoff for nothing; a single read gains nothing from a ring either. Batched reads and
    /// O_DIRECT writes use the calling thread's ring in both modes. Measured with `hashlog-bench
    /// walcommit` and `cargo bench --bench io` (docs/results/2026-12-05-wal-commit.md,
    /// docs/results/2026-12-05-io-reads.md).
    pub all_ops_via_ring: bool,
}

impl Default for UringOptions {
    fn default() -> Self {
        UringOptions {
            rings: 1,
            entries: 256,
            all_ops_via_ring: false,
        }
    }
}

/// Largest length one read or write entry asks for; longer buffers go in several rounds.
const CHUNK_MAX_BYTES: usize = 1 << 30;
/// `user_data` of the eventfd read that wakes a sleeping ring thread.
const WAKE_TOKEN: u64 = u64::MAX;
/// Tag bit marking an fsync entry (the low bits carry its generation).
const SYNC_TAG: u32 = 1 << 31;

/// The io_uring backend.
#[derive(Debug)]
pub struct UringBackend {
    rings: Vec<Arc<RingHandle>>,
    next: AtomicUsize,
    all_ops_via_ring: bool,
}

impl UringBackend {
    /// One ring of 256 entries.
    pub fn new() -> io::Result<Self> {
        Self::with_options(UringOptions::default())
    }

    /// With `all_ops_via_ring`, sets up `opts.rings` rings (at least one), each with its
    /// thread. Otherwise no thread is started: batched reads and O_DIRECT writes use the
    /// calling thread's own ring.
    pub fn with_options(opts: UringOptions) -> io::Result<Self> {
        let n = if opts.all_ops_via_ring {
            opts.rings.max(1)
        } else {
            0
        };
        let mut rings = Vec::with_capacity(n);
        for i in 0..n {
            rings.push(Arc::new(RingHandle::start(i, opts.entries.max(8))?));
        }
        Ok(UringBackend {
            rings,
            next: AtomicUsize::new(0),
            all_ops_via_ring: opts.all_ops_via_ring,
        })
    }

    fn pick_ring(&self) -> Option<Arc<RingHandle>> {
        if self.rings.is_empty() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.rings.len();
        Some(Arc::clone(&self.rings[i]))
    }
}

impl IoBackend for UringBackend {
    fn name(&self) -> String {
        if self.all_ops_via_ring {
            "io_uring (fsync through the ring)".into()
        } else {
            "io_uring".into()
        }
    }
    fn open(&self, path: &Path, opts: OpenOptions) -> io::Result<Arc<dyn IoFile>> {
        let (file, direct) = open_std(path, opts)?;
        Ok(Arc::new(UringFile {
            file,
            direct,
            ring: self.pick_ring(),
            all_ops_via_ring: self.all_ops_via_ring,
        }))
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir_all(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        sync_dir_std(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        list_dir_std(path)
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
}

/// A file of the io_uring backend.
#[derive(Debug)]
pub struct UringFile {
    file: File,
    direct: bool,
    /// The shared ring thread its operations go to (`all_ops_via_ring` only).
    ring: Option<Arc<RingHandle>>,
    all_ops_via_ring: bool,
}

impl UringFile {
    fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// Runs `job` on the file's shared ring thread.
    fn on_ring(&self, job: Job) -> io::Result<()> {
        match &self.ring {
            Some(r) => r.run(job),
            None => Err(io::Error::other(
                "io_uring: no ring thread (all_ops_via_ring is off)",
            )),
        }
    }
}

impl IoFile for UringFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        if !self.all_ops_via_ring {
            // One read that the caller waits for: the ring would only add a submission.
            return std::os::unix::fs::FileExt::read_exact_at(&self.file, buf, offset);
        }
        let ops = vec![Span::new(buf.as_mut_ptr(), buf.len(), offset, false)];
        self.on_ring(Job::new(self.fd(), ops, None))
    }

    fn read_many(&self, reqs: &mut [(u64, &mut [u8])]) -> io::Result<()> {
        if !self.all_ops_via_ring {
            if let [(offset, buf)] = reqs {
                return self.read_exact_at(buf, *offset);
            }
            // The batch goes to the device together, on the caller's own ring.
            return local_read_many(&self.file, reqs, !self.direct);
        }
        let ops: Vec<Span> = reqs
            .iter_mut()
            .filter(|(_, b)| !b.is_empty())
            .map(|(off, b)| Span::new(b.as_mut_ptr(), b.len(), *off, false))
            .collect();
        if ops.is_empty() {
            return Ok(());
        }
        self.on_ring(Job::new(self.fd(), ops, None))
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        if self.direct || self.all_ops_via_ring {
            return local_write(self.fd(), buf, offset, None);
        }
        std::os::unix::fs::FileExt::write_all_at(&self.file, buf, offset)
    }

    fn write_all_at_and_sync(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        if self.all_ops_via_ring {
            return local_write(self.fd(), buf, offset, Some(true));
        }
        self.write_all_at(buf, offset)?;
        self.file.sync_data()
    }

    fn sync_data(&self) -> io::Result<()> {
        if self.all_ops_via_ring {
            return local_write(self.fd(), &[], 0, Some(true));
        }
        self.file.sync_data()
    }

    fn sync_all(&self) -> io::Result<()> {
        if self.all_ops_via_ring {
            return local_write(self.fd(), &[], 0, Some(false));
        }
        self.file.sync_all()
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn is_direct(&self) -> bool {
        self.direct
    }

    fn std_file(&self) -> Option<&File> {
        Some(&self.file)
    }
}

/// One contiguous read or write of a job, with its progress.
#[derive(Debug)]
struct Span {
    ptr: *mut u8,
    len: usize,
    offset: u64,
    done: usize,
    write: bool,
}

impl Span {
    fn new(ptr: *mut u8, len: usize, offset: u64, write: bool) -> Self {
        Span {
            ptr,
            len,
            offset,
            done: 0,
            write,
        }
    }
}

/// An operation in flight: its spans, an optional trailing sync (`Some(true)` = fdatasync,
/// `Some(false)` = fsync) linked after the (single) write, and the caller's reply channel.
#[derive(Debug)]
struct Job {
    fd: RawFd,
    spans: Vec<Span>,
    sync: Option<bool>,
    /// Entries of this job not yet completed (queued in the backlog or in the kernel).
    in_flight: usize,
    /// Entries of this job pushed to the kernel and not yet completed.
    in_kernel: usize,
    error: Option<io::Error>,
    /// Generation of the latest write+sync chain submitted.
    generation: u32,
    /// Generation whose write finished the data (its linked sync is the one that counts).
    final_generation: Option<u32>,
    synced: bool,
    reply: Option<Sender<io::Result<()>>>,
}

// SAFETY: the raw pointers in `spans` point into buffers borrowed by the caller of
// `RingHandle::run`, which blocks until the job replies; a job replies (or is dropped) only when
// none of its entries is in the kernel (see `RingThread::finish_if_done` and the drain on
// exit), so the buffers outlive every access the kernel or the ring thread makes, and no other
// thread touches them meanwhile (the caller holds the only borrow and is parked).
unsafe impl Send for Job {}

impl Job {
    fn new(fd: RawFd, spans: Vec<Span>, sync: Option<bool>) -> Self {
        let final_generation = if spans.is_empty() { Some(0) } else { None };
        Job {
            fd,
            spans,
            sync,
            in_flight: 0,
            in_kernel: 0,
            error: None,
            generation: 0,
            final_generation,
            synced: false,
            reply: None,
        }
    }

    fn result(&mut self) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if self.spans.iter().any(|s| s.done < s.len) {
            return Err(io::Error::other(
                "io_uring: operation ended before all bytes moved",
            ));
        }
        if self.sync.is_some() && !self.synced {
            return Err(io::Error::other("io_uring: sync did not complete"));
        }
        Ok(())
    }

    fn record_error(&mut self, e: io::Error) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }
}

enum Msg {
    Job(Box<Job>),
    Stop,
}

/// What callers share with one ring thread.
#[derive(Debug)]
struct Wake {
    eventfd: OwnedFd,
    /// Set by the ring thread just before it may block in the kernel.
    sleeping: AtomicBool,
}

impl Wake {
    fn kick(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live local to an eventfd we own. A failure (EAGAIN when
        // the counter is saturated) still leaves the counter non-zero, so the thread wakes.
        let _ = unsafe {
            libc::write(
                self.eventfd.as_raw_fd(),
                (&one as *const u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
    }
}

#[derive(Debug)]
struct RingHandle {
    tx: Sender<Msg>,
    wake: Arc<Wake>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl RingHandle {
    fn start(index: usize, entries: u32) -> io::Result<Self> {
        let ring = IoUring::new(entries)?;
        // SAFETY: plain system call; the result is checked before use.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if efd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `efd` is a freshly created descriptor that nothing else owns.
        let eventfd = unsafe { OwnedFd::from_raw_fd(efd) };
        let wake = Arc::new(Wake {
            eventfd,
            sleeping: AtomicBool::new(false),
        });
        let (tx, rx) = crossbeam_channel::unbounded();
        let thread_wake = Arc::clone(&wake);
        let thread = std::thread::Builder::new()
            .name(format!("io_uring-{index}"))
            .spawn(move || {
                let mut t = RingThread::new(ring, rx, thread_wake);
                t.run();
            })?;
        Ok(RingHandle {
            tx,
            wake,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Hands `job` to the ring thread and blocks until it completes.
    fn run(&self, mut job: Job) -> io::Result<()> {
        let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
        job.reply = Some(reply_tx);
        if self.tx.send(Msg::Job(Box::new(job))).is_err() {
            // The job came back unsent: nothing referenced the buffers.
            return Err(stopped());
        }
        fence(Ordering::SeqCst);
        if self.wake.sleeping.swap(false, Ordering::SeqCst) {
            self.wake.kick();
        }
        match reply_rx.recv() {
            Ok(r) => r,
            Err(_) => Err(stopped()),
        }
    }
}

impl Drop for RingHandle {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Stop);
        self.wake.sleeping.store(false, Ordering::SeqCst);
        self.wake.kick();
        if let Some(h) = self.thread.lock().take() {
            let _ = h.join();
        }
    }
}

fn stopped() -> io::Error {
    io::Error::other("io_uring ring thread has stopped")
}

/// The state a ring thread owns.
struct RingThread {
    ring: IoUring,
    rx: Receiver<Msg>,
    wake: Arc<Wake>,
    jobs: HashMap<u32, Box<Job>>,
    next_id: u32,
    /// Groups of entries not yet pushed (a linked write+sync pair is one group).
    backlog: VecDeque<Vec<squeue::Entry>>,
    /// Entries in the kernel, the wake read excluded.
    in_flight: usize,
    wake_buf: Box<u64>,
    wake_armed: bool,
    stopping: bool,
}

impl RingThread {
    fn new(ring: IoUring, rx: Receiver<Msg>, wake: Arc<Wake>) -> Self {
        RingThread {
            ring,
            rx,
            wake,
            jobs: HashMap::new(),
            next_id: 0,
            backlog: VecDeque::new(),
            in_flight: 0,
            wake_buf: Box::new(0),
            wake_armed: false,
            stopping: false,
        }
    }

    fn run(&mut self) {
        if let Err(e) = self.event_loop() {
            self.fail_all(&e);
        }
        self.disarm_wake();
    }

    fn event_loop(&mut self) -> io::Result<()> {
        loop {
            self.receive();
            if self.stopping && self.jobs.is_empty() {
                return Ok(());
            }
            if !self.wake_armed && !self.stopping {
                self.arm_wake();
            }
            self.push_backlog();
            self.wake.sleeping.store(true, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            if !self.rx.is_empty() {
                self.wake.sleeping.store(false, Ordering::SeqCst);
                // Submit what is pushed without waiting, then take the new requests.
                self.enter(0)?;
                self.reap();
                continue;
            }
            self.enter(1)?;
            self.wake.sleeping.store(false, Ordering::SeqCst);
            self.reap();
        }
    }

    fn enter(&mut self, want: usize) -> io::Result<()> {
        loop {
            match self.ring.submitter().submit_and_wait(want) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Completion queue busy: reaping makes room.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY) | Some(libc::EAGAIN)) => {
                    return Ok(())
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn receive(&mut self) {
        loop {
            match self.rx.try_recv() {
                Ok(Msg::Job(job)) => self.admit(job),
                Ok(Msg::Stop) => self.stopping = true,
                Err(crossbeam_channel::TryRecvError::Empty) => return,
                Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    self.stopping = true;
                    return;
                }
            }
        }
    }

    fn admit(&mut self, mut job: Box<Job>) {
        let id = loop {
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1);
            if !self.jobs.contains_key(&id) {
                break id;
            }
        };
        if job.spans.is_empty() {
            if let Some(datasync) = job.sync {
                self.backlog
                    .push_back(vec![sync_entry(job.fd, datasync, id, 0)]);
                job.in_flight += 1;
            }
        } else {
            for i in 0..job.spans.len() {
                let group = span_group(&job, id, i);
                job.in_flight += group.len();
                self.backlog.push_back(group);
            }
        }
        if job.in_flight == 0 {
            finish(&mut job);
        } else {
            self.jobs.insert(id, job);
        }
    }

    /// Pushes backlog groups while the submission queue has room and the completion queue
    /// cannot overflow.
    fn push_backlog(&mut self) {
        let cq_room = self.ring.params().cq_entries() as usize - 1;
        let mut sq = self.ring.submission();
        while let Some(group) = self.backlog.front() {
            if sq.capacity() - sq.len() < group.len() || self.in_flight + group.len() > cq_room {
                break;
            }
            // SAFETY: every entry references either a caller's buffer that stays valid until
            // the job replies (see `impl Send for Job`) or no memory at all (fsync).
            if unsafe { sq.push_multiple(group) }.is_err() {
                break;
            }
            self.in_flight += group.len();
            let id = (group[0].get_user_data() >> 32) as u32;
            if let Some(job) = self.jobs.get_mut(&id) {
                job.in_kernel += group.len();
            }
            self.backlog.pop_front();
        }
    }

    fn arm_wake(&mut self) {
        let entry = opcode::Read::new(
            types::Fd(self.wake.eventfd.as_raw_fd()),
            (&mut *self.wake_buf as *mut u64).cast(),
            std::mem::size_of::<u64>() as u32,
        )
        .build()
        .user_data(WAKE_TOKEN);
        // SAFETY: `wake_buf` is owned by this thread and outlives the read: `disarm_wake`
        // completes it before the thread (and the buffer) goes away.
        let pushed = unsafe { self.ring.submission().push(&entry) }.is_ok();
        self.wake_armed = pushed;
    }

    /// Completes the pending eventfd read (by writing the eventfd) so no read into `wake_buf`
    /// is left in the kernel.
    fn disarm_wake(&mut self) {
        let mut attempts = 0;
        while self.wake_armed && attempts < 1000 {
            attempts += 1;
            self.wake.kick();
            if self.enter(1).is_err() {
                break;
            }
            self.reap();
        }
        if self.wake_armed {
            // The kernel may still write 8 bytes into the buffer: leak it rather than free it.
            let buf = std::mem::replace(&mut self.wake_buf, Box::new(0));
            std::mem::forget(buf);
        }
    }

    fn reap(&mut self) {
        let done: Vec<(u64, i32)> = self
            .ring
            .completion()
            .map(|c| (c.user_data(), c.result()))
            .collect();
        for (user_data, res) in done {
            if user_data == WAKE_TOKEN {
                self.wake_armed = false;
                continue;
            }
            self.in_flight = self.in_flight.saturating_sub(1);
            let id = (user_data >> 32) as u32;
            let tag = user_data as u32;
            let Some(mut job) = self.jobs.remove(&id) else {
                continue;
            };
            job.in_flight = job.in_flight.saturating_sub(1);
            job.in_kernel = job.in_kernel.saturating_sub(1);
            if tag & SYNC_TAG != 0 {
                on_sync(&mut job, tag & !SYNC_TAG, res);
            } else if let Some(group) = on_span(&mut job, id, tag as usize, res) {
                job.in_flight += group.len();
                self.backlog.push_back(group);
            }
            if job.in_flight == 0 {
                finish(&mut job);
            } else {
                self.jobs.insert(id, job);
            }
        }
    }

    /// After a fatal ring error: waits (bounded) for entries still in the kernel, then fails
    /// every job. Jobs whose entries could not be drained are leaked, not freed: their callers
    /// stay blocked rather than get their buffers back while the kernel may still use them.
    fn fail_all(&mut self, e: &io::Error) {
        self.backlog.clear();
        let mut attempts = 0;
        while self.in_flight > 0 && attempts < 1000 {
            attempts += 1;
            if self.enter(1).is_err() {
                break;
            }
            self.reap_for_failure(e);
        }
        let jobs = std::mem::take(&mut self.jobs);
        for (_, mut job) in jobs {
            if job.in_kernel == 0 {
                job.record_error(io::Error::new(
                    e.kind(),
                    format!("io_uring ring failed: {e}"),
                ));
                finish(&mut job);
            } else {
                std::mem::forget(job);
            }
        }
        // Queued jobs never reached the kernel: dropping them disconnects their callers.
        while self.rx.try_recv().is_ok() {}
    }

    fn reap_for_failure(&mut self, e: &io::Error) {
        let done: Vec<(u64, i32)> = self
            .ring
            .completion()
            .map(|c| (c.user_data(), c.result()))
            .collect();
        for (user_data, _) in done {
            if user_data == WAKE_TOKEN {
                self.wake_armed = false;
                continue;
            }
            self.in_flight = self.in_flight.saturating_sub(1);
            let id = (user_data >> 32) as u32;
            if let Some(mut job) = self.jobs.remove(&id) {
                job.in_kernel = job.in_kernel.saturating_sub(1);
                if job.in_kernel == 0 {
                    job.record_error(io::Error::new(
                        e.kind(),
                        format!("io_uring ring failed: {e}"),
                    ));
                    finish(&mut job);
                } else {
                    self.jobs.insert(id, job);
                }
            }
        }
    }
}

fn finish(job: &mut Job) {
    let r = job.result();
    if let Some(tx) = job.reply.take() {
        let _ = tx.send(r);
    }
}

fn user_data(id: u32, tag: u32) -> u64 {
    ((id as u64) << 32) | tag as u64
}

fn sync_entry(fd: RawFd, datasync: bool, id: u32, generation: u32) -> squeue::Entry {
    let mut op = opcode::Fsync::new(types::Fd(fd));
    if datasync {
        op = op.flags(types::FsyncFlags::DATASYNC);
    }
    op.build()
        .user_data(user_data(id, SYNC_TAG | (generation & !SYNC_TAG)))
}

/// The entries that move the rest of span `i` (and, for a write+sync job, the linked sync).
fn span_group(job: &Job, id: u32, i: usize) -> Vec<squeue::Entry> {
    let s = &job.spans[i];
    let len = (s.len - s.done).min(CHUNK_MAX_BYTES) as u32;
    // SAFETY (pointer arithmetic): `done < len`, so the result stays inside the buffer.
    let ptr = unsafe { s.ptr.add(s.done) };
    let offset = s.offset + s.done as u64;
    let fd = types::Fd(job.fd);
    let tag = i as u32;
    let entry = if s.write {
        opcode::Write::new(fd, ptr.cast_const(), len)
            .offset(offset)
            .build()
    } else {
        opcode::Read::new(fd, ptr, len).offset(offset).build()
    };
    let entry = entry.user_data(user_data(id, tag));
    match job.sync {
        Some(datasync) if s.write => vec![
            entry.flags(squeue::Flags::IO_LINK),
            sync_entry(job.fd, datasync, id, job.generation),
        ],
        _ => vec![entry],
    }
}

/// Handles the completion of a read or write of span `i`; returns entries to resubmit.
fn on_span(job: &mut Job, id: u32, i: usize, res: i32) -> Option<Vec<squeue::Entry>> {
    let generation = job.generation;
    let span = job.spans.get_mut(i)?;
    if res < 0 {
        job.record_error(io::Error::from_raw_os_error(-res));
        return None;
    }
    if res == 0 {
        let e = if span.write {
            io::Error::new(io::ErrorKind::WriteZero, "io_uring: write returned 0")
        } else {
            io::Error::new(io::ErrorKind::UnexpectedEof, "failed to fill whole buffer")
        };
        job.record_error(e);
        return None;
    }
    span.done = (span.done + res as usize).min(span.len);
    if span.done == span.len {
        if span.write {
            job.final_generation = Some(generation);
        }
        return None;
    }
    if job.error.is_some() {
        return None;
    }
    // Short transfer: go again for the remainder (with a fresh linked sync, if any; the old
    // one is cancelled by the kernel because the chain broke, or runs early harmlessly).
    if job.sync.is_some() {
        job.generation = job.generation.wrapping_add(1) & !SYNC_TAG;
    }
    Some(span_group(job, id, i))
}

fn on_sync(job: &mut Job, generation: u32, res: i32) {
    if res >= 0 {
        if job.final_generation == Some(generation) {
            job.synced = true;
        }
        return;
    }
    if res == -libc::ECANCELED && job.final_generation != Some(generation) {
        // The write before it was short or failed; the failure (if any) is already recorded.
        return;
    }
    job.record_error(io::Error::from_raw_os_error(-res));
}

/// Entries of each calling thread's own ring: a write and its linked sync need two; a batch of
/// reads keeps up to this many in flight.
const LOCAL_RING_ENTRIES: u32 = 64;

thread_local! {
    /// The calling thread's ring for writes and syncs (see the module comment).
    static LOCAL_RING: std::cell::RefCell<Option<IoUring>> = const { std::cell::RefCell::new(None) };
    /// Batches of buffered reads in a row that the page cache served whole on this thread
    /// (see [`CacheStreak`]).
    static CACHE_STREAK: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// When a thread's batched reads have all been page-cache hits for a while, asking the page
/// cache first with `RWF_NOWAIT` only costs: `preadv2` with the flag takes about 90 ns more per
/// 4 KiB read than a plain `pread` (docs/results/2026-12-05-wal-commit.md). So after
/// [`CacheStreak::TRUSTED`] all-hit batches in a row, the thread reads its batches with plain
/// `pread`, as the std backend does, and asks with `RWF_NOWAIT` again only every
/// [`CacheStreak::PROBE_EVERY`]-th batch. A probe that finds a miss ends the streak: from then
/// on every batch asks first again, and its misses go to the device together. The price of
/// trusting the cache is that a batch read plainly waits for its misses one by one, as std
/// would, for at most `PROBE_EVERY` batches after the working set left the cache.
struct CacheStreak;

impl CacheStreak {
    const TRUSTED: u32 = 64;
    const PROBE_EVERY: u32 = 64;

    /// Whether this batch is read plainly; counts it.
    fn read_plainly() -> bool {
        CACHE_STREAK.with(|c| {
            let n = c.get();
            if n < Self::TRUSTED || (n - Self::TRUSTED) % Self::PROBE_EVERY == 0 {
                return false;
            }
            // Wraps within the probe cycle, so the count never overflows.
            let next = n + 1;
            c.set(if next >= Self::TRUSTED + Self::PROBE_EVERY {
                Self::TRUSTED
            } else {
                next
            });
            true
        })
    }

    /// Records whether an asked-first batch was served whole by the page cache.
    fn asked(all_hit: bool) {
        CACHE_STREAK.with(|c| {
            let n = c.get();
            c.set(if !all_hit {
                0
            } else if n >= Self::TRUSTED {
                // A passed probe: the next batches are read plainly.
                Self::TRUSTED + 1
            } else {
                n + 1
            });
        })
    }
}

/// The calling thread's ring: single issuer, completions run when the thread waits for them
/// (`DEFER_TASKRUN`: no interrupt of the thread when io-wq finishes its fsync), with a plain
/// ring where the kernel refuses those flags.
fn local_ring() -> io::Result<IoUring> {
    IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(LOCAL_RING_ENTRIES)
        .or_else(|_| IoUring::new(LOCAL_RING_ENTRIES))
}

/// Writes all of `buf` at `offset` on `fd`, then (with `sync`) fdatasyncs (`Some(true)`) or
/// fsyncs (`Some(false)`) it, as one linked submission on the calling thread's ring, and waits
/// for the completions. A short write is resubmitted for the rest (its linked sync comes back
/// cancelled and is submitted again after the last part).
fn local_write(fd: RawFd, buf: &[u8], offset: u64, sync: Option<bool>) -> io::Result<()> {
    LOCAL_RING.with(|cell| {
        let mut slot = cell.borrow_mut();
        let ring = match slot.as_mut() {
            Some(r) => r,
            None => slot.insert(local_ring()?),
        };
        let mut done = 0usize;
        loop {
            let rest = &buf[done..];
            let len = rest.len().min(CHUNK_MAX_BYTES);
            let mut entries: Vec<squeue::Entry> = Vec::with_capacity(2);
            if len > 0 {
                let mut w = opcode::Write::new(types::Fd(fd), rest.as_ptr(), len as u32)
                    .offset(offset + done as u64)
                    .build()
                    .user_data(0);
                if sync.is_some() {
                    w = w.flags(squeue::Flags::IO_LINK);
                }
                entries.push(w);
            }
            if let Some(datasync) = sync {
                let mut f = opcode::Fsync::new(types::Fd(fd));
                if datasync {
                    f = f.flags(types::FsyncFlags::DATASYNC);
                }
                entries.push(f.build().user_data(1));
            }
            if entries.is_empty() {
                return Ok(());
            }
            // SAFETY: the write entry points into `buf`, which this function borrows until it
            // returns; it returns only after reaping every completion of what it submitted,
            // so the kernel is done with the buffer by then. Nothing else uses this ring (it
            // is the thread's own, and not re-entered: this function does not call itself).
            unsafe {
                let mut sq = ring.submission();
                for e in &entries {
                    sq.push(e)
                        .map_err(|_| io::Error::other("io_uring: local ring is full"))?;
                }
            }
            let mut wrote: Option<i32> = None;
            let mut synced: Option<i32> = None;
            let mut reaped = 0usize;
            while reaped < entries.len() {
                match ring.submit_and_wait(entries.len() - reaped) {
                    Ok(_) => {}
                    Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                    Err(e) => {
                        // Entries may still be in the kernel: wait for them before the buffer
                        // can be released, then start a fresh ring next time.
                        drain_local(ring, entries.len() - reaped);
                        *slot = None;
                        return Err(e);
                    }
                }
                for cqe in ring.completion() {
                    reaped += 1;
                    if cqe.user_data() == 0 {
                        wrote = Some(cqe.result());
                    } else {
                        synced = Some(cqe.result());
                    }
                }
            }
            if len > 0 {
                let res = wrote.unwrap_or(-libc::EIO);
                if res < 0 {
                    return Err(io::Error::from_raw_os_error(-res));
                }
                if res == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "io_uring: write moved no bytes",
                    ));
                }
                done += res as usize;
                if done < buf.len() {
                    // Short: the linked sync came back cancelled; go on with the rest.
                    continue;
                }
            }
            if sync.is_some() {
                let res = synced.unwrap_or(-libc::EIO);
                if res < 0 {
                    return Err(io::Error::from_raw_os_error(-res));
                }
            }
            if done >= buf.len() {
                return Ok(());
            }
        }
    })
}

/// Reads every `(offset, buf)` in full on the calling thread's ring: up to
/// [`LOCAL_RING_ENTRIES`] reads in flight, submitted together; short reads go again for the
/// rest; reading past the end of the file is `UnexpectedEof`. Returns the first error, after
/// every read already submitted has completed.
///
/// With `try_cache_first` (buffered files), each read is first tried as `preadv2` with
/// `RWF_NOWAIT`, which copies what is in the page cache and never waits for the device; only
/// what that leaves goes to the ring. A page-cache hit then costs about what a plain `pread`
/// does (through the ring it cost 8–20 % more per read), and the misses still reach the device
/// together. While the page cache keeps serving whole batches, batches are read with plain
/// `pread` ([`CacheStreak`]).
fn local_read_many(
    file: &File,
    reqs: &mut [(u64, &mut [u8])],
    try_cache_first: bool,
) -> io::Result<()> {
    if try_cache_first && CacheStreak::read_plainly() {
        for (offset, buf) in reqs.iter_mut() {
            std::os::unix::fs::FileExt::read_exact_at(file, buf, *offset)?;
        }
        return Ok(());
    }
    let fd = file.as_raw_fd();
    // Bytes read so far per request; on the stack for the batch sizes the engine uses.
    let mut on_stack = [0usize; LOCAL_RING_ENTRIES as usize];
    let mut on_heap = Vec::new();
    let done: &mut [usize] = if reqs.len() <= on_stack.len() {
        &mut on_stack[..reqs.len()]
    } else {
        on_heap.resize(reqs.len(), 0);
        &mut on_heap
    };
    if try_cache_first {
        let mut all = true;
        for (i, (offset, buf)) in reqs.iter_mut().enumerate() {
            done[i] = cached_prefix(fd, buf, *offset);
            all &= done[i] == buf.len();
        }
        CacheStreak::asked(all);
        // All served by the page cache: the ring is not needed.
        if all {
            return Ok(());
        }
    }
    LOCAL_RING.with(|cell| {
        let mut slot = cell.borrow_mut();
        let ring = match slot.as_mut() {
            Some(r) => r,
            None => slot.insert(local_ring()?),
        };
        let mut queue: VecDeque<usize> = (0..reqs.len())
            .filter(|&i| done[i] < reqs[i].1.len())
            .collect();
        let mut in_flight = 0usize;
        let mut first_err: Option<io::Error> = None;
        loop {
            while in_flight < LOCAL_RING_ENTRIES as usize && first_err.is_none() {
                let Some(i) = queue.pop_front() else {
                    break;
                };
                let (offset, buf) = &mut reqs[i];
                let rest = &mut buf[done[i]..];
                let len = rest.len().min(CHUNK_MAX_BYTES) as u32;
                let entry = opcode::Read::new(types::Fd(fd), rest.as_mut_ptr(), len)
                    .offset(*offset + done[i] as u64)
                    .build()
                    .user_data(i as u64);
                // SAFETY: the entry points into `reqs[i]`, borrowed by this function until it
                // returns; it returns only once nothing it submitted is in flight. The ring is
                // this thread's own and not re-entered.
                let pushed = unsafe { ring.submission().push(&entry) };
                if pushed.is_err() {
                    first_err = Some(io::Error::other("io_uring: local ring is full"));
                    break;
                }
                in_flight += 1;
            }
            if in_flight == 0 {
                break;
            }
            match ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) => {
                    drain_local(ring, in_flight);
                    *slot = None;
                    return Err(e);
                }
            }
            let completed: Vec<(usize, i32)> = ring
                .completion()
                .map(|c| (c.user_data() as usize, c.result()))
                .collect();
            for (i, res) in completed {
                in_flight -= 1;
                if res == -libc::EINTR || res == -libc::EAGAIN {
                    queue.push_back(i);
                } else if res < 0 {
                    first_err.get_or_insert(io::Error::from_raw_os_error(-res));
                } else if res == 0 {
                    first_err.get_or_insert(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "failed to fill whole buffer",
                    ));
                } else {
                    done[i] += res as usize;
                    if done[i] < reqs[i].1.len() {
                        queue.push_back(i);
                    }
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    })
}

/// Copies into `buf` what the page cache holds of the file from `offset` on, without waiting
/// for the device (`preadv2` with `RWF_NOWAIT`, retried while it makes progress); returns how
/// many bytes it got. Any failure (EAGAIN: not cached; EOF; an old kernel without the flag)
/// just leaves the rest to the ring, which reports real errors.
fn cached_prefix(fd: RawFd, buf: &mut [u8], offset: u64) -> usize {
    let mut done = 0usize;
    while done < buf.len() {
        let rest = &mut buf[done..];
        let iov = libc::iovec {
            iov_base: rest.as_mut_ptr().cast(),
            iov_len: rest.len(),
        };
        let Ok(off) = libc::off_t::try_from(offset + done as u64) else {
            break;
        };
        // SAFETY: the iovec describes `rest`, valid and exclusively borrowed for the call.
        let n = unsafe { libc::preadv2(fd, &iov, 1, off, libc::RWF_NOWAIT) };
        if n <= 0 {
            break;
        }
        done += n as usize;
    }
    done
}

/// Waits (bounded by what is outstanding) for completions still in the kernel after a failed
/// enter, so no entry refers to a buffer the caller is about to release.
fn drain_local(ring: &mut IoUring, mut outstanding: usize) {
    let mut attempts = 0;
    while outstanding > 0 && attempts < 1000 {
        attempts += 1;
        let _ = ring.submit_and_wait(1);
        for _ in ring.completion() {
            outstanding = outstanding.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The streak's cycle: asked first until `TRUSTED` whole hits, then plain reads with a
    /// probe every `PROBE_EVERY`-th batch; a probe that misses goes back to asking first.
    /// (Thread-local state: the test's own thread starts at 0.)
    #[test]
    fn cache_streak_trusts_the_page_cache_after_whole_hits_and_a_miss_ends_it() {
        std::thread::spawn(|| {
            for _ in 0..CacheStreak::TRUSTED {
                assert!(!CacheStreak::read_plainly());
                CacheStreak::asked(true);
            }
            for _round in 0..3 {
                // The probe of the cycle asks first ...
                assert!(!CacheStreak::read_plainly());
                CacheStreak::asked(true);
                // ... then the rest of the cycle reads plainly.
                for _ in 1..CacheStreak::PROBE_EVERY {
                    assert!(CacheStreak::read_plainly());
                }
            }
            assert!(!CacheStreak::read_plainly(), "a probe is due");
            CacheStreak::asked(false);
            for _ in 0..CacheStreak::TRUSTED {
                assert!(!CacheStreak::read_plainly(), "a miss ends the streak");
                CacheStreak::asked(true);
            }
            assert!(!CacheStreak::read_plainly());
            CacheStreak::asked(true);
            assert!(CacheStreak::read_plainly());
            // A miss on the way to trust starts the count again.
            CACHE_STREAK.with(|c| c.set(10));
            CacheStreak::asked(false);
            assert_eq!(CACHE_STREAK.with(|c| c.get()), 0);
        })
        .join()
        .expect("streak thread");
    }

    /// Batched reads return the file's bytes whichever way a batch is read (asked first,
    /// plainly, or a probe), and reading past the end is an error in every mode.
    #[test]
    fn batched_reads_are_exact_across_the_streak_modes() {
        let Ok(io) = UringBackend::new() else {
            return;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..64 * 1024u32).map(|i| (i * 7 + i / 251) as u8).collect();
        std::fs::write(&path, &data).expect("write");
        let f = io.open(&path, OpenOptions::read_only()).expect("open");
        std::thread::spawn(move || {
            for n in 0..(CacheStreak::TRUSTED + 3 * CacheStreak::PROBE_EVERY) as usize {
                let plain = CACHE_STREAK.with(|c| c.get()) > CacheStreak::TRUSTED;
                let offs: Vec<u64> = (0..4)
                    .map(|i| ((n * 4099 + i * 9001) % 60_000) as u64)
                    .collect();
                let mut bufs = vec![vec![0u8; 3000]; 4];
                let mut reqs: Vec<(u64, &mut [u8])> = offs
                    .iter()
                    .zip(bufs.iter_mut())
                    .map(|(o, b)| (*o, b.as_mut_slice()))
                    .collect();
                f.read_many(&mut reqs).expect("read_many");
                for (o, b) in offs.iter().zip(&bufs) {
                    let o = *o as usize;
                    assert_eq!(&b[..], &data[o..o + 3000], "batch {n} (plain: {plain})");
                }
                // Past the end, asked first (the first batch) or plainly: an error either way.
                if n == 0 || (plain && n % 17 == 0) {
                    let mut first = vec![0u8; 10];
                    let mut past = vec![0u8; 10];
                    let mut reqs: Vec<(u64, &mut [u8])> =
                        vec![(0, first.as_mut_slice()), (65_530, past.as_mut_slice())];
                    assert_eq!(
                        f.read_many(&mut reqs).expect_err("past end").kind(),
                        io::ErrorKind::UnexpectedEof
                    );
                }
            }
            assert!(
                CACHE_STREAK.with(|c| c.get()) >= CacheStreak::TRUSTED,
                "a file in the page cache is trusted"
            );
        })
        .join()
        .expect("reader thread");
    }

    #[test]
    fn operations_fail_instead_of_hanging_once_the_ring_thread_is_gone() {
        let Ok(handle) = RingHandle::start(0, 8) else {
            return;
        };
        let _ = handle.tx.send(Msg::Stop);
        handle.wake.kick();
        if let Some(t) = handle.thread.lock().take() {
            t.join().expect("ring thread exits");
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let file = File::create(dir.path().join("a")).expect("create");
        let mut buf = [0u8; 4];
        let job = Job::new(
            file.as_raw_fd(),
            vec![Span::new(buf.as_mut_ptr(), 4, 0, false)],
            None,
        );
        let e = handle
            .run(job)
            .expect_err("a stopped ring must refuse work");
        assert!(e.to_string().contains("stopped"), "{e}");
    }
}
