//! Secondary indexes through [`Database::execute`]: creation and validation, maintenance by
//! every write path, Query and Scan on indexes, paging, capacity, online creation with
//! backfill, persistence across reopen, and a property test that every index always equals the
//! index recomputed from the table.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{json, Value};

use super::tests::{call, db, ok};
use crate::api::{Database, DatabaseOptions, ErrorCode};
use crate::db::EngineOptions;

fn h(n: &str) -> Value {
    json!({"AttributeName": n, "KeyType": "HASH"})
}
fn r(n: &str) -> Value {
    json!({"AttributeName": n, "KeyType": "RANGE"})
}
fn def(n: &str, t: &str) -> Value {
    json!({"AttributeName": n, "AttributeType": t})
}

/// `idx`: pk (S) + sk (N); GSI `byCity` (city S, age N, ALL); GSI `byTag` (tag S, KEYS_ONLY);
/// LSI `byAge` (pk, age N, INCLUDE name).
fn create_indexed(db: &Database, name: &str) -> Value {
    ok(
        db,
        "CreateTable",
        json!({
            "TableName": name,
            "KeySchema": [h("pk"), r("sk")],
            "AttributeDefinitions": [def("pk", "S"), def("sk", "N"), def("city", "S"), def("age", "N"), def("tag", "S")],
            "BillingMode": "PAY_PER_REQUEST",
            "GlobalSecondaryIndexes": [
                {"IndexName": "byCity", "KeySchema": [h("city"), r("age")], "Projection": {"ProjectionType": "ALL"}},
                {"IndexName": "byTag", "KeySchema": [h("tag")], "Projection": {"ProjectionType": "KEYS_ONLY"}},
            ],
            "LocalSecondaryIndexes": [
                {"IndexName": "byAge", "KeySchema": [h("pk"), r("age")], "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["name"]}},
            ],
        }),
    )
}

fn person(pk: &str, sk: i64, city: Option<&str>, age: Option<i64>, tag: Option<&str>) -> Value {
    let mut i = json!({"pk": {"S": pk}, "sk": {"N": sk.to_string()}, "name": {"S": format!("{pk}-{sk}")}, "extra": {"S": "x"}});
    if let Some(c) = city {
        i["city"] = json!({"S": c});
    }
    if let Some(a) = age {
        i["age"] = json!({"N": a.to_string()});
    }
    if let Some(t) = tag {
        i["tag"] = json!({"S": t});
    }
    i
}

fn put(db: &Database, table: &str, item: Value) {
    ok(db, "PutItem", json!({"TableName": table, "Item": item}));
}

fn query_index(db: &Database, table: &str, index: &str, kce: &str, vals: Value) -> Value {
    ok(
        db,
        "Query",
        json!({"TableName": table, "IndexName": index, "KeyConditionExpression": kce, "ExpressionAttributeValues": vals}),
    )
}

fn names(resp: &Value) -> Vec<String> {
    resp["Items"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| {
                    format!(
                        "{}-{}",
                        i["pk"]["S"].as_str().unwrap_or("?"),
                        i["sk"]["N"].as_str().unwrap_or("?")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn create_table_describes_its_indexes() {
    let db = db();
    let out = create_indexed(&db, "idx");
    let d = &out["TableDescription"];
    let gsis = d["GlobalSecondaryIndexes"].as_array().expect("gsis");
    assert_eq!(gsis.len(), 2);
    assert_eq!(gsis[0]["IndexName"], "byCity");
    assert_eq!(gsis[0]["IndexStatus"], "ACTIVE");
    assert_eq!(gsis[0]["KeySchema"], json!([h("city"), r("age")]));
    assert!(gsis[0]["IndexArn"]
        .as_str()
        .is_some_and(|a| a.ends_with("table/idx/index/byCity")));
    let lsis = d["LocalSecondaryIndexes"].as_array().expect("lsis");
    assert_eq!(
        lsis[0]["Projection"],
        json!({"ProjectionType": "INCLUDE", "NonKeyAttributes": ["name"]})
    );
    assert!(lsis[0].get("IndexStatus").is_none());
    let desc = ok(&db, "DescribeTable", json!({"TableName": "idx"}));
    assert_eq!(
        desc["Table"]["GlobalSecondaryIndexes"][1]["IndexName"],
        "byTag"
    );
}

#[test]
fn create_table_rejects_bad_index_definitions() {
    let db = db();
    let base = |extra: Value| {
        let mut b = json!({
            "TableName": "bad",
            "KeySchema": [h("pk"), r("sk")],
            "AttributeDefinitions": [def("pk", "S"), def("sk", "S"), def("x", "S")],
            "BillingMode": "PAY_PER_REQUEST",
        });
        if let (Some(o), Some(e)) = (b.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        b
    };
    let all = json!({"ProjectionType": "ALL"});
    let cases = vec![
        (json!({"GlobalSecondaryIndexes": [{"IndexName": "gx1", "KeySchema": [h("y")], "Projection": all}]}),
         "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [y], AttributeDefinitions: [pk, sk, x]"),
        (json!({"LocalSecondaryIndexes": [{"IndexName": "lx1", "KeySchema": [h("x"), r("sk")], "Projection": all}]}),
         "One or more parameter values were invalid: Index KeySchema does not have the same leading hash key as table KeySchema for index: lx1. index hash key: x, table hash key: pk"),
        (json!({"LocalSecondaryIndexes": [{"IndexName": "lx1", "KeySchema": [h("pk")], "Projection": all}]}),
         "One or more parameter values were invalid: Index KeySchema does not have a range key for index: lx1"),
        (json!({"GlobalSecondaryIndexes": [
            {"IndexName": "gx1", "KeySchema": [h("x")], "Projection": all},
            {"IndexName": "gx1", "KeySchema": [h("sk")], "Projection": all}]}),
         "One or more parameter values were invalid: Duplicate index name: gx1"),
        (json!({"GlobalSecondaryIndexes": [{"IndexName": "gx1", "KeySchema": [h("x")], "Projection": {"ProjectionType": "KEYS_ONLY", "NonKeyAttributes": ["a"]}}]}),
         "One or more parameter values were invalid: ProjectionType is KEYS_ONLY, but NonKeyAttributes is specified"),
        (json!({"GlobalSecondaryIndexes": [{"IndexName": "gx1", "KeySchema": [h("x")], "Projection": all, "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}]}),
         "One or more parameter values were invalid: ProvisionedThroughput should not be specified for index: gx1 when BillingMode is PAY_PER_REQUEST"),
        (json!({"GlobalSecondaryIndexes": [{"IndexName": "gx1", "KeySchema": [h("sk")], "Projection": all}]}),
         "One or more parameter values were invalid: Some AttributeDefinitions are not used. AttributeDefinitions: [pk, sk, x], keys used: [pk, sk]"),
    ];
    for (extra, msg) in cases {
        let e = call(&db, "CreateTable", base(extra.clone())).expect_err("rejected");
        assert_eq!(e.code, ErrorCode::ValidationException, "{extra}");
        assert_eq!(e.message, msg, "{extra}");
    }
    let mut provisioned = base(
        json!({"GlobalSecondaryIndexes": [{"IndexName": "gx1", "KeySchema": [h("x")], "Projection": all}]}),
    );
    provisioned["BillingMode"] = json!("PROVISIONED");
    provisioned["ProvisionedThroughput"] = json!({"ReadCapacityUnits": 5, "WriteCapacityUnits": 5});
    let e = call(&db, "CreateTable", provisioned).expect_err("rejected");
    assert_eq!(
        e.message,
        "One or more parameter values were invalid: ProvisionedThroughput must be specified for index: gx1"
    );
    assert!(call(&db, "DescribeTable", json!({"TableName": "bad"})).is_err());
}

#[test]
fn writes_maintain_global_and_local_indexes() {
    let db = db();
    create_indexed(&db, "idx");
    put(
        &db,
        "idx",
        person("a", 1, Some("oslo"), Some(30), Some("t1")),
    );
    put(&db, "idx", person("a", 2, Some("oslo"), Some(20), None));
    put(
        &db,
        "idx",
        person("b", 1, Some("rome"), Some(40), Some("t1")),
    );
    put(&db, "idx", person("c", 1, None, Some(50), None)); // not in byCity (sparse)

    let q = query_index(
        &db,
        "idx",
        "byCity",
        "city = :c",
        json!({":c": {"S": "oslo"}}),
    );
    assert_eq!(names(&q), vec!["a-2", "a-1"], "ordered by age");
    assert_eq!(q["Items"][0]["extra"]["S"], "x", "ALL projects everything");
    let q = query_index(
        &db,
        "idx",
        "byCity",
        "city = :c AND age > :a",
        json!({":c": {"S": "oslo"}, ":a": {"N": "25"}}),
    );
    assert_eq!(names(&q), vec!["a-1"]);
    let q = query_index(&db, "idx", "byTag", "tag = :t", json!({":t": {"S": "t1"}}));
    let mut got = names(&q);
    got.sort();
    assert_eq!(got, vec!["a-1", "b-1"]);
    let keys: BTreeSet<&str> = q["Items"][0]
        .as_object()
        .expect("item")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["pk", "sk", "tag"].into_iter().collect(), "KEYS_ONLY");
    let q = query_index(
        &db,
        "idx",
        "byAge",
        "pk = :p AND age BETWEEN :lo AND :hi",
        json!({":p": {"S": "a"}, ":lo": {"N": "20"}, ":hi": {"N": "30"}}),
    );
    assert_eq!(names(&q), vec!["a-2", "a-1"]);

    // Update moves the entry; a removed key attribute drops it; delete removes it.
    ok(
        &db,
        "UpdateItem",
        json!({"TableName": "idx", "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}},
        "UpdateExpression": "SET city = :r", "ExpressionAttributeValues": {":r": {"S": "rome"}}}),
    );
    let q = query_index(
        &db,
        "idx",
        "byCity",
        "city = :c",
        json!({":c": {"S": "oslo"}}),
    );
    assert_eq!(names(&q), vec!["a-2"]);
    let q = query_index(
        &db,
        "idx",
        "byCity",
        "city = :c",
        json!({":c": {"S": "rome"}}),
    );
    assert_eq!(names(&q), vec!["a-1", "b-1"]);
    ok(
        &db,
        "UpdateItem",
        json!({"TableName": "idx", "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}}, "UpdateExpression": "REMOVE tag"}),
    );
    let q = query_index(&db, "idx", "byTag", "tag = :t", json!({":t": {"S": "t1"}}));
    assert_eq!(names(&q), vec!["b-1"]);
    ok(
        &db,
        "DeleteItem",
        json!({"TableName": "idx", "Key": {"pk": {"S": "b"}, "sk": {"N": "1"}}}),
    );
    let q = query_index(
        &db,
        "idx",
        "byCity",
        "city = :c",
        json!({":c": {"S": "rome"}}),
    );
    assert_eq!(names(&q), vec!["a-1"]);

    // Batches and transactions maintain indexes in the same commit.
    ok(
        &db,
        "BatchWriteItem",
        json!({"RequestItems": {"idx": [
            {"PutRequest": {"Item": person("d", 1, Some("oslo"), Some(10), None)}},
            {"DeleteRequest": {"Key": {"pk": {"S": "a"}, "sk": {"N": "2"}}}},
        ]}}),
    );
    ok(
        &db,
        "TransactWriteItems",
        json!({"TransactItems": [
            {"Put": {"TableName": "idx", "Item": person("e", 1, Some("oslo"), Some(99), None)}},
            {"Update": {"TableName": "idx", "Key": {"pk": {"S": "d"}, "sk": {"N": "1"}}, "UpdateExpression": "SET age = :a", "ExpressionAttributeValues": {":a": {"N": "100"}}}},
        ]}),
    );
    let q = query_index(
        &db,
        "idx",
        "byCity",
        "city = :c",
        json!({":c": {"S": "oslo"}}),
    );
    assert_eq!(names(&q), vec!["e-1", "d-1"]);
}

#[test]
fn index_key_types_are_enforced_and_reads_checked() {
    let db = db();
    create_indexed(&db, "idx");
    let mut bad = person("a", 1, Some("oslo"), None, None);
    bad["age"] = json!({"S": "old"});
    let e = call(&db, "PutItem", json!({"TableName": "idx", "Item": bad})).expect_err("type");
    assert!(
        e.message.starts_with("One or more parameter values were invalid: Type mismatch for Index Key age Expected: N Actual: S IndexName: by"),
        "{}",
        e.message
    );
    let mut empty = person("a", 1, None, None, None);
    empty["tag"] = json!({"S": ""});
    let e = call(&db, "PutItem", json!({"TableName": "idx", "Item": empty})).expect_err("empty");
    assert!(
        e.message.contains("IndexName: byTag, IndexKey: tag"),
        "{}",
        e.message
    );
    let e = call(
        &db,
        "UpdateItem",
        json!({"TableName": "idx", "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}},
        "UpdateExpression": "SET tag = :e", "ExpressionAttributeValues": {":e": {"S": ""}}}),
    )
    .expect_err("update to an empty index key");
    assert_eq!(
        e.message,
        "One or more parameter values are not valid. The update expression attempted to update a secondary index key to a value that is not supported. The AttributeValue for a key attribute cannot contain an empty string value."
    );
    let e = call(
        &db,
        "UpdateItem",
        json!({"TableName": "idx", "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}},
        "UpdateExpression": "SET city = :n", "ExpressionAttributeValues": {":n": {"N": "1"}}}),
    )
    .expect_err("update type");
    assert!(
        e.message.contains("Type mismatch for Index Key city"),
        "{}",
        e.message
    );
    assert!(
        call(
            &db,
            "GetItem",
            json!({"TableName": "idx", "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}}})
        )
        .expect("get")
        .get("Item")
        .is_none(),
        "nothing was written"
    );

    let e = call(
        &db,
        "Query",
        json!({"TableName": "idx", "IndexName": "byCity", "ConsistentRead": true,
        "KeyConditionExpression": "city = :c", "ExpressionAttributeValues": {":c": {"S": "oslo"}}}),
    )
    .expect_err("consistent");
    assert_eq!(
        e.message,
        "Consistent reads are not supported on global secondary indexes"
    );
    let e = call(
        &db,
        "Query",
        json!({"TableName": "idx", "IndexName": "nope",
        "KeyConditionExpression": "city = :c", "ExpressionAttributeValues": {":c": {"S": "oslo"}}}),
    )
    .expect_err("unknown");
    assert_eq!(
        e.message,
        "The table does not have the specified index: nope"
    );
    let e = call(
        &db,
        "Query",
        json!({"TableName": "idx", "IndexName": "byTag", "Select": "ALL_ATTRIBUTES",
        "KeyConditionExpression": "tag = :t", "ExpressionAttributeValues": {":t": {"S": "x"}}}),
    )
    .expect_err("select");
    assert!(
        e.message.contains(
            "Select type ALL_ATTRIBUTES is not supported for global secondary index byTag"
        ),
        "{}",
        e.message
    );
    // The LSI allows consistent reads.
    ok(
        &db,
        "Query",
        json!({"TableName": "idx", "IndexName": "byAge", "ConsistentRead": true,
        "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "a"}}}),
    );
}

#[test]
fn index_pages_resume_from_last_evaluated_key_and_scan_works() {
    let db = db();
    create_indexed(&db, "idx");
    for i in 0..25 {
        // Equal ages in pairs: entries with the same index key still page exactly once each.
        put(
            &db,
            "idx",
            person(&format!("p{i:02}"), 1, Some("oslo"), Some(i / 2), Some("t")),
        );
    }
    for forward in [true, false] {
        let mut seen = Vec::new();
        let mut esk: Option<Value> = None;
        let mut pages = 0;
        loop {
            let mut req = json!({"TableName": "idx", "IndexName": "byCity", "Limit": 4, "ScanIndexForward": forward,
                "KeyConditionExpression": "city = :c", "ExpressionAttributeValues": {":c": {"S": "oslo"}}});
            if let Some(k) = esk.take() {
                req["ExclusiveStartKey"] = k;
            }
            let out = ok(&db, "Query", req);
            seen.extend(out["Items"].as_array().expect("items").iter().map(|i| {
                i["age"]["N"]
                    .as_str()
                    .unwrap_or("")
                    .parse::<i64>()
                    .unwrap_or(-1)
            }));
            pages += 1;
            match out.get("LastEvaluatedKey") {
                Some(k) => {
                    let ks: BTreeSet<&str> = k
                        .as_object()
                        .expect("key")
                        .keys()
                        .map(String::as_str)
                        .collect();
                    assert_eq!(ks, ["age", "city", "pk", "sk"].into_iter().collect());
                    esk = Some(k.clone());
                }
                None => break,
            }
            assert!(pages < 20);
        }
        assert_eq!(seen.len(), 25);
        let mut sorted = seen.clone();
        sorted.sort();
        if !forward {
            sorted.reverse();
        }
        assert_eq!(seen, sorted);
    }
    let mut total = 0;
    for seg in 0..3 {
        let out = ok(
            &db,
            "Scan",
            json!({"TableName": "idx", "IndexName": "byTag", "Segment": seg, "TotalSegments": 3}),
        );
        total += out["Count"].as_u64().unwrap_or(0);
    }
    assert_eq!(total, 25);
}

#[test]
fn local_index_reads_fetch_unprojected_attributes_and_capacity_is_split() {
    let db = db();
    create_indexed(&db, "idx");
    put(&db, "idx", person("a", 1, Some("oslo"), Some(30), None));
    let q = ok(
        &db,
        "Query",
        json!({"TableName": "idx", "IndexName": "byAge", "ReturnConsumedCapacity": "INDEXES",
        "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "a"}}}),
    );
    assert!(
        q["Items"][0].get("extra").is_none(),
        "INCLUDE does not project extra"
    );
    assert_eq!(q["Items"][0]["name"]["S"], "a-1");
    assert_eq!(
        q["ConsumedCapacity"]["LocalSecondaryIndexes"]["byAge"]["CapacityUnits"],
        0.5
    );
    let q = ok(
        &db,
        "Query",
        json!({"TableName": "idx", "IndexName": "byAge", "ProjectionExpression": "extra",
        "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "a"}}}),
    );
    assert_eq!(q["Items"][0]["extra"]["S"], "x", "fetched from the table");
    let w = ok(
        &db,
        "PutItem",
        json!({"TableName": "idx", "ReturnConsumedCapacity": "INDEXES",
        "Item": person("a", 2, Some("oslo"), Some(31), Some("t"))}),
    );
    let c = &w["ConsumedCapacity"];
    assert_eq!(c["Table"]["CapacityUnits"], 1.0);
    assert_eq!(c["GlobalSecondaryIndexes"]["byCity"]["CapacityUnits"], 1.0);
    assert_eq!(c["GlobalSecondaryIndexes"]["byTag"]["CapacityUnits"], 1.0);
    assert_eq!(c["LocalSecondaryIndexes"]["byAge"]["CapacityUnits"], 1.0);
    assert_eq!(c["CapacityUnits"], 4.0);
}

fn wait_active(db: &Database, table: &str, index: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let d = ok(db, "DescribeTable", json!({"TableName": table}));
        let ix = d["Table"]["GlobalSecondaryIndexes"]
            .as_array()
            .and_then(|a| a.iter().find(|i| i["IndexName"] == index).cloned());
        if let Some(i) = ix {
            if i["IndexStatus"] == "ACTIVE" {
                return i;
            }
        }
        assert!(
            Instant::now() < deadline,
            "index {index} never became ACTIVE"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn update_table_adds_a_gsi_with_backfill_and_deletes_it() {
    let db = db();
    ok(
        &db,
        "CreateTable",
        json!({"TableName": "grow", "KeySchema": [h("pk")], "AttributeDefinitions": [def("pk", "S")], "BillingMode": "PAY_PER_REQUEST"}),
    );
    for i in 0..600 {
        let mut item = json!({"pk": {"S": format!("k{i}")}, "g": {"S": format!("g{}", i % 3)}});
        if i % 10 == 0 {
            item["g"] = json!({"N": "1"}); // wrong type for the new index: left out of it
        }
        put(&db, "grow", item);
    }
    let out = ok(
        &db,
        "UpdateTable",
        json!({"TableName": "grow", "AttributeDefinitions": [def("pk", "S"), def("g", "S")],
        "GlobalSecondaryIndexUpdates": [{"Create": {"IndexName": "byG", "KeySchema": [h("g")], "Projection": {"ProjectionType": "ALL"}}}]}),
    );
    assert_eq!(
        out["TableDescription"]["GlobalSecondaryIndexes"][0]["IndexName"],
        "byG"
    );
    // Writes continue during the backfill and are indexed.
    put(&db, "grow", json!({"pk": {"S": "new"}, "g": {"S": "g0"}}));
    wait_active(&db, "grow", "byG");
    let mut count = 0;
    for g in ["g0", "g1", "g2"] {
        let q = ok(
            &db,
            "Query",
            json!({"TableName": "grow", "IndexName": "byG", "Select": "COUNT",
            "KeyConditionExpression": "g = :g", "ExpressionAttributeValues": {":g": {"S": g}}}),
        );
        count += q["Count"].as_u64().unwrap_or(0);
    }
    assert_eq!(count, 540 + 1);
    let e = call(&db, "UpdateTable", json!({"TableName": "grow",
        "GlobalSecondaryIndexUpdates": [{"Create": {"IndexName": "byG", "KeySchema": [h("g")], "Projection": {"ProjectionType": "ALL"}}}]})).expect_err("exists");
    assert_eq!(e.code, ErrorCode::ValidationException);
    // A new index's key attributes must be in the request's own AttributeDefinitions, even
    // one the table defines; a conflicting redeclaration of a table attribute is accepted and
    // changes nothing (DynamoDB, eu-west-2, 2026).
    let e = call(&db, "UpdateTable", json!({"TableName": "grow", "AttributeDefinitions": [def("g3", "S")],
        "GlobalSecondaryIndexUpdates": [{"Create": {"IndexName": "byPk", "KeySchema": [h("pk"), r("g3")],
        "Projection": {"ProjectionType": "KEYS_ONLY"}}}]})).expect_err("pk not in the request");
    assert!(
        e.message
            .contains("Some index key attributes are not defined in AttributeDefinitions"),
        "{}",
        e.message
    );
    ok(
        &db,
        "UpdateTable",
        json!({"TableName": "grow", "AttributeDefinitions": [def("pk", "N"), def("g2", "S")],
        "GlobalSecondaryIndexUpdates": [{"Create": {"IndexName": "byG2", "KeySchema": [h("g2")], "Projection": {"ProjectionType": "KEYS_ONLY"}}}]}),
    );
    let d = ok(&db, "DescribeTable", json!({"TableName": "grow"}));
    let defs = d["Table"]["AttributeDefinitions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        defs.contains(&def("pk", "S")) && !defs.contains(&def("pk", "N")),
        "{defs:?}"
    );
    wait_active(&db, "grow", "byG2");
    ok(
        &db,
        "UpdateTable",
        json!({"TableName": "grow", "GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": "byG2"}}]}),
    );
    let out = ok(
        &db,
        "UpdateTable",
        json!({"TableName": "grow", "GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": "byG"}}]}),
    );
    assert_eq!(
        out["TableDescription"]["GlobalSecondaryIndexes"][0]["IndexStatus"],
        "DELETING"
    );
    let d = ok(&db, "DescribeTable", json!({"TableName": "grow"}));
    assert!(d["Table"].get("GlobalSecondaryIndexes").is_none());
    let e = call(
        &db,
        "Query",
        json!({"TableName": "grow", "IndexName": "byG",
        "KeyConditionExpression": "g = :g", "ExpressionAttributeValues": {":g": {"S": "g0"}}}),
    )
    .expect_err("gone");
    assert_eq!(
        e.message,
        "The table does not have the specified index: byG"
    );
    let e = call(&db, "UpdateTable", json!({"TableName": "grow", "GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": "byG"}}]})).expect_err("missing");
    assert_eq!(e.code, ErrorCode::ResourceNotFoundException);
}

#[test]
fn indexes_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Database::open(
            dir.path(),
            EngineOptions::default(),
            DatabaseOptions::default(),
        )
        .expect("open");
        create_indexed(&db, "idx");
        put(
            &db,
            "idx",
            person("a", 1, Some("oslo"), Some(30), Some("t")),
        );
        put(
            &db,
            "idx",
            person("a", 2, Some("oslo"), Some(20), Some("t")),
        );
        ok(
            &db,
            "DeleteItem",
            json!({"TableName": "idx", "Key": {"pk": {"S": "a"}, "sk": {"N": "2"}}}),
        );
        db.close().expect("close");
    }
    let db = Database::open(
        dir.path(),
        EngineOptions::default(),
        DatabaseOptions::default(),
    )
    .expect("reopen");
    let q = query_index(
        &db,
        "idx",
        "byCity",
        "city = :c",
        json!({":c": {"S": "oslo"}}),
    );
    assert_eq!(names(&q), vec!["a-1"]);
    // A new table's keyspace never collides with an index keyspace.
    ok(
        &db,
        "CreateTable",
        json!({"TableName": "other", "KeySchema": [h("pk")], "AttributeDefinitions": [def("pk", "S")], "BillingMode": "PAY_PER_REQUEST"}),
    );
    put(
        &db,
        "other",
        json!({"pk": {"S": "z"}, "city": {"S": "oslo"}}),
    );
    let q = query_index(
        &db,
        "idx",
        "byCity",
        "city = :c",
        json!({":c": {"S": "oslo"}}),
    );
    assert_eq!(names(&q), vec!["a-1"]);
    ok(&db, "DeleteTable", json!({"TableName": "idx"}));
}

// ---------------------------------------------------------------- property: index == recomputed

#[derive(Debug, Clone)]
enum Op {
    Put(u8, Option<u8>, Option<u8>),
    SetCity(u8, u8),
    RemoveAge(u8),
    Delete(u8),
    Batch(Vec<(u8, Option<u8>)>),
}

fn op() -> impl Strategy<Value = Op> {
    let k = 0u8..8;
    prop_oneof![
        (
            k.clone(),
            proptest::option::of(0u8..3),
            proptest::option::of(0u8..4)
        )
            .prop_map(|(k, c, a)| Op::Put(k, c, a)),
        (k.clone(), 0u8..3).prop_map(|(k, c)| Op::SetCity(k, c)),
        k.clone().prop_map(Op::RemoveAge),
        k.clone().prop_map(Op::Delete),
        proptest::collection::btree_map(k, proptest::option::of(0u8..3), 1..4)
            .prop_map(|m| Op::Batch(m.into_iter().collect())),
    ]
}

fn key(k: u8) -> Value {
    json!({"pk": {"S": format!("k{}", k % 2)}, "sk": {"N": k.to_string()}})
}

fn apply(db: &Database, op: &Op) {
    let cities = ["oslo", "rome", "lima"];
    match op {
        Op::Put(k, c, a) => {
            let mut item = key(*k);
            if let Some(c) = c {
                item["city"] = json!({"S": cities[*c as usize]});
            }
            if let Some(a) = a {
                item["age"] = json!({"N": a.to_string()});
            }
            put(db, "prop", item);
        }
        Op::SetCity(k, c) => {
            ok(
                db,
                "UpdateItem",
                json!({"TableName": "prop", "Key": key(*k), "UpdateExpression": "SET city = :c",
                "ExpressionAttributeValues": {":c": {"S": cities[*c as usize]}}}),
            );
        }
        Op::RemoveAge(k) => {
            ok(
                db,
                "UpdateItem",
                json!({"TableName": "prop", "Key": key(*k), "UpdateExpression": "REMOVE age"}),
            );
        }
        Op::Delete(k) => {
            ok(
                db,
                "DeleteItem",
                json!({"TableName": "prop", "Key": key(*k)}),
            );
        }
        Op::Batch(ws) => {
            let reqs: Vec<Value> = ws
                .iter()
                .map(|(k, c)| match c {
                    Some(c) => {
                        let mut item = key(*k);
                        item["city"] = json!({"S": cities[*c as usize]});
                        item["age"] = json!({"N": "7"});
                        json!({"PutRequest": {"Item": item}})
                    }
                    None => json!({"DeleteRequest": {"Key": key(*k)}}),
                })
                .collect();
            ok(
                db,
                "BatchWriteItem",
                json!({"RequestItems": {"prop": reqs}}),
            );
        }
    }
}

/// The sorted (pk, sk) pairs an index query returns vs the ones a table scan says it should.
fn check_indexes(db: &Database) -> Result<(), TestCaseError> {
    let scan = ok(db, "Scan", json!({"TableName": "prop"}));
    let items = scan["Items"].as_array().cloned().unwrap_or_default();
    let id = |i: &Value| {
        (
            i["pk"]["S"].as_str().unwrap_or("").to_string(),
            i["sk"]["N"].as_str().unwrap_or("").to_string(),
        )
    };
    for city in ["oslo", "rome", "lima"] {
        let mut want: Vec<(i64, (String, String))> = items
            .iter()
            .filter(|i| i["city"]["S"] == city && i.get("age").is_some())
            .map(|i| {
                (
                    i["age"]["N"].as_str().unwrap_or("0").parse().unwrap_or(0),
                    id(i),
                )
            })
            .collect();
        want.sort();
        let got = query_index(
            db,
            "prop",
            "byCity",
            "city = :c",
            json!({":c": {"S": city}}),
        );
        let got: Vec<(i64, (String, String))> = got["Items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|i| {
                (
                    i["age"]["N"].as_str().unwrap_or("0").parse().unwrap_or(0),
                    id(i),
                )
            })
            .collect();
        // Ordered by the index sort key; entries that tie on it come in no promised order.
        prop_assert!(
            got.windows(2).all(|w| w[0].0 <= w[1].0),
            "not ordered by age: {:?}",
            got
        );
        let mut got = got;
        got.sort();
        prop_assert_eq!(got, want, "GSI byCity for {}", city);
    }
    for pk in ["k0", "k1"] {
        let mut want: Vec<(i64, String)> = items
            .iter()
            .filter(|i| i["pk"]["S"] == pk && i.get("age").is_some())
            .map(|i| {
                (
                    i["age"]["N"].as_str().unwrap_or("0").parse().unwrap_or(0),
                    id(i).1,
                )
            })
            .collect();
        want.sort();
        let got = query_index(db, "prop", "byAge", "pk = :p", json!({":p": {"S": pk}}));
        let got: Vec<(i64, String)> = got["Items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|i| {
                (
                    i["age"]["N"].as_str().unwrap_or("0").parse().unwrap_or(0),
                    id(i).1,
                )
            })
            .collect();
        prop_assert_eq!(got, want, "LSI byAge for {}", pk);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, .. ProptestConfig::default() })]

    #[test]
    fn indexes_always_equal_the_index_recomputed_from_the_table(ops in proptest::collection::vec(op(), 1..30)) {
        let db = db();
        ok(&db, "CreateTable", json!({
            "TableName": "prop",
            "KeySchema": [h("pk"), r("sk")],
            "AttributeDefinitions": [def("pk", "S"), def("sk", "N"), def("city", "S"), def("age", "N")],
            "BillingMode": "PAY_PER_REQUEST",
            "GlobalSecondaryIndexes": [{"IndexName": "byCity", "KeySchema": [h("city"), r("age")], "Projection": {"ProjectionType": "KEYS_ONLY"}}],
            "LocalSecondaryIndexes": [{"IndexName": "byAge", "KeySchema": [h("pk"), r("age")], "Projection": {"ProjectionType": "ALL"}}],
        }));
        for op in &ops {
            apply(&db, op);
        }
        check_indexes(&db)?;
    }
}

#[test]
fn concurrent_writers_keep_the_index_exact() {
    let db = Arc::new(db());
    ok(
        &db,
        "CreateTable",
        json!({"TableName": "conc", "KeySchema": [h("pk")],
        "AttributeDefinitions": [def("pk", "S"), def("v", "N")], "BillingMode": "PAY_PER_REQUEST",
        "GlobalSecondaryIndexes": [{"IndexName": "byV", "KeySchema": [h("v")], "Projection": {"ProjectionType": "KEYS_ONLY"}}]}),
    );
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                for i in 0..200 {
                    let k = (i * 7 + t) % 5;
                    ok(&db, "PutItem", json!({"TableName": "conc", "Item": {"pk": {"S": format!("k{k}")}, "v": {"N": ((i + t) % 3).to_string()}}}));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("writer");
    }
    let mut total = 0;
    for v in 0..3 {
        let q = ok(
            &db,
            "Query",
            json!({"TableName": "conc", "IndexName": "byV", "Select": "COUNT",
            "KeyConditionExpression": "v = :v", "ExpressionAttributeValues": {":v": {"N": v.to_string()}}}),
        );
        total += q["Count"].as_u64().unwrap_or(0);
    }
    assert_eq!(total, 5, "one entry per item, no stale entries");
}

#[test]
fn item_collection_metrics_for_tables_with_local_indexes() {
    let db = db();
    create_indexed(&db, "idx");
    let out = ok(
        &db,
        "PutItem",
        json!({"TableName": "idx", "ReturnItemCollectionMetrics": "SIZE",
            "Item": person("a", 1, Some("oslo"), Some(30), None)}),
    );
    assert_eq!(
        out["ItemCollectionMetrics"],
        json!({"ItemCollectionKey": {"pk": {"S": "a"}}, "SizeEstimateRangeGB": [0.0, 1.0]})
    );
    let out = ok(
        &db,
        "UpdateItem",
        json!({"TableName": "idx", "ReturnItemCollectionMetrics": "NONE",
            "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}}, "UpdateExpression": "SET age = :a",
            "ExpressionAttributeValues": {":a": {"N": "31"}}}),
    );
    assert!(out.get("ItemCollectionMetrics").is_none());
    ok(
        &db,
        "CreateTable",
        json!({"TableName": "plain", "KeySchema": [h("pk")],
        "AttributeDefinitions": [def("pk", "S")], "BillingMode": "PAY_PER_REQUEST"}),
    );
    let out = ok(
        &db,
        "PutItem",
        json!({"TableName": "plain", "ReturnItemCollectionMetrics": "SIZE", "Item": {"pk": {"S": "a"}}}),
    );
    assert!(
        out.get("ItemCollectionMetrics").is_none(),
        "only tables with local indexes"
    );
}

/// A 1 KB `person` item in collection `pk`.
fn big_person(pk: &str, sk: i64) -> Value {
    let mut p = person(pk, sk, Some("oslo"), Some(sk), None);
    p["name"] = json!({"S": "n".repeat(1000)});
    p
}

fn limited(dir: &std::path::Path, limit: u64) -> Database {
    Database::open(
        dir,
        EngineOptions::default(),
        DatabaseOptions {
            item_collection_limit_bytes: limit,
            ..DatabaseOptions::default()
        },
    )
    .expect("open")
}

#[test]
fn item_collection_size_limit_is_enforced_on_every_write_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Each item is ~1.05 KB in the table plus ~1.03 KB in the LSI (it projects `name`).
    let limit = 8_000;
    {
        let db = limited(dir.path(), limit);
        create_indexed(&db, "idx");
        let mut stored = 0;
        let err = loop {
            match call(
                &db,
                "PutItem",
                json!({"TableName": "idx", "Item": big_person("a", stored)}),
            ) {
                Ok(_) => stored += 1,
                Err(e) => break e,
            }
            assert!(stored < 100, "the limit never hit");
        };
        assert_eq!(
            err.code,
            ErrorCode::ItemCollectionSizeLimitExceededException
        );
        assert_eq!(err.message, "Collection size exceeded.");
        assert_eq!(
            stored, 3,
            "3 items × ~2.1 KB fit in 8,000 bytes, a 4th does not"
        );
        // Another collection is unaffected; a write that does not grow the collection passes.
        put(&db, "idx", big_person("b", 0));
        ok(
            &db,
            "UpdateItem",
            json!({"TableName": "idx", "Key": {"pk": {"S": "a"}, "sk": {"N": "0"}},
                "UpdateExpression": "SET city = :c", "ExpressionAttributeValues": {":c": {"S": "rome"}}}),
        );
        // Growing an item past the limit fails and changes nothing.
        let e = call(
            &db,
            "UpdateItem",
            json!({"TableName": "idx", "Key": {"pk": {"S": "a"}, "sk": {"N": "0"}},
                "UpdateExpression": "SET extra = :x", "ExpressionAttributeValues": {":x": {"S": "x".repeat(3000)}}}),
        )
        .expect_err("too large");
        assert_eq!(e.code, ErrorCode::ItemCollectionSizeLimitExceededException);
        // BatchWriteItem fails as a whole.
        let e = call(
            &db,
            "BatchWriteItem",
            json!({"RequestItems": {"idx": [
                {"PutRequest": {"Item": big_person("c", 0)}},
                {"PutRequest": {"Item": big_person("a", 50)}},
            ]}}),
        )
        .expect_err("batch");
        assert_eq!(e.code, ErrorCode::ItemCollectionSizeLimitExceededException);
        let got = ok(
            &db,
            "GetItem",
            json!({"TableName": "idx", "Key": {"pk": {"S": "c"}, "sk": {"N": "0"}}}),
        );
        assert!(got.get("Item").is_none(), "nothing of the batch applied");
        // A transaction is cancelled with the reason at the offending action.
        let e = call(
            &db,
            "TransactWriteItems",
            json!({"TransactItems": [
                {"Put": {"TableName": "idx", "Item": big_person("d", 0)}},
                {"Put": {"TableName": "idx", "Item": big_person("a", 51)}},
            ]}),
        )
        .expect_err("transaction");
        assert_eq!(e.code, ErrorCode::TransactionCanceledException);
        let reasons = &e.extra["CancellationReasons"];
        assert_eq!(reasons[0]["Code"], "None");
        assert_eq!(reasons[1]["Code"], "ItemCollectionSizeLimitExceeded");
        // Deleting an item makes room again (the failed writes gave their reservations back).
        ok(
            &db,
            "DeleteItem",
            json!({"TableName": "idx", "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}}}),
        );
        put(&db, "idx", big_person("a", 60));
        db.close().expect("close");
    }
    // After reopen the collection is measured from disk: still full.
    let db = limited(dir.path(), limit);
    let e = call(
        &db,
        "PutItem",
        json!({"TableName": "idx", "Item": big_person("a", 70)}),
    )
    .expect_err("still full after reopen");
    assert_eq!(e.code, ErrorCode::ItemCollectionSizeLimitExceededException);
    // Tables without local indexes have no item collection limit.
    ok(
        &db,
        "CreateTable",
        json!({"TableName": "plain", "KeySchema": [h("pk"), r("sk")],
            "AttributeDefinitions": [def("pk", "S"), def("sk", "N")], "BillingMode": "PAY_PER_REQUEST"}),
    );
    for i in 0..10 {
        put(&db, "plain", big_person("a", i));
    }
}

#[test]
fn concurrent_writers_never_exceed_the_collection_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limit = 40_000;
    let db = Arc::new(limited(dir.path(), limit));
    create_indexed(&db, "idx");
    let handles: Vec<_> = (0..4)
        .map(|th| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                let mut stored = 0;
                for i in 0..40 {
                    if call(
                        &db,
                        "PutItem",
                        json!({"TableName": "idx", "Item": big_person("a", th * 1000 + i)}),
                    )
                    .is_ok()
                    {
                        stored += 1;
                    }
                }
                stored
            })
        })
        .collect();
    let stored: i64 = handles.into_iter().map(|h| h.join().expect("join")).sum();
    let q = ok(
        &db,
        "Query",
        json!({"TableName": "idx", "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": "a"}}}),
    );
    let items = q["Items"].as_array().expect("items");
    assert_eq!(items.len() as i64, stored);
    let mut bytes = 0u64;
    for it in items {
        let item = crate::model::item_from_json(it).expect("item");
        bytes += crate::model::item_size(&item) as u64;
    }
    let lsi = ok(
        &db,
        "Query",
        json!({"TableName": "idx", "IndexName": "byAge", "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": "a"}}}),
    );
    for it in lsi["Items"].as_array().expect("items") {
        let item = crate::model::item_from_json(it).expect("item");
        bytes += crate::model::item_size(&item) as u64;
    }
    assert!(bytes <= limit, "collection holds {bytes} bytes > {limit}");
    assert!(
        bytes + 2 * 2200 > limit,
        "the collection filled up ({bytes} bytes)"
    );
}

#[test]
fn item_collection_metrics_on_batch_writes_and_transactions() {
    let db = db();
    create_indexed(&db, "idx");
    let out = ok(
        &db,
        "BatchWriteItem",
        json!({"ReturnItemCollectionMetrics": "SIZE", "RequestItems": {"idx": [
            {"PutRequest": {"Item": person("a", 1, None, Some(1), None)}},
            {"PutRequest": {"Item": person("a", 2, None, Some(2), None)}},
            {"PutRequest": {"Item": person("b", 1, None, Some(1), None)}},
        ]}}),
    );
    let m = out["ItemCollectionMetrics"]["idx"]
        .as_array()
        .expect("metrics");
    let keys: BTreeSet<String> = m
        .iter()
        .map(|e| {
            e["ItemCollectionKey"]["pk"]["S"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(keys, BTreeSet::from(["a".to_string(), "b".to_string()]));
    assert!(m
        .iter()
        .all(|e| e["SizeEstimateRangeGB"] == json!([0.0, 1.0])));
    let out = ok(
        &db,
        "TransactWriteItems",
        json!({"ReturnItemCollectionMetrics": "SIZE", "TransactItems": [
            {"Put": {"TableName": "idx", "Item": person("c", 1, None, None, None)}},
        ]}),
    );
    assert_eq!(
        out["ItemCollectionMetrics"]["idx"][0]["ItemCollectionKey"],
        json!({"pk": {"S": "c"}})
    );
    let out = ok(
        &db,
        "BatchWriteItem",
        json!({"RequestItems": {"idx": [{"PutRequest": {"Item": person("d", 1, None, None, None)}}]}}),
    );
    assert!(
        out.get("ItemCollectionMetrics").is_none(),
        "only when asked for"
    );
}

/// One step of the crash property test: a write, or a power loss followed by a reopen.
#[derive(Debug, Clone)]
enum Step {
    Write(Op),
    Crash,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => op().prop_map(Step::Write),
        1 => Just(Step::Crash),
    ]
}

/// Every item the stream describes, replayed in order (parents' records before their
/// children's), keyed by (pk, sk).
fn replay_stream(db: &Database) -> std::collections::BTreeMap<(String, String), Value> {
    let d = ok(db, "DescribeTable", json!({"TableName": "prop"}));
    let arn = d["Table"]["LatestStreamArn"]
        .as_str()
        .expect("stream")
        .to_string();
    let desc = ok(db, "Streams.DescribeStream", json!({"StreamArn": arn}));
    let mut records = Vec::new();
    for s in desc["StreamDescription"]["Shards"]
        .as_array()
        .expect("shards")
    {
        let mut it = ok(
            db,
            "Streams.GetShardIterator",
            json!({"StreamArn": arn, "ShardId": s["ShardId"], "ShardIteratorType": "TRIM_HORIZON"}),
        )["ShardIterator"]
            .as_str()
            .expect("it")
            .to_string();
        loop {
            let page = ok(db, "Streams.GetRecords", json!({"ShardIterator": it}));
            let recs = page["Records"].as_array().cloned().unwrap_or_default();
            let empty = recs.is_empty();
            records.extend(recs);
            match page["NextShardIterator"].as_str() {
                Some(n) if !empty => it = n.to_string(),
                _ => break,
            }
        }
    }
    // Sequence numbers are one counter per stream: their order is commit order per item.
    records.sort_by_key(|r| {
        r["dynamodb"]["SequenceNumber"]
            .as_str()
            .unwrap_or("")
            .to_string()
    });
    let mut state = std::collections::BTreeMap::new();
    for r in records {
        let k = &r["dynamodb"]["Keys"];
        let id = (
            k["pk"]["S"].as_str().unwrap_or("").to_string(),
            k["sk"]["N"].as_str().unwrap_or("").to_string(),
        );
        match r["eventName"].as_str() {
            Some("REMOVE") => {
                state.remove(&id);
            }
            _ => {
                state.insert(id, r["dynamodb"]["NewImage"].clone());
            }
        }
    }
    state
}

fn check_stream_replays_table(db: &Database) -> Result<(), TestCaseError> {
    let scan = ok(db, "Scan", json!({"TableName": "prop"}));
    let table: std::collections::BTreeMap<(String, String), Value> = scan["Items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|i| {
            (
                (
                    i["pk"]["S"].as_str().unwrap_or("").to_string(),
                    i["sk"]["N"].as_str().unwrap_or("").to_string(),
                ),
                i,
            )
        })
        .collect();
    prop_assert_eq!(replay_stream(db), table, "the stream replays to the table");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]

    /// Random writes with power losses in between (buffered durability, so a crash loses the
    /// unsynced tail; tiny memtables, so flushes and compactions run): after every recovery
    /// both indexes equal the indexes recomputed from the table, and the stream replays to
    /// exactly the table's items — a write, its index entries and its stream record are
    /// recovered together or not at all.
    #[test]
    fn indexes_and_stream_match_the_table_after_crashes(
        steps in proptest::collection::vec(step(), 1..40),
        sync in any::<bool>(),
        seed in any::<u64>(),
    ) {
        use crate::io::faulty::{FaultConfig, FaultyBackend};
        let dir = tempfile::tempdir().expect("tempdir");
        let open = |seed: u64| {
            let io = Arc::new(FaultyBackend::new(
                Arc::new(crate::io::std_backend::StdBackend::new()),
                FaultConfig::default(),
                seed,
            ));
            let mut eo = EngineOptions {
                io_override: Some(io.clone()),
                durability: if sync {
                    crate::wal::Durability::Sync
                } else {
                    crate::wal::Durability::Buffered { interval: Duration::from_secs(3600) }
                },
                background_threads: 1,
                ..EngineOptions::default()
            };
            eo.tree.memtable_bytes = 4096;
            let db = Database::open(dir.path(), eo, DatabaseOptions::default()).expect("open");
            (db, io)
        };
        let (mut db, mut io) = open(seed);
        ok(&db, "CreateTable", json!({
            "TableName": "prop",
            "KeySchema": [h("pk"), r("sk")],
            "AttributeDefinitions": [def("pk", "S"), def("sk", "N"), def("city", "S"), def("age", "N")],
            "BillingMode": "PAY_PER_REQUEST",
            "GlobalSecondaryIndexes": [{"IndexName": "byCity", "KeySchema": [h("city"), r("age")], "Projection": {"ProjectionType": "KEYS_ONLY"}}],
            "LocalSecondaryIndexes": [{"IndexName": "byAge", "KeySchema": [h("pk"), r("age")], "Projection": {"ProjectionType": "ALL"}}],
            "StreamSpecification": {"StreamEnabled": true, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        }));
        // The table's creation is durable before the first crash.
        db.engine().expect("engine").flush_all().expect("flush");
        for (i, s) in steps.iter().enumerate() {
            match s {
                Step::Write(op) => {
                    apply(&db, op);
                }
                Step::Crash => {
                    let scan_before = ok(&db, "Scan", json!({"TableName": "prop"}))["Items"].clone();
                    io.simulate_crash().expect("crash");
                    drop(db);
                    (db, io) = open(seed ^ (i as u64 + 1));
                    check_indexes(&db)?;
                    check_stream_replays_table(&db)?;
                    if sync {
                        let after = ok(&db, "Scan", json!({"TableName": "prop"}))["Items"].clone();
                        prop_assert_eq!(after, scan_before, "sync durability loses nothing acknowledged");
                    }
                }
            }
        }
        check_indexes(&db)?;
        check_stream_replays_table(&db)?;
    }
}

#[test]
fn update_paths_into_index_keys_are_refused_before_the_item_is_read() {
    let db = db();
    create_indexed(&db, "idx");
    put(&db, "idx", person("a", 1, Some("oslo"), Some(30), None));
    let key = json!({"pk": {"S": "a"}, "sk": {"N": "1"}});
    for expr in [
        "SET city[1] = :v",
        "ADD city.b :n",
        "SET misc = list_append(city[0], :l)",
        "SET misc = if_not_exists(age.x, :v)",
        "REMOVE tag.t SET misc = :v",
    ] {
        let e = call(
            &db,
            "UpdateItem",
            json!({"TableName": "idx", "Key": key, "UpdateExpression": expr,
            "ExpressionAttributeValues": match expr {
                e if e.contains(":l") => json!({":l": {"L": []}}),
                e if e.contains(":n") => json!({":n": {"N": "1"}}),
                _ => json!({":v": {"S": "x"}}),
            }}),
        )
        .expect_err(expr);
        assert!(
            e.message.starts_with(
                "Key attributes must be scalars; list random access '[]' and map lookup '.' are not allowed: IndexKey: "
            ),
            "{expr}: {}",
            e.message
        );
    }
    // Top-level index keys are fine.
    ok(
        &db,
        "UpdateItem",
        json!({"TableName": "idx", "Key": key, "UpdateExpression": "SET city = :v",
            "ExpressionAttributeValues": {":v": {"S": "rome"}}}),
    );
}

#[test]
fn an_index_update_out_of_bounds_names_the_index() {
    let db = db();
    ok(
        &db,
        "CreateTable",
        json!({"TableName": "prov", "KeySchema": [h("pk")],
            "AttributeDefinitions": [def("pk", "S"), def("g", "S")],
            "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
            "GlobalSecondaryIndexes": [{"IndexName": "abc", "KeySchema": [h("g")],
                "Projection": {"ProjectionType": "ALL"},
                "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}}]}),
    );
    let e = call(
        &db,
        "UpdateTable",
        json!({"TableName": "prov", "GlobalSecondaryIndexUpdates": [{"Update": {"IndexName": "abc",
            "ProvisionedThroughput": {"ReadCapacityUnits": 1_000_000_000_001_i64, "WriteCapacityUnits": 5}}}]}),
    )
    .expect_err("out of bounds");
    assert_eq!(
        e.message,
        "Given value 1000000000001 for ReadCapacityUnits is out of bounds for index abc"
    );
}

#[test]
fn an_index_sort_key_over_1024_bytes_is_refused_like_the_tables() {
    let db = db();
    ok(
        &db,
        "CreateTable",
        json!({"TableName": "longsk", "KeySchema": [h("pk")],
            "AttributeDefinitions": [def("pk", "S"), def("g", "S"), def("s", "S")],
            "BillingMode": "PAY_PER_REQUEST",
            "GlobalSecondaryIndexes": [{"IndexName": "bySk", "KeySchema": [h("g"), r("s")],
                "Projection": {"ProjectionType": "ALL"}}]}),
    );
    let long = "y".repeat(1025);
    let want = "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes";
    let e = call(
        &db,
        "PutItem",
        json!({"TableName": "longsk", "Item": {"pk": {"S": "a"}, "g": {"S": "x"}, "s": {"S": long}}}),
    )
    .expect_err("long index sort key");
    assert_eq!(e.message, want);
    put(
        &db,
        "longsk",
        json!({"pk": {"S": "a"}, "g": {"S": "x"}, "s": {"S": "short"}}),
    );
    let e = call(
        &db,
        "UpdateItem",
        json!({"TableName": "longsk", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET s = :l",
            "ExpressionAttributeValues": {":l": {"S": long}}}),
    )
    .expect_err("long index sort key by update");
    assert_eq!(e.message, want);
    // 1024 bytes is within the limit.
    put(
        &db,
        "longsk",
        json!({"pk": {"S": "b"}, "g": {"S": "x"}, "s": {"S": "z".repeat(1024)}}),
    );
}
