//! Single-item operations: PutItem, GetItem, UpdateItem, DeleteItem.

use serde_json::{json, Value};

use super::catalog::TableDesc;
use super::request::{ExprCtx, Req};
use super::{capacity_json, read_units, write_units, ApiError, Database, ErrorCode};
use crate::expr::{self, Condition, ConditionalOperator, ExprKind, Projection, UpdateExpr};
use crate::kv::KvWrite;
use crate::model::{decode_item, encode_item, item_to_json, validate_item, Item};

/// A parsed write condition (ConditionExpression or legacy Expected).
pub(crate) fn parse_condition(
    r: &Req<'_>,
    ctx: &mut ExprCtx,
) -> Result<Option<Condition>, ApiError> {
    expr::check_expression_parameters(
        &[
            ("ConditionExpression", r.has("ConditionExpression")),
            ("UpdateExpression", r.has("UpdateExpression")),
            ("ProjectionExpression", r.has("ProjectionExpression")),
        ],
        &[
            ("Expected", r.has("Expected")),
            ("AttributeUpdates", r.has("AttributeUpdates")),
            ("AttributesToGet", r.has("AttributesToGet")),
        ],
        r.has("ExpressionAttributeNames"),
        r.has("ExpressionAttributeValues"),
    )?;
    if let Some(src) = r.str("ConditionExpression")? {
        return Ok(Some(ctx.condition(ExprKind::Condition, src)?));
    }
    if let Some(exp) = r.get("Expected") {
        let op = conditional_operator(r)?;
        return Ok(expr::convert_expected(exp, op)?);
    }
    Ok(None)
}

pub(crate) fn conditional_operator(r: &Req<'_>) -> Result<ConditionalOperator, ApiError> {
    Ok(match r.enum_str("ConditionalOperator", &["AND", "OR"])? {
        Some(s) => ConditionalOperator::parse(s).unwrap_or(ConditionalOperator::And),
        None => ConditionalOperator::And,
    })
}

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

pub(crate) fn check(cond: &Option<Condition>, old: Option<&Item>) -> Result<bool, ApiError> {
    match cond {
        None => Ok(true),
        Some(c) => Ok(expr::eval_condition(c, old)?),
    }
}

pub(crate) fn conditional_failed(old: Option<&Item>, return_on_failure: bool) -> ApiError {
    let mut e = ApiError::new(
        ErrorCode::ConditionalCheckFailedException,
        "The conditional request failed",
    );
    if return_on_failure {
        if let Some(o) = old {
            e = e.with_extra("Item", item_to_json(o));
        }
    }
    e
}

pub(crate) fn return_on_failure(r: &Req<'_>) -> Result<bool, ApiError> {
    Ok(r.enum_str("ReturnValuesOnConditionCheckFailure", &["ALL_OLD", "NONE"])? == Some("ALL_OLD"))
}

fn return_values<'a>(r: &Req<'a>, allowed: &[&str]) -> Result<&'a str, ApiError> {
    let rv = r
        .enum_str(
            "ReturnValues",
            &["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"],
        )?
        .unwrap_or("NONE");
    if !allowed.contains(&rv) {
        return Err(ApiError::validation("Return values set to invalid value"));
    }
    Ok(rv)
}

pub(crate) fn load(db: &Database, t: &TableDesc, key: &[u8]) -> Result<Option<Item>, ApiError> {
    match db.kv.get(t.space, key)? {
        Some(b) => Ok(Some(decode_item(&b)?)),
        None => Ok(None),
    }
}

fn key_param(r: &Req<'_>, t: &TableDesc) -> Result<(Item, Vec<u8>), ApiError> {
    let key = r.item("Key")?.ok_or_else(|| Req::missing("Key"))?;
    let k = t.schema().key_of(&key)?;
    Ok((key, k))
}

fn with_capacity(
    mut out: Value,
    r: &Req<'_>,
    t: &TableDesc,
    units: f64,
) -> Result<Value, ApiError> {
    if let Some(c) = capacity_json(r, &t.name, units)? {
        out["ConsumedCapacity"] = c;
    }
    Ok(out)
}

impl Database {
    pub(crate) fn put_item(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let item = r.item("Item")?.ok_or_else(|| Req::missing("Item"))?;
        let t = self.table(r.req_str("TableName")?)?;
        let mut ctx = ExprCtx::from_req(r)?;
        let cond = parse_condition(r, &mut ctx)?;
        ctx.finish()?;
        let rv = return_values(r, &["NONE", "ALL_OLD"])?;
        let on_fail = return_on_failure(r)?;
        validate_item(&item, &t.schema())?;
        let key = t.schema().user_key(&item)?;
        let encoded = encode_item(&item);
        let _lock = self.locks.lock_one(t.space, &key);
        let old = load(self, &t, &key)?;
        if !check(&cond, old.as_ref())? {
            return Err(conditional_failed(old.as_ref(), on_fail));
        }
        self.kv.write(vec![KvWrite {
            space: t.space,
            key,
            value: Some(encoded),
        }])?;
        let units = write_units(item_size_of(old.as_ref()).max(crate::model::item_size(&item)));
        let mut out = json!({});
        if rv == "ALL_OLD" {
            if let Some(o) = &old {
                out["Attributes"] = item_to_json(o);
            }
        }
        with_capacity(out, r, &t, units)
    }

    pub(crate) fn get_item(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let t = self.table(r.req_str("TableName")?)?;
        let mut ctx = ExprCtx::from_req(r)?;
        expr::check_expression_parameters(
            &[("ProjectionExpression", r.has("ProjectionExpression"))],
            &[("AttributesToGet", r.has("AttributesToGet"))],
            r.has("ExpressionAttributeNames"),
            r.has("ExpressionAttributeValues"),
        )?;
        let proj = parse_projection(r, &mut ctx)?;
        if ctx.values.is_some() {
            return Err(ApiError::validation(
                "ExpressionAttributeValues can only be specified when using expressions: ProjectionExpression is not allowed to use values",
            ));
        }
        ctx.finish()?;
        let consistent = r.bool("ConsistentRead")?.unwrap_or(false);
        let (_, key) = key_param(r, &t)?;
        let item = load(self, &t, &key)?;
        let units = read_units(item_size_of(item.as_ref()), consistent);
        let mut out = json!({});
        if let Some(i) = item {
            let shown = match &proj {
                Some(p) => expr::project(p, &i),
                None => i,
            };
            out["Item"] = item_to_json(&shown);
        }
        with_capacity(out, r, &t, units)
    }

    pub(crate) fn delete_item(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let t = self.table(r.req_str("TableName")?)?;
        let mut ctx = ExprCtx::from_req(r)?;
        let cond = parse_condition(r, &mut ctx)?;
        ctx.finish()?;
        let rv = return_values(r, &["NONE", "ALL_OLD"])?;
        let on_fail = return_on_failure(r)?;
        let (_, key) = key_param(r, &t)?;
        let _lock = self.locks.lock_one(t.space, &key);
        let old = load(self, &t, &key)?;
        if !check(&cond, old.as_ref())? {
            return Err(conditional_failed(old.as_ref(), on_fail));
        }
        if old.is_some() {
            self.kv.write(vec![KvWrite {
                space: t.space,
                key,
                value: None,
            }])?;
        }
        let units = write_units(item_size_of(old.as_ref()));
        let mut out = json!({});
        if rv == "ALL_OLD" {
            if let Some(o) = &old {
                out["Attributes"] = item_to_json(o);
            }
        }
        with_capacity(out, r, &t, units)
    }

    pub(crate) fn update_item(&self, r: &Req<'_>) -> Result<Value, ApiError> {
        let t = self.table(r.req_str("TableName")?)?;
        let mut ctx = ExprCtx::from_req(r)?;
        let cond = parse_condition(r, &mut ctx)?;
        let update: Option<UpdateExpr> =
            match (r.str("UpdateExpression")?, r.get("AttributeUpdates")) {
                (Some(src), _) => Some(ctx.update(src)?),
                (None, Some(au)) => Some(expr::convert_attribute_updates(au)?),
                (None, None) => None,
            };
        ctx.finish()?;
        let rv = return_values(
            r,
            &["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"],
        )?;
        let on_fail = return_on_failure(r)?;
        let (key_item, key) = key_param(r, &t)?;
        let schema = t.schema();
        let _lock = self.locks.lock_one(t.space, &key);
        let old = load(self, &t, &key)?;
        if !check(&cond, old.as_ref())? {
            return Err(conditional_failed(old.as_ref(), on_fail));
        }
        let mut new = old.clone().unwrap_or_else(|| key_item.clone());
        let mut touched = Vec::new();
        if let Some(u) = &update {
            let outcome = expr::apply_update(u, &mut new)?;
            for name in outcome.top_level_names() {
                if schema.is_key_attribute(name) {
                    return Err(ApiError::validation(format!(
                        "One or more parameter values were invalid: Cannot update attribute {name}. This attribute is part of the key"
                    )));
                }
            }
            touched = outcome.paths;
        }
        validate_item(&new, &schema)?;
        self.kv.write(vec![KvWrite {
            space: t.space,
            key,
            value: Some(encode_item(&new)),
        }])?;
        let units = write_units(item_size_of(old.as_ref()).max(crate::model::item_size(&new)));
        let mut out = json!({});
        let attrs: Option<Item> = match rv {
            "ALL_OLD" => old.clone(),
            "ALL_NEW" => Some(new.clone()),
            "UPDATED_OLD" => old.as_ref().map(|o| expr::project_paths(o, &touched)),
            "UPDATED_NEW" => Some(expr::project_paths(&new, &touched)),
            _ => None,
        };
        if let Some(a) = attrs.filter(|a| !a.is_empty()) {
            out["Attributes"] = item_to_json(&a);
        }
        with_capacity(out, r, &t, units)
    }
}

pub(crate) fn item_size_of(i: Option<&Item>) -> usize {
    i.map(crate::model::item_size).unwrap_or(0)
}
