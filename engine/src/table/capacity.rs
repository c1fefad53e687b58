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
    pub fn render(self, table: &str, c: &Consumed) -> Option<Value> {
        self.render_split(table, c, None)
    }

    /// [`ReturnCapacity::render`], with the units also named by kind (`split`:
    /// `ReadCapacityUnits` or `WriteCapacityUnits`) at the top, for the table and for each
    /// index, as DynamoDB reports the transactional operations (and only those).
    fn render_split(self, table: &str, c: &Consumed, split: Option<&str>) -> Option<Value> {
        let units = |u: f64| -> serde_json::Map<String, Value> {
            let mut v = serde_json::Map::new();
            v.insert("CapacityUnits".into(), json!(u));
            if let Some(kind) = split {
                v.insert(kind.into(), json!(u));
            }
            v
        };
        let top = |u: f64| -> Value {
            let mut v = serde_json::Map::new();
            v.insert("TableName".into(), json!(table));
            v.extend(units(u));
            Value::Object(v)
        };
        match self {
            ReturnCapacity::None => None,
            ReturnCapacity::Total => Some(top(c.total())),
            ReturnCapacity::Indexes => {
                let mut v = top(c.total());
                v["Table"] = Value::Object(units(c.table));
                let per_index = |m: &BTreeMap<String, f64>| -> Value {
                    m.iter()
                        .map(|(n, u)| (n.clone(), Value::Object(units(*u))))
                        .collect::<serde_json::Map<String, Value>>()
                        .into()
                };
                if !c.gsi.is_empty() {
                    v["GlobalSecondaryIndexes"] = per_index(&c.gsi);
                }
                if !c.lsi.is_empty() {
                    v["LocalSecondaryIndexes"] = per_index(&c.lsi);
                }
                Some(v)
            }
        }
    }

    /// Adds `ConsumedCapacity` for one table to a response object when asked for.
    pub fn attach(self, out: &mut Value, table: &str, c: &Consumed) {
        if let Some(v) = self.render(table, c) {
            out["ConsumedCapacity"] = v;
        }
    }

    /// Adds the per-table `ConsumedCapacity` list of a multi-table operation.
    pub fn attach_list(self, out: &mut Value, per_table: &BTreeMap<String, Consumed>) {
        if let Some(list) = self.render_list(per_table) {
            out["ConsumedCapacity"] = list;
        }
    }

    /// The per-table `ConsumedCapacity` list of a multi-table operation, or `None` when not
    /// asked for.
    pub fn render_list(self, per_table: &BTreeMap<String, Consumed>) -> Option<Value> {
        self.render_list_split(per_table, None)
    }

    /// The `ConsumedCapacity` list of a transaction: as [`ReturnCapacity::render_list`], with
    /// the units also given as `ReadCapacityUnits` (TransactGetItems) or `WriteCapacityUnits`
    /// (TransactWriteItems), as DynamoDB answers transactions.
    pub fn render_transaction(
        self,
        per_table: &BTreeMap<String, Consumed>,
        write: bool,
    ) -> Option<Value> {
        let kind = if write {
            "WriteCapacityUnits"
        } else {
            "ReadCapacityUnits"
        };
        self.render_list_split(per_table, Some(kind))
    }

    fn render_list_split(
        self,
        per_table: &BTreeMap<String, Consumed>,
        split: Option<&str>,
    ) -> Option<Value> {
        if self == ReturnCapacity::None {
            return None;
        }
        let list: Vec<Value> = per_table
            .iter()
            .filter_map(|(t, c)| self.render_split(t, c, split))
            .collect();
        Some(Value::Array(list))
    }
}

/// Capacity one request consumed on one table: on the table itself and on each index.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Consumed {
    pub table: f64,
    pub gsi: BTreeMap<String, f64>,
    pub lsi: BTreeMap<String, f64>,
}

impl Consumed {
    pub fn of(table: f64) -> Consumed {
        Consumed {
            table,
            ..Consumed::default()
        }
    }

    /// Units charged to an index.
    pub fn index(&mut self, name: &str, global: bool, units: f64) {
        let m = if global { &mut self.gsi } else { &mut self.lsi };
        *m.entry(name.to_string()).or_default() += units;
    }

    /// Adds another request's consumption to this one.
    pub fn add(&mut self, o: &Consumed) {
        self.table += o.table;
        for (n, u) in &o.gsi {
            *self.gsi.entry(n.clone()).or_default() += u;
        }
        for (n, u) in &o.lsi {
            *self.lsi.entry(n.clone()).or_default() += u;
        }
    }

    pub fn total(&self) -> f64 {
        self.table + self.gsi.values().sum::<f64>() + self.lsi.values().sum::<f64>()
    }
}
