//! A seeded fault injector that wraps any backend: EIO on reads and writes, ENOSPC, torn
//! writes (a prefix lands, then an error), failing fsync, "fail the Nth operation", a disk-full
//! switch, and a simulated crash that loses every byte not yet made durable.
//!
//! Faults are drawn from a deterministic generator seeded by the caller, so a failing seed
//! replays exactly (as long as the sequence of operations is the same). With every probability
//! zero and no switch set, the wrapper is transparent.
//!
//! Crash model ([`FaultyBackend::simulate_crash`]): for each file the wrapper remembers the
//! length at its last successful sync and an undo log of the synced bytes overwritten (or
//! truncated away) since. A crash rolls every file back to that state, deletes files created
//! since the last sync of their directory, and makes the backend refuse every later operation:
//! recovery must run on a fresh backend, as after a real power loss. Renames and removals are
//! treated as durable at once (a documented simplification). Bytes reached through
//! [`IoFile::std_file`] (memory maps) bypass the injector.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::io::{IoBackend, IoFile, OpenOptions};

/// Per-operation fault probabilities (0.0 = never, 1.0 = always) and the Nth-operation switch.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FaultConfig {
    /// A read fails with EIO.
    pub read_error: f64,
    /// A write fails with EIO before writing anything.
    pub write_error: f64,
    /// A write fails with ENOSPC before writing anything.
    pub write_enospc: f64,
    /// A write lands only a random prefix, then fails with EIO.
    pub torn_write: f64,
    /// A sync (fdatasync, fsync, directory fsync) fails with EIO; nothing becomes durable.
    pub sync_error: f64,
    /// The Nth data operation (1-based, counting reads, writes and syncs over all files, as
    /// [`FaultStats::ops`] does) fails with EIO.
    pub fail_nth_op: Option<u64>,
}

/// How many operations ran and how many faults were injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaultStats {
    /// Data operations seen (reads, writes, syncs).
    pub ops: u64,
    pub read_errors: u64,
    pub write_errors: u64,
    pub enospc_errors: u64,
    pub torn_writes: u64,
    pub sync_errors: u64,
    /// Failures injected by [`FaultConfig::fail_nth_op`].
    pub nth_op_failures: u64,
    /// Writes refused by the disk-full switch.
    pub disk_full_errors: u64,
    pub crashes: u64,
}

/// The fault-injecting wrapper.
#[derive(Debug)]
pub struct FaultyBackend {
    inner: Arc<dyn IoBackend>,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    config: Mutex<FaultConfig>,
    rng: Mutex<SplitMix64>,
    disk_full: AtomicBool,
    crashed: AtomicBool,
    /// What the crash model knows about each file, by path.
    files: Mutex<HashMap<PathBuf, Arc<Mutex<Shadow>>>>,
    counters: Counters,
}

#[derive(Debug, Default)]
struct Counters {
    ops: AtomicU64,
    read_errors: AtomicU64,
    write_errors: AtomicU64,
    enospc_errors: AtomicU64,
    torn_writes: AtomicU64,
    sync_errors: AtomicU64,
    nth_op_failures: AtomicU64,
    disk_full_errors: AtomicU64,
    crashes: AtomicU64,
}

/// The durable state of one file, as far as the crash model knows.
#[derive(Debug)]
struct Shadow {
    /// Length at the last successful sync.
    synced_len: u64,
    /// (offset, bytes) of synced content overwritten or truncated since; undone in reverse.
    undo: Vec<(u64, Vec<u8>)>,
    /// Whether the file's directory entry is durable (false: created since its directory was
    /// last synced; a crash deletes it).
    entry_durable: bool,
}

impl Shadow {
    fn is_clean(&self, len: u64) -> bool {
        self.undo.is_empty() && len == self.synced_len
    }
}

/// A tiny deterministic generator (SplitMix64); good enough to pick faults.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

enum WriteFault {
    None,
    Error(io::Error),
    /// Write this many bytes, then fail with EIO.
    Torn(usize),
}

/// EIO, as a failing disk reports it (`what` documents the call site).
fn eio(_what: &str) -> io::Error {
    io::Error::from_raw_os_error(libc::EIO)
}

fn crashed_error() -> io::Error {
    io::Error::other("faulty backend: simulated crash happened; open a fresh backend")
}

impl Shared {
    fn check_alive(&self) -> io::Result<()> {
        if self.crashed.load(Ordering::SeqCst) {
            Err(crashed_error())
        } else {
            Ok(())
        }
    }

    /// Counts an operation and says whether the Nth-operation switch fires on it.
    fn tick(&self) -> bool {
        let n = self.counters.ops.fetch_add(1, Ordering::SeqCst) + 1;
        if self.config.lock().fail_nth_op == Some(n) {
            self.counters
                .nth_op_failures
                .fetch_add(1, Ordering::Relaxed);
            return true;
        }
        false
    }

    fn roll(&self, p: f64) -> bool {
        p > 0.0 && self.rng.lock().next_f64() < p
    }

    fn read_fault(&self) -> io::Result<()> {
        self.check_alive()?;
        if self.tick() {
            return Err(eio("read (Nth operation)"));
        }
        let p = self.config.lock().read_error;
        if self.roll(p) {
            self.counters.read_errors.fetch_add(1, Ordering::Relaxed);
            return Err(eio("read"));
        }
        Ok(())
    }

    fn write_fault(&self, len: usize) -> WriteFault {
        if self.tick() {
            return WriteFault::Error(eio("write (Nth operation)"));
        }
        let c = *self.config.lock();
        if self.roll(c.write_error) {
            self.counters.write_errors.fetch_add(1, Ordering::Relaxed);
            return WriteFault::Error(eio("write"));
        }
        if self.roll(c.write_enospc) {
            self.counters.enospc_errors.fetch_add(1, Ordering::Relaxed);
            return WriteFault::Error(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        if len > 0 && self.roll(c.torn_write) {
            self.counters.torn_writes.fetch_add(1, Ordering::Relaxed);
            let n = (self.rng.lock().next_u64() % len as u64) as usize;
            return WriteFault::Torn(n);
        }
        WriteFault::None
    }

    fn sync_fault(&self) -> io::Result<()> {
        if self.tick() {
            return Err(eio("sync (Nth operation)"));
        }
        let p = self.config.lock().sync_error;
        if self.roll(p) {
            self.counters.sync_errors.fetch_add(1, Ordering::Relaxed);
            return Err(eio("sync"));
        }
        Ok(())
    }
}

impl FaultyBackend {
    /// Wraps `inner`; faults are drawn from `config` with a generator seeded by `seed`.
    pub fn new(inner: Arc<dyn IoBackend>, config: FaultConfig, seed: u64) -> Self {
        FaultyBackend {
            inner,
            shared: Arc::new(Shared {
                config: Mutex::new(config),
                rng: Mutex::new(SplitMix64(seed)),
                disk_full: AtomicBool::new(false),
                crashed: AtomicBool::new(false),
                files: Mutex::new(HashMap::new()),
                counters: Counters::default(),
            }),
        }
    }

    /// Replaces the fault probabilities (e.g. to arm faults after a clean setup phase).
    pub fn set_config(&self, config: FaultConfig) {
        *self.shared.config.lock() = config;
    }

    pub fn config(&self) -> FaultConfig {
        *self.shared.config.lock()
    }

    /// While on, the disk is full: a write that would extend a file stores what fits in the
    /// file's current length and fails with ENOSPC, and so does a `set_len` that grows a
    /// file; writes within a file's length (preallocated space) still succeed.
    pub fn set_disk_full(&self, full: bool) {
        self.shared.disk_full.store(full, Ordering::SeqCst);
    }

    /// Whether [`simulate_crash`](Self::simulate_crash) has run.
    pub fn is_crashed(&self) -> bool {
        self.shared.crashed.load(Ordering::SeqCst)
    }

    pub fn stats(&self) -> FaultStats {
        let c = &self.shared.counters;
        FaultStats {
            ops: c.ops.load(Ordering::SeqCst),
            read_errors: c.read_errors.load(Ordering::Relaxed),
            write_errors: c.write_errors.load(Ordering::Relaxed),
            enospc_errors: c.enospc_errors.load(Ordering::Relaxed),
            torn_writes: c.torn_writes.load(Ordering::Relaxed),
            sync_errors: c.sync_errors.load(Ordering::Relaxed),
            nth_op_failures: c.nth_op_failures.load(Ordering::Relaxed),
            disk_full_errors: c.disk_full_errors.load(Ordering::Relaxed),
            crashes: c.crashes.load(Ordering::Relaxed),
        }
    }

    /// Power loss: every file loses what was written since its last successful sync, files
    /// whose directory entry was never synced disappear, and this backend (and every file it
    /// opened) refuses all further operations. Errors while rolling back are returned after
    /// the backend is marked crashed.
    pub fn simulate_crash(&self) -> io::Result<()> {
        self.shared.crashed.store(true, Ordering::SeqCst);
        self.shared.counters.crashes.fetch_add(1, Ordering::Relaxed);
        let files: Vec<(PathBuf, Arc<Mutex<Shadow>>)> = self
            .shared
            .files
            .lock()
            .iter()
            .map(|(p, s)| (p.clone(), Arc::clone(s)))
            .collect();
        let mut first_err = None;
        for (path, shadow) in files {
            // Taking the lock waits for an operation in progress on this file to finish.
            let mut sh = shadow.lock();
            if let Err(e) = self.roll_back(&path, &mut sh) {
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn roll_back(&self, path: &Path, sh: &mut Shadow) -> io::Result<()> {
        if !self.inner.exists(path) {
            return Ok(());
        }
        if !sh.entry_durable {
            sh.undo.clear();
            return self.inner.remove_file(path);
        }
        let f = self.inner.open(path, OpenOptions::read_write())?;
        if sh.is_clean(f.len()?) {
            return Ok(());
        }
        for (off, bytes) in sh.undo.drain(..).rev() {
            f.write_all_at(&bytes, off)?;
        }
        f.set_len(sh.synced_len)?;
        f.sync_all()
    }

    fn shadow_for(&self, path: &Path, created: bool, len: u64) -> Arc<Mutex<Shadow>> {
        let mut files = self.shared.files.lock();
        if created {
            let sh = Arc::new(Mutex::new(Shadow {
                synced_len: 0,
                undo: Vec::new(),
                entry_durable: false,
            }));
            files.insert(path.to_path_buf(), Arc::clone(&sh));
            return sh;
        }
        Arc::clone(files.entry(path.to_path_buf()).or_insert_with(|| {
            Arc::new(Mutex::new(Shadow {
                synced_len: len,
                undo: Vec::new(),
                entry_durable: true,
            }))
        }))
    }
}

impl IoBackend for FaultyBackend {
    fn name(&self) -> String {
        format!("faulty({})", self.inner.name())
    }

    fn open(&self, path: &Path, opts: OpenOptions) -> io::Result<Arc<dyn IoFile>> {
        self.shared.check_alive()?;
        let existed = self.inner.exists(path);
        if opts.truncate && existed && opts.write {
            // Remember the synced bytes the truncation throws away.
            let before = self.inner.open(path, OpenOptions::read_only())?;
            let len = before.len()?;
            let shadow = self.shadow_for(path, false, len);
            let mut sh = shadow.lock();
            let keep = sh.synced_len.min(len);
            if keep > 0 {
                let mut bytes = vec![0u8; keep as usize];
                before.read_exact_at(&mut bytes, 0)?;
                sh.undo.push((0, bytes));
            }
        }
        let inner = self.inner.open(path, opts)?;
        let len = inner.len()?;
        // O_DIRECT reads need aligned buffers; the undo log reads through a buffered handle.
        let reader = if inner.is_direct() {
            self.inner.open(path, OpenOptions::read_only())?
        } else {
            Arc::clone(&inner)
        };
        let shadow = self.shadow_for(path, !existed, len);
        Ok(Arc::new(FaultyFile {
            inner,
            reader,
            shadow,
            shared: Arc::clone(&self.shared),
        }))
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.shared.check_alive()?;
        self.inner.create_dir_all(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.shared.check_alive()?;
        self.inner.rename(from, to)?;
        let mut files = self.shared.files.lock();
        files.remove(to);
        if let Some(sh) = files.remove(from) {
            // The renamed file is treated as durable under its new name.
            sh.lock().entry_durable = true;
            files.insert(to.to_path_buf(), sh);
        }
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.shared.check_alive()?;
        self.inner.remove_file(path)?;
        self.shared.files.lock().remove(path);
        Ok(())
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        self.shared.check_alive()?;
        self.inner.remove_dir_all(path)?;
        self.shared.files.lock().retain(|p, _| !p.starts_with(path));
        Ok(())
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.shared.check_alive()?;
        self.shared.sync_fault()?;
        self.inner.sync_dir(path)?;
        for (p, sh) in self.shared.files.lock().iter() {
            if p.parent() == Some(path) {
                sh.lock().entry_durable = true;
            }
        }
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        self.shared.check_alive()?;
        self.inner.list_dir(path)
    }

    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }
}

/// A file opened through [`FaultyBackend`].
#[derive(Debug)]
pub struct FaultyFile {
    inner: Arc<dyn IoFile>,
    /// The same file without O_DIRECT (or `inner` itself), for reading bytes into the undo log.
    reader: Arc<dyn IoFile>,
    shadow: Arc<Mutex<Shadow>>,
    shared: Arc<Shared>,
}

impl FaultyFile {
    /// Saves the synced bytes in `[offset, offset + len)` before they are overwritten.
    fn save_undo(&self, sh: &mut Shadow, offset: u64, len: usize) -> io::Result<()> {
        let cur = self.inner.len()?;
        let end = (offset + len as u64).min(sh.synced_len).min(cur);
        if end > offset {
            let mut old = vec![0u8; (end - offset) as usize];
            self.reader.read_exact_at(&mut old, offset)?;
            sh.undo.push((offset, old));
        }
        Ok(())
    }

    fn write(&self, buf: &[u8], offset: u64, sync: bool) -> io::Result<()> {
        self.shared.check_alive()?;
        let mut sh = self.shadow.lock();
        self.shared.check_alive()?;
        if self.shared.disk_full.load(Ordering::SeqCst) {
            // A full disk still takes writes into space the file already has; a write that
            // extends the file stores the part that fits and fails with ENOSPC (a short write).
            let cur = self.inner.len()?;
            let end = offset + buf.len() as u64;
            if end > cur {
                self.shared
                    .counters
                    .disk_full_errors
                    .fetch_add(1, Ordering::Relaxed);
                if offset < cur {
                    let n = (cur - offset) as usize;
                    self.save_undo(&mut sh, offset, n)?;
                    self.inner.write_all_at(&buf[..n], offset)?;
                }
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
        }
        match self.shared.write_fault(buf.len()) {
            WriteFault::Error(e) => return Err(e),
            WriteFault::Torn(n) => {
                // O_DIRECT writes move whole blocks: tear at a block boundary.
                let n = if self.inner.is_direct() {
                    n - n % crate::io::DIRECT_IO_ALIGN
                } else {
                    n
                };
                self.save_undo(&mut sh, offset, n)?;
                self.inner.write_all_at(&buf[..n], offset)?;
                return Err(eio("write (torn)"));
            }
            WriteFault::None => {}
        }
        self.save_undo(&mut sh, offset, buf.len())?;
        self.inner.write_all_at(buf, offset)?;
        if sync {
            self.sync(&mut sh, true)?;
        }
        Ok(())
    }

    fn sync(&self, sh: &mut Shadow, data_only: bool) -> io::Result<()> {
        self.shared.sync_fault()?;
        if data_only {
            self.inner.sync_data()?;
        } else {
            self.inner.sync_all()?;
        }
        sh.synced_len = self.inner.len()?;
        sh.undo.clear();
        Ok(())
    }
}

impl IoFile for FaultyFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.shared.read_fault()?;
        self.inner.read_exact_at(buf, offset)
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.write(buf, offset, false)
    }

    fn write_all_at_and_sync(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.write(buf, offset, true)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.shared.check_alive()?;
        let mut sh = self.shadow.lock();
        self.shared.check_alive()?;
        self.sync(&mut sh, true)
    }

    fn sync_all(&self) -> io::Result<()> {
        self.shared.check_alive()?;
        let mut sh = self.shadow.lock();
        self.shared.check_alive()?;
        self.sync(&mut sh, false)
    }

    fn len(&self) -> io::Result<u64> {
        self.shared.check_alive()?;
        self.inner.len()
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.shared.check_alive()?;
        let mut sh = self.shadow.lock();
        self.shared.check_alive()?;
        let cur = self.inner.len()?;
        if len > cur && self.shared.disk_full.load(Ordering::SeqCst) {
            self.shared
                .counters
                .disk_full_errors
                .fetch_add(1, Ordering::Relaxed);
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        if len < cur {
            let n = (cur - len) as usize;
            self.save_undo(&mut sh, len, n)?;
        }
        self.inner.set_len(len)
    }

    fn is_direct(&self) -> bool {
        self.inner.is_direct()
    }

    fn std_file(&self) -> Option<&std::fs::File> {
        self.inner.std_file()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::std_backend::StdBackend;

    fn faulty(config: FaultConfig, seed: u64) -> FaultyBackend {
        FaultyBackend::new(Arc::new(StdBackend::new()), config, seed)
    }

    fn read_all(path: &Path) -> Vec<u8> {
        std::fs::read(path).expect("read")
    }

    #[test]
    fn zero_probabilities_are_transparent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let io = faulty(FaultConfig::default(), 1);
        let f = io
            .open(&dir.path().join("a"), OpenOptions::create_new())
            .expect("open");
        for i in 0..200u64 {
            f.write_all_at(&i.to_le_bytes(), i * 8).expect("write");
            if i % 7 == 0 {
                f.sync_data().expect("sync");
            }
            let mut b = [0u8; 8];
            f.read_exact_at(&mut b, i * 8).expect("read");
            assert_eq!(u64::from_le_bytes(b), i);
        }
        let s = io.stats();
        assert_eq!(s.ops, 200 + 29 + 200);
        assert_eq!(
            s.read_errors + s.write_errors + s.sync_errors + s.torn_writes,
            0
        );
    }

    #[test]
    fn crash_loses_exactly_the_unsynced_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a");
        let io = faulty(FaultConfig::default(), 2);
        let f = io.open(&p, OpenOptions::create_new()).expect("open");
        io.sync_dir(dir.path()).expect("sync dir");
        f.write_all_at_and_sync(b"durable-part", 0).expect("write");
        f.write_all_at(b"DURABLE", 0)
            .expect("overwrite synced bytes");
        f.write_all_at(b"-and-lost-tail", 12).expect("append");
        f.set_len(3).expect("truncate");
        io.simulate_crash().expect("crash");
        assert_eq!(read_all(&p), b"durable-part");
        assert!(
            f.write_all_at(b"x", 0).is_err(),
            "crashed backend accepted a write"
        );
        assert!(
            io.open(&p, OpenOptions::read_only()).is_err(),
            "crashed backend opened a file"
        );
        assert_eq!(io.stats().crashes, 1);
    }

    #[test]
    fn crash_removes_files_whose_directory_was_never_synced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let io = faulty(FaultConfig::default(), 3);
        let kept = dir.path().join("kept");
        let lost = dir.path().join("lost");
        io.open(&kept, OpenOptions::create_new())
            .expect("open")
            .write_all_at_and_sync(b"k", 0)
            .expect("w");
        io.sync_dir(dir.path()).expect("sync dir");
        io.open(&lost, OpenOptions::create_new())
            .expect("open")
            .write_all_at_and_sync(b"l", 0)
            .expect("w");
        io.simulate_crash().expect("crash");
        assert!(kept.exists());
        assert!(!lost.exists());
    }

    #[test]
    fn truncating_open_is_undone_by_a_crash() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a");
        std::fs::write(&p, b"old synced content").expect("seed file");
        let io = faulty(FaultConfig::default(), 4);
        let t = OpenOptions {
            write: true,
            truncate: true,
            ..Default::default()
        };
        io.open(&p, t)
            .expect("open")
            .write_all_at(b"new", 0)
            .expect("write");
        io.simulate_crash().expect("crash");
        assert_eq!(read_all(&p), b"old synced content");
    }

    #[test]
    fn nth_operation_fails_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let io = faulty(
            FaultConfig {
                fail_nth_op: Some(3),
                ..Default::default()
            },
            5,
        );
        let f = io
            .open(&dir.path().join("a"), OpenOptions::create_new())
            .expect("open");
        f.write_all_at(b"1", 0).expect("op 1");
        f.write_all_at(b"2", 1).expect("op 2");
        let e = f.sync_data().expect_err("op 3");
        assert_eq!(e.raw_os_error(), Some(libc::EIO));
        f.sync_data().expect("op 4");
        assert_eq!(io.stats().nth_op_failures, 1);
    }

    #[test]
    fn disk_full_switch_refuses_writes_with_enospc() {
        let dir = tempfile::tempdir().expect("tempdir");
        let io = faulty(FaultConfig::default(), 6);
        let f = io
            .open(&dir.path().join("a"), OpenOptions::create_new())
            .expect("open");
        io.set_disk_full(true);
        let e = f.write_all_at(b"x", 0).expect_err("disk full");
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
        assert!(f.set_len(100).is_err());
        io.set_disk_full(false);
        f.write_all_at(b"x", 0).expect("space again");
        assert_eq!(io.stats().disk_full_errors, 2);
        // Space the file already has still takes writes; an extending write stores what fits.
        f.write_all_at(&[1u8; 8], 0).expect("grow while space");
        io.set_disk_full(true);
        f.write_all_at(&[2u8; 8], 0)
            .expect("overwrite within the file");
        let e = f.write_all_at(&[3u8; 8], 4).expect_err("extends the file");
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
        let mut back = [0u8; 8];
        f.read_exact_at(&mut back, 0).expect("read");
        assert_eq!(
            back,
            [2, 2, 2, 2, 3, 3, 3, 3],
            "the part that fits is stored"
        );
        assert_eq!(f.len().expect("len"), 8);
    }

    #[test]
    fn torn_write_lands_a_prefix_then_fails() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a");
        let io = faulty(
            FaultConfig {
                torn_write: 1.0,
                ..Default::default()
            },
            7,
        );
        let f = io.open(&p, OpenOptions::create_new()).expect("open");
        let data = [9u8; 1000];
        assert!(f.write_all_at_and_sync(&data, 0).is_err());
        let on_disk = read_all(&p);
        assert!(on_disk.len() < data.len());
        assert!(on_disk.iter().all(|b| *b == 9));
        assert_eq!(io.stats().torn_writes, 1);
    }

    #[test]
    fn same_seed_injects_the_same_faults() {
        let run = |seed: u64| {
            let dir = tempfile::tempdir().expect("tempdir");
            let cfg = FaultConfig {
                write_error: 0.3,
                sync_error: 0.2,
                ..Default::default()
            };
            let io = faulty(cfg, seed);
            let f = io
                .open(&dir.path().join("a"), OpenOptions::create_new())
                .expect("open");
            (0..100u64)
                .map(|i| {
                    if i % 3 == 0 {
                        f.sync_data().is_ok()
                    } else {
                        f.write_all_at(b"ab", i).is_ok()
                    }
                })
                .collect::<Vec<bool>>()
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
        assert!(run(42).iter().any(|ok| !ok) && run(42).iter().any(|ok| *ok));
    }

    #[test]
    fn failed_sync_makes_nothing_durable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a");
        let io = faulty(FaultConfig::default(), 8);
        let f = io.open(&p, OpenOptions::create_new()).expect("open");
        io.sync_dir(dir.path()).expect("sync dir");
        f.write_all_at_and_sync(b"one", 0).expect("first");
        io.set_config(FaultConfig {
            sync_error: 1.0,
            ..Default::default()
        });
        assert!(f.write_all_at_and_sync(b"two", 3).is_err());
        io.simulate_crash().expect("crash");
        assert_eq!(read_all(&p), b"one");
    }
}
