//! Secondary indexes: local (LSI: the table's partition key, another sort key) and global (GSI:
//! any partition and sort key), each stored in a keyspace of its own and maintained in the same
//! atomic write batch as the base write that changes it (one WAL record), so an index never
//! disagrees with its table, not even across a crash.
//!
//! Index entry key (in the index's keyspace):
//! `partition_prefix(index pk)` ‖ [`escape(index sk bytes)` ‖ `00 00`] ‖ `base storage key`.
//! The escape doubles every `00` byte as `00 FF`, so `00 00` ends the sort key and entries still
//! order by the index sort key first (as DynamoDB orders an index partition), then by the base
//! key, which makes entries of items sharing an index key distinct. The value is the projected
//! item (KEYS_ONLY: table and index keys; INCLUDE: plus NonKeyAttributes; ALL: everything),
//! encoded as items are.
//!
//! An item without every index key attribute is not in the index (sparse indexes); an item whose
//! index key attribute has the wrong type or is an empty string/binary is rejected, as DynamoDB
//! rejects it.

use std::collections::BTreeMap;
use std::ops::Bound;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use std::sync::Arc;

use super::capacity::Consumed;
use super::{storage, Table, Tables};
use crate::api::request::{constraint, Req};
use crate::api::ApiError;
use crate::capacity::units::{item_write_units, WriteKind};
use crate::kv::{KvWrite, SpaceId};
use crate::model::{encode_item, item_size, AttributeValue, Item, KeyAttr, KeySchema, ScalarType};

/// Local secondary indexes a table may have.
pub const LSI_PER_TABLE_MAX: usize = 5;
/// Global secondary indexes a table may have.
pub const GSI_PER_TABLE_MAX: usize = 20;
/// Distinct NonKeyAttributes over every index of a table.
pub const PROJECTED_ATTRIBUTES_MAX: usize = 100;

/// What the catalog stores of an index.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IndexDesc {
    pub name: String,
    /// Global (own partition key, eventually consistent reads only) or local.
    pub global: bool,
    pub space: SpaceId,
    pub partition_key: (String, String),
    pub sort_key: Option<(String, String)>,
    /// "ALL", "KEYS_ONLY" or "INCLUDE".
    pub projection: String,
    #[serde(default)]
    pub non_key_attributes: Vec<String>,
    #[serde(default)]
    pub read_capacity: i64,
    #[serde(default)]
    pub write_capacity: i64,
    /// A GSI added by UpdateTable is CREATING while existing items are copied into it.
    #[serde(default)]
    pub backfilling: bool,
}

/// An index as the data plane uses it.
#[derive(Debug, Clone)]
pub struct Index {
    pub desc: IndexDesc,
    pub schema: KeySchema,
}

fn scalar(name: &str, ty: &str) -> Result<KeyAttr, ApiError> {
    let ty = ScalarType::parse(ty)
        .ok_or_else(|| ApiError::internal(format!("index key {name} has type {ty}")))?;
    Ok(KeyAttr {
        name: name.to_string(),
        ty,
    })
}

/// `00` → `00 FF`, then the `00 00` terminator: order-preserving and self-delimiting.
fn escape_into(out: &mut Vec<u8>, b: &[u8]) {
    for &x in b {
        out.push(x);
        if x == 0 {
            out.push(0xFF);
        }
    }
}

impl Index {
    pub fn new(desc: IndexDesc) -> Result<Index, ApiError> {
        let schema = KeySchema {
            partition: scalar(&desc.partition_key.0, &desc.partition_key.1)?,
            sort: match &desc.sort_key {
                Some((n, t)) => Some(scalar(n, t)?),
                None => None,
            },
        };
        Ok(Index { desc, schema })
    }

    pub fn name(&self) -> &str {
        &self.desc.name
    }

    pub fn space(&self) -> SpaceId {
        self.desc.space
    }

    pub fn projects_all(&self) -> bool {
        self.desc.projection == "ALL"
    }

    /// Whether an attribute is stored in the index's entries.
    pub fn projects(&self, base: &KeySchema, name: &str) -> bool {
        self.projects_all()
            || base.is_key_attribute(name)
            || self.schema.is_key_attribute(name)
            || self.desc.non_key_attributes.iter().any(|a| a == name)
    }

    /// The index key value of `item` for one key attribute: `None` when absent, an error when
    /// of the wrong type or empty.
    fn key_value<'i>(
        &self,
        attr: &KeyAttr,
        item: &'i Item,
    ) -> Result<Option<&'i AttributeValue>, ApiError> {
        let Some(v) = item.get(&attr.name) else {
            return Ok(None);
        };
        if v.type_descriptor() != attr.ty.as_str() {
            return Err(ApiError::validation(format!(
                "One or more parameter values were invalid: Type mismatch for Index Key {} Expected: {} Actual: {} IndexName: {}",
                attr.name,
                attr.ty.as_str(),
                v.type_descriptor(),
                self.name()
            )));
        }
        let empty = match v {
            AttributeValue::S(s) => s.is_empty().then_some("string"),
            AttributeValue::B(b) => b.is_empty().then_some("binary"),
            _ => None,
        };
        if let Some(kind) = empty {
            return Err(ApiError::validation(format!(
                "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty {kind} value. IndexName: {}, IndexKey: {}",
                self.name(),
                attr.name
            )));
        }
        Ok(Some(v))
    }

    /// The entry key of `item` (stored under `base_key`), or `None` when the item lacks an
    /// index key attribute.
    pub fn entry_key(&self, item: &Item, base_key: &[u8]) -> Result<Option<Vec<u8>>, ApiError> {
        let Some(pk) = self.key_value(&self.schema.partition, item)? else {
            return Ok(None);
        };
        let sk = match &self.schema.sort {
            Some(attr) => match self.key_value(attr, item)? {
                Some(v) => Some(v),
                None => return Ok(None),
            },
            None => None,
        };
        let mut k = self.schema.partition_prefix(pk)?;
        if let Some(v) = sk {
            escape_into(&mut k, &self.schema.stored_sort_key_bytes(v)?);
            k.extend_from_slice(&[0, 0]);
        }
        k.extend_from_slice(base_key);
        Ok(Some(k))
    }

    /// The part of `item` the index stores.
    pub fn project(&self, base: &KeySchema, item: &Item) -> Item {
        if self.projects_all() {
            return item.clone();
        }
        item.iter()
            .filter(|(n, _)| self.projects(base, n))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect()
    }

    /// Every entry whose index sort key equals the value with sort-key bytes `skb`, under the
    /// partition prefix `prefix`: `[lo, hi)`.
    pub fn sort_eq_range(prefix: &[u8], skb: &[u8]) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
        let mut lo = prefix.to_vec();
        escape_into(&mut lo, skb);
        let mut hi = lo.clone();
        lo.extend_from_slice(&[0, 0]);
        hi.extend_from_slice(&[0, 1]);
        (Bound::Included(lo), Bound::Excluded(hi))
    }

    /// The prefix of every entry whose index sort key begins with the bytes `skb`.
    pub fn sort_prefix(prefix: &[u8], skb: &[u8]) -> Vec<u8> {
        let mut p = prefix.to_vec();
        escape_into(&mut p, skb);
        p
    }

    /// The `LastEvaluatedKey` of an entry: the table's and the index's key attributes.
    pub fn last_key(&self, base: &KeySchema, item: &Item) -> Item {
        item.iter()
            .filter(|(n, _)| base.is_key_attribute(n) || self.schema.is_key_attribute(n))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect()
    }

    /// The entry key an `ExclusiveStartKey` names: the table's key attributes plus the index's.
    pub fn start_key(&self, base: &KeySchema, esk: &Item) -> Result<Vec<u8>, ApiError> {
        let invalid =
            |m: &str| ApiError::validation(format!("The provided starting key is invalid: {m}"));
        // Missing or extra attributes: DynamoDB's bare "invalid", as for a table's start key.
        let shape = || ApiError::validation("The provided starting key is invalid");
        let mut base_key = Item::new();
        for n in base.names() {
            let v = esk.get(n).ok_or_else(shape)?;
            base_key.insert(n.to_string(), v.clone());
        }
        let bk = base.key_of(&base_key).map_err(|e| invalid(&e.message))?;
        let expected = base_key.len()
            + self
                .schema
                .names()
                .iter()
                .filter(|n| !base.is_key_attribute(n))
                .count();
        if esk.len() != expected {
            return Err(shape());
        }
        self.entry_key(esk, &bk)?
            .ok_or_else(|| invalid("The provided key element does not match the schema"))
    }

    /// The index as DescribeTable shows it.
    pub fn describe(
        &self,
        table_arn: &str,
        billing_provisioned: bool,
        size_bytes: u64,
        item_count: u64,
    ) -> Value {
        let mut projection = json!({"ProjectionType": self.desc.projection});
        if !self.desc.non_key_attributes.is_empty() {
            projection["NonKeyAttributes"] = json!(self.desc.non_key_attributes);
        }
        let mut d = json!({
            "IndexName": self.desc.name,
            "KeySchema": self.schema.to_json(),
            "Projection": projection,
            "IndexSizeBytes": size_bytes,
            "ItemCount": item_count,
            "IndexArn": format!("{table_arn}/index/{}", self.desc.name),
        });
        if self.desc.global {
            d["IndexStatus"] = json!(if self.desc.backfilling {
                "CREATING"
            } else {
                "ACTIVE"
            });
            if self.desc.backfilling {
                d["Backfilling"] = json!(true);
            }
            d["ProvisionedThroughput"] = if billing_provisioned {
                json!({
                    "NumberOfDecreasesToday": 0,
                    "ReadCapacityUnits": self.desc.read_capacity,
                    "WriteCapacityUnits": self.desc.write_capacity,
                })
            } else {
                json!({
                    "NumberOfDecreasesToday": 0,
                    "ReadCapacityUnits": 0,
                    "WriteCapacityUnits": 0,
                })
            };
        }
        d
    }
}

/// An index's partition key and optional sort key: (attribute name, type).
pub(crate) type IndexKeys = ((String, String), Option<(String, String)>);

/// One index definition of a CreateTable or UpdateTable request, validated on its own (the
/// cross-checks against the table are [`check_indexes`]).
pub(crate) struct IndexSpec {
    pub name: String,
    pub keys: Vec<(String, String)>,
    pub projection: String,
    pub non_key_attributes: Vec<String>,
    pub throughput: Option<(i64, i64)>,
    /// What is wrong with the Projection beyond its constraints (no ProjectionType,
    /// NonKeyAttributes that do not fit it): DynamoDB reports it only after the index's key
    /// schema and attribute definitions, so [`spec_schema`] does.
    projection_error: Option<String>,
}

fn invalid(detail: impl std::fmt::Display) -> ApiError {
    ApiError::validation(format!(
        "One or more parameter values were invalid: {detail}"
    ))
}

/// Parses one `GlobalSecondaryIndexes` / `LocalSecondaryIndexes` element (or a GSI `Create`
/// update); `path` is the member path DynamoDB names in constraint messages.
pub(crate) fn parse_spec(
    v: &Value,
    path: &str,
    global: bool,
    parse_throughput: impl Fn(&serde_json::Map<String, Value>, &str) -> Result<(i64, i64), ApiError>,
) -> Result<IndexSpec, ApiError> {
    let r = Req::new(v)?;
    let name = r
        .str("IndexName")?
        .ok_or_else(|| Req::missing_at(&format!("{path}.indexName")))?;
    let n = name.chars().count();
    if n < 3 {
        return Err(constraint(
            name,
            &format!("{path}.indexName"),
            "Member must have length greater than or equal to 3",
        ));
    }
    if n > 255 {
        return Err(constraint(
            name,
            &format!("{path}.indexName"),
            "Member must have length less than or equal to 255",
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(constraint(
            name,
            &format!("{path}.indexName"),
            "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        ));
    }
    let ks = r
        .array("KeySchema")?
        .ok_or_else(|| Req::missing_at(&format!("{path}.keySchema")))?;
    // DynamoDB's GSIs take up to four HASH and four RANGE attributes (multi-attribute
    // keys); hashlog's indexes have one of each.
    let hashes = ks
        .iter()
        .filter(|k| k.get("KeyType").and_then(Value::as_str) == Some("HASH"))
        .count();
    if global && ((3..=8).contains(&ks.len()) || (ks.len() == 2 && hashes == 2)) {
        return Err(ApiError::validation(format!(
            "Multi-attribute keys in global secondary indexes are not supported by hashlog \
             yet (index {name} has {} key attributes)",
            ks.len()
        )));
    }
    if ks.is_empty() || ks.len() > 2 {
        return Err(constraint(
            &format!("{} elements", ks.len()),
            &format!("{path}.keySchema"),
            if ks.is_empty() {
                "Member must have length greater than or equal to 1"
            } else {
                "Member must have length less than or equal to 2"
            },
        ));
    }
    let mut keys = Vec::with_capacity(ks.len());
    for (i, k) in ks.iter().enumerate() {
        let kr = Req::new(k)?;
        let at = |f: &str| format!("{path}.keySchema.{}.member.{f}", i + 1);
        let an = kr
            .str("AttributeName")?
            .ok_or_else(|| Req::missing_at(&at("attributeName")))?;
        let kt = kr
            .str("KeyType")?
            .ok_or_else(|| Req::missing_at(&at("keyType")))?;
        if kt != "HASH" && kt != "RANGE" {
            return Err(constraint(
                kt,
                &at("keyType"),
                "Member must satisfy enum value set: [HASH, RANGE]",
            ));
        }
        keys.push((an.to_string(), kt.to_string()));
    }
    let proj = r
        .object("Projection")?
        .ok_or_else(|| Req::missing_at(&format!("{path}.projection")))?;
    let pr = Req { obj: proj };
    let projection_type = pr.enum_str("ProjectionType", &["ALL", "INCLUDE", "KEYS_ONLY"])?;
    let mut non_key_attributes = Vec::new();
    let non_key = pr.array("NonKeyAttributes")?;
    if let Some(list) = non_key {
        if list.is_empty() {
            return Err(constraint(
                "[]",
                &format!("{path}.projection.nonKeyAttributes"),
                "Member must have length greater than or equal to 1",
            ));
        }
        for a in list {
            match a {
                Value::String(s) => {
                    if !non_key_attributes.contains(s) {
                        non_key_attributes.push(s.clone());
                    }
                }
                other => return Err(Req::type_error(other, "String")),
            }
        }
    }
    let projection_error = match (projection_type, non_key.is_some()) {
        (None, _) => Some("Unknown ProjectionType: null".to_string()),
        (Some(p), true) if p != "INCLUDE" => Some(format!(
            "ProjectionType is {p}, but NonKeyAttributes is specified"
        )),
        (Some("INCLUDE"), false) => {
            Some("ProjectionType is INCLUDE, but NonKeyAttributes is not specified".to_string())
        }
        _ => None,
    };
    let projection = projection_type.unwrap_or_default().to_string();
    let throughput = match r.object("ProvisionedThroughput")? {
        Some(pt) => Some(parse_throughput(
            pt,
            &format!("{path}.provisionedThroughput"),
        )?),
        None => None,
    };
    Ok(IndexSpec {
        name: name.to_string(),
        keys,
        projection,
        non_key_attributes,
        throughput,
        projection_error,
    })
}

/// The key schema of an index spec, checked against the attribute definitions (and, for an
/// LSI, against the table's key schema), then the rest of its Projection's checks: DynamoDB
/// names a bad key schema before a missing ProjectionType (the recorded CreateTable cases).
pub(crate) fn spec_schema(
    spec: &IndexSpec,
    defs: &[(String, String)],
    table: &KeySchema,
    local: bool,
) -> Result<IndexKeys, ApiError> {
    let def_names: Vec<&str> = defs.iter().map(|(n, _)| n.as_str()).collect();
    if spec
        .keys
        .iter()
        .any(|(n, _)| !def_names.contains(&n.as_str()))
    {
        return Err(invalid(format!(
            "Some index key attributes are not defined in AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]",
            spec.keys.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", "),
            def_names.join(", ")
        )));
    }
    if spec.keys.len() == 2 && spec.keys[0].0 == spec.keys[1].0 {
        return Err(ApiError::validation(
            "Both the Hash Key and the Range Key element in the KeySchema have the same name",
        ));
    }
    if spec.keys[0].1 != "HASH" {
        return Err(ApiError::validation(
            "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
        ));
    }
    if spec.keys.len() == 2 && spec.keys[1].1 != "RANGE" {
        return Err(ApiError::validation(
            "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type",
        ));
    }
    if local {
        if spec.keys.len() != 2 {
            return Err(invalid(format!(
                "Index KeySchema does not have a range key for index: {}",
                spec.name
            )));
        }
        if spec.keys[0].0 != table.partition.name {
            return Err(invalid(format!(
                "Index KeySchema does not have the same leading hash key as table KeySchema for index: {}. index hash key: {}, table hash key: {}",
                spec.name, spec.keys[0].0, table.partition.name
            )));
        }
    }
    if let Some(detail) = &spec.projection_error {
        return Err(invalid(detail));
    }
    let ty = |n: &str| -> String {
        defs.iter()
            .find(|(a, _)| a == n)
            .map(|(_, t)| t.clone())
            .unwrap_or_default()
    };
    let pk = (spec.keys[0].0.clone(), ty(&spec.keys[0].0));
    let sk = spec.keys.get(1).map(|(n, _)| (n.clone(), ty(n)));
    Ok((pk, sk))
}

/// Checks that apply across every index of a table: distinct names, distinct NonKeyAttributes
/// within the per-table limit, and no index key used as a NonKeyAttribute.
pub(crate) fn check_indexes(all: &[&IndexDesc]) -> Result<(), ApiError> {
    let mut names: Vec<&str> = Vec::new();
    let mut projected: BTreeMap<&str, ()> = BTreeMap::new();
    for ix in all {
        if names.contains(&ix.name.as_str()) {
            return Err(invalid(format!("Duplicate index name: {}", ix.name)));
        }
        names.push(&ix.name);
        for a in &ix.non_key_attributes {
            projected.insert(a, ());
        }
    }
    if projected.len() > PROJECTED_ATTRIBUTES_MAX {
        return Err(ApiError::new(
            crate::api::ErrorCode::LimitExceededException,
            format!(
                "One or more parameter values were invalid: Number of projected attributes in all indexes exceeds limit of {PROJECTED_ATTRIBUTES_MAX}, number of projected attributes:{}",
                projected.len()
            ),
        ));
    }
    Ok(())
}

/// One item's write: its storage key, and the item before and after (`None`: absent).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Change<'a> {
    pub base_key: &'a [u8],
    pub old: Option<&'a Item>,
    pub new: Option<&'a Item>,
}

impl Tables {
    /// The table as the catalog holds it now. Writers call this under their item locks, so an
    /// index created after the writer looked its table up is still maintained (the backfill
    /// takes the same locks after the index is installed).
    pub(crate) fn current(&self, t: &Arc<Table>) -> Arc<Table> {
        match self.catalog.read().get(t.name()) {
            Some(c) if c.space() == t.space() => Arc::clone(c),
            _ => Arc::clone(t),
        }
    }

    /// Appends the writes that bring every index of `t` from `old` to `new` (the item stored
    /// under `base_key`), and charges them: one write unit per KB of the projected entry put,
    /// and one per KB of an entry removed, as DynamoDB charges index maintenance. Returns how
    /// many bytes the change adds to the local indexes' entries (negative when they shrink),
    /// for the item-collection size.
    pub(crate) fn index_writes(
        &self,
        t: &Table,
        change: Change<'_>,
        kind: WriteKind,
        writes: &mut Vec<KvWrite>,
        consumed: &mut Consumed,
    ) -> Result<i64, ApiError> {
        let Change { base_key, old, new } = change;
        let mut local_delta = 0i64;
        for ix in gsis_first(t) {
            // An old item the index cannot hold (it predates the index) simply is not in it.
            let old_entry = match old {
                Some(o) => ix
                    .entry_key(o, base_key)
                    .ok()
                    .flatten()
                    .map(|k| (k, ix.project(&t.schema, o))),
                None => None,
            };
            let new_entry = match new {
                Some(n) => ix
                    .entry_key(n, base_key)?
                    .map(|k| (k, ix.project(&t.schema, n))),
                None => None,
            };
            if old_entry == new_entry {
                continue;
            }
            if !ix.desc.global {
                let size = |e: &Option<(Vec<u8>, Item)>| {
                    e.as_ref().map_or(0, |(_, i)| item_size(i) as i64)
                };
                local_delta += size(&new_entry) - size(&old_entry);
            }
            let mut units = 0.0;
            if let Some((ok, op)) = &old_entry {
                if new_entry.as_ref().is_none_or(|(nk, _)| nk != ok) {
                    writes.push(KvWrite {
                        space: ix.space(),
                        key: ok.clone(),
                        value: None,
                    });
                    units += item_write_units(item_size(op), kind);
                }
            }
            if let Some((nk, np)) = new_entry {
                units += item_write_units(item_size(&np), kind);
                writes.push(KvWrite {
                    space: ix.space(),
                    key: nk,
                    value: Some(encode_item(&np)),
                });
            }
            consumed.index(ix.name(), ix.desc.global, units);
        }
        Ok(local_delta)
    }

    /// Validates the index keys of an item about to be written without writing anything
    /// (BatchWriteItem checks every request before it applies any).
    pub(crate) fn check_index_keys(&self, t: &Table, item: &Item) -> Result<(), ApiError> {
        for ix in gsis_first(t) {
            ix.entry_key(item, &[])?;
        }
        Ok(())
    }

    /// Copies every existing item of `table` into its index `index` (a GSI added by
    /// UpdateTable), then marks the index ACTIVE. Each chunk of items is re-read under its item
    /// locks, so concurrent writes (which maintain the index from the moment it was installed)
    /// and the backfill never overwrite each other with stale entries.
    ///
    /// The index is in the catalog before this runs; a writer that read the table's
    /// description before it was (and so writes no index entry) may still be committing an
    /// item the scan below would not find. The item locks' barrier waits those out first:
    /// writers hold their item's lock from reading the description until their write is
    /// visible.
    pub(crate) fn backfill(&self, table: &str, index: &str) -> Result<(), ApiError> {
        const CHUNK: usize = 256;
        self.locks.barrier();
        let mut from: Bound<Vec<u8>> = Bound::Unbounded;
        loop {
            let Some(t) = self.catalog.read().get(table).cloned() else {
                return Ok(());
            };
            if t.index(index).is_none() {
                return Ok(());
            }
            let keys: Vec<Vec<u8>> = self
                .kv
                .scan(t.space(), from.clone(), Bound::Unbounded, false)
                .map_err(storage)?
                .take(CHUNK)
                .map(|r| r.map(|(k, _)| k).map_err(storage))
                .collect::<Result<_, _>>()?;
            let Some(last) = keys.last().cloned() else {
                break;
            };
            let _locks = self
                .locks
                .lock_many(keys.iter().map(|k| (t.space(), k.as_slice())));
            let t = self.current(&t);
            let Some(ix) = t.index(index) else {
                return Ok(());
            };
            let mut writes = Vec::with_capacity(keys.len());
            for k in &keys {
                let Some(item) = self.load(&t, k)? else {
                    continue;
                };
                // Items whose attribute does not fit the index key type stay out of it.
                if let Ok(Some(ek)) = ix.entry_key(&item, k) {
                    writes.push(KvWrite {
                        space: ix.space(),
                        key: ek,
                        value: Some(encode_item(&ix.project(&t.schema, &item))),
                    });
                }
            }
            if !writes.is_empty() {
                self.kv.write(writes).map_err(storage)?;
            }
            from = Bound::Excluded(last);
        }
        self.finish_backfill(table, index)
    }
}

/// The table's indexes, global ones first: an attribute that keys several indexes is reported
/// against the first GSI, as DynamoDB reports it.
fn gsis_first(t: &Table) -> impl Iterator<Item = &Index> {
    let global = t.indexes.iter().filter(|i| i.desc.global);
    global.chain(t.indexes.iter().filter(|i| !i.desc.global))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Number;

    fn ix(sort: Option<(&str, &str)>, projection: &str, nka: &[&str]) -> Index {
        Index::new(IndexDesc {
            name: "byX".into(),
            global: true,
            space: 9,
            partition_key: ("x".into(), "S".into()),
            sort_key: sort.map(|(n, t)| (n.into(), t.into())),
            projection: projection.into(),
            non_key_attributes: nka.iter().map(|s| s.to_string()).collect(),
            read_capacity: 0,
            write_capacity: 0,
            backfilling: false,
        })
        .unwrap()
    }

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.into())
    }

    fn n(v: &str) -> AttributeValue {
        AttributeValue::N(Number::parse(v).unwrap())
    }

    #[test]
    fn entries_order_by_index_sort_key_then_base_key() {
        let i = ix(Some(("y", "S")), "ALL", &[]);
        let key = |y: &str, base: &[u8]| {
            i.entry_key(&item(&[("x", s("p")), ("y", s(y))]), base)
                .unwrap()
                .unwrap()
        };
        // Sort keys that are prefixes of one another, and ones holding zero bytes.
        let mut ys = ["a", "a\u{0}", "a\u{0}b", "ab", "b", "\u{0}", "\u{1}"];
        let mut keys: Vec<Vec<u8>> = ys.iter().map(|y| key(y, b"k1")).collect();
        keys.sort();
        ys.sort();
        let expect: Vec<Vec<u8>> = ys.iter().map(|y| key(y, b"k1")).collect();
        assert_eq!(keys, expect);
        // Equal index keys: distinct entries, in base-key order, within the equality range.
        let (lo, hi) = Index::sort_eq_range(&i.schema.partition_prefix(&s("p")).unwrap(), b"a");
        for base in [b"k0".as_slice(), b"k9", b"\xff\xff"] {
            let k = key("a", base);
            assert!(matches!(&lo, Bound::Included(l) if &k >= l));
            assert!(matches!(&hi, Bound::Excluded(h) if &k < h));
        }
        let other = key("a\u{0}", b"k0");
        assert!(matches!(&hi, Bound::Excluded(h) if &other > h));
    }

    #[test]
    fn sparse_and_typed() {
        let i = ix(Some(("y", "N")), "KEYS_ONLY", &[]);
        assert_eq!(i.entry_key(&item(&[("x", s("p"))]), b"k").unwrap(), None);
        assert!(i
            .entry_key(&item(&[("x", s("p")), ("y", n("1"))]), b"k")
            .unwrap()
            .is_some());
        let e = i
            .entry_key(&item(&[("x", s("p")), ("y", s("1"))]), b"k")
            .unwrap_err();
        assert_eq!(
            e.message,
            "One or more parameter values were invalid: Type mismatch for Index Key y Expected: N Actual: S IndexName: byX"
        );
        let e = i
            .entry_key(&item(&[("x", s("")), ("y", n("1"))]), b"k")
            .unwrap_err();
        assert!(
            e.message.contains("IndexName: byX, IndexKey: x"),
            "{}",
            e.message
        );
    }

    #[test]
    fn projections() {
        let base = KeySchema {
            partition: KeyAttr {
                name: "pk".into(),
                ty: ScalarType::S,
            },
            sort: None,
        };
        let full = item(&[("pk", s("1")), ("x", s("p")), ("a", s("A")), ("b", s("B"))]);
        let keys = ix(None, "KEYS_ONLY", &[]).project(&base, &full);
        assert_eq!(keys.keys().collect::<Vec<_>>(), vec!["pk", "x"]);
        let inc = ix(None, "INCLUDE", &["b"]).project(&base, &full);
        assert_eq!(inc.keys().collect::<Vec<_>>(), vec!["b", "pk", "x"]);
        assert_eq!(ix(None, "ALL", &[]).project(&base, &full), full);
    }
}
