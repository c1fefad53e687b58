//! The write-path cost of secondary indexes and streams: in-process PutItem of 1 KiB items on
//! the real engine with 0, 1 and 5 GSIs, and with a NEW_AND_OLD_IMAGES stream on and off.
//! Buffered durability (10 ms syncs) so the number shows the CPU cost of index and stream
//! maintenance rather than the disk's fdatasync rate, which is the same in every row (one WAL
//! record carries the item, its index entries and its stream record). GSI replication lag is
//! zero by construction: index entries commit with the write (docs/ARCHITECTURE.md).
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hashlog::api::{Database, DatabaseOptions};
use hashlog::db::EngineOptions;
use hashlog::wal::Durability;
use serde_json::{json, Value};

fn table(name: &str, gsis: usize, stream: bool) -> Value {
    let mut defs = vec![json!({"AttributeName": "pk", "AttributeType": "S"})];
    let mut indexes = Vec::new();
    for i in 0..gsis {
        defs.push(json!({"AttributeName": format!("g{i}"), "AttributeType": "S"}));
        indexes.push(json!({"IndexName": format!("gsi{i}"),
            "KeySchema": [{"AttributeName": format!("g{i}"), "KeyType": "HASH"}],
            "Projection": {"ProjectionType": if i % 2 == 0 { "KEYS_ONLY" } else { "ALL" }}}));
    }
    let mut t = json!({"TableName": name, "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": defs, "BillingMode": "PAY_PER_REQUEST"});
    if gsis > 0 {
        t["GlobalSecondaryIndexes"] = Value::Array(indexes);
    }
    if stream {
        t["StreamSpecification"] =
            json!({"StreamEnabled": true, "StreamViewType": "NEW_AND_OLD_IMAGES"});
    }
    t
}

/// One PutItem body: an overwrite with a new index key each time, so every GSI deletes one
/// entry and puts one, and the stream records a MODIFY with both images.
fn put_body(table: &str, gsis: usize, i: u64, value: &str) -> Vec<u8> {
    let mut item = json!({"pk": {"S": format!("k{}", i % 5000)}, "v": {"S": value}});
    for j in 0..gsis {
        item[format!("g{j}")] = json!({"S": format!("{}", i % 97)});
    }
    json!({"TableName": table, "Item": item})
        .to_string()
        .into_bytes()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("indexes");
    g.throughput(Throughput::Elements(1));
    g.sample_size(30);
    let value = "x".repeat(900);
    // One database and one WAL for every configuration, so the rows differ only in the
    // tables' indexes and streams; each table is warmed up before it is measured.
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = EngineOptions {
        durability: Durability::Buffered {
            interval: Duration::from_millis(10),
        },
        ..EngineOptions::default()
    };
    let db = Database::open(dir.path(), engine, DatabaseOptions::default()).expect("open");
    let configs = [(0, false), (1, false), (5, false), (0, true), (5, true)];
    for (gsis, stream) in configs {
        let name = format!("tbl{gsis}{}", if stream { "s" } else { "" });
        db.execute(
            "CreateTable",
            table(&name, gsis, stream).to_string().as_bytes(),
        )
        .expect("create");
        for i in 0..5000 {
            db.execute("PutItem", &put_body(&name, gsis, i, &value))
                .expect("warm-up put");
        }
    }
    for (gsis, stream) in configs {
        let name = format!("tbl{gsis}{}", if stream { "s" } else { "" });
        let label = format!(
            "PutItem_1KiB_{gsis}_gsi_stream_{}",
            if stream { "on" } else { "off" }
        );
        g.bench_function(label, |b| {
            let mut i = 5000u64;
            b.iter(|| {
                i += 1;
                black_box(
                    db.execute("PutItem", &put_body(&name, gsis, i, &value))
                        .expect("put"),
                )
            })
        });
    }
    db.close().expect("close");
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
