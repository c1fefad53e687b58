//! Query and Scan: one range scan of the storage keys (one partition key's items for Query, a
//! hash range for a Scan segment), with DynamoDB's paging: `Limit` counts items *evaluated*
//! (before the filter), a page stops after 1 MB of item data read, and `LastEvaluatedKey`
//! names the last item evaluated when the page stopped early.

use std::ops::Bound;

use serde_json::{json, Value};

use super::catalog::TableDesc;
use super::items::{conditional_operator, parse_projection};
use super::request::{ExprCtx, Req};
use super::{capacity_json, read_units, ApiError, Database};
use crate::expr::{self, Condition, ExprKind, SortCondition};
use crate::limits::{QUERY_PAGE_MAX_BYTES, SCAN_TOTAL_SEGMENTS_MAX};
use crate::model::{decode_item, item_to_json, Item};

/// The smallest byte string greater than every string with this prefix (None: no such bound).
fn prefix_successor(p: &[u8]) -> Option<Vec<u8>> {
    let mut v = p.to_vec();
    while let Some(last) = v.pop() {
        if last < 0xFF {
            v.push(last + 1);
            return Some(v);
        }
    }
    None
}

struct Page {
    items: Vec<Value>,
    count: usize,
    scanned: usize,
    last_key: Option<Item>,
    bytes: usize,
}

#[allow(clippy::too_many_arguments)]
fn run_page(
    db: &Database,
    t: &TableDesc,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    reverse: bool,
    limit: Option<usize>,
    filter: &Option<Condition>,
    projection: &Option<expr::Projection>,
    count_only: bool,
    prefix_guard: Option<&[u8]>,
) -> Result<Page, ApiError> {
    let schema = t.schema();
    let mut page = Page {
        items: Vec::new(),
        count: 0,
        scanned: 0,
        last_key: None,
        bytes: 0,
    };
    let mut it = db.kv.scan(t.space, lower, upper, reverse)?.peekable();
    while let Some(r) = it.next() {
        let (k, v) = r?;
        if let Some(p) = prefix_guard {
            if !k.starts_with(p) {
                break;
            }
        }
        let item = decode_item(&v)?;
        page.scanned += 1;
        page.bytes += crate::model::item_size(&item);
        let keep = match filter {
            Some(f) => expr::eval_condition(f, Some(&item))?,
            None => true,
        };
        if keep {
            page.count += 1;
            if !count_only {
                let shown = match projection {
                    Some(p) => expr::project(p, &item),
                    None => item.clone(),
                };
                page.items.push(item_to_json(&shown));
            }
        }
        let limit_hit = limit.is_some_and(|l| page.scanned >= l);
        if limit_hit || page.bytes >= QUERY_PAGE_MAX_BYTES {
            let more = match it.peek() {
                None => false,
                Some(Ok((nk, _))) => prefix_guard.is_none_or(|p| nk.starts_with(p)),
                Some(Err(_)) => true,
            };
            if more || limit_hit {
                page.last_key = Some(schema.decode_user_key(&k)?);
            }
            break;
        }
    }
    Ok(page)
}

fn limit(r: &Req<'_>) -> Result<Option<usize>, ApiError> {
    match r.i64("Limit")? {
        None => Ok(None),
        Some(l) if l >= 1 => Ok(Some(l as usize)),
        Some(l) => Err(ApiError::validation(format!(
            "1 validation error detected: Value '{l}' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"
        ))),
    }
}

fn select<'a>(r: &Req<'a>, has_projection: bool) -> Result<&'a str, ApiError> {
    let s = r.enum_str(
        "Select",
        &[
            "ALL_ATTRIBUTES",
            "ALL_PROJECTED_ATTRIBUTES",
            "SPECIFIC_ATTRIBUTES",
            "COUNT",
        ],
    )?;
    match s {
        Some("SPECIFIC_ATTRIBUTES") if !has_projection => Err(ApiError::validation(
            "1 validation error detected: Value 'SPECIFIC_ATTRIBUTES' requires ProjectionExpression or AttributesToGet",
        )),
        Some(x) if x != "SPECIFIC_ATTRIBUTES" && has_projection => Err(ApiError::validation(format!(
            "Cannot specify the AttributesToGet when choosing to get {x}"
        ))),
        Some("ALL_PROJECTED_ATTRIBUTES") => Err(ApiError::validation(
            "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName",
        )),
        Some(x) => Ok(x),
        None => Ok(if has_projection { "SPECIFIC_ATTRIBUTES" } else { "ALL_ATTRIBUTES" }),
    }
}

fn respond(
    page: Page,
    count_only: bool,
    r: &Req<'_>,
    t: &TableDesc,
    consistent: bool,
) -> Result<Value, ApiError> {
    let mut out = json!({"Count": page.count, "ScannedCount": page.scanned});
    if !count_only {
        out["Items"] = Value::Array(page.items);
    }
    if let Some(k) = page.last_key {
        out["LastEvaluatedKey"] = item_to_json(&k);
    }
    if let Some(c) = capacity_json(r, &t.name, read_units(page.bytes, consistent))? {
        out["ConsumedCapacity"] = c;
    }
    Ok(out)
}

fn no_indexes(r: &Req<'_>) -> Result<(), ApiError> {
    if let Some(ix) = r.str("IndexName")? {
        return Err(ApiError::validation(format!(
            "The table does not have the specified index: {ix} (secondary indexes are not supported by hashlog yet)"
        )));
    }
    Ok(())
}

impl Database {
    pub(crate) fn query(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let t = self.table(r.req_str("TableName")?)?;
        no_indexes(r)?;
        expr::check_expression_parameters(
            &[
                ("KeyConditionExpression", r.has("KeyConditionExpression")),
                ("FilterExpression", r.has("FilterExpression")),
                ("ProjectionExpression", r.has("ProjectionExpression")),
            ],
            &[
                ("KeyConditions", r.has("KeyConditions")),
                ("QueryFilter", r.has("QueryFilter")),
                ("AttributesToGet", r.has("AttributesToGet")),
            ],
            r.has("ExpressionAttributeNames"),
            r.has("ExpressionAttributeValues"),
        )?;
        let schema = t.schema();
        let mut ctx = ExprCtx::from_req(r)?;
        let sk_name = schema.sort.as_ref().map(|s| s.name.as_str());
        let kq = if let Some(src) = r.str("KeyConditionExpression")? {
            let c = ctx.condition(ExprKind::KeyCondition, src)?;
            expr::analyze_key_condition(&c, &schema.partition.name, sk_name)?
        } else if let Some(kc) = r.get("KeyConditions") {
            expr::convert_key_conditions(kc, &schema.partition.name, sk_name)?
        } else {
            return Err(ApiError::validation("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request."));
        };
        kq.check_types(
            schema.partition.ty.as_str(),
            schema.sort.as_ref().map(|s| s.ty.as_str()),
        )?;
        let filter = if let Some(src) = r.str("FilterExpression")? {
            Some(ctx.condition(ExprKind::Filter, src)?)
        } else if let Some(qf) = r.get("QueryFilter") {
            expr::convert_filter(qf, conditional_operator(r)?)?
        } else {
            None
        };
        let projection = parse_projection(r, &mut ctx)?;
        ctx.finish()?;
        let sel = select(r, projection.is_some())?;
        let count_only = sel == "COUNT";
        let limit = limit(r)?;
        let forward = r.bool("ScanIndexForward")?.unwrap_or(true);
        let consistent = r.bool("ConsistentRead")?.unwrap_or(false);
        let prefix = schema.partition_prefix(&kq.partition)?;
        let join = |b: &[u8]| -> Vec<u8> {
            let mut k = prefix.clone();
            k.extend_from_slice(b);
            k
        };
        let end = prefix_successor(&prefix)
            .map(Bound::Excluded)
            .unwrap_or(Bound::Unbounded);
        type Range = (Bound<Vec<u8>>, Bound<Vec<u8>>, Option<Vec<u8>>);
        let (mut lower, mut upper, guard): Range = match &kq.sort {
            None => (Bound::Included(prefix.clone()), end, None),
            Some(c) => {
                let skb = |v| schema.sort_key_bytes(v);
                match c {
                    SortCondition::Eq(v) => {
                        let k = join(&skb(v)?);
                        (Bound::Included(k.clone()), Bound::Included(k), None)
                    }
                    SortCondition::Lt(v) => (
                        Bound::Included(prefix.clone()),
                        Bound::Excluded(join(&skb(v)?)),
                        None,
                    ),
                    SortCondition::Le(v) => (
                        Bound::Included(prefix.clone()),
                        Bound::Included(join(&skb(v)?)),
                        None,
                    ),
                    SortCondition::Gt(v) => (Bound::Excluded(join(&skb(v)?)), end, None),
                    SortCondition::Ge(v) => (Bound::Included(join(&skb(v)?)), end, None),
                    SortCondition::Between(a, b) => {
                        let (a, b) = (join(&skb(a)?), join(&skb(b)?));
                        if a > b {
                            return Err(ApiError::validation("Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound"));
                        }
                        (Bound::Included(a), Bound::Included(b), None)
                    }
                    SortCondition::BeginsWith(v) => {
                        let p = join(&skb(v)?);
                        let up = prefix_successor(&p)
                            .map(Bound::Excluded)
                            .unwrap_or(Bound::Unbounded);
                        (Bound::Included(p.clone()), up, Some(p))
                    }
                }
            }
        };
        if let Some(esk) = r.item("ExclusiveStartKey")? {
            let k = schema.key_of(&esk).map_err(|_| {
                ApiError::validation("The provided starting key is invalid: The provided key element does not match the schema")
            })?;
            if !k.starts_with(&prefix) {
                return Err(ApiError::validation("The provided starting key is outside query boundaries based on provided conditions"));
            }
            if forward {
                lower = Bound::Excluded(k);
            } else {
                upper = Bound::Excluded(k);
            }
        }
        let guard = guard.or(Some(prefix.clone()));
        let page = run_page(
            self,
            &t,
            lower,
            upper,
            !forward,
            limit,
            &filter,
            &projection,
            count_only,
            guard.as_deref(),
        )?;
        respond(page, count_only, r, &t, consistent)
    }

    pub(crate) fn scan(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let t = self.table(r.req_str("TableName")?)?;
        no_indexes(r)?;
        expr::check_expression_parameters(
            &[
                ("FilterExpression", r.has("FilterExpression")),
                ("ProjectionExpression", r.has("ProjectionExpression")),
            ],
            &[
                ("ScanFilter", r.has("ScanFilter")),
                ("AttributesToGet", r.has("AttributesToGet")),
            ],
            r.has("ExpressionAttributeNames"),
            r.has("ExpressionAttributeValues"),
        )?;
        let mut ctx = ExprCtx::from_req(r)?;
        let filter = if let Some(src) = r.str("FilterExpression")? {
            Some(ctx.condition(ExprKind::Filter, src)?)
        } else if let Some(sf) = r.get("ScanFilter") {
            expr::convert_filter(sf, conditional_operator(r)?)?
        } else {
            None
        };
        let projection = parse_projection(r, &mut ctx)?;
        ctx.finish()?;
        let sel = select(r, projection.is_some())?;
        let count_only = sel == "COUNT";
        let limit = limit(r)?;
        let consistent = r.bool("ConsistentRead")?.unwrap_or(false);
        let (segment, total) = (r.i64("Segment")?, r.i64("TotalSegments")?);
        let (mut lower, upper) = match (segment, total) {
            (None, None) => (Bound::Unbounded, Bound::Unbounded),
            (Some(_), None) => return Err(ApiError::validation("The TotalSegments parameter is required but was not present in the request when Segment parameter is present")),
            (None, Some(_)) => return Err(ApiError::validation("The Segment parameter is required but was not present in the request when parameter TotalSegments is present")),
            (Some(s), Some(n)) => {
                if !(1..=SCAN_TOTAL_SEGMENTS_MAX as i64).contains(&n) {
                    return Err(ApiError::validation(format!(
                        "1 validation error detected: Value '{n}' at 'totalSegments' failed to satisfy constraint: Member must have value {}",
                        if n < 1 { "greater than or equal to 1".to_string() } else { format!("less than or equal to {SCAN_TOTAL_SEGMENTS_MAX}") }
                    )));
                }
                if s < 0 || s >= n {
                    return Err(ApiError::validation(format!(
                        "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: {s} is not less than TotalSegments: {n}"
                    )));
                }
                let span = (u64::MAX as u128 + 1) / n as u128;
                let lo = (s as u128 * span) as u64;
                let hi = if s + 1 == n { None } else { Some(((s as u128 + 1) * span) as u64) };
                (
                    Bound::Included(lo.to_be_bytes().to_vec()),
                    hi.map(|h| Bound::Excluded(h.to_be_bytes().to_vec())).unwrap_or(Bound::Unbounded),
                )
            }
        };
        if let Some(esk) = r.item("ExclusiveStartKey")? {
            let k = t.schema().key_of(&esk).map_err(|_| {
                ApiError::validation("The provided starting key is invalid: The provided key element does not match the schema")
            })?;
            lower = Bound::Excluded(k);
        }
        let page = run_page(
            self,
            &t,
            lower,
            upper,
            false,
            limit,
            &filter,
            &projection,
            count_only,
            None,
        )?;
        respond(page, count_only, r, &t, consistent)
    }
}
