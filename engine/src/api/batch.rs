//! BatchGetItem, BatchWriteItem, TransactWriteItems, TransactGetItems.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::catalog::TableDesc;
use super::items::{check, item_size_of, load, parse_projection};
use super::request::{ExprCtx, Req};
use super::{read_units, write_units, ApiError, Database, ErrorCode};
use crate::expr;
use crate::kv::KvWrite;
use crate::limits::{
    BATCH_GET_KEYS_MAX, BATCH_WRITE_REQUESTS_MAX, TRANSACT_ACTIONS_MAX, TRANSACT_SIZE_MAX_BYTES,
    TRANSACT_TOKEN_TTL_SECS,
};
use crate::model::{decode_item, encode_item, item_size, item_to_json, validate_item, Item};

fn capacity_list(
    r: &Req<'_>,
    per_table: &BTreeMap<String, f64>,
) -> Result<Option<Value>, ApiError> {
    let mut v = Vec::new();
    for (t, units) in per_table {
        if let Some(c) = super::capacity_json(r, t, *units)? {
            v.push(c);
        }
    }
    Ok(if v.is_empty() {
        None
    } else {
        Some(Value::Array(v))
    })
}

fn dup_keys() -> ApiError {
    ApiError::validation("Provided list of item keys contains duplicates")
}

/// A write of one transaction or batch, ready to apply.
struct Planned {
    table: TableDesc,
    key: Vec<u8>,
    value: Option<Vec<u8>>,
    units: f64,
}

impl Database {
    pub(crate) fn batch_get_item(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let ri = r
            .object("RequestItems")?
            .ok_or_else(|| Req::missing("RequestItems"))?;
        let total: usize = ri
            .values()
            .map(|v| {
                v.get("Keys")
                    .and_then(Value::as_array)
                    .map_or(0, |a| a.len())
            })
            .sum();
        if total > BATCH_GET_KEYS_MAX {
            return Err(ApiError::validation(
                "Too many items requested for the BatchGetItem call",
            ));
        }
        if ri.is_empty() {
            return Err(ApiError::validation("1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1"));
        }
        let mut responses = Map::new();
        let mut units: BTreeMap<String, f64> = BTreeMap::new();
        for (name, spec) in ri {
            let t = self.table(name)?;
            let sr = Req::new(spec)?;
            let mut ctx = ExprCtx::from_req(&sr)?;
            let proj = parse_projection(&sr, &mut ctx)?;
            ctx.finish()?;
            let consistent = sr.bool("ConsistentRead")?.unwrap_or(false);
            let keys = sr.array("Keys")?.ok_or_else(|| Req::missing("Keys"))?;
            let schema = t.schema();
            let mut seen = HashSet::new();
            let mut out = Vec::new();
            for k in keys {
                let key_item = crate::model::item_from_json(k)?;
                let key = schema.key_of(&key_item)?;
                if !seen.insert(key.clone()) {
                    return Err(dup_keys());
                }
                let item = load(self, &t, &key)?;
                *units.entry(name.clone()).or_default() +=
                    read_units(item_size_of(item.as_ref()), consistent);
                if let Some(i) = item {
                    let shown = match &proj {
                        Some(p) => expr::project(p, &i),
                        None => i,
                    };
                    out.push(item_to_json(&shown));
                }
            }
            responses.insert(name.clone(), Value::Array(out));
        }
        let mut res = json!({"Responses": responses, "UnprocessedKeys": {}});
        if let Some(c) = capacity_list(r, &units)? {
            res["ConsumedCapacity"] = c;
        }
        Ok(res)
    }

    pub(crate) fn batch_write_item(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let ri = r
            .object("RequestItems")?
            .ok_or_else(|| Req::missing("RequestItems"))?;
        let total: usize = ri
            .values()
            .map(|v| v.as_array().map_or(0, |a| a.len()))
            .sum();
        if ri.is_empty() || total == 0 {
            return Err(ApiError::validation("1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1"));
        }
        if total > BATCH_WRITE_REQUESTS_MAX {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to {BATCH_WRITE_REQUESTS_MAX}, Member must have length greater than or equal to 1]"
            )));
        }
        let mut plans: Vec<Planned> = Vec::new();
        let mut seen = HashSet::new();
        for (name, reqs) in ri {
            let t = self.table(name)?;
            let schema = t.schema();
            let reqs = reqs
                .as_array()
                .ok_or_else(|| ApiError::serialization("RequestItems values must be lists"))?;
            for w in reqs {
                let put = w.get("PutRequest").filter(|v| !v.is_null());
                let del = w.get("DeleteRequest").filter(|v| !v.is_null());
                let (key, value, size) = match (put, del) {
                    (Some(p), None) => {
                        let item = crate::model::item_from_json(p.get("Item").ok_or_else(|| Req::missing("Item"))?)?;
                        validate_item(&item, &schema)?;
                        (schema.user_key(&item)?, Some(encode_item(&item)), item_size(&item))
                    }
                    (None, Some(d)) => {
                        let k = crate::model::item_from_json(d.get("Key").ok_or_else(|| Req::missing("Key"))?)?;
                        (schema.key_of(&k)?, None, 0)
                    }
                    _ => {
                        return Err(ApiError::validation(
                            "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
                        ))
                    }
                };
                if !seen.insert((t.space, key.clone())) {
                    return Err(dup_keys());
                }
                plans.push(Planned {
                    table: t.clone(),
                    key,
                    value,
                    units: write_units(size),
                });
            }
        }
        let _locks = self
            .locks
            .lock_many(plans.iter().map(|p| (p.table.space, p.key.as_slice())));
        let mut units: BTreeMap<String, f64> = BTreeMap::new();
        for p in &plans {
            let old = if p.value.is_none() {
                load(self, &p.table, &p.key)?
            } else {
                None
            };
            let u = p.units.max(write_units(item_size_of(old.as_ref())));
            *units.entry(p.table.name.clone()).or_default() += u;
        }
        self.kv.write(
            plans
                .into_iter()
                .map(|p| KvWrite {
                    space: p.table.space,
                    key: p.key,
                    value: p.value,
                })
                .collect(),
        )?;
        let mut res = json!({"UnprocessedItems": {}});
        if let Some(c) = capacity_list(r, &units)? {
            res["ConsumedCapacity"] = c;
        }
        Ok(res)
    }

    pub(crate) fn transact_write_items(&self, r: &Req<'_>, raw: &Value) -> Result<Value, ApiError> {
        let items = r
            .array("TransactItems")?
            .ok_or_else(|| Req::missing("TransactItems"))?;
        if items.is_empty() || items.len() > TRANSACT_ACTIONS_MAX {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length {}",
                if items.is_empty() { "greater than or equal to 1".to_string() } else { format!("less than or equal to {TRANSACT_ACTIONS_MAX}") }
            )));
        }
        let token = r.str("ClientRequestToken")?.map(str::to_string);
        if let Some(tok) = &token {
            let mut cache = self.tokens.lock();
            cache.retain(|_, (_, at, _)| {
                at.elapsed() < Duration::from_secs(TRANSACT_TOKEN_TTL_SECS)
            });
            if let Some((body, _, resp)) = cache.get(tok) {
                if body == raw {
                    return Ok(resp.clone());
                }
                return Err(ApiError::new(
                    ErrorCode::IdempotentParameterMismatchException,
                    "Request with the same client request token but different parameters was already processed",
                ));
            }
        }
        // Parse every action first: validation errors fail the whole request.
        struct Action {
            table: TableDesc,
            key: Vec<u8>,
            key_item: Item,
            kind: &'static str,
            item: Option<Item>,
            update: Option<expr::UpdateExpr>,
            cond: Option<expr::Condition>,
            on_fail: bool,
        }
        let mut actions = Vec::with_capacity(items.len());
        let mut seen = HashSet::new();
        let mut total_size = 0usize;
        for it in items {
            let obj = it
                .as_object()
                .ok_or_else(|| ApiError::serialization("TransactItems members must be objects"))?;
            let present: Vec<(&str, &Value)> = ["Put", "Update", "Delete", "ConditionCheck"]
                .iter()
                .filter_map(|k| obj.get(*k).filter(|v| !v.is_null()).map(|v| (*k, v)))
                .collect();
            let [(kind, body)] = present.as_slice() else {
                return Err(ApiError::validation(
                    "TransactItems can only contain one of Check, Put, Update or Delete",
                ));
            };
            let ar = Req::new(body)?;
            let t = self.table(ar.req_str("TableName")?)?;
            let schema = t.schema();
            let mut ctx = ExprCtx::from_req(&ar)?;
            let cond = match ar.str("ConditionExpression")? {
                Some(src) => Some(ctx.condition(expr::ExprKind::Condition, src)?),
                None if *kind == "ConditionCheck" => {
                    return Err(Req::missing("ConditionExpression"))
                }
                None => None,
            };
            let (key_item, key, item, update) = match *kind {
                "Put" => {
                    let item = ar.item("Item")?.ok_or_else(|| Req::missing("Item"))?;
                    validate_item(&item, &schema)?;
                    total_size += item_size(&item);
                    (
                        schema.extract_key(&item)?,
                        schema.user_key(&item)?,
                        Some(item),
                        None,
                    )
                }
                _ => {
                    let k = ar.item("Key")?.ok_or_else(|| Req::missing("Key"))?;
                    let key = schema.key_of(&k)?;
                    let update = if *kind == "Update" {
                        Some(ctx.update(ar.req_str("UpdateExpression")?)?)
                    } else {
                        None
                    };
                    (k, key, None, update)
                }
            };
            ctx.finish()?;
            if !seen.insert((t.space, key.clone())) {
                return Err(ApiError::validation(
                    "Transaction request cannot include multiple operations on one item",
                ));
            }
            let on_fail = ar
                .enum_str("ReturnValuesOnConditionCheckFailure", &["ALL_OLD", "NONE"])?
                == Some("ALL_OLD");
            actions.push(Action {
                table: t,
                key,
                key_item,
                kind,
                item,
                update,
                cond,
                on_fail,
            });
        }
        if total_size > TRANSACT_SIZE_MAX_BYTES {
            return Err(ApiError::validation(
                "Transaction size has exceeded the maximum allowed size of 4 MB",
            ));
        }
        let _locks = self
            .locks
            .lock_many(actions.iter().map(|a| (a.table.space, a.key.as_slice())));
        let mut reasons = Vec::with_capacity(actions.len());
        let mut failed = false;
        let mut writes = Vec::new();
        let mut units: BTreeMap<String, f64> = BTreeMap::new();
        for a in &actions {
            let old = load(self, &a.table, &a.key)?;
            if !check(&a.cond, old.as_ref())? {
                failed = true;
                let mut reason = json!({"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"});
                if a.on_fail {
                    if let Some(o) = &old {
                        reason["Item"] = item_to_json(o);
                    }
                }
                reasons.push(reason);
                continue;
            }
            let new: Option<Item> = match a.kind {
                "Put" => a.item.clone(),
                "Delete" => None,
                "Update" => {
                    let mut n = old.clone().unwrap_or_else(|| a.key_item.clone());
                    if let Some(u) = &a.update {
                        match expr::apply_update(u, &mut n) {
                            Ok(outcome) => {
                                if let Some(k) = outcome
                                    .top_level_names()
                                    .into_iter()
                                    .find(|k| a.table.schema().is_key_attribute(k))
                                {
                                    return Err(ApiError::validation(format!(
                                        "One or more parameter values were invalid: Cannot update attribute {k}. This attribute is part of the key"
                                    )));
                                }
                            }
                            Err(e) => {
                                failed = true;
                                reasons
                                    .push(json!({"Code": "ValidationError", "Message": e.message}));
                                continue;
                            }
                        }
                    }
                    if let Err(e) = validate_item(&n, &a.table.schema()) {
                        failed = true;
                        reasons.push(json!({"Code": "ValidationError", "Message": e.message}));
                        continue;
                    }
                    Some(n)
                }
                _ => {
                    reasons.push(json!({"Code": "None"}));
                    *units.entry(a.table.name.clone()).or_default() +=
                        2.0 * read_units(item_size_of(old.as_ref()), true);
                    continue;
                }
            };
            reasons.push(json!({"Code": "None"}));
            let size = item_size_of(old.as_ref()).max(new.as_ref().map(item_size).unwrap_or(0));
            *units.entry(a.table.name.clone()).or_default() += 2.0 * write_units(size);
            writes.push(KvWrite {
                space: a.table.space,
                key: a.key.clone(),
                value: new.as_ref().map(encode_item),
            });
        }
        if failed {
            let codes: Vec<&str> = reasons
                .iter()
                .map(|r| r["Code"].as_str().unwrap_or("None"))
                .collect();
            return Err(ApiError::new(
                ErrorCode::TransactionCanceledException,
                format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]", codes.join(", ")),
            )
            .with_extra("CancellationReasons", Value::Array(reasons)));
        }
        // One write batch: one WAL record, so a crash never applies half a transaction.
        self.kv.write(writes)?;
        let mut res = json!({});
        if let Some(c) = capacity_list(r, &units)? {
            res["ConsumedCapacity"] = c;
        }
        if let Some(tok) = token {
            self.tokens
                .lock()
                .insert(tok, (raw.clone(), Instant::now(), res.clone()));
        }
        Ok(res)
    }

    pub(crate) fn transact_get_items(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let items = r
            .array("TransactItems")?
            .ok_or_else(|| Req::missing("TransactItems"))?;
        if items.is_empty() || items.len() > TRANSACT_ACTIONS_MAX {
            return Err(ApiError::validation("1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100"));
        }
        let snapshot = self.kv.snapshot();
        let mut out = Vec::with_capacity(items.len());
        let mut units: BTreeMap<String, f64> = BTreeMap::new();
        let mut seen = HashSet::new();
        for it in items {
            let g = it
                .get("Get")
                .filter(|v| !v.is_null())
                .ok_or_else(|| Req::missing("TransactItems.member.get"))?;
            let gr = Req::new(g)?;
            let t = self.table(gr.req_str("TableName")?)?;
            let mut ctx = ExprCtx::from_req(&gr)?;
            let proj = match gr.str("ProjectionExpression")? {
                Some(src) => Some(ctx.projection(src)?),
                None => None,
            };
            ctx.finish()?;
            let k = gr.item("Key")?.ok_or_else(|| Req::missing("Key"))?;
            let key = t.schema().key_of(&k)?;
            if !seen.insert((t.space, key.clone())) {
                return Err(ApiError::validation(
                    "Transaction request cannot include multiple operations on one item",
                ));
            }
            let item = match self.kv.get_at(t.space, &key, snapshot)? {
                Some(b) => Some(decode_item(&b)?),
                None => None,
            };
            *units.entry(t.name.clone()).or_default() +=
                2.0 * read_units(item_size_of(item.as_ref()), true);
            out.push(match item {
                Some(i) => json!({"Item": item_to_json(&match &proj { Some(p) => expr::project(p, &i), None => i })}),
                None => json!({}),
            });
        }
        let mut res = json!({"Responses": out});
        if let Some(c) = capacity_list(r, &units)? {
            res["ConsumedCapacity"] = c;
        }
        Ok(res)
    }
}
