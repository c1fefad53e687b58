//! TransactWriteItems and TransactGetItems.
//!
//! A write transaction parses and validates every action first (a malformed action fails the
//! whole request with a ValidationException), then locks every item's stripe in one global
//! order, evaluates every condition and update against the current items, and — only if all
//! succeed — applies every effect in ONE write batch: one WAL record, so a crash applies all of
//! the transaction or none of it. A failed check cancels the transaction with
//! `CancellationReasons` in request order.
//!
//! `ClientRequestToken` makes a write transaction idempotent for ten minutes: the same token
//! with the same request returns the first call's response without writing again; with a
//! different request it is an IdempotentParameterMismatchException; while the first call is
//! still running, a TransactionInProgressException.
//!
//! A read transaction reads every item at one store snapshot, so it sees each write batch
//! (each transaction) entirely or not at all.

use super::collections::{has_collections, metrics_by_table, size_delta};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::{json, Value};

use super::capacity::{Consumed, ReturnCapacity};
use super::index::Change;
use super::items::{check, check_key_untouched, size_of, updated_item};
use super::{storage, Table, Tables};
use crate::api::request::{constraint, ExprCtx, Req};
use crate::api::{ApiError, ErrorCode, ReadResponse};
use crate::capacity::units::{item_read_units, replace_write_units, ReadKind, WriteKind};
use crate::capacity::Op;
use crate::expr::{self, Condition, ExprKind, Projection, UpdateExpr};
use crate::kv::KvWrite;
use crate::limits::{TRANSACT_ACTIONS_MAX, TRANSACT_SIZE_MAX_BYTES, TRANSACT_TOKEN_TTL_SECS};
use crate::model::{decode_item, encode_item, item_size, item_to_json, validate_item_values, Item};

/// Longest ClientRequestToken.
const CLIENT_TOKEN_LEN_MAX: usize = 36;
/// Tokens remembered at most: SDKs send a fresh token with every transaction, so at a high
/// transaction rate the ten-minute window is cut short (oldest first) to bound memory.
const TOKEN_CACHE_ENTRIES_MAX: usize = 1_000_000;

enum TokenState {
    /// The first call with this token is still running.
    Running,
    /// It succeeded with this response.
    Done(Value),
}

struct TokenEntry {
    fingerprint: u128,
    at: Instant,
    state: TokenState,
}

/// Client request tokens of the last ten minutes.
#[derive(Default)]
pub(crate) struct TokenCache {
    inner: Mutex<TokenCacheInner>,
}

#[derive(Default)]
struct TokenCacheInner {
    entries: HashMap<String, TokenEntry>,
    /// Tokens in the order they were first seen, for expiry.
    order: VecDeque<(Instant, String)>,
}

/// What a token lookup decided.
enum TokenClaim {
    /// No live entry: this call runs the transaction and must settle the token.
    Run,
    /// The same request already succeeded: answer with its response.
    Replay(Value),
}

impl TokenCache {
    fn ttl() -> Duration {
        Duration::from_secs(TRANSACT_TOKEN_TTL_SECS)
    }

    fn claim(&self, token: &str, fingerprint: u128) -> Result<TokenClaim, ApiError> {
        let mut g = self.inner.lock();
        let now = Instant::now();
        while let Some((at, _)) = g.order.front() {
            if now.duration_since(*at) < Self::ttl() {
                break;
            }
            if let Some((_, tok)) = g.order.pop_front() {
                let expired = g
                    .entries
                    .get(&tok)
                    .is_some_and(|e| now.duration_since(e.at) >= Self::ttl());
                if expired {
                    g.entries.remove(&tok);
                }
            }
        }
        if let Some(e) = g.entries.get(token) {
            if e.fingerprint != fingerprint {
                return Err(ApiError::new(
                    ErrorCode::IdempotentParameterMismatchException,
                    "The request uses the same client token as a previous, but non-identical request. Do not reuse a client token with different requests, unless the requests are identical.",
                ));
            }
            return match &e.state {
                TokenState::Running => Err(ApiError::new(
                    ErrorCode::TransactionInProgressException,
                    "The transaction with the given request token is already in progress.",
                )),
                TokenState::Done(v) => Ok(TokenClaim::Replay(v.clone())),
            };
        }
        g.entries.insert(
            token.to_string(),
            TokenEntry {
                fingerprint,
                at: now,
                state: TokenState::Running,
            },
        );
        g.order.push_back((now, token.to_string()));
        let mut budget = g.order.len();
        while g.entries.len() > TOKEN_CACHE_ENTRIES_MAX && budget > 0 {
            budget -= 1;
            let Some((at, oldest)) = g.order.pop_front() else {
                break;
            };
            let running = g
                .entries
                .get(&oldest)
                .is_some_and(|e| matches!(e.state, TokenState::Running));
            if running {
                // Still being committed: keep it (its caller settles it).
                g.order.push_back((at, oldest));
            } else {
                g.entries.remove(&oldest);
            }
        }
        Ok(TokenClaim::Run)
    }

    /// Records the outcome of the call that claimed `token`: a success is replayed for the rest
    /// of the window; a failure frees the token so a retry runs again.
    fn settle(&self, token: &str, outcome: &Result<Value, ApiError>) {
        let mut g = self.inner.lock();
        match outcome {
            Ok(v) => {
                if let Some(e) = g.entries.get_mut(token) {
                    e.state = TokenState::Done(v.clone());
                }
            }
            Err(_) => {
                g.entries.remove(token);
            }
        }
    }
}

/// A hash of a JSON value that ignores object key order.
fn fingerprint(v: &Value) -> u128 {
    fn feed(h: &mut xxhash_rust::xxh3::Xxh3, v: &Value) {
        match v {
            Value::Null => h.update(b"n"),
            Value::Bool(b) => h.update(if *b { b"t" } else { b"f" }),
            Value::Number(n) => {
                h.update(b"#");
                h.update(n.to_string().as_bytes());
                h.update(b";");
            }
            Value::String(s) => {
                h.update(b"s");
                h.update(&(s.len() as u64).to_le_bytes());
                h.update(s.as_bytes());
            }
            Value::Array(a) => {
                h.update(b"[");
                h.update(&(a.len() as u64).to_le_bytes());
                a.iter().for_each(|e| feed(h, e));
            }
            Value::Object(m) => {
                h.update(b"{");
                h.update(&(m.len() as u64).to_le_bytes());
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                for k in keys {
                    h.update(&(k.len() as u64).to_le_bytes());
                    h.update(k.as_bytes());
                    if let Some(e) = m.get(k) {
                        feed(h, e);
                    }
                }
            }
        }
    }
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    feed(&mut h, v);
    h.digest128()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ActionKind {
    ConditionCheck,
    Put,
    Delete,
    Update,
}

/// One parsed action of a write transaction.
struct Action {
    table: Arc<Table>,
    kind: ActionKind,
    key: Vec<u8>,
    key_item: Item,
    item: Option<Item>,
    update: Option<UpdateExpr>,
    cond: Option<Condition>,
    return_old: bool,
}

fn length_error(n: usize) -> ApiError {
    constraint(
        &format!("[{n} items]"),
        "transactItems",
        if n == 0 {
            "Member must have length greater than or equal to 1"
        } else {
            "Member must have length less than or equal to 100"
        },
    )
}

fn multiple_operations() -> ApiError {
    ApiError::validation("Transaction request cannot include multiple operations on one item")
}

/// One action of a write transaction, checked as far as it can be without its table.
struct Unbound<'a> {
    name: &'a str,
    kind: ActionKind,
    /// The Put's item, or the other kinds' Key.
    item: Item,
    update: Option<UpdateExpr>,
    cond: Option<Condition>,
    return_old: bool,
}

/// An action's values and expressions, before any table is looked up (DynamoDB validates
/// the whole request first: an invalid action naming a missing table is a
/// ValidationException).
fn parse_action(v: &Value, index: usize) -> Result<Unbound<'_>, ApiError> {
    let r = Req::new(v)?;
    let present: Vec<(ActionKind, &str)> = [
        (ActionKind::ConditionCheck, "ConditionCheck"),
        (ActionKind::Put, "Put"),
        (ActionKind::Delete, "Delete"),
        (ActionKind::Update, "Update"),
    ]
    .into_iter()
    .filter(|(_, k)| r.has(k))
    .collect();
    let [(kind, field)] = present.as_slice() else {
        return Err(ApiError::validation(
            "TransactItems can only contain one of Check, Put, Update or Delete",
        ));
    };
    let ar = Req::new(r.get(field).unwrap_or(&Value::Null))?;
    let name = ar.str("TableName")?.ok_or_else(|| {
        Req::missing_at(&format!(
            "transactItems.{}.member.{}.tableName",
            index + 1,
            lower(field)
        ))
    })?;
    let item = if *kind == ActionKind::Put {
        let item = ar.item("Item")?.ok_or_else(|| {
            Req::missing_at(&format!("transactItems.{}.member.put.item", index + 1))
        })?;
        validate_item_values(&item)?;
        item
    } else {
        ar.item("Key")?.ok_or_else(|| {
            Req::missing_at(&format!(
                "transactItems.{}.member.{}.key",
                index + 1,
                lower(field)
            ))
        })?
    };
    let mut ctx = ExprCtx::from_transaction_action(&ar)?;
    let cond = match ar.str("ConditionExpression")? {
        Some(src) => Some(ctx.condition(ExprKind::Condition, src)?),
        None if *kind == ActionKind::ConditionCheck => {
            return Err(Req::missing_at(&format!(
                "transactItems.{}.member.conditionCheck.conditionExpression",
                index + 1
            )))
        }
        None => None,
    };
    let update = if *kind == ActionKind::Update {
        let src = ar.str("UpdateExpression")?.ok_or_else(|| {
            Req::missing_at(&format!(
                "transactItems.{}.member.update.updateExpression",
                index + 1
            ))
        })?;
        Some(ctx.update(src)?)
    } else {
        None
    };
    ctx.finish()?;
    let return_old = ar.enum_str("ReturnValuesOnConditionCheckFailure", &["ALL_OLD", "NONE"])?
        == Some("ALL_OLD");
    Ok(Unbound {
        name,
        kind: *kind,
        item,
        update,
        cond,
        return_old,
    })
}

/// A parsed action against its table's schema.
fn bind_action(tables: &Tables, a: Unbound<'_>) -> Result<Action, ApiError> {
    let table = tables.table(a.name, "TransactWriteItems")?;
    let (key_item, key, item) = if a.kind == ActionKind::Put {
        let item = a.item;
        let key = table.schema.user_key(&item)?;
        tables.check_index_keys(&table, &item)?;
        (table.schema.extract_key(&item)?, key, Some(item))
    } else {
        let key = table.schema.key_of(&a.item)?;
        (a.item, key, None)
    };
    if let Some(u) = &a.update {
        check_key_untouched(u, &table.schema)?;
    }
    Ok(Action {
        table,
        kind: a.kind,
        key,
        key_item,
        item,
        update: a.update,
        cond: a.cond,
        return_old: a.return_old,
    })
}

fn lower(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

impl Tables {
    pub(crate) fn transact_write_items(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let list = r
            .array("TransactItems")?
            .ok_or_else(|| Req::missing("TransactItems"))?;
        if list.is_empty() || list.len() > TRANSACT_ACTIONS_MAX {
            return Err(length_error(list.len()));
        }
        let cap = ReturnCapacity::parse(r)?;
        let metrics = r.enum_str("ReturnItemCollectionMetrics", &["SIZE", "NONE"])? == Some("SIZE");
        let token = r.str("ClientRequestToken")?;
        if let Some(t) = token {
            if t.is_empty() || t.chars().count() > CLIENT_TOKEN_LEN_MAX {
                return Err(constraint(
                    t,
                    "clientRequestToken",
                    if t.is_empty() {
                        "Member must have length greater than or equal to 1"
                    } else {
                        "Member must have length less than or equal to 36"
                    },
                ));
            }
        }
        let mut actions = Vec::with_capacity(list.len());
        let mut seen = HashSet::new();
        let mut total_size = 0usize;
        let unbound = list
            .iter()
            .enumerate()
            .map(|(i, v)| parse_action(v, i))
            .collect::<Result<Vec<_>, _>>()?;
        // An action whose key or index key does not fit its table's schema cancels the
        // transaction with a ValidationError reason (DynamoDB's answer); any other error is
        // the whole request's.
        let mut reasons = Vec::with_capacity(unbound.len());
        let mut invalid = false;
        for u in unbound {
            let a = match bind_action(self, u) {
                Ok(a) => a,
                Err(e) if is_action_validation(&e) => {
                    invalid = true;
                    reasons.push(json!({"Code": "ValidationError", "Message": e.message}));
                    continue;
                }
                Err(e) => return Err(e),
            };
            reasons.push(json!({"Code": "None"}));
            if !seen.insert((a.table.space(), a.key.clone())) {
                return Err(multiple_operations());
            }
            total_size += a.item.as_ref().map(item_size).unwrap_or(0);
            actions.push(a);
        }
        if invalid {
            return Err(cancelled_error(reasons));
        }
        if total_size > TRANSACT_SIZE_MAX_BYTES {
            return Err(ApiError::validation(
                "Transaction size has exceeded the maximum allowed size of 4 MB",
            ));
        }
        let Some(token) = token else {
            return self.commit_transaction(&actions, cap, metrics);
        };
        match self
            .tokens
            .claim(token, fingerprint(&Value::Object(r.obj.clone())))?
        {
            TokenClaim::Replay(mut v) => {
                // "Subsequent TransactWriteItems calls with the same client token return the
                // number of read capacity units consumed in reading the item" (DynamoDB's
                // API reference): a transactional read of each item as it is now.
                let mut units: BTreeMap<String, Consumed> = BTreeMap::new();
                if cap != ReturnCapacity::None {
                    for a in &actions {
                        // The first call succeeded: a read that fails now (a storage error)
                        // costs the units of a missing item rather than failing the replay.
                        let size = self.load_size(&a.table, &a.key).ok().flatten().unwrap_or(0);
                        units.entry(a.table.name().to_string()).or_default().table +=
                            item_read_units(size, ReadKind::Transactional);
                    }
                }
                if let Some(list) = cap.render_transaction(&units, false) {
                    v["ConsumedCapacity"] = list;
                }
                Ok(v)
            }
            TokenClaim::Run => {
                let outcome = self.commit_transaction(&actions, cap, metrics);
                self.tokens.settle(token, &outcome);
                outcome
            }
        }
    }

    /// Locks, checks and applies the parsed actions of one write transaction.
    fn commit_transaction(
        &self,
        actions: &[Action],
        cap: ReturnCapacity,
        metrics: bool,
    ) -> Result<Value, ApiError> {
        let _locks = self
            .locks
            .lock_many(actions.iter().map(|a| (a.table.space(), a.key.as_slice())));
        let mut reasons = Vec::with_capacity(actions.len());
        let mut cancelled = false;
        let mut writes = Vec::with_capacity(actions.len());
        let mut tickets = Vec::new();
        let mut holds = Vec::new();
        let mut sizes = Vec::new();
        let mut written = Vec::new();
        let mut units: BTreeMap<String, Consumed> = BTreeMap::new();
        let mut new_size_total = 0usize;
        let mut charges = Vec::with_capacity(actions.len());
        for a in actions {
            match self.admit_write(&a.table, &a.key) {
                Ok(c) => charges.push(c),
                Err(e) => {
                    cancelled = true;
                    reasons.push(json!({"Code": "ThrottlingError", "Message": format!(
                        "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly. ({})",
                        e.message
                    )}));
                    continue;
                }
            }
            let old = self.load(&a.table, &a.key)?;
            if !check(a.cond.as_ref(), old.as_ref())? {
                cancelled = true;
                let mut reason = json!({"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"});
                if let (true, Some(o)) = (a.return_old, &old) {
                    reason["Item"] = item_to_json(o);
                }
                reasons.push(reason);
                continue;
            }
            let new: Option<Item> = match a.kind {
                ActionKind::ConditionCheck => {
                    reasons.push(json!({"Code": "None"}));
                    units.entry(a.table.name().to_string()).or_default().table +=
                        replace_write_units(size_of(old.as_ref()), 0, WriteKind::Transactional);
                    continue;
                }
                ActionKind::Put => a.item.clone(),
                ActionKind::Delete => None,
                ActionKind::Update => {
                    match updated_item(
                        a.update.as_ref(),
                        old.as_ref(),
                        &a.key_item,
                        &a.table.schema,
                    ) {
                        Ok((n, _)) => Some(n),
                        Err(e) => {
                            cancelled = true;
                            reasons.push(json!({"Code": "ValidationError", "Message": e.message}));
                            continue;
                        }
                    }
                }
            };
            reasons.push(json!({"Code": "None"}));
            let new_size = new.as_ref().map(item_size).unwrap_or(0);
            new_size_total += new_size;
            let t = self.current(&a.table);
            let c = units.entry(t.name().to_string()).or_default();
            let mut one = Consumed::of(replace_write_units(
                size_of(old.as_ref()),
                new_size,
                WriteKind::Transactional,
            ));
            let local = match self.index_writes(
                &t,
                Change {
                    base_key: &a.key,
                    old: old.as_ref(),
                    new: new.as_ref(),
                },
                WriteKind::Transactional,
                &mut writes,
                &mut one,
            ) {
                Ok(l) => l,
                Err(e) if is_action_validation(&e) => {
                    cancelled = true;
                    if let Some(last) = reasons.last_mut() {
                        *last = json!({"Code": "ValidationError", "Message": e.message});
                    }
                    continue;
                }
                // An update that empties an index key is worded for updates.
                Err(e) if a.kind == ActionKind::Update => {
                    return Err(super::items::update_index_key_error(e))
                }
                Err(e) => return Err(e),
            };
            let delta = size_delta(old.as_ref(), new.as_ref());
            match self.reserve_collection(&t, &a.key, delta + local) {
                Ok(h) => holds.extend(h),
                Err(e) if e.code == ErrorCode::ItemCollectionSizeLimitExceededException => {
                    cancelled = true;
                    if let Some(last) = reasons.last_mut() {
                        *last = json!({"Code": "ItemCollectionSizeLimitExceeded", "Message": e.message});
                    }
                    continue;
                }
                Err(e) => return Err(e),
            }
            if self.opts.enforce_capacity {
                sizes.push((Arc::clone(&t), a.key.clone(), delta));
            }
            if metrics && has_collections(&t) {
                written.push((Arc::clone(&t), a.key.clone()));
            }
            if let Some(ch) = charges.last_mut() {
                ch.set(&one);
            }
            c.add(&one);
            let change = Change {
                base_key: &a.key,
                old: old.as_ref(),
                new: new.as_ref(),
            };
            tickets.extend(self.stream_write(&t, change, None, &mut writes)?);
            writes.push(KvWrite {
                space: t.space(),
                key: a.key.clone(),
                value: new.as_ref().map(encode_item),
            });
        }
        if cancelled {
            return Err(cancelled_error(reasons));
        }
        if new_size_total > TRANSACT_SIZE_MAX_BYTES {
            return Err(ApiError::validation(
                "Transaction size has exceeded the maximum allowed size of 4 MB",
            ));
        }
        if !writes.is_empty() {
            // One write batch: one WAL record, so a crash never applies half a transaction.
            self.kv.write(writes).map_err(storage)?;
        }
        for h in holds {
            h.commit();
        }
        for (t, key, delta) in sizes {
            self.note_size(&t, &key, delta);
        }
        drop(tickets);
        let mut out = json!({});
        if let Some(list) = cap.render_transaction(&units, true) {
            out["ConsumedCapacity"] = list;
        }
        if let Some(m) = metrics_by_table(self, &written)? {
            out["ItemCollectionMetrics"] = m;
        }
        Ok(out)
    }

    pub(crate) fn transact_get_items(&self, r: &Req<'_>) -> Result<ReadResponse, ApiError> {
        let list = r
            .array("TransactItems")?
            .ok_or_else(|| Req::missing("TransactItems"))?;
        if list.is_empty() || list.len() > TRANSACT_ACTIONS_MAX {
            return Err(length_error(list.len()));
        }
        let cap = ReturnCapacity::parse(r)?;
        struct Get {
            table: Arc<Table>,
            key: Vec<u8>,
            projection: Option<Projection>,
        }
        // Every action's key and projection first, then the tables (DynamoDB validates the
        // whole request before it looks any table up).
        let mut parsed = Vec::with_capacity(list.len());
        for (i, v) in list.iter().enumerate() {
            let ir = Req::new(v)?;
            let g = ir
                .object("Get")?
                .ok_or_else(|| Req::missing_at(&format!("transactItems.{}.member.get", i + 1)))?;
            let gr = Req { obj: g };
            let name = gr.str("TableName")?.ok_or_else(|| {
                Req::missing_at(&format!("transactItems.{}.member.get.tableName", i + 1))
            })?;
            let k = gr.item("Key")?.ok_or_else(|| {
                Req::missing_at(&format!("transactItems.{}.member.get.key", i + 1))
            })?;
            let mut ctx = ExprCtx::from_req(&gr)?;
            let projection = match gr.str("ProjectionExpression")? {
                Some(src) => Some(ctx.projection(src)?),
                None => None,
            };
            ctx.finish()?;
            parsed.push((name, k, projection));
        }
        let mut gets = Vec::with_capacity(list.len());
        let mut seen = HashSet::new();
        // A key that does not fit its table cancels the transaction with a ValidationError
        // reason, as for TransactWriteItems.
        let mut key_reasons = Vec::with_capacity(parsed.len());
        let mut invalid = false;
        for (name, k, projection) in parsed {
            let table = self.table(name, "TransactGetItems")?;
            let key = match table.schema.key_of(&k) {
                Ok(key) => key,
                Err(e) => {
                    let e = ApiError::from(e);
                    if !is_action_validation(&e) {
                        return Err(e);
                    }
                    invalid = true;
                    key_reasons.push(json!({"Code": "ValidationError", "Message": e.message}));
                    continue;
                }
            };
            key_reasons.push(json!({"Code": "None"}));
            if !seen.insert((table.space(), key.clone())) {
                return Err(multiple_operations());
            }
            gets.push(Get {
                table,
                key,
                projection,
            });
        }
        if invalid {
            return Err(cancelled_error(key_reasons));
        }
        // Every read is admitted by its partition before any is served; one throttled read
        // cancels the transaction, with ThrottlingError as that item's reason (as DynamoDB).
        let mut charges = Vec::with_capacity(gets.len());
        let mut reasons = Vec::with_capacity(gets.len());
        let mut throttled = false;
        for g in &gets {
            match self.admit(&g.table, Op::Read, &g.key) {
                Ok(c) => {
                    charges.push(Some(c));
                    reasons.push(json!({"Code": "None"}));
                }
                Err(e) => {
                    throttled = true;
                    charges.push(None);
                    reasons.push(json!({"Code": "ThrottlingError", "Message": format!(
                        "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly. ({})",
                        e.message
                    )}));
                }
            }
        }
        if throttled {
            // Nothing was read: the admitted reads are charged nothing.
            for c in charges.iter_mut().flatten() {
                c.units = 0.0;
            }
            return Err(cancelled_error(reasons));
        }
        let snapshot = self.kv.snapshot();
        let mut responses = Vec::with_capacity(gets.len());
        let mut units: BTreeMap<String, Consumed> = BTreeMap::new();
        let mut total = 0usize;
        for (g, charge) in gets.iter().zip(charges.iter_mut()) {
            let item = match self
                .kv
                .get_at(g.table.space(), &g.key, snapshot)
                .map_err(storage)?
            {
                Some(b) => Some(decode_item(&b)?),
                None => None,
            };
            let size = size_of(item.as_ref());
            total += size;
            let read = item_read_units(size, ReadKind::Transactional);
            units.entry(g.table.name().to_string()).or_default().table += read;
            if let Some(c) = charge {
                c.units = read;
            }
            // A present item whose projection keeps nothing is answered as `{}` without an
            // Item (DynamoDB's TransactGetItems; GetItem answers an empty Item).
            responses.push(
                item.map(|i| match &g.projection {
                    Some(p) => expr::project(p, &i),
                    None => i,
                })
                .filter(|i| !i.is_empty()),
            );
        }
        if total > TRANSACT_SIZE_MAX_BYTES {
            return Err(ApiError::validation(
                "Transaction size has exceeded the maximum allowed size of 4 MB",
            ));
        }
        Ok(ReadResponse::transact_get(
            responses,
            cap.render_transaction(&units, false),
        ))
    }
}

/// Whether an action's error is one DynamoDB reports as that action's ValidationError
/// cancellation reason: a key or index key of the wrong type, a key that does not match the
/// schema. (An empty key value, and request-level errors, are the whole request's.)
fn is_action_validation(e: &ApiError) -> bool {
    e.code == ErrorCode::ValidationException
        && (e
            .message
            .starts_with("One or more parameter values were invalid: Type mismatch for key ")
            || e.message.starts_with(
                "One or more parameter values were invalid: Type mismatch for Index Key ",
            )
            || e.message == "The provided key element does not match the schema")
}

/// TransactionCanceledException with one reason per action, in request order.
fn cancelled_error(reasons: Vec<Value>) -> ApiError {
    let codes: Vec<&str> = reasons
        .iter()
        .map(|r| r["Code"].as_str().unwrap_or("None"))
        .collect();
    ApiError::new(
        ErrorCode::TransactionCanceledException,
        format!(
            "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
            codes.join(", ")
        ),
    )
    .with_extra("CancellationReasons", Value::Array(reasons))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_ignore_key_order_but_not_values() {
        let a: Value = serde_json::from_str(r#"{"a":1,"b":{"x":"y","z":[1,2]}}"#).expect("json");
        let b: Value = serde_json::from_str(r#"{"b":{"z":[1,2],"x":"y"},"a":1}"#).expect("json");
        let c: Value = serde_json::from_str(r#"{"b":{"z":[2,1],"x":"y"},"a":1}"#).expect("json");
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&c));
    }

    #[test]
    fn failed_calls_free_their_token_and_successes_replay() {
        let cache = TokenCache::default();
        assert!(matches!(cache.claim("t", 1), Ok(TokenClaim::Run)));
        assert_eq!(
            cache.claim("t", 1).err().map(|e| e.code),
            Some(ErrorCode::TransactionInProgressException)
        );
        cache.settle("t", &Err(ApiError::validation("x")));
        assert!(matches!(cache.claim("t", 1), Ok(TokenClaim::Run)));
        cache.settle("t", &Ok(json!({"ok": 1})));
        assert!(matches!(cache.claim("t", 1), Ok(TokenClaim::Replay(v)) if v == json!({"ok": 1})));
        assert_eq!(
            cache.claim("t", 2).err().map(|e| e.code),
            Some(ErrorCode::IdempotentParameterMismatchException)
        );
    }
}
