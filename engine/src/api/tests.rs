use std::sync::Arc;

use serde_json::{json, Value};

use super::*;
use crate::kv::MemKv;

fn db() -> Database {
    Database::new(Arc::new(MemKv::new()), DatabaseOptions::default()).expect("db")
}

fn call(db: &Database, op: &str, body: Value) -> Result<Value, ApiError> {
    db.execute(op, body.to_string().as_bytes())
}

fn create(db: &Database, name: &str, sort: bool) {
    let mut ks = vec![json!({"AttributeName": "pk", "KeyType": "HASH"})];
    let mut ad = vec![json!({"AttributeName": "pk", "AttributeType": "S"})];
    if sort {
        ks.push(json!({"AttributeName": "sk", "KeyType": "RANGE"}));
        ad.push(json!({"AttributeName": "sk", "AttributeType": "N"}));
    }
    call(db, "CreateTable", json!({"TableName": name, "KeySchema": ks, "AttributeDefinitions": ad, "BillingMode": "PAY_PER_REQUEST"}))
        .expect("create");
}

#[test]
fn put_get_delete_round_trip_and_errors() {
    let db = db();
    create(&db, "items", false);
    call(
        &db,
        "PutItem",
        json!({"TableName": "items", "Item": {"pk": {"S": "a"}, "n": {"N": "1.50"}}}),
    )
    .expect("put");
    let got = call(
        &db,
        "GetItem",
        json!({"TableName": "items", "Key": {"pk": {"S": "a"}}}),
    )
    .expect("get");
    assert_eq!(got["Item"]["n"], json!({"N": "1.5"}));
    let e = call(
        &db,
        "GetItem",
        json!({"TableName": "nope", "Key": {"pk": {"S": "a"}}}),
    )
    .expect_err("missing table");
    assert_eq!(e.code, ErrorCode::ResourceNotFoundException);
    let e = call(
        &db,
        "GetItem",
        json!({"TableName": "items", "Key": {"pk": {"N": "1"}}}),
    )
    .expect_err("bad key");
    assert_eq!(
        e.message,
        "The provided key element does not match the schema"
    );
    let e = db.execute("PutItem", b"{not json").expect_err("bad json");
    assert_eq!(e.code, ErrorCode::SerializationException);
    // Nested 32 levels below the attribute (33 in all), and 100 (past serde_json's own limit
    // of 128 JSON levels): both the nesting limit, as DynamoDB answers.
    for depth in [32, 100] {
        let mut deep = json!({"S": "leaf"});
        for _ in 0..depth {
            deep = json!({"M": {"n": deep}});
        }
        let e = call(
            &db,
            "PutItem",
            json!({"TableName": "items", "Item": {"pk": {"S": "deep"}, "d": deep}}),
        )
        .expect_err("too deep");
        assert_eq!(e.code, ErrorCode::ValidationException, "{depth}");
        assert_eq!(e.message, crate::limits::NESTING_DEPTH_MESSAGE, "{depth}");
    }
    let e = call(
        &db,
        "PutItem",
        json!({"TableName": "items", "Item": {"pk": {"S": 5}}}),
    )
    .expect_err("wrong type");
    assert_eq!(e.code, ErrorCode::SerializationException);
    let e = call(&db, "Frobnicate", json!({})).expect_err("unknown");
    assert_eq!(e.code, ErrorCode::UnknownOperationException);
    let old = call(
        &db,
        "DeleteItem",
        json!({"TableName": "items", "Key": {"pk": {"S": "a"}}, "ReturnValues": "ALL_OLD"}),
    )
    .expect("delete");
    assert_eq!(old["Attributes"]["pk"], json!({"S": "a"}));
    assert_eq!(
        call(
            &db,
            "GetItem",
            json!({"TableName": "items", "Key": {"pk": {"S": "a"}}})
        )
        .expect("get"),
        json!({})
    );
}

#[test]
fn concurrent_conditional_increments_lose_no_update() {
    let db = Arc::new(db());
    create(&db, "counters", false);
    call(
        &db,
        "PutItem",
        json!({"TableName": "counters", "Item": {"pk": {"S": "c"}, "n": {"N": "0"}}}),
    )
    .expect("put");
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                let mut done = 0;
                while done < 100 {
                    let cur = call(&db, "GetItem", json!({"TableName": "counters", "Key": {"pk": {"S": "c"}}, "ConsistentRead": true}))
                        .expect("get");
                    let n = cur["Item"]["n"]["N"].as_str().expect("n").to_string();
                    let r = call(&db, "UpdateItem", json!({
                        "TableName": "counters", "Key": {"pk": {"S": "c"}},
                        "UpdateExpression": "SET n = n + :one", "ConditionExpression": "n = :cur",
                        "ExpressionAttributeValues": {":one": {"N": "1"}, ":cur": {"N": n}}
                    }));
                    match r {
                        Ok(_) => done += 1,
                        Err(e) => assert_eq!(e.code, ErrorCode::ConditionalCheckFailedException),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("join");
    }
    let got = call(
        &db,
        "GetItem",
        json!({"TableName": "counters", "Key": {"pk": {"S": "c"}}}),
    )
    .expect("get");
    assert_eq!(got["Item"]["n"], json!({"N": "400"}));
}

#[test]
fn transactions_are_all_or_nothing_and_idempotent() {
    let db = db();
    create(&db, "txn", true);
    let put = |pk: &str, sk: i32| json!({"Put": {"TableName": "txn", "Item": {"pk": {"S": pk}, "sk": {"N": sk.to_string()}}}});
    let req = json!({"TransactItems": [put("a", 1), put("b", 2)], "ClientRequestToken": "tok"});
    call(&db, "TransactWriteItems", req.clone()).expect("tx");
    call(&db, "TransactWriteItems", req).expect("same token, same request");
    let other = json!({"TransactItems": [put("c", 3)], "ClientRequestToken": "tok"});
    assert_eq!(
        call(&db, "TransactWriteItems", other)
            .expect_err("mismatch")
            .code,
        ErrorCode::IdempotentParameterMismatchException
    );
    let failing = json!({"TransactItems": [
        put("d", 4),
        {"ConditionCheck": {"TableName": "txn", "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}}, "ConditionExpression": "attribute_not_exists(pk)"}}
    ]});
    let e = call(&db, "TransactWriteItems", failing).expect_err("cancelled");
    assert_eq!(e.code, ErrorCode::TransactionCanceledException);
    assert_eq!(e.extra["CancellationReasons"][0]["Code"], json!("None"));
    assert_eq!(
        e.extra["CancellationReasons"][1]["Code"],
        json!("ConditionalCheckFailed")
    );
    let d = call(
        &db,
        "GetItem",
        json!({"TableName": "txn", "Key": {"pk": {"S": "d"}, "sk": {"N": "4"}}}),
    )
    .expect("get");
    assert_eq!(d, json!({}), "the cancelled transaction wrote nothing");
}

#[test]
fn query_pages_with_limit_and_filters_after_the_limit() {
    let db = db();
    create(&db, "qry", true);
    for i in 0..10 {
        call(&db, "PutItem", json!({"TableName": "qry", "Item": {"pk": {"S": "p"}, "sk": {"N": i.to_string()}, "odd": {"BOOL": i % 2 == 1}}}))
            .expect("put");
    }
    let mut seen = Vec::new();
    let mut start: Option<Value> = None;
    loop {
        let mut body = json!({
            "TableName": "qry", "KeyConditionExpression": "pk = :p AND sk >= :lo",
            "FilterExpression": "odd = :t", "Limit": 3,
            "ExpressionAttributeValues": {":p": {"S": "p"}, ":lo": {"N": "2"}, ":t": {"BOOL": true}}
        });
        if let Some(s) = &start {
            body["ExclusiveStartKey"] = s.clone();
        }
        let r = call(&db, "Query", body).expect("query");
        assert!(r["ScannedCount"].as_u64().expect("scanned") <= 3);
        for it in r["Items"].as_array().expect("items") {
            seen.push(it["sk"]["N"].as_str().expect("n").to_string());
        }
        match r.get("LastEvaluatedKey") {
            Some(k) => start = Some(k.clone()),
            None => break,
        }
    }
    assert_eq!(seen, vec!["3", "5", "7", "9"]);
}

/// Reads answer a [`ReadResponse`] whose bytes are those of the `Value` `execute` returns,
/// for every shape: found and missing items, projections, capacity, paging, counts, batches.
#[test]
fn read_responses_serialise_as_their_value() {
    let db = db();
    create(&db, "enc", true);
    create(&db, "enc2", false);
    let rich = json!({
        "s": {"S": "q\"\\\n é 😀"}, "n": {"N": "1.50"}, "b": {"B": "AAE="}, "t": {"BOOL": true},
        "z": {"NULL": true}, "ss": {"SS": ["b", "a"]}, "ns": {"NS": ["10", "-0.5"]},
        "bs": {"BS": ["AA==", "/+8="]},
        "m": {"M": {"x": {"L": [{"N": "1E2"}, {"M": {"y": {"S": ""}}}]}, "e": {"M": {}}}}
    });
    for sk in 1..=5 {
        let mut item = rich.clone();
        item["pk"] = json!({"S": "a"});
        item["sk"] = json!({"N": sk.to_string()});
        call(&db, "PutItem", json!({"TableName": "enc", "Item": item})).expect("put");
    }
    call(
        &db,
        "PutItem",
        json!({"TableName": "enc2", "Item": {"pk": {"S": "k"}, "v": {"N": "7"}}}),
    )
    .expect("put");
    let key = |sk: i64| json!({"pk": {"S": "a"}, "sk": {"N": sk.to_string()}});
    let requests = [
        (
            "GetItem",
            json!({"TableName": "enc", "Key": key(1), "ReturnConsumedCapacity": "TOTAL"}),
        ),
        (
            "GetItem",
            json!({"TableName": "enc", "Key": key(9), "ReturnConsumedCapacity": "INDEXES"}),
        ),
        (
            "GetItem",
            json!({"TableName": "enc", "Key": key(2), "ProjectionExpression": "n, m.x[1], #b", "ExpressionAttributeNames": {"#b": "bs"}}),
        ),
        (
            "GetItem",
            json!({"TableName": "enc", "Key": key(3), "ConsistentRead": true}),
        ),
        (
            "Query",
            json!({"TableName": "enc", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "a"}}}),
        ),
        (
            "Query",
            json!({"TableName": "enc", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "a"}}, "Limit": 2, "ScanIndexForward": false, "ReturnConsumedCapacity": "INDEXES"}),
        ),
        (
            "Query",
            json!({"TableName": "enc", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "a"}}, "Select": "COUNT", "ReturnConsumedCapacity": "TOTAL"}),
        ),
        (
            "Query",
            json!({"TableName": "enc", "KeyConditionExpression": "pk = :p", "FilterExpression": "n > :n", "ExpressionAttributeValues": {":p": {"S": "a"}, ":n": {"N": "5"}}}),
        ),
        (
            "Query",
            json!({"TableName": "enc", "KeyConditionExpression": "pk = :p AND sk > :s", "ProjectionExpression": "sk, ss", "ExpressionAttributeValues": {":p": {"S": "a"}, ":s": {"N": "3"}}}),
        ),
        ("Scan", json!({"TableName": "enc"})),
        (
            "Scan",
            json!({"TableName": "enc", "Limit": 1, "ReturnConsumedCapacity": "TOTAL"}),
        ),
        (
            "Scan",
            json!({"TableName": "enc2", "Segment": 0, "TotalSegments": 2}),
        ),
        (
            "BatchGetItem",
            json!({"RequestItems": {
            "enc": {"Keys": [key(1), key(8), key(4)], "ProjectionExpression": "s, b"},
            "enc2": {"Keys": [{"pk": {"S": "k"}}, {"pk": {"S": "none"}}], "ConsistentRead": true}
        }, "ReturnConsumedCapacity": "TOTAL"}),
        ),
        (
            "BatchGetItem",
            json!({"RequestItems": {"enc2": {"Keys": [{"pk": {"S": "none"}}]}}}),
        ),
        (
            "TransactGetItems",
            json!({"TransactItems": [
            {"Get": {"TableName": "enc", "Key": key(5)}},
            {"Get": {"TableName": "enc", "Key": key(7)}},
            {"Get": {"TableName": "enc2", "Key": {"pk": {"S": "k"}}, "ProjectionExpression": "v"}}
        ], "ReturnConsumedCapacity": "TOTAL"}),
        ),
    ];
    for (op, body) in requests {
        let text = body.to_string();
        let answer = db.respond(op, text.as_bytes()).expect(op);
        assert!(matches!(answer, Response::Read(_)), "{op} {text}");
        let tree = db.execute(op, text.as_bytes()).expect(op);
        let direct = serde_json::to_vec(&answer).expect("serialise");
        assert_eq!(
            String::from_utf8_lossy(&answer.to_json_vec().expect("fast")),
            String::from_utf8_lossy(&direct),
            "{op} {text}"
        );
        assert_eq!(
            String::from_utf8_lossy(&direct),
            String::from_utf8_lossy(&serde_json::to_vec(&tree).expect("serialise")),
            "{op} {text}"
        );
        assert_eq!(answer.into_value().expect("tree"), tree, "{op} {text}");
    }
    // Field order as DynamoDB's SDKs see it, pinned.
    let got = db
        .respond(
            "GetItem",
            json!({"TableName": "enc2", "Key": {"pk": {"S": "k"}}, "ReturnConsumedCapacity": "TOTAL"})
                .to_string()
                .as_bytes(),
        )
        .expect("get");
    assert_eq!(
        serde_json::to_string(&got).expect("serialise"),
        r#"{"ConsumedCapacity":{"TableName":"enc2","CapacityUnits":0.5},"Item":{"pk":{"S":"k"},"v":{"N":"7"}}}"#
    );
    let got = db
        .respond(
            "Query",
            json!({"TableName": "enc2", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "k"}}, "Limit": 1, "ReturnConsumedCapacity": "TOTAL"})
                .to_string()
                .as_bytes(),
        )
        .expect("query");
    assert_eq!(
        serde_json::to_string(&got).expect("serialise"),
        r#"{"Items":[{"pk":{"S":"k"},"v":{"N":"7"}}],"Count":1,"ScannedCount":1,"LastEvaluatedKey":{"pk":{"S":"k"}},"ConsumedCapacity":{"TableName":"enc2","CapacityUnits":0.5}}"#
    );
    // Writes and the control plane still answer trees.
    let put = db
        .respond(
            "PutItem",
            json!({"TableName": "enc2", "Item": {"pk": {"S": "w"}}})
                .to_string()
                .as_bytes(),
        )
        .expect("put");
    assert_eq!(put, Response::Json(json!({})));
}

/// Whole items are answered from their stored bytes. Bytes that decode but are not what the
/// codec writes (a number in non-canonical text, a boolean stored as 2) answer as their decoded
/// item; bytes that do not decode give `decode_item`'s error from every read, not an answer.
#[test]
fn reads_of_stored_bytes_answer_the_decoded_item_or_its_error() {
    use crate::kv::KvWrite;
    use crate::model::{decode_item, encode_item, item_from_json, ITEM_FORMAT_VERSION};

    let db = db();
    create(&db, "raw", true);
    for sk in 1..=3 {
        let item = json!({"pk": {"S": "a"}, "sk": {"N": sk.to_string()}, "v": {"S": "x"}});
        call(&db, "PutItem", json!({"TableName": "raw", "Item": item})).expect("put");
    }
    let t = db.tables().table("raw", "GetItem").expect("table");
    let key = t
        .schema
        .key_of(&item_from_json(&json!({"pk": {"S": "a"}, "sk": {"N": "2"}})).expect("key"))
        .expect("storage key");
    let store = |value: Vec<u8>| {
        db.tables()
            .kv
            .write(vec![KvWrite {
                space: t.space(),
                key: key.clone(),
                value: Some(value),
            }])
            .expect("write");
    };
    let reads = [
        (
            "GetItem",
            json!({"TableName": "raw", "Key": {"pk": {"S": "a"}, "sk": {"N": "2"}}}),
        ),
        (
            "Query",
            json!({"TableName": "raw", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "a"}}}),
        ),
        ("Scan", json!({"TableName": "raw", "Select": "COUNT"})),
        (
            "BatchGetItem",
            json!({"RequestItems": {"raw": {"Keys": [{"pk": {"S": "a"}, "sk": {"N": "2"}}]}}}),
        ),
    ];

    // Not canonical: attributes "b" (BOOL stored as 2), "n" (N "1.50"), then the key.
    let text = |out: &mut Vec<u8>, s: &str| {
        out.extend((s.len() as u32).to_le_bytes());
        out.extend(s.as_bytes());
    };
    let mut odd = vec![ITEM_FORMAT_VERSION, 4, 0, 0, 0];
    text(&mut odd, "b");
    odd.extend([4, 2]);
    text(&mut odd, "n");
    odd.push(2);
    text(&mut odd, "1.50");
    text(&mut odd, "pk");
    odd.push(1);
    text(&mut odd, "a");
    text(&mut odd, "sk");
    odd.push(2);
    text(&mut odd, "2");
    let decoded = decode_item(&odd).expect("decodes");
    assert_ne!(encode_item(&decoded), odd);
    store(odd);
    for (op, body) in &reads {
        let text = body.to_string();
        let answer = db.respond(op, text.as_bytes()).expect(op);
        let json = serde_json::to_string(&answer).expect("serialise");
        let tree = db.execute(op, text.as_bytes()).expect(op);
        assert_eq!(
            json,
            serde_json::to_string(&tree).expect("serialise"),
            "{op}"
        );
        if *op != "Scan" {
            assert!(
                json.contains(
                    r#"{"b":{"BOOL":true},"n":{"N":"1.5"},"pk":{"S":"a"},"sk":{"N":"2"}}"#
                ),
                "{op}: {json}"
            );
        }
    }

    // Corrupt: a valid encoding cut short, and one with an unknown value tag.
    let good = encode_item(&decoded);
    let mut bad_tag = good.clone();
    let at = bad_tag.len() - 6; // the tag of "sk"'s value: tag ‖ u32 length ‖ "2"
    assert_eq!(bad_tag[at], 2);
    bad_tag[at] = 11;
    for corrupt in [good[..good.len() - 1].to_vec(), bad_tag] {
        let expected = ApiError::from(decode_item(&corrupt).expect_err("corrupt"));
        assert!(expected.message.starts_with("stored item is corrupt"));
        store(corrupt);
        for (op, body) in &reads {
            let e = db
                .respond(op, body.to_string().as_bytes())
                .expect_err("corrupt item");
            assert_eq!(e, expected, "{op}");
        }
    }
}

/// DynamoDB validates a request's values before it looks its table up: an invalid request
/// naming a missing table is a ValidationException, and a type error anywhere is a
/// SerializationException before a missing member is reported.
#[test]
fn requests_are_validated_before_their_table_is_looked_up() {
    let db = db();
    create(&db, "present", false);
    let big = "x".repeat(400 * 1024);
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "PutItem",
            json!({"TableName": "absent", "Item": {"pk": {"S": "a"}, "v": {"S": big}}}),
            "Item size has exceeded the maximum allowed size",
        ),
        (
            "GetItem",
            json!({"TableName": "absent", "Key": {"pk": {"N": "1e126"}}}),
            "Number overflow. Attempting to store a number with magnitude larger than supported range",
        ),
        (
            "DeleteItem",
            json!({"TableName": "absent", "Key": {"pk": {"SS": []}}}),
            "One or more parameter values were invalid: An string set  may not be empty",
        ),
        (
            "UpdateItem",
            json!({"TableName": "absent", "Key": {"pk": {"S": "a", "N": "1"}}}),
            "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
        ),
        (
            "BatchGetItem",
            json!({"RequestItems": {"absent": {"Keys": [{"pk": {"S": "a"}}, {"pk": {"S": "a"}}]}}}),
            "Provided list of item keys contains duplicates",
        ),
        (
            "BatchWriteItem",
            json!({"RequestItems": {"absent": [{"PutRequest": {"Item": {"pk": {"NS": []}}}}]}}),
            "One or more parameter values were invalid: An number set  may not be empty",
        ),
        // The first action names a missing table, the second holds an invalid value.
        (
            "TransactWriteItems",
            json!({"TransactItems": [
                {"Put": {"TableName": "absent", "Item": {"pk": {"S": "a"}}}},
                {"Put": {"TableName": "present", "Item": {"pk": {"N": "x"}}}}
            ]}),
            "The parameter cannot be converted to a numeric value: x",
        ),
        (
            "Query",
            json!({"TableName": "absent", "KeyConditions": {"pk": {"ComparisonOperator": "EQ"}}}),
            "One or more parameter values were invalid: Invalid number of argument(s) for the EQ ComparisonOperator",
        ),
        // A start key's validation errors are prefixed; what is met while reading the request
        // (numbers, an empty number set, a set's duplicates) is not, as DynamoDB answers.
        (
            "Scan",
            json!({"TableName": "absent", "ExclusiveStartKey": {"pk": {"SS": []}}}),
            "The provided starting key is invalid: One or more parameter values were invalid: An string set  may not be empty",
        ),
        (
            "Scan",
            json!({"TableName": "absent", "ExclusiveStartKey": {"pk": {"NS": []}}}),
            "One or more parameter values were invalid: An number set  may not be empty",
        ),
        (
            "Query",
            json!({"TableName": "absent", "KeyConditionExpression": "pk = :v", "ExpressionAttributeValues": {":v": {"S": "a"}}, "ExclusiveStartKey": {"pk": {"N": "1e126"}}}),
            "Number overflow. Attempting to store a number with magnitude larger than supported range",
        ),
        // A number is converted before the value is found to hold two types.
        (
            "GetItem",
            json!({"TableName": "absent", "Key": {"pk": {"S": "a", "N": "b"}}}),
            "The parameter cannot be converted to a numeric value: b",
        ),
        // An unknown member of an attribute value is ignored.
        (
            "GetItem",
            json!({"TableName": "absent", "Key": {"pk": {"a": ""}}}),
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
        ),
        (
            "Scan",
            json!({"TableName": "absent", "FilterExpression": "a = :v"}),
            "Invalid FilterExpression: An expression attribute value used in expression is not defined; attribute value: :v",
        ),
    ];
    for (op, body, message) in cases {
        let e = call(&db, op, body.clone()).expect_err(op);
        assert_eq!(e.code, ErrorCode::ValidationException, "{op} {body}");
        assert_eq!(e.message, message, "{op}");
    }
    // A valid request to a missing table is still ResourceNotFoundException.
    let e = call(&db, "Query", json!({"TableName": "absent", "KeyConditionExpression": "pk = :v", "ExpressionAttributeValues": {":v": {"S": "a"}}}))
        .expect_err("missing table");
    assert_eq!(e.code, ErrorCode::ResourceNotFoundException);
    // Type errors come before the missing TableName.
    for (op, body) in [
        ("GetItem", json!({"ConsistentRead": "maybe"})),
        ("PutItem", json!({"Item": {"x": {"S": 23}}})),
        ("UpdateItem", json!({"Expected": {"x": {"Exists": 23}}})),
        ("Query", json!({"Limit": "2"})),
    ] {
        let e = call(&db, op, body.clone()).expect_err(op);
        assert_eq!(
            e.code,
            ErrorCode::SerializationException,
            "{op} {body}: {}",
            e.message
        );
    }
    call(
        &db,
        "PutItem",
        json!({"TableName": "present", "Item": {"pk": {"S": "d", "foo": "ignored"}}}),
    )
    .expect("an unknown member is ignored");
    // DynamoDB's parser reads these strings as booleans, the legacy Exists included.
    call(&db, "PutItem", json!({"TableName": "present", "Item": {"pk": {"S": "c"}}, "Expected": {"pk": {"Exists": "false"}}})).expect("Exists as a string");
    let e = call(&db, "PutItem", json!({"TableName": "present", "Item": {"pk": {"S": "c"}}, "Expected": {"pk": {"Exists": "no"}}})).expect_err("the item exists now");
    assert_eq!(e.code, ErrorCode::ConditionalCheckFailedException);
    call(&db, "PutItem", json!({"TableName": "present", "Item": {"pk": {"S": "b"}, "t": {"BOOL": "yes"}, "z": {"NULL": "1"}}})).expect("string booleans");
    let got = call(
        &db,
        "GetItem",
        json!({"TableName": "present", "Key": {"pk": {"S": "b"}}, "ConsistentRead": "true"}),
    )
    .expect("get");
    assert_eq!(got["Item"]["t"], json!({"BOOL": true}));
    assert_eq!(got["Item"]["z"], json!({"NULL": true}));
}

#[test]
fn table_management_calls_check_their_table_name_first() {
    let db = db();
    let long = "a".repeat(256);
    let length = "TableName must be at least 3 characters long and at most 255 characters long";
    let required = "The parameter 'TableName' is required but was not present in the request";
    // An empty name is reported alone against its model bound (1–1024, ARNs included), by
    // every operation, as DynamoDB does today.
    let empty = "1 validation error detected: Value '' at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 1";
    for op in [
        "CreateTable",
        "DescribeTable",
        "DeleteTable",
        "UpdateTable",
        "DescribeTimeToLive",
        "UpdateTimeToLive",
    ] {
        let cases = [
            (json!({}), required),
            (json!({"TableName": ""}), empty),
            (json!({"TableName": "a;"}), length),
            (json!({ "TableName": long }), length),
        ];
        // CreateTable's name is checked in the constraint list (below).
        let cases = if op == "CreateTable" {
            &cases[..2]
        } else {
            &cases[..]
        };
        for (body, message) in cases {
            let e = call(&db, op, body.clone()).expect_err(op);
            assert_eq!(e.code, ErrorCode::ValidationException, "{op} {body}");
            assert_eq!(e.message, *message, "{op} {body}");
        }
    }
    let e = call(&db, "CreateTable", json!({"TableName": "ab", "KeySchema": [{"AttributeName": "a", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "a", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST"}))
        .expect_err("short name");
    assert_eq!(e.message, "1 validation error detected: Value 'ab' at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 3");
    // The name's pattern stays in the constraint list, and the data plane keeps the list
    // for every rule.
    let e = call(&db, "DescribeTable", json!({"TableName": "abc;"})).expect_err("pattern");
    assert_eq!(e.message, "1 validation error detected: Value 'abc;' at 'tableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+");
    let e = call(&db, "Query", json!({"TableName": ""})).expect_err("query");
    assert_eq!(e.message, empty);
    let e = call(&db, "Query", json!({"TableName": "ab"})).expect_err("query");
    assert_eq!(e.message, "1 validation error detected: Value 'ab' at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 3");
}

#[test]
fn update_time_to_live_reports_its_specification_as_dynamodb_does() {
    let db = db();
    create(&db, "ttl", false);
    let cases = [
        // A missing specification is not in DynamoDB's list.
        (
            json!({"TableName": "abc;"}),
            "1 validation error detected: Value 'abc;' at 'tableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        ),
        (
            json!({"TableName": "ttl"}),
            "1 validation error detected: Value null at 'timeToLiveSpecification' failed to satisfy constraint: Member must not be null",
        ),
        (
            json!({"TableName": "absent", "TimeToLiveSpecification": {}}),
            "2 validation errors detected: Value null at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member must not be null; Value null at 'timeToLiveSpecification.enabled' failed to satisfy constraint: Member must not be null",
        ),
        (
            json!({"TableName": "absent", "TimeToLiveSpecification": {"AttributeName": "", "Enabled": true}}),
            "TimeToLiveSpecification.AttributeName must be non empty",
        ),
    ];
    for (body, message) in cases {
        let e = call(&db, "UpdateTimeToLive", body.clone()).expect_err("invalid");
        assert_eq!(e.code, ErrorCode::ValidationException, "{body}");
        assert_eq!(e.message, message, "{body}");
    }
}

#[test]
fn key_condition_expression_shape_is_checked_before_the_table_lookup() {
    let db = db();
    let cases = [
        ("attribute_type(a, :a)", "Invalid operator used in KeyConditionExpression: attribute_type"),
        ("a > :a and b > :a or c > :a", "Invalid operator used in KeyConditionExpression: OR"),
        ("a between size(b) and :a", "KeyConditionExpressions cannot contain nested operations"),
        ("a.d > :a", "KeyConditionExpressions cannot have conditions on nested attributes"),
        ("b > a", "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition"),
        (":a > :b", "Invalid condition in KeyConditionExpression: No key attribute specified"),
        ("b > :a and b < :a", "KeyConditionExpressions must only contain one condition per key"),
        ("a = :a and b = :a and c = :a", "Conditions can be of length 1 or 2 only"),
        (
            "begins_with(:a, b)",
            "Invalid condition in KeyConditionExpression: begins_with operator must have the key attribute as its first operand",
        ),
    ];
    for (expr, message) in cases {
        let mut body = json!({"TableName": "absent", "KeyConditionExpression": expr});
        for (p, v) in [(":a", "S"), (":b", "T")] {
            if expr.contains(p) {
                body["ExpressionAttributeValues"][p] = json!({ "S": v });
            }
        }
        let e = call(&db, "Query", body).expect_err(expr);
        assert_eq!(e.code, ErrorCode::ValidationException, "{expr}");
        assert_eq!(e.message, message, "{expr}");
    }
    // Only the schema's checks need the table: a well-formed condition on a missing table is
    // ResourceNotFoundException even when it names no key attribute of any table.
    let e = call(&db, "Query", json!({"TableName": "absent", "KeyConditionExpression": "z = :a", "ExpressionAttributeValues": {":a": {"S": "x"}}}))
        .expect_err("missing table");
    assert_eq!(e.code, ErrorCode::ResourceNotFoundException);
}

#[test]
fn query_start_key_is_checked_around_the_key_conditions() {
    let db = db();
    create(&db, "ranged", true);
    let no_key = json!({"z": {"ComparisonOperator": "NULL"}});
    let on_pk = json!({"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "a"}]}});
    let cases = [
        // Before the key conditions: the number of attributes, then the partition key.
        (json!({}), &no_key, "The provided starting key is invalid"),
        (
            json!({"pk": {"S": "a"}}),
            &no_key,
            "The provided starting key is invalid",
        ),
        (
            json!({"x": {"S": "a"}, "y": {"N": "1"}}),
            &no_key,
            "The provided starting key is invalid",
        ),
        (
            json!({"pk": {"N": "1"}, "x": {"N": "1"}}),
            &no_key,
            "The provided key element does not match the schema",
        ),
        // A good partition key: the key conditions, then the sort key.
        (
            json!({"pk": {"S": "a"}, "sk": {"S": "1"}}),
            &no_key,
            "Query condition missed key schema element: pk",
        ),
        (
            json!({"pk": {"S": "a"}, "sk": {"S": "1"}}),
            &on_pk,
            "The provided key element does not match the schema",
        ),
        (
            json!({"pk": {"S": "a"}, "x": {"N": "1"}}),
            &on_pk,
            "The provided starting key is invalid",
        ),
    ];
    for (esk, kc, message) in cases {
        let body = json!({"TableName": "ranged", "ExclusiveStartKey": esk, "KeyConditions": kc});
        let e = call(&db, "Query", body.clone()).expect_err("invalid start key");
        assert_eq!(e.message, message, "{body}");
    }
}

#[test]
fn legacy_condition_operators_are_in_the_constraint_list_at_their_member_paths() {
    let db = db();
    let e = call(&db, "Query", json!({"TableName": "absent", "KeyConditions": {"a": {"ComparisonOperator": ""}}, "QueryFilter": {"b": {}}}))
        .expect_err("query");
    assert_eq!(e.message, "2 validation errors detected: Value null at 'queryFilter.b.member.comparisonOperator' failed to satisfy constraint: Member must not be null; Value '' at 'keyConditions.a.member.comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]");
    let e = call(
        &db,
        "Scan",
        json!({"TableName": "absent", "ScanFilter": {"b": {}}}),
    )
    .expect_err("scan");
    assert_eq!(e.message, "1 validation error detected: Value null at 'scanFilter.b.member.comparisonOperator' failed to satisfy constraint: Member must not be null");
    // DynamoDB lists ten violations; its order decides which.
    let e = call(&db, "Scan", json!({"TableName": "abc;", "ReturnConsumedCapacity": "hi", "AttributesToGet": [], "IndexName": "abc;", "Segment": -1, "TotalSegments": -1, "Select": "hi", "Limit": -1, "ScanFilter": {"a": {}, "b": {"ComparisonOperator": ""}}, "ConditionalOperator": "AN"}))
        .expect_err("eleven");
    assert!(
        e.message.starts_with("10 validation errors detected: "),
        "{}",
        e.message
    );
    assert!(!e.message.contains("attributesToGet"), "{}", e.message);
}

#[test]
fn update_table_and_tagging_check_their_members_before_the_table() {
    let db = db();
    let e = call(&db, "UpdateTable", json!({"TableName": "absent", "GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": "ix1"}}, {"Delete": {"IndexName": "ix1"}}]}))
        .expect_err("repeated");
    assert_eq!(e.code, ErrorCode::ValidationException);
    assert_eq!(e.message, "One or more parameter values were invalid: Only one global secondary index update per index is allowed simultaneously. Index: ix1");
    for op in ["TagResource", "UntagResource", "ListTagsOfResource"] {
        let e = call(&db, op, json!({})).expect_err(op);
        assert_eq!(e.message, "Invalid TableArn", "{op}");
    }
    let short = "arn:aws:dynamodb:us-east-1:000000000000:table/ab";
    for (op, body) in [
        ("TagResource", json!({"ResourceArn": short, "Tags": []})),
        (
            "UntagResource",
            json!({"ResourceArn": short, "TagKeys": []}),
        ),
    ] {
        let e = call(&db, op, body).expect_err(op);
        assert_eq!(
            e.message,
            format!("Invalid TableArn: Invalid ResourceArn provided as input {short}"),
            "{op}"
        );
    }
    let absent = "arn:aws:dynamodb:us-east-1:000000000000:table/absent";
    let e = call(
        &db,
        "UntagResource",
        json!({"ResourceArn": absent, "TagKeys": ["k"]}),
    )
    .expect_err("untag");
    assert_eq!(e.code, ErrorCode::ResourceNotFoundException);
    assert_eq!(e.message, "Requested resource not found");
    let e = call(
        &db,
        "TagResource",
        json!({"ResourceArn": absent, "Tags": [{"Key": "k", "Value": "v"}]}),
    )
    .expect_err("tag");
    assert_eq!(
        e.message,
        format!("Requested resource not found: ResourcArn: {absent} not found")
    );
}

/// A range table `dyn_range` (a S, b S) with a local index `lsi` (a, c S), a global index `gsi1` (c S)
/// and a global keys-only index `gsi2` (c S, d S), like dynalite's `dyn_range`.
fn create_dyn_range(db: &Database) {
    let ad: Vec<Value> = ["a", "b", "c", "d"]
        .iter()
        .map(|n| json!({"AttributeName": n, "AttributeType": "S"}))
        .collect();
    let ks = |h: &str, r: Option<&str>| {
        let mut k = vec![json!({"AttributeName": h, "KeyType": "HASH"})];
        if let Some(r) = r {
            k.push(json!({"AttributeName": r, "KeyType": "RANGE"}));
        }
        Value::Array(k)
    };
    call(db, "CreateTable", json!({
        "TableName": "dyn_range", "BillingMode": "PAY_PER_REQUEST", "AttributeDefinitions": ad,
        "KeySchema": ks("a", Some("b")),
        "LocalSecondaryIndexes": [{"IndexName": "lsi", "KeySchema": ks("a", Some("c")), "Projection": {"ProjectionType": "ALL"}}],
        "GlobalSecondaryIndexes": [
            {"IndexName": "gsi1", "KeySchema": ks("c", None), "Projection": {"ProjectionType": "ALL"}},
            {"IndexName": "gsi2", "KeySchema": ks("c", Some("d")), "Projection": {"ProjectionType": "KEYS_ONLY"}},
        ],
    }))
    .expect("create dyn_range");
}

#[test]
fn scan_index_start_key_follows_query_messages() {
    let db = db();
    create_dyn_range(&db);
    let invalid = "The provided starting key is invalid";
    let mismatch = "The provided key element does not match the schema";
    let base =
        "The provided starting key is invalid: The provided key element does not match the schema";
    let cases = [
        // The wrong size, or an index key missing: bare "invalid".
        ("lsi", json!({"a": {"S": "a"}, "b": {"S": "a"}}), None, invalid),
        ("gsi1", json!({"a": {"S": "a"}, "b": {"S": "a"}, "z": {"S": "a"}}), None, invalid),
        // An index key of another type: bare "does not match".
        ("lsi", json!({"a": {"N": "1"}, "x": {"S": "1"}, "y": {"S": "1"}}), None, mismatch),
        ("lsi", json!({"a": {"S": "a"}, "b": {"S": "a"}, "c": {"N": "1"}}), None, mismatch),
        ("gsi1", json!({"x": {"S": "1"}, "y": {"S": "1"}, "c": {"N": "1"}}), None, mismatch),
        ("gsi2", json!({"x": {"N": "1"}, "y": {"N": "1"}, "c": {"S": "1"}, "d": {"N": "1"}}), None, mismatch),
        // The index keys right, the table's missing or mistyped: prefixed.
        ("gsi1", json!({"x": {"N": "1"}, "y": {"N": "1"}, "c": {"S": "a"}}), None, base),
        ("lsi", json!({"a": {"S": "1"}, "b": {"N": "1"}, "c": {"S": "a"}}), None, base),
        // The index's keys come before Select on a keys-only global index, the table's after.
        ("gsi2", json!({"a": {"N": "1"}, "b": {"N": "1"}, "c": {"S": "1"}, "e": {"N": "1"}}), Some("ALL_ATTRIBUTES"), invalid),
        ("gsi2", json!({"x": {"N": "1"}, "y": {"N": "1"}, "c": {"S": "a"}, "d": {"S": "a"}}), Some("ALL_ATTRIBUTES"),
            "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index gsi2 because its projection type is not ALL"),
    ];
    for (ix, esk, select, message) in cases {
        let mut body = json!({"TableName": "dyn_range", "IndexName": ix, "ExclusiveStartKey": esk});
        if let Some(s) = select {
            body["Select"] = json!(s);
        }
        let e = call(&db, "Scan", body.clone()).expect_err("invalid start key");
        assert_eq!(e.message, message, "{body}");
    }
    // A valid index start key still pages.
    call(&db, "Scan", json!({"TableName": "dyn_range", "IndexName": "gsi2", "ExclusiveStartKey": {"a": {"S": "1"}, "b": {"S": "1"}, "c": {"S": "a"}, "d": {"S": "a"}}}))
        .expect("scan from a start key");
}

#[test]
fn create_table_checks_index_key_schemas_before_projections() {
    let db = db();
    let ad = json!([{"AttributeName": "a", "AttributeType": "S"}, {"AttributeName": "b", "AttributeType": "S"}]);
    let ks = json!([{"AttributeName": "a", "KeyType": "HASH"}, {"AttributeName": "b", "KeyType": "RANGE"}]);
    let cases = [
        (json!([{"AttributeName": "a", "KeyType": "RANGE"}, {"AttributeName": "b", "KeyType": "RANGE"}]),
            "Invalid KeySchema: The first KeySchemaElement is not a HASH key type"),
        (json!([{"AttributeName": "a", "KeyType": "HASH"}, {"AttributeName": "a", "KeyType": "RANGE"}]),
            "Both the Hash Key and the Range Key element in the KeySchema have the same name"),
        (json!([{"AttributeName": "c", "KeyType": "HASH"}, {"AttributeName": "d", "KeyType": "RANGE"}]),
            "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [c, d], AttributeDefinitions: [a, b]"),
        (json!([{"AttributeName": "b", "KeyType": "HASH"}]),
            "One or more parameter values were invalid: Index KeySchema does not have a range key for index: abc"),
    ];
    for (iks, message) in cases {
        for projection in [json!({}), json!({"NonKeyAttributes": ["x"]})] {
            let body = json!({"TableName": "tab1", "BillingMode": "PAY_PER_REQUEST", "AttributeDefinitions": ad, "KeySchema": ks,
                "LocalSecondaryIndexes": [{"IndexName": "abc", "KeySchema": iks, "Projection": projection}]});
            let e = call(&db, "CreateTable", body.clone()).expect_err("bad index");
            assert_eq!(e.message, message, "{body}");
        }
    }
    // With a good key schema, the projection's own errors.
    let iks = json!([{"AttributeName": "a", "KeyType": "HASH"}, {"AttributeName": "b", "KeyType": "RANGE"}]);
    for (projection, message) in [
        (json!({}), "One or more parameter values were invalid: Unknown ProjectionType: null"),
        (json!({"ProjectionType": "ALL", "NonKeyAttributes": ["x"]}), "One or more parameter values were invalid: ProjectionType is ALL, but NonKeyAttributes is specified"),
        (json!({"ProjectionType": "INCLUDE"}), "One or more parameter values were invalid: ProjectionType is INCLUDE, but NonKeyAttributes is not specified"),
    ] {
        for kind in ["LocalSecondaryIndexes", "GlobalSecondaryIndexes"] {
            let mut body = json!({"TableName": "tab1", "BillingMode": "PAY_PER_REQUEST", "AttributeDefinitions": ad, "KeySchema": ks});
            body[kind] = json!([{"IndexName": "abc", "KeySchema": iks, "Projection": projection}]);
            let e = call(&db, "CreateTable", body.clone()).expect_err("bad projection");
            assert_eq!(e.message, message, "{body}");
        }
    }
    // UpdateTable's Create takes the same order.
    create(&db, "plain", false);
    let e = call(&db, "UpdateTable", json!({"TableName": "plain",
        "AttributeDefinitions": [{"AttributeName": "c", "AttributeType": "S"}],
        "GlobalSecondaryIndexUpdates": [{"Create": {"IndexName": "gsix", "KeySchema": [{"AttributeName": "c", "KeyType": "RANGE"}], "Projection": {}}}]}))
    .expect_err("update table");
    assert_eq!(
        e.message,
        "Invalid KeySchema: The first KeySchemaElement is not a HASH key type"
    );
}
