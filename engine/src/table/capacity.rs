//! `ReturnConsumedCapacity` and the `ConsumedCapacity` objects of a response; the arithmetic
//! itself is [`crate::capacity::units`].

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::api::request::Req;
use crate::api::ApiError;

/// What a request asked to be told about the capacity it consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReturnCapacity {
    None,
    Total,
    Indexes,
}

impl ReturnCapacity {
    pub fn parse(r: &Req<'_>) -> Result<ReturnCapacity, ApiError> {
        Ok(
            match r.enum_str("ReturnConsumedCapacity", &["INDEXES", "TOTAL", "NONE"])? {
                Some("TOTAL") => ReturnCapacity::Total,
                Some("INDEXES") => ReturnCapacity::Indexes,
                _ => ReturnCapacity::None,
            },
        )
    }

    /// One table's `ConsumedCapacity`, or `None` when not asked for.
    pub fn render(self, table: &str, units: f64) -> Option<Value> {
        match self {
            ReturnCapacity::None => None,
            ReturnCapacity::Total => Some(json!({"TableName": table, "CapacityUnits": units})),
            ReturnCapacity::Indexes => Some(json!({
                "TableName": table,
                "CapacityUnits": units,
                "Table": {"CapacityUnits": units},
            })),
        }
    }

    /// Adds `ConsumedCapacity` for one table to a response object when asked for.
    pub fn attach(self, out: &mut Value, table: &str, units: f64) {
        if let Some(c) = self.render(table, units) {
            out["ConsumedCapacity"] = c;
        }
    }

    /// Adds the per-table `ConsumedCapacity` list of a multi-table operation.
    pub fn attach_list(self, out: &mut Value, per_table: &BTreeMap<String, f64>) {
        if self == ReturnCapacity::None {
            return;
        }
        let list: Vec<Value> = per_table
            .iter()
            .filter_map(|(t, u)| self.render(t, *u))
            .collect();
        out["ConsumedCapacity"] = Value::Array(list);
    }
}
