//! hashlog: a log-structured, hash-partitioned storage engine that does what DynamoDB does.
//!
//! Read it in the order data flows (see docs/ARCHITECTURE.md): [`api`] (DynamoDB's
//! operations), [`kv`] (the storage contract), [`db`] (the engine: partitions of
//! log-structured trees), [`lsm`], [`memtable`], [`sstable`], [`wal`], and [`io`] at the bottom.

pub mod api;
pub mod capacity;
pub mod codec;
pub mod db;
pub mod error;
pub mod expr;
pub mod io;
pub mod key;
pub mod kv;
pub mod limits;
pub mod lsm;
pub mod memtable;
pub mod model;
pub mod partition;
pub mod sstable;
pub mod table;
pub mod wal;
