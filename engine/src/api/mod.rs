//! DynamoDB's API over the storage engine: a JSON request in, a JSON response or an
//! [`ApiError`] out. The server crate is only transport, authentication and metrics around
//! [`Database::execute`].
//!
//! Tables live in keyspaces of a [`Kv`] store (the engine, or the in-memory model in tests);
//! the catalog is persisted in the system keyspace. Conditional writes and read-modify-write
//! updates take a per-key lock (striped mutexes) around read–check–write, so they are
//! linearizable per item; transactions lock all their keys in one global order and commit as
//! one write batch (one WAL record).

mod batch;
mod catalog;
mod error;
mod items;
mod query;
mod request;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Mutex, MutexGuard, RwLock};
use serde_json::{json, Value};

pub use catalog::TableDesc;
pub use error::{ApiError, ErrorCode};
use request::Req;

use crate::db::{Engine, EngineOptions};
use crate::error::StorageError;
use crate::kv::{Kv, SpaceId};

/// Region and account that ARNs name.
#[derive(Debug, Clone)]
pub struct DatabaseOptions {
    pub region: String,
    pub account_id: String,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        DatabaseOptions {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
        }
    }
}

const LOCK_STRIPES: usize = 4096;

/// Striped per-key locks.
pub(crate) struct KeyLocks {
    stripes: Vec<Mutex<()>>,
}

impl KeyLocks {
    fn new() -> Self {
        KeyLocks {
            stripes: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }

    fn stripe(space: SpaceId, key: &[u8]) -> usize {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(&space.to_le_bytes());
        h.update(key);
        (h.digest() % LOCK_STRIPES as u64) as usize
    }

    pub fn lock_one(&self, space: SpaceId, key: &[u8]) -> MutexGuard<'_, ()> {
        self.stripes[Self::stripe(space, key)].lock()
    }

    /// Locks every key's stripe in ascending stripe order (no deadlock between transactions).
    pub fn lock_many<'k>(
        &self,
        keys: impl Iterator<Item = (SpaceId, &'k [u8])>,
    ) -> Vec<MutexGuard<'_, ()>> {
        let mut idx: Vec<usize> = keys.map(|(s, k)| Self::stripe(s, k)).collect();
        idx.sort_unstable();
        idx.dedup();
        idx.into_iter().map(|i| self.stripes[i].lock()).collect()
    }
}

type TokenCache = HashMap<String, (Value, Instant, Value)>;

/// A DynamoDB-compatible database over a [`Kv`] store.
pub struct Database {
    pub(crate) kv: Arc<dyn Kv>,
    pub(crate) opts: DatabaseOptions,
    pub(crate) tables: RwLock<BTreeMap<String, TableDesc>>,
    pub(crate) catalog_lock: Mutex<()>,
    pub(crate) locks: KeyLocks,
    pub(crate) tokens: Mutex<TokenCache>,
    engine: Option<Arc<Engine>>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("tables", &self.tables.read().len())
            .finish()
    }
}

/// Operations `execute` answers.
pub const SUPPORTED_OPERATIONS: &[&str] = &[
    "CreateTable",
    "DeleteTable",
    "DescribeTable",
    "ListTables",
    "UpdateTable",
    "PutItem",
    "GetItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactWriteItems",
    "TransactGetItems",
    "TagResource",
    "UntagResource",
    "ListTagsOfResource",
    "UpdateTimeToLive",
    "DescribeTimeToLive",
    "DescribeLimits",
];

/// DynamoDB operations hashlog knows of but does not implement yet.
pub const UNSUPPORTED_OPERATIONS: &[&str] = &[
    "CreateBackup",
    "DeleteBackup",
    "DescribeBackup",
    "ListBackups",
    "RestoreTableFromBackup",
    "RestoreTableToPointInTime",
    "UpdateContinuousBackups",
    "DescribeContinuousBackups",
    "CreateGlobalTable",
    "UpdateGlobalTable",
    "DescribeGlobalTable",
    "ListGlobalTables",
    "UpdateGlobalTableSettings",
    "DescribeGlobalTableSettings",
    "DescribeTableReplicaAutoScaling",
    "UpdateTableReplicaAutoScaling",
    "ExecuteStatement",
    "BatchExecuteStatement",
    "ExecuteTransaction",
    "ExportTableToPointInTime",
    "DescribeExport",
    "ListExports",
    "ImportTable",
    "DescribeImport",
    "ListImports",
    "DescribeContributorInsights",
    "UpdateContributorInsights",
    "ListContributorInsights",
    "DescribeKinesisStreamingDestination",
    "EnableKinesisStreamingDestination",
    "DisableKinesisStreamingDestination",
    "UpdateKinesisStreamingDestination",
    "GetResourcePolicy",
    "PutResourcePolicy",
    "DeleteResourcePolicy",
];

/// Read capacity units for `bytes` read: 4 KB units, half for eventually consistent reads.
pub fn read_units(bytes: usize, consistent: bool) -> f64 {
    let units = bytes.div_ceil(4096).max(1) as f64;
    if consistent {
        units
    } else {
        units / 2.0
    }
}

/// Write capacity units for an item of `bytes`: 1 KB units, at least one.
pub fn write_units(bytes: usize) -> f64 {
    bytes.div_ceil(1024).max(1) as f64
}

/// The ConsumedCapacity object for ReturnConsumedCapacity TOTAL / INDEXES.
pub(crate) fn capacity_json(
    r: &Req<'_>,
    table: &str,
    units: f64,
) -> Result<Option<Value>, ApiError> {
    Ok(
        match r.enum_str("ReturnConsumedCapacity", &["INDEXES", "TOTAL", "NONE"])? {
            Some("TOTAL") => Some(json!({"TableName": table, "CapacityUnits": units})),
            Some("INDEXES") => Some(
                json!({"TableName": table, "CapacityUnits": units, "Table": {"CapacityUnits": units}}),
            ),
            _ => None,
        },
    )
}

impl Database {
    /// A database over any [`Kv`] store; loads the catalog.
    pub fn new(kv: Arc<dyn Kv>, opts: DatabaseOptions) -> Result<Database, ApiError> {
        let db = Database {
            kv,
            opts,
            tables: RwLock::new(BTreeMap::new()),
            catalog_lock: Mutex::new(()),
            locks: KeyLocks::new(),
            tokens: Mutex::new(HashMap::new()),
            engine: None,
        };
        let tables = catalog::load_all(&db)?;
        *db.tables.write() = tables;
        Ok(db)
    }

    /// Opens (or creates) a database directory with the storage engine.
    pub fn open(
        dir: &Path,
        engine: EngineOptions,
        opts: DatabaseOptions,
    ) -> Result<Database, StorageError> {
        let e = Arc::new(Engine::open(dir, engine)?);
        let mut db = Database::new(Arc::clone(&e) as Arc<dyn Kv>, opts)
            .map_err(|err| StorageError::Corruption(format!("catalog: {}", err.message)))?;
        db.engine = Some(e);
        Ok(db)
    }

    /// The engine underneath, when opened with [`Database::open`].
    pub fn engine(&self) -> Option<&Arc<Engine>> {
        self.engine.as_ref()
    }

    pub fn supported_operations() -> &'static [&'static str] {
        SUPPORTED_OPERATIONS
    }

    /// Runs one DynamoDB operation on a raw JSON body.
    pub fn execute(&self, operation: &str, body: &[u8]) -> Result<Value, ApiError> {
        let raw: Value = if body.iter().all(|b| b.is_ascii_whitespace()) {
            json!({})
        } else {
            serde_json::from_slice(body).map_err(|e| {
                ApiError::serialization(format!("Could not parse request body into json: {e}"))
            })?
        };
        let r = Req::new(&raw)?;
        match operation {
            "CreateTable" => self.create_table(&r),
            "DeleteTable" => self.delete_table(&r),
            "DescribeTable" => self.describe_table(&r),
            "ListTables" => self.list_tables(&r),
            "UpdateTable" => self.update_table(&r),
            "PutItem" => self.put_item(&r),
            "GetItem" => self.get_item(&r),
            "UpdateItem" => self.update_item(&r),
            "DeleteItem" => self.delete_item(&r),
            "Query" => self.query(&r),
            "Scan" => self.scan(&r),
            "BatchGetItem" => self.batch_get_item(&r),
            "BatchWriteItem" => self.batch_write_item(&r),
            "TransactWriteItems" => self.transact_write_items(&r, &raw),
            "TransactGetItems" => self.transact_get_items(&r),
            "TagResource" => self.tag_resource(&r, true),
            "UntagResource" => self.tag_resource(&r, false),
            "ListTagsOfResource" => self.list_tags(&r),
            "UpdateTimeToLive" => self.update_ttl(&r),
            "DescribeTimeToLive" => self.describe_ttl(&r),
            "DescribeLimits" => Ok(json!({
                "AccountMaxReadCapacityUnits": 80000,
                "AccountMaxWriteCapacityUnits": 80000,
                "TableMaxReadCapacityUnits": 40000,
                "TableMaxWriteCapacityUnits": 40000,
            })),
            op if UNSUPPORTED_OPERATIONS.contains(&op) || op.starts_with("Streams.") => Err(
                ApiError::validation(format!("Operation {op} is not supported by hashlog yet")),
            ),
            op => Err(ApiError::new(
                ErrorCode::UnknownOperationException,
                format!("Unknown operation {op}"),
            )),
        }
    }

    /// Flushes memtables and syncs the WAL (on shutdown).
    pub fn close(&self) -> Result<(), StorageError> {
        match &self.engine {
            Some(e) => e.close(),
            None => Ok(()),
        }
    }
}
