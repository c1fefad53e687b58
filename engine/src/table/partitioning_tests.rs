//! A table's partitioning setting through the API: the `hashlog:partitioning` CreateTable tag
//! (validated), the database's default, persistence in the catalog across close and reopen
//! (and old entries without it), the tag's immutability, and the capacity controller it makes.

use std::sync::Arc;

use serde_json::{json, Value};

use super::tests::{call, ok};
use crate::api::{Database, DatabaseOptions, ErrorCode};
use crate::db::EngineOptions;
use crate::kv::{Kv, KvWrite, MemKv, SYSTEM_SPACE};
use crate::partition::{PartitioningStrategy, PARTITIONING_TAG};

fn enforcing(default: &str) -> DatabaseOptions {
    DatabaseOptions {
        enforce_capacity: true,
        default_partitioning: default.parse().expect("strategy"),
        ..DatabaseOptions::default()
    }
}

fn create_body(name: &str, tag: Option<&str>) -> Value {
    let mut b = json!({"TableName": name,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "ProvisionedThroughput": {"ReadCapacityUnits": 100, "WriteCapacityUnits": 100}});
    if let Some(v) = tag {
        b["Tags"] = json!([{"Key": "team", "Value": "db"}, {"Key": PARTITIONING_TAG, "Value": v}]);
    }
    b
}

fn put(db: &Database, table: &str, pk: &str) {
    ok(
        db,
        "PutItem",
        json!({"TableName": table, "Item": {"pk": {"S": pk}}}),
    );
}

/// Partitions of the table's capacity controller (created by its first request).
fn capacity_partitions(db: &Database, table: &str) -> usize {
    db.tables()
        .capacity_controllers()
        .into_iter()
        .find(|(n, _)| n == table)
        .map(|(_, c)| c.partition_count())
        .expect("controller")
}

fn strategy(s: &str) -> PartitioningStrategy {
    s.parse().expect("strategy")
}

#[test]
fn the_tag_chooses_the_partitioning_and_it_survives_close_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Database::open(
            dir.path(),
            EngineOptions::default(),
            enforcing("hash-split"),
        )
        .expect("open");
        ok(
            &db,
            "CreateTable",
            create_body("fixed", Some("fixed-hash:8")),
        );
        ok(
            &db,
            "CreateTable",
            create_body("ring", Some("consistent-hash:6:16")),
        );
        ok(&db, "CreateTable", create_body("plain", None));
        for t in ["fixed", "ring", "plain"] {
            put(&db, t, "a");
        }
        assert_eq!(capacity_partitions(&db, "fixed"), 8);
        assert_eq!(capacity_partitions(&db, "ring"), 6);
        assert_eq!(capacity_partitions(&db, "plain"), 1);
        db.close().expect("close");
    }
    let db = Database::open(dir.path(), EngineOptions::default(), enforcing("key-range"))
        .expect("reopen");
    let t = db.tables();
    assert_eq!(t.partitioning("fixed"), Some(strategy("fixed-hash:8")));
    assert_eq!(
        t.partitioning("ring"),
        Some(strategy("consistent-hash:6:16"))
    );
    // Chosen when it was created: a new default does not change an existing table.
    assert_eq!(
        t.partitioning("plain"),
        Some(PartitioningStrategy::HashSplit)
    );
    assert_eq!(t.partitioning("missing"), None);
    for tb in ["fixed", "ring", "plain"] {
        put(&db, tb, "b");
    }
    assert_eq!(capacity_partitions(&db, "fixed"), 8);
    assert_eq!(capacity_partitions(&db, "ring"), 6);
    // The tag is an ordinary tag too.
    let arn = ok(&db, "DescribeTable", json!({"TableName": "fixed"}))["Table"]["TableArn"].clone();
    let tags = ok(&db, "ListTagsOfResource", json!({"ResourceArn": arn}));
    assert_eq!(
        tags["Tags"],
        json!([{"Key": PARTITIONING_TAG, "Value": "fixed-hash:8"}, {"Key": "team", "Value": "db"}])
    );
    // The new default applies to tables created now.
    ok(&db, "CreateTable", create_body("later", None));
    assert_eq!(
        t.partitioning("later"),
        Some(PartitioningStrategy::KeyRange { partitions: None })
    );
}

#[test]
fn a_bad_tag_value_is_a_validation_error_that_says_what_is_accepted() {
    let db = Database::new(Arc::new(MemKv::new()), enforcing("hash-split")).expect("db");
    for bad in [
        "fixed-hash",
        "fixed-hash:0",
        "ring:4",
        "consistent-hash:4:0",
        "key-range:x",
        "",
    ] {
        let e = call(&db, "CreateTable", create_body("bad", Some(bad))).expect_err(bad);
        assert_eq!(e.code, ErrorCode::ValidationException, "{bad}: {e}");
        assert!(
            e.message
                .starts_with("One or more parameter values were invalid: Tag hashlog:partitioning"),
            "{e}"
        );
        assert!(e.message.contains("fixed-hash:N"), "{e}");
    }
    assert!(db.tables().table_names().is_empty(), "nothing was created");
}

#[test]
fn the_partitioning_tag_cannot_change_after_create_table() {
    let db = Database::new(Arc::new(MemKv::new()), DatabaseOptions::default()).expect("db");
    ok(&db, "CreateTable", create_body("krt", Some("key-range:4")));
    let arn = ok(&db, "DescribeTable", json!({"TableName": "krt"}))["Table"]["TableArn"].clone();
    let tag =
        |v: &str| json!({"ResourceArn": arn, "Tags": [{"Key": PARTITIONING_TAG, "Value": v}]});
    // The same setting again is fine; another one, a bad one, or removing it is not.
    ok(&db, "TagResource", tag("key-range:4"));
    for v in ["key-range:5", "hash-split", "nonsense"] {
        let e = call(&db, "TagResource", tag(v)).expect_err(v);
        assert_eq!(e.code, ErrorCode::ValidationException, "{e}");
        assert!(e.message.contains(PARTITIONING_TAG), "{e}");
    }
    let e = call(
        &db,
        "UntagResource",
        json!({"ResourceArn": arn, "TagKeys": [PARTITIONING_TAG]}),
    )
    .expect_err("untag");
    assert!(e.message.contains("cannot change"), "{e}");
    ok(
        &db,
        "UntagResource",
        json!({"ResourceArn": arn, "TagKeys": ["team"]}),
    );
    assert_eq!(
        db.tables().partitioning("krt"),
        Some(PartitioningStrategy::KeyRange {
            partitions: Some(4)
        })
    );
}

#[test]
fn catalog_entries_store_the_setting_only_when_it_is_not_the_default() {
    let kv: Arc<dyn Kv> = Arc::new(MemKv::new());
    let db = Database::new(Arc::clone(&kv), DatabaseOptions::default()).expect("db");
    ok(&db, "CreateTable", create_body("plain", None));
    ok(
        &db,
        "CreateTable",
        create_body("ring", Some("consistent-hash:4")),
    );
    let entry = |name: &str| -> Value {
        let raw = kv
            .get(SYSTEM_SPACE, format!("table/{name}").as_bytes())
            .expect("get")
            .expect("entry");
        serde_json::from_slice(&raw).expect("json")
    };
    assert!(entry("plain").get("partitioning").is_none());
    assert_eq!(entry("ring")["partitioning"], "consistent-hash:4:64");
}

#[test]
fn an_old_catalog_entry_without_the_setting_is_a_hash_split_table() {
    let kv: Arc<dyn Kv> = Arc::new(MemKv::new());
    drop(Database::new(Arc::clone(&kv), DatabaseOptions::default()).expect("db"));
    // A catalog entry as written before tables had a partitioning setting.
    let legacy = json!({
        "name": "legacy", "space": 7, "table_id": "00000000-0000-4000-8000-000000000007",
        "partition_key": ["pk", "S"], "sort_key": null,
        "attribute_definitions": [["pk", "S"]], "billing_mode": "PAY_PER_REQUEST",
        "read_capacity": 0, "write_capacity": 0, "created_at": 1700000000.0,
        "tags": {}, "ttl_attribute": null, "partitions": 1
    });
    kv.create_space(7, 1).expect("space");
    kv.write(vec![KvWrite {
        space: SYSTEM_SPACE,
        key: b"table/legacy".to_vec(),
        value: Some(legacy.to_string().into_bytes()),
    }])
    .expect("write");
    let db = Database::new(Arc::clone(&kv), enforcing("fixed-hash:3")).expect("reopen");
    assert_eq!(
        db.tables().partitioning("legacy"),
        Some(PartitioningStrategy::HashSplit)
    );
    put(&db, "legacy", "a");
    // On-demand, hash-split: the 4 partitions of the instant capacity.
    assert_eq!(capacity_partitions(&db, "legacy"), 4);
}
