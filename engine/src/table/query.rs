//! Query and Scan: one range scan of the storage keys (one partition key's items for Query, a
//! hash range for a Scan segment), with DynamoDB's paging: `Limit` counts items *evaluated*
//! (before the filter), a page stops once 1 MB of item data has been read, and
//! `LastEvaluatedKey` names the last item evaluated when the page stopped early.
//!
//! Storage keys start with the 8-byte big-endian xxh3 of the partition key, so Scan walks hash
//! order (as DynamoDB does) and parallel Scan segment `i` of `n` is the hash range
//! `[i·2⁶⁴/n, (i+1)·2⁶⁴/n)`.

use std::ops::Bound;

use super::capacity::{Consumed, ReturnCapacity};
use super::index::Index;
use super::items::{check_scalar_key_paths, conditional_operator, parse_projection};
use super::throttle::Charge;
use super::{read_item, storage, Table, Tables};
use crate::api::request::{constraint, ExprCtx, Req};
use crate::api::{ApiError, ReadItem, ReadResponse};
use crate::capacity::units::{page_read_units, ReadKind};
use crate::capacity::Op;
use crate::expr::{self, Condition, ExprKind, Operand, Projection, SortCondition};
use crate::key::routing_hash;
use crate::limits::{QUERY_PAGE_MAX_BYTES, SCAN_TOTAL_SEGMENTS_MAX};
use crate::model::{decode_item, item_size, AttributeValue, Item, KeyAttr, KeySchema};

/// The smallest byte string greater than every string with this prefix (None: no such bound).
pub(crate) fn prefix_successor(p: &[u8]) -> Option<Vec<u8>> {
    let mut v = p.to_vec();
    while let Some(last) = v.pop() {
        if last < 0xFF {
            v.push(last + 1);
            return Some(v);
        }
    }
    None
}

/// The hash range `[lo, hi)` of Scan segment `segment` of `total` (`hi` None: to the end).
pub(crate) fn segment_range(segment: u32, total: u32) -> (u64, Option<u64>) {
    let span = 1u128 << 64;
    let lo = (segment as u128 * span / total as u128) as u64;
    let hi = if segment + 1 >= total {
        None
    } else {
        Some(((segment as u128 + 1) * span / total as u128) as u64)
    };
    (lo, hi)
}

/// Whether `k` lies within the range `[lower, upper]` (bounds as given).
fn within(k: &[u8], lower: &Bound<Vec<u8>>, upper: &Bound<Vec<u8>>) -> bool {
    let above = match lower {
        Bound::Included(l) => k >= l.as_slice(),
        Bound::Excluded(l) => k > l.as_slice(),
        Bound::Unbounded => true,
    };
    let below = match upper {
        Bound::Included(u) => k <= u.as_slice(),
        Bound::Excluded(u) => k < u.as_slice(),
        Bound::Unbounded => true,
    };
    above && below
}

/// A range of storage keys.
type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// What one page of a Query or Scan reads and how it shows what it found.
struct PageSpec<'a> {
    /// The index read instead of the table.
    index: Option<&'a Index>,
    /// Fetch each item from the table (a local index read asking for attributes it does not
    /// project).
    fetch: bool,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    reverse: bool,
    limit: Option<usize>,
    filter: Option<&'a Condition>,
    projection: Option<&'a Projection>,
    count_only: bool,
}

struct Page {
    items: Vec<ReadItem>,
    count: usize,
    scanned: usize,
    last_key: Option<Item>,
    bytes: usize,
    /// Bytes of table items fetched for a local index read.
    fetched: usize,
}

/// Items of a page read before the rest of it goes through the thread's blocking hook
/// (`hashlog::io::blocking`): a server running the page on a reactor thread moves the rest of a
/// long page off it (`block_in_place`); elsewhere the rest simply runs.
pub(crate) const PAGE_ITEMS_BEFORE_HOOK: usize = 32;
/// Item bytes of a page read before the rest of it goes through the blocking hook.
pub(crate) const PAGE_BYTES_BEFORE_HOOK: usize = 64 * 1024;

fn run_page(tables: &Tables, t: &Table, spec: PageSpec<'_>) -> Result<Page, ApiError> {
    let mut page = Page {
        items: Vec::new(),
        count: 0,
        scanned: 0,
        last_key: None,
        bytes: 0,
        fetched: 0,
    };
    let space = spec.index.map(Index::space).unwrap_or(t.space());
    let mut it = tables
        .kv
        .scan(space, spec.lower, spec.upper, spec.reverse)
        .map_err(storage)?
        .peekable();
    // Items returned whole (no fetch, filter or projection) stay as their stored bytes: the
    // page needs only their sizes, and for an index read the key of the item it stops at.
    let whole = !spec.fetch && spec.filter.is_none() && spec.projection.is_none();
    // One item; `Ok(true)` when the page is complete.
    let mut step = |page: &mut Page| -> Result<bool, ApiError> {
        let Some(r) = it.next() else {
            return Ok(true);
        };
        let (k, v) = r.map_err(storage)?;
        let (entry, size) = if whole {
            read_item(v)?
        } else {
            let entry = decode_item(&v)?;
            let size = item_size(&entry);
            (ReadItem::Decoded(entry), size)
        };
        page.scanned += 1;
        page.bytes += size;
        let limit_hit = spec.limit.is_some_and(|l| page.scanned >= l);
        let stop = limit_hit || page.bytes >= QUERY_PAGE_MAX_BYTES;
        // Only the item a page stops at can be its LastEvaluatedKey: decode no other key.
        let lk = match (stop, spec.index, &entry) {
            (false, _, _) => None,
            (true, Some(ix), ReadItem::Decoded(e)) => Some(ix.last_key(&t.schema, e)),
            (true, Some(ix), ReadItem::Stored(s)) => Some(ix.last_key(&t.schema, &s.decode()?)),
            (true, None, _) => Some(t.schema.decode_user_key(&k)?),
        };
        // Whether the item passes the filter, and what the page shows of it.
        let (keep, shown) = match entry {
            // Only when `whole`: shown as it is stored.
            stored @ ReadItem::Stored(_) => (true, stored),
            ReadItem::Decoded(entry) => {
                let item = if spec.fetch {
                    match tables.load(t, &t.schema.user_key(&entry)?)? {
                        Some(full) => {
                            page.fetched += item_size(&full);
                            full
                        }
                        None => entry,
                    }
                } else {
                    entry
                };
                let keep = match spec.filter {
                    Some(f) => expr::eval_condition(f, Some(&item))?,
                    None => true,
                };
                let shown = match spec.projection {
                    Some(p) if keep && !spec.count_only => expr::project(p, &item),
                    _ => item,
                };
                (keep, ReadItem::Decoded(shown))
            }
        };
        if keep {
            page.count += 1;
            if !spec.count_only {
                page.items.push(shown);
            }
        }
        if stop {
            // DynamoDB names the last evaluated item whenever Limit stopped the page; when the
            // size cap did, only if more items remain.
            if limit_hit || it.peek().is_some() {
                page.last_key = lk;
            }
            return Ok(true);
        }
        Ok(false)
    };
    while !step(&mut page)? {
        if page.scanned >= PAGE_ITEMS_BEFORE_HOOK || page.bytes >= PAGE_BYTES_BEFORE_HOOK {
            // A long page: the rest of it through the blocking hook.
            let rest = crate::io::blocking::blocking(crate::io::blocking::Wait::LongWork, || {
                Ok(loop {
                    match step(&mut page) {
                        Ok(false) => {}
                        done => break done,
                    }
                })
            })
            .map_err(storage)?;
            rest?;
            break;
        }
    }
    Ok(page)
}

fn parse_limit(r: &Req<'_>) -> Result<Option<usize>, ApiError> {
    match r.i64("Limit")? {
        None => Ok(None),
        Some(l) if l >= 1 => Ok(Some(usize::try_from(l).unwrap_or(usize::MAX))),
        Some(l) => Err(constraint(
            &l.to_string(),
            "limit",
            "Member must have value greater than or equal to 1",
        )),
    }
}

/// Select, checked against the projection parameters; returns whether only the count is wanted.
fn parse_select(r: &Req<'_>, index: Option<&Index>) -> Result<bool, ApiError> {
    let s = r.enum_str(
        "Select",
        &[
            "SPECIFIC_ATTRIBUTES",
            "COUNT",
            "ALL_ATTRIBUTES",
            "ALL_PROJECTED_ATTRIBUTES",
        ],
    )?;
    let projection_param = if r.has("ProjectionExpression") {
        Some("ProjectionExpression")
    } else if r.has("AttributesToGet") {
        Some("AttributesToGet")
    } else {
        None
    };
    // DynamoDB reports these as the first of a validation list (moto's tests verified against
    // it); the index projection check below is bare.
    let listed = |m: String| ApiError::validation(format!("1 validation error detected: {m}"));
    match (s, projection_param) {
        (Some("SPECIFIC_ATTRIBUTES"), None) => Err(listed(
            "Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES"
                .to_string(),
        )),
        (Some("COUNT"), Some(p)) => Err(listed(format!(
            "Cannot specify the {p} when choosing to get only the Count"
        ))),
        (Some("ALL_ATTRIBUTES"), Some(p)) => Err(listed(format!(
            "Cannot specify the {p} when choosing to get ALL_ATTRIBUTES"
        ))),
        // With a projection and no index both rules are broken; DynamoDB names the
        // projection's (the conformance suite's capture).
        (Some("ALL_PROJECTED_ATTRIBUTES"), Some(p)) => Err(listed(format!(
            "Cannot specify the {p} when choosing to get ALL_PROJECTED_ATTRIBUTES"
        ))),
        (Some("ALL_PROJECTED_ATTRIBUTES"), None) if index.is_none() => Err(listed(
            "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName"
                .to_string(),
        )),
        (s, _) => Ok(s == Some("COUNT")),
    }
}

/// Select ALL_ATTRIBUTES on a global index that does not project every attribute. DynamoDB
/// checks it last, after the start key, the key conditions and the filter.
fn check_select_all_on_global_index(r: &Req<'_>, index: Option<&Index>) -> Result<(), ApiError> {
    match index {
        Some(ix)
            if ix.desc.global
                && !ix.projects_all()
                && r.str("Select")? == Some("ALL_ATTRIBUTES") =>
        {
            Err(ApiError::validation(format!(
                "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index {} because its projection type is not ALL",
                ix.name()
            )))
        }
        _ => Ok(()),
    }
}

/// The index a Query or Scan names (`IndexName`), checked: it exists, is readable (not still
/// backfilling) and, for a global index, is not asked for a consistent read.
fn named_index<'t>(
    r: &Req<'_>,
    t: &'t Table,
    consistent: bool,
) -> Result<Option<&'t Index>, ApiError> {
    let Some(name) = r.str("IndexName")? else {
        return Ok(None);
    };
    let ix = t.index(name).ok_or_else(|| {
        ApiError::validation(format!(
            "The table does not have the specified index: {name}"
        ))
    })?;
    if ix.desc.global && consistent {
        return Err(ApiError::validation(
            "Consistent reads are not supported on global secondary indexes",
        ));
    }
    if ix.desc.backfilling {
        return Err(ApiError::validation(format!(
            "Cannot read from backfilling global secondary index: {name}"
        )));
    }
    Ok(Some(ix))
}

/// Whether a local index read must fetch table items: it was asked for every attribute, or
/// for one the index does not project.
fn needs_fetch(
    ix: Option<&Index>,
    t: &Table,
    r: &Req<'_>,
    projection: Option<&Projection>,
    filter: Option<&Condition>,
) -> Result<bool, ApiError> {
    let Some(ix) = ix.filter(|i| !i.desc.global && !i.projects_all()) else {
        return Ok(false);
    };
    if r.str("Select")? == Some("ALL_ATTRIBUTES") {
        return Ok(true);
    }
    let mut wanted: Vec<&str> = Vec::new();
    if let Some(p) = projection {
        wanted.extend(p.paths.iter().map(|p| p.head()));
    }
    if let Some(f) = filter {
        condition_attributes(f, &mut wanted);
    }
    Ok(wanted.iter().any(|a| !ix.projects(&t.schema, a)))
}

/// The storage key of an ExclusiveStartKey.
/// The storage key an ExclusiveStartKey names: a table key, or for an index read the entry key
/// of the table's and the index's key attributes.
fn start_key(r: &Req<'_>, t: &Table, index: Option<&Index>) -> Result<Option<Vec<u8>>, ApiError> {
    let Some(esk) = r.item("ExclusiveStartKey")? else {
        return Ok(None);
    };
    if let Some(ix) = index {
        return Ok(Some(ix.start_key(&t.schema, &esk)?));
    }
    let k = t.schema.key_of(&esk).map_err(|e| {
        ApiError::validation(format!(
            "The provided starting key is invalid: {}",
            e.message
        ))
    })?;
    Ok(Some(k))
}

/// An ExclusiveStartKey's values, checked before the table is looked up. What DynamoDB finds
/// while validating them ([`crate::model::ModelErrorKind::InvalidValue`]) it words "The
/// provided starting key is invalid: …"; what it finds while reading them (a number's syntax
/// or range, a set's duplicates) it reports as is, as the recorded responses show.
fn start_key_values(r: &Req<'_>) -> Result<(), ApiError> {
    let Some(esk) = r.get("ExclusiveStartKey") else {
        return Ok(());
    };
    match crate::model::item_from_json(esk) {
        Err(e) if e.kind == crate::model::ModelErrorKind::InvalidValue => {
            Err(ApiError::validation(format!(
                "The provided starting key is invalid: {}",
                e.message
            )))
        }
        other => other.map(|_| ()).map_err(ApiError::from),
    }
}

/// The attributes a Query's start key must hold: the table's key attributes and, for an
/// index read, the index's.
fn start_key_attribute_count(base: &KeySchema, schema: &KeySchema) -> usize {
    base.names().len()
        + schema
            .names()
            .iter()
            .filter(|n| !base.is_key_attribute(n))
            .count()
}

fn typed_as(v: &AttributeValue, a: &KeyAttr) -> bool {
    v.type_descriptor() == a.ty.as_str()
}

/// The checks of a Query's ExclusiveStartKey that DynamoDB makes before the key conditions,
/// against the queried key schema (`schema`, the table's `base` or an index's): the number of
/// attributes and the partition key ("invalid" when either is wrong or missing; "does not
/// match the schema" when the partition key has another type). The rest follows the key
/// conditions ([`query_start_key_rest`]).
fn query_start_key_head(r: &Req<'_>, base: &KeySchema, schema: &KeySchema) -> Result<(), ApiError> {
    let Some(esk) = r.item("ExclusiveStartKey")? else {
        return Ok(());
    };
    let invalid = || ApiError::validation("The provided starting key is invalid");
    if esk.len() != start_key_attribute_count(base, schema) {
        return Err(invalid());
    }
    let pk = esk.get(&schema.partition.name).ok_or_else(invalid)?;
    if !typed_as(pk, &schema.partition) {
        return Err(ApiError::validation(
            "The provided key element does not match the schema",
        ));
    }
    Ok(())
}

/// The rest of [`query_start_key_head`]'s checks, after the key conditions: the queried sort
/// key, then, for an index read, the table's key attributes.
fn query_start_key_rest(r: &Req<'_>, base: &KeySchema, schema: &KeySchema) -> Result<(), ApiError> {
    start_key_sort(r, schema)?;
    start_key_base(r, base, schema)
}

/// A start key's sort key of the read schema: "invalid" when missing, "does not match the
/// schema" when of another type.
fn start_key_sort(r: &Req<'_>, schema: &KeySchema) -> Result<(), ApiError> {
    let (Some(esk), Some(sk)) = (r.item("ExclusiveStartKey")?, &schema.sort) else {
        return Ok(());
    };
    let v = esk
        .get(&sk.name)
        .ok_or_else(|| ApiError::validation("The provided starting key is invalid"))?;
    if !typed_as(v, sk) {
        return Err(ApiError::validation(
            "The provided key element does not match the schema",
        ));
    }
    Ok(())
}

/// An index read's start key: the table's key attributes that are not the index's ("The
/// provided starting key is invalid: The provided key element does not match the schema"
/// when missing or of another type).
fn start_key_base(r: &Req<'_>, base: &KeySchema, schema: &KeySchema) -> Result<(), ApiError> {
    let Some(esk) = r.item("ExclusiveStartKey")? else {
        return Ok(());
    };
    let base_key = std::iter::once(&base.partition).chain(base.sort.as_ref());
    for a in base_key.filter(|a| !schema.is_key_attribute(&a.name)) {
        if !esk.get(&a.name).is_some_and(|v| typed_as(v, a)) {
            return Err(ApiError::validation(
                "The provided starting key is invalid: The provided key element does not match the schema",
            ));
        }
    }
    Ok(())
}

/// Every top-level attribute a condition reads.
fn condition_attributes<'c>(c: &'c Condition, out: &mut Vec<&'c str>) {
    let mut paths = Vec::new();
    condition_paths(c, &mut paths);
    out.extend(paths.into_iter().map(expr::Path::head));
}

/// Every document path a condition reads.
fn condition_paths<'c>(c: &'c Condition, out: &mut Vec<&'c expr::Path>) {
    fn operand<'c>(o: &'c Operand, out: &mut Vec<&'c expr::Path>) {
        match o {
            Operand::Path(p) => out.push(p),
            Operand::Size(inner) => operand(inner, out),
            Operand::Value(_) => {}
        }
    }
    match c {
        Condition::Compare(_, a, b)
        | Condition::AttributeType(a, b)
        | Condition::BeginsWith(a, b)
        | Condition::Contains(a, b) => {
            operand(a, out);
            operand(b, out);
        }
        Condition::Between(a, b, c) => {
            operand(a, out);
            operand(b, out);
            operand(c, out);
        }
        Condition::In(a, list) => {
            operand(a, out);
            list.iter().for_each(|o| operand(o, out));
        }
        Condition::Exists(p) | Condition::NotExists(p) => out.push(p),
        Condition::And(cs) | Condition::Or(cs) => {
            cs.iter().for_each(|c| condition_paths(c, out));
        }
        Condition::Not(c) => condition_paths(c, out),
    }
}

fn respond(
    page: Page,
    count_only: bool,
    cap: ReturnCapacity,
    shown: &str,
    index: Option<&Index>,
    kind: ReadKind,
    charge: &mut Charge,
) -> ReadResponse {
    let mut consumed = Consumed::default();
    match index {
        Some(ix) => {
            consumed.index(ix.name(), ix.desc.global, page_read_units(page.bytes, kind));
            if page.fetched > 0 {
                consumed.table = page_read_units(page.fetched, kind);
            }
        }
        None => consumed.table = page_read_units(page.bytes, kind),
    }
    charge.units = consumed.total();
    ReadResponse::page(
        (!count_only).then_some(page.items),
        page.count,
        page.scanned,
        page.last_key,
        cap.render(shown, &consumed),
    )
}

impl Tables {
    pub(crate) fn query(&self, r: &Req<'_>) -> Result<ReadResponse, ApiError> {
        let name = r.req_str("TableName")?;
        // Before any other check but the constraint list, in the service's (2026) words.
        if r.i64("Limit")?.is_some_and(|l| l < 1) {
            return Err(ApiError::validation(
                "1 validation error detected: Value at 'Limit' failed to satisfy constraint: Member must have value greater than or equal to 1",
            ));
        }
        expr::check_expression_parameters(
            // In the order DynamoDB names them in its messages.
            &[
                ("ProjectionExpression", r.has("ProjectionExpression")),
                ("FilterExpression", r.has("FilterExpression")),
                ("KeyConditionExpression", r.has("KeyConditionExpression")),
            ],
            &[
                ("AttributesToGet", r.has("AttributesToGet")),
                ("QueryFilter", r.has("QueryFilter")),
                ("ConditionalOperator", r.has("ConditionalOperator")),
                ("KeyConditions", r.has("KeyConditions")),
            ],
            r.has("ExpressionAttributeNames"),
            r.has("ExpressionAttributeValues"),
        )?;
        // Everything that needs no table is checked before the table is looked up, in
        // DynamoDB's order: the legacy filter, the start key's values, a key condition at all,
        // then the expressions and the key condition's shape.
        let legacy_filter = match r.get("QueryFilter") {
            Some(qf) if !r.has("FilterExpression") => {
                Some(expr::convert_filter(qf, conditional_operator(r)?)?)
            }
            _ => None,
        };
        start_key_values(r)?;
        if !r.has("KeyConditionExpression") && !r.has("KeyConditions") {
            return Err(ApiError::validation(
                "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.",
            ));
        }
        let limit = parse_limit(r)?;
        let forward = r.bool("ScanIndexForward")?.unwrap_or(true);
        let consistent = r.bool("ConsistentRead")?.unwrap_or(false);
        let cap = ReturnCapacity::parse(r)?;
        let mut ctx = ExprCtx::from_req(r)?;
        let key_expr = match r.str("KeyConditionExpression")? {
            Some(src) => Some(ctx.condition(ExprKind::KeyCondition, src)?),
            None => None,
        };
        let filter_expr = match r.str("FilterExpression")? {
            Some(src) => Some(ctx.condition(ExprKind::Filter, src)?),
            None => None,
        };
        let projection = parse_projection(r, &mut ctx)?;
        ctx.finish()?;
        let legacy_key = match (&key_expr, r.get("KeyConditions")) {
            (Some(c), _) => {
                expr::check_key_condition(c)?;
                None
            }
            (None, Some(kc)) => {
                expr::check_key_conditions(kc)?;
                Some(kc)
            }
            _ => None,
        };

        // Then, against the schema: the index, Select, the start key's size and partition
        // key, the key conditions, the filter's key attributes, the rest of the start key, and
        // Select ALL_ATTRIBUTES on a global index (the order dynalite's recorded cases show).
        let t = self.table(name, "Query")?;
        let index = named_index(r, &t, consistent)?;
        let count_only = parse_select(r, index)?;
        let schema = index.map(|i| &i.schema).unwrap_or(&t.schema);
        let sk_name = schema.sort.as_ref().map(|s| s.name.as_str());
        query_start_key_head(r, &t.schema, schema)?;
        let kq = match (&key_expr, legacy_key) {
            (Some(c), _) => expr::analyze_key_condition(c, &schema.partition.name, sk_name)?,
            (None, Some(kc)) => expr::convert_key_conditions(kc, &schema.partition.name, sk_name)?,
            (None, None) => {
                return Err(ApiError::validation(
                    "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.",
                ))
            }
        };
        kq.check_types(
            schema.partition.ty.as_str(),
            schema.sort.as_ref().map(|s| s.ty.as_str()),
        )?;
        let filter = if let Some(f) = filter_expr {
            let mut attrs = Vec::new();
            condition_attributes(&f, &mut attrs);
            if let Some(k) = attrs.into_iter().find(|a| schema.is_key_attribute(a)) {
                return Err(ApiError::validation(format!(
                    "Filter Expression can only contain non-primary key attributes: Primary key attribute: {k}"
                )));
            }
            Some(f)
        } else if let Some(qf) = r.get("QueryFilter") {
            if let Some(k) = qf
                .as_object()
                .and_then(|m| m.keys().find(|a| schema.is_key_attribute(a)))
            {
                return Err(ApiError::validation(format!(
                    "QueryFilter can only contain non-primary key attributes: Primary key attribute: {k}"
                )));
            }
            legacy_filter.flatten()
        } else {
            None
        };
        query_start_key_rest(r, &t.schema, schema)?;
        // What is left of a table's start key to refuse (its values' sizes) keeps Query's bare
        // messages.
        let start = match (index, r.item("ExclusiveStartKey")?) {
            (None, Some(esk)) => Some(t.schema.key_of(&esk)?),
            _ => start_key(r, &t, index)?,
        };
        check_select_all_on_global_index(r, index)?;
        let mut filter_paths = Vec::new();
        if let Some(f) = &filter {
            condition_paths(f, &mut filter_paths);
        }
        check_scalar_key_paths(&t, filter_paths.into_iter())?;
        check_scalar_key_paths(&t, projection.iter().flat_map(|p| p.paths.iter()))?;
        let fetch = needs_fetch(index, &t, r, projection.as_ref(), filter.as_ref())?;

        let prefix = schema.partition_prefix(&kq.partition)?;
        // An index has capacity of its own, not enforced yet: index reads are admitted by the
        // table's controller under the index key's hash.
        let mut charge = match index.filter(|i| i.desc.global) {
            Some(ix) => self.admit_index_read(&t, ix, crate::key::routing_hash(&prefix))?,
            None => self.admit(&t, Op::Read, &prefix)?,
        };
        let after = |p: &[u8]| {
            prefix_successor(p)
                .map(Bound::Excluded)
                .unwrap_or(Bound::Unbounded)
        };
        let whole = (Bound::Included(prefix.clone()), after(&prefix));
        // Every key whose sort key equals `v` lies in `eq(v)`; every bound follows from it.
        let eq = |v: &AttributeValue| -> Result<KeyRange, ApiError> {
            let skb = schema.sort_key_bytes(v)?;
            Ok(match index {
                Some(_) if schema.sort.is_some() => Index::sort_eq_range(&prefix, &skb),
                _ => {
                    let mut k = prefix.clone();
                    k.extend_from_slice(&skb);
                    (Bound::Included(k.clone()), Bound::Included(k))
                }
            })
        };
        let flip = |b: Bound<Vec<u8>>| match b {
            Bound::Included(k) => Bound::Excluded(k),
            Bound::Excluded(k) => Bound::Included(k),
            Bound::Unbounded => Bound::Unbounded,
        };
        let (mut lower, mut upper) = match &kq.sort {
            None => whole,
            Some(c) => match c {
                SortCondition::Eq(v) => eq(v)?,
                SortCondition::Lt(v) => (whole.0, flip(eq(v)?.0)),
                SortCondition::Le(v) => (whole.0, eq(v)?.1),
                SortCondition::Gt(v) => (flip(eq(v)?.1), whole.1),
                SortCondition::Ge(v) => (eq(v)?.0, whole.1),
                SortCondition::Between(a, b) => {
                    if schema.sort_key_bytes(a)? > schema.sort_key_bytes(b)? {
                        return Err(ApiError::validation(
                            "Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound",
                        ));
                    }
                    (eq(a)?.0, eq(b)?.1)
                }
                SortCondition::BeginsWith(v) => {
                    let skb = schema.sort_key_bytes(v)?;
                    let p = match index {
                        Some(_) => Index::sort_prefix(&prefix, &skb),
                        None => {
                            let mut k = prefix.clone();
                            k.extend_from_slice(&skb);
                            k
                        }
                    };
                    let up = after(&p);
                    (Bound::Included(p), up)
                }
            },
        };
        if let Some(k) = start {
            // DynamoDB's order and words: the start key's sort key against the range
            // condition first, then its partition key against the queried one.
            if let (Some(_), Some(sk)) = (&kq.sort, &schema.sort) {
                if let Some(v) = r
                    .item("ExclusiveStartKey")?
                    .and_then(|e| e.get(&sk.name).cloned())
                {
                    let at = match eq(&v)?.0 {
                        Bound::Included(a) | Bound::Excluded(a) => Some(a),
                        Bound::Unbounded => None,
                    };
                    if at.is_some_and(|a| !within(&a, &lower, &upper)) {
                        return Err(ApiError::validation(
                            "The provided starting key does not match the range key predicate",
                        ));
                    }
                }
            }
            if !k.starts_with(&prefix) && kq.sort.is_some() {
                return Err(ApiError::validation(
                    "The query can return at most one row and cannot be restarted",
                ));
            }
            if !k.starts_with(&prefix) || !within(&k, &lower, &upper) {
                return Err(ApiError::validation(
                    "The provided starting key is outside query boundaries based on provided conditions",
                ));
            }
            if forward {
                lower = Bound::Excluded(k);
            } else {
                upper = Bound::Excluded(k);
            }
        }
        let page = run_page(
            self,
            &t,
            PageSpec {
                index,
                fetch,
                lower,
                upper,
                reverse: !forward,
                limit,
                filter: filter.as_ref(),
                projection: projection.as_ref(),
                count_only,
            },
        )?;
        Ok(respond(
            page,
            count_only,
            cap,
            name,
            index,
            ReadKind::from_consistent(consistent),
            &mut charge,
        ))
    }

    pub(crate) fn scan(&self, r: &Req<'_>) -> Result<ReadResponse, ApiError> {
        let name = r.req_str("TableName")?;
        expr::check_expression_parameters(
            // In the order DynamoDB names them in its messages.
            &[
                ("ProjectionExpression", r.has("ProjectionExpression")),
                ("FilterExpression", r.has("FilterExpression")),
            ],
            &[
                ("AttributesToGet", r.has("AttributesToGet")),
                ("ScanFilter", r.has("ScanFilter")),
                ("ConditionalOperator", r.has("ConditionalOperator")),
            ],
            r.has("ExpressionAttributeNames"),
            r.has("ExpressionAttributeValues"),
        )?;
        let limit = parse_limit(r)?;
        let consistent = r.bool("ConsistentRead")?.unwrap_or(false);
        let cap = ReturnCapacity::parse(r)?;
        // Everything that needs no table is checked before the table is looked up, in
        // DynamoDB's order: the legacy filter, the start key's values, the segments, then the
        // expressions.
        let legacy_filter = match r.get("ScanFilter") {
            Some(sf) if !r.has("FilterExpression") => {
                expr::convert_filter(sf, conditional_operator(r)?)?
            }
            _ => None,
        };
        start_key_values(r)?;
        let segment = match (r.i64("Segment")?, r.i64("TotalSegments")?) {
            (None, None) => None,
            (Some(s), Some(n)) => {
                if n < 1 {
                    return Err(constraint(
                        &n.to_string(),
                        "totalSegments",
                        "Member must have value greater than or equal to 1",
                    ));
                }
                if n > SCAN_TOTAL_SEGMENTS_MAX as i64 {
                    return Err(constraint(
                        &n.to_string(),
                        "totalSegments",
                        &format!(
                            "Member must have value less than or equal to {SCAN_TOTAL_SEGMENTS_MAX}"
                        ),
                    ));
                }
                if s < 0 {
                    return Err(constraint(
                        &s.to_string(),
                        "segment",
                        "Member must have value greater than or equal to 0",
                    ));
                }
                if s >= n {
                    return Err(ApiError::validation(format!(
                        "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: {s} is not less than TotalSegments: {n}"
                    )));
                }
                // Both bounded by SCAN_TOTAL_SEGMENTS_MAX above, so they fit in u32.
                Some(segment_range(s as u32, n as u32))
            }
            (Some(_), None) => {
                return Err(ApiError::validation(
                    "The TotalSegments parameter is required but was not present in the request when Segment parameter is present",
                ))
            }
            (None, Some(_)) => {
                return Err(ApiError::validation(
                    "The Segment parameter is required but was not present in the request when parameter TotalSegments is present",
                ))
            }
        };
        let mut ctx = ExprCtx::from_req(r)?;
        let filter = match r.str("FilterExpression")? {
            Some(src) => Some(ctx.condition(ExprKind::Filter, src)?),
            None => legacy_filter,
        };
        let projection = parse_projection(r, &mut ctx)?;
        ctx.finish()?;
        let t = self.table(name, "Scan")?;
        let index = named_index(r, &t, consistent)?;
        // DynamoDB's order: an index's start key against the index's own key (its size, then
        // its partition and sort key, with Query's messages), the Select of a global index,
        // then the table's key attributes in the start key, the rest of the start key and the
        // segment, then the other Select checks and the key paths.
        if let Some(ix) = index {
            query_start_key_head(r, &t.schema, &ix.schema)?;
            start_key_sort(r, &ix.schema)?;
        }
        check_select_all_on_global_index(r, index)?;
        if let Some(ix) = index {
            start_key_base(r, &t.schema, &ix.schema)?;
        }
        let start = start_key(r, &t, index)?;
        if let (Some(k), Some((lo, hi))) = (&start, segment) {
            let h = routing_hash(k);
            if h < lo || hi.is_some_and(|hi| h >= hi) {
                return Err(ApiError::validation(format!(
                    "The provided starting key is invalid: Invalid ExclusiveStartKey. Please use ExclusiveStartKey with correct Segment. TotalSegments: {} Segment: {}",
                    r.i64("TotalSegments")?.unwrap_or(1),
                    r.i64("Segment")?.unwrap_or(0)
                )));
            }
        }
        let count_only = parse_select(r, index)?;
        let mut filter_paths = Vec::new();
        if let Some(f) = &filter {
            condition_paths(f, &mut filter_paths);
        }
        check_scalar_key_paths(&t, filter_paths.into_iter())?;
        check_scalar_key_paths(&t, projection.iter().flat_map(|p| p.paths.iter()))?;
        let fetch = needs_fetch(index, &t, r, projection.as_ref(), filter.as_ref())?;
        let first_hash = segment.map_or(0, |(lo, _)| lo);
        let mut charge = match index.filter(|i| i.desc.global) {
            Some(ix) => self.admit_index_read(&t, ix, first_hash)?,
            None => self.admit_hash(&t, Op::Read, first_hash)?,
        };
        let (mut lower, upper) = match segment {
            None => (Bound::Unbounded, Bound::Unbounded),
            Some((lo, hi)) => (
                Bound::Included(lo.to_be_bytes().to_vec()),
                hi.map(|h| Bound::Excluded(h.to_be_bytes().to_vec()))
                    .unwrap_or(Bound::Unbounded),
            ),
        };
        if let Some(k) = start {
            lower = Bound::Excluded(k);
        }
        let page = run_page(
            self,
            &t,
            PageSpec {
                index,
                fetch,
                lower,
                upper,
                reverse: false,
                limit,
                filter: filter.as_ref(),
                projection: projection.as_ref(),
                count_only,
            },
        )?;
        Ok(respond(
            page,
            count_only,
            cap,
            name,
            index,
            ReadKind::from_consistent(consistent),
            &mut charge,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_tile_the_hash_space() {
        for total in [1u32, 2, 3, 7, 1000, SCAN_TOTAL_SEGMENTS_MAX] {
            assert_eq!(segment_range(0, total).0, 0);
            assert_eq!(segment_range(total - 1, total).1, None);
            for s in [0, total / 2, total.saturating_sub(2)] {
                if s + 1 >= total {
                    continue;
                }
                let (lo, hi) = segment_range(s, total);
                assert_eq!(lo, (s as u128 * (1u128 << 64) / total as u128) as u64);
                assert_eq!(hi, Some(segment_range(s + 1, total).0));
                assert!(hi.is_some_and(|h| h > lo));
            }
        }
        assert_eq!(segment_range(1, 2), (1u64 << 63, None));
        assert_eq!(segment_range(0, 2), (0, Some(1u64 << 63)));
    }

    #[test]
    fn prefix_successor_skips_trailing_ff() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_successor(&[0xFF, 0xFF]), None);
    }
}
