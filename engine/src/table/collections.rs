//! Item-collection sizes of tables with local secondary indexes: the 10 GB limit
//! (ItemCollectionSizeLimitExceededException) and ItemCollectionMetrics.
//!
//! An item collection is every item sharing one partition key value plus those items' entries
//! in the table's local indexes. Its size is measured once, by scanning the collection in the
//! table and in each LSI, the first time a write touches it after open; from then on every
//! write *reserves* its size change under one mutex before it commits (a write that would take
//! the collection past the limit is refused before anything is written) and gives the
//! reservation back if it does not commit. So concurrent writers of one collection can never
//! together exceed the limit, and nothing on disk is needed beyond the items themselves.
//!
//! Memory: one entry per collection written since open, at most [`TRACKED_MAX`]; past that the
//! map is cleared and collections are re-measured on their next write.

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{json, Value};

use super::{storage, Table, Tables};
use crate::api::{ApiError, ErrorCode};
use crate::kv::SpaceId;
use crate::model::{item_size, item_to_json};

/// Most collections whose size is remembered.
const TRACKED_MAX: usize = 65_536;

/// Sizes of the item collections written since open, by (table keyspace, partition prefix).
pub(crate) type CollectionSizes = Arc<Mutex<HashMap<(SpaceId, Vec<u8>), u64>>>;

/// A write's reserved change of one collection's size; given back on drop unless committed.
#[must_use]
pub(crate) struct CollectionHold {
    sizes: CollectionSizes,
    key: (SpaceId, Vec<u8>),
    delta: i64,
    committed: bool,
}

impl CollectionHold {
    /// The write committed: its change stays counted.
    pub fn commit(mut self) {
        self.committed = true;
    }
}

impl Drop for CollectionHold {
    fn drop(&mut self) {
        if self.committed || self.delta == 0 {
            return;
        }
        if let Some(v) = self.sizes.lock().get_mut(&self.key) {
            *v = apply(*v, -self.delta);
        }
    }
}

fn apply(size: u64, delta: i64) -> u64 {
    if delta >= 0 {
        size.saturating_add(delta as u64)
    } else {
        size.saturating_sub(delta.unsigned_abs())
    }
}

/// The error of a write that would grow a collection past the limit.
pub(crate) fn collection_too_large() -> ApiError {
    ApiError::new(
        ErrorCode::ItemCollectionSizeLimitExceededException,
        "Collection size exceeded.",
    )
}

/// The partition prefix (`hash ‖ u16 length ‖ pk`) of a base storage key.
pub(crate) fn collection_prefix(key: &[u8]) -> &[u8] {
    let pk_len = key
        .get(8..10)
        .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
        .unwrap_or(0);
    &key[..(10 + pk_len).min(key.len())]
}

/// How many bytes a write adds to its item (negative when it shrinks or goes).
pub(crate) fn size_delta(
    old: Option<&crate::model::Item>,
    new: Option<&crate::model::Item>,
) -> i64 {
    new.map_or(0, |n| item_size(n) as i64) - old.map_or(0, |o| item_size(o) as i64)
}

/// Whether a table's writes are bound by the item-collection limit (it has an LSI).
pub(crate) fn has_collections(t: &Table) -> bool {
    t.indexes.iter().any(|i| !i.desc.global)
}

impl Tables {
    /// The size of the collection of base key `key`, measured by scanning it.
    fn measure_collection(&self, t: &Table, prefix: &[u8]) -> Result<u64, ApiError> {
        let upper = super::query::prefix_successor(prefix)
            .map(Bound::Excluded)
            .unwrap_or(Bound::Unbounded);
        let mut bytes = 0u64;
        let spaces = std::iter::once(t.space()).chain(
            t.indexes
                .iter()
                .filter(|i| !i.desc.global)
                .map(|i| i.space()),
        );
        for space in spaces {
            let it = self
                .kv
                .scan(
                    space,
                    Bound::Included(prefix.to_vec()),
                    upper.clone(),
                    false,
                )
                .map_err(storage)?;
            for kv in it {
                let (_, v) = kv.map_err(storage)?;
                bytes += item_size(&crate::model::decode_item(&v)?) as u64;
            }
        }
        Ok(bytes)
    }

    /// The current size of the collection holding base key `key` (table items plus LSI
    /// entries), including reserved changes of writes in flight.
    pub(crate) fn collection_size(&self, t: &Table, key: &[u8]) -> Result<u64, ApiError> {
        let prefix = collection_prefix(key);
        let mut map = self.collections.lock();
        if let Some(v) = map.get(&(t.space(), prefix.to_vec())) {
            return Ok(*v);
        }
        let v = self.measure_collection(t, prefix)?;
        if map.len() >= TRACKED_MAX {
            map.clear();
        }
        map.insert((t.space(), prefix.to_vec()), v);
        Ok(v)
    }

    /// Reserves a write's change (`delta` bytes, base item and LSI entries) of the collection
    /// holding `key`; fails with ItemCollectionSizeLimitExceededException when the write
    /// grows the collection past the limit. `None` for tables without LSIs.
    pub(crate) fn reserve_collection(
        &self,
        t: &Table,
        key: &[u8],
        delta: i64,
    ) -> Result<Option<CollectionHold>, ApiError> {
        if !has_collections(t) {
            return Ok(None);
        }
        let prefix = collection_prefix(key).to_vec();
        let k = (t.space(), prefix);
        let mut map = self.collections.lock();
        let current = match map.get(&k) {
            Some(v) => *v,
            None => {
                let v = self.measure_collection(t, &k.1)?;
                if map.len() >= TRACKED_MAX {
                    map.clear();
                }
                v
            }
        };
        let after = apply(current, delta);
        if delta > 0 && after > self.opts.item_collection_limit_bytes {
            map.insert(k, current);
            return Err(collection_too_large());
        }
        map.insert(k.clone(), after);
        Ok(Some(CollectionHold {
            sizes: Arc::clone(&self.collections),
            key: k,
            delta,
            committed: false,
        }))
    }

    /// ItemCollectionMetrics of the collection holding base key `key` (tables with LSIs only):
    /// its partition key and DynamoDB's 1 GB-wide size estimate.
    pub(crate) fn collection_metrics(
        &self,
        t: &Table,
        key: &[u8],
    ) -> Result<Option<Value>, ApiError> {
        if !has_collections(t) {
            return Ok(None);
        }
        let bytes = self.collection_size(t, key)?;
        let gb = (bytes as f64 / (1u64 << 30) as f64).floor();
        let mut item_key = t.schema.decode_user_key(key)?;
        if let Some(s) = &t.schema.sort {
            item_key.remove(&s.name);
        }
        Ok(Some(json!({
            "ItemCollectionKey": item_to_json(&item_key),
            "SizeEstimateRangeGB": [gb, gb + 1.0],
        })))
    }

    /// Forgets the collections of a deleted table.
    pub(crate) fn collections_dropped(&self, space: SpaceId) {
        self.collections.lock().retain(|(s, _), _| *s != space);
    }
}

/// ItemCollectionMetrics of a multi-item write (BatchWriteItem, TransactWriteItems): per
/// table, one entry per distinct collection written.
pub(crate) fn metrics_by_table(
    tables: &Tables,
    written: &[(Arc<Table>, Vec<u8>)],
) -> Result<Option<Value>, ApiError> {
    let mut out = serde_json::Map::new();
    let mut seen = std::collections::HashSet::new();
    for (t, key) in written {
        if !has_collections(t) || !seen.insert((t.space(), collection_prefix(key).to_vec())) {
            continue;
        }
        if let Some(m) = tables.collection_metrics(t, key)? {
            if let Value::Array(a) = out
                .entry(t.name().to_string())
                .or_insert_with(|| Value::Array(Vec::new()))
            {
                a.push(m);
            }
        }
    }
    Ok((!out.is_empty()).then_some(Value::Object(out)))
}
