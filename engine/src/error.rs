//! The storage layer's error type. Upper layers (table, api) have their own.

use std::io;

/// An error from the storage engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// Bytes on disk do not checksum or decode; the message says which file and where.
    #[error("corruption: {0}")]
    Corruption(String),
    /// An earlier fsync or background failure poisoned the database: it refuses writes until
    /// reopened, rather than carrying on over data that may not be durable.
    #[error("database is poisoned by an earlier I/O failure ({0}); reopen it")]
    Poisoned(String),
    #[error("key of {size} bytes exceeds the limit of {max} bytes")]
    KeyTooLarge { size: usize, max: usize },
    #[error("value of {size} bytes exceeds the limit of {max} bytes")]
    ValueTooLarge { size: usize, max: usize },
    #[error("no such keyspace: {0}")]
    NoSuchSpace(u64),
    #[error("keyspace already exists: {0}")]
    SpaceExists(u64),
    #[error("{0} is not a hashlog database: {1}")]
    NotADatabase(String, String),
    #[error("format version {found} of {what} is newer than this build supports ({supported})")]
    UnsupportedVersion {
        what: String,
        found: u32,
        supported: u32,
    },
    /// The disk is full. Nothing of the refused write reached the log, and the database is not
    /// poisoned: writes succeed again once space is freed (reads keep working meanwhile).
    #[error("disk full: {0}; nothing was written, writes resume once space is freed")]
    DiskFull(String),
    #[error("database is closed")]
    Closed,
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

impl StorageError {
    /// Whether retrying the same operation later could succeed (disk full, transient I/O).
    pub fn is_retryable(&self) -> bool {
        self.is_enospc() || matches!(self, StorageError::DiskFull(_))
    }

    /// Whether this is a raw ENOSPC from the operating system.
    pub fn is_enospc(&self) -> bool {
        matches!(self, StorageError::Io(e) if e.raw_os_error() == Some(libc::ENOSPC))
    }

    /// Turns a raw ENOSPC into [`StorageError::DiskFull`] saying what could not be written;
    /// only for failures the caller has made harmless (nothing partial left behind that
    /// could be mistaken for data).
    pub fn disk_full_if_enospc(self, what: &str) -> StorageError {
        if self.is_enospc() {
            StorageError::DiskFull(what.to_string())
        } else {
            self
        }
    }
}
