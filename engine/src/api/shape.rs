//! DynamoDB's first validation pass over a request: each top-level member against the
//! constraints of the API model (required, length, pattern, value range, enum). Every violation
//! is collected into one message, as DynamoDB reports them:
//! `2 validation errors detected: Value 'ab' at 'tableName' failed to satisfy constraint:
//! Member must have length greater than or equal to 3; Value null at 'key' failed to satisfy
//! constraint: Member must not be null`.
//!
//! Members are checked in the order DynamoDB lists them in its messages for each operation
//! (the order dynalite's and moto's recorded responses show); within a member: pattern, then
//! minimum length, then maximum length. Only when this pass finds nothing do the operation's
//! own (one-error) checks run. A member of the wrong JSON type is a SerializationException
//! first, as in DynamoDB, where deserialization precedes validation.

use serde_json::{Map, Value};

use super::request::Req;
use super::ApiError;
use crate::limits::{
    BATCH_GET_KEYS_MAX, BATCH_WRITE_REQUESTS_MAX, KEY_ATTRIBUTE_NAME_MAX_BYTES,
    SCAN_TOTAL_SEGMENTS_MAX, TABLE_NAME_LEN_MAX, TABLE_NAME_LEN_MIN, TTL_ATTRIBUTE_NAME_LEN_MAX,
};

/// DynamoDB lists at most this many violations in one message.
const MAX_REPORTED: usize = 10;
/// A TableName that holds an ARN: DynamoDB's model allows 1–1,024 characters.
const TABLE_ARN_LEN_MAX: usize = 1024;

const RETURN_CONSUMED_CAPACITY: &[&str] = &["INDEXES", "TOTAL", "NONE"];
const RETURN_ITEM_COLLECTION_METRICS: &[&str] = &["SIZE", "NONE"];
const RETURN_VALUES: &[&str] = &["ALL_NEW", "UPDATED_OLD", "ALL_OLD", "NONE", "UPDATED_NEW"];
const RETURN_VALUES_ON_FAILURE: &[&str] = &["ALL_OLD", "NONE"];
const CONDITIONAL_OPERATOR: &[&str] = &["OR", "AND"];
const SELECT: &[&str] = &[
    "SPECIFIC_ATTRIBUTES",
    "COUNT",
    "ALL_ATTRIBUTES",
    "ALL_PROJECTED_ATTRIBUTES",
];
const BILLING_MODE: &[&str] = &["PROVISIONED", "PAY_PER_REQUEST"];
const KEY_TYPE: &[&str] = &["HASH", "RANGE"];
const ATTRIBUTE_TYPE: &[&str] = &["B", "N", "S"];
/// A Projection's ProjectionType, in the order DynamoDB lists them.
const PROJECTION_TYPE: &[&str] = &["ALL", "INCLUDE", "KEYS_ONLY"];
/// The constraints on a RequestItems map's keys (table names), as DynamoDB lists them.
const REQUEST_ITEMS_KEYS: &str = "Map keys must satisfy constraint: [Member must have length less than or equal to 255, Member must have length greater than or equal to 3, Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+]";

/// A legacy condition's ComparisonOperator, in the order DynamoDB lists them.
const COMPARISON_OPERATOR: &[&str] = &[
    "IN",
    "NULL",
    "BETWEEN",
    "LT",
    "NOT_CONTAINS",
    "EQ",
    "GT",
    "NOT_NULL",
    "NE",
    "LE",
    "BEGINS_WITH",
    "GE",
    "CONTAINS",
];

/// Whether a TableName member may hold a table ARN instead of a name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Arn {
    Allowed,
    NotAllowed,
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// A list as DynamoDB shows it in a message: strings bare, anything else as JSON.
fn render_list(a: &[Value]) -> String {
    let items: Vec<String> = a
        .iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// A key schema as the service echoes it in a constraint message (2026): each element in its
/// Java form, `KeySchemaElement(attributeName=pk, keyType=HASH)`, a missing member `null`.
pub(crate) fn render_key_schema(a: &[Value]) -> String {
    let member = |v: &Value, k: &str| match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "null".to_string(),
        Some(other) => other.to_string(),
    };
    let items: Vec<String> = a
        .iter()
        .map(|v| match v {
            Value::Object(_) => format!(
                "KeySchemaElement(attributeName={}, keyType={})",
                member(v, "AttributeName"),
                member(v, "KeyType")
            ),
            v => v.to_string(),
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// A map as Java renders it (`{k1=v1, k2=v2}`), each value by `value`.
fn render_map(m: &Map<String, Value>, value: impl Fn(&Value) -> String) -> String {
    let entries: Vec<String> = m.iter().map(|(k, v)| format!("{k}={}", value(v))).collect();
    format!("{{{}}}", entries.join(", "))
}

/// Whether `s` is a valid table or index name: `[a-zA-Z0-9_.-]+`, 3–255 characters.
fn valid_name(s: &str) -> bool {
    !out_of_bounds(
        s.chars().count(),
        TABLE_NAME_LEN_MIN,
        Some(TABLE_NAME_LEN_MAX),
    ) && s
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-')
}

/// Whether a length of `len` breaks the bounds [`Shape::length`] checks.
fn out_of_bounds(len: usize, min: usize, max: Option<usize>) -> bool {
    len < min || max.is_some_and(|m| len > m)
}

/// The violations found so far in one request.
struct Shape<'r, 'a> {
    r: &'r Req<'a>,
    errors: Vec<String>,
}

impl<'r, 'a> Shape<'r, 'a> {
    fn new(r: &'r Req<'a>) -> Self {
        Shape {
            r,
            errors: Vec::new(),
        }
    }

    /// `value` is the member's rendering (`None`: null).
    fn violation(&mut self, value: Option<&str>, member: &str, rule: &str) {
        if self.errors.len() >= MAX_REPORTED {
            return;
        }
        let value = match value {
            Some(v) => format!("'{v}'"),
            None => "null".to_string(),
        };
        self.errors.push(format!(
            "Value {value} at '{}' failed to satisfy constraint: {rule}",
            lower_first(member)
        ));
    }

    fn not_null(&mut self, k: &str) {
        self.violation(None, k, "Member must not be null");
    }

    fn length(&mut self, shown: &str, k: &str, len: usize, min: usize, max: Option<usize>) {
        if len < min {
            self.violation(
                Some(shown),
                k,
                &format!("Member must have length greater than or equal to {min}"),
            );
        }
        if let Some(max) = max.filter(|m| len > *m) {
            self.violation(
                Some(shown),
                k,
                &format!("Member must have length less than or equal to {max}"),
            );
        }
    }

    /// A table or index name: `[a-zA-Z0-9_.-]+`, 3–255 characters; with `Arn::Allowed`, a
    /// value starting `arn:` is an ARN and only its length (≤ 1,024) is checked here.
    fn name(&mut self, k: &str, required: bool, arn: Arn) -> Result<(), ApiError> {
        let Some(s) = self.r.str(k)? else {
            if required {
                self.not_null(k);
            }
            return Ok(());
        };
        if arn == Arn::Allowed && s.starts_with("arn:") {
            self.length(s, k, s.chars().count(), 1, Some(TABLE_ARN_LEN_MAX));
            return Ok(());
        }
        self.name_value(s, k);
        Ok(())
    }

    /// A name's pattern, then its length, at `path`.
    fn name_value(&mut self, s: &str, path: &str) {
        // The pattern is `[a-zA-Z0-9_.-]+`: the empty name breaks it as well as the length.
        if s.is_empty()
            || !s
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-')
        {
            self.violation(
                Some(s),
                path,
                "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
            );
        }
        let len = s.chars().count();
        self.length(s, path, len, TABLE_NAME_LEN_MIN, Some(TABLE_NAME_LEN_MAX));
    }

    /// A required index name inside a nested structure `o`, at `path`.
    fn index_name(&mut self, o: &Req<'_>, path: &str) -> Result<(), ApiError> {
        match o.str("IndexName")? {
            None => self.not_null(path),
            Some(s) => self.name_value(s, path),
        }
        Ok(())
    }

    fn table_name(&mut self, arn: Arn) -> Result<(), ApiError> {
        self.name("TableName", true, arn)
    }

    fn enumerated(&mut self, k: &str, allowed: &[&str]) -> Result<(), ApiError> {
        if let Some(s) = self.r.str(k)? {
            self.enum_value(s, k, allowed);
        }
        Ok(())
    }

    fn enum_value(&mut self, s: &str, path: &str, allowed: &[&str]) {
        if !allowed.contains(&s) {
            self.violation(
                Some(s),
                path,
                &format!(
                    "Member must satisfy enum value set: [{}]",
                    allowed.join(", ")
                ),
            );
        }
    }

    /// A legacy condition map (KeyConditions, QueryFilter, ScanFilter): each condition's
    /// ComparisonOperator, reported at `<map>.<attribute>.member.comparisonOperator`. (Its
    /// values are the operation's own checks.)
    fn conditions(&mut self, k: &str) -> Result<(), ApiError> {
        let Some(m) = self.r.object(k)? else {
            return Ok(());
        };
        for (attr, spec) in m {
            let path = format!("{}.{attr}.member.comparisonOperator", lower_first(k));
            let op = spec
                .as_object()
                .and_then(|o| o.get("ComparisonOperator"))
                .filter(|v| !v.is_null());
            match op {
                None => self.not_null(&path),
                Some(Value::String(s)) => self.enum_value(s, &path, COMPARISON_OPERATOR),
                // Another JSON type was the type check's to refuse.
                Some(_) => {}
            }
        }
        Ok(())
    }

    fn int(&mut self, k: &str, min: i64, max: Option<i64>) -> Result<(), ApiError> {
        if let Some(v) = self.r.i64(k)? {
            let shown = v.to_string();
            if v < min {
                self.violation(
                    Some(&shown),
                    k,
                    &format!("Member must have value greater than or equal to {min}"),
                );
            }
            if let Some(max) = max.filter(|m| v > *m) {
                self.violation(
                    Some(&shown),
                    k,
                    &format!("Member must have value less than or equal to {max}"),
                );
            }
        }
        Ok(())
    }

    /// A required map (Key, Item, RequestItems), with optional bounds on its entry count.
    fn map(
        &mut self,
        k: &str,
        required: bool,
        min: usize,
        max: Option<usize>,
    ) -> Result<(), ApiError> {
        match self.r.object(k)? {
            None if required => self.not_null(k),
            None => {}
            // Rendered only for a message: a valid Item is not copied and serialised again.
            Some(m) if out_of_bounds(m.len(), min, max) => {
                let shown = Value::Object(m.clone()).to_string();
                self.length(&shown, k, m.len(), min, max);
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// A list (AttributesToGet, TransactItems, KeySchema), with bounds on its length.
    fn list(
        &mut self,
        k: &str,
        required: bool,
        min: usize,
        max: Option<usize>,
    ) -> Result<(), ApiError> {
        match self.r.array(k)? {
            None if required => self.not_null(k),
            None => {}
            Some(a) => self.list_length(a, k, min, max),
        }
        Ok(())
    }

    /// A list's length at `path`, shown as DynamoDB shows the list when out of bounds.
    fn list_length(&mut self, a: &[Value], path: &str, min: usize, max: Option<usize>) {
        if out_of_bounds(a.len(), min, max) {
            self.length(&render_list(a), path, a.len(), min, max);
        }
    }

    /// A nested ProvisionedThroughput at `path` (absent: nothing to check). Its upper bound is
    /// the operation's own check, after this list; DynamoDB names the write units first.
    fn throughput(&mut self, pt: Option<&Map<String, Value>>, path: &str) -> Result<(), ApiError> {
        let Some(pt) = pt else {
            return Ok(());
        };
        let pt = Req { obj: pt };
        for k in ["WriteCapacityUnits", "ReadCapacityUnits"] {
            let at = format!("{path}.{}", lower_first(k));
            match pt.i64(k)? {
                None => self.not_null(&at),
                Some(v) if v < 1 => self.violation(
                    Some(&v.to_string()),
                    &at,
                    "Member must have value greater than or equal to 1",
                ),
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// The elements of a KeySchema (or AttributeDefinitions, with `type_member`
    /// "AttributeType") at `path`: each member's name (1–255) and its enum. The elements are
    /// checked even when the list's own length is out of bounds, as DynamoDB does.
    fn key_elements(
        &mut self,
        list: &[Value],
        path: &str,
        type_member: &str,
        types: &[&str],
    ) -> Result<(), ApiError> {
        for (i, e) in list.iter().enumerate() {
            // Another JSON type was the type check's to refuse.
            let Some(o) = e.as_object() else { continue };
            let o = Req { obj: o };
            let at = |f: &str| format!("{path}.{}.member.{f}", i + 1);
            match o.str("AttributeName")? {
                None => self.not_null(&at("attributeName")),
                Some(n) => self.length(
                    n,
                    &at("attributeName"),
                    n.len(),
                    1,
                    Some(KEY_ATTRIBUTE_NAME_MAX_BYTES),
                ),
            }
            let tp = at(&lower_first(type_member));
            match o.str(type_member)? {
                None => self.not_null(&tp),
                Some(t) => self.enum_value(t, &tp, types),
            }
        }
        Ok(())
    }

    /// A required KeySchema inside `o` at `path`: 1–2 elements, and each element.
    /// A key schema of at most `max` elements: 2 for a table or a local index, 8 for a global
    /// index (DynamoDB's multi-attribute GSI keys: up to four HASH and four RANGE).
    fn key_schema(&mut self, o: &Req<'_>, path: &str, max: usize) -> Result<(), ApiError> {
        match o.array("KeySchema")? {
            None => self.not_null(path),
            Some(ks) => {
                if out_of_bounds(ks.len(), 1, Some(max)) {
                    self.length(&render_key_schema(ks), path, ks.len(), 1, Some(max));
                }
                self.key_elements(ks, path, "KeyType", KEY_TYPE)?;
            }
        }
        Ok(())
    }

    /// CreateTable's LocalSecondaryIndexes or GlobalSecondaryIndexes (`k`): each index's name,
    /// key schema and projection (and a global index's throughput), index by index.
    fn indexes(&mut self, k: &str, global: bool) -> Result<(), ApiError> {
        let Some(list) = self.r.array(k)? else {
            return Ok(());
        };
        for (i, e) in list.iter().enumerate() {
            let Some(o) = e.as_object() else { continue };
            self.index_definition(
                &Req { obj: o },
                &format!("{}.{}.member", lower_first(k), i + 1),
                global,
            )?;
        }
        Ok(())
    }

    /// One index definition (a CreateTable index or an UpdateTable `Create`) at `path`.
    fn index_definition(&mut self, o: &Req<'_>, path: &str, global: bool) -> Result<(), ApiError> {
        self.index_name(o, &format!("{path}.indexName"))?;
        self.key_schema(o, &format!("{path}.keySchema"), if global { 8 } else { 2 })?;
        match o.object("Projection")? {
            None => self.not_null(&format!("{path}.projection")),
            Some(p) => {
                // ProjectionType itself may be absent here: that is a later check of its own.
                let p = Req { obj: p };
                if let Some(t) = p.str("ProjectionType")? {
                    self.enum_value(
                        t,
                        &format!("{path}.projection.projectionType"),
                        PROJECTION_TYPE,
                    );
                }
                if let Some(a) = p.array("NonKeyAttributes")? {
                    self.list_length(a, &format!("{path}.projection.nonKeyAttributes"), 1, None);
                }
            }
        }
        if global {
            self.throughput(
                o.object("ProvisionedThroughput")?,
                &format!("{path}.provisionedThroughput"),
            )?;
        }
        Ok(())
    }

    /// UpdateTable's GlobalSecondaryIndexUpdates: each action's members. Which action an
    /// element holds (exactly one) is a later check.
    fn index_updates(&mut self) -> Result<(), ApiError> {
        let Some(list) = self.r.array("GlobalSecondaryIndexUpdates")? else {
            return Ok(());
        };
        for (i, e) in list.iter().enumerate() {
            let Some(o) = e.as_object() else { continue };
            let o = Req { obj: o };
            let path = format!("globalSecondaryIndexUpdates.{}.member", i + 1);
            if let Some(u) = o.object("Update")? {
                let u = Req { obj: u };
                let at = format!("{path}.update");
                self.index_name(&u, &format!("{at}.indexName"))?;
                match u.object("ProvisionedThroughput")? {
                    None => self.not_null(&format!("{at}.provisionedThroughput")),
                    pt => self.throughput(pt, &format!("{at}.provisionedThroughput"))?,
                }
            }
            if let Some(c) = o.object("Create")? {
                self.index_definition(&Req { obj: c }, &format!("{path}.create"), true)?;
            }
            if let Some(d) = o.object("Delete")? {
                self.index_name(&Req { obj: d }, &format!("{path}.delete.indexName"))?;
            }
        }
        Ok(())
    }

    /// The members of a BatchGetItem's or BatchWriteItem's RequestItems: the table names
    /// (one violation for the map, naming every key constraint), then, for a write, each
    /// table's number of requests (one violation for the map), and each table's own members.
    fn request_items(&mut self, write: bool) -> Result<(), ApiError> {
        let Some(m) = self.r.object("RequestItems")? else {
            return Ok(());
        };
        let shown = || {
            render_map(m, |v| match v {
                Value::Array(a) if write => format!("[{} write requests]", a.len()),
                v => v.to_string(),
            })
        };
        // A table ARN as a key is allowed (the data plane takes one wherever it takes a table
        // name), within an ARN's own length.
        let valid_key = |k: &str| {
            if k.starts_with("arn:") {
                k.chars().count() <= TABLE_ARN_LEN_MAX
            } else {
                valid_name(k)
            }
        };
        if m.keys().any(|k| !valid_key(k)) {
            self.violation(Some(&shown()), "requestItems", REQUEST_ITEMS_KEYS);
        }
        if write
            && m.values().any(|v| {
                v.as_array()
                    .is_some_and(|a| out_of_bounds(a.len(), 1, Some(BATCH_WRITE_REQUESTS_MAX)))
            })
        {
            self.violation(
                Some(&shown()),
                "requestItems",
                &format!("Map value must satisfy constraint: [Member must have length less than or equal to {BATCH_WRITE_REQUESTS_MAX}, Member must have length greater than or equal to 1]"),
            );
        }
        for (name, v) in m {
            let path = format!("requestItems.{name}.member");
            if write {
                let Some(list) = v.as_array() else { continue };
                for (i, w) in list.iter().enumerate() {
                    let Some(w) = w.as_object() else { continue };
                    let w = Req { obj: w };
                    let at = |f: &str| format!("{path}.{}.member.{f}", i + 1);
                    if let Some(d) = w.object("DeleteRequest")? {
                        if (Req { obj: d }).object("Key")?.is_none() {
                            self.not_null(&at("deleteRequest.key"));
                        }
                    }
                    if let Some(p) = w.object("PutRequest")? {
                        if (Req { obj: p }).object("Item")?.is_none() {
                            self.not_null(&at("putRequest.item"));
                        }
                    }
                }
            } else {
                let Some(o) = v.as_object() else { continue };
                let at = format!("{path}.keys");
                match (Req { obj: o }).array("Keys")? {
                    None => self.not_null(&at),
                    // Too many keys: the service (2026) names the member as sent and shows no
                    // value: "Value at 'RequestItems.<table>.member.Keys' failed to ...".
                    Some(keys) if keys.len() > BATCH_GET_KEYS_MAX => {
                        if self.errors.len() < MAX_REPORTED {
                            self.errors.push(format!(
                                "Value at 'RequestItems.{name}.member.Keys' failed to satisfy constraint: Member must have length less than or equal to {BATCH_GET_KEYS_MAX}"
                            ));
                        }
                    }
                    Some(keys) => self.list_length(keys, &at, 1, Some(BATCH_GET_KEYS_MAX)),
                }
            }
        }
        Ok(())
    }

    fn string_len(&mut self, k: &str, min: usize, max: usize) -> Result<(), ApiError> {
        if let Some(s) = self.r.str(k)? {
            self.length(s, k, s.chars().count(), min, Some(max));
        }
        Ok(())
    }

    /// UpdateTimeToLive's TimeToLiveSpecification members. A missing specification is not in
    /// DynamoDB's list (`{"TableName": "abc;"}` reports only the name's pattern); the
    /// operation reports it when nothing here does.
    fn ttl_specification(&mut self) -> Result<(), ApiError> {
        let Some(spec) = self.r.object("TimeToLiveSpecification")? else {
            return Ok(());
        };
        let spec = Req { obj: spec };
        match spec.str("AttributeName")? {
            None => self.not_null("timeToLiveSpecification.attributeName"),
            Some(a) => {
                // The empty name has a message of its own (`UpdateTimeToLive`), after this list.
                let len = a.chars().count();
                if len > TTL_ATTRIBUTE_NAME_LEN_MAX {
                    self.length(
                        a,
                        "timeToLiveSpecification.attributeName",
                        len,
                        0,
                        Some(TTL_ATTRIBUTE_NAME_LEN_MAX),
                    );
                }
            }
        }
        if spec.get("Enabled").is_none() {
            self.not_null("timeToLiveSpecification.enabled");
        }
        Ok(())
    }

    fn finish(self) -> Result<(), ApiError> {
        match self.errors.len() {
            0 => Ok(()),
            n => Err(ApiError::validation(format!(
                "{n} validation error{} detected: {}",
                if n == 1 { "" } else { "s" },
                self.errors.join("; ")
            ))),
        }
    }
}

/// The TableName of a table-management call (CreateTable, DescribeTable, DeleteTable,
/// UpdateTable, DescribeTimeToLive, UpdateTimeToLive). DynamoDB checks its presence and length
/// before the constraint list, each with a message of its own (its pattern stays in the
/// list); the data-plane calls report both in the list. A table ARN, where one is allowed,
/// has its own bounds (see [`Shape::name`]).
fn control_plane_table_name(r: &Req<'_>, arn: Arn) -> Result<(), ApiError> {
    let Some(name) = r.str("TableName")? else {
        return Err(ApiError::validation(
            "The parameter 'TableName' is required but was not present in the request",
        ));
    };
    if arn == Arn::Allowed && name.starts_with("arn:") {
        return Ok(());
    }
    if out_of_bounds(
        name.chars().count(),
        TABLE_NAME_LEN_MIN,
        Some(TABLE_NAME_LEN_MAX),
    ) {
        return Err(ApiError::validation(format!(
            "TableName must be at least {TABLE_NAME_LEN_MIN} characters long and at most {TABLE_NAME_LEN_MAX} characters long"
        )));
    }
    Ok(())
}

/// Runs the first validation pass of `operation` over its request (operations without one
/// pass unchecked here).
pub(crate) fn check(operation: &str, r: &Req<'_>) -> Result<(), ApiError> {
    // An empty TableName (its model bound is 1–1024, table ARNs included) is reported alone,
    // before anything else, as DynamoDB reports it today.
    if r.str("TableName")? == Some("") {
        return Err(ApiError::validation(
            "1 validation error detected: Value '' at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ));
    }
    match operation {
        // CreateTable's name is checked in the list (DynamoDB's current answer for `ab` is
        // the list's length violation); only its absence is reported apart.
        "CreateTable" if !r.has("TableName") => {
            return Err(ApiError::validation(
                "The parameter 'TableName' is required but was not present in the request",
            ))
        }
        "DescribeTable" | "DeleteTable" | "UpdateTable" | "DescribeTimeToLive"
        | "UpdateTimeToLive" => control_plane_table_name(r, Arn::Allowed)?,
        _ => {}
    }
    let mut s = Shape::new(r);
    match operation {
        "GetItem" => {
            s.enumerated("ReturnConsumedCapacity", RETURN_CONSUMED_CAPACITY)?;
            s.list("AttributesToGet", false, 1, Some(255))?;
            s.table_name(Arn::Allowed)?;
            s.map("Key", true, 0, None)?;
        }
        "PutItem" => {
            s.enumerated("ReturnConsumedCapacity", RETURN_CONSUMED_CAPACITY)?;
            s.table_name(Arn::Allowed)?;
            s.map("Item", true, 0, None)?;
            s.enumerated("ConditionalOperator", CONDITIONAL_OPERATOR)?;
            s.enumerated("ReturnValues", RETURN_VALUES)?;
            s.enumerated(
                "ReturnItemCollectionMetrics",
                RETURN_ITEM_COLLECTION_METRICS,
            )?;
            s.enumerated(
                "ReturnValuesOnConditionCheckFailure",
                RETURN_VALUES_ON_FAILURE,
            )?;
        }
        "UpdateItem" => {
            s.enumerated("ReturnConsumedCapacity", RETURN_CONSUMED_CAPACITY)?;
            s.table_name(Arn::Allowed)?;
            s.enumerated(
                "ReturnItemCollectionMetrics",
                RETURN_ITEM_COLLECTION_METRICS,
            )?;
            s.enumerated("ReturnValues", RETURN_VALUES)?;
            s.map("Key", true, 0, None)?;
            s.enumerated("ConditionalOperator", CONDITIONAL_OPERATOR)?;
            s.enumerated(
                "ReturnValuesOnConditionCheckFailure",
                RETURN_VALUES_ON_FAILURE,
            )?;
        }
        "DeleteItem" => {
            s.enumerated("ReturnConsumedCapacity", RETURN_CONSUMED_CAPACITY)?;
            s.table_name(Arn::Allowed)?;
            s.enumerated("ReturnValues", RETURN_VALUES)?;
            s.enumerated(
                "ReturnItemCollectionMetrics",
                RETURN_ITEM_COLLECTION_METRICS,
            )?;
            s.map("Key", true, 0, None)?;
            s.enumerated("ConditionalOperator", CONDITIONAL_OPERATOR)?;
            s.enumerated(
                "ReturnValuesOnConditionCheckFailure",
                RETURN_VALUES_ON_FAILURE,
            )?;
        }
        // Query's and Scan's orders are those of DynamoDB's recorded messages with more than
        // ten violations (dynalite's "incorrect attributes" tests): which ten it lists depends
        // on them.
        "Query" => {
            s.enumerated("Select", SELECT)?;
            s.name("IndexName", false, Arn::NotAllowed)?;
            s.enumerated("ReturnConsumedCapacity", RETURN_CONSUMED_CAPACITY)?;
            s.conditions("QueryFilter")?;
            s.table_name(Arn::Allowed)?;
            s.enumerated("ConditionalOperator", CONDITIONAL_OPERATOR)?;
            s.list("AttributesToGet", false, 1, Some(255))?;
            // Limit is not in Query's list any more: the service (2026) checks it after the
            // list, in its own words (`table::query`).
            s.conditions("KeyConditions")?;
        }
        "Scan" => {
            let total_max = SCAN_TOTAL_SEGMENTS_MAX as i64;
            s.enumerated("Select", SELECT)?;
            s.name("IndexName", false, Arn::NotAllowed)?;
            s.int("TotalSegments", 1, Some(total_max))?;
            s.enumerated("ReturnConsumedCapacity", RETURN_CONSUMED_CAPACITY)?;
            s.table_name(Arn::Allowed)?;
            s.enumerated("ConditionalOperator", CONDITIONAL_OPERATOR)?;
            s.conditions("ScanFilter")?;
            s.int("Segment", 0, Some(total_max - 1))?;
            s.int("Limit", 1, None)?;
            s.list("AttributesToGet", false, 1, Some(255))?;
        }
        "BatchGetItem" => {
            s.enumerated("ReturnConsumedCapacity", RETURN_CONSUMED_CAPACITY)?;
            s.map("RequestItems", true, 1, Some(100))?;
            s.request_items(false)?;
        }
        "BatchWriteItem" => {
            s.enumerated("ReturnConsumedCapacity", RETURN_CONSUMED_CAPACITY)?;
            s.enumerated(
                "ReturnItemCollectionMetrics",
                RETURN_ITEM_COLLECTION_METRICS,
            )?;
            s.map("RequestItems", true, 1, Some(25))?;
            s.request_items(true)?;
        }
        "TransactWriteItems" => {
            s.enumerated("ReturnConsumedCapacity", RETURN_CONSUMED_CAPACITY)?;
            s.enumerated(
                "ReturnItemCollectionMetrics",
                RETURN_ITEM_COLLECTION_METRICS,
            )?;
            s.string_len("ClientRequestToken", 1, 36)?;
            s.list("TransactItems", true, 1, Some(100))?;
        }
        "TransactGetItems" => {
            s.list("TransactItems", true, 1, Some(100))?;
            s.enumerated("ReturnConsumedCapacity", RETURN_CONSUMED_CAPACITY)?;
        }
        // The nested members' violations join the same list (their order among the others
        // is not recorded: dynalite's tests accept any order).
        "CreateTable" => {
            s.list("AttributeDefinitions", true, 0, None)?;
            if let Some(defs) = r.array("AttributeDefinitions")? {
                s.key_elements(
                    defs,
                    "attributeDefinitions",
                    "AttributeType",
                    ATTRIBUTE_TYPE,
                )?;
            }
            s.table_name(Arn::NotAllowed)?;
            s.enumerated("BillingMode", BILLING_MODE)?;
            s.key_schema(r, "keySchema", 2)?;
            s.throughput(r.object("ProvisionedThroughput")?, "provisionedThroughput")?;
            s.indexes("LocalSecondaryIndexes", false)?;
            s.indexes("GlobalSecondaryIndexes", true)?;
        }
        "ListTables" => {
            s.name("ExclusiveStartTableName", false, Arn::NotAllowed)?;
            s.int("Limit", 1, Some(100))?;
        }
        "DescribeTable" | "DeleteTable" | "DescribeTimeToLive" => s.table_name(Arn::Allowed)?,
        "UpdateTimeToLive" => {
            s.table_name(Arn::Allowed)?;
            s.ttl_specification()?;
        }
        "UpdateTable" => {
            s.table_name(Arn::Allowed)?;
            s.enumerated("BillingMode", BILLING_MODE)?;
            s.throughput(r.object("ProvisionedThroughput")?, "provisionedThroughput")?;
            s.index_updates()?;
        }
        _ => {}
    }
    // An empty RequestItems map, when nothing else is wrong, is a missing parameter to
    // today's service (with other violations it stays in the list, as recorded before).
    s.finish().map_err(|e| {
        let empty = "1 validation error detected: Value '{}' at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1";
        if matches!(operation, "BatchGetItem" | "BatchWriteItem") && e.message == empty {
            ApiError::validation(format!(
                "The requestItems parameter is required for {operation}"
            ))
        } else {
            e
        }
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn message(op: &str, body: Value) -> String {
        let r = Req::new(&body).expect("object");
        match check(op, &r) {
            Ok(()) => String::new(),
            Err(e) => {
                assert_eq!(e.code, crate::api::ErrorCode::ValidationException, "{e}");
                e.message
            }
        }
    }

    #[test]
    fn violations_are_collected_in_dynamodb_order() {
        assert_eq!(
            message("GetItem", json!({"TableName": "ab"})),
            "2 validation errors detected: Value 'ab' at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 3; Value null at 'key' failed to satisfy constraint: Member must not be null"
        );
        assert_eq!(
            message("GetItem", json!({})),
            "2 validation errors detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null; Value null at 'key' failed to satisfy constraint: Member must not be null"
        );
        assert_eq!(
            message("GetItem", json!({"TableName": "a;", "Key": {}})),
            "2 validation errors detected: Value 'a;' at 'tableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; Value 'a;' at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 3"
        );
        assert_eq!(
            message(
                "GetItem",
                json!({"TableName": "abc;", "ReturnConsumedCapacity": "hi", "AttributesToGet": []})
            ),
            "4 validation errors detected: Value 'hi' at 'returnConsumedCapacity' failed to satisfy constraint: Member must satisfy enum value set: [INDEXES, TOTAL, NONE]; Value '[]' at 'attributesToGet' failed to satisfy constraint: Member must have length greater than or equal to 1; Value 'abc;' at 'tableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; Value null at 'key' failed to satisfy constraint: Member must not be null"
        );
        let long = "a".repeat(256);
        assert_eq!(
            message("DeleteItem", json!({ "TableName": long, "Key": {} })),
            format!("1 validation error detected: Value '{long}' at 'tableName' failed to satisfy constraint: Member must have length less than or equal to 255")
        );
        // The table-management calls name a bad length in words of their own.
        assert_eq!(
            message("DeleteTable", json!({ "TableName": long })),
            "TableName must be at least 3 characters long and at most 255 characters long"
        );
    }

    #[test]
    fn enums_ranges_and_required_members() {
        assert_eq!(
            message(
                "UpdateItem",
                json!({"TableName": "t1;", "ReturnValues": "ALL", "ReturnItemCollectionMetrics": "X", "ConditionalOperator": "XOR"})
            ),
            "5 validation errors detected: Value 't1;' at 'tableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; Value 'X' at 'returnItemCollectionMetrics' failed to satisfy constraint: Member must satisfy enum value set: [SIZE, NONE]; Value 'ALL' at 'returnValues' failed to satisfy constraint: Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]; Value null at 'key' failed to satisfy constraint: Member must not be null; Value 'XOR' at 'conditionalOperator' failed to satisfy constraint: Member must satisfy enum value set: [OR, AND]"
        );
        assert_eq!(
            message(
                "Scan",
                json!({"TableName": "tbl", "Limit": 0, "Segment": -1, "TotalSegments": 1000001, "Select": "SOME"})
            ),
            "4 validation errors detected: Value 'SOME' at 'select' failed to satisfy constraint: Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]; Value '1000001' at 'totalSegments' failed to satisfy constraint: Member must have value less than or equal to 1000000; Value '-1' at 'segment' failed to satisfy constraint: Member must have value greater than or equal to 0; Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"
        );
        assert_eq!(
            message("Query", json!({"TableName": "tbl", "IndexName": "ix", "Limit": -5})),
            "1 validation error detected: Value 'ix' at 'indexName' failed to satisfy constraint: Member must have length greater than or equal to 3"
        );
        assert_eq!(
            message("PutItem", json!({"ReturnValuesOnConditionCheckFailure": "ALL_NEW"})),
            "3 validation errors detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null; Value null at 'item' failed to satisfy constraint: Member must not be null; Value 'ALL_NEW' at 'returnValuesOnConditionCheckFailure' failed to satisfy constraint: Member must satisfy enum value set: [ALL_OLD, NONE]"
        );
        assert_eq!(
            message("TransactWriteItems", json!({"ClientRequestToken": "", "ReturnConsumedCapacity": "ALL"})),
            "3 validation errors detected: Value 'ALL' at 'returnConsumedCapacity' failed to satisfy constraint: Member must satisfy enum value set: [INDEXES, TOTAL, NONE]; Value '' at 'clientRequestToken' failed to satisfy constraint: Member must have length greater than or equal to 1; Value null at 'transactItems' failed to satisfy constraint: Member must not be null"
        );
        assert_eq!(
            message("TransactGetItems", json!({"TransactItems": [], "ReturnConsumedCapacity": "X"})),
            "2 validation errors detected: Value '[]' at 'transactItems' failed to satisfy constraint: Member must have length greater than or equal to 1; Value 'X' at 'returnConsumedCapacity' failed to satisfy constraint: Member must satisfy enum value set: [INDEXES, TOTAL, NONE]"
        );
        assert_eq!(
            message("BatchWriteItem", json!({"RequestItems": {}, "ReturnItemCollectionMetrics": "Y"})),
            "2 validation errors detected: Value 'Y' at 'returnItemCollectionMetrics' failed to satisfy constraint: Member must satisfy enum value set: [SIZE, NONE]; Value '{}' at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1"
        );
        assert_eq!(
            message("CreateTable", json!({"TableName": "abc;"})),
            "3 validation errors detected: Value null at 'attributeDefinitions' failed to satisfy constraint: Member must not be null; Value 'abc;' at 'tableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; Value null at 'keySchema' failed to satisfy constraint: Member must not be null"
        );
    }

    #[test]
    fn table_arns_pass_on_the_data_plane_but_not_to_create_table() {
        let arn = "arn:aws:dynamodb:us-east-1:000000000000:table/tbl";
        assert_eq!(message("GetItem", json!({"TableName": arn, "Key": {}})), "");
        assert_eq!(message("DescribeTable", json!({ "TableName": arn })), "");
        assert!(message(
            "CreateTable",
            json!({"TableName": arn, "AttributeDefinitions": [], "KeySchema": [{}]})
        )
        .contains("regular expression pattern"));
        let long = format!("arn:{}", "x".repeat(1100));
        assert_eq!(
            message("Scan", json!({ "TableName": long })),
            format!("1 validation error detected: Value '{long}' at 'tableName' failed to satisfy constraint: Member must have length less than or equal to 1024")
        );
    }

    #[test]
    fn nested_members_of_table_calls_join_the_list() {
        assert_eq!(
            message("UpdateTable", json!({"TableName": "abc", "ProvisionedThroughput": {}})),
            "2 validation errors detected: Value null at 'provisionedThroughput.writeCapacityUnits' failed to satisfy constraint: Member must not be null; Value null at 'provisionedThroughput.readCapacityUnits' failed to satisfy constraint: Member must not be null"
        );
        // The upper bound is a later check: only the low value is listed.
        assert_eq!(
            message("UpdateTable", json!({"TableName": "abc", "ProvisionedThroughput": {"ReadCapacityUnits": 1000000000001i64, "WriteCapacityUnits": -1}})),
            "1 validation error detected: Value '-1' at 'provisionedThroughput.writeCapacityUnits' failed to satisfy constraint: Member must have value greater than or equal to 1"
        );
        assert_eq!(
            message("UpdateTable", json!({"TableName": "abc", "GlobalSecondaryIndexUpdates": [
                {"Update": {"IndexName": "a", "ProvisionedThroughput": {}}},
                {"Update": {"IndexName": "abc;", "ProvisionedThroughput": {"ReadCapacityUnits": 1000000000001i64, "WriteCapacityUnits": 0}}},
                {"Delete": {}},
            ]})),
            "6 validation errors detected: Value 'a' at 'globalSecondaryIndexUpdates.1.member.update.indexName' failed to satisfy constraint: Member must have length greater than or equal to 3; Value null at 'globalSecondaryIndexUpdates.1.member.update.provisionedThroughput.writeCapacityUnits' failed to satisfy constraint: Member must not be null; Value null at 'globalSecondaryIndexUpdates.1.member.update.provisionedThroughput.readCapacityUnits' failed to satisfy constraint: Member must not be null; Value 'abc;' at 'globalSecondaryIndexUpdates.2.member.update.indexName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; Value '0' at 'globalSecondaryIndexUpdates.2.member.update.provisionedThroughput.writeCapacityUnits' failed to satisfy constraint: Member must have value greater than or equal to 1; Value null at 'globalSecondaryIndexUpdates.3.member.delete.indexName' failed to satisfy constraint: Member must not be null"
        );
        // An element without an action is the operation's own check.
        assert_eq!(
            message(
                "UpdateTable",
                json!({"TableName": "abc", "GlobalSecondaryIndexUpdates": [{}]})
            ),
            ""
        );
        assert_eq!(
            message("CreateTable", json!({"TableName": "abc", "AttributeDefinitions": [{}], "KeySchema": [{"KeyType": "HASH"}, {"AttributeName": "a"}, {"KeyType": "Woop", "AttributeName": "a"}], "ProvisionedThroughput": {"ReadCapacityUnits": -1}})),
            "8 validation errors detected: Value null at 'attributeDefinitions.1.member.attributeName' failed to satisfy constraint: Member must not be null; Value null at 'attributeDefinitions.1.member.attributeType' failed to satisfy constraint: Member must not be null; Value '[KeySchemaElement(attributeName=null, keyType=HASH), KeySchemaElement(attributeName=a, keyType=null), KeySchemaElement(attributeName=a, keyType=Woop)]' at 'keySchema' failed to satisfy constraint: Member must have length less than or equal to 2; Value null at 'keySchema.1.member.attributeName' failed to satisfy constraint: Member must not be null; Value null at 'keySchema.2.member.keyType' failed to satisfy constraint: Member must not be null; Value 'Woop' at 'keySchema.3.member.keyType' failed to satisfy constraint: Member must satisfy enum value set: [HASH, RANGE]; Value null at 'provisionedThroughput.writeCapacityUnits' failed to satisfy constraint: Member must not be null; Value '-1' at 'provisionedThroughput.readCapacityUnits' failed to satisfy constraint: Member must have value greater than or equal to 1"
        );
        let ks = json!([{"AttributeName": "a", "KeyType": "HASH"}]);
        assert_eq!(
            message("CreateTable", json!({"TableName": "abc", "AttributeDefinitions": [], "KeySchema": ks,
                "LocalSecondaryIndexes": [{"IndexName": "h;", "KeySchema": [], "Projection": {"ProjectionType": "abc", "NonKeyAttributes": []}}],
                "GlobalSecondaryIndexes": [{"IndexName": "abc", "KeySchema": ks, "Projection": {}, "ProvisionedThroughput": {"ReadCapacityUnits": 0}}, {}]})),
            "10 validation errors detected: Value 'h;' at 'localSecondaryIndexes.1.member.indexName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; Value 'h;' at 'localSecondaryIndexes.1.member.indexName' failed to satisfy constraint: Member must have length greater than or equal to 3; Value '[]' at 'localSecondaryIndexes.1.member.keySchema' failed to satisfy constraint: Member must have length greater than or equal to 1; Value 'abc' at 'localSecondaryIndexes.1.member.projection.projectionType' failed to satisfy constraint: Member must satisfy enum value set: [ALL, INCLUDE, KEYS_ONLY]; Value '[]' at 'localSecondaryIndexes.1.member.projection.nonKeyAttributes' failed to satisfy constraint: Member must have length greater than or equal to 1; Value null at 'globalSecondaryIndexes.1.member.provisionedThroughput.writeCapacityUnits' failed to satisfy constraint: Member must not be null; Value '0' at 'globalSecondaryIndexes.1.member.provisionedThroughput.readCapacityUnits' failed to satisfy constraint: Member must have value greater than or equal to 1; Value null at 'globalSecondaryIndexes.2.member.indexName' failed to satisfy constraint: Member must not be null; Value null at 'globalSecondaryIndexes.2.member.keySchema' failed to satisfy constraint: Member must not be null; Value null at 'globalSecondaryIndexes.2.member.projection' failed to satisfy constraint: Member must not be null"
        );
    }

    #[test]
    fn request_items_keys_and_values_are_constrained() {
        let keys = "Member must have length less than or equal to 255, Member must have length greater than or equal to 3, Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+";
        assert_eq!(
            message("BatchGetItem", json!({"RequestItems": {"a": {"Keys": [{"a": {"S": "a"}}]}}})),
            format!("1 validation error detected: Value '{{a={{\"Keys\":[{{\"a\":{{\"S\":\"a\"}}}}]}}}}' at 'requestItems' failed to satisfy constraint: Map keys must satisfy constraint: [{keys}]")
        );
        assert_eq!(
            message("BatchGetItem", json!({"RequestItems": {"aa;": {}, "abc": {"Keys": []}}, "ReturnConsumedCapacity": "hi"})),
            format!("4 validation errors detected: Value 'hi' at 'returnConsumedCapacity' failed to satisfy constraint: Member must satisfy enum value set: [INDEXES, TOTAL, NONE]; Value '{{aa;={{}}, abc={{\"Keys\":[]}}}}' at 'requestItems' failed to satisfy constraint: Map keys must satisfy constraint: [{keys}]; Value null at 'requestItems.aa;.member.keys' failed to satisfy constraint: Member must not be null; Value '[]' at 'requestItems.abc.member.keys' failed to satisfy constraint: Member must have length greater than or equal to 1")
        );
        let many: Vec<Value> = (0..101)
            .map(|i| json!({"a": {"S": i.to_string()}}))
            .collect();
        assert_eq!(
            message("BatchGetItem", json!({"RequestItems": {"abc": {"Keys": many}}})),
            "1 validation error detected: Value at 'RequestItems.abc.member.Keys' failed to satisfy constraint: Member must have length less than or equal to 100"
        );
        // A total above 100 over several tables is the operation's own check.
        let hundred: Vec<Value> = (0..100)
            .map(|i| json!({"a": {"S": i.to_string()}}))
            .collect();
        assert_eq!(
            message(
                "BatchGetItem",
                json!({"RequestItems": {"abc": {"Keys": hundred}, "abd": {"Keys": [{"a": {"S": "x"}}]}}})
            ),
            ""
        );
        assert_eq!(
            message("BatchWriteItem", json!({"RequestItems": {"a": []}})),
            format!("2 validation errors detected: Value '{{a=[0 write requests]}}' at 'requestItems' failed to satisfy constraint: Map keys must satisfy constraint: [{keys}]; Value '{{a=[0 write requests]}}' at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]")
        );
        assert_eq!(
            message("BatchWriteItem", json!({"RequestItems": {"abc": [{"PutRequest": {}, "DeleteRequest": {}}, {}]}})),
            "2 validation errors detected: Value null at 'requestItems.abc.member.1.member.deleteRequest.key' failed to satisfy constraint: Member must not be null; Value null at 'requestItems.abc.member.1.member.putRequest.item' failed to satisfy constraint: Member must not be null"
        );
    }

    #[test]
    fn a_mistyped_member_is_a_serialization_error_first() {
        let body = json!({"TableName": 5, "Key": {}});
        let r = Req::new(&body).expect("object");
        let e = check("GetItem", &r).expect_err("type");
        assert_eq!(e.code, crate::api::ErrorCode::SerializationException);
    }
}
