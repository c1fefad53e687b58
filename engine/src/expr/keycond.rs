//! KeyConditionExpression (and legacy KeyConditions) analysis: from a parsed condition and the
//! key attribute names to the partition key value and an optional sort-key condition, with
//! DynamoDB's messages for every shape it refuses.

use super::ast::{CmpOp, Condition, Operand, PathElem};
use super::legacy::{validate_comparison, ComparisonOp};
use super::ExprError;
use crate::model::AttributeValue;

/// The condition on the sort key of a Query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortCondition {
    Eq(AttributeValue),
    Lt(AttributeValue),
    Le(AttributeValue),
    Gt(AttributeValue),
    Ge(AttributeValue),
    /// Inclusive bounds.
    Between(AttributeValue, AttributeValue),
    BeginsWith(AttributeValue),
}

impl SortCondition {
    /// The values the condition compares with.
    pub fn values(&self) -> Vec<&AttributeValue> {
        match self {
            SortCondition::Eq(v)
            | SortCondition::Lt(v)
            | SortCondition::Le(v)
            | SortCondition::Gt(v)
            | SortCondition::Ge(v)
            | SortCondition::BeginsWith(v) => vec![v],
            SortCondition::Between(a, b) => vec![a, b],
        }
    }
}

/// What a Query reads: one partition, optionally narrowed on the sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyQuery {
    pub partition: AttributeValue,
    pub sort: Option<SortCondition>,
}

impl KeyQuery {
    /// Checks the condition values against the key attribute types (`"S"`, `"N"` or `"B"`).
    pub fn check_types(
        &self,
        partition_type: &str,
        sort_type: Option<&str>,
    ) -> Result<(), ExprError> {
        let mismatch = || {
            ExprError::new(
                "One or more parameter values were invalid: Condition parameter type does not \
                 match schema type",
            )
        };
        if self.partition.type_descriptor() != partition_type {
            return Err(mismatch());
        }
        if let (Some(sort), Some(t)) = (&self.sort, sort_type) {
            if sort.values().iter().any(|v| v.type_descriptor() != t) {
                return Err(mismatch());
            }
        }
        Ok(())
    }
}

/// One key condition in legacy form: attribute, operator, values.
pub(crate) struct KeyTerm {
    pub attr: String,
    pub op: ComparisonOp,
    pub values: Vec<AttributeValue>,
}

fn invalid_operator(name: &str) -> ExprError {
    ExprError::new(format!(
        "Invalid operator used in KeyConditionExpression: {name}"
    ))
}

fn collect(c: &Condition, out: &mut Vec<KeyTerm>) -> Result<(), ExprError> {
    let (op, args): (ComparisonOp, Vec<&Operand>) = match c {
        Condition::And(cs) => {
            for c in cs {
                collect(c, out)?;
            }
            return Ok(());
        }
        Condition::Or(_) => return Err(invalid_operator("OR")),
        Condition::Not(_) => return Err(invalid_operator("NOT")),
        Condition::In(..) => return Err(invalid_operator("IN")),
        Condition::Compare(CmpOp::Ne, ..) => return Err(invalid_operator("<>")),
        Condition::Exists(_) => return Err(invalid_operator("attribute_exists")),
        Condition::NotExists(_) => return Err(invalid_operator("attribute_not_exists")),
        Condition::AttributeType(..) => return Err(invalid_operator("attribute_type")),
        Condition::Contains(..) => return Err(invalid_operator("contains")),
        Condition::Compare(op, a, b) => {
            let op = match op {
                CmpOp::Eq => ComparisonOp::Eq,
                CmpOp::Lt => ComparisonOp::Lt,
                CmpOp::Le => ComparisonOp::Le,
                CmpOp::Gt => ComparisonOp::Gt,
                _ => ComparisonOp::Ge,
            };
            (op, vec![a, b])
        }
        Condition::Between(v, lo, hi) => {
            if !matches!(v, Operand::Path(_)) {
                return Err(ExprError::new(
                    "Invalid condition in KeyConditionExpression: BETWEEN operator must have the \
                     key attribute as its first operand",
                ));
            }
            (ComparisonOp::Between, vec![v, lo, hi])
        }
        Condition::BeginsWith(a, b) => {
            if !matches!(a, Operand::Path(_)) {
                return Err(ExprError::new(
                    "Invalid condition in KeyConditionExpression: begins_with operator must have \
                     the key attribute as its first operand",
                ));
            }
            (ComparisonOp::BeginsWith, vec![a, b])
        }
    };
    let mut attr: Option<(&str, usize)> = None;
    let mut values = Vec::new();
    for (i, a) in args.iter().enumerate() {
        match a {
            Operand::Path(p) => {
                if attr.is_some() {
                    return Err(ExprError::new(
                        "Invalid condition in KeyConditionExpression: Multiple attribute names \
                         used in one condition",
                    ));
                }
                if p.0.len() > 1 {
                    return Err(ExprError::new(
                        "KeyConditionExpressions cannot have conditions on nested attributes",
                    ));
                }
                let name = match p.0.first() {
                    Some(PathElem::Name(n)) => n.name.as_str(),
                    _ => "",
                };
                attr = Some((name, i));
            }
            Operand::Size(_) => {
                return Err(ExprError::new(
                    "KeyConditionExpressions cannot contain nested operations",
                ))
            }
            Operand::Value(v) => values.push(v.value.clone()),
        }
    }
    let Some((name, index)) = attr else {
        return Err(ExprError::new(
            "Invalid condition in KeyConditionExpression: No key attribute specified",
        ));
    };
    if out.iter().any(|t| t.attr == name) {
        return Err(ExprError::new(
            "KeyConditionExpressions must only contain one condition per key",
        ));
    }
    let op = if index == 0 { op } else { op.flipped() };
    out.push(KeyTerm {
        attr: name.to_string(),
        op,
        values,
    });
    Ok(())
}

/// The checks of the key conditions (in legacy form) that need no key schema: each term's
/// operator against its values, then their number. DynamoDB makes them before it looks the
/// table up.
pub(crate) fn check_terms(terms: &[KeyTerm]) -> Result<(), ExprError> {
    for t in terms {
        validate_comparison(t.op, &t.values)?;
    }
    if terms.is_empty() || terms.len() > 2 {
        return Err(ExprError::new("Conditions can be of length 1 or 2 only"));
    }
    Ok(())
}

/// The checks shared by KeyConditionExpression and KeyConditions once both are in legacy form.
pub(crate) fn key_query_from_terms(
    terms: Vec<KeyTerm>,
    partition_key: &str,
    sort_key: Option<&str>,
) -> Result<KeyQuery, ExprError> {
    check_terms(&terms)?;
    let unsupported = || ExprError::new("Query key condition not supported");
    // DynamoDB's order: more conditions than key attributes, then a missing partition key,
    // then a condition on something other than the sort key names the sort key as missing.
    if terms.len() > 1 + usize::from(sort_key.is_some()) {
        return Err(unsupported());
    }
    if !terms.iter().any(|t| t.attr == partition_key) {
        return Err(ExprError::new(format!(
            "Query condition missed key schema element: {partition_key}"
        )));
    }
    if let Some(sk) = sort_key {
        if terms
            .iter()
            .any(|t| t.attr != partition_key && t.attr != sk)
        {
            return Err(ExprError::new(format!(
                "Query condition missed key schema element: {sk}"
            )));
        }
    }
    // Then operators no index serves (the legacy KeyConditions' NULL, NE, IN, CONTAINS...;
    // a KeyConditionExpression cannot name them).
    if terms.iter().any(|t| {
        !matches!(
            t.op,
            ComparisonOp::Eq
                | ComparisonOp::Lt
                | ComparisonOp::Le
                | ComparisonOp::Gt
                | ComparisonOp::Ge
                | ComparisonOp::Between
                | ComparisonOp::BeginsWith
        )
    }) {
        return Err(ExprError::new(
            "Attempted conditional constraint is not an indexable operation",
        ));
    }
    let mut partition = None;
    let mut sort = None;
    for t in terms {
        let mut values = t.values.into_iter();
        if t.attr == partition_key {
            match (t.op, values.next()) {
                (ComparisonOp::Eq, Some(v)) => partition = Some(v),
                _ => return Err(unsupported()),
            }
        } else if Some(t.attr.as_str()) == sort_key {
            let (a, b) = (values.next(), values.next());
            sort = Some(match (t.op, a, b) {
                (ComparisonOp::Eq, Some(v), _) => SortCondition::Eq(v),
                (ComparisonOp::Lt, Some(v), _) => SortCondition::Lt(v),
                (ComparisonOp::Le, Some(v), _) => SortCondition::Le(v),
                (ComparisonOp::Gt, Some(v), _) => SortCondition::Gt(v),
                (ComparisonOp::Ge, Some(v), _) => SortCondition::Ge(v),
                (ComparisonOp::Between, Some(lo), Some(hi)) => SortCondition::Between(lo, hi),
                (ComparisonOp::BeginsWith, Some(v), _) => SortCondition::BeginsWith(v),
                _ => return Err(unsupported()),
            });
        } else {
            return Err(unsupported());
        }
    }
    let partition = partition.ok_or_else(unsupported)?;
    Ok(KeyQuery { partition, sort })
}

/// The checks of [`analyze_key_condition`] that need no key schema: the condition's shape
/// (only `=`, `<`, `<=`, `>`, `>=`, BETWEEN and begins_with joined by AND; one plain
/// attribute per condition, first in BETWEEN and begins_with; no function operands; one
/// condition per attribute), then [`check_terms`]. DynamoDB reports these before it looks the
/// table up, so a malformed KeyConditionExpression on a missing table is a
/// ValidationException, not ResourceNotFoundException.
pub fn check_key_condition(cond: &Condition) -> Result<(), ExprError> {
    let mut terms = Vec::new();
    collect(cond, &mut terms)?;
    check_terms(&terms)
}

/// Analyzes a parsed KeyConditionExpression for a table (or index) whose key attributes are
/// `partition_key` and optionally `sort_key`.
pub fn analyze_key_condition(
    cond: &Condition,
    partition_key: &str,
    sort_key: Option<&str>,
) -> Result<KeyQuery, ExprError> {
    let mut terms = Vec::new();
    collect(cond, &mut terms)?;
    key_query_from_terms(terms, partition_key, sort_key)
}
