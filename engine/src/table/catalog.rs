//! The catalog: table descriptions persisted in the system keyspace (so they share the engine's
//! WAL, durability and crash recovery), and the control-plane operations: CreateTable,
//! DeleteTable, DescribeTable, ListTables, UpdateTable, TagResource, UntagResource,
//! ListTagsOfResource, UpdateTimeToLive, DescribeTimeToLive, DescribeLimits.
//!
//! Persisted form: key `table/<name>` → the JSON of [`TableDesc`]; key `meta/next_space` → the
//! next keyspace id (u64 LE), so a keyspace id is never reused, even after its table is deleted.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::index::{self, IndexDesc, IndexSpec, GSI_PER_TABLE_MAX, LSI_PER_TABLE_MAX};
use super::streams::{label_of, parse_stream_spec, StreamDesc};
use super::{resource_not_found, storage, Index, Table, Tables};
use crate::api::request::{constraint, Req};
use crate::api::{ApiError, ErrorCode};
use crate::kv::{Kv, KvWrite, SpaceId, SYSTEM_SPACE};
use crate::limits::KEY_ATTRIBUTE_NAME_MAX_BYTES;
use crate::model::{validate_table_name, KeyAttr, KeySchema, ScalarType};
use crate::partition::{PartitioningStrategy, PARTITIONING_TAG};

const TABLE_PREFIX: &[u8] = b"table/";
const NEXT_SPACE_KEY: &[u8] = b"meta/next_space";
/// Deleted tables whose streams are still readable (`deleted/{TableId}`), for 24 hours after
/// the deletion, as DynamoDB keeps them.
const DELETED_PREFIX: &[u8] = b"deleted/";

/// Largest provisioned throughput DynamoDB's API accepts for one dimension.
const THROUGHPUT_MAX: i64 = 1_000_000_000_000;
/// Provisioned-throughput decreases allowed at any time of a UTC day.
const FREE_DECREASES_PER_DAY: usize = 4;
/// Decreases allowed in one UTC day at most (4 plus one per decrease-free hour).
const DECREASES_PER_DAY_MAX: usize = 27;
/// Tag key and value lengths.
const TAG_KEY_LEN_MAX: usize = 128;
const TAG_VALUE_LEN_MAX: usize = 256;
/// Tags on one resource.
const TAGS_PER_RESOURCE_MAX: usize = 50;

/// What the catalog stores of a table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableDesc {
    pub name: String,
    pub space: SpaceId,
    pub table_id: String,
    /// (attribute name, "S" | "N" | "B")
    pub partition_key: (String, String),
    pub sort_key: Option<(String, String)>,
    pub attribute_definitions: Vec<(String, String)>,
    /// "PROVISIONED" or "PAY_PER_REQUEST".
    pub billing_mode: String,
    pub read_capacity: i64,
    pub write_capacity: i64,
    /// Seconds since the epoch, millisecond precision.
    pub created_at: f64,
    pub tags: BTreeMap<String, String>,
    pub ttl_attribute: Option<String>,
    /// Hash-range partitions of the keyspace.
    pub partitions: u32,
    #[serde(default)]
    pub deletion_protection: bool,
    /// When the billing mode last changed (DescribeTable's BillingModeSummary).
    #[serde(default)]
    pub billing_mode_changed_at: Option<f64>,
    #[serde(default)]
    pub last_increase_at: Option<f64>,
    #[serde(default)]
    pub last_decrease_at: Option<f64>,
    /// Times of the provisioned-throughput decreases of the UTC day of the last one.
    #[serde(default)]
    pub decreases: Vec<f64>,
    /// Local and global secondary indexes.
    #[serde(default)]
    pub indexes: Vec<IndexDesc>,
    /// The table's (latest) stream.
    #[serde(default)]
    pub stream: Option<StreamDesc>,
    /// Earlier streams, disabled and then replaced by re-enabling: readable for 24 hours after
    /// they were disabled, as in DynamoDB.
    #[serde(default)]
    pub old_streams: Vec<StreamDesc>,
    /// OnDemandThroughput: (MaxReadRequestUnits, MaxWriteRequestUnits), -1 for no maximum.
    #[serde(default)]
    pub on_demand_max: Option<(i64, i64)>,
    /// How the capacity layer partitions the table (chosen at CreateTable, never changed).
    /// Absent (entries written before it existed, and `hash-split` tables): hash-split.
    #[serde(default, skip_serializing_if = "PartitioningStrategy::is_hash_split")]
    pub partitioning: PartitioningStrategy,
    /// TableClass as set by CreateTable or UpdateTable, with when it was last changed
    /// (DescribeTable's TableClassSummary). A label only: every class is stored alike.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_class: Option<(String, Option<f64>)>,
    /// SSESpecification: the KMS key ARN when the table is encrypted with a KMS key
    /// (DescribeTable's SSEDescription); `None` for the default AWS owned key, which
    /// DynamoDB does not describe. A label only: hashlog's encryption at rest is its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse_kms_key_arn: Option<String>,
}

/// The values TableClass takes.
const TABLE_CLASSES: [&str; 2] = ["STANDARD", "STANDARD_INFREQUENT_ACCESS"];

impl TableDesc {
    /// The key schema, or an error when the stored description is not one.
    pub fn schema(&self) -> Result<KeySchema, ApiError> {
        let ty = |t: &str| {
            ScalarType::parse(t).ok_or_else(|| {
                ApiError::internal(format!(
                    "catalog entry of table {} has key type {t}",
                    self.name
                ))
            })
        };
        Ok(KeySchema {
            partition: KeyAttr {
                name: self.partition_key.0.clone(),
                ty: ty(&self.partition_key.1)?,
            },
            sort: match &self.sort_key {
                Some((n, t)) => Some(KeyAttr {
                    name: n.clone(),
                    ty: ty(t)?,
                }),
                None => None,
            },
        })
    }

    pub fn arn(&self, region: &str, account: &str) -> String {
        format!("arn:aws:dynamodb:{region}:{account}:table/{}", self.name)
    }

    fn decreases_today(&self, now: f64) -> usize {
        let day = (now / 86_400.0).floor();
        self.decreases
            .iter()
            .filter(|t| (*t / 86_400.0).floor() == day)
            .count()
    }

    /// The TableDescription DynamoDB returns.
    fn describe(&self, tables: &Tables, schema: &KeySchema, status: &str) -> Value {
        let stats = tables.described_stats(self.space);
        let mut pt = json!({
            "NumberOfDecreasesToday": self.decreases_today(now_secs()),
            "ReadCapacityUnits": self.read_capacity,
            "WriteCapacityUnits": self.write_capacity,
        });
        if let Some(t) = self.last_increase_at {
            pt["LastIncreaseDateTime"] = json!(t);
        }
        if let Some(t) = self.last_decrease_at {
            pt["LastDecreaseDateTime"] = json!(t);
        }
        let mut d = json!({
            "AttributeDefinitions": self.attribute_definitions.iter()
                .map(|(n, t)| json!({"AttributeName": n, "AttributeType": t}))
                .collect::<Vec<_>>(),
            "TableName": self.name,
            "KeySchema": schema.to_json(),
            "TableStatus": status,
            "CreationDateTime": self.created_at,
            "ProvisionedThroughput": pt,
            "TableSizeBytes": stats.approximate_bytes,
            "ItemCount": stats.approximate_keys,
            "TableArn": self.arn(&tables.opts.region, &tables.opts.account_id),
            "TableId": self.table_id,
            "DeletionProtectionEnabled": self.deletion_protection,
        });
        let table_arn = self.arn(&tables.opts.region, &tables.opts.account_id);
        let (mut gsis, mut lsis) = (Vec::new(), Vec::new());
        for ix in self
            .indexes
            .iter()
            .cloned()
            .filter_map(|i| Index::new(i).ok())
        {
            let st = tables.described_stats(ix.space());
            let v = ix.describe(
                &table_arn,
                self.billing_mode == "PROVISIONED",
                st.approximate_bytes,
                st.approximate_keys,
            );
            if ix.desc.global {
                gsis.push(v);
            } else {
                lsis.push(v);
            }
        }
        if !gsis.is_empty() {
            d["GlobalSecondaryIndexes"] = Value::Array(gsis);
        }
        if let Some((r, w)) = self.on_demand_max {
            d["OnDemandThroughput"] = json!({"MaxReadRequestUnits": r, "MaxWriteRequestUnits": w});
        }
        if let Some(key) = &self.sse_kms_key_arn {
            d["SSEDescription"] =
                json!({"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": key});
        }
        if let Some((class, changed)) = &self.table_class {
            d["TableClassSummary"] = match changed {
                Some(t) => json!({"TableClass": class, "LastUpdateDateTime": t}),
                None => json!({"TableClass": class}),
            };
        }
        if let Some(sd) = &self.stream {
            d["LatestStreamArn"] = json!(sd.arn(&table_arn));
            d["LatestStreamLabel"] = json!(sd.label);
            if sd.enabled {
                d["StreamSpecification"] =
                    json!({"StreamEnabled": true, "StreamViewType": sd.view_type});
            }
        }
        if !lsis.is_empty() {
            d["LocalSecondaryIndexes"] = Value::Array(lsis);
        }
        if self.billing_mode == "PAY_PER_REQUEST" {
            d["BillingModeSummary"] = json!({
                "BillingMode": "PAY_PER_REQUEST",
                "LastUpdateToPayPerRequestDateTime":
                    self.billing_mode_changed_at.unwrap_or(self.created_at),
            });
        } else if self.billing_mode_changed_at.is_some() {
            d["BillingModeSummary"] = json!({"BillingMode": "PROVISIONED"});
        }
        d
    }
}

fn now_secs() -> f64 {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    (t * 1000.0).round() / 1000.0
}

fn table_key(name: &str) -> Vec<u8> {
    let mut k = TABLE_PREFIX.to_vec();
    k.extend_from_slice(name.as_bytes());
    k
}

fn deleted_key(table_id: &str) -> Vec<u8> {
    let mut k = DELETED_PREFIX.to_vec();
    k.extend_from_slice(table_id.as_bytes());
    k
}

/// Deleted tables whose streams are kept (their descriptions as at the deletion, every
/// stream disabled).
pub(crate) fn load_deleted(kv: &dyn Kv) -> Result<Vec<Arc<Table>>, ApiError> {
    let mut upper = DELETED_PREFIX.to_vec();
    upper.push(0xFF);
    let mut out = Vec::new();
    for r in kv.scan(
        SYSTEM_SPACE,
        Bound::Included(DELETED_PREFIX.to_vec()),
        Bound::Excluded(upper),
        false,
    )? {
        let (_, v) = r?;
        let desc: TableDesc = serde_json::from_slice(&v)
            .map_err(|e| ApiError::internal(format!("catalog entry is corrupt: {e}")))?;
        out.push(Arc::new(Table::from_desc(desc)?));
    }
    Ok(out)
}

/// Every table of the catalog.
pub(crate) fn load_all(kv: &dyn Kv) -> Result<BTreeMap<String, Arc<Table>>, ApiError> {
    let mut out = BTreeMap::new();
    let mut upper = TABLE_PREFIX.to_vec();
    upper.push(0xFF);
    let it = kv.scan(
        SYSTEM_SPACE,
        Bound::Included(TABLE_PREFIX.to_vec()),
        Bound::Excluded(upper),
        false,
    )?;
    for r in it {
        let (_, v) = r?;
        let desc: TableDesc = serde_json::from_slice(&v)
            .map_err(|e| ApiError::internal(format!("catalog entry is corrupt: {e}")))?;
        out.insert(desc.name.clone(), Arc::new(Table::from_desc(desc)?));
    }
    Ok(out)
}

/// DescribeTable's (and the other control-plane calls') missing-table error.
fn table_not_found(name: &str) -> ApiError {
    ApiError::not_found(format!(
        "Requested resource not found: Table: {name} not found"
    ))
}

fn invalid(detail: impl std::fmt::Display) -> ApiError {
    ApiError::validation(format!(
        "One or more parameter values were invalid: {detail}"
    ))
}

fn not_supported(what: &str) -> ApiError {
    ApiError::validation(format!("{what} are not supported by hashlog yet"))
}

/// A `ProvisionedThroughput` object: both units present and in range.
fn parse_throughput(pt: &Map<String, Value>, path: &str) -> Result<(i64, i64), ApiError> {
    let r = Req { obj: pt };
    let mut units = [0i64; 2];
    for (i, k) in ["ReadCapacityUnits", "WriteCapacityUnits"]
        .iter()
        .enumerate()
    {
        let field = format!("{path}.{}", lower_first(k));
        let v = r.i64(k)?.ok_or_else(|| Req::missing_at(&field))?;
        if v < 1 {
            return Err(constraint(
                &v.to_string(),
                &field,
                "Member must have value greater than or equal to 1",
            ));
        }
        if v > THROUGHPUT_MAX {
            return Err(ApiError::validation(format!(
                "Given value {v} for {k} is out of bounds"
            )));
        }
        units[i] = v;
    }
    Ok((units[0], units[1]))
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Tags of CreateTable / TagResource: each key 1–128 and value 0–256 characters of DynamoDB's
/// tag character set, no key starting `aws:` (reserved for AWS's own tags).
fn parse_tags(list: &[Value], path: &str) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::with_capacity(list.len());
    for (i, t) in list.iter().enumerate() {
        let tr = Req::new(t)?;
        let at = |f: &str| format!("{path}.{}.member.{f}", i + 1);
        let k = tr.str("Key")?.ok_or_else(|| Req::missing_at(&at("key")))?;
        let v = tr
            .str("Value")?
            .ok_or_else(|| Req::missing_at(&at("value")))?;
        if k.is_empty() {
            return Err(constraint(
                k,
                &at("key"),
                "Member must have length greater than or equal to 1",
            ));
        }
        if k.chars().count() > TAG_KEY_LEN_MAX {
            return Err(constraint(
                k,
                &at("key"),
                &format!("Member must have length less than or equal to {TAG_KEY_LEN_MAX}"),
            ));
        }
        if v.chars().count() > TAG_VALUE_LEN_MAX {
            return Err(constraint(
                v,
                &at("value"),
                &format!("Member must have length less than or equal to {TAG_VALUE_LEN_MAX}"),
            ));
        }
        for (what, text) in [("key", k), ("value", v)] {
            if let Some(c) = text.chars().find(|c| !tag_char_allowed(*c)) {
                return Err(invalid(format!(
                    "Invalid tag {what} '{text}': the character '{c}' is not allowed (tag keys \
                     and values may contain letters, numbers, white space and + - = . _ : /)"
                )));
            }
        }
        if k.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
            return Err(invalid(format!(
                "Invalid tag key '{k}': the prefix aws: is reserved for tags AWS assigns"
            )));
        }
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

/// DynamoDB's tag character set: letters, numbers and white space (any script), and
/// `+ - = . _ : /` (developer guide, "Tagging restrictions").
fn tag_char_allowed(c: char) -> bool {
    // White space as AWS's tag pattern has it (`\p{Z}`: spaces of any script), not line or
    // paragraph breaks, tabs or other controls.
    let space = c.is_whitespace() && !c.is_control() && !matches!(c, '\u{2028}' | '\u{2029}');
    c.is_alphanumeric() || space || matches!(c, '+' | '-' | '=' | '.' | '_' | ':' | '/')
}

/// The partitioning a `hashlog:partitioning` tag value names, or a ValidationException that
/// says which values are accepted.
fn parse_partitioning_tag(value: &str) -> Result<PartitioningStrategy, ApiError> {
    value
        .parse()
        .map_err(|e: crate::partition::BadPartitioning| {
            invalid(format!(
                "Tag {PARTITIONING_TAG} has an invalid value: {e} (accepted: hash-split, \
             fixed-hash:N, consistent-hash:N[:VNODES], key-range[:N])"
            ))
        })
}

/// TagResource and UntagResource may not change a table's partitioning: the tag can be set
/// again to the value it has, but not to another one, nor removed.
fn partitioning_tag_unchanged(
    d: &TableDesc,
    set: Option<&str>,
    removed: bool,
) -> Result<(), ApiError> {
    let fixed = || {
        invalid(format!(
            "Tag {PARTITIONING_TAG} is chosen at CreateTable and cannot change: table {} is \
             partitioned {}",
            d.name, d.partitioning
        ))
    };
    if let Some(v) = set {
        if parse_partitioning_tag(v)? != d.partitioning {
            return Err(fixed());
        }
    }
    if removed && d.tags.contains_key(PARTITIONING_TAG) {
        return Err(fixed());
    }
    Ok(())
}

fn too_many_tags() -> ApiError {
    ApiError::new(
        ErrorCode::LimitExceededException,
        format!("The number of tags exceeds the limit of {TAGS_PER_RESOURCE_MAX}"),
    )
}

/// A stable, unique table id in UUID form.
fn new_table_id(name: &str, space: SpaceId) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut seed = Vec::with_capacity(name.len() + 24);
    seed.extend_from_slice(name.as_bytes());
    seed.extend_from_slice(&space.to_le_bytes());
    seed.extend_from_slice(&nanos.to_le_bytes());
    uuid_from(&seed)
}

/// A version-4-shaped UUID derived from `seed` (the same seed, the same UUID).
fn uuid_from(seed: &[u8]) -> String {
    let h = xxhash_rust::xxh3::xxh3_128(seed);
    // Version 4 / variant 1 bits, so clients that parse UUIDs accept it.
    let h =
        (h & !(0xF000u128 << 64) | (0x4000u128 << 64)) & !(0xC000u128 << 48) | (0x8000u128 << 48);
    let s = format!("{h:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &s[0..8],
        &s[8..12],
        &s[12..16],
        &s[16..20],
        &s[20..32]
    )
}

/// The key schema and attribute definitions of a CreateTable request, checked as DynamoDB
/// checks them.
type ParsedKeys = (KeySchema, Vec<(String, String)>);

fn parse_key_schema(r: &Req<'_>, has_indexes: bool) -> Result<ParsedKeys, ApiError> {
    let defs = r
        .array("AttributeDefinitions")?
        .ok_or_else(|| Req::missing("AttributeDefinitions"))?;
    let ks = r
        .array("KeySchema")?
        .ok_or_else(|| Req::missing("KeySchema"))?;
    let mut attr_defs: Vec<(String, String)> = Vec::with_capacity(defs.len());
    for (i, d) in defs.iter().enumerate() {
        let dr = Req::new(d)?;
        let at = |f: &str| format!("attributeDefinitions.{}.member.{f}", i + 1);
        let n = dr
            .str("AttributeName")?
            .ok_or_else(|| Req::missing_at(&at("attributeName")))?;
        let t = dr
            .str("AttributeType")?
            .ok_or_else(|| Req::missing_at(&at("attributeType")))?;
        if ScalarType::parse(t).is_none() {
            return Err(constraint(
                t,
                &at("attributeType"),
                "Member must satisfy enum value set: [B, N, S]",
            ));
        }
        if n.is_empty() || n.len() > KEY_ATTRIBUTE_NAME_MAX_BYTES {
            return Err(constraint(
                n,
                &at("attributeName"),
                &if n.is_empty() {
                    "Member must have length greater than or equal to 1".to_string()
                } else {
                    format!(
                        "Member must have length less than or equal to {KEY_ATTRIBUTE_NAME_MAX_BYTES}"
                    )
                },
            ));
        }
        attr_defs.push((n.to_string(), t.to_string()));
    }
    if ks.is_empty() || ks.len() > 2 {
        // DynamoDB shows the list as Java renders it.
        return Err(constraint(
            &crate::api::shape::render_key_schema(ks),
            "keySchema",
            if ks.is_empty() {
                "Member must have length greater than or equal to 1"
            } else {
                "Member must have length less than or equal to 2"
            },
        ));
    }
    let mut keys: Vec<(String, String)> = Vec::with_capacity(ks.len());
    for (i, k) in ks.iter().enumerate() {
        let kr = Req::new(k)?;
        let at = |f: &str| format!("keySchema.{}.member.{f}", i + 1);
        let n = kr
            .str("AttributeName")?
            .ok_or_else(|| Req::missing_at(&at("attributeName")))?;
        let t = kr
            .str("KeyType")?
            .ok_or_else(|| Req::missing_at(&at("keyType")))?;
        if t != "HASH" && t != "RANGE" {
            return Err(constraint(
                t,
                &at("keyType"),
                "Member must satisfy enum value set: [HASH, RANGE]",
            ));
        }
        if n.is_empty() || n.len() > KEY_ATTRIBUTE_NAME_MAX_BYTES {
            return Err(constraint(
                n,
                &at("attributeName"),
                &if n.is_empty() {
                    "Member must have length greater than or equal to 1".to_string()
                } else {
                    format!(
                        "Member must have length less than or equal to {KEY_ATTRIBUTE_NAME_MAX_BYTES}"
                    )
                },
            ));
        }
        keys.push((n.to_string(), t.to_string()));
    }
    let def_names: Vec<&str> = attr_defs.iter().map(|(n, _)| n.as_str()).collect();
    if keys.len() > attr_defs.len() {
        return Err(ApiError::validation(
            "Invalid KeySchema: Some index key attribute have no definition",
        ));
    }
    if keys.iter().any(|(n, _)| !def_names.contains(&n.as_str())) {
        return Err(invalid(format!(
            "Some index key attributes are not defined in AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]",
            keys.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", "),
            def_names.join(", ")
        )));
    }
    if keys.len() == 2 && keys[0].0 == keys[1].0 {
        return Err(ApiError::validation(
            "Both the Hash Key and the Range Key element in the KeySchema have the same name",
        ));
    }
    if keys[0].1 != "HASH" {
        return Err(ApiError::validation(
            "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
        ));
    }
    if keys.len() == 2 && keys[1].1 != "RANGE" {
        return Err(ApiError::validation(
            "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type",
        ));
    }
    for (i, (n, _)) in attr_defs.iter().enumerate() {
        if attr_defs[..i].iter().any(|(m, _)| m == n) {
            return Err(invalid(format!(
                "Duplicate AttributeName in AttributeDefinitions: {n}"
            )));
        }
    }
    if !has_indexes && keys.len() != attr_defs.len() {
        return Err(invalid(
            "Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions",
        ));
    }
    let attr = |n: &str| -> Result<KeyAttr, ApiError> {
        let t = attr_defs
            .iter()
            .find(|(a, _)| a == n)
            .and_then(|(_, t)| ScalarType::parse(t))
            .ok_or_else(|| {
                ApiError::validation(
                    "Invalid KeySchema: Some index key attribute have no definition",
                )
            })?;
        Ok(KeyAttr {
            name: n.to_string(),
            ty: t,
        })
    };
    let schema = KeySchema {
        partition: attr(&keys[0].0)?,
        sort: match keys.get(1) {
            Some((n, _)) => Some(attr(n)?),
            None => None,
        },
    };
    Ok((schema, attr_defs))
}

impl Tables {
    fn persist(&self, d: &TableDesc, extra: Vec<KvWrite>) -> Result<(), ApiError> {
        let bytes = serde_json::to_vec(d).map_err(|e| ApiError::internal(e.to_string()))?;
        let mut w = vec![KvWrite {
            space: SYSTEM_SPACE,
            key: table_key(&d.name),
            value: Some(bytes),
        }];
        w.extend(extra);
        self.kv.write(w)?;
        Ok(())
    }

    /// Forgets the streams of every table that were disabled and replaced more than the
    /// retention period before `now` (their records go with their keyspace); returns how many.
    pub(crate) fn expire_old_streams(&self, now: f64) -> Result<usize, ApiError> {
        let _g = self.catalog_lock.lock();
        let stale: Vec<Arc<Table>> = self
            .catalog
            .read()
            .values()
            .filter(|t| {
                t.desc.old_streams.iter().any(|s| {
                    s.disabled_at
                        .is_none_or(|d| now - d > super::streams::STREAM_RETENTION_SECS)
                })
            })
            .cloned()
            .collect();
        let mut expired = 0;
        for t in stale {
            let mut d = t.desc.clone();
            let (gone, kept): (Vec<StreamDesc>, Vec<StreamDesc>) =
                d.old_streams.drain(..).partition(|s| {
                    s.disabled_at
                        .is_none_or(|d| now - d > super::streams::STREAM_RETENTION_SECS)
                });
            d.old_streams = kept;
            self.persist(&d, Vec::new())?;
            self.install(d)?;
            for s in gone {
                self.kv.drop_space(s.space).map_err(storage)?;
                self.streams.lock().remove(&s.space);
                expired += 1;
            }
        }
        // Deleted tables: every stream goes 24 hours after it was disabled (at the deletion
        // at the latest); the entry goes with the last one.
        let old = |s: &StreamDesc| {
            s.disabled_at
                .is_none_or(|d| now - d > super::streams::STREAM_RETENTION_SECS)
        };
        let deleted: Vec<Arc<Table>> = self.deleted.read().clone();
        for t in deleted {
            let streams: Vec<&StreamDesc> =
                t.desc.stream.iter().chain(&t.desc.old_streams).collect();
            if !streams.iter().any(|s| old(s)) {
                continue;
            }
            let mut d = t.desc.clone();
            d.old_streams.retain(|s| !old(s));
            if d.stream.as_ref().is_some_and(old) {
                d.stream = None;
            }
            let key = deleted_key(&d.table_id);
            let last = d.stream.is_none() && d.old_streams.is_empty();
            let kept = if last {
                None
            } else {
                Some(Arc::new(Table::from_desc(d.clone())?))
            };
            self.kv.write(vec![KvWrite {
                space: SYSTEM_SPACE,
                key,
                value: if last {
                    None
                } else {
                    Some(serde_json::to_vec(&d).map_err(|e| ApiError::internal(e.to_string()))?)
                },
            }])?;
            {
                let mut list = self.deleted.write();
                list.retain(|x| !Arc::ptr_eq(x, &t));
                list.extend(kept);
            }
            for s in streams.into_iter().filter(|s| old(s)) {
                self.kv.drop_space(s.space).map_err(storage)?;
                self.streams.lock().remove(&s.space);
                expired += 1;
            }
        }
        Ok(expired)
    }

    /// `now`, or the first millisecond after it that no other stream of a table named `name`
    /// (its earlier streams in `d`, a deleted table's) has as its label: a stream ARN is the
    /// table ARN and the label, so a table deleted and re-created within one millisecond
    /// would otherwise give two streams one ARN.
    fn fresh_stream_time(&self, name: &str, d: Option<&TableDesc>, now: f64) -> f64 {
        let deleted = self.deleted.read();
        let taken: Vec<&str> = d
            .into_iter()
            .chain(deleted.iter().map(|t| &t.desc).filter(|t| t.name == name))
            .flat_map(|t| t.stream.iter().chain(&t.old_streams))
            .map(|s| s.label.as_str())
            .collect();
        if !taken.contains(&label_of(now).as_str()) {
            return now;
        }
        // Whole milliseconds, each placed mid-millisecond so float rounding cannot give the
        // previous label back; at most one step per label taken.
        let mut ms = (now * 1000.0) as i64;
        for _ in 0..=taken.len() {
            ms += 1;
            let at = (ms as f64 + 0.5) / 1000.0;
            if !taken.contains(&label_of(at).as_str()) {
                return at;
            }
        }
        (ms as f64 + 1.5) / 1000.0
    }

    /// Replaces a table's description in memory after it was persisted.
    fn install(&self, desc: TableDesc) -> Result<Arc<Table>, ApiError> {
        let t = Arc::new(Table::from_desc(desc)?);
        self.catalog
            .write()
            .insert(t.desc.name.clone(), Arc::clone(&t));
        Ok(t)
    }

    /// A table named by a control-plane call of `op`, by name or ARN (TableName validated
    /// first).
    fn control_table(&self, r: &Req<'_>, op: &str) -> Result<Arc<Table>, ApiError> {
        let name = self.resolve_name(r.req_str("TableName")?, op)?;
        validate_table_name(name, "tableName")?;
        self.catalog
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| table_not_found(name))
    }

    fn next_space(&self) -> Result<SpaceId, ApiError> {
        let stored = self
            .kv
            .get(SYSTEM_SPACE, NEXT_SPACE_KEY)?
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map(u64::from_le_bytes);
        let max_live = self
            .catalog
            .read()
            .values()
            .flat_map(|t| {
                std::iter::once(t.desc.space + 1)
                    .chain(t.indexes.iter().map(|i| i.space() + 1))
                    .chain(t.desc.stream.iter().map(|s| s.space + 1))
            })
            .max()
            .unwrap_or(1);
        let mut space = stored.unwrap_or(1).max(max_live).max(1);
        // A keyspace left behind by a crash between its creation and the catalog write is
        // skipped rather than reused.
        while self.kv.has_space(space) {
            space += 1;
        }
        Ok(space)
    }

    pub(crate) fn create_table(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let name = r.req_str("TableName")?;
        validate_table_name(name, "tableName")?;
        let billing = r
            .enum_str("BillingMode", &["PROVISIONED", "PAY_PER_REQUEST"])?
            .unwrap_or("PROVISIONED");
        let pt = r.object("ProvisionedThroughput")?;
        let (rcu, wcu) = match pt {
            Some(pt) => parse_throughput(pt, "provisionedThroughput")?,
            None => (0, 0),
        };
        if billing == "PAY_PER_REQUEST" && pt.is_some() {
            return Err(invalid("Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST"));
        }
        if billing == "PROVISIONED" && pt.is_none() {
            return Err(invalid("ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED"));
        }
        let gsi = r.array("GlobalSecondaryIndexes")?;
        let lsi = r.array("LocalSecondaryIndexes")?;
        let (schema, attr_defs) = parse_key_schema(r, gsi.is_some() || lsi.is_some())?;
        let mut specs: Vec<(IndexSpec, bool)> = Vec::new();
        if let Some(l) = lsi {
            if l.is_empty() {
                return Err(invalid("List of LocalSecondaryIndexes is empty"));
            }
            if schema.sort.is_none() {
                return Err(invalid("Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex"));
            }
            for (i, v) in l.iter().enumerate() {
                let spec = index::parse_spec(
                    v,
                    &format!("localSecondaryIndexes.{}.member", i + 1),
                    false,
                    parse_throughput,
                )?;
                if spec.throughput.is_some() {
                    return Err(ApiError::validation(
                        "One or more parameter values were invalid: ProvisionedThroughput should not be specified for a LocalSecondaryIndex",
                    ));
                }
                specs.push((spec, false));
            }
            if l.len() > LSI_PER_TABLE_MAX {
                return Err(invalid(format!("Number of LocalSecondaryIndexes exceeds per-table limit of {LSI_PER_TABLE_MAX}")));
            }
        }
        if let Some(g) = gsi {
            if g.is_empty() {
                return Err(invalid("List of GlobalSecondaryIndexes is empty"));
            }
            for (i, v) in g.iter().enumerate() {
                let spec = index::parse_spec(
                    v,
                    &format!("globalSecondaryIndexes.{}.member", i + 1),
                    true,
                    parse_throughput,
                )?;
                check_gsi_throughput(billing, &spec)?;
                specs.push((spec, true));
            }
            if g.len() > GSI_PER_TABLE_MAX {
                return Err(invalid(format!(
                    "GlobalSecondaryIndex count exceeds the per-table limit of {GSI_PER_TABLE_MAX}"
                )));
            }
        }
        let mut index_descs = Vec::with_capacity(specs.len());
        for (spec, global) in &specs {
            let (pk, sk) = index::spec_schema(spec, &attr_defs, &schema, !global)?;
            let (read_capacity, write_capacity) = spec.throughput.unwrap_or((0, 0));
            index_descs.push(IndexDesc {
                name: spec.name.clone(),
                global: *global,
                space: 0,
                partition_key: pk,
                sort_key: sk,
                projection: spec.projection.clone(),
                non_key_attributes: spec.non_key_attributes.clone(),
                read_capacity,
                write_capacity,
                backfilling: false,
            });
        }
        index::check_indexes(&index_descs.iter().collect::<Vec<_>>())?;
        if !index_descs.is_empty() {
            let mut used: Vec<&str> = schema.names();
            for ix in &index_descs {
                for n in
                    std::iter::once(&ix.partition_key.0).chain(ix.sort_key.as_ref().map(|s| &s.0))
                {
                    if !used.contains(&n.as_str()) {
                        used.push(n);
                    }
                }
            }
            if attr_defs.iter().any(|(n, _)| !used.contains(&n.as_str())) {
                return Err(invalid(format!(
                    "Some AttributeDefinitions are not used. AttributeDefinitions: [{}], keys used: [{}]",
                    attr_defs.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", "),
                    used.join(", ")
                )));
            }
        }
        let stream_view = parse_stream_spec(r)?.flatten();
        let on_demand_max = parse_on_demand_throughput(r)?;
        if r.has("ReplicaUpdates") || r.has("Replicas") {
            return Err(not_supported("Global table replicas"));
        }
        let tags = match r.array("Tags")? {
            Some(t) => parse_tags(t, "tags")?,
            None => Vec::new(),
        };
        if tags.len() > TAGS_PER_RESOURCE_MAX {
            return Err(too_many_tags());
        }
        // The last value of the tag wins, as it does in the stored tags.
        let partitioning = match tags.iter().rev().find(|(k, _)| k == PARTITIONING_TAG) {
            Some((_, v)) => parse_partitioning_tag(v)?,
            None => self.opts.default_partitioning,
        };
        let deletion_protection = r.bool("DeletionProtectionEnabled")?.unwrap_or(false);
        let table_class = r.enum_str("TableClass", &TABLE_CLASSES)?;
        let sse = self.parse_sse_specification(r)?;

        let _guard = self.catalog_lock.lock();
        if self.catalog.read().contains_key(name) {
            return Err(ApiError::new(
                ErrorCode::ResourceInUseException,
                format!("Table already exists: {name}"),
            ));
        }
        let space = self.next_space()?;
        // One partition per 1,000 WCU / 3,000 RCU, as DynamoDB sizes them (at least one).
        let partitions =
            ((wcu as f64 / 1000.0).max(rcu as f64 / 3000.0).ceil() as u32).clamp(1, 64);
        self.kv.create_space(space, partitions)?;
        let mut next = space + 1;
        for ix in &mut index_descs {
            while self.kv.has_space(next) {
                next += 1;
            }
            ix.space = next;
            let made = self
                .kv
                .create_space(next, if ix.global { partitions } else { 1 });
            if let Err(e) = made {
                let _ = self.kv.drop_space(space);
                for done in index_descs
                    .iter()
                    .filter(|d| d.space != 0 && d.space < next)
                {
                    let _ = self.kv.drop_space(done.space);
                }
                return Err(e.into());
            }
            next += 1;
        }
        let created_at = now_secs();
        let stream = match stream_view {
            Some(view_type) => {
                while self.kv.has_space(next) {
                    next += 1;
                }
                if let Err(e) = self.kv.create_space(next, 1) {
                    let _ = self.kv.drop_space(space);
                    for ix in &index_descs {
                        let _ = self.kv.drop_space(ix.space);
                    }
                    return Err(e.into());
                }
                next += 1;
                let at = self.fresh_stream_time(name, None, created_at);
                Some(StreamDesc {
                    view_type,
                    label: label_of(at),
                    space: next - 1,
                    enabled: true,
                    created_at: at,
                    disabled_at: None,
                })
            }
            None => None,
        };
        let d = TableDesc {
            name: name.to_string(),
            space,
            table_id: new_table_id(name, space),
            partition_key: (
                schema.partition.name.clone(),
                schema.partition.ty.as_str().to_string(),
            ),
            sort_key: schema
                .sort
                .as_ref()
                .map(|s| (s.name.clone(), s.ty.as_str().to_string())),
            attribute_definitions: attr_defs,
            billing_mode: billing.to_string(),
            read_capacity: rcu,
            write_capacity: wcu,
            created_at,
            tags: tags.into_iter().collect(),
            ttl_attribute: None,
            partitions,
            deletion_protection,
            billing_mode_changed_at: None,
            last_increase_at: None,
            last_decrease_at: None,
            decreases: Vec::new(),
            indexes: index_descs,
            stream,
            old_streams: Vec::new(),
            on_demand_max,
            partitioning,
            table_class: table_class.map(|c| (c.to_string(), None)),
            sse_kms_key_arn: sse.flatten(),
        };
        let persisted = self.persist(
            &d,
            vec![KvWrite {
                space: SYSTEM_SPACE,
                key: NEXT_SPACE_KEY.to_vec(),
                value: Some(next.to_le_bytes().to_vec()),
            }],
        );
        if let Err(e) = persisted {
            // The table does not exist; do not leave its keyspaces behind.
            let _ = self.kv.drop_space(space);
            for ix in &d.indexes {
                let _ = self.kv.drop_space(ix.space);
            }
            if let Some(sd) = &d.stream {
                let _ = self.kv.drop_space(sd.space);
            }
            return Err(e);
        }
        let t = self.install(d)?;
        let desc = t.desc.describe(self, &t.schema, "ACTIVE");
        Ok(json!({"TableDescription": desc}))
    }

    pub(crate) fn delete_table(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let _guard = self.catalog_lock.lock();
        let t = self.control_table(r, "DeleteTable")?;
        if t.desc.deletion_protection {
            return Err(ApiError::validation(
                "Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first.",
            ));
        }
        let desc = t.desc.describe(self, &t.schema, "DELETING");
        let mut writes = vec![KvWrite {
            space: SYSTEM_SPACE,
            key: table_key(t.name()),
            value: None,
        }];
        // Its streams stay readable, disabled, for 24 hours (DynamoDB's DeleteTable): the
        // description is kept under `deleted/` until they expire.
        let kept = if t.desc.stream.is_some() || !t.desc.old_streams.is_empty() {
            let now = now_secs();
            let mut d = t.desc.clone();
            if let Some(s) = d.stream.as_mut() {
                if s.enabled {
                    s.enabled = false;
                    s.disabled_at = Some(now);
                }
            }
            writes.push(KvWrite {
                space: SYSTEM_SPACE,
                key: deleted_key(&d.table_id),
                value: Some(serde_json::to_vec(&d).map_err(|e| ApiError::internal(e.to_string()))?),
            });
            Some(Arc::new(Table::from_desc(d)?))
        } else {
            None
        };
        self.kv.write(writes)?;
        {
            // Both under the catalog's write lock: a reader looking for the stream sees the
            // table in one list or the other, never in neither.
            let mut catalog = self.catalog.write();
            catalog.remove(t.name());
            if let Some(k) = kept {
                self.deleted.write().push(k);
            }
        }
        // The catalog no longer names the keyspace; in-flight item calls that still hold the
        // table fail with ResourceNotFoundException once it is gone.
        self.kv.drop_space(t.space()).map_err(storage)?;
        self.capacity_dropped(t.space());
        for ix in &t.indexes {
            self.kv.drop_space(ix.space()).map_err(storage)?;
            self.capacity_dropped(ix.space());
        }
        Ok(json!({"TableDescription": desc}))
    }

    pub(crate) fn describe_table(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let t = self.control_table(r, "DescribeTable")?;
        Ok(json!({"Table": t.desc.describe(self, &t.schema, "ACTIVE")}))
    }

    pub(crate) fn list_tables(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        // Limit's bounds (1–100) and ExclusiveStartTableName's form are checked with the
        // other constraints (`api::shape`).
        let limit = r.i64("Limit")?.unwrap_or(100).clamp(1, 100);
        let start = r.str("ExclusiveStartTableName")?;
        let catalog = self.catalog.read();
        let mut names = catalog
            .keys()
            .filter(|n| start.is_none_or(|s| n.as_str() > s));
        let page: Vec<&String> = names.by_ref().take(limit as usize).collect();
        let mut out = json!({"TableNames": page});
        if names.next().is_some() {
            if let Some(last) = page.last() {
                out["LastEvaluatedTableName"] = json!(last);
            }
        }
        Ok(out)
    }

    pub(crate) fn update_table(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let billing = r.enum_str("BillingMode", &["PROVISIONED", "PAY_PER_REQUEST"])?;
        let pt = match r.object("ProvisionedThroughput")? {
            Some(pt) => Some(parse_throughput(pt, "provisionedThroughput")?),
            None => None,
        };
        let deletion_protection = r.bool("DeletionProtectionEnabled")?;
        let table_class = r.enum_str("TableClass", &TABLE_CLASSES)?;
        let gsi_updates = parse_gsi_updates(r)?;
        if r.has("ReplicaUpdates") {
            return Err(not_supported("ReplicaUpdates"));
        }
        let stream_update = parse_stream_spec(r)?;
        let on_demand_max = parse_on_demand_throughput(r)?;
        let sse = self.parse_sse_specification(r)?;
        if billing.is_none()
            && pt.is_none()
            && on_demand_max.is_none()
            && gsi_updates.is_empty()
            && deletion_protection.is_none()
            && !r.has("StreamSpecification")
            && !r.has("SSESpecification")
            && !r.has("TableClass")
        {
            return Err(ApiError::validation(
                "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required",
            ));
        }
        let _guard = self.catalog_lock.lock();
        let t = self.control_table(r, "UpdateTable")?;
        let mut d = t.desc.clone();
        let now = now_secs();
        let mode = billing.unwrap_or(d.billing_mode.as_str()).to_string();
        if mode == "PAY_PER_REQUEST" && pt.is_some() {
            return Err(invalid("Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST"));
        }
        if mode == "PROVISIONED" && d.billing_mode == "PAY_PER_REQUEST" && pt.is_none() {
            return Err(invalid(
                "ProvisionedThroughput must be specified when BillingMode is PROVISIONED",
            ));
        }
        if mode != d.billing_mode {
            d.billing_mode = mode.clone();
            d.billing_mode_changed_at = Some(now);
            if mode == "PAY_PER_REQUEST" {
                d.read_capacity = 0;
                d.write_capacity = 0;
            }
        }
        if let Some((rcu, wcu)) = pt {
            let switching = t.desc.billing_mode != d.billing_mode;
            if !switching && rcu == d.read_capacity && wcu == d.write_capacity {
                return Err(ApiError::validation(format!(
                    "The provisioned throughput for the table will not change. The requested value equals the current value. Current ReadCapacityUnits provisioned for the table: {}. Requested ReadCapacityUnits: {rcu}. Current WriteCapacityUnits provisioned for the table: {}. Requested WriteCapacityUnits: {wcu}. Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher limits.",
                    d.read_capacity, d.write_capacity
                )));
            }
            let decrease = !switching && (rcu < d.read_capacity || wcu < d.write_capacity);
            let increase = switching || rcu > d.read_capacity || wcu > d.write_capacity;
            if decrease {
                let day = (now / 86_400.0).floor();
                d.decreases.retain(|x| (x / 86_400.0).floor() == day);
                if !decrease_allowed(&d.decreases, now) {
                    return Err(ApiError::new(
                        ErrorCode::LimitExceededException,
                        format!(
                            "Subscriber limit exceeded: Provisioned throughput decreases are limited within a given UTC day. After the first {FREE_DECREASES_PER_DAY} decreases, each subsequent decrease in the same UTC day can be performed at most once every 3600 seconds. Number of decreases today: {}.",
                            d.decreases.len()
                        ),
                    ));
                }
                d.decreases.push(now);
                d.last_decrease_at = Some(now);
            }
            if increase {
                d.last_increase_at = Some(now);
            }
            d.read_capacity = rcu;
            d.write_capacity = wcu;
        }
        if let Some(p) = deletion_protection {
            d.deletion_protection = p;
        }
        if let Some(k) = sse {
            d.sse_kms_key_arn = k;
        }
        if let Some(c) = table_class {
            d.table_class = Some((c.to_string(), Some(now)));
        }
        if on_demand_max.is_some() {
            d.on_demand_max = on_demand_max;
        }
        let (created, dropped) = self.apply_gsi_updates(r, &t, &mut d, gsi_updates)?;
        let mut new_spaces: Vec<SpaceId> = created.iter().map(|ix| ix.space).collect();
        match stream_update {
            Some(Some(view_type)) => {
                if d.stream.as_ref().is_some_and(|s| s.enabled) {
                    return Err(ApiError::validation(format!(
                        "Table already has an enabled stream: TableName: {}",
                        d.name
                    )));
                }
                let mut space = self
                    .next_space()?
                    .max(new_spaces.iter().max().map_or(0, |s| s + 1));
                while self.kv.has_space(space) {
                    space += 1;
                }
                self.kv.create_space(space, 1)?;
                new_spaces.push(space);
                if let Some(old) = d.stream.take() {
                    d.old_streams.push(old);
                }
                let at = self.fresh_stream_time(&d.name, Some(&d), now);
                d.stream = Some(StreamDesc {
                    view_type,
                    label: label_of(at),
                    space,
                    enabled: true,
                    created_at: at,
                    disabled_at: None,
                });
            }
            Some(None) => match d.stream.as_mut() {
                Some(s) if s.enabled => {
                    s.enabled = false;
                    s.disabled_at = Some(now);
                }
                _ => {
                    return Err(ApiError::validation(format!(
                        "Table already has no enabled stream: TableName: {}",
                        d.name
                    )))
                }
            },
            None => {}
        }
        let mut extra = Vec::new();
        if let Some(max) = new_spaces.iter().max() {
            extra.push(KvWrite {
                space: SYSTEM_SPACE,
                key: NEXT_SPACE_KEY.to_vec(),
                value: Some((max + 1).to_le_bytes().to_vec()),
            });
        }
        if let Err(e) = self.persist(&d, extra) {
            for s in new_spaces {
                let _ = self.kv.drop_space(s);
            }
            return Err(e);
        }
        let t = self.install(d)?;
        self.capacity_changed(&t);
        // DynamoDB answers with the table UPDATING (its change is asynchronous); here the change
        // has already taken effect, so the next DescribeTable shows it ACTIVE.
        let mut desc = t.desc.describe(self, &t.schema, "UPDATING");
        for ix in &dropped {
            // DynamoDB shows the index once more, as DELETING.
            let mut v = Index::new(ix.clone())?.describe(
                &t.desc.arn(&self.opts.region, &self.opts.account_id),
                t.desc.billing_mode == "PROVISIONED",
                0,
                0,
            );
            v["IndexStatus"] = json!("DELETING");
            match desc["GlobalSecondaryIndexes"].as_array_mut() {
                Some(a) => a.push(v),
                None => desc["GlobalSecondaryIndexes"] = json!([v]),
            }
            self.kv.drop_space(ix.space).map_err(storage)?;
            self.capacity_dropped(ix.space);
        }
        if let Some(ix) = created {
            self.spawn_backfill(t.name().to_string(), ix.name);
        }
        Ok(json!({"TableDescription": desc}))
    }

    /// The table a checked `ResourceArn` names (`None`: no such table here, including one of
    /// another region or account).
    /// Another account's table is an AccessDeniedException for `op`, as for a caller without
    /// a resource policy granting it (see [`Tables::resolve_name`]).
    fn table_by_arn(&self, arn: &TableArn<'_>, op: &str) -> Result<Option<Arc<Table>>, ApiError> {
        if arn.region == self.opts.region && arn.account != self.opts.account_id {
            self.resolve_name(arn.arn, op)?;
        }
        if arn.region != self.opts.region || arn.account != self.opts.account_id {
            return Ok(None);
        }
        Ok(self.catalog.read().get(arn.name).cloned())
    }

    pub(crate) fn tag_resource(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let arn = resource_arn(r)?;
        let list = r.array("Tags")?.ok_or_else(|| Req::missing("Tags"))?;
        let tags = parse_tags(list, "tags")?;
        let arn = TableArn::parse(arn)?;
        if tags.is_empty() {
            // DynamoDB's words, spelling included.
            return Err(ApiError::validation(
                "Atleast one Tag needs to be provided as Input.",
            ));
        }
        let _guard = self.catalog_lock.lock();
        let t = self
            .table_by_arn(&arn, "TagResource")?
            .ok_or_else(|| arn_not_found(arn.arn))?;
        let set = tags.iter().rev().find(|(k, _)| k == PARTITIONING_TAG);
        partitioning_tag_unchanged(&t.desc, set.map(|(_, v)| v.as_str()), false)?;
        let mut d = t.desc.clone();
        d.tags.extend(tags);
        if d.tags.len() > TAGS_PER_RESOURCE_MAX {
            return Err(too_many_tags());
        }
        self.persist(&d, vec![])?;
        self.install(d)?;
        Ok(json!({}))
    }

    pub(crate) fn untag_resource(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let arn = resource_arn(r)?;
        let keys = r.array("TagKeys")?.ok_or_else(|| Req::missing("TagKeys"))?;
        let mut names = Vec::with_capacity(keys.len());
        for k in keys {
            match k {
                Value::String(s) => names.push(s.clone()),
                other => return Err(Req::type_error(other, "String")),
            }
        }
        let arn = TableArn::parse(arn)?;
        if names.is_empty() {
            return Err(ApiError::validation(
                "Atleast one Tag Key needs to be provided as Input.",
            ));
        }
        // Tag keys are 1 to 128 characters, as TagResource checks them.
        if names
            .iter()
            .any(|k| k.is_empty() || k.chars().count() > 128)
        {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '[{}]' at 'tagKeys' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]",
                names.join(", ")
            )));
        }
        let _guard = self.catalog_lock.lock();
        // Unlike TagResource and ListTagsOfResource, DynamoDB's UntagResource does not name
        // the ARN when the table is missing.
        let t = self
            .table_by_arn(&arn, "UntagResource")?
            .ok_or_else(resource_not_found)?;
        partitioning_tag_unchanged(&t.desc, None, names.iter().any(|k| k == PARTITIONING_TAG))?;
        let mut d = t.desc.clone();
        for k in &names {
            d.tags.remove(k);
        }
        self.persist(&d, vec![])?;
        self.install(d)?;
        Ok(json!({}))
    }

    pub(crate) fn list_tags_of_resource(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let arn = TableArn::parse(resource_arn(r)?)?;
        let t = self
            .table_by_arn(&arn, "ListTagsOfResource")?
            .ok_or_else(|| arn_not_found(arn.arn))?;
        let tags: Vec<Value> = t
            .desc
            .tags
            .iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect();
        Ok(json!({"Tags": tags}))
    }

    pub(crate) fn update_time_to_live(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        r.req_str("TableName")?;
        let spec = r
            .object("TimeToLiveSpecification")?
            .ok_or_else(|| Req::missing("TimeToLiveSpecification"))?;
        let sr = Req { obj: spec };
        let attr = sr
            .str("AttributeName")?
            .ok_or_else(|| Req::missing_at("timeToLiveSpecification.attributeName"))?;
        let enabled = sr
            .bool("Enabled")?
            .ok_or_else(|| Req::missing_at("timeToLiveSpecification.enabled"))?;
        // DynamoDB's own message, after the constraint list (`api::shape`), which holds the
        // name's upper bound.
        if attr.is_empty() {
            return Err(ApiError::validation(
                "TimeToLiveSpecification.AttributeName must be non empty",
            ));
        }
        let _guard = self.catalog_lock.lock();
        let t = self.control_table(r, "UpdateTimeToLive")?;
        let mut d = t.desc.clone();
        match (enabled, &d.ttl_attribute) {
            (true, Some(cur)) if cur != attr => {
                return Err(ApiError::validation(format!(
                "TimeToLive is active on a different AttributeName: current AttributeName is {cur}"
            )))
            }
            (true, Some(_)) => return Err(ApiError::validation("TimeToLive is already enabled")),
            (false, None) => return Err(ApiError::validation("TimeToLive is already disabled")),
            (false, Some(cur)) if cur != attr => {
                return Err(ApiError::validation(format!(
                "TimeToLive is active on a different AttributeName: current AttributeName is {cur}"
            )))
            }
            _ => {}
        }
        d.ttl_attribute = enabled.then(|| attr.to_string());
        self.persist(&d, vec![])?;
        self.install(d)?;
        Ok(json!({"TimeToLiveSpecification": {"Enabled": enabled, "AttributeName": attr}}))
    }

    pub(crate) fn describe_time_to_live(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let t = self.control_table(r, "DescribeTimeToLive")?;
        Ok(match &t.desc.ttl_attribute {
            Some(a) => {
                json!({"TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED", "AttributeName": a}})
            }
            None => json!({"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}),
        })
    }

    pub(crate) fn describe_limits(&self) -> Value {
        json!({
            "AccountMaxReadCapacityUnits": 80000,
            "AccountMaxWriteCapacityUnits": 80000,
            "TableMaxReadCapacityUnits": 40000,
            "TableMaxWriteCapacityUnits": 40000,
        })
    }
}

/// A GSI's ProvisionedThroughput must be given exactly when its table is provisioned.
fn check_gsi_throughput(billing: &str, spec: &IndexSpec) -> Result<(), ApiError> {
    match (billing, spec.throughput) {
        ("PROVISIONED", None) => Err(invalid(format!(
            "ProvisionedThroughput must be specified for index: {}",
            spec.name
        ))),
        ("PAY_PER_REQUEST", Some(_)) => Err(invalid(format!(
            "ProvisionedThroughput should not be specified for index: {} when BillingMode is PAY_PER_REQUEST",
            spec.name
        ))),
        _ => Ok(()),
    }
}

impl Tables {
    /// `SSESpecification`: `None` when absent; `Some(None)` for the AWS owned key (`Enabled`
    /// false or absent); `Some(Some(arn))` for a KMS key: the one `KMSMasterKeyId` names (a
    /// key id, key ARN, alias name or alias ARN, made an ARN in this account and region; an
    /// alias is not resolved to its key, there being no KMS here), else the account's
    /// AWS managed key for DynamoDB (`alias/aws/dynamodb`), whose id is derived from the
    /// account and region so it is the same for every table.
    fn parse_sse_specification(&self, r: &Req<'_>) -> Result<Option<Option<String>>, ApiError> {
        let Some(o) = r.object("SSESpecification")? else {
            return Ok(None);
        };
        let sr = Req { obj: o };
        let enabled = sr.bool("Enabled")?.unwrap_or(false);
        let sse_type = sr.enum_str("SSEType", &["AES256", "KMS"])?;
        let key = sr.str("KMSMasterKeyId")?;
        if !enabled {
            return Ok(Some(None));
        }
        if sse_type == Some("AES256") {
            return Err(ApiError::validation(
                "One or more parameter values were invalid: SSEType AES256 is not supported",
            ));
        }
        if key.is_some() && sse_type.is_none() {
            return Err(ApiError::validation(
                "One or more parameter values were invalid: SSEType KMS is required if KMSMasterKeyId is specified",
            ));
        }
        let (region, account) = (&self.opts.region, &self.opts.account_id);
        let arn = match key {
            Some(k) if k.starts_with("arn:") => k.to_string(),
            Some(k) if k.starts_with("alias/") => format!("arn:aws:kms:{region}:{account}:{k}"),
            Some(k) => format!("arn:aws:kms:{region}:{account}:key/{k}"),
            None => {
                let id = uuid_from(format!("{account}/{region}/alias/aws/dynamodb").as_bytes());
                format!("arn:aws:kms:{region}:{account}:key/{id}")
            }
        };
        Ok(Some(Some(arn)))
    }
}

/// `OnDemandThroughput`: each maximum -1 (none) or at least 1.
fn parse_on_demand_throughput(r: &Req<'_>) -> Result<Option<(i64, i64)>, ApiError> {
    let Some(o) = r.object("OnDemandThroughput")? else {
        return Ok(None);
    };
    let or = Req { obj: o };
    let mut out = [-1i64; 2];
    for (i, k) in ["MaxReadRequestUnits", "MaxWriteRequestUnits"]
        .iter()
        .enumerate()
    {
        if let Some(v) = or.i64(k)? {
            if v != -1 && v < 1 {
                return Err(ApiError::validation(format!(
                    "One or more parameter values were invalid: {k} must be -1 or at least 1"
                )));
            }
            out[i] = v;
        }
    }
    Ok(Some((out[0], out[1])))
}

/// One element of UpdateTable's `GlobalSecondaryIndexUpdates`.
enum GsiUpdate {
    Create(IndexSpec),
    Update(String, (i64, i64)),
    Delete(String),
}

/// The ResourceArn of a tagging call. DynamoDB reports a missing one before any other
/// member (even a missing Tags list), and in these words.
fn resource_arn<'a>(r: &Req<'a>) -> Result<&'a str, ApiError> {
    r.str("ResourceArn")?
        .ok_or_else(|| ApiError::validation("Invalid TableArn"))
}

/// TagResource's and ListTagsOfResource's words for a table ARN that names no table here.
fn arn_not_found(arn: &str) -> ApiError {
    ApiError::not_found(format!(
        "Requested resource not found: ResourcArn: {arn} not found"
    ))
}

/// A `ResourceArn` of the form `arn:<partition>:dynamodb:<region>:<account>:table/<name>`.
struct TableArn<'a> {
    arn: &'a str,
    region: &'a str,
    account: &'a str,
    name: &'a str,
}

impl<'a> TableArn<'a> {
    /// Checks the ARN's length and form, which need no table: DynamoDB reports them before
    /// an empty tag list and before looking the table up.
    fn parse(arn: &'a str) -> Result<TableArn<'a>, ApiError> {
        if arn.is_empty() || arn.len() > 1011 {
            return Err(constraint(
                arn,
                "resourceArn",
                if arn.is_empty() {
                    "Member must have length greater than or equal to 1"
                } else {
                    "Member must have length less than or equal to 1011"
                },
            ));
        }
        let malformed = || {
            ApiError::validation(format!(
                "Invalid TableArn: Invalid ResourceArn provided as input {arn}"
            ))
        };
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [prefix, _partition, service, region, account, resource] = parts.as_slice() else {
            return Err(malformed());
        };
        if *prefix != "arn" || *service != "dynamodb" {
            return Err(malformed());
        }
        let name = resource.strip_prefix("table/").ok_or_else(malformed)?;
        // A name no table can have (too short, too long, other characters) is a malformed
        // ARN, not a missing table.
        if name.len() < 3
            || name.len() > 255
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            return Err(malformed());
        }
        Ok(TableArn {
            arn,
            region,
            account,
            name,
        })
    }
}

fn parse_gsi_updates(r: &Req<'_>) -> Result<Vec<GsiUpdate>, ApiError> {
    let Some(list) = r.array("GlobalSecondaryIndexUpdates")? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, u) in list.iter().enumerate() {
        let ur = Req::new(u)?;
        let path = format!("globalSecondaryIndexUpdates.{}.member", i + 1);
        let name_of = |o: &Map<String, Value>, f: &str| -> Result<String, ApiError> {
            Ok((Req { obj: o })
                .str("IndexName")?
                .ok_or_else(|| Req::missing_at(&format!("{path}.{f}.indexName")))?
                .to_string())
        };
        let parts = [ur.has("Create"), ur.has("Update"), ur.has("Delete")];
        if parts.iter().filter(|p| **p).count() != 1 {
            return Err(ApiError::validation(
                "One or more parameter values were invalid: One of GlobalSecondaryIndexUpdate.Create, GlobalSecondaryIndexUpdate.Update, or GlobalSecondaryIndexUpdate.Delete must be specified",
            ));
        }
        if let Some(c) = ur.get("Create") {
            out.push(GsiUpdate::Create(index::parse_spec(
                c,
                &format!("{path}.create"),
                true,
                parse_throughput,
            )?));
        } else if let Some(o) = ur.object("Update")? {
            let name = name_of(o, "update")?;
            let pt = (Req { obj: o })
                .object("ProvisionedThroughput")?
                .ok_or_else(|| Req::missing_at(&format!("{path}.update.provisionedThroughput")))?;
            // An index's units out of range name the index ("... is out of bounds for index
            // abc"), as DynamoDB words it for an index update.
            let units = parse_throughput(pt, &format!("{path}.update.provisionedThroughput"))
                .map_err(|mut e| {
                    if e.message.ends_with(" is out of bounds") {
                        e.message.push_str(&format!(" for index {name}"));
                    }
                    e
                })?;
            out.push(GsiUpdate::Update(name, units));
        } else if let Some(o) = ur.object("Delete")? {
            out.push(GsiUpdate::Delete(name_of(o, "delete")?));
        }
    }
    // Needs no table: DynamoDB reports it before looking the table up.
    let mut named: Vec<&str> = Vec::with_capacity(out.len());
    for u in &out {
        let n = match u {
            GsiUpdate::Create(spec) => spec.name.as_str(),
            GsiUpdate::Update(n, _) | GsiUpdate::Delete(n) => n.as_str(),
        };
        if named.contains(&n) {
            return Err(invalid(format!(
                "Only one global secondary index update per index is allowed simultaneously. Index: {n}"
            )));
        }
        named.push(n);
    }
    Ok(out)
}

impl Tables {
    /// Applies GSI creations, throughput updates and deletions to a table description being
    /// updated; returns the index to backfill and the indexes to drop once persisted.
    fn apply_gsi_updates(
        &self,
        r: &Req<'_>,
        t: &Table,
        d: &mut TableDesc,
        updates: Vec<GsiUpdate>,
    ) -> Result<(Option<IndexDesc>, Vec<IndexDesc>), ApiError> {
        if updates.is_empty() {
            return Ok((None, Vec::new()));
        }
        let online = updates
            .iter()
            .filter(|u| !matches!(u, GsiUpdate::Update(..)))
            .count();
        if online > 1 || (online == 1 && d.indexes.iter().any(|i| i.backfilling)) {
            return Err(ApiError::new(
                ErrorCode::LimitExceededException,
                "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table",
            ));
        }
        let not_found = |n: &str| {
            ApiError::not_found(format!(
                "Requested resource not found: Index: {n} not found"
            ))
        };
        let mut created = None;
        let mut dropped = Vec::new();
        for u in updates {
            match u {
                GsiUpdate::Update(name, (rcu, wcu)) => {
                    let ix = d
                        .indexes
                        .iter_mut()
                        .find(|i| i.global && i.name == name)
                        .ok_or_else(|| not_found(&name))?;
                    if d.billing_mode == "PAY_PER_REQUEST" {
                        return Err(ApiError::validation(
                            "One or more parameter values were invalid: ProvisionedThroughput cannot be specified for index when BillingMode is PAY_PER_REQUEST",
                        ));
                    }
                    ix.read_capacity = rcu;
                    ix.write_capacity = wcu;
                }
                GsiUpdate::Delete(name) => {
                    let at = d
                        .indexes
                        .iter()
                        .position(|i| i.global && i.name == name)
                        .ok_or_else(|| not_found(&name))?;
                    dropped.push(d.indexes.remove(at));
                }
                GsiUpdate::Create(spec) => {
                    if d.indexes.iter().any(|i| i.name == spec.name) {
                        return Err(ApiError::validation(format!(
                            "One or more parameter values were invalid: Index {} already exists",
                            spec.name
                        )));
                    }
                    if d.indexes.iter().filter(|i| i.global).count() >= GSI_PER_TABLE_MAX {
                        return Err(ApiError::new(
                            ErrorCode::LimitExceededException,
                            format!("One or more parameter values were invalid: GlobalSecondaryIndex count exceeds the per-table limit of {GSI_PER_TABLE_MAX}"),
                        ));
                    }
                    check_gsi_throughput(&d.billing_mode, &spec)?;
                    // Key attributes of the new index must all be defined by the request's
                    // own AttributeDefinitions (the table's stored definitions do not count);
                    // an attribute the table already defines keeps its stored type, even
                    // where the request redeclares it with another (DynamoDB accepts that
                    // and changes nothing, as observed in eu-west-2 in 2026).
                    let mut defs: Vec<(String, String)> = Vec::new();
                    if let Some(list) = r.array("AttributeDefinitions")? {
                        for (i, v) in list.iter().enumerate() {
                            let dr = Req::new(v)?;
                            let at = |f: &str| format!("attributeDefinitions.{}.member.{f}", i + 1);
                            let n = dr
                                .str("AttributeName")?
                                .ok_or_else(|| Req::missing_at(&at("attributeName")))?;
                            let ty = dr
                                .str("AttributeType")?
                                .ok_or_else(|| Req::missing_at(&at("attributeType")))?;
                            if ScalarType::parse(ty).is_none() {
                                return Err(constraint(
                                    ty,
                                    &at("attributeType"),
                                    "Member must satisfy enum value set: [B, N, S]",
                                ));
                            }
                            let stored = d.attribute_definitions.iter().find(|(a, _)| a == n);
                            let ty = stored.map(|(_, t)| t.as_str()).unwrap_or(ty);
                            if !defs.iter().any(|(a, _)| a == n) {
                                defs.push((n.to_string(), ty.to_string()));
                            }
                        }
                    }
                    let (pk, sk) = index::spec_schema(&spec, &defs, &t.schema, false)?;
                    for (n, ty) in std::iter::once(&pk).chain(sk.as_ref()) {
                        if !d.attribute_definitions.iter().any(|(a, _)| a == n) {
                            d.attribute_definitions.push((n.clone(), ty.clone()));
                        }
                    }
                    let space = self.next_space()?;
                    let (read_capacity, write_capacity) = spec.throughput.unwrap_or((0, 0));
                    let ix = IndexDesc {
                        name: spec.name,
                        global: true,
                        space,
                        partition_key: pk,
                        sort_key: sk,
                        projection: spec.projection,
                        non_key_attributes: spec.non_key_attributes,
                        read_capacity,
                        write_capacity,
                        backfilling: true,
                    };
                    d.indexes.push(ix.clone());
                    index::check_indexes(&d.indexes.iter().collect::<Vec<_>>())?;
                    self.kv.create_space(space, d.partitions)?;
                    created = Some(ix);
                }
            }
        }
        Ok((created, dropped))
    }

    /// Marks a backfilled index ACTIVE (when it and its table still exist).
    pub(crate) fn finish_backfill(&self, table: &str, index: &str) -> Result<(), ApiError> {
        let _guard = self.catalog_lock.lock();
        let Some(t) = self.catalog.read().get(table).cloned() else {
            return Ok(());
        };
        let mut d = t.desc.clone();
        let Some(ix) = d.indexes.iter_mut().find(|i| i.name == index) else {
            return Ok(());
        };
        ix.backfilling = false;
        self.persist(&d, vec![])?;
        self.install(d)?;
        Ok(())
    }
}

/// DynamoDB's decrease quota: four decreases at any time of a UTC day, then one more for each
/// hour of the day (so far) in which no decrease happened, at most 27 in the day.
fn decrease_allowed(today: &[f64], now: f64) -> bool {
    if today.len() >= DECREASES_PER_DAY_MAX {
        return false;
    }
    if today.len() < FREE_DECREASES_PER_DAY {
        return true;
    }
    let day_start = (now / 86_400.0).floor() * 86_400.0;
    let hours_elapsed = ((now - day_start) / 3600.0).floor() as i64;
    let quiet_hours = (0..hours_elapsed)
        .filter(|h| {
            !today
                .iter()
                .any(|t| ((t - day_start) / 3600.0).floor() as i64 == *h)
        })
        .count();
    today.len() < FREE_DECREASES_PER_DAY + quiet_hours
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_decreases_are_free_then_one_per_quiet_hour() {
        let day = 20_000.0 * 86_400.0;
        // Early in the day: four allowed, the fifth not.
        let early = day + 60.0;
        let four = vec![early; 4];
        assert!(decrease_allowed(&four[..3], early));
        assert!(!decrease_allowed(&four, early));
        // Ten hours later, with decreases only in hour 0: nine quiet hours earn nine more.
        let later = day + 10.0 * 3600.0 + 5.0;
        assert!(decrease_allowed(&four, later));
        let mut many = four.clone();
        many.extend(std::iter::repeat_n(later, 9));
        assert!(!decrease_allowed(&many, later));
        assert!(!decrease_allowed(
            &[later; DECREASES_PER_DAY_MAX],
            later + 86_000.0
        ));
    }

    #[test]
    fn table_ids_look_like_uuids() {
        let id = new_table_id("t", 3);
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            vec![8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        assert_ne!(id, new_table_id("u", 3));
    }
}
