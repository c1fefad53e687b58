//! Single-item operations: PutItem, GetItem, UpdateItem, DeleteItem.
//!
//! Every write parses and validates the whole request first, then takes the item's lock stripe,
//! reads the current item, checks the condition, computes the new item and writes it durably
//! before releasing the lock: the read–check–write is linearizable per item.

use serde_json::{json, Value};

use std::sync::Arc;

use super::capacity::{Consumed, ReturnCapacity};
use super::index::Change;
use super::throttle::Charge;
use super::{storage, Table, Tables};
use crate::api::request::{ExprCtx, Req};
use crate::api::{ApiError, ErrorCode, ReadItem, ReadResponse};
use crate::capacity::units::{item_read_units, replace_write_units, ReadKind, WriteKind};
use crate::capacity::Op;
use crate::expr::{self, Condition, ConditionalOperator, ExprKind, Projection, UpdateExpr};
use crate::kv::KvWrite;
use crate::limits::ITEM_SIZE_MAX_BYTES;
use crate::model::{
    encode_item, item_size, item_to_json, validate_item, validate_item_values, Item, KeySchema,
};

/// A single-item write's expression and legacy parameters may not be mixed (DynamoDB's first
/// check after the request's shape, before any value is looked at).
pub(crate) fn condition_parameters(r: &Req<'_>, has_update: bool) -> Result<(), ApiError> {
    // In the order DynamoDB names them in its messages (the update's first).
    let mut expression = Vec::with_capacity(3);
    let mut legacy = Vec::with_capacity(4);
    if has_update {
        expression.push(("UpdateExpression", r.has("UpdateExpression")));
        legacy.push(("AttributeUpdates", r.has("AttributeUpdates")));
    }
    expression.push(("ConditionExpression", r.has("ConditionExpression")));
    legacy.push(("Expected", r.has("Expected")));
    legacy.push(("ConditionalOperator", r.has("ConditionalOperator")));
    expression.push(("ProjectionExpression", r.has("ProjectionExpression")));
    legacy.push(("AttributesToGet", r.has("AttributesToGet")));
    expr::check_expression_parameters(
        &expression,
        &legacy,
        r.has("ExpressionAttributeNames"),
        r.has("ExpressionAttributeValues"),
    )?;
    Ok(())
}

/// A parsed write condition (ConditionExpression or legacy Expected); call after
/// [`condition_parameters`].
pub(crate) fn parse_condition(
    r: &Req<'_>,
    ctx: &mut ExprCtx,
) -> Result<Option<Condition>, ApiError> {
    if let Some(src) = r.str("ConditionExpression")? {
        return Ok(Some(ctx.condition(ExprKind::Condition, src)?));
    }
    if let Some(exp) = r.get("Expected") {
        let op = conditional_operator(r)?;
        return Ok(expr::convert_expected(exp, op)?);
    }
    Ok(None)
}

/// DynamoDB refuses a document path into a key attribute (`pk.a`, `pk[0]`) in a projection
/// or a filter: keys are scalars. The table's keys are looked at first, then every index's.
pub(crate) fn check_scalar_key_paths<'p>(
    t: &Table,
    paths: impl Iterator<Item = &'p expr::Path>,
) -> Result<(), ApiError> {
    let nested: Vec<&str> = paths
        .filter(|p| !p.is_top_level())
        .map(|p| p.head())
        .collect();
    if nested.is_empty() {
        return Ok(());
    }
    let refuse = |kind: &str, n: &str| {
        ApiError::validation(format!(
            "Key attributes must be scalars; list random access '[]' and map lookup '.' are not allowed: {kind}: {n}"
        ))
    };
    if let Some(n) = t.schema.names().into_iter().find(|n| nested.contains(n)) {
        return Err(refuse("Key", n));
    }
    for ix in &t.indexes {
        if let Some(n) = ix.schema.names().into_iter().find(|n| nested.contains(n)) {
            return Err(refuse("IndexKey", n));
        }
    }
    Ok(())
}

pub(crate) fn conditional_operator(r: &Req<'_>) -> Result<ConditionalOperator, ApiError> {
    Ok(match r.enum_str("ConditionalOperator", &["AND", "OR"])? {
        Some(s) => ConditionalOperator::parse(s).unwrap_or(ConditionalOperator::And),
        None => ConditionalOperator::And,
    })
}

/// ProjectionExpression or legacy AttributesToGet.
pub(crate) fn parse_projection(
    r: &Req<'_>,
    ctx: &mut ExprCtx,
) -> Result<Option<Projection>, ApiError> {
    if let Some(src) = r.str("ProjectionExpression")? {
        return Ok(Some(ctx.projection(src)?));
    }
    if let Some(a) = r.get("AttributesToGet") {
        return Ok(Some(expr::convert_attributes_to_get(a)?));
    }
    Ok(None)
}

/// Whether `cond` holds for the current item.
pub(crate) fn check(cond: Option<&Condition>, old: Option<&Item>) -> Result<bool, ApiError> {
    match cond {
        None => Ok(true),
        Some(c) => Ok(expr::eval_condition(c, old)?),
    }
}

/// ConditionalCheckFailedException, with the item when ReturnValuesOnConditionCheckFailure
/// is ALL_OLD and an item exists.
pub(crate) fn conditional_failed(old: Option<&Item>, return_old: bool) -> ApiError {
    let e = ApiError::new(
        ErrorCode::ConditionalCheckFailedException,
        "The conditional request failed",
    );
    match old {
        Some(o) if return_old => e.with_extra("Item", item_to_json(o)),
        _ => e,
    }
}

/// ReturnValuesOnConditionCheckFailure: whether ALL_OLD was asked for.
pub(crate) fn return_old_on_failure(r: &Req<'_>) -> Result<bool, ApiError> {
    Ok(r.enum_str("ReturnValuesOnConditionCheckFailure", &["ALL_OLD", "NONE"])? == Some("ALL_OLD"))
}

/// ReturnValues, which must be one the operation allows.
fn return_values<'a>(r: &Req<'a>, allowed: &[&str]) -> Result<&'a str, ApiError> {
    let rv = r
        .enum_str(
            "ReturnValues",
            &["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"],
        )?
        .unwrap_or("NONE");
    if !allowed.contains(&rv) {
        // PutItem and DeleteItem allow only these two, and DynamoDB says so.
        if allowed == ["NONE", "ALL_OLD"] {
            return Err(ApiError::validation(
                "ReturnValues can only be ALL_OLD or NONE",
            ));
        }
        return Err(ApiError::validation("Return values set to invalid value"));
    }
    Ok(rv)
}

/// ReturnItemCollectionMetrics: whether SIZE was asked for.
pub(crate) fn item_collection_metrics(r: &Req<'_>) -> Result<bool, ApiError> {
    Ok(r.enum_str("ReturnItemCollectionMetrics", &["SIZE", "NONE"])? == Some("SIZE"))
}

/// The `Key` parameter's values, parsed and checked before the table is looked up (as DynamoDB
/// validates a request's values before it looks for its table).
pub(crate) fn key_item(r: &Req<'_>) -> Result<Item, ApiError> {
    r.item("Key")?.ok_or_else(|| Req::missing("Key"))
}

/// The `Key` parameter ([`key_item`]) against the table's schema: exactly the key attributes,
/// as the storage key.
pub(crate) fn key_param(key: Item, schema: &KeySchema) -> Result<(Item, Vec<u8>), ApiError> {
    let k = schema.key_of(&key).map_err(|e| {
        // A Key parameter's empty key value is worded as "were invalid:" (an item's, as
        // PutItem reports it, as "are not valid.").
        let m = e.message.replace(
            "One or more parameter values are not valid. The AttributeValue",
            "One or more parameter values were invalid: The AttributeValue",
        );
        ApiError::validation(m)
    })?;
    Ok((key, k))
}

/// An update may not touch a key attribute (checked before any item is read, as DynamoDB does).
pub(crate) fn check_key_untouched(u: &UpdateExpr, schema: &KeySchema) -> Result<(), ApiError> {
    let paths = u
        .set
        .iter()
        .map(|(p, _)| p)
        .chain(u.remove.iter())
        .chain(u.add.iter().map(|(p, _)| p))
        .chain(u.delete.iter().map(|(p, _)| p));
    for p in paths {
        let name = p.head();
        if schema.is_key_attribute(name) {
            return Err(ApiError::validation(format!(
                "One or more parameter values were invalid: Cannot update attribute {name}. This attribute is part of the key"
            )));
        }
    }
    Ok(())
}

/// Applies an update to the current item (or the key alone when there is none), returning the
/// new item and the paths it touched.
pub(crate) fn updated_item(
    update: Option<&UpdateExpr>,
    old: Option<&Item>,
    key_item: &Item,
    schema: &KeySchema,
) -> Result<(Item, Vec<expr::Path>), ApiError> {
    let mut new = old.cloned().unwrap_or_else(|| key_item.clone());
    let mut touched = Vec::new();
    if let Some(u) = update {
        touched = expr::apply_update(u, &mut new)?.paths;
    }
    if item_size(&new) > ITEM_SIZE_MAX_BYTES {
        return Err(ApiError::validation(
            "Item size to update has exceeded the maximum allowed size",
        ));
    }
    validate_item(&new, schema)?;
    Ok((new, touched))
}

pub(crate) fn size_of(i: Option<&Item>) -> usize {
    i.map(item_size).unwrap_or(0)
}

fn attributes(out: &mut Value, attrs: Option<Item>) {
    if let Some(a) = attrs.filter(|a| !a.is_empty()) {
        out["Attributes"] = item_to_json(&a);
    }
}

impl Tables {
    /// Writes one item (or its deletion) and its index entries in one atomic batch; call with
    /// the item's lock held. Charges the index writes to `consumed`.
    fn write_one(
        &self,
        t: &Arc<Table>,
        key: Vec<u8>,
        old: Option<&Item>,
        new: Option<&Item>,
        consumed: &mut Consumed,
    ) -> Result<(), ApiError> {
        self.write_change(t, key, old, new, None, consumed)
    }

    /// [`Tables::write_one`] with the stream record's `userIdentity` (TTL deletions).
    pub(crate) fn write_change(
        &self,
        t: &Arc<Table>,
        key: Vec<u8>,
        old: Option<&Item>,
        new: Option<&Item>,
        identity: Option<&Value>,
        consumed: &mut Consumed,
    ) -> Result<(), ApiError> {
        let t = self.current(t);
        let mut writes = Vec::with_capacity(2 + 2 * t.indexes.len());
        let change = Change {
            base_key: &key,
            old,
            new,
        };
        let local = self.index_writes(&t, change, WriteKind::Standard, &mut writes, consumed)?;
        let delta = super::collections::size_delta(old, new);
        let hold = self.reserve_collection(&t, &key, delta + local)?;
        // Held until the batch is durable, so stream readers never skip this record.
        let _ticket = self.stream_write(&t, change, identity, &mut writes)?;
        // The key again after the write, for the capacity layer's size accounting.
        let size_key = (delta != 0 && self.opts.enforce_capacity).then(|| key.clone());
        writes.insert(
            0,
            KvWrite {
                space: t.space(),
                key,
                value: new.map(encode_item),
            },
        );
        self.kv.write(writes).map_err(storage)?;
        if let Some(h) = hold {
            h.commit();
        }
        if let Some(k) = size_key {
            self.note_size(&t, &k, delta);
        }
        Ok(())
    }

    /// The response of a single-item write before its ReturnValues: the charge settled,
    /// ConsumedCapacity and ItemCollectionMetrics as asked for.
    fn write_response(
        &self,
        t: &Table,
        shown: &str,
        charge: &mut Charge,
        consumed: &Consumed,
        cap: ReturnCapacity,
        collection: Option<Vec<u8>>,
    ) -> Result<Value, ApiError> {
        let mut out = json!({});
        charge.set(consumed);
        cap.attach(&mut out, shown, consumed);
        if let Some(k) = collection {
            if let Some(m) = self.collection_metrics(t, &k)? {
                out["ItemCollectionMetrics"] = m;
            }
        }
        Ok(out)
    }

    pub(crate) fn put_item(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        // The whole request is validated before the table is looked up, in DynamoDB's order.
        let name = r.req_str("TableName")?;
        condition_parameters(r, false)?;
        let item = r.item("Item")?.ok_or_else(|| Req::missing("Item"))?;
        let rv = return_values(r, &["NONE", "ALL_OLD"])?;
        validate_item_values(&item)?;
        let on_fail = return_old_on_failure(r)?;
        let cap = ReturnCapacity::parse(r)?;
        let metrics = item_collection_metrics(r)?;
        let mut ctx = ExprCtx::from_req(r)?;
        let cond = parse_condition(r, &mut ctx)?;
        ctx.finish()?;
        let t = self.table(name, "PutItem")?;
        let key = t.schema.user_key(&item)?;
        self.check_index_keys(&t, &item)?;

        let mut charge = self.admit_write(&t, &key)?;
        let _lock = self.locks.lock_one(t.space(), &key);
        let old = self.load(&t, &key)?;
        if !check(cond.as_ref(), old.as_ref())? {
            return Err(conditional_failed(old.as_ref(), on_fail));
        }
        let mut consumed = Consumed::of(replace_write_units(
            size_of(old.as_ref()),
            item_size(&item),
            WriteKind::Standard,
        ));
        let collection = metrics.then(|| key.clone());
        self.write_one(&t, key, old.as_ref(), Some(&item), &mut consumed)?;
        let mut out = self.write_response(&t, name, &mut charge, &consumed, cap, collection)?;
        if rv == "ALL_OLD" {
            attributes(&mut out, old);
        }
        Ok(out)
    }

    pub(crate) fn get_item(&self, r: &Req<'_>) -> Result<ReadResponse, ApiError> {
        let name = r.req_str("TableName")?;
        expr::check_expression_parameters(
            &[("ProjectionExpression", r.has("ProjectionExpression"))],
            &[("AttributesToGet", r.has("AttributesToGet"))],
            r.has("ExpressionAttributeNames"),
            r.has("ExpressionAttributeValues"),
        )?;
        let key_item = key_item(r)?;
        let mut ctx = ExprCtx::from_req(r)?;
        let proj = parse_projection(r, &mut ctx)?;
        if ctx.values.is_some() {
            return Err(ApiError::validation(
                "ExpressionAttributeValues can only be specified when using expressions: ProjectionExpression is not allowed to use values",
            ));
        }
        ctx.finish()?;
        let consistent = r.bool("ConsistentRead")?.unwrap_or(false);
        let cap = ReturnCapacity::parse(r)?;
        let t = self.table(name, "GetItem")?;
        check_scalar_key_paths(&t, proj.iter().flat_map(|p| p.paths.iter()))?;
        let (_, key) = key_param(key_item, &t.schema)?;
        // Reads need no lock: every write is atomic in the store, and a read sees the latest.
        let mut charge = self.admit(&t, Op::Read, &key)?;
        // Without a projection the item is returned whole, from its stored bytes.
        let (shown, size) = match &proj {
            None => match self.load_whole(&t, &key)? {
                Some((item, size)) => (Some(item), size),
                None => (None, 0),
            },
            Some(p) => {
                let item = self.load(&t, &key)?;
                let size = size_of(item.as_ref());
                (item.map(|i| ReadItem::from(expr::project(p, &i))), size)
            }
        };
        charge.units = item_read_units(size, ReadKind::from_consistent(consistent));
        let consumed = cap.render(name, &Consumed::of(charge.units));
        Ok(ReadResponse::get(consumed, shown))
    }

    pub(crate) fn delete_item(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let name = r.req_str("TableName")?;
        condition_parameters(r, false)?;
        let key_item = key_item(r)?;
        let rv = return_values(r, &["NONE", "ALL_OLD"])?;
        let on_fail = return_old_on_failure(r)?;
        let cap = ReturnCapacity::parse(r)?;
        let metrics = item_collection_metrics(r)?;
        let mut ctx = ExprCtx::from_req(r)?;
        let cond = parse_condition(r, &mut ctx)?;
        ctx.finish()?;
        let t = self.table(name, "DeleteItem")?;
        let (_, key) = key_param(key_item, &t.schema)?;

        let mut charge = self.admit_write(&t, &key)?;
        let _lock = self.locks.lock_one(t.space(), &key);
        let old = self.load(&t, &key)?;
        if !check(cond.as_ref(), old.as_ref())? {
            return Err(conditional_failed(old.as_ref(), on_fail));
        }
        let mut consumed = Consumed::of(replace_write_units(
            size_of(old.as_ref()),
            0,
            WriteKind::Standard,
        ));
        let collection = metrics.then(|| key.clone());
        if old.is_some() {
            self.write_one(&t, key, old.as_ref(), None, &mut consumed)?;
        }
        let mut out = self.write_response(&t, name, &mut charge, &consumed, cap, collection)?;
        if rv == "ALL_OLD" {
            attributes(&mut out, old);
        }
        Ok(out)
    }

    pub(crate) fn update_item(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let name = r.req_str("TableName")?;
        condition_parameters(r, true)?;
        let key_item = key_item(r)?;
        let rv = return_values(
            r,
            &["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"],
        )?;
        let on_fail = return_old_on_failure(r)?;
        let cap = ReturnCapacity::parse(r)?;
        let metrics = item_collection_metrics(r)?;
        let mut ctx = ExprCtx::from_req(r)?;
        // Legacy AttributeUpdates are checked before Expected, as DynamoDB orders them.
        let legacy_update = match r.get("AttributeUpdates") {
            Some(au) if !r.has("UpdateExpression") => Some(expr::convert_attribute_updates(au)?),
            _ => None,
        };
        let cond = parse_condition(r, &mut ctx)?;
        let update: Option<UpdateExpr> = match r.str("UpdateExpression")? {
            Some(src) => Some(ctx.update(src)?),
            None => legacy_update,
        };
        ctx.finish()?;
        let t = self.table(name, "UpdateItem")?;
        let (key_item, key) = key_param(key_item, &t.schema)?;
        if let Some(u) = &update {
            check_key_untouched(u, &t.schema)?;
        }

        let mut charge = self.admit_write(&t, &key)?;
        let _lock = self.locks.lock_one(t.space(), &key);
        let old = self.load(&t, &key)?;
        if !check(cond.as_ref(), old.as_ref())? {
            return Err(conditional_failed(old.as_ref(), on_fail));
        }
        let (new, touched) = updated_item(update.as_ref(), old.as_ref(), &key_item, &t.schema)?;
        let new_size = item_size(&new);
        let old_size = size_of(old.as_ref());
        let attrs: Option<Item> = match rv {
            "ALL_OLD" => old.clone(),
            "ALL_NEW" => Some(new.clone()),
            "UPDATED_OLD" => old.as_ref().map(|o| expr::project_paths(o, &touched)),
            "UPDATED_NEW" => Some(expr::project_paths(&new, &touched)),
            _ => None,
        };
        let mut consumed =
            Consumed::of(replace_write_units(old_size, new_size, WriteKind::Standard));
        let collection = metrics.then(|| key.clone());
        self.write_one(&t, key, old.as_ref(), Some(&new), &mut consumed)?;
        let mut out = self.write_response(&t, name, &mut charge, &consumed, cap, collection)?;
        attributes(&mut out, attrs);
        Ok(out)
    }
}
