//! The portable backend: pread/pwrite/fdatasync through std, one system call per operation.
//!
//! Every method is a thin wrapper over `std::os::unix::fs::FileExt` and `std::fs`; it is the
//! reference the io_uring backend is tested against, and the fallback when a ring cannot be
//! set up.

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;

use super::{IoBackend, IoFile, OpenOptions};

/// pread/pwrite through std.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdBackend;

impl StdBackend {
    pub fn new() -> Self {
        StdBackend
    }
}

/// A file opened by [`StdBackend`].
#[derive(Debug)]
pub struct StdFile {
    file: File,
    direct: bool,
}

impl StdFile {
    /// Wraps an already open file (assumed buffered, not O_DIRECT).
    pub fn from_file(file: File) -> Self {
        StdFile {
            file,
            direct: false,
        }
    }
}

impl IoFile for StdFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.file.write_all_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }
    fn sync_all(&self) -> io::Result<()> {
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

/// Opens `path` as `opts` asks. With `opts.direct`, tries O_DIRECT first and falls back to a
/// buffered open only when the file system refuses O_DIRECT (EINVAL, e.g. tmpfs); the returned
/// flag says which one happened.
pub(crate) fn open_std(path: &Path, opts: OpenOptions) -> io::Result<(File, bool)> {
    let mut o = std::fs::OpenOptions::new();
    o.read(true)
        .write(opts.write)
        .create(opts.create)
        .create_new(opts.create_new)
        .truncate(opts.truncate);
    if opts.direct {
        let mut od = o.clone();
        od.custom_flags(libc::O_DIRECT);
        match od.open(path) {
            Ok(f) => return Ok((f, true)),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
            Err(e) => return Err(e),
        }
    }
    Ok((o.open(path)?, false))
}

/// Directory operations shared by every backend built on std (the ring has no need to do them).
pub(crate) fn sync_dir_std(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

pub(crate) fn list_dir_std(path: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(path)? {
        // Names that are not UTF-8 are not ours: skip them rather than fail the listing.
        if let Ok(name) = entry?.file_name().into_string() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

impl IoBackend for StdBackend {
    fn name(&self) -> String {
        "std".into()
    }
    fn open(&self, path: &Path, opts: OpenOptions) -> io::Result<Arc<dyn IoFile>> {
        let (file, direct) = open_std(path, opts)?;
        Ok(Arc::new(StdFile { file, direct }))
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
