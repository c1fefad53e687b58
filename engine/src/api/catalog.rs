//! The table catalog: table descriptions persisted in the system keyspace (so they share the
//! engine's WAL, durability and crash recovery), and the control-plane operations.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::request::Req;
use super::{ApiError, Database, ErrorCode};
use crate::kv::{KvWrite, SpaceId, SYSTEM_SPACE};
use crate::model::{validate_table_name, KeyAttr, KeySchema, ScalarType};

const TABLE_PREFIX: &[u8] = b"table/";
const NEXT_SPACE_KEY: &[u8] = b"meta/next_space";

/// What the catalog stores of a table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableDesc {
    pub name: String,
    pub space: SpaceId,
    pub table_id: String,
    pub partition_key: (String, String),
    pub sort_key: Option<(String, String)>,
    pub attribute_definitions: Vec<(String, String)>,
    pub billing_mode: String,
    pub read_capacity: i64,
    pub write_capacity: i64,
    pub created_at: f64,
    pub tags: BTreeMap<String, String>,
    pub ttl_attribute: Option<String>,
    pub partitions: u32,
}

impl TableDesc {
    pub fn schema(&self) -> KeySchema {
        let ty = |t: &str| ScalarType::parse(t).unwrap_or(ScalarType::S);
        KeySchema {
            partition: KeyAttr {
                name: self.partition_key.0.clone(),
                ty: ty(&self.partition_key.1),
            },
            sort: self.sort_key.as_ref().map(|(n, t)| KeyAttr {
                name: n.clone(),
                ty: ty(t),
            }),
        }
    }

    pub fn arn(&self, db: &Database) -> String {
        format!(
            "arn:aws:dynamodb:{}:{}:table/{}",
            db.opts.region, db.opts.account_id, self.name
        )
    }

    pub fn describe(&self, db: &Database, status: &str) -> Value {
        let stats = db.kv.space_stats(self.space).unwrap_or_default();
        let mut d = json!({
            "TableName": self.name,
            "TableStatus": status,
            "TableId": self.table_id,
            "TableArn": self.arn(db),
            "CreationDateTime": self.created_at,
            "KeySchema": self.schema().to_json(),
            "AttributeDefinitions": self.attribute_definitions.iter()
                .map(|(n, t)| json!({"AttributeName": n, "AttributeType": t})).collect::<Vec<_>>(),
            "ItemCount": stats.approximate_keys,
            "TableSizeBytes": stats.approximate_bytes,
            "ProvisionedThroughput": {
                "ReadCapacityUnits": self.read_capacity,
                "WriteCapacityUnits": self.write_capacity,
                "NumberOfDecreasesToday": 0,
            },
            "DeletionProtectionEnabled": false,
        });
        if self.billing_mode == "PAY_PER_REQUEST" {
            d["BillingModeSummary"] = json!({
                "BillingMode": "PAY_PER_REQUEST",
                "LastUpdateToPayPerRequestDateTime": self.created_at,
            });
        } else {
            d["BillingModeSummary"] = json!({"BillingMode": "PROVISIONED"});
        }
        d
    }
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn table_key(name: &str) -> Vec<u8> {
    let mut k = TABLE_PREFIX.to_vec();
    k.extend_from_slice(name.as_bytes());
    k
}

pub(crate) fn load_all(db: &Database) -> Result<BTreeMap<String, TableDesc>, ApiError> {
    let mut out = BTreeMap::new();
    let mut upper = TABLE_PREFIX.to_vec();
    upper.push(0xFF);
    let it = db.kv.scan(
        SYSTEM_SPACE,
        std::ops::Bound::Included(TABLE_PREFIX.to_vec()),
        std::ops::Bound::Excluded(upper),
        false,
    )?;
    for r in it {
        let (_, v) = r?;
        let d: TableDesc = serde_json::from_slice(&v)
            .map_err(|e| ApiError::internal(format!("catalog entry is corrupt: {e}")))?;
        out.insert(d.name.clone(), d);
    }
    Ok(out)
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!(
        "Requested resource not found: Table: {name} not found"
    ))
}

fn throughput(r: &Req<'_>) -> Result<(i64, i64), ApiError> {
    let Some(pt) = r.object("ProvisionedThroughput")? else {
        return Ok((0, 0));
    };
    let get = |k: &str| -> Result<i64, ApiError> {
        match pt.get(k) {
            Some(Value::Number(n)) => n
                .as_i64()
                .ok_or_else(|| ApiError::validation(format!("{k} is out of range"))),
            None | Some(Value::Null) => Err(Req::missing(&format!("provisionedThroughput.{}", k))),
            Some(_) => Err(ApiError::serialization(format!("{k} must be a number"))),
        }
    };
    let (rcu, wcu) = (get("ReadCapacityUnits")?, get("WriteCapacityUnits")?);
    for (k, v) in [("readCapacityUnits", rcu), ("writeCapacityUnits", wcu)] {
        if v < 1 {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{v}' at 'provisionedThroughput.{k}' failed to satisfy constraint: Member must have value greater than or equal to 1"
            )));
        }
    }
    Ok((rcu, wcu))
}

impl Database {
    pub(crate) fn table(&self, name: &str) -> Result<TableDesc, ApiError> {
        self.tables
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| ApiError::not_found("Requested resource not found"))
    }

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

    pub(crate) fn create_table(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let name = r.req_str("TableName")?;
        validate_table_name(name, "tableName")?;
        let ks = r
            .array("KeySchema")?
            .ok_or_else(|| Req::missing("KeySchema"))?;
        let defs = r
            .array("AttributeDefinitions")?
            .ok_or_else(|| Req::missing("AttributeDefinitions"))?;
        for unsupported in ["GlobalSecondaryIndexes", "LocalSecondaryIndexes"] {
            if r.array(unsupported)?.is_some_and(|a| !a.is_empty()) {
                return Err(ApiError::validation(format!(
                    "{unsupported} are not supported by hashlog yet"
                )));
            }
        }
        if r.object("StreamSpecification")?
            .is_some_and(|s| s.get("StreamEnabled") == Some(&Value::Bool(true)))
        {
            return Err(ApiError::validation(
                "Streams are not supported by hashlog yet",
            ));
        }
        let mut attr_defs: Vec<(String, String)> = Vec::new();
        for d in defs {
            let n = d
                .get("AttributeName")
                .and_then(Value::as_str)
                .ok_or_else(|| Req::missing("AttributeDefinitions.member.attributeName"))?;
            let t = d
                .get("AttributeType")
                .and_then(Value::as_str)
                .ok_or_else(|| Req::missing("AttributeDefinitions.member.attributeType"))?;
            if ScalarType::parse(t).is_none() {
                return Err(ApiError::validation(format!(
                    "1 validation error detected: Value '{t}' at 'attributeDefinitions.1.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]"
                )));
            }
            attr_defs.push((n.to_string(), t.to_string()));
        }
        let mut hash: Option<String> = None;
        let mut range: Option<String> = None;
        if ks.is_empty() || ks.len() > 2 {
            return Err(ApiError::validation(
                "1 validation error detected: Value at 'keySchema' failed to satisfy constraint: Member must have length less than or equal to 2",
            ));
        }
        for k in ks {
            let n = k
                .get("AttributeName")
                .and_then(Value::as_str)
                .ok_or_else(|| Req::missing("KeySchema.member.attributeName"))?;
            match k.get("KeyType").and_then(Value::as_str) {
                Some("HASH") if hash.is_none() => hash = Some(n.to_string()),
                Some("RANGE") if range.is_none() => range = Some(n.to_string()),
                Some("HASH") | Some("RANGE") => {
                    return Err(ApiError::validation(
                        "Invalid KeySchema: Too many key elements of one type",
                    ))
                }
                _ => {
                    return Err(ApiError::validation(
                        "Invalid KeySchema: Some index key attribute have no definition",
                    ))
                }
            }
        }
        let hash = hash.ok_or_else(|| {
            ApiError::validation(
                "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
            )
        })?;
        let type_of = |n: &str| {
            attr_defs
                .iter()
                .find(|(a, _)| a == n)
                .map(|(_, t)| t.clone())
        };
        let pk_t = type_of(&hash).ok_or_else(|| {
            ApiError::validation("One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [".to_string() + &hash + "], AttributeDefinitions: [" + &attr_defs.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ") + "]")
        })?;
        let sk = match &range {
            Some(rn) => Some((rn.clone(), type_of(rn).ok_or_else(|| ApiError::validation("One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions."))?)),
            None => None,
        };
        let used = 1 + sk.is_some() as usize;
        if attr_defs.len() != used {
            return Err(ApiError::validation(
                "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions",
            ));
        }
        let billing = r
            .enum_str("BillingMode", &["PROVISIONED", "PAY_PER_REQUEST"])?
            .unwrap_or("PROVISIONED");
        let (rcu, wcu) = throughput(r)?;
        if billing == "PROVISIONED" && r.object("ProvisionedThroughput")?.is_none() {
            return Err(ApiError::validation("One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED"));
        }
        if billing == "PAY_PER_REQUEST" && r.object("ProvisionedThroughput")?.is_some() {
            return Err(ApiError::validation("One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST"));
        }
        let mut tags = BTreeMap::new();
        if let Some(t) = r.array("Tags")? {
            for tag in t {
                if let (Some(k), Some(v)) = (
                    tag.get("Key").and_then(Value::as_str),
                    tag.get("Value").and_then(Value::as_str),
                ) {
                    tags.insert(k.to_string(), v.to_string());
                }
            }
        }
        let _guard = self.catalog_lock.lock();
        if self.tables.read().contains_key(name) {
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
        let d = TableDesc {
            name: name.to_string(),
            space,
            table_id: format!(
                "{:016x}-{:016x}",
                crate::key::key_hash(name.as_bytes()),
                space ^ (now_secs() as u64)
            ),
            partition_key: (hash, pk_t),
            sort_key: sk,
            attribute_definitions: attr_defs,
            billing_mode: billing.to_string(),
            read_capacity: rcu,
            write_capacity: wcu,
            created_at: (now_secs() * 1000.0).round() / 1000.0,
            tags,
            ttl_attribute: None,
            partitions,
        };
        self.persist(
            &d,
            vec![KvWrite {
                space: SYSTEM_SPACE,
                key: NEXT_SPACE_KEY.to_vec(),
                value: Some((space + 1).to_le_bytes().to_vec()),
            }],
        )?;
        let desc = d.describe(self, "ACTIVE");
        self.tables.write().insert(name.to_string(), d);
        Ok(json!({"TableDescription": desc}))
    }

    fn next_space(&self) -> Result<SpaceId, ApiError> {
        let stored = self
            .kv
            .get(SYSTEM_SPACE, NEXT_SPACE_KEY)?
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes);
        let max_live = self
            .tables
            .read()
            .values()
            .map(|t| t.space + 1)
            .max()
            .unwrap_or(1);
        Ok(stored.unwrap_or(1).max(max_live).max(1))
    }

    pub(crate) fn delete_table(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let name = r.req_str("TableName")?;
        let _guard = self.catalog_lock.lock();
        let d = self
            .tables
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| not_found(name))?;
        let desc = d.describe(self, "DELETING");
        self.kv.write(vec![KvWrite {
            space: SYSTEM_SPACE,
            key: table_key(name),
            value: None,
        }])?;
        self.tables.write().remove(name);
        self.kv.drop_space(d.space)?;
        Ok(json!({"TableDescription": desc}))
    }

    pub(crate) fn describe_table(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let name = r.req_str("TableName")?;
        let d = self
            .tables
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| not_found(name))?;
        Ok(json!({"Table": d.describe(self, "ACTIVE")}))
    }

    pub(crate) fn list_tables(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let limit = r.i64("Limit")?.unwrap_or(100);
        if !(1..=100).contains(&limit) {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: Member must have value {}",
                if limit < 1 { "greater than or equal to 1" } else { "less than or equal to 100" }
            )));
        }
        let start = r.str("ExclusiveStartTableName")?;
        let tables = self.tables.read();
        let names: Vec<&String> = tables
            .keys()
            .filter(|n| start.is_none_or(|s| n.as_str() > s))
            .collect();
        let page: Vec<&String> = names.iter().take(limit as usize).copied().collect();
        let mut out = json!({"TableNames": page});
        if names.len() > page.len() {
            if let Some(last) = page.last() {
                out["LastEvaluatedTableName"] = json!(last);
            }
        }
        Ok(out)
    }

    pub(crate) fn update_table(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let name = r.req_str("TableName")?;
        let _guard = self.catalog_lock.lock();
        let mut d = self
            .tables
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| not_found(name))?;
        for unsupported in ["GlobalSecondaryIndexUpdates", "ReplicaUpdates"] {
            if r.has(unsupported) {
                return Err(ApiError::validation(format!(
                    "{unsupported} is not supported by hashlog yet"
                )));
            }
        }
        if let Some(b) = r.enum_str("BillingMode", &["PROVISIONED", "PAY_PER_REQUEST"])? {
            d.billing_mode = b.to_string();
            if b == "PAY_PER_REQUEST" {
                d.read_capacity = 0;
                d.write_capacity = 0;
            }
        }
        if r.has("ProvisionedThroughput") {
            if d.billing_mode == "PAY_PER_REQUEST" {
                return Err(ApiError::validation("One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST"));
            }
            let (rcu, wcu) = throughput(r)?;
            d.read_capacity = rcu;
            d.write_capacity = wcu;
        }
        self.persist(&d, vec![])?;
        let desc = d.describe(self, "ACTIVE");
        self.tables.write().insert(name.to_string(), d);
        Ok(json!({"TableDescription": desc}))
    }

    fn table_by_arn(&self, arn: &str) -> Result<TableDesc, ApiError> {
        let name = arn.rsplit_once(":table/").map(|(_, n)| n).unwrap_or(arn);
        self.tables.read().get(name).cloned().ok_or_else(|| {
            ApiError::not_found(format!(
                "Requested resource not found: ResourcArn: {arn} not found"
            ))
        })
    }

    pub(crate) fn tag_resource(&self, r: &Req<'_>, tag: bool) -> Result<Value, ApiError> {
        let arn = r.req_str("ResourceArn")?;
        let _guard = self.catalog_lock.lock();
        let mut d = self.table_by_arn(arn)?;
        if tag {
            for t in r.array("Tags")?.ok_or_else(|| Req::missing("Tags"))? {
                if let (Some(k), Some(v)) = (
                    t.get("Key").and_then(Value::as_str),
                    t.get("Value").and_then(Value::as_str),
                ) {
                    d.tags.insert(k.to_string(), v.to_string());
                }
            }
        } else {
            for k in r.array("TagKeys")?.ok_or_else(|| Req::missing("TagKeys"))? {
                if let Some(k) = k.as_str() {
                    d.tags.remove(k);
                }
            }
        }
        self.persist(&d, vec![])?;
        self.tables.write().insert(d.name.clone(), d);
        Ok(json!({}))
    }

    pub(crate) fn list_tags(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let arn = r.req_str("ResourceArn")?;
        let d = self.table_by_arn(arn)?;
        let tags: Vec<Value> = d
            .tags
            .iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect();
        Ok(json!({"Tags": tags}))
    }

    pub(crate) fn update_ttl(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let name = r.req_str("TableName")?;
        let spec = r
            .object("TimeToLiveSpecification")?
            .ok_or_else(|| Req::missing("TimeToLiveSpecification"))?;
        let enabled = spec
            .get("Enabled")
            .and_then(Value::as_bool)
            .ok_or_else(|| Req::missing("timeToLiveSpecification.enabled"))?;
        let attr = spec
            .get("AttributeName")
            .and_then(Value::as_str)
            .ok_or_else(|| Req::missing("timeToLiveSpecification.attributeName"))?;
        let _guard = self.catalog_lock.lock();
        let mut d = self
            .tables
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| not_found(name))?;
        match (enabled, &d.ttl_attribute) {
            (true, Some(_)) => return Err(ApiError::validation("TimeToLive is already enabled")),
            (false, None) => return Err(ApiError::validation("TimeToLive is already disabled")),
            _ => {}
        }
        d.ttl_attribute = enabled.then(|| attr.to_string());
        self.persist(&d, vec![])?;
        self.tables.write().insert(name.to_string(), d);
        Ok(json!({"TimeToLiveSpecification": {"Enabled": enabled, "AttributeName": attr}}))
    }

    pub(crate) fn describe_ttl(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let name = r.req_str("TableName")?;
        let d = self
            .tables
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| not_found(name))?;
        Ok(match d.ttl_attribute {
            Some(a) => {
                json!({"TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED", "AttributeName": a}})
            }
            None => json!({"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}),
        })
    }
}
