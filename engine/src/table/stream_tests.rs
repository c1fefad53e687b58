//! Streams and TTL through [`Database::execute`]: records per modification (none for no-ops),
//! view types, iterator types, ordering, disable/enable, TTL deletes with the service identity.

use serde_json::{json, Value};

use super::tests::{call, db, ok};
use crate::api::{Database, ErrorCode};

fn create_streamed(db: &Database, name: &str, view: &str) -> String {
    let out = ok(
        db,
        "CreateTable",
        json!({"TableName": name, "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
            "StreamSpecification": {"StreamEnabled": true, "StreamViewType": view}}),
    );
    let d = &out["TableDescription"];
    assert_eq!(d["StreamSpecification"]["StreamViewType"], view);
    d["LatestStreamArn"].as_str().expect("arn").to_string()
}

fn shard_iterator(db: &Database, arn: &str, kind: &str, seq: Option<&str>) -> String {
    let d = ok(db, "Streams.DescribeStream", json!({"StreamArn": arn}));
    let shard = d["StreamDescription"]["Shards"][0]["ShardId"]
        .as_str()
        .expect("shard")
        .to_string();
    let mut req = json!({"StreamArn": arn, "ShardId": shard, "ShardIteratorType": kind});
    if let Some(s) = seq {
        req["SequenceNumber"] = json!(s);
    }
    ok(db, "Streams.GetShardIterator", req)["ShardIterator"]
        .as_str()
        .expect("it")
        .to_string()
}

fn records(db: &Database, it: &str) -> (Vec<Value>, Option<String>) {
    let out = ok(db, "Streams.GetRecords", json!({"ShardIterator": it}));
    (
        out["Records"].as_array().cloned().unwrap_or_default(),
        out["NextShardIterator"].as_str().map(str::to_string),
    )
}

fn put(db: &Database, t: &str, pk: &str, v: &str) {
    ok(
        db,
        "PutItem",
        json!({"TableName": t, "Item": {"pk": {"S": pk}, "v": {"S": v}}}),
    );
}

#[test]
fn one_record_per_modification_in_order_with_images() {
    let db = db();
    let arn = create_streamed(&db, "str", "NEW_AND_OLD_IMAGES");
    let it = shard_iterator(&db, &arn, "TRIM_HORIZON", None);
    put(&db, "str", "a", "1");
    put(&db, "str", "a", "1"); // no-op: no record
    put(&db, "str", "a", "2");
    ok(
        &db,
        "DeleteItem",
        json!({"TableName": "str", "Key": {"pk": {"S": "a"}}}),
    );
    ok(
        &db,
        "DeleteItem",
        json!({"TableName": "str", "Key": {"pk": {"S": "zz"}}}),
    ); // nothing to delete
    ok(
        &db,
        "BatchWriteItem",
        json!({"RequestItems": {"str": [{"PutRequest": {"Item": {"pk": {"S": "b"}}}}]}}),
    );
    ok(
        &db,
        "TransactWriteItems",
        json!({"TransactItems": [{"Update": {"TableName": "str", "Key": {"pk": {"S": "b"}},
        "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": {"S": "t"}}}}]}),
    );
    let (recs, next) = records(&db, &it);
    let names: Vec<&str> = recs
        .iter()
        .map(|r| r["eventName"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        vec!["INSERT", "MODIFY", "REMOVE", "INSERT", "MODIFY"]
    );
    assert_eq!(recs[1]["dynamodb"]["OldImage"]["v"]["S"], "1");
    assert_eq!(recs[1]["dynamodb"]["NewImage"]["v"]["S"], "2");
    assert!(recs[2]["dynamodb"].get("NewImage").is_none());
    assert_eq!(recs[2]["dynamodb"]["Keys"], json!({"pk": {"S": "a"}}));
    let seqs: Vec<&str> = recs
        .iter()
        .map(|r| r["dynamodb"]["SequenceNumber"].as_str().unwrap_or(""))
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    // The next iterator continues where this one stopped; AFTER/AT position by number.
    put(&db, "str", "c", "x");
    let (more, _) = records(&db, &next.expect("open shard"));
    assert_eq!(more.len(), 1);
    let (after, _) = records(
        &db,
        &shard_iterator(&db, &arn, "AFTER_SEQUENCE_NUMBER", Some(seqs[3])),
    );
    assert_eq!(after.len(), 2);
    let (at, _) = records(
        &db,
        &shard_iterator(&db, &arn, "AT_SEQUENCE_NUMBER", Some(seqs[3])),
    );
    assert_eq!(at.len(), 3);
    let (latest, _) = records(&db, &shard_iterator(&db, &arn, "LATEST", None));
    assert!(latest.is_empty());
}

#[test]
fn keys_only_view_list_and_disable() {
    let db = db();
    let arn = create_streamed(&db, "kos", "KEYS_ONLY");
    put(&db, "kos", "a", "1");
    let (recs, _) = records(&db, &shard_iterator(&db, &arn, "TRIM_HORIZON", None));
    assert!(recs[0]["dynamodb"].get("NewImage").is_none());
    assert_eq!(recs[0]["dynamodb"]["StreamViewType"], "KEYS_ONLY");
    let l = ok(&db, "Streams.ListStreams", json!({"TableName": "kos"}));
    assert_eq!(l["Streams"][0]["StreamArn"], arn.as_str());
    ok(
        &db,
        "UpdateTable",
        json!({"TableName": "kos", "StreamSpecification": {"StreamEnabled": false}}),
    );
    put(&db, "kos", "b", "1");
    let d = ok(&db, "Streams.DescribeStream", json!({"StreamArn": arn}));
    assert_eq!(d["StreamDescription"]["StreamStatus"], "DISABLED");
    assert!(d["StreamDescription"]["Shards"][0]["SequenceNumberRange"]
        .get("EndingSequenceNumber")
        .is_some());
    let (recs, next) = records(&db, &shard_iterator(&db, &arn, "TRIM_HORIZON", None));
    assert_eq!(recs.len(), 1, "no records after disabling");
    assert!(next.is_none(), "closed shard, drained");
    let e = call(
        &db,
        "UpdateTable",
        json!({"TableName": "kos", "StreamSpecification": {"StreamEnabled": true}}),
    )
    .expect_err("no view");
    assert_eq!(e.code, ErrorCode::ValidationException);
    let e = call(
        &db,
        "Streams.GetRecords",
        json!({"ShardIterator": "garbage"}),
    )
    .expect_err("bad it");
    assert_eq!(e.code, ErrorCode::ValidationException);
    let e = call(
        &db,
        "Streams.DescribeStream",
        json!({"StreamArn": format!("{arn}x")}),
    )
    .expect_err("unknown");
    assert_eq!(e.code, ErrorCode::ResourceNotFoundException);
}

#[test]
fn ttl_sweep_deletes_expired_items_with_service_identity() {
    let db = db();
    let arn = create_streamed(&db, "ttl", "OLD_IMAGE");
    ok(
        &db,
        "UpdateTimeToLive",
        json!({"TableName": "ttl", "TimeToLiveSpecification": {"Enabled": true, "AttributeName": "exp"}}),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let n = |v: u64| json!({"N": v.to_string()});
    let now = now as f64;
    let base = now as u64;
    for (pk, exp) in [
        ("past", n(base - 10)),
        ("future", n(base + 100)),
        ("ancient", json!({"N": "1000"})),
        ("string", json!({"S": "1"})),
    ] {
        ok(
            &db,
            "PutItem",
            json!({"TableName": "ttl", "Item": {"pk": {"S": pk}, "exp": exp}}),
        );
    }
    // Expired but not yet swept: still readable, as in DynamoDB.
    let g = ok(
        &db,
        "GetItem",
        json!({"TableName": "ttl", "Key": {"pk": {"S": "past"}}}),
    );
    assert!(g.get("Item").is_some());
    let it = shard_iterator(&db, &arn, "LATEST", None);
    let stats = db.tables().sweep_expired(now, 100).expect("sweep");
    assert_eq!(stats.items_deleted, 1);
    let scan = ok(&db, "Scan", json!({"TableName": "ttl"}));
    assert_eq!(scan["Count"], 3);
    let (recs, _) = records(&db, &it);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["eventName"], "REMOVE");
    assert_eq!(
        recs[0]["userIdentity"],
        json!({"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"})
    );
    assert_eq!(recs[0]["dynamodb"]["OldImage"]["pk"]["S"], "past");
    assert_eq!(
        db.tables()
            .sweep_expired(now, 100)
            .expect("again")
            .items_deleted,
        0
    );
}
