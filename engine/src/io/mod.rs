//! The I/O layer: every byte the engine reads or writes goes through an [`IoBackend`].
//!
//! Three implementations: io_uring ([`uring`]), portable std pread/pwrite ([`std_backend`]),
//! and a seeded fault injector ([`faulty`]) that wraps either. [`default_backend`] probes the
//! kernel and falls back to std I/O, saying why, when a ring cannot be set up.

pub mod blocking;
pub mod faulty;
pub mod std_backend;
pub mod uring;

#[cfg(test)]
mod tests;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How to open a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpenOptions {
    /// Create the file if it does not exist.
    pub create: bool,
    /// Fail if the file exists (with `create`).
    pub create_new: bool,
    /// Open for writing (reads are always allowed).
    pub write: bool,
    /// Truncate to zero length on open.
    pub truncate: bool,
    /// Ask for O_DIRECT where the backend supports it; callers then align offsets and lengths
    /// to [`DIRECT_IO_ALIGN`]. Backends that cannot honour it open buffered and say so via
    /// [`IoFile::is_direct`].
    pub direct: bool,
}

impl OpenOptions {
    pub fn read_only() -> Self {
        OpenOptions::default()
    }
    pub fn create_new() -> Self {
        OpenOptions {
            create: true,
            create_new: true,
            write: true,
            ..Default::default()
        }
    }
    pub fn read_write() -> Self {
        OpenOptions {
            write: true,
            ..Default::default()
        }
    }
}

/// Alignment of offsets, lengths and buffers for O_DIRECT.
pub const DIRECT_IO_ALIGN: usize = 4096;

/// An open file. All methods take `&self` and are safe to call from many threads.
pub trait IoFile: Send + Sync + std::fmt::Debug {
    /// Reads exactly `buf.len()` bytes at `offset`; a short file is `UnexpectedEof`.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Reads many ranges in one submission (batched on io_uring). Each `(offset, buf)` is
    /// filled exactly.
    fn read_many(&self, reqs: &mut [(u64, &mut [u8])]) -> io::Result<()> {
        for (off, buf) in reqs.iter_mut() {
            self.read_exact_at(buf, *off)?;
        }
        Ok(())
    }
    /// Writes all of `buf` at `offset`.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Writes all of `buf` at `offset`, then makes the file's data durable (fdatasync). On
    /// io_uring both go in one linked submission.
    fn write_all_at_and_sync(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.write_all_at(buf, offset)?;
        self.sync_data()
    }
    /// fdatasync.
    fn sync_data(&self) -> io::Result<()>;
    /// fsync (data and metadata).
    fn sync_all(&self) -> io::Result<()>;
    /// Current length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// Whether the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Truncates or extends.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Whether the file was opened with O_DIRECT.
    fn is_direct(&self) -> bool {
        false
    }
    /// The std file underneath, where there is one, for memory-mapping sealed files.
    fn std_file(&self) -> Option<&std::fs::File>;
    /// Starts the device write of `len` bytes at `offset` without waiting for it
    /// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`). A hint, not a durability point: a large
    /// file written in chunks goes to the device as it is written rather than all at its final
    /// fdatasync, which then waits for less — and so does the log's next fdatasync, queued
    /// behind it on the same device.
    fn start_writeback(&self, offset: u64, len: u64) {
        #[cfg(target_os = "linux")]
        if let Some(f) = self.std_file() {
            use std::os::fd::AsRawFd;
            let (Ok(off), Ok(n)) = (i64::try_from(offset), i64::try_from(len)) else {
                return;
            };
            // SAFETY: a plain system call on an open descriptor; it reads no memory of ours.
            // Its result is ignored: the fdatasync that follows is what must succeed.
            unsafe {
                libc::sync_file_range(f.as_raw_fd(), off, n, libc::SYNC_FILE_RANGE_WRITE);
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (offset, len);
    }
}

/// A source of files and directory operations.
pub trait IoBackend: Send + Sync + std::fmt::Debug {
    /// Short name for logs and benchmark tables: "io_uring", "std", "faulty(io_uring)".
    fn name(&self) -> String;
    fn open(&self, path: &Path, opts: OpenOptions) -> io::Result<Arc<dyn IoFile>>;
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Atomically renames (within one directory).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    fn remove_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Makes a directory's entries (creates, renames, removes) durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// File names (not paths) in a directory, sorted.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>>;
    fn exists(&self, path: &Path) -> bool;
}

/// Which backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendKind {
    /// io_uring when the kernel allows it, std otherwise.
    #[default]
    Auto,
    Uring,
    Std,
}

/// Opens the backend `kind` asks for. With [`BackendKind::Auto`] or [`BackendKind::Uring`] the
/// kernel is probed first (ring setup plus one NOP); when that fails the std backend is
/// returned together with the reason io_uring was not used (EPERM from seccomp or the
/// `kernel.io_uring_disabled` sysctl, ENOSYS from an old kernel, ...).
pub fn default_backend(kind: BackendKind) -> (Arc<dyn IoBackend>, Option<String>) {
    match kind {
        BackendKind::Std => (Arc::new(std_backend::StdBackend::new()), None),
        BackendKind::Auto | BackendKind::Uring => {
            match probe_uring().and_then(|()| {
                uring::UringBackend::new().map_err(|e| describe_uring_error("backend start", &e))
            }) {
                Ok(u) => (Arc::new(u), None),
                Err(why) => (Arc::new(std_backend::StdBackend::new()), Some(why)),
            }
        }
    }
}

/// Sets up a small ring and runs one NOP through it; the error says why io_uring is unusable.
pub fn probe_uring() -> Result<(), String> {
    let mut ring = io_uring::IoUring::new(4).map_err(|e| describe_uring_error("ring setup", &e))?;
    let nop = io_uring::opcode::Nop::new().build().user_data(0x5eed);
    // SAFETY: a NOP references no memory.
    unsafe { ring.submission().push(&nop) }
        .map_err(|_| "io_uring: submission queue full".to_string())?;
    ring.submit_and_wait(1)
        .map_err(|e| describe_uring_error("submit", &e))?;
    let result = ring.completion().next().map(|cqe| cqe.result());
    match result {
        Some(r) if r >= 0 => Ok(()),
        Some(r) => Err(describe_uring_error(
            "NOP",
            &io::Error::from_raw_os_error(-r),
        )),
        None => Err("io_uring: NOP produced no completion".to_string()),
    }
}

fn describe_uring_error(step: &str, e: &io::Error) -> String {
    let hint = match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => {
            let sysctl = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
            if !sysctl.is_empty() && sysctl != "0" {
                format!(" (kernel.io_uring_disabled = {sysctl})")
            } else {
                " (denied: seccomp filter, container policy or io_uring_disabled)".to_string()
            }
        }
        Some(libc::ENOSYS) => " (kernel without io_uring)".to_string(),
        Some(libc::ENOMEM) => " (cannot lock ring memory: RLIMIT_MEMLOCK)".to_string(),
        _ => String::new(),
    };
    format!("io_uring {step} failed: {e}{hint}")
}

/// Joins a directory and a file name.
pub fn join(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}
