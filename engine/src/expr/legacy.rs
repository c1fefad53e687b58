//! The legacy (pre-expression) parameters, converted into the expression AST so one evaluator
//! serves both: Expected + ConditionalOperator, QueryFilter / ScanFilter, KeyConditions,
//! AttributeUpdates and AttributesToGet. Inputs are the request's JSON; attribute values go
//! through the model's wire decoding. Validation messages are DynamoDB's.

use serde_json::Value as Json;

use super::ast::{
    CmpOp, Condition, Operand, Path, Projection, SetValue, UpdateExpr, UpdateOperand, Value,
};
use super::eval::compare_values;
use super::keycond::{check_terms, key_query_from_terms, KeyQuery, KeyTerm};
use super::ExprError;
use crate::model::AttributeValue;

/// `ConditionalOperator`: how several legacy conditions combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConditionalOperator {
    #[default]
    And,
    Or,
}

impl ConditionalOperator {
    pub fn parse(s: &str) -> Option<ConditionalOperator> {
        match s {
            "AND" => Some(ConditionalOperator::And),
            "OR" => Some(ConditionalOperator::Or),
            _ => None,
        }
    }
}

/// A legacy `ComparisonOperator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComparisonOp {
    Eq,
    Ne,
    Le,
    Lt,
    Ge,
    Gt,
    NotNull,
    Null,
    Contains,
    NotContains,
    BeginsWith,
    In,
    Between,
}

impl ComparisonOp {
    pub fn parse(s: &str) -> Option<ComparisonOp> {
        use ComparisonOp::*;
        Some(match s {
            "EQ" => Eq,
            "NE" => Ne,
            "LE" => Le,
            "LT" => Lt,
            "GE" => Ge,
            "GT" => Gt,
            "NOT_NULL" => NotNull,
            "NULL" => Null,
            "CONTAINS" => Contains,
            "NOT_CONTAINS" => NotContains,
            "BEGINS_WITH" => BeginsWith,
            "IN" => In,
            "BETWEEN" => Between,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        use ComparisonOp::*;
        match self {
            Eq => "EQ",
            Ne => "NE",
            Le => "LE",
            Lt => "LT",
            Ge => "GE",
            Gt => "GT",
            NotNull => "NOT_NULL",
            Null => "NULL",
            Contains => "CONTAINS",
            NotContains => "NOT_CONTAINS",
            BeginsWith => "BEGINS_WITH",
            In => "IN",
            Between => "BETWEEN",
        }
    }

    /// The operator with its operands swapped (only the orderings change).
    pub(crate) fn flipped(self) -> ComparisonOp {
        use ComparisonOp::*;
        match self {
            Lt => Gt,
            Le => Ge,
            Gt => Lt,
            Ge => Le,
            other => other,
        }
    }
}

fn invalid(detail: impl AsRef<str>) -> ExprError {
    ExprError::new(format!(
        "One or more parameter values were invalid: {}",
        detail.as_ref()
    ))
}

/// DynamoDB's checks on a legacy comparison's AttributeValueList.
pub(crate) fn validate_comparison(
    op: ComparisonOp,
    values: &[AttributeValue],
) -> Result<(), ExprError> {
    use ComparisonOp::*;
    let count_ok = match op {
        Null | NotNull => values.is_empty(),
        In => !values.is_empty(),
        Between => values.len() == 2,
        _ => values.len() == 1,
    };
    if !count_ok {
        return Err(invalid(format!(
            "Invalid number of argument(s) for the {} ComparisonOperator",
            op.name()
        )));
    }
    if let Some(first) = values.first() {
        let t = first.type_descriptor();
        if values.iter().any(|v| v.type_descriptor() != t) {
            return Err(invalid(
                "AttributeValues inside AttributeValueList must be of same type",
            ));
        }
    }
    let allowed: &[&str] = match op {
        Le | Lt | Ge | Gt | In | Between | Contains | NotContains => &["S", "N", "B"],
        BeginsWith => &["S", "B"],
        _ => &[],
    };
    if !allowed.is_empty() {
        if let Some(bad) = values
            .iter()
            .map(AttributeValue::type_descriptor)
            .find(|t| !allowed.contains(t))
        {
            return Err(invalid(format!(
                "ComparisonOperator {} is not valid for {bad} AttributeValue type",
                op.name()
            )));
        }
    }
    if op == Between && compare_values(&values[0], &values[1]) == Some(std::cmp::Ordering::Greater)
    {
        return Err(ExprError::new(
            "The BETWEEN condition was provided a range where the lower bound is greater than \
             the upper bound",
        ));
    }
    Ok(())
}

fn decode_value(json: &Json) -> Result<AttributeValue, ExprError> {
    AttributeValue::from_json(json).map_err(|e| ExprError::new(e.message))
}

fn decode_list(json: Option<&Json>) -> Result<Vec<AttributeValue>, ExprError> {
    match json {
        None | Some(Json::Null) => Ok(Vec::new()),
        Some(Json::Array(items)) => items.iter().map(decode_value).collect(),
        Some(_) => Err(ExprError::new("Expected list or null")),
    }
}

fn object(json: &Json) -> Result<&serde_json::Map<String, Json>, ExprError> {
    json.as_object()
        .ok_or_else(|| ExprError::new("Start of structure or map found where not expected."))
}

fn value_ref(v: AttributeValue, n: &mut usize) -> Operand {
    *n += 1;
    Operand::Value(Value {
        placeholder: format!(":legacy{n}"),
        value: v,
    })
}

/// The condition a legacy comparison stands for.
fn comparison_condition(
    attr: &str,
    op: ComparisonOp,
    values: Vec<AttributeValue>,
    n: &mut usize,
) -> Condition {
    use ComparisonOp::*;
    let path = Path::attr(attr);
    let p = || Operand::Path(path.clone());
    let mut it = values.into_iter();
    let mut next = |n: &mut usize| value_ref(it.next().unwrap_or(AttributeValue::Null), n);
    match op {
        Eq => Condition::Compare(CmpOp::Eq, p(), next(n)),
        Ne => Condition::Compare(CmpOp::Ne, p(), next(n)),
        Le => Condition::Compare(CmpOp::Le, p(), next(n)),
        Lt => Condition::Compare(CmpOp::Lt, p(), next(n)),
        Ge => Condition::Compare(CmpOp::Ge, p(), next(n)),
        Gt => Condition::Compare(CmpOp::Gt, p(), next(n)),
        NotNull => Condition::Exists(path.clone()),
        Null => Condition::NotExists(path.clone()),
        Contains => Condition::Contains(p(), next(n)),
        NotContains => Condition::Not(Box::new(Condition::Contains(p(), next(n)))),
        BeginsWith => Condition::BeginsWith(p(), next(n)),
        Between => {
            let lo = next(n);
            let hi = next(n);
            Condition::Between(p(), lo, hi)
        }
        In => {
            let mut list = Vec::new();
            for v in it {
                list.push(value_ref(v, n));
            }
            Condition::In(p(), list)
        }
    }
}

fn combine(mut conds: Vec<Condition>, op: ConditionalOperator) -> Option<Condition> {
    match conds.len() {
        0 => None,
        1 => conds.pop(),
        _ => Some(match op {
            ConditionalOperator::And => Condition::And(conds),
            ConditionalOperator::Or => Condition::Or(conds),
        }),
    }
}

fn comparison_op(
    attr_json: &serde_json::Map<String, Json>,
) -> Result<Option<ComparisonOp>, ExprError> {
    match attr_json.get("ComparisonOperator") {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => ComparisonOp::parse(s).map(Some).ok_or_else(|| {
            ExprError::new(format!(
                "1 validation error detected: Value '{s}' at 'comparisonOperator' failed to \
                 satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, \
                 NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]"
            ))
        }),
        Some(_) => Err(ExprError::new(
            "class java.lang.Boolean can not be converted to an String",
        )),
    }
}

/// QueryFilter / ScanFilter (`{attr: {ComparisonOperator, AttributeValueList}}`) as a condition.
pub fn convert_filter(
    filter: &Json,
    op: ConditionalOperator,
) -> Result<Option<Condition>, ExprError> {
    let mut conds = Vec::new();
    let mut n = 0;
    for (attr, spec) in object(filter)? {
        let spec = object(spec)?;
        let values = decode_list(spec.get("AttributeValueList"))?;
        let Some(cmp) = comparison_op(spec)? else {
            return Err(ExprError::new(format!(
                "1 validation error detected: Value null at '{attr}.member.comparisonOperator' \
                 failed to satisfy constraint: Member must not be null"
            )));
        };
        validate_comparison(cmp, &values)?;
        conds.push(comparison_condition(attr, cmp, values, &mut n));
    }
    Ok(combine(conds, op))
}

/// Expected (+ ConditionalOperator) as a condition.
pub fn convert_expected(
    expected: &Json,
    op: ConditionalOperator,
) -> Result<Option<Condition>, ExprError> {
    let mut conds = Vec::new();
    let mut n = 0;
    for (attr, spec) in object(expected)? {
        let spec = object(spec)?;
        let has = |k: &str| spec.get(k).is_some_and(|v| !v.is_null());
        if has("AttributeValueList") && has("Value") {
            return Err(invalid(format!(
                "Value and AttributeValueList cannot be used together for Attribute: {attr}"
            )));
        }
        if let Some(cmp) = comparison_op(spec)? {
            if has("Exists") {
                return Err(invalid(format!(
                    "Exists and ComparisonOperator cannot be used together for Attribute: {attr}"
                )));
            }
            let values = if has("AttributeValueList") {
                decode_list(spec.get("AttributeValueList"))?
            } else if let Some(v) = spec.get("Value").filter(|v| !v.is_null()) {
                vec![decode_value(v)?]
            } else {
                Vec::new()
            };
            if !matches!(cmp, ComparisonOp::Null | ComparisonOp::NotNull) && values.is_empty() {
                return Err(invalid(format!(
                    "Value or AttributeValueList must be used with ComparisonOperator: {} for \
                     Attribute: {attr}",
                    cmp.name()
                )));
            }
            validate_comparison(cmp, &values)?;
            conds.push(comparison_condition(attr, cmp, values, &mut n));
        } else if has("AttributeValueList") {
            return Err(invalid(format!(
                "AttributeValueList can only be used with a ComparisonOperator for Attribute: \
                 {attr}"
            )));
        } else {
            let exists = match spec.get("Exists") {
                None | Some(Json::Null) => None,
                // A boolean as DynamoDB's parser reads one (the strings too); the type pass
                // has refused anything else already when the request came over the wire.
                Some(v) => Some(crate::model::json_bool(v).ok_or_else(|| {
                    ExprError::new("class java.lang.String can not be converted to an Boolean")
                })?),
            };
            let value = spec.get("Value").filter(|v| !v.is_null());
            match (exists.unwrap_or(true), value) {
                (true, None) => {
                    let shown = exists.map_or("null".to_string(), |b| b.to_string());
                    return Err(invalid(format!(
                        "Value must be provided when Exists is {shown} for Attribute: {attr}"
                    )));
                }
                (false, Some(_)) => {
                    return Err(invalid(format!(
                        "Value cannot be used when Exists is false for Attribute: {attr}"
                    )))
                }
                (true, Some(v)) => {
                    let v = decode_value(v)?;
                    conds.push(comparison_condition(
                        attr,
                        ComparisonOp::Eq,
                        vec![v],
                        &mut n,
                    ));
                }
                (false, None) => conds.push(Condition::NotExists(Path::attr(attr.as_str()))),
            }
        }
    }
    Ok(combine(conds, op))
}

/// KeyConditions as a Query's key: validated like DynamoDB, then the same schema checks as a
/// KeyConditionExpression.
pub fn convert_key_conditions(
    key_conditions: &Json,
    partition_key: &str,
    sort_key: Option<&str>,
) -> Result<KeyQuery, ExprError> {
    key_query_from_terms(key_terms(key_conditions)?, partition_key, sort_key)
}

/// The checks of [`convert_key_conditions`] that need no key schema (each condition's operator
/// and values, and their number), which DynamoDB makes before it looks the table up.
pub fn check_key_conditions(key_conditions: &Json) -> Result<(), ExprError> {
    check_terms(&key_terms(key_conditions)?)
}

fn key_terms(key_conditions: &Json) -> Result<Vec<KeyTerm>, ExprError> {
    let mut terms = Vec::new();
    for (attr, spec) in object(key_conditions)? {
        let spec = object(spec)?;
        let values = decode_list(spec.get("AttributeValueList"))?;
        let Some(op) = comparison_op(spec)? else {
            return Err(ExprError::new(format!(
                "1 validation error detected: Value null at 'keyConditions.{attr}.member.\
                 comparisonOperator' failed to satisfy constraint: Member must not be null"
            )));
        };
        validate_comparison(op, &values)?;
        terms.push(KeyTerm {
            attr: attr.clone(),
            op,
            values,
        });
    }
    Ok(terms)
}

/// AttributeUpdates (`{attr: {Action: PUT|ADD|DELETE, Value}}`) as an update.
pub fn convert_attribute_updates(updates: &Json) -> Result<UpdateExpr, ExprError> {
    let mut out = UpdateExpr {
        legacy: true,
        ..UpdateExpr::default()
    };
    let mut n = 0;
    for (attr, spec) in object(updates)? {
        let spec = object(spec)?;
        let value = match spec.get("Value").filter(|v| !v.is_null()) {
            Some(v) => Some(decode_value(v)?),
            None => None,
        };
        let action = match spec.get("Action") {
            None | Some(Json::Null) => "PUT",
            Some(Json::String(s)) if matches!(s.as_str(), "PUT" | "ADD" | "DELETE") => s.as_str(),
            Some(other) => {
                return Err(ExprError::new(format!(
                    "1 validation error detected: Value '{}' at 'attributeUpdates.{attr}.member.\
                     action' failed to satisfy constraint: Member must satisfy enum value set: \
                     [ADD, PUT, DELETE]",
                    other.as_str().unwrap_or_default()
                )))
            }
        };
        let path = Path::attr(attr.as_str());
        let Some(value) = value else {
            if action != "DELETE" {
                return Err(invalid(
                    "Only DELETE action is allowed when no attribute value is specified",
                ));
            }
            out.remove.push(path);
            continue;
        };
        let t = value.type_descriptor();
        n += 1;
        let v = Value {
            placeholder: format!(":legacy{n}"),
            value,
        };
        match action {
            "DELETE" => {
                if !matches!(t, "SS" | "NS" | "BS") {
                    return Err(invalid(format!(
                        "DELETE action with value is not supported for the type {t}"
                    )));
                }
                out.delete.push((path, v));
            }
            "ADD" => {
                if !matches!(t, "L" | "SS" | "NS" | "BS" | "N") {
                    return Err(invalid(format!(
                        "ADD action is not supported for the type {t}"
                    )));
                }
                out.add.push((path, v));
            }
            _ => out
                .set
                .push((path, SetValue::Operand(UpdateOperand::Value(v)))),
        }
    }
    Ok(out)
}

/// AttributesToGet as a projection.
pub fn convert_attributes_to_get(names: &Json) -> Result<Projection, ExprError> {
    let Some(list) = names.as_array() else {
        return Err(ExprError::new("Expected list or null"));
    };
    let mut paths: Vec<Path> = Vec::with_capacity(list.len());
    for n in list {
        let Some(name) = n.as_str() else {
            return Err(ExprError::new(
                "class java.lang.Boolean can not be converted to an String",
            ));
        };
        if paths.iter().any(|p| p.head() == name) {
            return Err(invalid(format!(
                "Duplicate value in attribute name: {name}"
            )));
        }
        paths.push(Path::attr(name));
    }
    Ok(Projection { paths })
}

/// DynamoDB's rules on mixing expression and legacy parameters. `expression_params` and
/// `legacy_params` list, in the operation's order, each parameter name and whether the request
/// has it; `names_present` / `values_present` say whether ExpressionAttributeNames / Values were
/// given. ProjectionExpression does not count as using values.
pub fn check_expression_parameters(
    expression_params: &[(&str, bool)],
    legacy_params: &[(&str, bool)],
    names_present: bool,
    values_present: bool,
) -> Result<(), ExprError> {
    let used: Vec<&str> = expression_params
        .iter()
        .filter(|(_, present)| *present)
        .map(|(n, _)| *n)
        .collect();
    if !used.is_empty() {
        let key_expr = expression_params
            .iter()
            .any(|(n, present)| *n == "KeyConditionExpression" && *present);
        let legacy: Vec<&str> = legacy_params
            .iter()
            .filter(|(n, present)| *present && (key_expr || *n != "KeyConditions"))
            .map(|(n, _)| *n)
            .collect();
        if !legacy.is_empty() {
            return Err(ExprError::new(format!(
                "Can not use both expression and non-expression parameters in the same request: \
                 Non-expression parameters: {{{}}} Expression parameters: {{{}}}",
                legacy.join(", "),
                used.join(", ")
            )));
        }
    }
    if names_present && used.is_empty() {
        return Err(ExprError::new(
            "ExpressionAttributeNames can only be specified when using expressions",
        ));
    }
    let value_exprs: Vec<&(&str, bool)> = expression_params
        .iter()
        .filter(|(n, _)| *n != "ProjectionExpression")
        .collect();
    if values_present && !value_exprs.is_empty() && value_exprs.iter().all(|(_, p)| !*p) {
        let names: Vec<&str> = value_exprs.iter().map(|(n, _)| *n).collect();
        let verb = if names.len() > 1 { "are" } else { "is" };
        return Err(ExprError::new(format!(
            "ExpressionAttributeValues can only be specified when using expressions: {} {verb} null",
            names.join(" and ")
        )));
    }
    Ok(())
}
