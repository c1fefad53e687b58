//! DynamoDB's API over the storage engine: a JSON request in, a JSON response or an
//! [`ApiError`] out. The server crate is only transport, authentication and metrics around
//! [`Database::execute`].
//!
//! This module is the wire layer: it routes an operation name to [`crate::table::Tables`]
//! (the catalog and data plane, over a [`Kv`] store: the engine, or the in-memory model in
//! tests), gives typed access to the JSON body (`request`) and defines DynamoDB's error
//! shapes ([`ApiError`]).

mod error;
pub(crate) mod request;
mod response;
pub(crate) mod shape;
#[cfg(test)]
mod tests;
mod types;

use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Value};

pub use error::{ApiError, ErrorCode};
use request::Req;
pub use response::{ReadItem, ReadResponse, Response};

use crate::db::{Engine, EngineOptions};
use crate::error::StorageError;
use crate::kv::Kv;
use crate::table::{StagedWrite, Tables};

/// Region and account that ARNs name.
#[derive(Debug, Clone)]
pub struct DatabaseOptions {
    pub region: String,
    pub account_id: String,
    /// How often the TTL sweeper runs (it also trims old stream records); `None`: no sweeper
    /// thread (call [`Tables::sweep_expired`] yourself).
    pub ttl_sweep_interval: Option<std::time::Duration>,
    /// Most items one TTL sweep deletes (the sweeper's rate limit).
    pub ttl_deletes_per_sweep: usize,
    /// Throttle requests by each table's provisioned or on-demand capacity (the `capacity`
    /// module); off by default in the library, on in `hashlog serve`.
    pub enforce_capacity: bool,
    /// The clock capacity decisions use (`None`: the system clock; tests and the study pass a
    /// [`crate::capacity::SimClock`]).
    pub capacity_clock: Option<CapacityClock>,
    /// Target-tracking auto scaling applied to every provisioned table (both dimensions), as
    /// Application Auto Scaling would; `None`: off.
    pub autoscale: Option<crate::capacity::ScalingPolicy>,
    /// The capacity layer's partition limits and policies (`None`: DynamoDB's — 3,000 RCU /
    /// 1,000 WCU / 10 GB per partition, 300 s burst, adaptive capacity, split for heat).
    pub capacity_config: Option<crate::capacity::CapacityConfig>,
    /// Largest item collection (items sharing a partition key, plus their local-index
    /// entries) on a table with local secondary indexes; a write that would grow one past it
    /// fails with ItemCollectionSizeLimitExceededException. DynamoDB's limit is 10 GB.
    pub item_collection_limit_bytes: u64,
    /// How a new table's capacity partitions are laid out when its CreateTable carries no
    /// `hashlog:partitioning` tag (`hashlog serve --partitioning`); stored with the table.
    pub default_partitioning: crate::partition::PartitioningStrategy,
}

/// A shared capacity clock in [`DatabaseOptions`].
#[derive(Clone)]
pub struct CapacityClock(pub Arc<dyn crate::capacity::Clock>);

impl std::fmt::Debug for CapacityClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CapacityClock({} µs)", self.0.now_micros())
    }
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        DatabaseOptions {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            ttl_sweep_interval: None,
            ttl_deletes_per_sweep: 10_000,
            enforce_capacity: false,
            capacity_clock: None,
            autoscale: None,
            capacity_config: None,
            item_collection_limit_bytes: 10 * 1024 * 1024 * 1024,
            default_partitioning: crate::partition::PartitioningStrategy::HashSplit,
        }
    }
}

/// A DynamoDB-compatible database over a [`Kv`] store. `Send + Sync`: share it (in an `Arc`)
/// between every thread that serves requests.
pub struct Database {
    tables: Arc<Tables>,
    engine: Option<Arc<Engine>>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("tables", &self.tables)
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
    "Streams.ListStreams",
    "Streams.DescribeStream",
    "Streams.GetShardIterator",
    "Streams.GetRecords",
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
    "DescribeEndpoints",
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

/// The single-item writes [`Database::respond_staged`] stages.
pub const STAGED_OPERATIONS: &[&str] = &["PutItem", "UpdateItem", "DeleteItem"];

/// A request body as JSON, for an operation hashlog answers.
fn parse_body(operation: &str, body: &[u8]) -> Result<Value, ApiError> {
    if !SUPPORTED_OPERATIONS.contains(&operation) {
        return Err(
            // Every operation of the Streams API is implemented: another `Streams.` name is
            // unknown, as any other name is.
            if UNSUPPORTED_OPERATIONS.contains(&operation) {
                ApiError::validation(format!(
                    "Operation {operation} is not supported by hashlog yet"
                ))
            } else {
                ApiError::new(
                    ErrorCode::UnknownOperationException,
                    format!("Unknown operation {operation}"),
                )
            },
        );
    }
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|e| {
        // serde_json stops at 128 levels of JSON (64 of attribute values, each an object
        // in an object): a value nested that deep is past DynamoDB's 32 levels, and the
        // service's parser reads it and answers the nesting limit.
        if e.to_string().starts_with("recursion limit exceeded") {
            ApiError::validation(crate::limits::NESTING_DEPTH_MESSAGE)
        } else {
            ApiError::serialization(format!("Could not parse request body into json: {e}"))
        }
    })
}

/// The body's types, then its constraints, checked as DynamoDB checks them before it looks at
/// any value.
fn checked_request<'a>(operation: &str, raw: &'a Value) -> Result<Req<'a>, ApiError> {
    let r = Req::new(raw)?;
    // DynamoDB deserializes the whole body before it validates anything: a type error
    // anywhere is a SerializationException before any missing member is reported.
    types::check(operation, raw)?;
    shape::check(operation, &r)?;
    Ok(r)
}

impl Database {
    /// A database over any [`Kv`] store; loads the catalog persisted in its system keyspace.
    pub fn new(kv: Arc<dyn Kv>, opts: DatabaseOptions) -> Result<Database, ApiError> {
        Ok(Database {
            tables: Tables::open(kv, opts)?,
            engine: None,
        })
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

    /// PutItem, UpdateItem or DeleteItem ([`STAGED_OPERATIONS`]) for a thread that must not
    /// block: validated and decided here, the commit awaited through
    /// [`StagedWrite::Commit`], or finished on a blocking thread through
    /// [`StagedWrite::Blocking`] when it would have to wait (see `Tables::stage_write`).
    /// Answers exactly as [`Database::execute`]. Any other operation is executed here, as
    /// `execute` would (it may block).
    pub fn respond_staged(&self, operation: &str, body: &[u8]) -> StagedWrite {
        if !STAGED_OPERATIONS.contains(&operation) {
            return StagedWrite::Done(self.execute(operation, body));
        }
        let staged = parse_body(operation, body).and_then(|raw| {
            let r = checked_request(operation, &raw)?;
            Ok(self.tables.stage_write(operation, &r))
        });
        staged.unwrap_or_else(|e| StagedWrite::Done(Err(e)))
    }

    /// The tables and their data plane.
    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// Every operation [`Database::execute`] answers.
    pub fn supported_operations() -> &'static [&'static str] {
        SUPPORTED_OPERATIONS
    }

    /// Runs one DynamoDB operation (`PutItem`, ...) on a raw JSON request body.
    ///
    /// Malformed JSON, or JSON of the wrong shape, is a SerializationException; an operation
    /// DynamoDB does not have is an UnknownOperationException; one hashlog does not implement
    /// yet is a ValidationException naming it.
    pub fn execute(&self, operation: &str, body: &[u8]) -> Result<Value, ApiError> {
        self.respond(operation, body).and_then(Response::into_value)
    }

    /// [`Database::execute`], answering reads (GetItem, Query, Scan, BatchGetItem,
    /// TransactGetItems) with a [`ReadResponse`] that serialises straight from the items:
    /// `serde_json::to_vec` of the answer gives the bytes of `execute`'s `Value`, without
    /// building it. Errors are those of `execute`.
    pub fn respond(&self, operation: &str, body: &[u8]) -> Result<Response, ApiError> {
        let raw = parse_body(operation, body)?;
        let r = checked_request(operation, &raw)?;
        let t = &self.tables;
        let json = |r: Result<Value, ApiError>| r.map(Response::Json);
        let read = |r: Result<ReadResponse, ApiError>| r.map(Response::Read);
        match operation {
            "GetItem" => read(t.get_item(&r)),
            "Query" => read(t.query(&r)),
            "Scan" => read(t.scan(&r)),
            "BatchGetItem" => read(t.batch_get_item(&r)),
            "TransactGetItems" => read(t.transact_get_items(&r)),
            "CreateTable" => json(t.create_table(&r)),
            "DeleteTable" => json(t.delete_table(&r)),
            "DescribeTable" => json(t.describe_table(&r)),
            "ListTables" => json(t.list_tables(&r)),
            "UpdateTable" => json(t.update_table(&r)),
            "PutItem" => json(t.put_item(&r)),
            "UpdateItem" => json(t.update_item(&r)),
            "DeleteItem" => json(t.delete_item(&r)),
            "BatchWriteItem" => json(t.batch_write_item(&r)),
            "TransactWriteItems" => json(t.transact_write_items(&r)),
            "TagResource" => json(t.tag_resource(&r)),
            "UntagResource" => json(t.untag_resource(&r)),
            "ListTagsOfResource" => json(t.list_tags_of_resource(&r)),
            "UpdateTimeToLive" => json(t.update_time_to_live(&r)),
            "DescribeTimeToLive" => json(t.describe_time_to_live(&r)),
            "DescribeLimits" => Ok(Response::Json(t.describe_limits())),
            "Streams.ListStreams" => json(t.list_streams(&r)),
            "Streams.DescribeStream" => json(t.describe_stream(&r)),
            "Streams.GetShardIterator" => json(t.get_shard_iterator(&r)),
            "Streams.GetRecords" => json(t.get_records(&r)),
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

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Database>();
};
