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
    #[error("database is closed")]
    Closed,
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

impl StorageError {
    /// Whether retrying the same operation later could succeed (disk full, transient I/O).
    pub fn is_retryable(&self) -> bool {
        matches!(self, StorageError::Io(e) if e.raw_os_error() == Some(libc::ENOSPC))
    }
}
