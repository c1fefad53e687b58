//! DynamoDB's expressions: ConditionExpression, FilterExpression, KeyConditionExpression,
//! ProjectionExpression and UpdateExpression, with `#name` / `:value` placeholders, plus the legacy
//! parameters (Expected, AttributeUpdates, KeyConditions, QueryFilter/ScanFilter,
//! AttributesToGet) converted into the same AST.
//!
//! Flow for one request:
//! 1. [`check_expression_parameters`] (expression vs legacy parameters) and
//!    [`validate_placeholder_maps`];
//! 2. parse each expression with [`parse_condition`], [`parse_update`], [`parse_projection`]
//!    (each records the placeholders it used in a [`Usage`]);
//! 3. [`check_unused`] over the union of the usages;
//! 4. per item: [`eval_condition`], [`apply_update`], [`project`]; for Query,
//!    [`analyze_key_condition`] turns the key condition into a partition value and a sort-key
//!    range.
//!
//! Every failure is an [`ExprError`] whose message is DynamoDB's ValidationException text.

mod ast;
mod eval;
mod keycond;
mod legacy;
mod lexer;
mod parser;
mod path;
pub mod reserved;
mod update;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

pub use ast::{
    CmpOp, Condition, Name, Operand, Path, PathElem, Projection, SetValue, UpdateExpr,
    UpdateOperand, Value,
};
pub use eval::{eval_condition, values_equal};
pub use keycond::{analyze_key_condition, check_key_condition, KeyQuery, SortCondition};
pub use legacy::{
    check_expression_parameters, check_key_conditions, convert_attribute_updates,
    convert_attributes_to_get, convert_expected, convert_filter, convert_key_conditions,
    ConditionalOperator,
};
pub use parser::{parse_condition, parse_projection, parse_update};
pub use path::{project, project_paths, resolve_path};
pub use update::{apply_update, UpdateOutcome};

use crate::model::AttributeValue;

/// A ValidationException raised by an expression, with DynamoDB's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    pub message: String,
}

impl ExprError {
    pub fn new(message: impl Into<String>) -> ExprError {
        ExprError {
            message: message.into(),
        }
    }

    /// `Invalid <Kind>Expression: <detail>`
    pub fn invalid(kind: ExprKind, detail: impl AsRef<str>) -> ExprError {
        ExprError::new(format!(
            "Invalid {}: {}",
            kind.param_name(),
            detail.as_ref()
        ))
    }
}

/// Which request parameter an expression came from (it names the parameter in messages and
/// selects the grammar).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExprKind {
    Condition,
    Filter,
    KeyCondition,
    Projection,
    Update,
}

impl ExprKind {
    /// The request parameter name, e.g. `ConditionExpression`.
    pub fn param_name(self) -> &'static str {
        match self {
            ExprKind::Condition => "ConditionExpression",
            ExprKind::Filter => "FilterExpression",
            ExprKind::KeyCondition => "KeyConditionExpression",
            ExprKind::Projection => "ProjectionExpression",
            ExprKind::Update => "UpdateExpression",
        }
    }
}

/// A request's `ExpressionAttributeNames` and `ExpressionAttributeValues`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Placeholders<'a> {
    pub names: Option<&'a BTreeMap<String, String>>,
    pub values: Option<&'a BTreeMap<String, AttributeValue>>,
}

/// The placeholders one expression used; union them over a request for [`check_unused`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    pub names: BTreeSet<String>,
    pub values: BTreeSet<String>,
}

impl Usage {
    pub fn merge(&mut self, other: &Usage) {
        self.names.extend(other.names.iter().cloned());
        self.values.extend(other.values.iter().cloned());
    }
}

/// DynamoDB's unused-placeholder checks over all the expressions of one request: names first,
/// then values (`Value provided in ExpressionAttributeNames unused in expressions: keys: {#a}`).
pub fn check_unused(placeholders: &Placeholders<'_>, usages: &[&Usage]) -> Result<(), ExprError> {
    if let Some(names) = placeholders.names {
        let unused: Vec<&str> = names
            .keys()
            .filter(|k| !usages.iter().any(|u| u.names.contains(*k)))
            .map(String::as_str)
            .collect();
        if !unused.is_empty() {
            return Err(ExprError::new(format!(
                "Value provided in ExpressionAttributeNames unused in expressions: keys: {{{}}}",
                unused.join(", ")
            )));
        }
    }
    if let Some(values) = placeholders.values {
        let unused: Vec<&str> = values
            .keys()
            .filter(|k| !usages.iter().any(|u| u.values.contains(*k)))
            .map(String::as_str)
            .collect();
        if !unused.is_empty() {
            return Err(ExprError::new(format!(
                "Value provided in ExpressionAttributeValues unused in expressions: keys: {{{}}}",
                unused.join(", ")
            )));
        }
    }
    Ok(())
}

fn is_placeholder_key(key: &str, sigil: u8) -> bool {
    let b = key.as_bytes();
    b.len() >= 2
        && b[0] == sigil
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// Shape checks on the placeholder maps that DynamoDB makes before parsing any expression:
/// non-empty maps and keys of the form `#[A-Za-z0-9_]+` / `:[A-Za-z0-9_]+`.
pub fn validate_placeholder_maps(placeholders: &Placeholders<'_>) -> Result<(), ExprError> {
    if let Some(names) = placeholders.names {
        if names.is_empty() {
            return Err(ExprError::new("ExpressionAttributeNames must not be empty"));
        }
        if let Some(bad) = names.keys().find(|k| !is_placeholder_key(k, b'#')) {
            return Err(ExprError::new(format!(
                "ExpressionAttributeNames contains invalid key: Syntax error; key: \"{bad}\""
            )));
        }
    }
    if let Some(values) = placeholders.values {
        if values.is_empty() {
            return Err(ExprError::new(
                "ExpressionAttributeValues must not be empty",
            ));
        }
        if let Some(bad) = values.keys().find(|k| !is_placeholder_key(k, b':')) {
            return Err(ExprError::new(format!(
                "ExpressionAttributeValues contains invalid key: Syntax error; key: \"{bad}\""
            )));
        }
    }
    Ok(())
}
