//! The item layer: expression parse and evaluate, item encode/decode, and in-process
//! PutItem/GetItem/Query of 1 KiB items through `api::Database` on the real engine.
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hashlog::api::{Database, DatabaseOptions};
use hashlog::db::EngineOptions;
use hashlog::expr::{eval_condition, parse_condition, ExprKind, Placeholders, Usage};
use hashlog::model::{decode_item, encode_item, item_from_json, AttributeValue, Number};
use serde_json::json;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("api");
    g.throughput(Throughput::Elements(1));

    let src = "attribute_exists(#a) AND (b.c[2] > :n OR begins_with(s, :p)) AND size(l) BETWEEN :lo AND :hi";
    let names: BTreeMap<String, String> = [("#a".to_string(), "a".to_string())].into();
    let values: BTreeMap<String, AttributeValue> = [
        (":n".to_string(), AttributeValue::N(Number::from_i64(5))),
        (":p".to_string(), AttributeValue::S("pre".into())),
        (":lo".to_string(), AttributeValue::N(Number::from_i64(1))),
        (":hi".to_string(), AttributeValue::N(Number::from_i64(10))),
    ]
    .into();
    let ph = Placeholders {
        names: Some(&names),
        values: Some(&values),
    };
    g.bench_function("expr_parse_condition", |b| {
        b.iter(|| {
            black_box(
                parse_condition(ExprKind::Condition, src, &ph, &mut Usage::default())
                    .expect("parse"),
            )
        })
    });
    let cond =
        parse_condition(ExprKind::Condition, src, &ph, &mut Usage::default()).expect("parse");
    let item = item_from_json(&json!({
        "a": {"S": "x"}, "s": {"S": "prefix-and-more"}, "l": {"L": [{"N": "1"}, {"N": "2"}, {"N": "3"}]},
        "b": {"M": {"c": {"L": [{"N": "1"}, {"N": "2"}, {"N": "7"}]}}}, "v": {"S": "x".repeat(900)}
    }))
    .expect("item");
    g.bench_function("expr_eval_condition", |b| {
        b.iter(|| black_box(eval_condition(&cond, Some(&item)).expect("eval")))
    });
    let bytes = encode_item(&item);
    g.bench_function("item_encode_1KiB", |b| {
        b.iter(|| black_box(encode_item(&item)))
    });
    g.bench_function("item_decode_1KiB", |b| {
        b.iter(|| black_box(decode_item(&bytes).expect("decode")))
    });

    let dir = tempfile::tempdir().expect("tempdir");
    let db = Arc::new(
        Database::open(
            dir.path(),
            EngineOptions::default(),
            DatabaseOptions::default(),
        )
        .expect("open"),
    );
    db.execute(
        "CreateTable",
        json!({"TableName": "bench", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
               "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
               "BillingMode": "PAY_PER_REQUEST"})
        .to_string()
        .as_bytes(),
    )
    .expect("create");
    let value = "x".repeat(1000);
    for i in 0..1000 {
        let body = json!({"TableName": "bench", "Item": {"pk": {"S": format!("p{}", i / 10)}, "sk": {"N": (i % 10).to_string()}, "v": {"S": value}}});
        db.execute("PutItem", body.to_string().as_bytes())
            .expect("put");
    }
    let gets: Vec<Vec<u8>> = (0..1000)
        .map(|i| {
            json!({"TableName": "bench", "Key": {"pk": {"S": format!("p{}", i / 10)}, "sk": {"N": (i % 10).to_string()}}})
                .to_string()
                .into_bytes()
        })
        .collect();
    g.bench_function("GetItem_1KiB_in_memtable", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 7) % gets.len();
            black_box(db.execute("GetItem", &gets[i]).expect("get"))
        })
    });
    let queries: Vec<Vec<u8>> = (0..100)
        .map(|p| {
            json!({"TableName": "bench", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": format!("p{p}")}}})
                .to_string()
                .into_bytes()
        })
        .collect();
    g.bench_function("Query_10_items", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 7) % queries.len();
            black_box(db.execute("Query", &queries[i]).expect("query"))
        })
    });
    g.sample_size(20);
    g.bench_function("PutItem_1KiB_durable_1_thread", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            let body = json!({"TableName": "bench", "Item": {"pk": {"S": format!("w{i}")}, "sk": {"N": "1"}, "v": {"S": value}}});
            black_box(db.execute("PutItem", body.to_string().as_bytes()).expect("put"))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
