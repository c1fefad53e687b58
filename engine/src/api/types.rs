//! DynamoDB's deserialization pass: the whole request body is read against the operation's
//! input shape (as in the API model, botocore's `dynamodb` and `dynamodbstreams`
//! `service-2.json`) before anything is validated, so a JSON value of the wrong type anywhere
//! in the request is a SerializationException, even when a required member is missing or the
//! table does not exist.
//!
//! The shapes are declarative: one [`Ty`] tree per operation (`input`), walked by one function
//! in the body's own member order (serde_json keeps it), depth first, stopping at the first
//! mismatch. Unknown members, unknown operations and JSON `null` (absent) pass; deeper than
//! [`DEPTH_MAX`] levels nothing is looked at (the nesting limit is reported elsewhere).
//!
//! Messages are the ones hashlog's readers give lazily (`request.rs`, `model/json.rs`), all
//! rendered by [`mismatch`] and [`out_of_range`].

use serde_json::{Number, Value};

use super::ApiError;

/// JSON nesting (objects and arrays, the body being level 0) this pass descends into.
const DEPTH_MAX: usize = 64;

/// A member's type in the API model, as the deserializer reads it.
#[derive(Clone, Copy, Debug)]
enum Ty {
    /// A JSON string.
    Str,
    /// A JSON string holding base64 (AttributeValue `B`, `BS` elements).
    Blob,
    /// A JSON boolean, or a string [`crate::model::json_bool`] reads as one.
    Bool,
    /// A JSON number that is an integer (`Limit`, `Segment`, ...).
    Int,
    /// The model's `long` (capacity units); checked as [`Ty::Int`] is.
    Long,
    /// Any JSON number (epoch seconds).
    Timestamp,
    List(&'static Ty),
    /// A JSON object with string keys and values of one type.
    Map(&'static Ty),
    /// A JSON object with these members (others are skipped).
    Struct(&'static [(&'static str, Ty)]),
    /// The AttributeValue structure ([`ATTRIBUTE_VALUE`]); named on its own in messages.
    AttributeValue,
}

// ---- Shapes -------------------------------------------------------------------------------

const S: Ty = Ty::Str;
const BOOL: Ty = Ty::Bool;
const INT: Ty = Ty::Int;
const LONG: Ty = Ty::Long;
const AV: Ty = Ty::AttributeValue;
const STRINGS: Ty = Ty::List(&S);
/// A map of attribute values: Item, Key, ExclusiveStartKey, ExpressionAttributeValues.
const ITEM: Ty = Ty::Map(&AV);
/// ExpressionAttributeNames.
const NAMES: Ty = Ty::Map(&S);
const AV_LIST: Ty = Ty::List(&AV);

const ATTRIBUTE_VALUE: [(&str, Ty); 10] = [
    ("S", S),
    ("N", S),
    ("B", Ty::Blob),
    ("SS", STRINGS),
    ("NS", STRINGS),
    ("BS", Ty::List(&Ty::Blob)),
    ("M", Ty::Map(&AV)),
    ("L", AV_LIST),
    ("NULL", BOOL),
    ("BOOL", BOOL),
];

const KEY_SCHEMA: Ty = Ty::List(&Ty::Struct(&[("AttributeName", S), ("KeyType", S)]));
const ATTRIBUTE_DEFINITIONS: Ty =
    Ty::List(&Ty::Struct(&[("AttributeName", S), ("AttributeType", S)]));
const PROJECTION: Ty = Ty::Struct(&[("ProjectionType", S), ("NonKeyAttributes", STRINGS)]);
const PROVISIONED_THROUGHPUT: Ty =
    Ty::Struct(&[("ReadCapacityUnits", LONG), ("WriteCapacityUnits", LONG)]);
const ON_DEMAND_THROUGHPUT: Ty = Ty::Struct(&[
    ("MaxReadRequestUnits", LONG),
    ("MaxWriteRequestUnits", LONG),
]);
const WARM_THROUGHPUT: Ty =
    Ty::Struct(&[("ReadUnitsPerSecond", LONG), ("WriteUnitsPerSecond", LONG)]);
const LOCAL_SECONDARY_INDEX: Ty = Ty::Struct(&[
    ("IndexName", S),
    ("KeySchema", KEY_SCHEMA),
    ("Projection", PROJECTION),
]);
/// A GlobalSecondaryIndex, and the Create action of GlobalSecondaryIndexUpdates.
const GLOBAL_SECONDARY_INDEX: Ty = Ty::Struct(&[
    ("IndexName", S),
    ("KeySchema", KEY_SCHEMA),
    ("Projection", PROJECTION),
    ("ProvisionedThroughput", PROVISIONED_THROUGHPUT),
    ("OnDemandThroughput", ON_DEMAND_THROUGHPUT),
    ("WarmThroughput", WARM_THROUGHPUT),
]);
const GLOBAL_SECONDARY_INDEX_UPDATE: Ty = Ty::Struct(&[
    (
        "Update",
        Ty::Struct(&[
            ("IndexName", S),
            ("ProvisionedThroughput", PROVISIONED_THROUGHPUT),
            ("OnDemandThroughput", ON_DEMAND_THROUGHPUT),
            ("WarmThroughput", WARM_THROUGHPUT),
        ]),
    ),
    ("Create", GLOBAL_SECONDARY_INDEX),
    ("Delete", Ty::Struct(&[("IndexName", S)])),
]);
const STREAM_SPECIFICATION: Ty = Ty::Struct(&[("StreamEnabled", BOOL), ("StreamViewType", S)]);
const SSE_SPECIFICATION: Ty =
    Ty::Struct(&[("Enabled", BOOL), ("SSEType", S), ("KMSMasterKeyId", S)]);
const TAGS: Ty = Ty::List(&Ty::Struct(&[("Key", S), ("Value", S)]));
const REGION_ONLY: Ty = Ty::Struct(&[("RegionName", S)]);
const PROVISIONED_THROUGHPUT_OVERRIDE: Ty = Ty::Struct(&[("ReadCapacityUnits", LONG)]);
const ON_DEMAND_THROUGHPUT_OVERRIDE: Ty = Ty::Struct(&[("MaxReadRequestUnits", LONG)]);
/// The Create and Update actions of ReplicaUpdates.
const REPLICA_MEMBER_ACTION: Ty = Ty::Struct(&[
    ("RegionName", S),
    ("KMSMasterKeyId", S),
    (
        "ProvisionedThroughputOverride",
        PROVISIONED_THROUGHPUT_OVERRIDE,
    ),
    ("OnDemandThroughputOverride", ON_DEMAND_THROUGHPUT_OVERRIDE),
    (
        "GlobalSecondaryIndexes",
        Ty::List(&Ty::Struct(&[
            ("IndexName", S),
            (
                "ProvisionedThroughputOverride",
                PROVISIONED_THROUGHPUT_OVERRIDE,
            ),
            ("OnDemandThroughputOverride", ON_DEMAND_THROUGHPUT_OVERRIDE),
        ])),
    ),
    ("TableClassOverride", S),
]);
const REPLICA_UPDATES: Ty = Ty::List(&Ty::Struct(&[
    ("Create", REPLICA_MEMBER_ACTION),
    ("Update", REPLICA_MEMBER_ACTION),
    ("Delete", REGION_ONLY),
]));
const WITNESS_UPDATES: Ty = Ty::List(&Ty::Struct(&[
    ("Create", REGION_ONLY),
    ("Delete", REGION_ONLY),
]));

/// Expected (legacy conditional writes).
const EXPECTED: Ty = Ty::Map(&Ty::Struct(&[
    ("Value", AV),
    ("Exists", BOOL),
    ("ComparisonOperator", S),
    ("AttributeValueList", AV_LIST),
]));
/// KeyConditions, QueryFilter, ScanFilter.
const CONDITIONS: Ty = Ty::Map(&Ty::Struct(&[
    ("AttributeValueList", AV_LIST),
    ("ComparisonOperator", S),
]));
const ATTRIBUTE_UPDATES: Ty = Ty::Map(&Ty::Struct(&[("Value", AV), ("Action", S)]));

const CREATE_TABLE: &[(&str, Ty)] = &[
    ("AttributeDefinitions", ATTRIBUTE_DEFINITIONS),
    ("TableName", S),
    ("KeySchema", KEY_SCHEMA),
    ("LocalSecondaryIndexes", Ty::List(&LOCAL_SECONDARY_INDEX)),
    ("GlobalSecondaryIndexes", Ty::List(&GLOBAL_SECONDARY_INDEX)),
    ("BillingMode", S),
    ("ProvisionedThroughput", PROVISIONED_THROUGHPUT),
    ("StreamSpecification", STREAM_SPECIFICATION),
    ("SSESpecification", SSE_SPECIFICATION),
    ("Tags", TAGS),
    ("TableClass", S),
    ("DeletionProtectionEnabled", BOOL),
    ("WarmThroughput", WARM_THROUGHPUT),
    ("ResourcePolicy", S),
    ("OnDemandThroughput", ON_DEMAND_THROUGHPUT),
    ("GlobalTableSourceArn", S),
    ("GlobalTableSettingsReplicationMode", S),
];
/// DeleteTable, DescribeTable, DescribeTimeToLive.
const TABLE_NAME_ONLY: &[(&str, Ty)] = &[("TableName", S)];
const LIST_TABLES: &[(&str, Ty)] = &[("ExclusiveStartTableName", S), ("Limit", INT)];
const UPDATE_TABLE: &[(&str, Ty)] = &[
    ("AttributeDefinitions", ATTRIBUTE_DEFINITIONS),
    ("TableName", S),
    ("BillingMode", S),
    ("ProvisionedThroughput", PROVISIONED_THROUGHPUT),
    (
        "GlobalSecondaryIndexUpdates",
        Ty::List(&GLOBAL_SECONDARY_INDEX_UPDATE),
    ),
    ("StreamSpecification", STREAM_SPECIFICATION),
    ("SSESpecification", SSE_SPECIFICATION),
    ("ReplicaUpdates", REPLICA_UPDATES),
    ("TableClass", S),
    ("DeletionProtectionEnabled", BOOL),
    ("MultiRegionConsistency", S),
    ("GlobalTableWitnessUpdates", WITNESS_UPDATES),
    ("OnDemandThroughput", ON_DEMAND_THROUGHPUT),
    ("WarmThroughput", WARM_THROUGHPUT),
    ("GlobalTableSettingsReplicationMode", S),
];
const PUT_ITEM: &[(&str, Ty)] = &[
    ("TableName", S),
    ("Item", ITEM),
    ("Expected", EXPECTED),
    ("ReturnValues", S),
    ("ReturnConsumedCapacity", S),
    ("ReturnItemCollectionMetrics", S),
    ("ConditionalOperator", S),
    ("ConditionExpression", S),
    ("ExpressionAttributeNames", NAMES),
    ("ExpressionAttributeValues", ITEM),
    ("ReturnValuesOnConditionCheckFailure", S),
];
const GET_ITEM: &[(&str, Ty)] = &[
    ("TableName", S),
    ("Key", ITEM),
    ("AttributesToGet", STRINGS),
    ("ConsistentRead", BOOL),
    ("ReturnConsumedCapacity", S),
    ("ProjectionExpression", S),
    ("ExpressionAttributeNames", NAMES),
];
const UPDATE_ITEM: &[(&str, Ty)] = &[
    ("TableName", S),
    ("Key", ITEM),
    ("AttributeUpdates", ATTRIBUTE_UPDATES),
    ("Expected", EXPECTED),
    ("ConditionalOperator", S),
    ("ReturnValues", S),
    ("ReturnConsumedCapacity", S),
    ("ReturnItemCollectionMetrics", S),
    ("UpdateExpression", S),
    ("ConditionExpression", S),
    ("ExpressionAttributeNames", NAMES),
    ("ExpressionAttributeValues", ITEM),
    ("ReturnValuesOnConditionCheckFailure", S),
];
const DELETE_ITEM: &[(&str, Ty)] = &[
    ("TableName", S),
    ("Key", ITEM),
    ("Expected", EXPECTED),
    ("ConditionalOperator", S),
    ("ReturnValues", S),
    ("ReturnConsumedCapacity", S),
    ("ReturnItemCollectionMetrics", S),
    ("ConditionExpression", S),
    ("ExpressionAttributeNames", NAMES),
    ("ExpressionAttributeValues", ITEM),
    ("ReturnValuesOnConditionCheckFailure", S),
];
const QUERY: &[(&str, Ty)] = &[
    ("TableName", S),
    ("IndexName", S),
    ("Select", S),
    ("AttributesToGet", STRINGS),
    ("Limit", INT),
    ("ConsistentRead", BOOL),
    ("KeyConditions", CONDITIONS),
    ("QueryFilter", CONDITIONS),
    ("ConditionalOperator", S),
    ("ScanIndexForward", BOOL),
    ("ExclusiveStartKey", ITEM),
    ("ReturnConsumedCapacity", S),
    ("ProjectionExpression", S),
    ("FilterExpression", S),
    ("KeyConditionExpression", S),
    ("ExpressionAttributeNames", NAMES),
    ("ExpressionAttributeValues", ITEM),
];
const SCAN: &[(&str, Ty)] = &[
    ("TableName", S),
    ("IndexName", S),
    ("AttributesToGet", STRINGS),
    ("Limit", INT),
    ("Select", S),
    ("ScanFilter", CONDITIONS),
    ("ConditionalOperator", S),
    ("ExclusiveStartKey", ITEM),
    ("ReturnConsumedCapacity", S),
    ("TotalSegments", INT),
    ("Segment", INT),
    ("ProjectionExpression", S),
    ("FilterExpression", S),
    ("ExpressionAttributeNames", NAMES),
    ("ExpressionAttributeValues", ITEM),
    ("ConsistentRead", BOOL),
];
const BATCH_GET_ITEM: &[(&str, Ty)] = &[
    (
        "RequestItems",
        Ty::Map(&Ty::Struct(&[
            ("Keys", Ty::List(&ITEM)),
            ("AttributesToGet", STRINGS),
            ("ConsistentRead", BOOL),
            ("ProjectionExpression", S),
            ("ExpressionAttributeNames", NAMES),
        ])),
    ),
    ("ReturnConsumedCapacity", S),
];
const BATCH_WRITE_ITEM: &[(&str, Ty)] = &[
    (
        "RequestItems",
        Ty::Map(&Ty::List(&Ty::Struct(&[
            ("PutRequest", Ty::Struct(&[("Item", ITEM)])),
            ("DeleteRequest", Ty::Struct(&[("Key", ITEM)])),
        ]))),
    ),
    ("ReturnConsumedCapacity", S),
    ("ReturnItemCollectionMetrics", S),
];
const TRANSACT_WRITE_ITEMS: &[(&str, Ty)] = &[
    (
        "TransactItems",
        Ty::List(&Ty::Struct(&[
            (
                "ConditionCheck",
                Ty::Struct(&[
                    ("Key", ITEM),
                    ("TableName", S),
                    ("ConditionExpression", S),
                    ("ExpressionAttributeNames", NAMES),
                    ("ExpressionAttributeValues", ITEM),
                    ("ReturnValuesOnConditionCheckFailure", S),
                ]),
            ),
            (
                "Put",
                Ty::Struct(&[
                    ("Item", ITEM),
                    ("TableName", S),
                    ("ConditionExpression", S),
                    ("ExpressionAttributeNames", NAMES),
                    ("ExpressionAttributeValues", ITEM),
                    ("ReturnValuesOnConditionCheckFailure", S),
                ]),
            ),
            (
                "Delete",
                Ty::Struct(&[
                    ("Key", ITEM),
                    ("TableName", S),
                    ("ConditionExpression", S),
                    ("ExpressionAttributeNames", NAMES),
                    ("ExpressionAttributeValues", ITEM),
                    ("ReturnValuesOnConditionCheckFailure", S),
                ]),
            ),
            (
                "Update",
                Ty::Struct(&[
                    ("Key", ITEM),
                    ("UpdateExpression", S),
                    ("TableName", S),
                    ("ConditionExpression", S),
                    ("ExpressionAttributeNames", NAMES),
                    ("ExpressionAttributeValues", ITEM),
                    ("ReturnValuesOnConditionCheckFailure", S),
                ]),
            ),
        ])),
    ),
    ("ReturnConsumedCapacity", S),
    ("ReturnItemCollectionMetrics", S),
    ("ClientRequestToken", S),
];
const TRANSACT_GET_ITEMS: &[(&str, Ty)] = &[
    (
        "TransactItems",
        Ty::List(&Ty::Struct(&[(
            "Get",
            Ty::Struct(&[
                ("Key", ITEM),
                ("TableName", S),
                ("ProjectionExpression", S),
                ("ExpressionAttributeNames", NAMES),
            ]),
        )])),
    ),
    ("ReturnConsumedCapacity", S),
];
const TAG_RESOURCE: &[(&str, Ty)] = &[("ResourceArn", S), ("Tags", TAGS)];
const UNTAG_RESOURCE: &[(&str, Ty)] = &[("ResourceArn", S), ("TagKeys", STRINGS)];
const LIST_TAGS_OF_RESOURCE: &[(&str, Ty)] = &[("ResourceArn", S), ("NextToken", S)];
const UPDATE_TIME_TO_LIVE: &[(&str, Ty)] = &[
    ("TableName", S),
    (
        "TimeToLiveSpecification",
        Ty::Struct(&[("Enabled", BOOL), ("AttributeName", S)]),
    ),
];
const DESCRIBE_LIMITS: &[(&str, Ty)] = &[];
const LIST_STREAMS: &[(&str, Ty)] = &[
    ("TableName", S),
    ("Limit", INT),
    ("ExclusiveStartStreamArn", S),
];
const DESCRIBE_STREAM: &[(&str, Ty)] = &[
    ("StreamArn", S),
    ("Limit", INT),
    ("ExclusiveStartShardId", S),
    ("ShardFilter", Ty::Struct(&[("Type", S), ("ShardId", S)])),
];
const GET_SHARD_ITERATOR: &[(&str, Ty)] = &[
    ("StreamArn", S),
    ("ShardId", S),
    ("ShardIteratorType", S),
    ("SequenceNumber", S),
    // Not in the public Streams model: hashlog's AT_TIMESTAMP iterators (as Kinesis has them).
    ("Timestamp", Ty::Timestamp),
];
const GET_RECORDS: &[(&str, Ty)] = &[("ShardIterator", S), ("Limit", INT)];

/// The input shape's members of `operation`, if it is one hashlog answers.
fn input(operation: &str) -> Option<&'static [(&'static str, Ty)]> {
    Some(match operation {
        "CreateTable" => CREATE_TABLE,
        "DeleteTable" | "DescribeTable" | "DescribeTimeToLive" => TABLE_NAME_ONLY,
        "ListTables" => LIST_TABLES,
        "UpdateTable" => UPDATE_TABLE,
        "PutItem" => PUT_ITEM,
        "GetItem" => GET_ITEM,
        "UpdateItem" => UPDATE_ITEM,
        "DeleteItem" => DELETE_ITEM,
        "Query" => QUERY,
        "Scan" => SCAN,
        "BatchGetItem" => BATCH_GET_ITEM,
        "BatchWriteItem" => BATCH_WRITE_ITEM,
        "TransactWriteItems" => TRANSACT_WRITE_ITEMS,
        "TransactGetItems" => TRANSACT_GET_ITEMS,
        "TagResource" => TAG_RESOURCE,
        "UntagResource" => UNTAG_RESOURCE,
        "ListTagsOfResource" => LIST_TAGS_OF_RESOURCE,
        "UpdateTimeToLive" => UPDATE_TIME_TO_LIVE,
        "DescribeLimits" => DESCRIBE_LIMITS,
        "Streams.ListStreams" => LIST_STREAMS,
        "Streams.DescribeStream" => DESCRIBE_STREAM,
        "Streams.GetShardIterator" => GET_SHARD_ITERATOR,
        "Streams.GetRecords" => GET_RECORDS,
        _ => return None,
    })
}

// ---- Messages -----------------------------------------------------------------------------

/// Where a value sits: hashlog's two readers name a JSON boolean differently.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reader {
    /// `api/request.rs`: `VALUE_BOOLEAN`.
    Request,
    /// Inside an AttributeValue, `model/json.rs`: `VALUE_TRUE` / `VALUE_FALSE` (Jackson's).
    AttributeValue,
}

/// The parser's name for the JSON token `v` starts with, as hashlog's reader of that place
/// names it.
fn token(v: &Value, reader: Reader) -> &'static str {
    crate::model::token_name(v, reader == Reader::Request)
}

/// `v` where a `ty` was due: `NUMBER_VALUE cannot be converted to String`.
fn mismatch(v: &Value, ty: Ty, reader: Reader) -> ApiError {
    let name = match ty {
        Ty::Str => "String",
        Ty::Blob => "Blob",
        Ty::Bool => "Boolean",
        // `request.rs` reads every integer member, the model's longs too, as an Integer.
        Ty::Int | Ty::Long => "Integer",
        Ty::Timestamp => "Timestamp",
        Ty::List(_) => "List",
        // `request.rs` reads structure members as it reads maps.
        Ty::Map(_) | Ty::Struct(_) => "Map",
        Ty::AttributeValue => "AttributeValue",
    };
    ApiError::serialization(format!(
        "{} cannot be converted to {name}",
        token(v, reader)
    ))
}

/// A number an integer member cannot hold (a fraction, or past 64 bits), as `request.rs` says.
fn out_of_range(n: &Number, member: &str) -> ApiError {
    ApiError::serialization(format!("Value {n} for {member} is out of range"))
}

// ---- The walk -----------------------------------------------------------------------------

/// The first JSON type error in `body` against `operation`'s input shape, as DynamoDB's
/// deserializer reports it. A body that is not an object, and an operation hashlog does not
/// answer, pass (the caller reports them).
pub(crate) fn check(operation: &str, body: &serde_json::Value) -> Result<(), ApiError> {
    match input(operation) {
        Some(members) if body.is_object() => {
            value(body, Ty::Struct(members), "", Reader::Request, 0)
        }
        _ => Ok(()),
    }
}

/// Checks `v` (the value of `member`, or an element under it) against `ty`.
fn value(v: &Value, ty: Ty, member: &str, reader: Reader, depth: usize) -> Result<(), ApiError> {
    if v.is_null() || depth > DEPTH_MAX {
        return Ok(());
    }
    let ok = match (ty, v) {
        (Ty::Str | Ty::Blob, Value::String(_)) => true,
        (Ty::Bool, Value::Bool(_)) => true,
        (Ty::Bool, Value::String(_)) => crate::model::json_bool(v).is_some(),
        (Ty::Int | Ty::Long, Value::Number(n)) => {
            if n.as_i64().is_none() {
                return Err(out_of_range(n, member));
            }
            true
        }
        (Ty::Timestamp, Value::Number(_)) => true,
        (Ty::List(element), Value::Array(a)) => {
            for e in a {
                value(e, *element, member, reader, depth + 1)?;
            }
            true
        }
        (Ty::Map(entry), Value::Object(m)) => {
            for e in m.values() {
                value(e, *entry, member, reader, depth + 1)?;
            }
            true
        }
        (Ty::Struct(members), Value::Object(_)) => {
            structure(v, members, reader, depth)?;
            true
        }
        (Ty::AttributeValue, Value::Object(_)) => {
            structure(v, &ATTRIBUTE_VALUE, Reader::AttributeValue, depth)?;
            true
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        let reader = if matches!(ty, Ty::AttributeValue) {
            Reader::AttributeValue
        } else {
            reader
        };
        Err(mismatch(v, ty, reader))
    }
}

/// The members of the object `v` that `members` names, in the order `v` has them.
fn structure(
    v: &Value,
    members: &[(&str, Ty)],
    reader: Reader,
    depth: usize,
) -> Result<(), ApiError> {
    let Value::Object(obj) = v else {
        return Ok(());
    };
    for (k, e) in obj {
        if let Some((name, ty)) = members.iter().find(|(name, _)| name == k) {
            value(e, *ty, name, reader, depth + 1)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ErrorCode, SUPPORTED_OPERATIONS};
    use proptest::prelude::*;
    use serde_json::json;

    fn message(op: &str, body: Value) -> String {
        match check(op, &body) {
            Ok(()) => panic!("{op} {body}: no type error found"),
            Err(e) => {
                assert_eq!(e.code, ErrorCode::SerializationException, "{op} {body}");
                e.message
            }
        }
    }

    fn passes(op: &str, body: Value) {
        if let Err(e) = check(op, &body) {
            panic!("{op} {body}: {e}");
        }
    }

    #[test]
    fn every_supported_operation_has_an_input_shape() {
        for op in SUPPORTED_OPERATIONS {
            assert!(input(op).is_some(), "{op}");
        }
        assert!(input("CreateBackup").is_none());
        passes("CreateBackup", json!({"TableName": 1}));
        passes("NoSuchOperation", json!({"TableName": 1}));
    }

    #[test]
    fn a_body_that_is_not_an_object_is_left_to_the_caller() {
        for body in [json!(null), json!(1), json!("x"), json!([1]), json!(true)] {
            passes("PutItem", body);
        }
    }

    /// One nested type error per operation, caught with no TableName (or other required
    /// member) present.
    #[test]
    fn nested_type_errors_of_every_operation() {
        let cases: &[(&str, Value, &str)] = &[
            (
                "CreateTable",
                json!({"KeySchema": [{"AttributeName": "pk", "KeyType": 5}]}),
                "NUMBER_VALUE cannot be converted to String",
            ),
            (
                "CreateTable",
                json!({"ProvisionedThroughput": {"ReadCapacityUnits": "5"}}),
                "VALUE_STRING cannot be converted to Integer",
            ),
            (
                "CreateTable",
                json!({"GlobalSecondaryIndexes": [{"IndexName": "g",
                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": [true]}}]}),
                "VALUE_BOOLEAN cannot be converted to String",
            ),
            (
                "CreateTable",
                json!({"StreamSpecification": {"StreamEnabled": "maybe"}}),
                "VALUE_STRING cannot be converted to Boolean",
            ),
            (
                "CreateTable",
                json!({"Tags": [{"Key": "k", "Value": {}}]}),
                "START_OBJECT cannot be converted to String",
            ),
            (
                "CreateTable",
                json!({"LocalSecondaryIndexes": [{"Projection": []}]}),
                "START_ARRAY cannot be converted to Map",
            ),
            (
                "DeleteTable",
                json!({"TableName": ["t"]}),
                "START_ARRAY cannot be converted to String",
            ),
            (
                "DescribeTable",
                json!({"TableName": false}),
                "VALUE_BOOLEAN cannot be converted to String",
            ),
            (
                "ListTables",
                json!({"Limit": "5"}),
                "VALUE_STRING cannot be converted to Integer",
            ),
            (
                "ListTables",
                json!({"Limit": 1.5}),
                "Value 1.5 for Limit is out of range",
            ),
            (
                "UpdateTable",
                json!({"GlobalSecondaryIndexUpdates": [{"Update": {"IndexName": "i",
                    "ProvisionedThroughput": {"ReadCapacityUnits": true}}}]}),
                "VALUE_BOOLEAN cannot be converted to Integer",
            ),
            (
                "UpdateTable",
                json!({"ReplicaUpdates": [{"Create": {"RegionName": "r",
                    "ProvisionedThroughputOverride": {"ReadCapacityUnits": 18446744073709551615u64}}}]}),
                "Value 18446744073709551615 for ReadCapacityUnits is out of range",
            ),
            (
                "PutItem",
                json!({"Item": {"x": {"S": 23}}}),
                "NUMBER_VALUE cannot be converted to String",
            ),
            (
                "PutItem",
                json!({"Expected": {"x": {"Exists": 23}}}),
                "NUMBER_VALUE cannot be converted to Boolean",
            ),
            (
                "PutItem",
                json!({"Expected": {"x": {"AttributeValueList": [{"N": "1"}, "2"]}}}),
                "VALUE_STRING cannot be converted to AttributeValue",
            ),
            (
                "GetItem",
                json!({"ConsistentRead": "23"}),
                "VALUE_STRING cannot be converted to Boolean",
            ),
            (
                "GetItem",
                json!({"Key": {"pk": {"S": "a"}}, "AttributesToGet": ["a", 1]}),
                "NUMBER_VALUE cannot be converted to String",
            ),
            (
                "UpdateItem",
                json!({"AttributeUpdates": {"a": {"Action": {}, "Value": {"S": "x"}}}}),
                "START_OBJECT cannot be converted to String",
            ),
            (
                "UpdateItem",
                json!({"AttributeUpdates": {"a": {"Value": {"BOOL": "maybe"}}}}),
                "VALUE_STRING cannot be converted to Boolean",
            ),
            (
                "UpdateItem",
                json!({"AttributeUpdates": {"a": 5}}),
                "NUMBER_VALUE cannot be converted to Map",
            ),
            (
                "DeleteItem",
                json!({"Key": {"pk": {"B": 1}}}),
                "NUMBER_VALUE cannot be converted to Blob",
            ),
            (
                "DeleteItem",
                json!({"ExpressionAttributeValues": {":v": {"S": true}}}),
                "VALUE_TRUE cannot be converted to String",
            ),
            (
                "Query",
                json!({"KeyConditions": {"pk": {"ComparisonOperator": "EQ",
                    "AttributeValueList": {"S": "a"}}}}),
                "START_OBJECT cannot be converted to List",
            ),
            (
                "Query",
                json!({"ExclusiveStartKey": {"pk": {"NS": ["1", false]}}}),
                "VALUE_FALSE cannot be converted to String",
            ),
            (
                "Scan",
                json!({"ScanFilter": {"a": {"AttributeValueList": [{"SS": [1]}]}}}),
                "NUMBER_VALUE cannot be converted to String",
            ),
            (
                "Scan",
                json!({"Segment": "1"}),
                "VALUE_STRING cannot be converted to Integer",
            ),
            (
                "BatchGetItem",
                json!({"RequestItems": {"t": {"Keys": [{"pk": {"S": "a"}}], "AttributesToGet": 23}}}),
                "NUMBER_VALUE cannot be converted to List",
            ),
            (
                "BatchGetItem",
                json!({"RequestItems": {"t": {"Keys": [{"pk": "a"}]}}}),
                "VALUE_STRING cannot be converted to AttributeValue",
            ),
            (
                "BatchWriteItem",
                json!({"RequestItems": {"t": [{"PutRequest": {"Item": {"a": {"NS": ["1", 2]}}}}]}}),
                "NUMBER_VALUE cannot be converted to String",
            ),
            (
                "BatchWriteItem",
                json!({"RequestItems": {"t": {"PutRequest": {}}}}),
                "START_OBJECT cannot be converted to List",
            ),
            (
                "TransactWriteItems",
                json!({"TransactItems": [{"Update": {"Key": {"pk": {"S": "a"}},
                    "ExpressionAttributeNames": {"#a": 1}}}]}),
                "NUMBER_VALUE cannot be converted to String",
            ),
            (
                "TransactGetItems",
                json!({"TransactItems": [{"Get": "x"}]}),
                "VALUE_STRING cannot be converted to Map",
            ),
            (
                "TagResource",
                json!({"Tags": [{"Key": "k", "Value": 1}]}),
                "NUMBER_VALUE cannot be converted to String",
            ),
            (
                "UntagResource",
                json!({"TagKeys": [true]}),
                "VALUE_BOOLEAN cannot be converted to String",
            ),
            (
                "ListTagsOfResource",
                json!({"NextToken": 1}),
                "NUMBER_VALUE cannot be converted to String",
            ),
            (
                "UpdateTimeToLive",
                json!({"TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": "maybe"}}),
                "VALUE_STRING cannot be converted to Boolean",
            ),
            (
                "DescribeTimeToLive",
                json!({"TableName": 1}),
                "NUMBER_VALUE cannot be converted to String",
            ),
            (
                "Streams.ListStreams",
                json!({"Limit": "1"}),
                "VALUE_STRING cannot be converted to Integer",
            ),
            (
                "Streams.DescribeStream",
                json!({"ShardFilter": {"Type": ["CHILD_SHARDS"]}}),
                "START_ARRAY cannot be converted to String",
            ),
            (
                "Streams.GetShardIterator",
                json!({"Timestamp": "2024-01-01"}),
                "VALUE_STRING cannot be converted to Timestamp",
            ),
            (
                "Streams.GetShardIterator",
                json!({"SequenceNumber": 1}),
                "NUMBER_VALUE cannot be converted to String",
            ),
            (
                "Streams.GetRecords",
                json!({"ShardIterator": {}}),
                "START_OBJECT cannot be converted to String",
            ),
            (
                "Streams.GetRecords",
                json!({"ShardIterator": "it", "Limit": 1e3}),
                "Value 1000.0 for Limit is out of range",
            ),
        ];
        for (op, body, want) in cases {
            assert_eq!(message(op, body.clone()), *want, "{op} {body}");
        }
        let covered: std::collections::HashSet<&str> = cases.iter().map(|(op, ..)| *op).collect();
        for op in SUPPORTED_OPERATIONS {
            assert!(
                covered.contains(op) || *op == "DescribeLimits",
                "{op} has no case"
            );
        }
        // DescribeLimits has no members: nothing in its body is read.
        passes("DescribeLimits", json!({"TableName": 1, "Limit": "x"}));
    }

    #[test]
    fn valid_requests_pass() {
        let cases: &[(&str, Value)] = &[
            (
                "CreateTable",
                json!({"TableName": "demo",
                    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                        {"AttributeName": "sk", "AttributeType": "N"},
                        {"AttributeName": "g", "AttributeType": "S"}],
                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                        {"AttributeName": "sk", "KeyType": "RANGE"}],
                    "BillingMode": "PROVISIONED",
                    "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
                    "GlobalSecondaryIndexes": [{"IndexName": "byG",
                        "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                        "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["a"]},
                        "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}],
                    "LocalSecondaryIndexes": [{"IndexName": "bySk",
                        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                            {"AttributeName": "sk", "KeyType": "RANGE"}],
                        "Projection": {"ProjectionType": "ALL"}}],
                    "StreamSpecification": {"StreamEnabled": true, "StreamViewType": "NEW_IMAGE"},
                    "SSESpecification": {"Enabled": false},
                    "Tags": [{"Key": "hashlog:partitioning", "Value": "hash-split"}],
                    "TableClass": "STANDARD", "DeletionProtectionEnabled": false,
                    "OnDemandThroughput": {"MaxReadRequestUnits": -1, "MaxWriteRequestUnits": 10}}),
            ),
            ("DeleteTable", json!({"TableName": "demo"})),
            (
                "DescribeTable",
                json!({"TableName": "arn:aws:dynamodb:us-east-1:000000000000:table/demo"}),
            ),
            (
                "ListTables",
                json!({"ExclusiveStartTableName": "a", "Limit": 10}),
            ),
            (
                "UpdateTable",
                json!({"TableName": "demo", "BillingMode": "PAY_PER_REQUEST",
                    "AttributeDefinitions": [{"AttributeName": "h", "AttributeType": "B"}],
                    "GlobalSecondaryIndexUpdates": [
                        {"Create": {"IndexName": "byH",
                            "KeySchema": [{"AttributeName": "h", "KeyType": "HASH"}],
                            "Projection": {"ProjectionType": "KEYS_ONLY"}}},
                        {"Delete": {"IndexName": "old"}}],
                    "StreamSpecification": {"StreamEnabled": false},
                    "DeletionProtectionEnabled": true}),
            ),
            (
                "PutItem",
                json!({"TableName": "demo", "Item": {"pk": {"S": "a"}, "sk": {"N": "1"},
                    "b": {"B": "AAE="}, "t": {"BOOL": true}, "z": {"NULL": true},
                    "ss": {"SS": ["x"]}, "ns": {"NS": ["1", "2.5"]}, "bs": {"BS": ["AA=="]},
                    "l": {"L": [{"S": "x"}, {"M": {"k": {"L": []}}}]}, "m": {"M": {}}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                    "ReturnValues": "ALL_OLD", "ReturnConsumedCapacity": "TOTAL"}),
            ),
            (
                "PutItem",
                json!({"TableName": "cond", "Key": {"pk": {"S": "a"}},
                    "Expected": {"v": {"Value": {"N": "2"}}, "w": {"Exists": false},
                        "x": {"ComparisonOperator": "BETWEEN",
                            "AttributeValueList": [{"N": "1"}, {"N": "3"}]}},
                    "ConditionalOperator": "AND"}),
            ),
            (
                "GetItem",
                json!({"TableName": "demo", "Key": {"pk": {"S": "a"}}, "ConsistentRead": true,
                    "ProjectionExpression": "#a, b[0].c", "ExpressionAttributeNames": {"#a": "a"}}),
            ),
            (
                "UpdateItem",
                json!({"TableName": "demo", "Key": {"pk": {"S": "a"}},
                    "UpdateExpression": "SET v = v + :one", "ConditionExpression": "v < :max",
                    "ExpressionAttributeValues": {":one": {"N": "1"}, ":max": {"N": "9"}},
                    "ReturnValues": "UPDATED_NEW"}),
            ),
            (
                "UpdateItem",
                json!({"TableName": "demo", "Key": {"pk": {"S": "a"}},
                    "AttributeUpdates": {"v": {"Action": "ADD", "Value": {"N": "1"}},
                        "w": {"Action": "DELETE"}}}),
            ),
            (
                "DeleteItem",
                json!({"TableName": "demo", "Key": {"pk": {"S": "a"}},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}),
            ),
            (
                "Query",
                json!({"TableName": "demo", "IndexName": "byG", "Limit": 10,
                    "KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b",
                    "FilterExpression": "attribute_exists(x)",
                    "ExpressionAttributeValues": {":p": {"S": "a"}, ":a": {"N": "1"}, ":b": {"N": "2"}},
                    "ScanIndexForward": false, "Select": "ALL_PROJECTED_ATTRIBUTES",
                    "ExclusiveStartKey": {"pk": {"S": "a"}, "sk": {"N": "1"}}}),
            ),
            (
                "Query",
                json!({"TableName": "demo",
                    "KeyConditions": {"pk": {"ComparisonOperator": "EQ",
                        "AttributeValueList": [{"S": "a"}]}},
                    "QueryFilter": {"v": {"ComparisonOperator": "NOT_NULL"}},
                    "AttributesToGet": ["pk", "v"]}),
            ),
            (
                "Scan",
                json!({"TableName": "demo", "Segment": 0, "TotalSegments": 4,
                    "ScanFilter": {"v": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "0"}]}},
                    "ConsistentRead": false, "ReturnConsumedCapacity": "INDEXES"}),
            ),
            (
                "BatchGetItem",
                json!({"RequestItems": {"demo": {"Keys": [{"pk": {"S": "a"}}, {"pk": {"S": "b"}}],
                    "ProjectionExpression": "#p", "ExpressionAttributeNames": {"#p": "pk"},
                    "ConsistentRead": true}}}),
            ),
            (
                "BatchWriteItem",
                json!({"RequestItems": {"demo": [
                    {"PutRequest": {"Item": {"pk": {"S": "a"}}}},
                    {"DeleteRequest": {"Key": {"pk": {"S": "b"}}}}]},
                    "ReturnItemCollectionMetrics": "SIZE"}),
            ),
            (
                "TransactWriteItems",
                json!({"ClientRequestToken": "tok", "TransactItems": [
                    {"Put": {"TableName": "demo", "Item": {"pk": {"S": "a"}}}},
                    {"Update": {"TableName": "demo", "Key": {"pk": {"S": "b"}},
                        "UpdateExpression": "SET v = :v",
                        "ExpressionAttributeValues": {":v": {"L": [{"BOOL": false}]}}}},
                    {"Delete": {"TableName": "demo", "Key": {"pk": {"S": "c"}}}},
                    {"ConditionCheck": {"TableName": "demo", "Key": {"pk": {"S": "d"}},
                        "ConditionExpression": "attribute_exists(pk)"}}]}),
            ),
            (
                "TransactGetItems",
                json!({"TransactItems": [{"Get": {"TableName": "demo", "Key": {"pk": {"S": "a"}},
                    "ProjectionExpression": "v"}}]}),
            ),
            (
                "TagResource",
                json!({"ResourceArn": "arn:aws:dynamodb:us-east-1:000000000000:table/demo",
                    "Tags": [{"Key": "k", "Value": ""}]}),
            ),
            (
                "UntagResource",
                json!({"ResourceArn": "arn", "TagKeys": ["k"]}),
            ),
            (
                "ListTagsOfResource",
                json!({"ResourceArn": "arn", "NextToken": "t"}),
            ),
            (
                "UpdateTimeToLive",
                json!({"TableName": "demo",
                    "TimeToLiveSpecification": {"Enabled": true, "AttributeName": "ttl"}}),
            ),
            ("DescribeTimeToLive", json!({"TableName": "demo"})),
            ("DescribeLimits", json!({})),
            (
                "Streams.ListStreams",
                json!({"TableName": "demo", "Limit": 5, "ExclusiveStartStreamArn": "arn"}),
            ),
            (
                "Streams.DescribeStream",
                json!({"StreamArn": "arn", "Limit": 100, "ExclusiveStartShardId": "s",
                    "ShardFilter": {"Type": "CHILD_SHARDS", "ShardId": "s"}}),
            ),
            (
                "Streams.GetShardIterator",
                json!({"StreamArn": "arn", "ShardId": "s", "ShardIteratorType": "AT_TIMESTAMP",
                    "Timestamp": 1700000000.5}),
            ),
            (
                "Streams.GetShardIterator",
                json!({"StreamArn": "arn", "ShardId": "s",
                    "ShardIteratorType": "AT_SEQUENCE_NUMBER", "SequenceNumber": "100"}),
            ),
            (
                "Streams.GetRecords",
                json!({"ShardIterator": "it", "Limit": 1000}),
            ),
        ];
        for (op, body) in cases {
            passes(op, body.clone());
        }
        // Unknown members, and an empty body, are not this pass's business.
        passes("PutItem", json!({"Unknown": {"S": 1}, "TableName": "t"}));
        passes("PutItem", json!({"Item": {"a": {"S": "x", "X": 5}}}));
        for op in SUPPORTED_OPERATIONS {
            passes(op, json!({}));
        }
    }

    #[test]
    fn nulls_pass_everywhere() {
        for op in SUPPORTED_OPERATIONS {
            let members = input(op).expect("shape");
            let body: serde_json::Map<String, Value> = members
                .iter()
                .map(|(name, _)| (name.to_string(), Value::Null))
                .collect();
            passes(op, Value::Object(body));
        }
        passes(
            "PutItem",
            json!({"Item": {"a": null, "b": {"S": null, "N": "1"}, "c": {"L": [null]},
                "d": {"SS": [null]}, "e": {"M": {"x": null}}}, "Expected": {"a": null}}),
        );
        passes(
            "CreateTable",
            json!({"KeySchema": [null], "Tags": [{"Key": null}],
                "ProvisionedThroughput": {"ReadCapacityUnits": null}}),
        );
        passes(
            "BatchGetItem",
            json!({"RequestItems": {"t": null, "u": {"Keys": [null, {"pk": null}]}}}),
        );
        passes("BatchWriteItem", json!({"RequestItems": {"t": [null]}}));
    }

    #[test]
    fn boolean_members_take_the_six_boolean_strings() {
        for text in ["true", "YES", "1", "False", "no", "0", "tRuE", "No"] {
            let t = json!(text);
            passes("GetItem", json!({"ConsistentRead": t}));
            passes("Query", json!({"ScanIndexForward": t, "ConsistentRead": t}));
            passes(
                "PutItem",
                json!({"Item": {"a": {"BOOL": t}, "b": {"NULL": t}}}),
            );
            passes("PutItem", json!({"Expected": {"a": {"Exists": t}}}));
            passes(
                "CreateTable",
                json!({"StreamSpecification": {"StreamEnabled": t},
                "DeletionProtectionEnabled": t, "SSESpecification": {"Enabled": t}}),
            );
            passes(
                "UpdateTimeToLive",
                json!({"TimeToLiveSpecification": {"Enabled": t}}),
            );
        }
        for text in ["", "2", "on", "truee", "y", " true"] {
            assert_eq!(
                message("GetItem", json!({"ConsistentRead": text})),
                "VALUE_STRING cannot be converted to Boolean"
            );
            assert_eq!(
                message("PutItem", json!({"Item": {"a": {"BOOL": text}}})),
                "VALUE_STRING cannot be converted to Boolean"
            );
        }
        assert_eq!(
            message("GetItem", json!({"ConsistentRead": 1})),
            "NUMBER_VALUE cannot be converted to Boolean"
        );
        assert_eq!(
            message("GetItem", json!({"ConsistentRead": [true]})),
            "START_ARRAY cannot be converted to Boolean"
        );
    }

    #[test]
    fn integers_agree_with_the_request_reader() {
        passes(
            "Scan",
            json!({"Limit": -3, "Segment": 0, "TotalSegments": 9223372036854775807i64}),
        );
        for (v, shown) in [
            (json!(2.0), "2.0"),
            (json!(0.5), "0.5"),
            (json!(9223372036854775808u64), "9223372036854775808"),
        ] {
            assert_eq!(
                message("Scan", json!({"TotalSegments": v})),
                format!("Value {shown} for TotalSegments is out of range")
            );
        }
        assert_eq!(
            message(
                "CreateTable",
                json!({"OnDemandThroughput": {"MaxWriteRequestUnits": {}}})
            ),
            "START_OBJECT cannot be converted to Integer"
        );
        assert_eq!(
            message(
                "CreateTable",
                json!({"WarmThroughput": {"ReadUnitsPerSecond": false}})
            ),
            "VALUE_BOOLEAN cannot be converted to Integer"
        );
    }

    /// An L holding an M holding an L holding one attribute value `leaf`.
    fn nested(leaf: Value) -> Value {
        json!({"L": [{"S": "first"}, {"M": {"ok": {"N": "1"}, "inner": {"L": [{"BOOL": true}, leaf]}}}]})
    }

    #[test]
    fn attribute_values_are_walked_to_the_bottom() {
        passes(
            "PutItem",
            json!({"Item": {"a": nested(json!({"NS": ["1"]}))}}),
        );
        for (leaf, want) in [
            (
                json!({"N": 1}),
                "NUMBER_VALUE cannot be converted to String",
            ),
            (
                json!({"B": false}),
                "VALUE_FALSE cannot be converted to Blob",
            ),
            (
                json!({"BS": ["AA==", 7]}),
                "NUMBER_VALUE cannot be converted to Blob",
            ),
            (json!({"L": {}}), "START_OBJECT cannot be converted to List"),
            (
                json!({"SS": "a"}),
                "VALUE_STRING cannot be converted to List",
            ),
            (json!({"M": []}), "START_ARRAY cannot be converted to Map"),
            (
                json!({"NULL": {}}),
                "START_OBJECT cannot be converted to Boolean",
            ),
            (
                json!(true),
                "VALUE_TRUE cannot be converted to AttributeValue",
            ),
            (
                json!([]),
                "START_ARRAY cannot be converted to AttributeValue",
            ),
        ] {
            let av = nested(leaf.clone());
            assert_eq!(
                message("PutItem", json!({"Item": {"a": av.clone()}})),
                want,
                "{leaf}"
            );
            assert_eq!(
                message(
                    "UpdateItem",
                    json!({"ExpressionAttributeValues": {":v": av.clone()}})
                ),
                want
            );
            assert_eq!(
                message(
                    "TransactWriteItems",
                    json!({"TransactItems": [{"Put": {"Item": {"a": av}}}]})
                ),
                want
            );
        }
        // An AV map given a scalar is read by the request reader: its boolean token.
        assert_eq!(
            message("PutItem", json!({"Item": true})),
            "VALUE_BOOLEAN cannot be converted to Map"
        );
    }

    #[test]
    fn the_first_error_in_document_order_is_reported() {
        assert_eq!(
            message(
                "GetItem",
                json!({"ConsistentRead": "x", "Key": {"a": {"S": 1}}})
            ),
            "VALUE_STRING cannot be converted to Boolean"
        );
        assert_eq!(
            message(
                "GetItem",
                json!({"Key": {"a": {"S": 1}}, "ConsistentRead": "x"})
            ),
            "NUMBER_VALUE cannot be converted to String"
        );
        // Depth first: the whole first member before the next one.
        assert_eq!(
            message(
                "BatchWriteItem",
                json!({"RequestItems": {"t": [{"DeleteRequest": {"Key": {"k": {"L": [{"N": []}]}}}},
                    {"PutRequest": 5}]}, "ReturnConsumedCapacity": 1})
            ),
            "START_ARRAY cannot be converted to String"
        );
        assert_eq!(
            message(
                "PutItem",
                json!({"Item": {"b": {"S": "ok"}, "a": {"SS": ["x", 1]}}, "TableName": 5})
            ),
            "NUMBER_VALUE cannot be converted to String"
        );
    }

    #[test]
    fn nesting_is_walked_only_to_the_depth_bound() {
        // The body is level 0, the Item map 1, its attribute value 2; each L adds two levels
        // (its array and the value in it): the leaf of `deep(n, _)` is at level 2 + 2n.
        let deep = |levels: usize, leaf: Value| {
            let mut v = leaf;
            for _ in 0..levels {
                v = json!({"L": [v]});
            }
            json!({"Item": {"a": v}})
        };
        // Leaf at level 62, its S at 63.
        assert_eq!(
            message("PutItem", deep(30, json!({"S": 1}))),
            "NUMBER_VALUE cannot be converted to String"
        );
        // A leaf at level 64 is still looked at; its members, at 65, are not.
        assert_eq!(
            message("PutItem", deep(31, json!(true))),
            "VALUE_TRUE cannot be converted to AttributeValue"
        );
        passes("PutItem", deep(31, json!({"S": 1})));
        passes("PutItem", deep(1000, json!({"S": 1})));
        // A shallow error after a deep subtree is still found.
        let mut body = deep(1000, json!({"S": 1}));
        body["TableName"] = json!(7);
        assert_eq!(
            message("PutItem", body),
            "NUMBER_VALUE cannot be converted to String"
        );
    }

    /// Every member name the shapes know, so random bodies reach deep into them.
    fn member_names() -> Vec<&'static str> {
        fn walk(ty: Ty, out: &mut Vec<&'static str>, depth: usize) {
            if depth > 12 {
                return;
            }
            match ty {
                Ty::List(t) | Ty::Map(t) => walk(*t, out, depth + 1),
                Ty::Struct(members) => {
                    for (name, t) in members {
                        out.push(name);
                        walk(*t, out, depth + 1);
                    }
                }
                Ty::AttributeValue => out.extend(ATTRIBUTE_VALUE.iter().map(|(n, _)| *n)),
                _ => {}
            }
        }
        let mut out = vec!["pk", "x", ""];
        for op in SUPPORTED_OPERATIONS {
            walk(Ty::Struct(input(op).expect("shape")), &mut out, 0);
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    fn arb_json(keys: Vec<&'static str>) -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
            prop::sample::select(vec!["", "true", "No", "0", "x", "AA==", "1.5"])
                .prop_map(Value::from),
        ];
        leaf.prop_recursive(12, 96, 5, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec((prop::sample::select(keys.clone()), inner), 0..5).prop_map(
                    |kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                ),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// `check` never panics, and what it reports is always a SerializationException in
        /// one of its wordings.
        #[test]
        fn never_panics_on_arbitrary_json(
            op in prop::sample::select(SUPPORTED_OPERATIONS.to_vec()),
            body in arb_json(member_names()),
        ) {
            if let Err(e) = check(op, &body) {
                prop_assert_eq!(e.code, ErrorCode::SerializationException);
                prop_assert!(
                    e.message.contains(" cannot be converted to ")
                        || e.message.ends_with(" is out of range"),
                    "{}", e.message
                );
            }
        }
    }
}
