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

use serde_json::Value;

use super::request::Req;
use super::ApiError;
use crate::limits::{
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
        let len = s.chars().count();
        if arn == Arn::Allowed && s.starts_with("arn:") {
            self.length(s, k, len, 1, Some(TABLE_ARN_LEN_MAX));
            return Ok(());
        }
        // The pattern is `[a-zA-Z0-9_.-]+`: the empty name breaks it as well as the length.
        if s.is_empty()
            || !s
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-')
        {
            self.violation(
                Some(s),
                k,
                "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
            );
        }
        self.length(s, k, len, TABLE_NAME_LEN_MIN, Some(TABLE_NAME_LEN_MAX));
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
            Some(a) if out_of_bounds(a.len(), min, max) => {
                let items: Vec<String> = a
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        v => v.to_string(),
                    })
                    .collect();
                let shown = format!("[{}]", items.join(", "));
                self.length(&shown, k, a.len(), min, max);
            }
            Some(_) => {}
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
    match operation {
        "CreateTable" => control_plane_table_name(r, Arn::NotAllowed)?,
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
            s.int("Limit", 1, None)?;
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
        }
        "BatchWriteItem" => {
            s.enumerated("ReturnConsumedCapacity", RETURN_CONSUMED_CAPACITY)?;
            s.enumerated(
                "ReturnItemCollectionMetrics",
                RETURN_ITEM_COLLECTION_METRICS,
            )?;
            s.map("RequestItems", true, 1, Some(25))?;
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
        "CreateTable" => {
            s.list("AttributeDefinitions", true, 0, None)?;
            s.table_name(Arn::NotAllowed)?;
            s.enumerated("BillingMode", BILLING_MODE)?;
            s.list("KeySchema", true, 1, Some(2))?;
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
        }
        _ => {}
    }
    s.finish()
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
            "2 validation errors detected: Value 'ix' at 'indexName' failed to satisfy constraint: Member must have length greater than or equal to 3; Value '-5' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"
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
    fn a_mistyped_member_is_a_serialization_error_first() {
        let body = json!({"TableName": 5, "Key": {}});
        let r = Req::new(&body).expect("object");
        let e = check("GetItem", &r).expect_err("type");
        assert_eq!(e.code, crate::api::ErrorCode::SerializationException);
    }
}
