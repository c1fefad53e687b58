//! DynamoDB's tables and data plane over a [`Kv`] store.
//!
//! [`Tables`] holds the catalog (table descriptions persisted in [`crate::kv::SYSTEM_SPACE`],
//! each table in its own keyspace) and answers every table and item operation on a parsed
//! request ([`crate::api::Database`] is the JSON front door that dispatches here):
//!
//! - `catalog`: CreateTable, DeleteTable, DescribeTable, ListTables, UpdateTable, tags, TTL.
//! - `items`: PutItem, GetItem, UpdateItem, DeleteItem, with conditions and ReturnValues.
//! - `query`: Query and Scan with DynamoDB's paging (Limit before the filter, 1 MB pages).
//! - `batch`: BatchGetItem and BatchWriteItem.
//! - `transact`: TransactWriteItems (all-or-nothing in one write batch, idempotent by
//!   ClientRequestToken) and TransactGetItems (one snapshot).
//!
//! Concurrency: a read–check–write on one item holds that item's lock stripe ([`KeyLocks`])
//! from the read to the durable write, so conditional writes and updates are linearizable per
//! item; a transaction or batch locks every stripe it touches in ascending order, so two of
//! them never deadlock.

mod batch;
mod capacity;
pub mod catalog;
pub(crate) mod collections;
pub mod index;
mod items;
mod locks;
mod query;
pub mod streams;
mod throttle;
mod transact;
mod ttl;

#[cfg(test)]
mod index_tests;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod partitioning_tests;
#[cfg(test)]
mod staged_tests;
#[cfg(test)]
mod stream_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Weak};

use parking_lot::{Mutex, RwLock};

pub use catalog::TableDesc;
pub use index::{Index, IndexDesc};
pub use items::StagedWrite;
pub use locks::KeyLocks;
pub use ttl::SweepStats;

use crate::api::{ApiError, DatabaseOptions, ReadItem};
use crate::error::StorageError;
use crate::kv::{Kv, SpaceId, SpaceStats};
use crate::model::{
    canonical_size, decode_item, item_size, validate_table_name, Item, KeySchema, StoredItem,
};

/// A table as the data plane uses it: its persisted description plus the parsed key schema.
#[derive(Debug, Clone)]
pub struct Table {
    pub desc: TableDesc,
    pub schema: KeySchema,
    /// Local and global secondary indexes, in the order the catalog lists them.
    pub indexes: Vec<Index>,
}

impl Table {
    /// A table from its catalog description.
    pub fn from_desc(desc: TableDesc) -> Result<Table, ApiError> {
        let schema = desc.schema()?;
        let indexes = desc
            .indexes
            .iter()
            .cloned()
            .map(Index::new)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Table {
            desc,
            schema,
            indexes,
        })
    }

    /// The index named `name`.
    pub fn index(&self, name: &str) -> Option<&Index> {
        self.indexes.iter().find(|i| i.name() == name)
    }

    pub fn name(&self) -> &str {
        &self.desc.name
    }
    pub fn space(&self) -> SpaceId {
        self.desc.space
    }
}

/// Every table of a database and the machinery their operations share.
pub struct Tables {
    pub(crate) kv: Arc<dyn Kv>,
    pub(crate) opts: DatabaseOptions,
    pub(crate) catalog: RwLock<BTreeMap<String, Arc<Table>>>,
    /// Deleted tables whose streams are still readable (24 hours, as in DynamoDB).
    pub(crate) deleted: RwLock<Vec<Arc<Table>>>,
    /// Serializes catalog changes (create, delete, update, tag) against each other.
    pub(crate) catalog_lock: Mutex<()>,
    pub(crate) locks: KeyLocks,
    pub(crate) tokens: transact::TokenCache,
    /// Capacity controllers of the tables used since open, by keyspace.
    pub(crate) capacity:
        RwLock<rustc_hash::FxHashMap<SpaceId, Arc<crate::capacity::TableCapacity>>>,
    /// Auto-scaling state per provisioned table (when `opts.autoscale` is set).
    pub(crate) scalers: Mutex<rustc_hash::FxHashMap<SpaceId, crate::capacity::AutoScaler>>,
    /// Sequence-number state of every stream written or read since open.
    pub(crate) streams: streams::StreamStates,
    /// Item-collection sizes of tables with local indexes (the 10 GB limit).
    pub(crate) collections: collections::CollectionSizes,
    /// This value's own `Arc`, for background work (index backfills) that outlives a call.
    pub(crate) me: Weak<Tables>,
}

impl std::fmt::Debug for Tables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tables")
            .field("tables", &self.catalog.read().len())
            .finish()
    }
}

/// `ResourceNotFoundException` as item operations report a missing table.
pub(crate) fn resource_not_found() -> ApiError {
    ApiError::not_found("Requested resource not found")
}

/// Maps a storage failure of a data-plane call: a keyspace that vanished under the call means
/// its table was deleted concurrently.
pub(crate) fn storage(e: StorageError) -> ApiError {
    match e {
        StorageError::NoSuchSpace(_) => resource_not_found(),
        e => ApiError::from(e),
    }
}

/// Tables and indexes of at most this many stored versions (live items, overwritten versions
/// and deletions not yet compacted away) are counted exactly for DescribeTable; larger ones are
/// described by the store's estimate (DynamoDB refreshes ItemCount and TableSizeBytes only
/// about every six hours).
pub const EXACT_COUNT_VERSIONS_MAX: u64 = 20_000;

impl Tables {
    /// ItemCount and size as DescribeTable shows them: the live items counted and their sizes
    /// summed (DynamoDB's item size) while the space is small, else the store's estimate,
    /// which also counts versions not yet compacted away and sizes them as stored.
    pub(crate) fn described_stats(&self, space: SpaceId) -> SpaceStats {
        let approx = self.kv.space_stats(space).unwrap_or_default();
        if approx.approximate_keys > EXACT_COUNT_VERSIONS_MAX {
            return approx;
        }
        let Ok(iter) = self
            .kv
            .scan(space, Bound::Unbounded, Bound::Unbounded, false)
        else {
            return approx;
        };
        let mut live = SpaceStats::default();
        for entry in iter {
            match entry {
                Ok((k, v)) => {
                    live.approximate_keys += 1;
                    let size = crate::model::canonical_size(&v).unwrap_or(k.len() + v.len());
                    live.approximate_bytes += size as u64;
                }
                Err(_) => return approx,
            }
        }
        live
    }
    /// Loads the catalog from the system keyspace, and resumes the backfill of every index a
    /// crash interrupted.
    pub fn open(kv: Arc<dyn Kv>, opts: DatabaseOptions) -> Result<Arc<Tables>, ApiError> {
        let loaded = catalog::load_all(kv.as_ref())?;
        let deleted = catalog::load_deleted(kv.as_ref())?;
        let tables = Arc::new_cyclic(|me| Tables {
            kv,
            opts,
            catalog: RwLock::new(loaded),
            deleted: RwLock::new(deleted),
            catalog_lock: Mutex::new(()),
            locks: KeyLocks::new(),
            tokens: transact::TokenCache::default(),
            streams: Default::default(),
            collections: Default::default(),
            capacity: RwLock::new(Default::default()),
            scalers: Mutex::new(Default::default()),
            me: me.clone(),
        });
        let pending: Vec<(String, String)> = tables
            .catalog
            .read()
            .values()
            .flat_map(|t| {
                t.indexes
                    .iter()
                    .filter(|i| i.desc.backfilling)
                    .map(|i| (t.name().to_string(), i.name().to_string()))
                    .collect::<Vec<_>>()
            })
            .collect();
        for (t, i) in pending {
            tables.spawn_backfill(t, i);
        }
        if tables.opts.autoscale.is_some() && tables.opts.enforce_capacity {
            let me = Arc::downgrade(&tables);
            let started = std::thread::Builder::new()
                .name("hashlog-autoscale".into())
                .spawn(move || loop {
                    for _ in 0..100 {
                        std::thread::sleep(std::time::Duration::from_millis(100));
                        if me.strong_count() == 0 {
                            return;
                        }
                    }
                    let Some(t) = me.upgrade() else {
                        return;
                    };
                    t.autoscale_once();
                });
            if let Err(e) = started {
                eprintln!("hashlog: could not start auto scaling: {e}");
            }
        }
        if let Some(every) = tables.opts.ttl_sweep_interval {
            Tables::start_sweeper(
                Arc::downgrade(&tables),
                every,
                tables.opts.ttl_deletes_per_sweep.max(1),
            );
        }
        Ok(tables)
    }

    /// Runs [`Tables::backfill`] on a thread of its own.
    pub(crate) fn spawn_backfill(&self, table: String, index: String) {
        let Some(me) = self.me.upgrade() else {
            return;
        };
        let started = std::thread::Builder::new()
            .name("hashlog-backfill".into())
            .spawn(move || {
                if let Err(e) = me.backfill(&table, &index) {
                    // The index stays CREATING; the next open resumes the backfill.
                    eprintln!(
                        "hashlog: backfill of index {index} on table {table} failed: {}",
                        e.message
                    );
                }
            });
        if let Err(e) = started {
            eprintln!("hashlog: could not start an index backfill: {e}");
        }
    }

    /// Names of every table, in order.
    pub fn table_names(&self) -> Vec<String> {
        self.catalog.read().keys().cloned().collect()
    }

    /// How a table's capacity partitions are laid out (chosen at CreateTable); `None` when
    /// there is no such table.
    pub fn partitioning(&self, table: &str) -> Option<crate::partition::PartitioningStrategy> {
        self.catalog.read().get(table).map(|t| t.desc.partitioning)
    }

    /// The table a data-plane call of `op` names (by name or ARN, see
    /// [`Tables::resolve_name`]): the name is validated first (DynamoDB's constraint message),
    /// then looked up ("Requested resource not found").
    pub(crate) fn table(&self, name: &str, op: &str) -> Result<Arc<Table>, ApiError> {
        let name = self.resolve_name(name, op)?;
        validate_table_name(name, "tableName")?;
        self.catalog
            .read()
            .get(name)
            .cloned()
            .ok_or_else(resource_not_found)
    }

    /// The table name a TableName member of a call of `op` holds: DynamoDB accepts the table's
    /// ARN (`arn:<partition>:dynamodb:<region>:<account>:table/<name>`) wherever it accepts a
    /// table name. An ARN that is not a table ARN (an index or stream ARN, another service,
    /// too few parts), or one of another region, is a ValidationException; a table of another
    /// account is an AccessDeniedException, as a caller without a resource policy granting
    /// access gets from DynamoDB. Anything not starting `arn:` is a name, returned as is.
    pub(crate) fn resolve_name<'n>(&self, name: &'n str, op: &str) -> Result<&'n str, ApiError> {
        if !name.starts_with("arn:") {
            return Ok(name);
        }
        let invalid = || {
            ApiError::validation(format!(
                "Invalid TableArn: Invalid ResourceArn provided as input {name}"
            ))
        };
        let parts: Vec<&str> = name.splitn(6, ':').collect();
        let [_, partition, service, region, account, resource] = parts.as_slice() else {
            return Err(invalid());
        };
        let table = resource.strip_prefix("table/").ok_or_else(invalid)?;
        if partition.is_empty() || *service != "dynamodb" || table.is_empty() || table.contains('/')
        {
            return Err(invalid());
        }
        if *region != self.opts.region {
            return Err(invalid());
        }
        if *account != self.opts.account_id {
            return Err(ApiError::new(
                crate::api::ErrorCode::AccessDeniedException,
                format!(
                    "User: arn:aws:iam::{}:root is not authorized to perform: dynamodb:{op} on resource: {name} because no resource-based policy allows the dynamodb:{op} action",
                    self.opts.account_id
                ),
            ));
        }
        Ok(table)
    }

    /// The current item stored under `key`, if any.
    pub(crate) fn load(&self, t: &Table, key: &[u8]) -> Result<Option<Item>, ApiError> {
        match self.kv.get(t.space(), key).map_err(storage)? {
            Some(b) => Ok(Some(decode_item(&b)?)),
            None => Ok(None),
        }
    }

    /// The size of the item stored under `key` (DynamoDB's rules), if there is one, read
    /// from its stored bytes without decoding them where they are canonical
    /// ([`canonical_size`]); other bytes are decoded (giving `decode_item`'s error).
    pub(crate) fn load_size(&self, t: &Table, key: &[u8]) -> Result<Option<usize>, ApiError> {
        match self.kv.get(t.space(), key).map_err(storage)? {
            Some(b) => match canonical_size(&b) {
                Some(size) => Ok(Some(size)),
                None => Ok(Some(item_size(&decode_item(&b)?))),
            },
            None => Ok(None),
        }
    }

    /// The current item stored under `key`, to be returned whole, with its size (see
    /// [`read_item`]).
    pub(crate) fn load_whole(
        &self,
        t: &Table,
        key: &[u8],
    ) -> Result<Option<(ReadItem, usize)>, ApiError> {
        match self.kv.get(t.space(), key).map_err(storage)? {
            Some(b) => Ok(Some(read_item(b)?)),
            None => Ok(None),
        }
    }
}

/// A stored item to be returned whole, with its size: kept as its bytes when they are
/// canonical (answered without decoding), else decoded, which gives `decode_item`'s error for
/// bytes that do not decode.
pub(crate) fn read_item(bytes: Vec<u8>) -> Result<(ReadItem, usize), ApiError> {
    match StoredItem::new(bytes) {
        Ok((stored, size)) => Ok((ReadItem::Stored(stored), size)),
        Err(bytes) => {
            let item = decode_item(&bytes)?;
            let size = item_size(&item);
            Ok((ReadItem::Decoded(item), size))
        }
    }
}
