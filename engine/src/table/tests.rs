//! Every table and item operation through [`Database::execute`] over [`MemKv`]: results,
//! DynamoDB's error messages, capacity, paging, batches, transactions and concurrency.

use std::ops::Bound;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

use crate::api::{ApiError, Database, DatabaseOptions, ErrorCode};
use crate::error::Result as StorageResult;
use crate::key::SeqNo;
use crate::kv::{Kv, KvIter, KvWrite, MemKv, Snapshot, SpaceId, SpaceStats};

pub(super) fn db() -> Database {
    Database::new(Arc::new(MemKv::new()), DatabaseOptions::default()).expect("db")
}

pub(super) fn call(db: &Database, op: &str, body: Value) -> Result<Value, ApiError> {
    db.execute(op, body.to_string().as_bytes())
}

pub(super) fn ok(db: &Database, op: &str, body: Value) -> Value {
    match call(db, op, body) {
        Ok(v) => v,
        Err(e) => panic!("{op} failed: {e}"),
    }
}

fn err(db: &Database, op: &str, body: Value) -> ApiError {
    match call(db, op, body) {
        Ok(v) => panic!("{op} succeeded unexpectedly: {v}"),
        Err(e) => e,
    }
}

/// A table keyed by `pk` (S) and, when `sort` names a type, `sk` of that type.
pub(super) fn create(db: &Database, name: &str, sort: Option<&str>) {
    let mut ks = vec![json!({"AttributeName": "pk", "KeyType": "HASH"})];
    let mut ad = vec![json!({"AttributeName": "pk", "AttributeType": "S"})];
    if let Some(t) = sort {
        ks.push(json!({"AttributeName": "sk", "KeyType": "RANGE"}));
        ad.push(json!({"AttributeName": "sk", "AttributeType": t}));
    }
    ok(
        db,
        "CreateTable",
        json!({"TableName": name, "KeySchema": ks, "AttributeDefinitions": ad, "BillingMode": "PAY_PER_REQUEST"}),
    );
}

fn validation(e: &ApiError) -> &str {
    assert_eq!(e.code, ErrorCode::ValidationException, "{e}");
    &e.message
}

// ---------------------------------------------------------------- catalog

#[test]
fn create_describe_list_delete_round_trip() {
    let db = db();
    let created = ok(
        &db,
        "CreateTable",
        json!({
            "TableName": "Music",
            "KeySchema": [{"AttributeName": "Artist", "KeyType": "HASH"}, {"AttributeName": "Song", "KeyType": "RANGE"}],
            "AttributeDefinitions": [{"AttributeName": "Artist", "AttributeType": "S"}, {"AttributeName": "Song", "AttributeType": "S"}],
            "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 7},
            "Tags": [{"Key": "team", "Value": "db"}],
        }),
    );
    let d = &created["TableDescription"];
    assert_eq!(d["TableStatus"], "ACTIVE");
    assert_eq!(
        d["TableArn"],
        "arn:aws:dynamodb:us-east-1:000000000000:table/Music"
    );
    assert_eq!(d["ProvisionedThroughput"]["ReadCapacityUnits"], 5);
    assert_eq!(d["ProvisionedThroughput"]["WriteCapacityUnits"], 7);
    assert_eq!(d["ProvisionedThroughput"]["NumberOfDecreasesToday"], 0);
    assert_eq!(
        d["KeySchema"][1],
        json!({"AttributeName": "Song", "KeyType": "RANGE"})
    );
    assert_eq!(d["ItemCount"], 0);
    assert!(d["CreationDateTime"].as_f64().is_some_and(|t| t > 1.0e9));
    assert_eq!(d["TableId"].as_str().map(str::len), Some(36));
    assert!(d.get("BillingModeSummary").is_none());

    ok(
        &db,
        "PutItem",
        json!({"TableName": "Music", "Item": {"Artist": {"S": "a"}, "Song": {"S": "s"}}}),
    );
    let desc = ok(&db, "DescribeTable", json!({"TableName": "Music"}));
    assert_eq!(desc["Table"]["ItemCount"], 1);
    assert!(desc["Table"]["TableSizeBytes"]
        .as_u64()
        .is_some_and(|b| b > 0));

    for n in ["Alpha", "Beta", "Gamma"] {
        create(&db, n, None);
    }
    let page = ok(&db, "ListTables", json!({"Limit": 2}));
    assert_eq!(page["TableNames"], json!(["Alpha", "Beta"]));
    assert_eq!(page["LastEvaluatedTableName"], "Beta");
    let rest = ok(
        &db,
        "ListTables",
        json!({"Limit": 2, "ExclusiveStartTableName": "Beta"}),
    );
    assert_eq!(rest["TableNames"], json!(["Gamma", "Music"]));
    assert!(rest.get("LastEvaluatedTableName").is_none());
    let e = err(&db, "ListTables", json!({"Limit": 0}));
    assert_eq!(validation(&e), "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1");
    let e = err(&db, "ListTables", json!({"Limit": 101}));
    assert!(validation(&e).ends_with("Member must have value less than or equal to 100"));

    let deleted = ok(&db, "DeleteTable", json!({"TableName": "Music"}));
    assert_eq!(deleted["TableDescription"]["TableStatus"], "DELETING");
    let e = err(&db, "DescribeTable", json!({"TableName": "Music"}));
    assert_eq!(e.code, ErrorCode::ResourceNotFoundException);
    assert_eq!(
        e.message,
        "Requested resource not found: Table: Music not found"
    );
    let e = err(&db, "DeleteTable", json!({"TableName": "Music"}));
    assert_eq!(e.code, ErrorCode::ResourceNotFoundException);
}

#[test]
fn create_table_rejects_what_dynamodb_rejects() {
    let db = db();
    let base = |ks: Value, ad: Value| json!({"TableName": "tbl", "KeySchema": ks, "AttributeDefinitions": ad, "BillingMode": "PAY_PER_REQUEST"});
    let h = |n: &str| json!({"AttributeName": n, "KeyType": "HASH"});
    let r = |n: &str| json!({"AttributeName": n, "KeyType": "RANGE"});
    let s = |n: &str| json!({"AttributeName": n, "AttributeType": "S"});
    let cases: Vec<(Value, &str)> = vec![
        // The service's 2026 echo of a key schema (Ketlark's capture, eu-west-2).
        (
            base(json!([h("pk"), r("sk"), r("extra")]), json!([s("pk"), s("sk"), s("extra")])),
            "1 validation error detected: Value '[KeySchemaElement(attributeName=pk, keyType=HASH), KeySchemaElement(attributeName=sk, keyType=RANGE), KeySchemaElement(attributeName=extra, keyType=RANGE)]' at 'keySchema' failed to satisfy constraint: Member must have length less than or equal to 2",
        ),
        (
            base(json!([h("a")]), json!([s("b")])),
            "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [a], AttributeDefinitions: [b]",
        ),
        (
            base(json!([h("a"), r("b")]), json!([s("a")])),
            "Invalid KeySchema: Some index key attribute have no definition",
        ),
        (
            base(json!([h("a"), r("a")]), json!([s("a"), s("b")])),
            "Both the Hash Key and the Range Key element in the KeySchema have the same name",
        ),
        (
            base(json!([r("a"), h("b")]), json!([s("a"), s("b")])),
            "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
        ),
        (
            base(json!([h("a"), h("b")]), json!([s("a"), s("b")])),
            "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type",
        ),
        (
            base(json!([h("a")]), json!([s("a"), s("b")])),
            "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions",
        ),
        (
            base(json!([h("a")]), json!([{"AttributeName": "a", "AttributeType": "X"}])),
            "1 validation error detected: Value 'X' at 'attributeDefinitions.1.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]",
        ),
        (
            base(json!([]), json!([s("a")])),
            "1 validation error detected: Value '[]' at 'keySchema' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ),
        (
            json!({"TableName": "tbl", "KeySchema": [h("a")], "AttributeDefinitions": [s("a")]}),
            "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
        ),
        (
            json!({"TableName": "tbl", "KeySchema": [h("a")], "AttributeDefinitions": [s("a")], "BillingMode": "PAY_PER_REQUEST", "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}),
            "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
        ),
        (
            json!({"TableName": "tbl", "KeySchema": [h("a")], "AttributeDefinitions": [s("a")], "ProvisionedThroughput": {"ReadCapacityUnits": 0, "WriteCapacityUnits": 1}}),
            "1 validation error detected: Value '0' at 'provisionedThroughput.readCapacityUnits' failed to satisfy constraint: Member must have value greater than or equal to 1",
        ),
        (
            json!({"TableName": "ab", "KeySchema": [h("a")], "AttributeDefinitions": [s("a")], "BillingMode": "PAY_PER_REQUEST"}),
            "1 validation error detected: Value 'ab' at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 3",
        ),
        (
            json!({"KeySchema": [h("a")], "AttributeDefinitions": [s("a")]}),
            "The parameter 'TableName' is required but was not present in the request",
        ),
        (
            json!({"TableName": "tbl", "KeySchema": [h("a")], "AttributeDefinitions": [s("a")], "BillingMode": "FREE"}),
            "1 validation error detected: Value 'FREE' at 'billingMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]",
        ),
    ];
    for (body, msg) in cases {
        let e = err(&db, "CreateTable", body.clone());
        assert_eq!(validation(&e), msg, "request {body}");
    }
    let mut with_gsi = base(json!([h("a")]), json!([s("a")]));
    with_gsi["GlobalSecondaryIndexes"] =
        json!([{"IndexName": "g", "KeySchema": [h("a")], "Projection": {"ProjectionType": "ALL"}}]);
    assert_eq!(
        validation(&err(&db, "CreateTable", with_gsi)),
        "1 validation error detected: Value 'g' at 'globalSecondaryIndexes.1.member.indexName' failed to satisfy constraint: Member must have length greater than or equal to 3"
    );
    // A GSI key of several attributes (DynamoDB's multi-attribute keys) is refused as not
    // supported; a table's key schema keeps its limit of two.
    let mut multi = base(json!([h("a")]), json!([s("a"), s("b"), s("c")]));
    multi["GlobalSecondaryIndexes"] = json!([{"IndexName": "multi", "KeySchema": [h("a"), r("b"), r("c")],
                                              "Projection": {"ProjectionType": "ALL"}}]);
    assert_eq!(
        validation(&err(&db, "CreateTable", multi)),
        "Multi-attribute keys in global secondary indexes are not supported by hashlog yet (index multi has 3 key attributes)"
    );
    let mut two_hashes = base(json!([h("a")]), json!([s("a"), s("b")]));
    two_hashes["GlobalSecondaryIndexes"] = json!([{"IndexName": "multi", "KeySchema": [h("a"), h("b")],
                                                   "Projection": {"ProjectionType": "ALL"}}]);
    assert!(validation(&err(&db, "CreateTable", two_hashes))
        .starts_with("Multi-attribute keys in global secondary indexes are not supported"));
    let mut with_stream = base(json!([h("a")]), json!([s("a")]));
    with_stream["StreamSpecification"] = json!({"StreamEnabled": true});
    assert_eq!(
        validation(&err(&db, "CreateTable", with_stream)),
        "One or more parameter values were invalid: Enabled StreamSpecification must have StreamViewType set"
    );
    let e = err(&db, "CreateTable", json!({"TableName": 5}));
    assert_eq!(e.code, ErrorCode::SerializationException);

    create(&db, "dup", None);
    let e = call(
        &db,
        "CreateTable",
        json!({"TableName": "dup", "KeySchema": [h("pk")], "AttributeDefinitions": [s("pk")], "BillingMode": "PAY_PER_REQUEST"}),
    )
    .expect_err("exists");
    assert_eq!(e.code, ErrorCode::ResourceInUseException);
    assert_eq!(e.message, "Table already exists: dup");
}

#[test]
fn catalog_survives_reopen_and_space_ids_are_never_reused() {
    let kv: Arc<dyn Kv> = Arc::new(MemKv::new());
    let first_space;
    {
        let db = Database::new(Arc::clone(&kv), DatabaseOptions::default()).expect("db");
        create(&db, "keep", Some("N"));
        create(&db, "gone", None);
        ok(
            &db,
            "PutItem",
            json!({"TableName": "keep", "Item": {"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"S": "x"}}}),
        );
        first_space = db.tables().catalog.read()["gone"].space();
        ok(&db, "DeleteTable", json!({"TableName": "gone"}));
    }
    let db = Database::new(Arc::clone(&kv), DatabaseOptions::default()).expect("reopen");
    assert_eq!(db.tables().table_names(), vec!["keep".to_string()]);
    let got = ok(
        &db,
        "GetItem",
        json!({"TableName": "keep", "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}}}),
    );
    assert_eq!(got["Item"]["v"], json!({"S": "x"}));
    create(&db, "gone", None);
    assert!(db.tables().catalog.read()["gone"].space() > first_space);
    assert_eq!(
        ok(&db, "Scan", json!({"TableName": "gone"}))["Count"],
        0,
        "a re-created table starts empty"
    );
}

#[test]
fn update_table_changes_billing_and_throughput() {
    let db = db();
    ok(
        &db,
        "CreateTable",
        json!({"TableName": "upt", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
               "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
               "ProvisionedThroughput": {"ReadCapacityUnits": 10, "WriteCapacityUnits": 10}}),
    );
    let e = err(&db, "UpdateTable", json!({"TableName": "upt"}));
    assert!(validation(&e).starts_with("At least one of ProvisionedThroughput, BillingMode"));
    let e = err(
        &db,
        "UpdateTable",
        json!({"TableName": "upt", "ProvisionedThroughput": {"ReadCapacityUnits": 10, "WriteCapacityUnits": 10}}),
    );
    assert!(validation(&e).starts_with("The provisioned throughput for the table will not change. The requested value equals the current value. Current ReadCapacityUnits provisioned for the table: 10. Requested ReadCapacityUnits: 10."));
    let d = ok(
        &db,
        "UpdateTable",
        json!({"TableName": "upt", "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 10}}),
    );
    // UPDATING in UpdateTable's answer, as DynamoDB gives it; ACTIVE once described again.
    assert_eq!(d["TableDescription"]["TableStatus"], "UPDATING");
    let described = ok(&db, "DescribeTable", json!({"TableName": "upt"}));
    assert_eq!(described["Table"]["TableStatus"], "ACTIVE");
    let pt = &d["TableDescription"]["ProvisionedThroughput"];
    assert_eq!(pt["ReadCapacityUnits"], 5);
    assert_eq!(pt["NumberOfDecreasesToday"], 1);
    assert!(pt["LastDecreaseDateTime"].is_number());
    let d = ok(
        &db,
        "UpdateTable",
        json!({"TableName": "upt", "BillingMode": "PAY_PER_REQUEST"}),
    );
    assert_eq!(
        d["TableDescription"]["BillingModeSummary"]["BillingMode"],
        "PAY_PER_REQUEST"
    );
    assert_eq!(
        d["TableDescription"]["ProvisionedThroughput"]["ReadCapacityUnits"],
        0
    );
    let e = err(
        &db,
        "UpdateTable",
        json!({"TableName": "upt", "BillingMode": "PROVISIONED"}),
    );
    assert_eq!(validation(&e), "One or more parameter values were invalid: ProvisionedThroughput must be specified when BillingMode is PROVISIONED");
    let e = err(
        &db,
        "UpdateTable",
        json!({"TableName": "nope", "BillingMode": "PROVISIONED"}),
    );
    assert_eq!(
        e.message,
        "Requested resource not found: Table: nope not found"
    );
    // Deletion protection.
    ok(
        &db,
        "UpdateTable",
        json!({"TableName": "upt", "DeletionProtectionEnabled": true}),
    );
    let e = err(&db, "DeleteTable", json!({"TableName": "upt"}));
    assert!(validation(&e).contains("protected against deletion"));
    ok(
        &db,
        "UpdateTable",
        json!({"TableName": "upt", "DeletionProtectionEnabled": false}),
    );
    ok(&db, "DeleteTable", json!({"TableName": "upt"}));
}

#[test]
fn tags_and_ttl_are_stored_and_described() {
    let db = db();
    create(&db, "tagged", None);
    let arn = "arn:aws:dynamodb:us-east-1:000000000000:table/tagged";
    ok(
        &db,
        "TagResource",
        json!({"ResourceArn": arn, "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]}),
    );
    ok(
        &db,
        "UntagResource",
        json!({"ResourceArn": arn, "TagKeys": ["a"]}),
    );
    let tags = ok(&db, "ListTagsOfResource", json!({"ResourceArn": arn}));
    assert_eq!(tags["Tags"], json!([{"Key": "b", "Value": "2"}]));
    let missing = "arn:aws:dynamodb:us-east-1:000000000000:table/missing";
    let e = err(&db, "ListTagsOfResource", json!({"ResourceArn": missing}));
    assert_eq!(e.code, ErrorCode::ResourceNotFoundException);
    assert_eq!(
        e.message,
        format!("Requested resource not found: ResourcArn: {missing} not found")
    );
    let e = err(
        &db,
        "ListTagsOfResource",
        json!({"ResourceArn": "nonsense"}),
    );
    assert_eq!(
        validation(&e),
        "Invalid TableArn: Invalid ResourceArn provided as input nonsense"
    );
    let e = err(
        &db,
        "TagResource",
        json!({"ResourceArn": arn, "Tags": [{"Key": "", "Value": "1"}]}),
    );
    assert!(validation(&e).contains("at 'tags.1.member.key'"));
    // DynamoDB's tag character set, and the aws: prefix reserved, in keys (any case) and
    // values; letters of any script, white space and + - = . _ : / pass.
    for (k, v) in [
        ("bad*key", "1"),
        ("ok", "#!%"),
        ("aws:cloudformation:stack", "x"),
        ("AWS:x", "1"),
        ("tab\tkey", "1"),
        ("ok", "line\nbreak"),
    ] {
        let e = err(
            &db,
            "TagResource",
            json!({"ResourceArn": arn, "Tags": [{"Key": k, "Value": v}]}),
        );
        assert!(
            validation(&e).starts_with("One or more parameter values were invalid: Invalid tag"),
            "{k}={v}: {}",
            e.message
        );
    }
    ok(
        &db,
        "TagResource",
        json!({"ResourceArn": arn, "Tags": [{"Key": "Équipe data/x", "Value": "a+b=c.d_e:f-g h"}, {"Key": "c", "Value": "aws:ok"}]}),
    );
    let tags = ok(&db, "ListTagsOfResource", json!({"ResourceArn": arn}));
    assert_eq!(tags["Tags"].as_array().map(Vec::len), Some(3));

    let ttl = ok(&db, "DescribeTimeToLive", json!({"TableName": "tagged"}));
    assert_eq!(ttl["TimeToLiveDescription"]["TimeToLiveStatus"], "DISABLED");
    let spec = json!({"TableName": "tagged", "TimeToLiveSpecification": {"AttributeName": "exp", "Enabled": true}});
    assert_eq!(
        ok(&db, "UpdateTimeToLive", spec.clone())["TimeToLiveSpecification"],
        json!({"Enabled": true, "AttributeName": "exp"})
    );
    assert_eq!(
        validation(&err(&db, "UpdateTimeToLive", spec)),
        "TimeToLive is already enabled"
    );
    let ttl = ok(&db, "DescribeTimeToLive", json!({"TableName": "tagged"}));
    assert_eq!(
        ttl["TimeToLiveDescription"],
        json!({"TimeToLiveStatus": "ENABLED", "AttributeName": "exp"})
    );
    ok(
        &db,
        "UpdateTimeToLive",
        json!({"TableName": "tagged", "TimeToLiveSpecification": {"AttributeName": "exp", "Enabled": false}}),
    );
    let e = err(&db, "DescribeTimeToLive", json!({"TableName": "missing"}));
    assert_eq!(e.code, ErrorCode::ResourceNotFoundException);
    let limits = ok(&db, "DescribeLimits", json!({}));
    assert_eq!(limits["TableMaxWriteCapacityUnits"], 40000);
}

#[test]
fn operations_and_bodies_are_checked_first() {
    let db = db();
    let e = err(&db, "Frobnicate", json!({}));
    assert_eq!(e.code, ErrorCode::UnknownOperationException);
    let e = err(&db, "CreateBackup", json!({}));
    assert_eq!(
        validation(&e),
        "Operation CreateBackup is not supported by hashlog yet"
    );
    let e = db.execute("PutItem", b"{not json").expect_err("bad json");
    assert_eq!(e.code, ErrorCode::SerializationException);
    let e = db.execute("PutItem", b"[1,2]").expect_err("not an object");
    assert_eq!(e.code, ErrorCode::SerializationException);
    let e = err(&db, "GetItem", json!({"TableName": ["x"], "Key": {}}));
    assert_eq!(e.code, ErrorCode::SerializationException);
    for op in Database::supported_operations() {
        // Every supported operation answers (an error for an empty body is fine, a panic or an
        // unknown-operation error is not).
        if let Err(e) = db.execute(op, b"{}") {
            assert_ne!(e.code, ErrorCode::UnknownOperationException, "{op}");
            assert!(!e.message.contains("not supported"), "{op}");
        }
    }
}

// ---------------------------------------------------------------- items

#[test]
fn put_get_delete_with_projection_and_return_values() {
    let db = db();
    create(&db, "items", None);
    let item = json!({"pk": {"S": "a"}, "n": {"N": "1.50"}, "m": {"M": {"x": {"S": "y"}, "z": {"L": [{"N": "1"}]}}}});
    let r = ok(
        &db,
        "PutItem",
        json!({"TableName": "items", "Item": item, "ReturnValues": "ALL_OLD"}),
    );
    assert_eq!(r, json!({}), "no old item, no Attributes");
    let got = ok(
        &db,
        "GetItem",
        json!({"TableName": "items", "Key": {"pk": {"S": "a"}}, "ConsistentRead": true}),
    );
    assert_eq!(got["Item"]["n"], json!({"N": "1.5"}));
    let projected = ok(
        &db,
        "GetItem",
        json!({"TableName": "items", "Key": {"pk": {"S": "a"}}, "ProjectionExpression": "#m.x, n", "ExpressionAttributeNames": {"#m": "m"}}),
    );
    assert_eq!(
        projected["Item"],
        json!({"m": {"M": {"x": {"S": "y"}}}, "n": {"N": "1.5"}})
    );
    let legacy = ok(
        &db,
        "GetItem",
        json!({"TableName": "items", "Key": {"pk": {"S": "a"}}, "AttributesToGet": ["pk"]}),
    );
    assert_eq!(legacy["Item"], json!({"pk": {"S": "a"}}));
    let r = ok(
        &db,
        "PutItem",
        json!({"TableName": "items", "Item": {"pk": {"S": "a"}}, "ReturnValues": "ALL_OLD"}),
    );
    assert_eq!(r["Attributes"]["n"], json!({"N": "1.5"}));
    let e = err(
        &db,
        "PutItem",
        json!({"TableName": "items", "Item": {"pk": {"S": "a"}}, "ReturnValues": "ALL_NEW"}),
    );
    assert_eq!(validation(&e), "ReturnValues can only be ALL_OLD or NONE");
    let e = err(
        &db,
        "PutItem",
        json!({"TableName": "items", "Item": {"pk": {"S": "a"}}, "ReturnValues": "SOME"}),
    );
    assert!(validation(&e).contains("Member must satisfy enum value set"));
    let old = ok(
        &db,
        "DeleteItem",
        json!({"TableName": "items", "Key": {"pk": {"S": "a"}}, "ReturnValues": "ALL_OLD"}),
    );
    assert_eq!(old["Attributes"], json!({"pk": {"S": "a"}}));
    assert_eq!(
        ok(
            &db,
            "GetItem",
            json!({"TableName": "items", "Key": {"pk": {"S": "a"}}})
        ),
        json!({})
    );
    ok(
        &db,
        "PutItem",
        json!({"TableName": "items", "Item": {"pk": {"S": "m"}}, "ReturnItemCollectionMetrics": "SIZE"}),
    );
    let e = err(
        &db,
        "PutItem",
        json!({"TableName": "items", "Item": {"pk": {"S": "m"}}, "ReturnItemCollectionMetrics": "ALL"}),
    );
    assert_eq!(validation(&e), "1 validation error detected: Value 'ALL' at 'returnItemCollectionMetrics' failed to satisfy constraint: Member must satisfy enum value set: [SIZE, NONE]");
    let e = err(
        &db,
        "DeleteItem",
        json!({"TableName": "items", "Key": {"pk": {"S": "a"}}, "ReturnValues": "UPDATED_NEW"}),
    );
    assert_eq!(validation(&e), "ReturnValues can only be ALL_OLD or NONE");
}

#[test]
fn missing_tables_keys_and_oversize_items_are_rejected_with_dynamodb_messages() {
    let db = db();
    create(&db, "items", Some("N"));
    let e = err(
        &db,
        "GetItem",
        json!({"TableName": "nope", "Key": {"pk": {"S": "a"}}}),
    );
    assert_eq!(e.code, ErrorCode::ResourceNotFoundException);
    assert_eq!(e.message, "Requested resource not found");
    let e = err(
        &db,
        "PutItem",
        json!({"TableName": "x", "Item": {"pk": {"S": "a"}}}),
    );
    assert!(validation(&e).contains("at 'tableName' failed to satisfy constraint"));
    for key in [
        json!({"pk": {"S": "a"}}),
        json!({"pk": {"N": "1"}, "sk": {"N": "1"}}),
        json!({"pk": {"S": "a"}, "sk": {"N": "1"}, "x": {"S": "y"}}),
    ] {
        let e = err(&db, "GetItem", json!({"TableName": "items", "Key": key}));
        assert_eq!(
            validation(&e),
            "The provided key element does not match the schema"
        );
    }
    let e = err(
        &db,
        "PutItem",
        json!({"TableName": "items", "Item": {"pk": {"S": "a"}}}),
    );
    assert_eq!(
        validation(&e),
        "One or more parameter values were invalid: Missing the key sk in the item"
    );
    let big = "x".repeat(400 * 1024);
    let e = err(
        &db,
        "PutItem",
        json!({"TableName": "items", "Item": {"pk": {"S": "a"}, "sk": {"N": "1"}, "b": {"S": big}}}),
    );
    assert_eq!(
        validation(&e),
        "Item size has exceeded the maximum allowed size"
    );
    // An update that would grow the item past 400 KB.
    let half = "y".repeat(250 * 1024);
    ok(
        &db,
        "PutItem",
        json!({"TableName": "items", "Item": {"pk": {"S": "a"}, "sk": {"N": "1"}, "b": {"S": half.clone()}}}),
    );
    let e = err(
        &db,
        "UpdateItem",
        json!({"TableName": "items", "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}},
               "UpdateExpression": "SET c = :v", "ExpressionAttributeValues": {":v": {"S": half}}}),
    );
    assert_eq!(
        validation(&e),
        "Item size to update has exceeded the maximum allowed size"
    );
    let e = err(
        &db,
        "PutItem",
        json!({"TableName": "items", "Item": {"pk": {"S": "a".repeat(2049)}, "sk": {"N": "1"}}}),
    );
    assert!(validation(&e).contains("hashkey"), "{e}");
}

#[test]
fn conditions_fail_with_the_item_when_asked() {
    let db = db();
    create(&db, "cond", None);
    let put_new = json!({"TableName": "cond", "Item": {"pk": {"S": "a"}, "v": {"N": "1"}},
                         "ConditionExpression": "attribute_not_exists(pk)"});
    ok(&db, "PutItem", put_new.clone());
    let e = err(&db, "PutItem", put_new.clone());
    assert_eq!(e.code, ErrorCode::ConditionalCheckFailedException);
    assert_eq!(e.message, "The conditional request failed");
    assert!(!e.extra.contains_key("Item"));
    let mut with_old = put_new;
    with_old["ReturnValuesOnConditionCheckFailure"] = json!("ALL_OLD");
    let e = err(&db, "PutItem", with_old);
    assert_eq!(e.extra["Item"], json!({"pk": {"S": "a"}, "v": {"N": "1"}}));
    assert_eq!(
        e.to_json()["Item"],
        json!({"pk": {"S": "a"}, "v": {"N": "1"}})
    );
    // Legacy Expected.
    let e = err(
        &db,
        "DeleteItem",
        json!({"TableName": "cond", "Key": {"pk": {"S": "a"}}, "Expected": {"v": {"Value": {"N": "2"}}}}),
    );
    assert_eq!(e.code, ErrorCode::ConditionalCheckFailedException);
    ok(
        &db,
        "DeleteItem",
        json!({"TableName": "cond", "Key": {"pk": {"S": "a"}}, "Expected": {"v": {"Value": {"N": "1"}}}}),
    );
    // Mixing expression and legacy parameters.
    let e = err(
        &db,
        "PutItem",
        json!({"TableName": "cond", "Item": {"pk": {"S": "a"}}, "ConditionExpression": "attribute_exists(pk)",
               "Expected": {"v": {"Exists": false}}}),
    );
    assert!(validation(&e).starts_with("Can not use both expression and non-expression parameters"));
    // Unused placeholder.
    let e = err(
        &db,
        "PutItem",
        json!({"TableName": "cond", "Item": {"pk": {"S": "a"}}, "ConditionExpression": "attribute_not_exists(pk)",
               "ExpressionAttributeValues": {":unused": {"S": "x"}}}),
    );
    assert!(validation(&e).contains("unused"), "{e}");
}

#[test]
fn update_item_upserts_and_returns_what_was_asked() {
    let db = db();
    create(&db, "upd", Some("S"));
    let key = json!({"pk": {"S": "a"}, "sk": {"S": "b"}});
    let r = ok(
        &db,
        "UpdateItem",
        json!({"TableName": "upd", "Key": key, "UpdateExpression": "SET n = :one, s = :s",
               "ExpressionAttributeValues": {":one": {"N": "1"}, ":s": {"S": "x"}}, "ReturnValues": "ALL_NEW"}),
    );
    assert_eq!(
        r["Attributes"],
        json!({"pk": {"S": "a"}, "sk": {"S": "b"}, "n": {"N": "1"}, "s": {"S": "x"}})
    );
    let r = ok(
        &db,
        "UpdateItem",
        json!({"TableName": "upd", "Key": key, "UpdateExpression": "ADD n :one REMOVE s",
               "ExpressionAttributeValues": {":one": {"N": "1"}}, "ReturnValues": "UPDATED_OLD"}),
    );
    assert_eq!(r["Attributes"], json!({"n": {"N": "1"}, "s": {"S": "x"}}));
    let r = ok(
        &db,
        "UpdateItem",
        json!({"TableName": "upd", "Key": key, "UpdateExpression": "SET n = n + :one",
               "ExpressionAttributeValues": {":one": {"N": "1"}}, "ReturnValues": "UPDATED_NEW"}),
    );
    assert_eq!(r["Attributes"], json!({"n": {"N": "3"}}));
    // Legacy AttributeUpdates.
    let r = ok(
        &db,
        "UpdateItem",
        json!({"TableName": "upd", "Key": key, "AttributeUpdates": {"n": {"Action": "ADD", "Value": {"N": "10"}}, "t": {"Value": {"S": "put"}}},
               "ReturnValues": "ALL_NEW"}),
    );
    assert_eq!(r["Attributes"]["n"], json!({"N": "13"}));
    assert_eq!(r["Attributes"]["t"], json!({"S": "put"}));
    // Key attributes cannot be updated, whether or not the item exists.
    let e = err(
        &db,
        "UpdateItem",
        json!({"TableName": "upd", "Key": {"pk": {"S": "new"}, "sk": {"S": "b"}}, "UpdateExpression": "SET sk = :v",
               "ExpressionAttributeValues": {":v": {"S": "c"}}}),
    );
    assert_eq!(validation(&e), "One or more parameter values were invalid: Cannot update attribute sk. This attribute is part of the key");
    assert_eq!(
        ok(&db, "Scan", json!({"TableName": "upd"}))["Count"],
        1,
        "the rejected update created nothing"
    );
    // No update at all creates the key-only item.
    ok(
        &db,
        "UpdateItem",
        json!({"TableName": "upd", "Key": {"pk": {"S": "k"}, "sk": {"S": "only"}}}),
    );
    let got = ok(
        &db,
        "GetItem",
        json!({"TableName": "upd", "Key": {"pk": {"S": "k"}, "sk": {"S": "only"}}}),
    );
    assert_eq!(got["Item"], json!({"pk": {"S": "k"}, "sk": {"S": "only"}}));
    // A runtime type error leaves the item alone.
    let e = err(
        &db,
        "UpdateItem",
        json!({"TableName": "upd", "Key": key, "UpdateExpression": "SET t = t + :one",
               "ExpressionAttributeValues": {":one": {"N": "1"}}}),
    );
    assert_eq!(
        validation(&e),
        "An operand in the update expression has an incorrect data type"
    );
    // Conditional update failure.
    let e = err(
        &db,
        "UpdateItem",
        json!({"TableName": "upd", "Key": key, "UpdateExpression": "SET n = :one", "ConditionExpression": "n = :one",
               "ExpressionAttributeValues": {":one": {"N": "1"}}, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}),
    );
    assert_eq!(e.code, ErrorCode::ConditionalCheckFailedException);
    assert_eq!(e.extra["Item"]["n"], json!({"N": "13"}));
}

#[test]
fn consumed_capacity_follows_dynamodb_arithmetic() {
    let db = db();
    create(&db, "cap", None);
    let body = |n: usize| json!({"TableName": "cap", "Item": {"pk": {"S": "a"}, "b": {"S": "x".repeat(n)}}, "ReturnConsumedCapacity": "TOTAL"});
    // 1500 bytes of value + names: 2 write units.
    let r = ok(&db, "PutItem", body(1500));
    assert_eq!(
        r["ConsumedCapacity"],
        json!({"TableName": "cap", "CapacityUnits": 2.0})
    );
    // Replacing it with a small item still charges the larger (old) size.
    let r = ok(&db, "PutItem", body(10));
    assert_eq!(r["ConsumedCapacity"]["CapacityUnits"], 2.0);
    ok(&db, "PutItem", body(5000));
    let get = |consistent: bool, mode: &str| {
        ok(
            &db,
            "GetItem",
            json!({"TableName": "cap", "Key": {"pk": {"S": "a"}}, "ConsistentRead": consistent, "ReturnConsumedCapacity": mode}),
        )
    };
    assert_eq!(get(true, "TOTAL")["ConsumedCapacity"]["CapacityUnits"], 2.0);
    assert_eq!(
        get(false, "TOTAL")["ConsumedCapacity"]["CapacityUnits"],
        1.0
    );
    assert_eq!(
        get(false, "INDEXES")["ConsumedCapacity"]["Table"],
        json!({"CapacityUnits": 1.0})
    );
    assert!(get(false, "NONE").get("ConsumedCapacity").is_none());
    let r = ok(
        &db,
        "DeleteItem",
        json!({"TableName": "cap", "Key": {"pk": {"S": "a"}}, "ReturnConsumedCapacity": "TOTAL"}),
    );
    assert_eq!(r["ConsumedCapacity"]["CapacityUnits"], 5.0);
    let r = ok(
        &db,
        "GetItem",
        json!({"TableName": "cap", "Key": {"pk": {"S": "a"}}, "ReturnConsumedCapacity": "TOTAL"}),
    );
    assert_eq!(
        r["ConsumedCapacity"]["CapacityUnits"], 0.5,
        "a miss costs the minimum"
    );
}

/// Puts and deletes on a table with neither indexes nor a stream read only the old item's
/// size: its write units, the table's size and count, and a delete of a missing item (no
/// write) come out as when the item was decoded; with a condition or ALL_OLD the item is
/// read whole.
#[test]
fn unconditional_writes_on_a_plain_table_size_the_old_item_without_decoding_it() {
    let db = db();
    create(&db, "plain", None);
    let item = |n: usize| json!({"pk": {"S": "a"}, "b": {"S": "x".repeat(n)}, "n": {"N": "12.5"}, "l": {"L": [{"BOOL": true}, {"NULL": true}]}});
    let put = |n: usize, extra: Value| {
        let mut body =
            json!({"TableName": "plain", "Item": item(n), "ReturnConsumedCapacity": "TOTAL"});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        ok(&db, "PutItem", body)
    };
    let stats = || {
        let d = ok(&db, "DescribeTable", json!({"TableName": "plain"}));
        (
            d["Table"]["ItemCount"].clone(),
            d["Table"]["TableSizeBytes"].clone(),
        )
    };
    assert_eq!(
        put(3000, json!({}))["ConsumedCapacity"]["CapacityUnits"],
        3.0
    );
    let big = stats();
    assert_eq!(put(10, json!({}))["ConsumedCapacity"]["CapacityUnits"], 3.0);
    let small = stats();
    assert_eq!(small.0, 1);
    assert!(small.1.as_u64() < big.1.as_u64(), "{small:?} {big:?}");
    // ALL_OLD reads the item whole and answers it.
    let r = put(20, json!({"ReturnValues": "ALL_OLD"}));
    assert_eq!(r["Attributes"], item(10));
    let del = |key: &str| {
        ok(
            &db,
            "DeleteItem",
            json!({"TableName": "plain", "Key": {"pk": {"S": key}}, "ReturnConsumedCapacity": "TOTAL"}),
        )
    };
    assert_eq!(del("a")["ConsumedCapacity"]["CapacityUnits"], 1.0);
    assert_eq!(stats(), (json!(0), json!(0)));
    // A delete of a missing item writes nothing and costs one unit.
    assert_eq!(del("missing")["ConsumedCapacity"]["CapacityUnits"], 1.0);
    assert_eq!(stats(), (json!(0), json!(0)));
}

// ---------------------------------------------------------------- Query and Scan

fn fill_sorted(db: &Database, table: &str, pk: &str, n: usize) {
    for i in 0..n {
        ok(
            db,
            "PutItem",
            json!({"TableName": table, "Item": {"pk": {"S": pk}, "sk": {"N": i.to_string()}, "odd": {"BOOL": i % 2 == 1}, "name": {"S": format!("item{i:03}")}}}),
        );
    }
}

fn sks(r: &Value) -> Vec<i64> {
    r["Items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            i["sk"]["N"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("sk")
        })
        .collect()
}

#[test]
fn query_applies_sort_key_conditions_direction_and_select() {
    let db = db();
    create(&db, "qry", Some("N"));
    fill_sorted(&db, "qry", "p", 20);
    fill_sorted(&db, "qry", "other", 5);
    let q = |cond: &str, extra: Value| {
        let mut body = json!({"TableName": "qry", "KeyConditionExpression": cond,
            "ExpressionAttributeValues": {":p": {"S": "p"}, ":a": {"N": "5"}, ":b": {"N": "8"}}});
        if let Value::Object(m) = extra {
            for (k, v) in m {
                body[k] = v;
            }
        }
        // Keep only the placeholders the expressions use (unused ones are an error).
        let text = format!(
            "{} {}",
            body["KeyConditionExpression"].as_str().unwrap_or(""),
            body["FilterExpression"].as_str().unwrap_or("")
        );
        let mut used = serde_json::Map::new();
        if let Some(m) = body["ExpressionAttributeValues"].as_object() {
            for (k, v) in m {
                if text
                    .split(|c: char| !(c.is_alphanumeric() || c == ':'))
                    .any(|w| w == k)
                {
                    used.insert(k.clone(), v.clone());
                }
            }
        }
        body["ExpressionAttributeValues"] = Value::Object(used);
        ok(&db, "Query", body)
    };
    assert_eq!(sks(&q("pk = :p", json!({}))), (0..20).collect::<Vec<_>>());
    assert_eq!(
        sks(&q("pk = :p AND sk < :a", json!({}))),
        vec![0, 1, 2, 3, 4]
    );
    assert_eq!(
        sks(&q("pk = :p AND sk <= :a", json!({}))),
        vec![0, 1, 2, 3, 4, 5]
    );
    assert_eq!(
        sks(&q("pk = :p AND sk > :b", json!({"Limit": 3}))),
        vec![9, 10, 11]
    );
    assert_eq!(
        sks(&q("pk = :p AND sk >= :b", json!({"Limit": 1}))),
        vec![8]
    );
    assert_eq!(
        sks(&q(
            "pk = :p AND sk BETWEEN :a AND :b",
            json!({"ScanIndexForward": false})
        )),
        vec![8, 7, 6, 5]
    );
    assert_eq!(sks(&q("pk = :p AND sk = :a", json!({}))), vec![5]);
    let counted = q(
        "pk = :p",
        json!({"Select": "COUNT", "FilterExpression": "odd = :t",
        "ExpressionAttributeValues": {":p": {"S": "p"}, ":t": {"BOOL": true}}}),
    );
    assert_eq!(counted["Count"], 10);
    assert_eq!(counted["ScannedCount"], 20);
    assert!(counted.get("Items").is_none());
    let projected = q(
        "pk = :p AND sk = :a",
        json!({"ProjectionExpression": "#n", "ExpressionAttributeNames": {"#n": "name"}}),
    );
    assert_eq!(projected["Items"], json!([{"name": {"S": "item005"}}]));
    // Legacy ScanFilter and QueryFilter.
    let scanned = ok(
        &db,
        "Scan",
        json!({"TableName": "qry", "ScanFilter": {"odd": {"ComparisonOperator": "EQ", "AttributeValueList": [{"BOOL": true}]}}}),
    );
    assert_eq!(
        (scanned["Count"].as_u64(), scanned["ScannedCount"].as_u64()),
        (Some(12), Some(25))
    );
    let filtered = ok(
        &db,
        "Query",
        json!({"TableName": "qry", "KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "other"}]}},
               "QueryFilter": {"odd": {"ComparisonOperator": "EQ", "AttributeValueList": [{"BOOL": false}]}}}),
    );
    assert_eq!(sks(&filtered), vec![0, 2, 4]);
    // Legacy KeyConditions.
    let legacy = ok(
        &db,
        "Query",
        json!({"TableName": "qry", "KeyConditions": {
            "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]},
            "sk": {"ComparisonOperator": "GE", "AttributeValueList": [{"N": "18"}]}}}),
    );
    assert_eq!(sks(&legacy), vec![18, 19]);
    // begins_with on a string sort key.
    create(&db, "qstr", Some("S"));
    for s in ["a", "ab", "abc", "b", "ba"] {
        ok(
            &db,
            "PutItem",
            json!({"TableName": "qstr", "Item": {"pk": {"S": "p"}, "sk": {"S": s}}}),
        );
    }
    let r = ok(
        &db,
        "Query",
        json!({"TableName": "qstr", "KeyConditionExpression": "pk = :p AND begins_with(sk, :a)",
               "ExpressionAttributeValues": {":p": {"S": "p"}, ":a": {"S": "a"}}}),
    );
    let got: Vec<&str> = r["Items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["sk"]["S"].as_str())
        .collect();
    assert_eq!(got, vec!["a", "ab", "abc"]);
}

/// A page past its first 32 items (or 64 KiB) reads the rest through the thread's blocking
/// hook, once; shorter pages never touch it; the items are the same either way, in order,
/// with or without a filter and with the limit honoured.
#[test]
fn long_pages_read_their_rest_through_the_blocking_hook() {
    static HOOKED: AtomicUsize = AtomicUsize::new(0);
    fn hook(why: crate::io::blocking::Wait, f: &mut dyn FnMut()) {
        assert_eq!(why, crate::io::blocking::Wait::LongWork);
        HOOKED.fetch_add(1, Ordering::SeqCst);
        f();
    }
    let db = db();
    create(&db, "long", Some("N"));
    fill_sorted(&db, "long", "p", 100);
    let items = super::query::PAGE_ITEMS_BEFORE_HOOK;
    for (limit, filter, want_hooks, want) in [
        (Some(items), false, 0, (0..items as i64).collect::<Vec<_>>()),
        (Some(items + 1), false, 1, (0..items as i64 + 1).collect()),
        (None, false, 1, (0..100).collect()),
        (None, true, 1, (0..100).filter(|i| i % 2 == 1).collect()),
        (Some(10), true, 0, vec![1, 3, 5, 7, 9]),
    ] {
        let mut body = json!({"TableName": "long", "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": "p"}}});
        if let Some(l) = limit {
            body["Limit"] = json!(l);
        }
        if filter {
            body["FilterExpression"] = json!("odd = :t");
            body["ExpressionAttributeValues"][":t"] = json!({"BOOL": true});
        }
        let (r, hooks) = crate::io::blocking::with_blocking_hook(hook, || {
            let before = HOOKED.load(Ordering::SeqCst);
            let r = ok(&db, "Query", body.clone());
            (r, HOOKED.load(Ordering::SeqCst) - before)
        });
        assert_eq!(sks(&r), want, "limit {limit:?} filter {filter}");
        assert_eq!(hooks, want_hooks, "limit {limit:?} filter {filter}");
        // Without a hook: the same answer.
        assert_eq!(ok(&db, "Query", body), r);
    }
}

#[test]
fn query_and_scan_reject_bad_parameters() {
    let db = db();
    create(&db, "qry", Some("N"));
    let vals = json!({":p": {"S": "p"}});
    let cases: Vec<(&str, Value, &str)> = vec![
        ("Query", json!({"TableName": "qry", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": vals, "Limit": 0}),
         "1 validation error detected: Value at 'Limit' failed to satisfy constraint: Member must have value greater than or equal to 1"),
        // Before the missing key condition (the service's order, 2026).
        ("Query", json!({"TableName": "qry", "Limit": 0}),
         "1 validation error detected: Value at 'Limit' failed to satisfy constraint: Member must have value greater than or equal to 1"),
        ("Query", json!({"TableName": "qry", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": vals, "Select": "SPECIFIC_ATTRIBUTES"}),
         "1 validation error detected: Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES"),
        ("Query", json!({"TableName": "qry", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": vals, "Select": "ALL_ATTRIBUTES", "ProjectionExpression": "a"}),
         "1 validation error detected: Cannot specify the ProjectionExpression when choosing to get ALL_ATTRIBUTES"),
        // Both ALL_PROJECTED_ATTRIBUTES rules broken: the projection's is named (2026).
        ("Query", json!({"TableName": "qry", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": vals, "Select": "ALL_PROJECTED_ATTRIBUTES", "ProjectionExpression": "a"}),
         "1 validation error detected: Cannot specify the ProjectionExpression when choosing to get ALL_PROJECTED_ATTRIBUTES"),
        ("Query", json!({"TableName": "qry", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": vals, "Select": "ALL_PROJECTED_ATTRIBUTES"}),
         "1 validation error detected: ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName"),
        ("Query", json!({"TableName": "qry", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": vals, "IndexName": "byX"}),
         "The table does not have the specified index: byX"),
        ("Query", json!({"TableName": "qry"}),
         "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request."),
        ("Query", json!({"TableName": "qry", "KeyConditionExpression": "pk = :p", "FilterExpression": "sk > :p", "ExpressionAttributeValues": vals}),
         "Filter Expression can only contain non-primary key attributes: Primary key attribute: sk"),
        ("Query", json!({"TableName": "qry", "KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]}}, "QueryFilter": {"sk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "1"}]}}}),
         "QueryFilter can only contain non-primary key attributes: Primary key attribute: sk"),
        ("Query", json!({"TableName": "qry", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": vals, "ProjectionExpression": "sk.a"}),
         "Key attributes must be scalars; list random access '[]' and map lookup '.' are not allowed: Key: sk"),
        ("Scan", json!({"TableName": "qry", "FilterExpression": "pk[0] = :p", "ExpressionAttributeValues": vals}),
         "Key attributes must be scalars; list random access '[]' and map lookup '.' are not allowed: Key: pk"),
        ("GetItem", json!({"TableName": "qry", "Key": {"pk": {"S": "p"}, "sk": {"N": "1"}}, "ProjectionExpression": "pk.x"}),
         "Key attributes must be scalars; list random access '[]' and map lookup '.' are not allowed: Key: pk"),
        ("GetItem", json!({"TableName": "qry", "Key": {"pk": {"S": ""}, "sk": {"N": "1"}}}),
         "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: pk"),
        ("BatchWriteItem", json!({"RequestItems": {"qry": [{"PutRequest": {"Item": {"pk": {"N": "1"}, "sk": {"N": "1"}}}}]}}),
         "The provided key element does not match the schema"),
        ("UpdateItem", json!({"TableName": "qry", "Key": {"pk": {"S": "p"}, "sk": {"N": "1"}}, "UpdateExpression": "SET a = :b", "ExpressionAttributeValues": {":b": {"N": "b"}}}),
         "ExpressionAttributeValues contains invalid value: The parameter cannot be converted to a numeric value: b for key :b"),
        ("ListTables", json!({"ExclusiveStartTableName": "a;b"}),
         "1 validation error detected: Value 'a;b' at 'exclusiveStartTableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"),
        ("TagResource", json!({"ResourceArn": "arn:aws:dynamodb:us-east-1:000000000000:table/qry", "Tags": []}),
         "Atleast one Tag needs to be provided as Input."),
        ("UntagResource", json!({"ResourceArn": "arn:aws:dynamodb:us-east-1:000000000000:table/qry", "TagKeys": []}),
         "Atleast one Tag Key needs to be provided as Input."),
        ("TagResource", json!({"ResourceArn": "arn:aws:dynamodb:us-east-1:000000000000:table/ab", "Tags": [{"Key": "k", "Value": "v"}]}),
         "Invalid TableArn: Invalid ResourceArn provided as input arn:aws:dynamodb:us-east-1:000000000000:table/ab"),
        ("UpdateTable", json!({"TableName": "qry", "GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": "abc"}}, {"Delete": {"IndexName": "abc"}}]}),
         "One or more parameter values were invalid: Only one global secondary index update per index is allowed simultaneously. Index: abc"),
        ("Query", json!({"TableName": "qry", "KeyConditionExpression": "pk = :p", "ConditionalOperator": "OR", "ExpressionAttributeValues": vals}),
         "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {ConditionalOperator} Expression parameters: {KeyConditionExpression}"),
        ("Query", json!({"TableName": "qry", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": vals,
                         "ExclusiveStartKey": {"pk": {"S": "other"}, "sk": {"N": "1"}}}),
         "The provided starting key is outside query boundaries based on provided conditions"),
        ("Query", json!({"TableName": "qry", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": vals,
                         "ExclusiveStartKey": {"pk": {"S": "p"}}}),
         "The provided starting key is invalid"),
        ("Query", json!({"TableName": "qry", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": vals,
                         "ExclusiveStartKey": {"pk": {"S": "p"}, "sk": {"S": "1"}}}),
         "The provided key element does not match the schema"),
        ("Query", json!({"TableName": "qry", "KeyConditionExpression": "pk = :p AND sk > :n", "ExpressionAttributeValues": {":p": {"S": "p"}, ":n": {"N": "5"}},
                         "ExclusiveStartKey": {"pk": {"S": "other"}, "sk": {"N": "3"}}}),
         "The provided starting key does not match the range key predicate"),
        ("Query", json!({"TableName": "qry", "KeyConditionExpression": "pk = :p AND sk > :n", "ExpressionAttributeValues": {":p": {"S": "p"}, ":n": {"N": "5"}},
                         "ExclusiveStartKey": {"pk": {"S": "other"}, "sk": {"N": "7"}}}),
         "The query can return at most one row and cannot be restarted"),
        ("Scan", json!({"TableName": "qry", "Segment": 1}),
         "The TotalSegments parameter is required but was not present in the request when Segment parameter is present"),
        ("Scan", json!({"TableName": "qry", "TotalSegments": 2}),
         "The Segment parameter is required but was not present in the request when parameter TotalSegments is present"),
        ("Scan", json!({"TableName": "qry", "Segment": 2, "TotalSegments": 2}),
         "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: 2 is not less than TotalSegments: 2"),
        ("Scan", json!({"TableName": "qry", "Segment": 0, "TotalSegments": 1_000_001}),
         "1 validation error detected: Value '1000001' at 'totalSegments' failed to satisfy constraint: Member must have value less than or equal to 1000000"),
        ("Scan", json!({"TableName": "qry", "Select": "COUNT", "AttributesToGet": ["a"]}),
         "1 validation error detected: Cannot specify the AttributesToGet when choosing to get only the Count"),
    ];
    for (op, body, msg) in cases {
        let e = err(&db, op, body.clone());
        assert_eq!(validation(&e), msg, "{op} {body}");
    }
    let e = err(&db, "Scan", json!({"TableName": "nope"}));
    assert_eq!(e.message, "Requested resource not found");
}

#[test]
fn pages_stop_at_one_megabyte_and_paging_sees_everything_once() {
    let db = db();
    create(&db, "big", Some("N"));
    let blob = "z".repeat(100 * 1024);
    for i in 0..25 {
        ok(
            &db,
            "PutItem",
            json!({"TableName": "big", "Item": {"pk": {"S": "p"}, "sk": {"N": i.to_string()}, "b": {"S": blob}}}),
        );
    }
    for op in ["Query", "Scan"] {
        let mut start: Option<Value> = None;
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let mut body = json!({"TableName": "big", "ProjectionExpression": "sk", "ReturnConsumedCapacity": "TOTAL"});
            if op == "Query" {
                body["KeyConditionExpression"] = json!("pk = :p");
                body["ExpressionAttributeValues"] = json!({":p": {"S": "p"}});
            }
            if let Some(s) = &start {
                body["ExclusiveStartKey"] = s.clone();
            }
            let r = ok(&db, op, body);
            pages += 1;
            let n = r["ScannedCount"].as_u64().expect("scanned");
            assert!(n <= 11, "a page reads at most ~1 MB: {n} items of 100 KB");
            // The page read n items of ~100 KB: units are the sum rounded up once, halved.
            let units = r["ConsumedCapacity"]["CapacityUnits"]
                .as_f64()
                .expect("units");
            assert!(
                units >= n as f64 * 12.5 && units <= n as f64 * 12.5 + 0.5,
                "{units} for {n}"
            );
            seen.extend(sks(&r));
            match r.get("LastEvaluatedKey") {
                Some(k) => start = Some(k.clone()),
                None => break,
            }
        }
        assert!(pages >= 3, "{op} took {pages} pages");
        assert_eq!(seen, (0..25).collect::<Vec<_>>(), "{op}");
    }
}

#[test]
fn parallel_scan_segments_cover_every_item_exactly_once() {
    let db = db();
    create(&db, "seg", None);
    for i in 0..200 {
        ok(
            &db,
            "PutItem",
            json!({"TableName": "seg", "Item": {"pk": {"S": format!("k{i}")}}}),
        );
    }
    for total in [1, 3, 8] {
        let mut all = Vec::new();
        for s in 0..total {
            let mut start: Option<Value> = None;
            loop {
                let mut body =
                    json!({"TableName": "seg", "Segment": s, "TotalSegments": total, "Limit": 17});
                if let Some(k) = &start {
                    body["ExclusiveStartKey"] = k.clone();
                }
                let r = ok(&db, "Scan", body);
                for it in r["Items"].as_array().expect("items") {
                    all.push(it["pk"]["S"].as_str().expect("pk").to_string());
                }
                match r.get("LastEvaluatedKey") {
                    Some(k) => start = Some(k.clone()),
                    None => break,
                }
            }
        }
        all.sort();
        let mut want: Vec<String> = (0..200).map(|i| format!("k{i}")).collect();
        want.sort();
        assert_eq!(all, want, "{total} segments");
    }
}

// ---------------------------------------------------------------- batches

#[test]
fn batch_get_and_write_round_trip_and_reject_duplicates() {
    let db = db();
    create(&db, "bat1", None);
    create(&db, "bat2", Some("N"));
    let r = ok(
        &db,
        "BatchWriteItem",
        json!({"RequestItems": {
            "bat1": [{"PutRequest": {"Item": {"pk": {"S": "a"}, "v": {"N": "1"}}}}, {"PutRequest": {"Item": {"pk": {"S": "b"}}}}],
            "bat2": [{"PutRequest": {"Item": {"pk": {"S": "a"}, "sk": {"N": "1"}, "w": {"S": "x"}}}}]
        }, "ReturnConsumedCapacity": "TOTAL"}),
    );
    assert_eq!(r["UnprocessedItems"], json!({}));
    assert_eq!(r["ConsumedCapacity"].as_array().map(Vec::len), Some(2));
    let g = ok(
        &db,
        "BatchGetItem",
        json!({"RequestItems": {
            "bat1": {"Keys": [{"pk": {"S": "a"}}, {"pk": {"S": "zz"}}], "ProjectionExpression": "v"},
            "bat2": {"Keys": [{"pk": {"S": "a"}, "sk": {"N": "1"}}], "ConsistentRead": true}
        }, "ReturnConsumedCapacity": "TOTAL"}),
    );
    assert_eq!(g["Responses"]["bat1"], json!([{"v": {"N": "1"}}]));
    assert_eq!(g["Responses"]["bat2"][0]["w"], json!({"S": "x"}));
    assert_eq!(g["UnprocessedKeys"], json!({}));
    let caps = g["ConsumedCapacity"].as_array().expect("caps");
    assert_eq!(caps[0], json!({"TableName": "bat1", "CapacityUnits": 1.0}));
    assert_eq!(caps[1], json!({"TableName": "bat2", "CapacityUnits": 1.0}));
    ok(
        &db,
        "BatchWriteItem",
        json!({"RequestItems": {"bat1": [{"DeleteRequest": {"Key": {"pk": {"S": "a"}}}}]}}),
    );
    let g = ok(
        &db,
        "BatchGetItem",
        json!({"RequestItems": {"bat1": {"Keys": [{"pk": {"S": "a"}}, {"pk": {"S": "b"}}]}}}),
    );
    assert_eq!(g["Responses"]["bat1"], json!([{"pk": {"S": "b"}}]));

    let dup = err(
        &db,
        "BatchGetItem",
        json!({"RequestItems": {"bat1": {"Keys": [{"pk": {"S": "a"}}, {"pk": {"S": "a"}}]}}}),
    );
    assert_eq!(
        validation(&dup),
        "Provided list of item keys contains duplicates"
    );
    let dup = err(
        &db,
        "BatchWriteItem",
        json!({"RequestItems": {"bat1": [{"PutRequest": {"Item": {"pk": {"S": "a"}}}}, {"DeleteRequest": {"Key": {"pk": {"S": "a"}}}}]}}),
    );
    assert_eq!(
        validation(&dup),
        "Provided list of item keys contains duplicates"
    );
    let keys: Vec<Value> = (0..101)
        .map(|i| json!({"pk": {"S": format!("k{i}")}}))
        .collect();
    // Over 100 keys for one table is that table's Keys constraint; over 100 in all, the
    // call's limit.
    let e = err(
        &db,
        "BatchGetItem",
        json!({"RequestItems": {"bat1": {"Keys": keys}}}),
    );
    assert_eq!(
        validation(&e),
        "1 validation error detected: Value at 'RequestItems.bat1.member.Keys' failed to satisfy constraint: Member must have length less than or equal to 100"
    );
    let e = err(
        &db,
        "BatchGetItem",
        json!({"RequestItems": {"bat1": {"Keys": keys[..100]}, "bat2": {"Keys": [keys[100]]}}}),
    );
    assert_eq!(
        validation(&e),
        "Too many items requested for the BatchGetItem call"
    );
    let puts = |n: usize, p: &str| -> Vec<Value> {
        (0..n)
            .map(|i| json!({"PutRequest": {"Item": {"pk": {"S": format!("{p}{i}")}}}}))
            .collect()
    };
    let e = err(
        &db,
        "BatchWriteItem",
        json!({"RequestItems": {"bat1": puts(26, "x")}}),
    );
    assert!(validation(&e).contains("Member must have length less than or equal to 25"));
    let e = err(
        &db,
        "BatchWriteItem",
        json!({"RequestItems": {"bat1": puts(20, "x"), "bat2": puts(6, "y")}}),
    );
    assert_eq!(
        validation(&e),
        "Too many items requested for the BatchWriteItem call"
    );
    let e = err(&db, "BatchWriteItem", json!({"RequestItems": {}}));
    assert_eq!(
        validation(&e),
        "The requestItems parameter is required for BatchWriteItem"
    );
    let e = err(
        &db,
        "BatchWriteItem",
        json!({"RequestItems": {"nope": puts(1, "x")}}),
    );
    assert_eq!(e.code, ErrorCode::ResourceNotFoundException);
    // A failed batch wrote nothing, even for the valid table.
    let e = err(
        &db,
        "BatchWriteItem",
        json!({"RequestItems": {"bat1": puts(1, "fresh"), "bat2": [{"PutRequest": {"Item": {"pk": {"S": "a"}}}}]}}),
    );
    assert_eq!(e.code, ErrorCode::ValidationException);
    let g = ok(
        &db,
        "GetItem",
        json!({"TableName": "bat1", "Key": {"pk": {"S": "fresh0"}}}),
    );
    assert_eq!(g, json!({}));
}

#[test]
fn batch_get_returns_keys_past_sixteen_megabytes_as_unprocessed() {
    let db = db();
    create(&db, "huge", None);
    let blob = "q".repeat(390 * 1024);
    let n = 45;
    for i in 0..n {
        ok(
            &db,
            "PutItem",
            json!({"TableName": "huge", "Item": {"pk": {"S": format!("k{i}")}, "b": {"S": blob}}}),
        );
    }
    let keys: Vec<Value> = (0..n)
        .map(|i| json!({"pk": {"S": format!("k{i}")}}))
        .collect();
    let r = ok(
        &db,
        "BatchGetItem",
        json!({"RequestItems": {"huge": {"Keys": keys, "ConsistentRead": true}}}),
    );
    let got = r["Responses"]["huge"].as_array().expect("got").len();
    let left = r["UnprocessedKeys"]["huge"]["Keys"]
        .as_array()
        .expect("unprocessed")
        .len();
    assert!(got < n && got >= 40, "{got}");
    assert_eq!(got + left, n);
    assert_eq!(r["UnprocessedKeys"]["huge"]["ConsistentRead"], true);
}

// ---------------------------------------------------------------- transactions

/// A store that counts write batches (to pin "one transaction, one write").
struct CountingKv {
    inner: MemKv,
    writes: AtomicUsize,
}

impl Kv for CountingKv {
    fn create_space(&self, space: SpaceId, partitions: u32) -> StorageResult<()> {
        self.inner.create_space(space, partitions)
    }
    fn drop_space(&self, space: SpaceId) -> StorageResult<()> {
        self.inner.drop_space(space)
    }
    fn has_space(&self, space: SpaceId) -> bool {
        self.inner.has_space(space)
    }
    fn write(&self, writes: Vec<KvWrite>) -> StorageResult<SeqNo> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.write(writes)
    }
    fn get_at(&self, space: SpaceId, key: &[u8], s: Snapshot) -> StorageResult<Option<Vec<u8>>> {
        self.inner.get_at(space, key, s)
    }
    fn snapshot(&self) -> Snapshot {
        self.inner.snapshot()
    }
    fn scan(
        &self,
        space: SpaceId,
        lower: Bound<Vec<u8>>,
        upper: Bound<Vec<u8>>,
        reverse: bool,
    ) -> StorageResult<KvIter> {
        self.inner.scan(space, lower, upper, reverse)
    }
    fn space_stats(&self, space: SpaceId) -> StorageResult<SpaceStats> {
        self.inner.space_stats(space)
    }
}

#[test]
fn a_transaction_is_one_write_batch_and_a_cancelled_one_writes_nothing() {
    let kv = Arc::new(CountingKv {
        inner: MemKv::new(),
        writes: AtomicUsize::new(0),
    });
    let db = Database::new(Arc::clone(&kv) as Arc<dyn Kv>, DatabaseOptions::default()).expect("db");
    create(&db, "tbl1", None);
    create(&db, "tbl2", Some("N"));
    ok(
        &db,
        "PutItem",
        json!({"TableName": "tbl1", "Item": {"pk": {"S": "gone"}, "v": {"N": "1"}}}),
    );
    let before = kv.writes.load(Ordering::SeqCst);
    let r = ok(
        &db,
        "TransactWriteItems",
        json!({"TransactItems": [
            {"Put": {"TableName": "tbl1", "Item": {"pk": {"S": "a"}, "v": {"N": "1"}}}},
            {"Update": {"TableName": "tbl2", "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}}, "UpdateExpression": "ADD c :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}},
            {"Delete": {"TableName": "tbl1", "Key": {"pk": {"S": "gone"}}, "ConditionExpression": "v = :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}},
            {"ConditionCheck": {"TableName": "tbl1", "Key": {"pk": {"S": "absent"}}, "ConditionExpression": "attribute_not_exists(pk)"}}
        ], "ReturnConsumedCapacity": "TOTAL"}),
    );
    assert_eq!(
        kv.writes.load(Ordering::SeqCst),
        before + 1,
        "one write batch"
    );
    let caps = r["ConsumedCapacity"].as_array().expect("caps");
    // Transactions name the units' kind too, as DynamoDB answers them.
    assert_eq!(
        caps[0],
        json!({"TableName": "tbl1", "CapacityUnits": 6.0, "WriteCapacityUnits": 6.0})
    );
    assert_eq!(
        caps[1],
        json!({"TableName": "tbl2", "CapacityUnits": 2.0, "WriteCapacityUnits": 2.0})
    );
    assert_eq!(ok(&db, "Scan", json!({"TableName": "tbl1"}))["Count"], 1);

    let before = kv.writes.load(Ordering::SeqCst);
    let e = err(
        &db,
        "TransactWriteItems",
        json!({"TransactItems": [
            {"Put": {"TableName": "tbl1", "Item": {"pk": {"S": "b"}}}},
            {"Update": {"TableName": "tbl1", "Key": {"pk": {"S": "fresh"}}, "UpdateExpression": "SET w = w + :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}},
            {"ConditionCheck": {"TableName": "tbl1", "Key": {"pk": {"S": "a"}}, "ConditionExpression": "v = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}}, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}
        ]}),
    );
    assert_eq!(
        kv.writes.load(Ordering::SeqCst),
        before,
        "nothing written: {e}"
    );
    assert_eq!(e.code, ErrorCode::TransactionCanceledException, "{e}");
    assert_eq!(e.message, "Transaction cancelled, please refer cancellation reasons for specific reasons [None, ValidationError, ConditionalCheckFailed]");
    let reasons = &e.extra["CancellationReasons"];
    assert_eq!(reasons[0], json!({"Code": "None"}));
    assert_eq!(
        reasons[1],
        json!({"Code": "ValidationError", "Message": "The provided expression refers to an attribute that does not exist in the item"})
    );
    assert_eq!(reasons[2]["Code"], "ConditionalCheckFailed");
    assert_eq!(
        reasons[2]["Item"],
        json!({"pk": {"S": "a"}, "v": {"N": "1"}})
    );
    assert_eq!(
        ok(
            &db,
            "GetItem",
            json!({"TableName": "tbl1", "Key": {"pk": {"S": "b"}}})
        ),
        json!({})
    );
}

#[test]
fn transaction_validation_and_idempotency() {
    let db = db();
    create(&db, "txn", None);
    let upd = json!({"Update": {"TableName": "txn", "Key": {"pk": {"S": "c"}}, "UpdateExpression": "ADD n :one",
                                "ExpressionAttributeValues": {":one": {"N": "1"}}}});
    let req = json!({"TransactItems": [upd], "ClientRequestToken": "token-1"});
    let first = ok(&db, "TransactWriteItems", req.clone());
    let again = ok(&db, "TransactWriteItems", req);
    assert_eq!(first, again);
    let got = ok(
        &db,
        "GetItem",
        json!({"TableName": "txn", "Key": {"pk": {"S": "c"}}}),
    );
    assert_eq!(
        got["Item"]["n"],
        json!({"N": "1"}),
        "the replay did not apply again"
    );
    let e = err(
        &db,
        "TransactWriteItems",
        json!({"TransactItems": [{"Put": {"TableName": "txn", "Item": {"pk": {"S": "x"}}}}], "ClientRequestToken": "token-1"}),
    );
    assert_eq!(e.code, ErrorCode::IdempotentParameterMismatchException);

    // With ReturnConsumedCapacity, the first call reports the writes' units (transactional: 2
    // per KB) and a replay the units of reading the items (2 per 4 KB), as DynamoDB documents.
    let big = "x".repeat(5000);
    let req = json!({"TransactItems": [
            {"Put": {"TableName": "txn", "Item": {"pk": {"S": "r1"}, "v": {"S": big}}}},
            {"Put": {"TableName": "txn", "Item": {"pk": {"S": "r2"}}}}],
        "ClientRequestToken": "token-2", "ReturnConsumedCapacity": "TOTAL"});
    let first = ok(&db, "TransactWriteItems", req.clone());
    assert_eq!(
        first["ConsumedCapacity"],
        json!([{"TableName": "txn", "CapacityUnits": 12.0, "WriteCapacityUnits": 12.0}])
    );
    let again = ok(&db, "TransactWriteItems", req);
    assert_eq!(
        again["ConsumedCapacity"],
        json!([{"TableName": "txn", "CapacityUnits": 6.0, "ReadCapacityUnits": 6.0}])
    );

    let e = err(
        &db,
        "TransactWriteItems",
        json!({"TransactItems": [
            {"Put": {"TableName": "txn", "Item": {"pk": {"S": "a"}}}},
            {"Delete": {"TableName": "txn", "Key": {"pk": {"S": "a"}}}}]}),
    );
    assert_eq!(
        validation(&e),
        "Transaction request cannot include multiple operations on one item"
    );
    let e = err(&db, "TransactWriteItems", json!({"TransactItems": []}));
    assert!(validation(&e).contains("Member must have length greater than or equal to 1"));
    let many: Vec<Value> = (0..101)
        .map(|i| json!({"Put": {"TableName": "txn", "Item": {"pk": {"S": format!("k{i}")}}}}))
        .collect();
    let e = err(&db, "TransactWriteItems", json!({"TransactItems": many}));
    assert!(validation(&e).contains("Member must have length less than or equal to 100"));
    let e = err(
        &db,
        "TransactWriteItems",
        json!({"TransactItems": [{"Put": {"TableName": "txn", "Item": {"pk": {"S": "a"}}}, "Delete": {"TableName": "txn", "Key": {"pk": {"S": "b"}}}}]}),
    );
    assert_eq!(e.code, ErrorCode::ValidationException);
    let e = err(
        &db,
        "TransactWriteItems",
        json!({"TransactItems": [{"Update": {"TableName": "txn", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET pk = :v",
                                             "ExpressionAttributeValues": {":v": {"S": "b"}}}}]}),
    );
    assert!(validation(&e).contains("This attribute is part of the key"));
    let e = err(
        &db,
        "TransactWriteItems",
        json!({"TransactItems": [{"Put": {"TableName": "missing", "Item": {"pk": {"S": "a"}}}}]}),
    );
    assert_eq!(e.code, ErrorCode::ResourceNotFoundException);

    // TransactGetItems.
    let r = ok(
        &db,
        "TransactGetItems",
        json!({"TransactItems": [
            {"Get": {"TableName": "txn", "Key": {"pk": {"S": "c"}}, "ProjectionExpression": "n"}},
            {"Get": {"TableName": "txn", "Key": {"pk": {"S": "none"}}}}
        ], "ReturnConsumedCapacity": "TOTAL"}),
    );
    assert_eq!(r["Responses"], json!([{"Item": {"n": {"N": "1"}}}, {}]));
    assert_eq!(r["ConsumedCapacity"][0]["CapacityUnits"], 4.0);
    // A present item whose projection keeps nothing: no Item (GetItem answers an empty one).
    let r = ok(
        &db,
        "TransactGetItems",
        json!({"TransactItems": [{"Get": {"TableName": "txn", "Key": {"pk": {"S": "c"}},
               "ProjectionExpression": "#x", "ExpressionAttributeNames": {"#x": "doesNotExist"}}}]}),
    );
    assert_eq!(r["Responses"], json!([{}]));
    let r = ok(
        &db,
        "GetItem",
        json!({"TableName": "txn", "Key": {"pk": {"S": "c"}}, "ProjectionExpression": "doesNotExist"}),
    );
    assert_eq!(r, json!({"Item": {}}));
    let e = err(
        &db,
        "TransactGetItems",
        json!({"TransactItems": [
            {"Get": {"TableName": "txn", "Key": {"pk": {"S": "c"}}}},
            {"Get": {"TableName": "txn", "Key": {"pk": {"S": "c"}}}}]}),
    );
    assert_eq!(
        validation(&e),
        "Transaction request cannot include multiple operations on one item"
    );
}

// ---------------------------------------------------------------- concurrency

#[test]
fn concurrent_unconditional_adds_lose_no_update() {
    let db = Arc::new(db());
    create(&db, "adds", None);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                for _ in 0..100 {
                    ok(
                        &db,
                        "UpdateItem",
                        json!({"TableName": "adds", "Key": {"pk": {"S": "c"}}, "UpdateExpression": "ADD n :one",
                               "ExpressionAttributeValues": {":one": {"N": "1"}}}),
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("join");
    }
    let got = ok(
        &db,
        "GetItem",
        json!({"TableName": "adds", "Key": {"pk": {"S": "c"}}}),
    );
    assert_eq!(got["Item"]["n"], json!({"N": "400"}));
}

#[test]
fn concurrent_transfers_keep_the_total_and_read_transactions_see_it() {
    let db = Arc::new(db());
    create(&db, "acct", None);
    for a in ["x", "y", "z"] {
        ok(
            &db,
            "PutItem",
            json!({"TableName": "acct", "Item": {"pk": {"S": a}, "bal": {"N": "100"}}}),
        );
    }
    let pairs = [("x", "y"), ("y", "z"), ("z", "x"), ("y", "x")];
    let writers: Vec<_> = pairs
        .iter()
        .map(|&(from, to)| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let r = call(
                        &db,
                        "TransactWriteItems",
                        json!({"TransactItems": [
                            {"Update": {"TableName": "acct", "Key": {"pk": {"S": from}}, "UpdateExpression": "SET bal = bal - :one",
                                        "ConditionExpression": "bal >= :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}},
                            {"Update": {"TableName": "acct", "Key": {"pk": {"S": to}}, "UpdateExpression": "SET bal = bal + :one",
                                        "ExpressionAttributeValues": {":one": {"N": "1"}}}}]}),
                    );
                    if let Err(e) = r {
                        assert_eq!(e.code, ErrorCode::TransactionCanceledException);
                    }
                }
            })
        })
        .collect();
    let reader = {
        let db = Arc::clone(&db);
        std::thread::spawn(move || {
            for _ in 0..100 {
                let r = ok(
                    &db,
                    "TransactGetItems",
                    json!({"TransactItems": [
                        {"Get": {"TableName": "acct", "Key": {"pk": {"S": "x"}}}},
                        {"Get": {"TableName": "acct", "Key": {"pk": {"S": "y"}}}},
                        {"Get": {"TableName": "acct", "Key": {"pk": {"S": "z"}}}}]}),
                );
                let sum: i64 = r["Responses"]
                    .as_array()
                    .expect("responses")
                    .iter()
                    .map(|i| {
                        i["Item"]["bal"]["N"]
                            .as_str()
                            .and_then(|s| s.parse::<i64>().ok())
                            .expect("bal")
                    })
                    .sum();
                assert_eq!(sum, 300, "a read transaction saw half a transfer");
            }
        })
    };
    for t in writers {
        t.join().expect("join");
    }
    reader.join().expect("reader");
    let s = ok(&db, "Scan", json!({"TableName": "acct"}));
    let sum: i64 = s["Items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["bal"]["N"].as_str().and_then(|s| s.parse::<i64>().ok()))
        .sum();
    assert_eq!(sum, 300);
}

#[test]
fn deleting_a_table_under_writers_fails_them_cleanly() {
    let db = Arc::new(db());
    create(&db, "doomed", None);
    let writer = {
        let db = Arc::clone(&db);
        std::thread::spawn(move || {
            for i in 0..300 {
                let r = call(
                    &db,
                    "PutItem",
                    json!({"TableName": "doomed", "Item": {"pk": {"S": format!("k{i}")}}}),
                );
                if let Err(e) = r {
                    assert_eq!(e.code, ErrorCode::ResourceNotFoundException, "{e}");
                }
            }
        })
    };
    ok(&db, "DeleteTable", json!({"TableName": "doomed"}));
    writer.join().expect("writer");
}

#[test]
fn table_arns_name_tables_on_the_data_plane() {
    let db = db();
    create(&db, "arnt", None);
    let arn = "arn:aws:dynamodb:us-east-1:000000000000:table/arnt";
    let total = json!("TOTAL");
    let put = ok(
        &db,
        "PutItem",
        json!({"TableName": arn, "Item": {"pk": {"S": "a"}, "v": {"N": "1"}}, "ReturnConsumedCapacity": total}),
    );
    // ConsumedCapacity names the table as the request did.
    assert_eq!(put["ConsumedCapacity"]["TableName"], arn);
    let got = ok(
        &db,
        "GetItem",
        json!({"TableName": arn, "Key": {"pk": {"S": "a"}}, "ReturnConsumedCapacity": total}),
    );
    assert_eq!(got["Item"]["v"], json!({"N": "1"}));
    assert_eq!(got["ConsumedCapacity"]["TableName"], arn);
    ok(
        &db,
        "UpdateItem",
        json!({"TableName": arn, "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": {"N": "2"}}}),
    );
    let q = ok(
        &db,
        "Query",
        json!({"TableName": arn, "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "a"}}, "ReturnConsumedCapacity": total}),
    );
    assert_eq!(q["Items"][0]["v"], json!({"N": "2"}));
    assert_eq!(q["ConsumedCapacity"]["TableName"], arn);
    assert_eq!(ok(&db, "Scan", json!({ "TableName": arn }))["Count"], 1);
    // Batches answer under the key the request used.
    let bw = ok(
        &db,
        "BatchWriteItem",
        json!({"RequestItems": {arn: [{"PutRequest": {"Item": {"pk": {"S": "b"}}}}]}, "ReturnConsumedCapacity": total}),
    );
    assert_eq!(bw["ConsumedCapacity"][0]["TableName"], arn);
    let bg = ok(
        &db,
        "BatchGetItem",
        json!({"RequestItems": {arn: {"Keys": [{"pk": {"S": "a"}}, {"pk": {"S": "b"}}]}}}),
    );
    assert_eq!(bg["Responses"][arn].as_array().map(Vec::len), Some(2));
    // The same item by name and by ARN in one batch is a duplicate.
    let e = err(
        &db,
        "BatchWriteItem",
        json!({"RequestItems": {arn: [{"DeleteRequest": {"Key": {"pk": {"S": "a"}}}}], "arnt": [{"DeleteRequest": {"Key": {"pk": {"S": "a"}}}}]}}),
    );
    assert_eq!(
        validation(&e),
        "Provided list of item keys contains duplicates"
    );
    ok(
        &db,
        "TransactWriteItems",
        json!({"TransactItems": [{"Put": {"TableName": arn, "Item": {"pk": {"S": "c"}}}}]}),
    );
    let tg = ok(
        &db,
        "TransactGetItems",
        json!({"TransactItems": [{"Get": {"TableName": arn, "Key": {"pk": {"S": "c"}}}}]}),
    );
    assert_eq!(tg["Responses"][0]["Item"]["pk"], json!({"S": "c"}));
    ok(
        &db,
        "DeleteItem",
        json!({"TableName": arn, "Key": {"pk": {"S": "c"}}}),
    );
    let d = ok(&db, "DescribeTable", json!({ "TableName": arn }));
    assert_eq!(d["Table"]["TableArn"], arn);
    ok(
        &db,
        "UpdateTable",
        json!({"TableName": arn, "BillingMode": "PAY_PER_REQUEST"}),
    );

    // Not a table ARN, another region: ValidationException; another account: AccessDenied.
    for bad in [
        "arn:aws:dynamodb:us-east-1:000000000000:table/arnt/index/ix",
        "arn:aws:dynamodb:us-east-1:000000000000:table/arnt/stream/2024",
        "arn:aws:s3:us-east-1:000000000000:table/arnt",
        "arn:aws:dynamodb:us-east-1:table/arnt",
        "arn:aws:dynamodb:eu-west-1:000000000000:table/arnt",
    ] {
        let e = err(
            &db,
            "GetItem",
            json!({"TableName": bad, "Key": {"pk": {"S": "a"}}}),
        );
        assert_eq!(
            validation(&e),
            format!("Invalid TableArn: Invalid ResourceArn provided as input {bad}")
        );
    }
    let other = "arn:aws:dynamodb:us-east-1:111111111111:table/arnt";
    let e = err(&db, "Scan", json!({ "TableName": other }));
    assert_eq!(e.code, ErrorCode::AccessDeniedException);
    assert_eq!(
        e.message,
        format!("User: arn:aws:iam::000000000000:root is not authorized to perform: dynamodb:Scan on resource: {other} because no resource-based policy allows the dynamodb:Scan action")
    );
    // A well-formed ARN of a table that does not exist.
    let e = err(
        &db,
        "GetItem",
        json!({"TableName": "arn:aws:dynamodb:us-east-1:000000000000:table/nope", "Key": {"pk": {"S": "a"}}}),
    );
    assert_eq!(e.message, "Requested resource not found");
    // CreateTable takes names only.
    let e = err(
        &db,
        "CreateTable",
        json!({"TableName": arn, "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}], "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST"}),
    );
    assert_eq!(
        validation(&e),
        format!("1 validation error detected: Value '{arn}' at 'tableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+")
    );
    ok(&db, "DeleteTable", json!({ "TableName": arn }));
    assert!(err(&db, "DescribeTable", json!({ "TableName": "arnt" }))
        .message
        .contains("not found"));
}

#[test]
fn single_item_writes_list_their_request_validation_errors_as_dynamodb_does() {
    let db = db();
    create(&db, "lst", None);
    let listed = |op: &str, body: Value, text: &str| {
        let e = err(&db, op, body);
        assert_eq!(
            validation(&e),
            format!("1 validation error detected: {text}"),
            "{op}"
        );
    };
    let key = json!({"pk": {"S": "a"}});
    listed(
        "UpdateItem",
        json!({"TableName": "lst", "Key": key, "UpdateExpression": "SET a = :v SET b = :v",
            "ExpressionAttributeValues": {":v": {"S": "x"}}}),
        "Invalid UpdateExpression: The \"SET\" section can only be used once in an update expression;",
    );
    listed(
        "UpdateItem",
        json!({"TableName": "lst", "Key": key, "UpdateExpression": ""}),
        "Invalid UpdateExpression: The expression can not be empty;",
    );
    listed(
        "PutItem",
        json!({"TableName": "lst", "Item": {"pk": {"S": "a"}},
            "ExpressionAttributeValues": {":unused": {"S": "x"}}, "ConditionExpression": "attribute_exists(pk)"}),
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:unused}",
    );
    listed(
        "DeleteItem",
        json!({"TableName": "lst", "Key": key, "ConditionExpression": "attribute_exists(#a)",
            "ExpressionAttributeNames": {"#a": "a", "#b": "b"}}),
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#b}",
    );
    // An empty set (in an item, a key, an expression value), and the same texts from reads
    // and transactions, are bare.
    let e = err(
        &db,
        "PutItem",
        json!({"TableName": "lst", "Item": {"pk": {"S": "a"}, "s": {"NS": []}}}),
    );
    assert_eq!(
        validation(&e),
        "One or more parameter values were invalid: An number set  may not be empty"
    );
    let e = err(
        &db,
        "UpdateItem",
        json!({"TableName": "lst", "Key": key, "UpdateExpression": "ADD s :e",
            "ExpressionAttributeValues": {":e": {"SS": []}}}),
    );
    assert_eq!(
        validation(&e),
        "ExpressionAttributeValues contains invalid value: One or more parameter values were invalid: An string set  may not be empty for key :e"
    );
    let e = err(
        &db,
        "DeleteItem",
        json!({"TableName": "lst", "Key": {"pk": {"SS": []}}}),
    );
    assert_eq!(
        validation(&e),
        "One or more parameter values were invalid: An string set  may not be empty"
    );
    let e = err(
        &db,
        "Query",
        json!({"TableName": "lst", "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": "a"}, ":unused": {"S": "x"}}}),
    );
    assert_eq!(
        validation(&e),
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:unused}"
    );
    let e = err(
        &db,
        "TransactWriteItems",
        json!({"TransactItems": [{"Update": {"TableName": "lst", "Key": key,
            "UpdateExpression": "SET a = :v SET b = :v", "ExpressionAttributeValues": {":v": {"S": "x"}}}}]}),
    );
    assert!(
        !validation(&e).starts_with("1 validation error"),
        "{}",
        e.message
    );
}

#[test]
fn batch_get_stops_before_an_item_that_would_pass_16_mb() {
    let db = db();
    create(&db, "big", None);
    let blob = "x".repeat(350_000);
    for i in 0..50 {
        ok(
            &db,
            "PutItem",
            json!({"TableName": "big", "Item": {"pk": {"S": format!("k{i:02}")}, "v": {"S": blob}}}),
        );
    }
    let keys: Vec<Value> = (0..50)
        .map(|i| json!({"pk": {"S": format!("k{i:02}")}}))
        .collect();
    let out = ok(
        &db,
        "BatchGetItem",
        json!({"RequestItems": {"big": {"Keys": keys}}, "ReturnConsumedCapacity": "TOTAL"}),
    );
    let got = out["Responses"]["big"].as_array().expect("items").len();
    let left = out["UnprocessedKeys"]["big"]["Keys"]
        .as_array()
        .expect("unprocessed")
        .len();
    // Each item is 350,000 + 5 bytes: 47 fit in 16 MiB, the 48th would not.
    assert_eq!((got, left), (47, 3));
    // Only the returned items are charged (86 units each, eventually consistent: 43).
    assert_eq!(
        out["ConsumedCapacity"][0]["CapacityUnits"],
        json!(47.0 * 43.0)
    );
}

#[test]
fn transact_get_capacity_names_read_units_and_charges_missing_items() {
    let db = db();
    create(&db, "tgt", None);
    ok(
        &db,
        "PutItem",
        json!({"TableName": "tgt", "Item": {"pk": {"S": "p"}}}),
    );
    let r = ok(
        &db,
        "TransactGetItems",
        json!({"ReturnConsumedCapacity": "INDEXES", "TransactItems": [
            {"Get": {"TableName": "tgt", "Key": {"pk": {"S": "p"}}}},
            {"Get": {"TableName": "tgt", "Key": {"pk": {"S": "missing"}}}}]}),
    );
    assert_eq!(
        r["ConsumedCapacity"],
        json!([{"TableName": "tgt", "CapacityUnits": 4.0, "ReadCapacityUnits": 4.0,
            "Table": {"CapacityUnits": 4.0, "ReadCapacityUnits": 4.0}}])
    );
    // A single-item read gives the total alone.
    let r = ok(
        &db,
        "GetItem",
        json!({"TableName": "tgt", "Key": {"pk": {"S": "p"}}, "ReturnConsumedCapacity": "TOTAL"}),
    );
    assert_eq!(
        r["ConsumedCapacity"],
        json!({"TableName": "tgt", "CapacityUnits": 0.5})
    );
}

#[test]
fn a_transaction_action_whose_key_does_not_fit_the_schema_cancels_it() {
    let db = db();
    create(&db, "txv", None);
    let e = err(
        &db,
        "TransactWriteItems",
        json!({"TransactItems": [
            {"Put": {"TableName": "txv", "Item": {"pk": {"S": "ok"}}}},
            {"Put": {"TableName": "txv", "Item": {"pk": {"N": "5"}}}},
            {"Delete": {"TableName": "txv", "Key": {"pk": {"L": [{"S": "x"}]}}}}]}),
    );
    assert_eq!(e.code, ErrorCode::TransactionCanceledException, "{e}");
    assert_eq!(
        e.extra["CancellationReasons"],
        json!([{"Code": "None"},
            {"Code": "ValidationError", "Message": "One or more parameter values were invalid: Type mismatch for key pk expected: S actual: N"},
            {"Code": "ValidationError", "Message": "The provided key element does not match the schema"}])
    );
    // Nothing was written; an empty key value is still the whole request's error.
    assert!(ok(
        &db,
        "GetItem",
        json!({"TableName": "txv", "Key": {"pk": {"S": "ok"}}})
    )
    .get("Item")
    .is_none());
    let e = err(
        &db,
        "TransactWriteItems",
        json!({"TransactItems": [{"Delete": {"TableName": "txv", "Key": {"pk": {"S": ""}}}}]}),
    );
    assert_eq!(e.code, ErrorCode::ValidationException);
}

#[test]
fn update_item_measures_what_it_writes_plus_its_clauses_and_a_transaction_does_not() {
    let db = db();
    create(&db, "usz", None);
    // Key `pk`="K" is 3 bytes; `b` + padding is the rest. One SET clause costs 3 + 19, so the
    // update may write at most 409,578 bytes: the finished item at most 409,581.
    let set_b = |k: &str, total: usize| {
        let pad = "x".repeat(total - 3 - 1);
        call(
            &db,
            "UpdateItem",
            json!({"TableName": "usz", "Key": {"pk": {"S": k}}, "UpdateExpression": "SET b = :p",
                "ExpressionAttributeValues": {":p": {"S": pad}}}),
        )
    };
    set_b("K", 409_581).expect("at the update's ceiling");
    let e = set_b("L", 409_582).expect_err("one byte over");
    assert_eq!(
        validation(&e),
        "Item size to update has exceeded the maximum allowed size"
    );
    // An attribute the update leaves alone (`u`, 11 bytes) buys its bytes back: the finished
    // item may reach 409,592 bytes, `b` 409,578 (padding 409,577).
    let seeded_set_b = |k: &str, pad: usize| {
        ok(
            &db,
            "PutItem",
            json!({"TableName": "usz", "Item": {"pk": {"S": k}, "u": {"S": "y".repeat(10)}}}),
        );
        call(
            &db,
            "UpdateItem",
            json!({"TableName": "usz", "Key": {"pk": {"S": k}}, "UpdateExpression": "SET b = :p",
                "ExpressionAttributeValues": {":p": {"S": "x".repeat(pad)}}}),
        )
    };
    seeded_set_b("M", 409_577).expect("the untouched attribute's bytes bought back");
    seeded_set_b("O", 409_578).expect_err("one byte over");
    // A transaction's Update is measured on the finished item alone.
    let pad = "x".repeat(409_600 - 3 - 1);
    ok(
        &db,
        "TransactWriteItems",
        json!({"TransactItems": [{"Update": {"TableName": "usz", "Key": {"pk": {"S": "N"}},
            "UpdateExpression": "SET b = :p", "ExpressionAttributeValues": {":p": {"S": pad}}}}]}),
    );
}

#[test]
fn tags_of_another_accounts_table_are_access_denied_and_batch_gets_may_not_mix_styles() {
    let db = db();
    create(&db, "tga", None);
    create(&db, "tgb", None);
    let other = "arn:aws:dynamodb:us-east-1:111111111111:table/tga";
    for (op, body) in [
        ("ListTagsOfResource", json!({"ResourceArn": other})),
        (
            "TagResource",
            json!({"ResourceArn": other, "Tags": [{"Key": "k", "Value": "v"}]}),
        ),
        (
            "UntagResource",
            json!({"ResourceArn": other, "TagKeys": ["k"]}),
        ),
    ] {
        let e = err(&db, op, body);
        assert_eq!(e.code, ErrorCode::AccessDeniedException, "{op}: {e}");
    }
    let e = err(
        &db,
        "BatchGetItem",
        json!({"RequestItems": {
            "tga": {"Keys": [{"pk": {"S": "a"}}], "ProjectionExpression": "pk"},
            "tgb": {"Keys": [{"pk": {"S": "b"}}], "AttributesToGet": ["pk"]}}}),
    );
    assert!(
        validation(&e).starts_with("Can not use both expression and non-expression parameters"),
        "{}",
        e.message
    );
}

#[test]
fn a_transact_get_whose_key_does_not_fit_cancels_it() {
    let db = db();
    create(&db, "tgk", None);
    let e = err(
        &db,
        "TransactGetItems",
        json!({"TransactItems": [
            {"Get": {"TableName": "tgk", "Key": {"pk": {"S": "a"}}}},
            {"Get": {"TableName": "tgk", "Key": {}}}]}),
    );
    assert_eq!(e.code, ErrorCode::TransactionCanceledException, "{e}");
    assert_eq!(
        e.extra["CancellationReasons"],
        json!([{"Code": "None"},
            {"Code": "ValidationError", "Message": "The provided key element does not match the schema"}])
    );
}

/// DynamoDB's 32 levels (an attribute is level 1), on every write surface, as the service
/// answered in eu-west-2 and us-east-1 in 2026: an item or an UpdateItem expression value
/// nested deeper is refused; a transaction's expression values are not checked (its condition
/// is evaluated), but what a transaction would store is.
#[test]
fn nesting_limit_on_every_write_surface() {
    let db = db();
    create(&db, "nest", None);
    let deep = |wraps: usize| {
        let mut v = json!({"S": "leaf"});
        for _ in 0..wraps {
            v = json!({"M": {"n": v}});
        }
        v
    };
    let nesting = |e: &ApiError| {
        assert_eq!(e.code, ErrorCode::ValidationException, "{}", e.message);
        assert_eq!(e.message, crate::limits::NESTING_DEPTH_MESSAGE);
    };
    ok(
        &db,
        "PutItem",
        json!({"TableName": "nest", "Item": {"pk": {"S": "a"}, "d": deep(31)}}),
    );
    nesting(&err(
        &db,
        "PutItem",
        json!({"TableName": "nest", "Item": {"pk": {"S": "b"}, "d": deep(32)}}),
    ));
    nesting(&err(
        &db,
        "BatchWriteItem",
        json!({"RequestItems": {"nest": [{"PutRequest": {"Item": {"pk": {"S": "b"}, "d": deep(32)}}}]}}),
    ));
    nesting(&err(
        &db,
        "TransactWriteItems",
        json!({"TransactItems": [{"Put": {"TableName": "nest", "Item": {"pk": {"S": "b"}, "d": deep(32)}}}]}),
    ));
    // UpdateItem checks its expression values up front.
    let e = err(
        &db,
        "UpdateItem",
        json!({"TableName": "nest", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET t = :t",
               "ConditionExpression": "#d = :deep", "ExpressionAttributeNames": {"#d": "x"},
               "ExpressionAttributeValues": {":t": {"S": "y"}, ":deep": deep(32)}}),
    );
    nesting(&e);
    let e = err(
        &db,
        "UpdateItem",
        json!({"TableName": "nest", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET t = :t",
               "ConditionExpression": "#d = :deep", "ExpressionAttributeNames": {"#d": "x"},
               "ExpressionAttributeValues": {":t": {"S": "y"}, ":deep": deep(31)}}),
    );
    assert_eq!(e.code, ErrorCode::ConditionalCheckFailedException);
    // A transaction evaluates the condition with the deep value...
    for action in [
        json!({"Update": {"TableName": "nest", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET t = :t",
               "ConditionExpression": "#d = :deep", "ExpressionAttributeNames": {"#d": "x"},
               "ExpressionAttributeValues": {":t": {"S": "y"}, ":deep": deep(32)}}}),
        json!({"ConditionCheck": {"TableName": "nest", "Key": {"pk": {"S": "a"}},
               "ConditionExpression": "#d = :deep", "ExpressionAttributeNames": {"#d": "x"},
               "ExpressionAttributeValues": {":deep": deep(32)}}}),
    ] {
        let e = err(
            &db,
            "TransactWriteItems",
            json!({"TransactItems": [action]}),
        );
        assert_eq!(
            e.code,
            ErrorCode::TransactionCanceledException,
            "{}",
            e.message
        );
        assert!(
            e.message.ends_with("[ConditionalCheckFailed]"),
            "{}",
            e.message
        );
    }
    // ...and cancels one that would store it, with the action's ValidationError.
    let e = err(
        &db,
        "TransactWriteItems",
        json!({"TransactItems": [{"Update": {"TableName": "nest", "Key": {"pk": {"S": "a"}},
               "UpdateExpression": "SET deep = :deep", "ExpressionAttributeValues": {":deep": deep(32)}}}]}),
    );
    assert_eq!(
        e.code,
        ErrorCode::TransactionCanceledException,
        "{}",
        e.message
    );
    assert!(e.message.ends_with("[ValidationError]"), "{}", e.message);
}

/// A set comes back in DynamoDB's member order, not as written: strings and binaries
/// bytewise, numbers by value (captured from the service, eu-west-2, 2026); an ADD keeps it.
#[test]
fn set_members_come_back_in_dynamodb_order() {
    let db = db();
    create(&db, "sets", None);
    ok(
        &db,
        "PutItem",
        json!({"TableName": "sets", "Item": {"pk": {"S": "a"},
               "ss": {"SS": ["b", "", "a"]}, "ns": {"NS": ["10", "2", "-1", "2.5"]},
               "bs": {"BS": ["Yg==", "AA==", "YQ=="]}}}),
    );
    ok(
        &db,
        "UpdateItem",
        json!({"TableName": "sets", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "ADD ss :v, ns :n",
               "ExpressionAttributeValues": {":v": {"SS": ["ab", " "]}, ":n": {"NS": ["-10"]}}}),
    );
    let got = ok(
        &db,
        "GetItem",
        json!({"TableName": "sets", "Key": {"pk": {"S": "a"}}}),
    );
    assert_eq!(got["Item"]["ss"], json!({"SS": ["", " ", "a", "ab", "b"]}));
    assert_eq!(
        got["Item"]["ns"],
        json!({"NS": ["-10", "-1", "2", "2.5", "10"]})
    );
    assert_eq!(got["Item"]["bs"], json!({"BS": ["AA==", "YQ==", "Yg=="]}));
}
