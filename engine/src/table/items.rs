//! Single-item operations: PutItem, GetItem, UpdateItem, DeleteItem.
//!
//! Every write parses and validates the whole request first, then takes the item's lock stripe,
//! reads the current item, checks the condition, computes the new item and writes it durably
//! before releasing the lock: the read–check–write is linearizable per item.

use serde_json::{json, Value};

use std::future::Future;
use std::pin::Pin;
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
use crate::kv::{AsyncWrite, KvWrite};
use crate::limits::ITEM_SIZE_MAX_BYTES;
use crate::model::{
    encode_item, item_size, item_to_json, validate_item_values, validate_updated_item, Item,
    KeySchema,
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
    // An empty key value is worded as for an item ("One or more parameter values are not
    // valid. The AttributeValue for a key attribute cannot contain an empty binary value.
    // Key: pk"), as DynamoDB answers today (dynalite's older recordings said "were invalid").
    let k = schema.key_of(&key)?;
    Ok((key, k))
}

/// An update may not touch a key attribute (checked before any item is read, as DynamoDB does).
pub(crate) fn check_key_untouched(u: &UpdateExpr, schema: &KeySchema) -> Result<(), ApiError> {
    for p in update_paths_written(u) {
        let name = p.head();
        if schema.is_key_attribute(name) {
            return Err(ApiError::validation(format!(
                "One or more parameter values were invalid: Cannot update attribute {name}. This attribute is part of the key"
            )));
        }
    }
    Ok(())
}

/// Every document path an update expression names: the paths it writes and those it reads.
fn update_paths(u: &UpdateExpr) -> Vec<&expr::Path> {
    fn operand<'u>(o: &'u expr::UpdateOperand, out: &mut Vec<&'u expr::Path>) {
        match o {
            expr::UpdateOperand::Path(p) => out.push(p),
            expr::UpdateOperand::Value(_) => {}
            expr::UpdateOperand::IfNotExists(p, o) => {
                out.push(p);
                operand(o, out);
            }
            expr::UpdateOperand::ListAppend(a, b) => {
                operand(a, out);
                operand(b, out);
            }
        }
    }
    let mut out = Vec::new();
    for (p, v) in &u.set {
        out.push(p);
        match v {
            expr::SetValue::Operand(o) => operand(o, &mut out),
            expr::SetValue::Plus(a, b) | expr::SetValue::Minus(a, b) => {
                operand(a, &mut out);
                operand(b, &mut out);
            }
        }
    }
    out.extend(u.remove.iter());
    out.extend(u.add.iter().map(|(p, _)| p));
    out.extend(u.delete.iter().map(|(p, _)| p));
    out
}

/// What UpdateItem (not a transaction's Update) measures against the item size limit besides
/// the finished item: the attributes the update writes (their size in the new item; the key
/// and the attributes it leaves alone are not counted) plus 3 bytes, 19 per SET or ADD clause
/// (one more through a list index) and 2 per REMOVE or DELETE clause, as DynamoDB measures it
/// (nubo-db/dynamodb-conformance's captures, to the byte; ADD and DELETE are assumed to cost
/// what SET and REMOVE do).
fn check_update_size(u: &UpdateExpr, new: &Item, schema: &KeySchema) -> Result<(), ApiError> {
    const BASE: usize = 3;
    const WRITE_CLAUSE: usize = 19;
    const REMOVE_CLAUSE: usize = 2;
    let through_index = |p: &expr::Path| p.0.iter().any(|e| matches!(e, expr::PathElem::Index(_)));
    let clauses = BASE
        + WRITE_CLAUSE * (u.set.len() + u.add.len())
        + REMOVE_CLAUSE * (u.remove.len() + u.delete.len())
        + u.set.iter().filter(|(p, _)| through_index(p)).count();
    let total = item_size(new);
    // The written attributes are part of the finished item: nothing to measure while the item
    // and every clause fit.
    if total + clauses <= ITEM_SIZE_MAX_BYTES {
        return Ok(());
    }
    let mut names: Vec<&str> = update_paths_written(u).map(|p| p.head()).collect();
    names.sort_unstable();
    names.dedup();
    let written: usize = names
        .into_iter()
        .filter(|n| !schema.is_key_attribute(n))
        .filter_map(|n| {
            new.get(n)
                .map(|v| n.len() + crate::model::attribute_value_size(v))
        })
        .sum();
    if written + clauses > ITEM_SIZE_MAX_BYTES {
        return Err(ApiError::validation(
            "Item size to update has exceeded the maximum allowed size",
        ));
    }
    Ok(())
}

/// The document paths an update expression writes (SET, REMOVE, ADD and DELETE targets).
fn update_paths_written(u: &UpdateExpr) -> impl Iterator<Item = &expr::Path> {
    u.set
        .iter()
        .map(|(p, _)| p)
        .chain(u.remove.iter())
        .chain(u.add.iter().map(|(p, _)| p))
        .chain(u.delete.iter().map(|(p, _)| p))
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
    validate_updated_item(&new, old, schema)?;
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

/// What a single-item write (PutItem, UpdateItem, DeleteItem) does once its item is locked.
enum WriteOp {
    Put {
        item: Item,
    },
    Delete,
    Update {
        key_item: Item,
        update: Option<UpdateExpr>,
    },
}

/// A single-item write validated, its table found and its capacity admitted: what is left is
/// done under the item's lock ([`Tables::locked_write`]).
pub(crate) struct PreparedWrite {
    op: WriteOp,
    t: Arc<Table>,
    name: String,
    key: Vec<u8>,
    cond: Option<Condition>,
    rv: &'static str,
    on_fail: bool,
    cap: ReturnCapacity,
    metrics: bool,
    charge: Charge,
}

/// A single-item write decided under its lock: the log write (if any) is all that is left
/// before [`Tables::finish_write`] answers.
pub(crate) struct LockedWrite {
    t: Arc<Table>,
    name: String,
    charge: Charge,
    consumed: Consumed,
    cap: ReturnCapacity,
    collection: Option<Vec<u8>>,
    attrs: Option<Item>,
    change: Option<StagedChange>,
}

/// One item's change (and its index entries and stream record) ready for the log.
pub(crate) struct StagedChange {
    writes: Vec<KvWrite>,
    hold: Option<super::collections::CollectionHold>,
    /// Held until the batch is durable, so stream readers never skip this record.
    _ticket: Option<super::streams::StreamTicket>,
    /// The key again after the write, for the capacity layer's size accounting.
    size: Option<(Vec<u8>, i64)>,
}

/// How a single-item write staged on a thread that must not block goes on
/// ([`Tables::stage_write`]).
pub enum StagedWrite {
    /// Answered without waiting: an error, a failed condition, nothing to write.
    Done(Result<Value, ApiError>),
    /// Queued in the log: the future finishes the write (visible, lock released) and answers.
    /// Poll it to completion (spawn it): dropped early, the write still happens, but its
    /// item's lock is released before it is visible.
    Commit(Pin<Box<dyn Future<Output = Result<Value, ApiError>> + Send>>),
    /// It would have to wait (the item locked by another writer, writes stalled, a memtable
    /// rotating): finish it on a thread that may block.
    Blocking(Box<dyn FnOnce() -> Result<Value, ApiError> + Send>),
}

/// PutItem, UpdateItem and DeleteItem report some of their validation errors as the first of
/// a validation list ("1 validation error detected: "), where GetItem, Query, Scan and the
/// items of a transaction give the same texts bare: an empty update expression, a clause used
/// twice, overlapping update paths, unused expression names or values, empty
/// ExpressionAttributeValues (moto's tests verified against DynamoDB). An empty set — in an
/// item, a key or an expression value — is reported bare, as us-east-1 words it (the
/// conformance suite characterised against the live service in 2026; some regions have
/// since moved that text into the list form too).
fn single_write_error(e: ApiError) -> ApiError {
    if e.code != ErrorCode::ValidationException {
        return e;
    }
    let m = e.message.as_str();
    let listed = m == "Invalid UpdateExpression: The expression can not be empty;"
        || (m.starts_with("Invalid UpdateExpression: The \"")
            && m.ends_with("\" section can only be used once in an update expression;"))
        || m.starts_with("Invalid UpdateExpression: Two document paths overlap with each other;")
        || (m.starts_with("Value provided in ExpressionAttribute")
            && m.contains(" unused in expressions: keys: "))
        || m == "ExpressionAttributeValues must not be empty";
    if listed {
        let mut e = e;
        e.message = format!("1 validation error detected: {}", e.message);
        return e;
    }
    e
}

/// An update that leaves an empty string or binary in an index key is worded as DynamoDB
/// words it for UpdateItem (PutItem's text names the index and the key).
pub(crate) fn update_index_key_error(mut e: ApiError) -> ApiError {
    const PUT: &str = "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty ";
    if let Some(rest) = e.message.strip_prefix(PUT) {
        let kind = rest.split(" value.").next().unwrap_or("string");
        e.message = format!(
            "One or more parameter values are not valid. The update expression attempted to update a secondary index key to a value that is not supported. The AttributeValue for a key attribute cannot contain an empty {kind} value."
        );
    }
    e
}

/// ReturnValues as the static string it is one of.
fn return_values_static(r: &Req<'_>, allowed: &[&'static str]) -> Result<&'static str, ApiError> {
    let rv = return_values(r, allowed)?;
    Ok(allowed.iter().copied().find(|a| *a == rv).unwrap_or("NONE"))
}

impl Tables {
    /// Writes one item (or its deletion) and its index entries in one atomic batch; call with
    /// the item's lock held. Charges the index writes to `consumed`.
    pub(crate) fn write_change(
        &self,
        t: &Arc<Table>,
        key: Vec<u8>,
        old: Option<&Item>,
        new: Option<&Item>,
        identity: Option<&Value>,
        consumed: &mut Consumed,
    ) -> Result<(), ApiError> {
        let now = self.current(t);
        let old_size = size_of(old);
        let mut staged = self.stage_change(&now, key, old, old_size, new, identity, consumed)?;
        self.kv
            .write(std::mem::take(&mut staged.writes))
            .map_err(storage)?;
        self.change_written(t, staged);
        Ok(())
    }

    /// [`Tables::write_change`] up to the log write: the batch, and what to settle after it.
    /// `t` is the table as it is now ([`Tables::current`], taken under the item's lock: an
    /// index or stream added since the request was prepared is maintained). `old_size` is
    /// `size_of(old)`, or, where `old` was not read because `t` has neither indexes nor a
    /// stream (see [`Tables::locked_write`]), the stored item's size.
    #[allow(clippy::too_many_arguments)]
    fn stage_change(
        &self,
        t: &Arc<Table>,
        key: Vec<u8>,
        old: Option<&Item>,
        old_size: usize,
        new: Option<&Item>,
        identity: Option<&Value>,
        consumed: &mut Consumed,
    ) -> Result<StagedChange, ApiError> {
        let mut writes = Vec::with_capacity(2 + 2 * t.indexes.len());
        let change = Change {
            base_key: &key,
            old,
            new,
        };
        let local = self.index_writes(t, change, WriteKind::Standard, &mut writes, consumed)?;
        let delta = size_of(new) as i64 - old_size as i64;
        let hold = self.reserve_collection(t, &key, delta + local)?;
        let ticket = self.stream_write(t, change, identity, &mut writes)?;
        let size = (delta != 0 && self.opts.enforce_capacity).then(|| (key.clone(), delta));
        writes.insert(
            0,
            KvWrite {
                space: t.space(),
                key,
                value: new.map(encode_item),
            },
        );
        Ok(StagedChange {
            writes,
            hold,
            _ticket: ticket,
            size,
        })
    }

    /// Settles a change after its batch was written.
    fn change_written(&self, t: &Table, staged: StagedChange) {
        if let Some(h) = staged.hold {
            h.commit();
        }
        if let Some((k, delta)) = staged.size {
            self.note_size(t, &k, delta);
        }
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

    fn prepare_put(&self, r: &Req<'_>) -> Result<PreparedWrite, ApiError> {
        // The whole request is validated before the table is looked up, in DynamoDB's order.
        let name = r.req_str("TableName")?;
        condition_parameters(r, false)?;
        let item = r.item("Item")?.ok_or_else(|| Req::missing("Item"))?;
        let rv = return_values_static(r, &["NONE", "ALL_OLD"])?;
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
        let charge = self.admit_write(&t, &key)?;
        Ok(PreparedWrite {
            op: WriteOp::Put { item },
            t,
            name: name.to_string(),
            key,
            cond,
            rv,
            on_fail,
            cap,
            metrics,
            charge,
        })
    }

    fn prepare_delete(&self, r: &Req<'_>) -> Result<PreparedWrite, ApiError> {
        let name = r.req_str("TableName")?;
        condition_parameters(r, false)?;
        let key_item = key_item(r)?;
        let rv = return_values_static(r, &["NONE", "ALL_OLD"])?;
        let on_fail = return_old_on_failure(r)?;
        let cap = ReturnCapacity::parse(r)?;
        let metrics = item_collection_metrics(r)?;
        let mut ctx = ExprCtx::from_req(r)?;
        let cond = parse_condition(r, &mut ctx)?;
        ctx.finish()?;
        let t = self.table(name, "DeleteItem")?;
        let (_, key) = key_param(key_item, &t.schema)?;
        let charge = self.admit_write(&t, &key)?;
        Ok(PreparedWrite {
            op: WriteOp::Delete,
            t,
            name: name.to_string(),
            key,
            cond,
            rv,
            on_fail,
            cap,
            metrics,
            charge,
        })
    }

    fn prepare_update(&self, r: &Req<'_>) -> Result<PreparedWrite, ApiError> {
        let name = r.req_str("TableName")?;
        condition_parameters(r, true)?;
        let key_item = key_item(r)?;
        let rv = return_values_static(
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
        // The update expression is parsed before the condition, as DynamoDB reports them.
        let update: Option<UpdateExpr> = match r.str("UpdateExpression")? {
            Some(src) => Some(ctx.update(src)?),
            None => legacy_update,
        };
        let cond = parse_condition(r, &mut ctx)?;
        ctx.finish()?;
        let t = self.table(name, "UpdateItem")?;
        let (key_item, key) = key_param(key_item, &t.schema)?;
        if let Some(u) = &update {
            check_key_untouched(u, &t.schema)?;
            // Keys are scalars: a document path into an index key attribute, written or read
            // (`SET gsi_key[1] = :v`, `SET x = gsi_key.a`), is refused before any item is read.
            check_scalar_key_paths(&t, update_paths(u).into_iter())?;
        }
        let charge = self.admit_write(&t, &key)?;
        Ok(PreparedWrite {
            op: WriteOp::Update { key_item, update },
            t,
            name: name.to_string(),
            key,
            cond,
            rv,
            on_fail,
            cap,
            metrics,
            charge,
        })
    }

    /// A prepared write's work under its item's lock (the caller holds it): reads the current
    /// item, checks the condition, computes the new item and stages its change.
    fn locked_write(&self, p: PreparedWrite) -> Result<LockedWrite, ApiError> {
        let PreparedWrite {
            op,
            t,
            name,
            key,
            cond,
            rv,
            on_fail,
            cap,
            metrics,
            charge,
        } = p;
        // The table as it is now, under the item's lock: what the change maintains.
        let now = self.current(&t);
        // A Put or Delete with no condition and no old values asked for, on a table with
        // neither indexes nor a stream, needs only the stored item's size (for its write
        // units and the table's size) and whether it exists: read without decoding it.
        let size_only = cond.is_none()
            && rv != "ALL_OLD"
            && matches!(op, WriteOp::Put { .. } | WriteOp::Delete)
            && now.indexes.is_empty()
            && !now.desc.stream.as_ref().is_some_and(|s| s.enabled);
        let (old, old_size, old_exists) = if size_only {
            let size = self.load_size(&t, &key)?;
            (None, size.unwrap_or(0), size.is_some())
        } else {
            let old = self.load(&t, &key)?;
            let size = size_of(old.as_ref());
            let exists = old.is_some();
            (old, size, exists)
        };
        if !check(cond.as_ref(), old.as_ref())? {
            return Err(conditional_failed(old.as_ref(), on_fail));
        }
        let collection = metrics.then(|| key.clone());
        let all_old = || if rv == "ALL_OLD" { old.clone() } else { None };
        let is_update = matches!(op, WriteOp::Update { .. });
        let (new, attrs) = match op {
            WriteOp::Put { item } => (Some(item), all_old()),
            WriteOp::Delete => (None, all_old()),
            WriteOp::Update { key_item, update } => {
                let (new, touched) =
                    updated_item(update.as_ref(), old.as_ref(), &key_item, &t.schema)?;
                if let Some(u) = &update {
                    check_update_size(u, &new, &t.schema)?;
                }
                let attrs = match rv {
                    "ALL_OLD" => old.clone(),
                    "ALL_NEW" => Some(new.clone()),
                    "UPDATED_OLD" => old.as_ref().map(|o| expr::project_paths(o, &touched)),
                    "UPDATED_NEW" => Some(expr::project_paths(&new, &touched)),
                    _ => None,
                };
                (Some(new), attrs)
            }
        };
        let mut consumed = Consumed::of(replace_write_units(
            old_size,
            size_of(new.as_ref()),
            WriteKind::Standard,
        ));
        // A delete of a missing item writes nothing.
        let change = if new.is_none() && !old_exists {
            None
        } else {
            let staged = self.stage_change(
                &now,
                key,
                old.as_ref(),
                old_size,
                new.as_ref(),
                None,
                &mut consumed,
            );
            Some(staged.map_err(|e| {
                if is_update {
                    update_index_key_error(e)
                } else {
                    e
                }
            })?)
        };
        Ok(LockedWrite {
            t,
            name,
            charge,
            consumed,
            cap,
            collection,
            attrs,
            change,
        })
    }

    /// Answers a locked write after its change (if any) was written.
    fn finish_write(&self, w: LockedWrite) -> Result<Value, ApiError> {
        let LockedWrite {
            t,
            name,
            mut charge,
            consumed,
            cap,
            collection,
            attrs,
            change,
        } = w;
        if let Some(c) = change {
            self.change_written(&t, c);
        }
        let mut out = self.write_response(&t, &name, &mut charge, &consumed, cap, collection)?;
        attributes(&mut out, attrs);
        Ok(out)
    }

    /// A prepared write, the blocking way: waits for its lock and for the log.
    fn blocking_write(&self, p: PreparedWrite) -> Result<Value, ApiError> {
        let _lock = self.locks.lock_one(p.t.space(), &p.key);
        self.blocking_write_locked(p)
    }

    pub(crate) fn put_item(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let p = self.prepare("PutItem", r)?;
        self.blocking_write(p)
    }

    pub(crate) fn delete_item(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let p = self.prepare("DeleteItem", r)?;
        self.blocking_write(p)
    }

    pub(crate) fn update_item(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let p = self.prepare("UpdateItem", r)?;
        self.blocking_write(p)
    }

    /// PutItem, UpdateItem or DeleteItem (`operation`) validated, its table found and its
    /// capacity admitted, in DynamoDB's order; the listed validation errors worded as the
    /// service words them for these three ([`single_write_error`]).
    fn prepare(&self, operation: &str, r: &Req<'_>) -> Result<PreparedWrite, ApiError> {
        let prepared = match operation {
            "PutItem" => self.prepare_put(r),
            "UpdateItem" => self.prepare_update(r),
            "DeleteItem" => self.prepare_delete(r),
            op => Err(ApiError::internal(format!(
                "{op} is not a single-item write"
            ))),
        };
        prepared.map_err(single_write_error)
    }

    /// PutItem, UpdateItem or DeleteItem (`operation`) for a thread that must not block (a
    /// reactor): everything up to the log append runs here, with the item's lock taken only if
    /// free; the commit is then awaited, not waited for. Whatever would wait is handed back as
    /// [`StagedWrite::Blocking`], continuing where it stopped (never admitted twice). Answers
    /// exactly as the blocking operations do.
    pub(crate) fn stage_write(self: &Arc<Self>, operation: &str, r: &Req<'_>) -> StagedWrite {
        let p = match self.prepare(operation, r) {
            Ok(p) => p,
            Err(e) => return StagedWrite::Done(Err(e)),
        };
        let this = Arc::clone(self);
        // ItemCollectionMetrics reads the collection after the write: done the blocking way.
        if p.metrics {
            return StagedWrite::Blocking(Box::new(move || this.blocking_write(p)));
        }
        let Some(lock) = self.locks.try_lock_owned(p.t.space(), &p.key) else {
            return StagedWrite::Blocking(Box::new(move || {
                let _lock = this.locks.lock_owned(p.t.space(), &p.key);
                this.blocking_write_locked(p)
            }));
        };
        let mut w = match self.locked_write(p) {
            Ok(w) => w,
            Err(e) => return StagedWrite::Done(Err(e)),
        };
        let Some(writes) = w.change.as_mut().map(|c| std::mem::take(&mut c.writes)) else {
            let out = self.finish_write(w);
            drop(lock);
            return StagedWrite::Done(out);
        };
        match self.kv.write_async(writes) {
            AsyncWrite::Done(r) => {
                let out = r.map_err(storage).and_then(|_| self.finish_write(w));
                drop(lock);
                StagedWrite::Done(out)
            }
            AsyncWrite::WouldBlock(writes) => StagedWrite::Blocking(Box::new(move || {
                let out = this
                    .kv
                    .write(writes)
                    .map_err(storage)
                    .and_then(|_| this.finish_write(w));
                drop(lock);
                out
            })),
            AsyncWrite::Queued(commit) => StagedWrite::Commit(Box::pin(async move {
                let out = commit
                    .await
                    .map_err(storage)
                    .and_then(|_| this.finish_write(w));
                drop(lock);
                out
            })),
        }
    }

    /// [`Tables::blocking_write`] with the item's lock already held by the caller.
    fn blocking_write_locked(&self, p: PreparedWrite) -> Result<Value, ApiError> {
        let mut w = self.locked_write(p)?;
        if let Some(c) = w.change.as_mut() {
            self.kv
                .write(std::mem::take(&mut c.writes))
                .map_err(storage)?;
        }
        self.finish_write(w)
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
}
