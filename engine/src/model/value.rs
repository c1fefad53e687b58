//! `AttributeValue`: DynamoDB's ten attribute types.

use std::collections::BTreeMap;

use super::number::Number;

/// An item: attribute name → value. DynamoDB maps are unordered; a `BTreeMap` keeps ours
/// deterministic.
pub type Item = BTreeMap<String, AttributeValue>;

/// One DynamoDB attribute value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AttributeValue {
    S(String),
    N(Number),
    B(Vec<u8>),
    Bool(bool),
    Null,
    M(Item),
    L(Vec<AttributeValue>),
    /// String set: non-empty, no duplicates; members in DynamoDB's order (bytewise) once read
    /// from a request or built by an update (`from_json`, `ADD`).
    SS(Vec<String>),
    /// Number set: non-empty, no numerically equal duplicates.
    NS(Vec<Number>),
    /// Binary set: non-empty, no duplicates.
    BS(Vec<Vec<u8>>),
}

impl AttributeValue {
    /// DynamoDB's type descriptor: "S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS".
    pub fn type_descriptor(&self) -> &'static str {
        match self {
            AttributeValue::S(_) => "S",
            AttributeValue::N(_) => "N",
            AttributeValue::B(_) => "B",
            AttributeValue::Bool(_) => "BOOL",
            AttributeValue::Null => "NULL",
            AttributeValue::M(_) => "M",
            AttributeValue::L(_) => "L",
            AttributeValue::SS(_) => "SS",
            AttributeValue::NS(_) => "NS",
            AttributeValue::BS(_) => "BS",
        }
    }
}
