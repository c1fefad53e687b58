//! Typed access to a JSON request body, with DynamoDB's errors for missing or mistyped fields,
//! and the expression context of one request (placeholders and their use).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::ApiError;
use crate::expr::{self, ExprError, ExprKind, Placeholders, Usage};
use crate::model::{AttributeValue, Item};

pub(crate) struct Req<'a> {
    pub obj: &'a Map<String, Value>,
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn token(v: &Value) -> &'static str {
    crate::model::token_name(v, true)
}

impl<'a> Req<'a> {
    pub fn new(v: &'a Value) -> Result<Req<'a>, ApiError> {
        match v.as_object() {
            Some(obj) => Ok(Req { obj }),
            None => Err(ApiError::serialization(
                "Start of structure or map found where not expected.",
            )),
        }
    }

    pub fn get(&self, k: &str) -> Option<&'a Value> {
        self.obj.get(k).filter(|v| !v.is_null())
    }

    pub fn has(&self, k: &str) -> bool {
        self.get(k).is_some()
    }

    pub fn missing(k: &str) -> ApiError {
        Req::missing_at(&lower_first(k))
    }

    /// "Member must not be null" at a full constraint path (`keySchema.1.member.keyType`).
    pub fn missing_at(path: &str) -> ApiError {
        ApiError::validation(format!(
            "1 validation error detected: Value null at '{path}' failed to satisfy constraint: Member must not be null"
        ))
    }

    /// A SerializationException for a JSON value of the wrong type where `expected` was due.
    pub fn type_error(v: &Value, expected: &str) -> ApiError {
        ApiError::serialization(format!("{} cannot be converted to {expected}", token(v)))
    }

    pub fn str(&self, k: &str) -> Result<Option<&'a str>, ApiError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(ApiError::serialization(format!(
                "{} cannot be converted to String",
                token(v)
            ))),
        }
    }

    pub fn req_str(&self, k: &str) -> Result<&'a str, ApiError> {
        self.str(k)?.ok_or_else(|| Req::missing(k))
    }

    /// A Boolean member: a JSON boolean or one of the strings DynamoDB's parser reads as one
    /// ([`crate::model::json_bool`]).
    pub fn bool(&self, k: &str) -> Result<Option<bool>, ApiError> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => crate::model::json_bool(v).map(Some).ok_or_else(|| {
                ApiError::serialization(format!("{} cannot be converted to Boolean", token(v)))
            }),
        }
    }

    pub fn i64(&self, k: &str) -> Result<Option<i64>, ApiError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| {
                ApiError::serialization(format!("Value {n} for {k} is out of range"))
            }),
            Some(v) => Err(ApiError::serialization(format!(
                "{} cannot be converted to Integer",
                token(v)
            ))),
        }
    }

    pub fn object(&self, k: &str) -> Result<Option<&'a Map<String, Value>>, ApiError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(v) => Err(ApiError::serialization(format!(
                "{} cannot be converted to Map",
                token(v)
            ))),
        }
    }

    pub fn array(&self, k: &str) -> Result<Option<&'a Vec<Value>>, ApiError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(v) => Err(ApiError::serialization(format!(
                "{} cannot be converted to List",
                token(v)
            ))),
        }
    }

    pub fn item(&self, k: &str) -> Result<Option<Item>, ApiError> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => Ok(Some(crate::model::item_from_json(v)?)),
        }
    }

    /// An enum-valued string field with DynamoDB's "failed to satisfy constraint" message.
    pub fn enum_str(&self, k: &str, allowed: &[&str]) -> Result<Option<&'a str>, ApiError> {
        match self.str(k)? {
            None => Ok(None),
            Some(s) if allowed.contains(&s) => Ok(Some(s)),
            Some(s) => Err(constraint(
                s,
                &lower_first(k),
                &format!(
                    "Member must satisfy enum value set: [{}]",
                    allowed.join(", ")
                ),
            )),
        }
    }
}

/// DynamoDB's single constraint violation:
/// `1 validation error detected: Value '<value>' at '<path>' failed to satisfy constraint: <rule>`.
pub(crate) fn constraint(value: &str, path: &str, rule: &str) -> ApiError {
    ApiError::validation(format!(
        "1 validation error detected: Value '{value}' at '{path}' failed to satisfy constraint: {rule}"
    ))
}

impl From<ExprError> for ApiError {
    fn from(e: ExprError) -> Self {
        ApiError::validation(e.message)
    }
}

/// ExpressionAttributeNames / Values of one request and what its expressions used.
pub(crate) struct ExprCtx {
    pub names: Option<BTreeMap<String, String>>,
    pub values: Option<BTreeMap<String, AttributeValue>>,
    pub usage: Usage,
}

impl ExprCtx {
    pub fn from_req(r: &Req<'_>) -> Result<ExprCtx, ApiError> {
        Self::from_req_values(r, AttributeValue::from_json)
    }

    /// A transaction action's expression context: DynamoDB does not check the depth of a
    /// TransactWriteItems action's ExpressionAttributeValues (only of what it stores).
    pub fn from_transaction_action(r: &Req<'_>) -> Result<ExprCtx, ApiError> {
        Self::from_req_values(r, AttributeValue::from_json_any_depth)
    }

    fn from_req_values(
        r: &Req<'_>,
        value: fn(&Value) -> Result<AttributeValue, crate::model::ModelError>,
    ) -> Result<ExprCtx, ApiError> {
        let names = match r.object("ExpressionAttributeNames")? {
            None => None,
            Some(m) => {
                let mut out = BTreeMap::new();
                for (k, v) in m {
                    let s = v.as_str().ok_or_else(|| Req::type_error(v, "String"))?;
                    out.insert(k.clone(), s.to_string());
                }
                Some(out)
            }
        };
        let values = match r.object("ExpressionAttributeValues")? {
            None => None,
            Some(m) => {
                let mut out = BTreeMap::new();
                for (k, v) in m {
                    out.insert(k.clone(), value(v).map_err(|e| {
                        ApiError::from(crate::model::ModelError {
                            kind: e.kind,
                            // Every invalid value (numbers, sets, empties) is named with its
                            // key, as DynamoDB does; type errors are SerializationExceptions.
                            // The nesting limit is reported as it is for an item.
                            message: if e.kind != crate::model::ModelErrorKind::Serialization
                                && e.message != crate::limits::NESTING_DEPTH_MESSAGE
                            {
                                format!("ExpressionAttributeValues contains invalid value: {} for key {k}", e.message)
                            } else {
                                e.message
                            },
                        })
                    })?);
                }
                Some(out)
            }
        };
        let ctx = ExprCtx {
            names,
            values,
            usage: Usage::default(),
        };
        expr::validate_placeholder_maps(&ctx.placeholders())?;
        Ok(ctx)
    }

    pub fn placeholders(&self) -> Placeholders<'_> {
        Placeholders {
            names: self.names.as_ref(),
            values: self.values.as_ref(),
        }
    }

    /// Runs one parser with this request's placeholders and records what it used.
    fn parse<T>(
        &mut self,
        f: impl FnOnce(&Placeholders<'_>, &mut Usage) -> Result<T, ExprError>,
    ) -> Result<T, ApiError> {
        let mut used = Usage::default();
        let placeholders = Placeholders {
            names: self.names.as_ref(),
            values: self.values.as_ref(),
        };
        let parsed = f(&placeholders, &mut used)?;
        self.usage.merge(&used);
        Ok(parsed)
    }

    pub fn condition(&mut self, kind: ExprKind, src: &str) -> Result<expr::Condition, ApiError> {
        self.parse(|p, u| expr::parse_condition(kind, src, p, u))
    }

    pub fn update(&mut self, src: &str) -> Result<expr::UpdateExpr, ApiError> {
        self.parse(|p, u| expr::parse_update(src, p, u))
    }

    pub fn projection(&mut self, src: &str) -> Result<expr::Projection, ApiError> {
        self.parse(|p, u| expr::parse_projection(src, p, u))
    }

    /// Unused placeholders are an error, checked once over the whole request.
    pub fn finish(&self) -> Result<(), ApiError> {
        expr::check_unused(&self.placeholders(), &[&self.usage])?;
        Ok(())
    }
}
