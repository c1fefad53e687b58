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

/// The TTL sweep's stream expiry, run as if 25 hours had passed.
fn sweep_a_day_later(db: &Database) {
    let later = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
        + 25.0 * 3600.0;
    db.tables().expire_old_streams(later).expect("expire");
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
    assert_eq!(
        d["StreamDescription"]["StreamStatus"], "DISABLED",
        "{arn} {l} {d}"
    );
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

/// Every record of a stream, shard by shard, parents before children (as a consumer must read
/// them), with the shard listing.
fn read_all_shards(db: &Database, arn: &str) -> (Vec<Value>, Vec<Value>) {
    let mut shards = Vec::new();
    let mut req = json!({"StreamArn": arn, "Limit": 2});
    loop {
        let d = ok(db, "Streams.DescribeStream", req.clone());
        let desc = &d["StreamDescription"];
        shards.extend(desc["Shards"].as_array().cloned().unwrap_or_default());
        match desc["LastEvaluatedShardId"].as_str() {
            Some(last) => req["ExclusiveStartShardId"] = json!(last),
            None => break,
        }
    }
    let ids: Vec<&str> = shards
        .iter()
        .map(|s| s["ShardId"].as_str().expect("id"))
        .collect();
    let mut done: Vec<String> = Vec::new();
    let mut records = Vec::new();
    while done.len() < shards.len() {
        let before = done.len();
        // Newest first among the readable ones: only the lineage keeps per-item order.
        for s in shards.iter().rev() {
            let id = s["ShardId"].as_str().expect("id");
            let parent_done = s["ParentShardId"]
                .as_str()
                .is_none_or(|p| done.iter().any(|d| d == p) || !ids.contains(&p));
            if done.iter().any(|d| d == id) || !parent_done {
                continue;
            }
            let mut it = ok(
                db,
                "Streams.GetShardIterator",
                json!({"StreamArn": arn, "ShardId": id, "ShardIteratorType": "TRIM_HORIZON"}),
            )["ShardIterator"]
                .as_str()
                .expect("it")
                .to_string();
            for _ in 0..1000 {
                let (recs, next) = self::records(db, &it);
                let empty = recs.is_empty();
                records.extend(recs);
                match next {
                    Some(n)
                        if !(empty
                            && s["SequenceNumberRange"]["EndingSequenceNumber"].is_null()) =>
                    {
                        it = n
                    }
                    _ => break,
                }
            }
            done.push(id.to_string());
        }
        assert!(
            done.len() > before,
            "shard lineage has a cycle or a missing parent"
        );
    }
    (records, shards)
}

#[test]
fn shards_split_with_partitions_and_keep_per_item_order() {
    use crate::api::DatabaseOptions;
    use crate::capacity::CapacityConfig;
    let dir = tempfile::tempdir().expect("tempdir");
    let open = || {
        Database::open(
            dir.path(),
            crate::db::EngineOptions::default(),
            DatabaseOptions {
                enforce_capacity: true,
                capacity_config: Some(CapacityConfig {
                    partition_size_max_bytes: 6_000,
                    ..CapacityConfig::default()
                }),
                ..DatabaseOptions::default()
            },
        )
        .expect("open")
    };
    let mut expected: Vec<(String, String)> = Vec::new();
    let arn;
    let shards_before;
    {
        let db = open();
        arn = create_streamed(&db, "split", "NEW_IMAGE");
        let d = ok(&db, "Streams.DescribeStream", json!({"StreamArn": arn}));
        assert_eq!(
            d["StreamDescription"]["Shards"].as_array().map(Vec::len),
            Some(1),
            "a new stream has one shard"
        );
        // ~500-byte items in 40 keys, each rewritten 3 times: the partitions pass 6 KB and
        // split for size several times.
        for round in 0..3 {
            for k in 0..40 {
                let pk = format!("key{k:02}");
                let v = format!("{round}-{}", "x".repeat(480));
                put(&db, "split", &pk, &v);
                expected.push((pk, v));
            }
        }
        let (records, shards) = read_all_shards(&db, &arn);
        assert!(shards.len() > 3, "splits opened child shards: {shards:?}");
        let closed = shards
            .iter()
            .filter(|s| !s["SequenceNumberRange"]["EndingSequenceNumber"].is_null())
            .count();
        assert!(closed >= 1, "the parent shard closed");
        for s in &shards[1..] {
            let parent = s["ParentShardId"].as_str().expect("children name a parent");
            assert!(shards.iter().any(|p| p["ShardId"] == parent));
        }
        check_per_item_order(&records, &expected);
        shards_before = shards.len();
        db.close().expect("close");
    }
    // After a restart the shards and their records are still there; new writes land in open
    // shards (the reopened capacity layer has its own partitions; lineage continues from them).
    let db = open();
    // Sizes follow the data, not the write volume: new keys grow the partitions again.
    for round in 0..2 {
        for k in 0..100 {
            let pk = format!("key{k:02}");
            let v = format!("after{round}-{}", "y".repeat(480));
            put(&db, "split", &pk, &v);
            expected.push((pk, v));
        }
    }
    let (records, shards) = read_all_shards(&db, &arn);
    check_per_item_order(&records, &expected);
    assert!(
        shards.len() > shards_before,
        "the reopened table's partition map split shards further ({} → {})",
        shards_before,
        shards.len()
    );
}

/// Every expected write appears exactly once, and each key's records come in write order.
fn check_per_item_order(records: &[Value], expected: &[(String, String)]) {
    assert_eq!(records.len(), expected.len(), "one record per write");
    let mut by_key: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut seqs = std::collections::BTreeSet::new();
    for r in records {
        let pk = r["dynamodb"]["Keys"]["pk"]["S"]
            .as_str()
            .expect("pk")
            .to_string();
        let v = r["dynamodb"]["NewImage"]["v"]["S"]
            .as_str()
            .expect("v")
            .to_string();
        by_key.entry(pk).or_default().push(v);
        assert!(seqs.insert(
            r["dynamodb"]["SequenceNumber"]
                .as_str()
                .expect("seq")
                .to_string()
        ));
    }
    let mut want: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (k, v) in expected {
        want.entry(k.clone()).or_default().push(v.clone());
    }
    assert_eq!(by_key, want, "per-item record order follows write order");
}

#[test]
fn single_shard_streams_of_older_builds_are_migrated() {
    let db = db();
    let arn = create_streamed(&db, "old", "KEYS_ONLY");
    let tables = db.tables();
    let (space, created_at) = {
        let t = tables.catalog.read().get("old").cloned().expect("table");
        let sd = t.desc.stream.clone().expect("stream");
        (sd.space, sd.created_at)
    };
    // What an older build stored: records under their 8-byte sequence numbers, no shard
    // metadata.
    let mut writes = Vec::new();
    for seq in [1u64, 2] {
        let rec = json!({"eventName": "INSERT", "dynamodb": {"SequenceNumber": format!("{seq:021}"),
            "ApproximateCreationDateTime": 1.0e12, "Keys": {"pk": {"S": format!("k{seq}")}}}});
        let mut v = vec![1u8];
        v.extend(serde_json::to_vec(&rec).expect("json"));
        writes.push(crate::kv::KvWrite {
            space,
            key: seq.to_be_bytes().to_vec(),
            value: Some(v),
        });
    }
    tables.kv.write(writes).expect("write");
    let d = ok(&db, "Streams.DescribeStream", json!({"StreamArn": arn}));
    let shard = &d["StreamDescription"]["Shards"][0];
    assert_eq!(
        shard["ShardId"],
        format!("shardId-{:020}-{:08x}", (created_at * 1000.0) as u64, space),
        "the shard keeps the id it always had"
    );
    let it = shard_iterator(&db, &arn, "TRIM_HORIZON", None);
    let (recs, _) = records(&db, &it);
    assert_eq!(recs.len(), 2);
    put(&db, "old", "k3", "v");
    let (recs, _) = records(&db, &shard_iterator(&db, &arn, "TRIM_HORIZON", None));
    assert_eq!(recs.len(), 3, "new records follow in the same shard");
    assert_eq!(recs[2]["dynamodb"]["SequenceNumber"], format!("{:021}", 3));
}

#[test]
fn a_replaced_stream_stays_readable_until_24_hours_after_it_was_disabled() {
    let db = db();
    let first = create_streamed(&db, "ren", "KEYS_ONLY");
    put(&db, "ren", "a", "1");
    ok(
        &db,
        "UpdateTable",
        json!({"TableName": "ren", "StreamSpecification": {"StreamEnabled": false}}),
    );
    // Labels have millisecond resolution: make sure the new stream gets its own.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let out = ok(
        &db,
        "UpdateTable",
        json!({"TableName": "ren", "StreamSpecification": {"StreamEnabled": true, "StreamViewType": "NEW_IMAGE"}}),
    );
    let second = out["TableDescription"]["LatestStreamArn"]
        .as_str()
        .expect("arn")
        .to_string();
    assert_ne!(first, second);
    put(&db, "ren", "b", "2");
    let l = ok(&db, "Streams.ListStreams", json!({"TableName": "ren"}));
    assert_eq!(l["Streams"].as_array().map(Vec::len), Some(2));
    let (old, next) = records(&db, &shard_iterator(&db, &first, "TRIM_HORIZON", None));
    assert_eq!(old.len(), 1, "the old stream keeps its record");
    assert!(next.is_none());
    let (new, _) = records(&db, &shard_iterator(&db, &second, "TRIM_HORIZON", None));
    assert_eq!(new.len(), 1);
    assert_eq!(new[0]["dynamodb"]["Keys"]["pk"]["S"], "b");
    // A sweep 25 hours later forgets the old stream; the current one stays.
    sweep_a_day_later(&db);
    let e = call(&db, "Streams.DescribeStream", json!({"StreamArn": first})).expect_err("gone");
    assert_eq!(e.code, ErrorCode::ResourceNotFoundException);
    ok(&db, "Streams.DescribeStream", json!({"StreamArn": second}));
}

#[test]
fn at_timestamp_iterators_shard_filters_and_whole_second_times() {
    let db = db();
    let arn = create_streamed(&db, "sts", "KEYS_ONLY");
    put(&db, "sts", "a", "1");
    let (recs, _) = records(&db, &shard_iterator(&db, &arn, "TRIM_HORIZON", None));
    let t = recs[0]["dynamodb"]["ApproximateCreationDateTime"]
        .as_f64()
        .expect("time");
    assert_eq!(t, t.floor(), "rounded down to the second");
    let shard = ok(&db, "Streams.DescribeStream", json!({"StreamArn": arn}))["StreamDescription"]
        ["Shards"][0]["ShardId"]
        .as_str()
        .expect("shard")
        .to_string();
    let at = |ts: f64| {
        let it = ok(
            &db,
            "Streams.GetShardIterator",
            json!({"StreamArn": arn, "ShardId": shard, "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": ts}),
        )["ShardIterator"]
            .as_str()
            .expect("it")
            .to_string();
        records(&db, &it).0.len()
    };
    assert_eq!(at(t - 3600.0), 1, "an hour back: the record");
    assert_eq!(at(t + 3600.0), 0, "an hour ahead: nothing yet");
    let e = call(
        &db,
        "Streams.GetShardIterator",
        json!({"StreamArn": arn, "ShardId": shard, "ShardIteratorType": "AT_TIMESTAMP"}),
    )
    .expect_err("no timestamp");
    assert_eq!(e.code, ErrorCode::ValidationException);
    // The only shard has no parent: no shard is its child.
    let children = ok(
        &db,
        "Streams.DescribeStream",
        json!({"StreamArn": arn, "ShardFilter": {"Type": "CHILD_SHARDS", "ShardId": shard}}),
    );
    assert_eq!(children["StreamDescription"]["Shards"], json!([]));
    // Every Streams operation exists: another name is unknown, not "not supported".
    let e = call(&db, "Streams.Foo", json!({})).expect_err("unknown");
    assert_eq!(e.code, ErrorCode::UnknownOperationException);
}

#[test]
fn a_deleted_tables_stream_stays_readable_disabled_for_24_hours_and_across_a_reopen() {
    use crate::api::DatabaseOptions;
    use crate::kv::{Kv, MemKv};
    use std::sync::Arc;
    let kv: Arc<dyn Kv> = Arc::new(MemKv::new());
    let arn;
    {
        let db = Database::new(Arc::clone(&kv), DatabaseOptions::default()).expect("db");
        arn = create_streamed(&db, "del", "NEW_IMAGE");
        put(&db, "del", "a", "1");
        put(&db, "del", "b", "2");
        ok(&db, "DeleteTable", json!({"TableName": "del"}));
    }
    let db = Database::new(Arc::clone(&kv), DatabaseOptions::default()).expect("reopen");
    // A new table of the same name has a stream of its own; the old one is still listed.
    create_streamed(&db, "del", "KEYS_ONLY");
    let l = ok(&db, "Streams.ListStreams", json!({"TableName": "del"}));
    assert_eq!(l["Streams"].as_array().map(Vec::len), Some(2), "{l}");
    let d = ok(&db, "Streams.DescribeStream", json!({"StreamArn": arn}));
    assert_eq!(
        d["StreamDescription"]["StreamStatus"], "DISABLED",
        "{arn} {l} {d}"
    );
    assert_eq!(d["StreamDescription"]["TableName"], "del");
    let (recs, next) = records(&db, &shard_iterator(&db, &arn, "TRIM_HORIZON", None));
    assert_eq!(recs.len(), 2, "the records written before the deletion");
    assert!(next.is_none(), "the shard is closed");
    // A sweep 25 hours later forgets it, for good.
    sweep_a_day_later(&db);
    let e = call(&db, "Streams.DescribeStream", json!({"StreamArn": arn})).expect_err("gone");
    assert_eq!(e.code, ErrorCode::ResourceNotFoundException);
    drop(db);
    let db = Database::new(Arc::clone(&kv), DatabaseOptions::default()).expect("reopen");
    let l = ok(&db, "Streams.ListStreams", json!({"TableName": "del"}));
    assert_eq!(l["Streams"].as_array().map(Vec::len), Some(1), "{l}");
}
