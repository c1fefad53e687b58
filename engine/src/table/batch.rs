//! BatchGetItem and BatchWriteItem.
//!
//! Both validate the whole request (every table, key and item) before touching data.
//! BatchGetItem answers keys in request order until the 16 MB response cap, and returns the rest
//! as `UnprocessedKeys` with the same per-table parameters. BatchWriteItem locks every item and
//! applies all of its writes as one atomic, durable write batch, so it never leaves
//! `UnprocessedItems`.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::capacity::{Consumed, ReturnCapacity};
use super::collections::{has_collections, metrics_by_table, size_delta};
use super::index::Change;
use super::items::{item_collection_metrics, parse_projection, size_of};
use super::{storage, Table, Tables};
use crate::api::request::{constraint, ExprCtx, Req};
use crate::api::{ApiError, ReadItem, ReadResponse};
use crate::capacity::units::{item_read_units, replace_write_units, ReadKind, WriteKind};
use crate::capacity::Op;
use crate::expr::{self, Projection};
use crate::kv::KvWrite;
use crate::limits::{BATCH_GET_KEYS_MAX, BATCH_SIZE_MAX_BYTES, BATCH_WRITE_REQUESTS_MAX};
use crate::model::{encode_item, item_from_json, item_size, validate_item_values};

pub(crate) fn duplicate_keys() -> ApiError {
    ApiError::validation("Provided list of item keys contains duplicates")
}

fn request_items<'a>(r: &Req<'a>) -> Result<&'a Map<String, Value>, ApiError> {
    let ri = r
        .object("RequestItems")?
        .ok_or_else(|| Req::missing("RequestItems"))?;
    if ri.is_empty() {
        return Err(constraint(
            "{}",
            "requestItems",
            "Member must have length greater than or equal to 1",
        ));
    }
    Ok(ri)
}

/// One table's part of a BatchGetItem.
struct GetSpec<'a> {
    table: Arc<Table>,
    /// The table as the request named it (name or ARN): responses are keyed by it.
    name: &'a str,
    /// The request's per-table object, echoed into UnprocessedKeys.
    raw: &'a Map<String, Value>,
    projection: Option<Projection>,
    kind: ReadKind,
    /// (key JSON as sent, storage key)
    keys: Vec<(&'a Value, Vec<u8>)>,
}

impl Tables {
    pub(crate) fn batch_get_item(&self, r: &Req<'_>) -> Result<ReadResponse, ApiError> {
        let ri = request_items(r)?;
        let cap = ReturnCapacity::parse(r)?;
        let mut total = 0usize;
        for spec in ri.values() {
            let sr = Req::new(spec)?;
            let keys = sr
                .array("Keys")?
                .ok_or_else(|| Req::missing_at("requestItems.member.keys"))?;
            if keys.is_empty() {
                return Err(constraint(
                    "[]",
                    "requestItems.member.keys",
                    "Member must have length greater than or equal to 1",
                ));
            }
            total += keys.len();
        }
        if total > BATCH_GET_KEYS_MAX {
            return Err(ApiError::validation(
                "Too many items requested for the BatchGetItem call",
            ));
        }
        // Validate everything before looking up any table (as DynamoDB does, so an invalid
        // request to a missing table is a ValidationException), then against each table's
        // schema, before reading anything.
        struct Parsed<'a> {
            name: &'a str,
            raw: &'a Map<String, Value>,
            projection: Option<Projection>,
            kind: ReadKind,
            keys: Vec<(&'a Value, crate::model::Item)>,
        }
        let mut parsed: Vec<Parsed<'_>> = Vec::with_capacity(ri.len());
        // Expression and non-expression parameters may not be mixed anywhere in the request,
        // not even on different tables.
        let any = |k: &str| {
            ri.values()
                .any(|spec| spec.get(k).is_some_and(|v| !v.is_null()))
        };
        if any("AttributesToGet")
            && (any("ProjectionExpression") || any("ExpressionAttributeNames"))
        {
            expr::check_expression_parameters(
                &[("ProjectionExpression", any("ProjectionExpression"))],
                &[("AttributesToGet", true)],
                any("ExpressionAttributeNames"),
                false,
            )?;
        }
        for (name, spec) in ri {
            let sr = Req::new(spec)?;
            expr::check_expression_parameters(
                &[("ProjectionExpression", sr.has("ProjectionExpression"))],
                &[("AttributesToGet", sr.has("AttributesToGet"))],
                sr.has("ExpressionAttributeNames"),
                false,
            )?;
            let keys = sr
                .array("Keys")?
                .into_iter()
                .flatten()
                .map(|k| Ok((k, item_from_json(k)?)))
                .collect::<Result<Vec<_>, ApiError>>()?;
            let mut ctx = ExprCtx::from_req(&sr)?;
            let projection = parse_projection(&sr, &mut ctx)?;
            ctx.finish()?;
            // Duplicates by value (the same attributes and values), after the projection as
            // DynamoDB orders them; the storage keys are compared again below, once the
            // schema is known.
            let mut seen = HashSet::new();
            if !keys.iter().all(|(_, item)| seen.insert(encode_item(item))) {
                return Err(duplicate_keys());
            }
            let kind = ReadKind::from_consistent(sr.bool("ConsistentRead")?.unwrap_or(false));
            parsed.push(Parsed {
                name,
                raw: sr.obj,
                projection,
                kind,
                keys,
            });
        }
        let mut specs: Vec<GetSpec<'_>> = Vec::with_capacity(parsed.len());
        for p in parsed {
            let table = self.table(p.name, "BatchGetItem")?;
            super::items::check_scalar_key_paths(
                &table,
                p.projection.iter().flat_map(|p| p.paths.iter()),
            )?;
            let mut seen = HashSet::new();
            let mut keys = Vec::with_capacity(p.keys.len());
            for (raw, item) in p.keys {
                let key = table.schema.key_of(&item)?;
                if !seen.insert(key.clone()) {
                    return Err(duplicate_keys());
                }
                keys.push((raw, key));
            }
            specs.push(GetSpec {
                table,
                name: p.name,
                raw: p.raw,
                projection: p.projection,
                kind: p.kind,
                keys,
            });
        }
        // The keys' blocks that must come from the device are read ahead, a batch per
        // SSTable (one io_uring submission each), instead of one wait per key.
        for spec in &specs {
            let keys: Vec<&[u8]> = spec.keys.iter().map(|(_, k)| k.as_slice()).collect();
            if keys.len() > 1 {
                self.kv
                    .prefetch(spec.table.space(), &keys)
                    .map_err(storage)?;
            }
        }
        let mut responses = Vec::with_capacity(specs.len());
        let mut unprocessed = Map::new();
        let mut units: BTreeMap<String, Consumed> = BTreeMap::new();
        let mut response_bytes = 0usize;
        // Set once an item would take the answer past 16 MB: it and the keys after it come
        // back unprocessed (and uncharged).
        let mut full = false;
        let mut throttled = 0usize;
        let mut first_throttle = None;
        for spec in specs {
            let mut found = Vec::new();
            let mut left = Vec::new();
            for (raw_key, key) in &spec.keys {
                if full {
                    left.push((*raw_key).clone());
                    continue;
                }
                // A throttled key comes back unprocessed, as DynamoDB returns it.
                let mut charge = match self.admit(&spec.table, Op::Read, key) {
                    Ok(c) => c,
                    Err(e) => {
                        throttled += 1;
                        first_throttle.get_or_insert(e);
                        left.push((*raw_key).clone());
                        continue;
                    }
                };
                // Without a projection items are returned whole, from their stored bytes.
                let (shown, size, shown_size) = match &spec.projection {
                    None => match self.load_whole(&spec.table, key)? {
                        Some((item, size)) => (Some(item), size, size),
                        None => (None, 0, 0),
                    },
                    Some(p) => match self.load(&spec.table, key)? {
                        Some(i) => {
                            let shown = expr::project(p, &i);
                            let shown_size = item_size(&shown);
                            (Some(ReadItem::from(shown)), item_size(&i), shown_size)
                        }
                        None => (None, 0, 0),
                    },
                };
                if response_bytes + shown_size > BATCH_SIZE_MAX_BYTES {
                    full = true;
                    charge.units = 0.0;
                    left.push((*raw_key).clone());
                    continue;
                }
                charge.units = item_read_units(size, spec.kind);
                units.entry(spec.name.to_string()).or_default().table += charge.units;
                if let Some(shown) = shown {
                    response_bytes += shown_size;
                    found.push(shown);
                }
            }
            responses.push((spec.name.to_string(), found));
            if !left.is_empty() {
                let mut echo = spec.raw.clone();
                echo.insert("Keys".into(), Value::Array(left));
                unprocessed.insert(spec.name.to_string(), Value::Object(echo));
            }
        }
        if throttled == total {
            if let Some(e) = first_throttle {
                return Err(e);
            }
        }
        Ok(ReadResponse::batch_get(
            responses,
            unprocessed,
            cap.render_list(&units),
        ))
    }

    pub(crate) fn batch_write_item(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let ri = request_items(r)?;
        let cap = ReturnCapacity::parse(r)?;
        let metrics = item_collection_metrics(r)?;
        let mut total = 0usize;
        for (name, reqs) in ri {
            let list = match reqs {
                Value::Array(a) => a,
                other => return Err(Req::type_error(other, "List")),
            };
            if list.is_empty() || list.len() > BATCH_WRITE_REQUESTS_MAX {
                return Err(ApiError::validation(format!(
                    "1 validation error detected: Value '{{{name}=[{} write requests]}}' at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to {BATCH_WRITE_REQUESTS_MAX}, Member must have length greater than or equal to 1]",
                    list.len()
                )));
            }
            total += list.len();
        }
        if total > BATCH_WRITE_REQUESTS_MAX {
            return Err(ApiError::validation(
                "Too many items requested for the BatchWriteItem call",
            ));
        }
        struct Planned<'r> {
            table: Arc<Table>,
            key: Vec<u8>,
            item: Option<crate::model::Item>,
            size: usize,
            raw: &'r Value,
            /// The table as the request named it (name or ARN).
            name: &'r str,
        }
        // Every request's values first, before any table is looked up (DynamoDB's order: an
        // invalid item sent to a missing table is a ValidationException); then each against
        // its table's schema.
        enum Parsed {
            Put(crate::model::Item),
            Delete(crate::model::Item),
        }
        let mut parsed: Vec<(&str, Vec<(&Value, Parsed)>)> = Vec::with_capacity(ri.len());
        for (name, reqs) in ri {
            let mut list = Vec::new();
            for w in reqs.as_array().into_iter().flatten() {
                let wr = Req::new(w)?;
                let one = match (wr.object("PutRequest")?, wr.object("DeleteRequest")?) {
                    (Some(p), None) => {
                        let item = Req { obj: p }
                            .item("Item")?
                            .ok_or_else(|| Req::missing_at("requestItems.member.member.putRequest.item"))?;
                        validate_item_values(&item)?;
                        Parsed::Put(item)
                    }
                    (None, Some(d)) => Parsed::Delete(
                        Req { obj: d }
                            .item("Key")?
                            .ok_or_else(|| Req::missing_at("requestItems.member.member.deleteRequest.key"))?,
                    ),
                    _ => {
                        return Err(ApiError::validation(
                            "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
                        ))
                    }
                };
                list.push((w, one));
            }
            parsed.push((name, list));
        }
        let mut plans: Vec<Planned> = Vec::with_capacity(total);
        let mut seen = HashSet::new();
        for (name, list) in parsed {
            let table = self.table(name, "BatchWriteItem")?;
            for (w, one) in list {
                let (key, value, size) = match one {
                    Parsed::Put(item) => {
                        // A key attribute missing or of the wrong type: BatchWriteItem's own
                        // words, not PutItem's (an empty key value keeps PutItem's).
                        let key = table.schema.user_key(&item).map_err(|e| {
                            if e.message.contains("Type mismatch for key")
                                || e.message.contains("Missing the key")
                            {
                                ApiError::validation(
                                    "The provided key element does not match the schema",
                                )
                            } else {
                                e.into()
                            }
                        })?;
                        self.check_index_keys(&table, &item)?;
                        let size = item_size(&item);
                        (key, Some(item), size)
                    }
                    Parsed::Delete(k) => (table.schema.key_of(&k)?, None, 0),
                };
                if !seen.insert((table.space(), key.clone())) {
                    return Err(duplicate_keys());
                }
                plans.push(Planned {
                    table: Arc::clone(&table),
                    key,
                    item: value,
                    size,
                    raw: w,
                    name,
                });
            }
        }
        // Admission: a throttled request comes back in UnprocessedItems; when every one is
        // throttled the call fails, as DynamoDB's does.
        let mut unprocessed: Map<String, Value> = Map::new();
        let mut admitted = Vec::with_capacity(plans.len());
        let mut first_throttle = None;
        for p in plans {
            match self.admit_write(&p.table, &p.key) {
                Ok(c) => admitted.push((p, c)),
                Err(e) => {
                    if let Value::Array(a) = unprocessed
                        .entry(p.name.to_string())
                        .or_insert_with(|| Value::Array(Vec::new()))
                    {
                        a.push(p.raw.clone());
                    }
                    first_throttle.get_or_insert(e);
                }
            }
        }
        if admitted.is_empty() {
            if let Some(e) = first_throttle {
                return Err(e);
            }
        }
        let _locks = self.locks.lock_many(
            admitted
                .iter()
                .map(|(p, _)| (p.table.space(), p.key.as_slice())),
        );
        let mut units: BTreeMap<String, Consumed> = BTreeMap::new();
        let mut writes = Vec::with_capacity(admitted.len());
        let mut tickets = Vec::new();
        let mut charges = Vec::with_capacity(admitted.len());
        let mut holds = Vec::new();
        let mut sizes = Vec::new();
        let mut written = Vec::new();
        for (p, mut charge) in admitted {
            let t = self.current(&p.table);
            let c = units.entry(p.name.to_string()).or_default();
            if cap != ReturnCapacity::None
                || !t.indexes.is_empty()
                || t.desc.stream.is_some()
                || self.opts.enforce_capacity
            {
                // Each request is charged as its PutItem / DeleteItem would be: the larger of
                // the item before and after; index entries follow the item.
                let old = self.load(&t, &p.key)?;
                let mut one = Consumed::of(replace_write_units(
                    size_of(old.as_ref()),
                    p.size,
                    WriteKind::Standard,
                ));
                let local = self.index_writes(
                    &t,
                    Change {
                        base_key: &p.key,
                        old: old.as_ref(),
                        new: p.item.as_ref(),
                    },
                    WriteKind::Standard,
                    &mut writes,
                    &mut one,
                )?;
                let delta = size_delta(old.as_ref(), p.item.as_ref());
                holds.extend(self.reserve_collection(&t, &p.key, delta + local)?);
                if self.opts.enforce_capacity {
                    sizes.push((Arc::clone(&t), p.key.clone(), delta));
                }
                if metrics && has_collections(&t) {
                    written.push((Arc::clone(&t), p.key.clone()));
                }
                charge.set(&one);
                c.add(&one);
                let change = Change {
                    base_key: &p.key,
                    old: old.as_ref(),
                    new: p.item.as_ref(),
                };
                tickets.extend(self.stream_write(&t, change, None, &mut writes)?);
            }
            charges.push(charge);
            writes.push(KvWrite {
                space: t.space(),
                key: p.key,
                value: p.item.as_ref().map(encode_item),
            });
        }
        // One write batch: the items and their index entries land together.
        self.kv.write(writes).map_err(storage)?;
        for h in holds {
            h.commit();
        }
        for (t, key, delta) in sizes {
            self.note_size(&t, &key, delta);
        }
        drop(tickets);
        drop(charges);
        let mut out = json!({"UnprocessedItems": unprocessed});
        cap.attach_list(&mut out, &units);
        if let Some(m) = metrics_by_table(self, &written)? {
            out["ItemCollectionMetrics"] = m;
        }
        Ok(out)
    }
}
