#![no_main]
//! Differential: a random operation sequence (decoded from the input bytes) applied to
//! `hashlog::api::Database` over the in-memory store and to a `BTreeMap` model of one
//! hash-keyed table. Every response must match the model: old and new images, conditional
//! outcomes, batch and transaction effects (all or nothing), and full scans in pages.
use std::collections::BTreeMap;
use std::sync::Arc;

use hashlog::api::{Database, DatabaseOptions};
use hashlog::kv::MemKv;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

const TABLE: &str = "model";

/// An item's attributes other than its key `pk`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Attrs {
    v: Option<String>,
    n: Option<i64>,
}

impl Attrs {
    fn to_item(&self, k: &str) -> Value {
        let mut item = json!({"pk": {"S": k}});
        if let Some(v) = &self.v {
            item["v"] = json!({"S": v});
        }
        if let Some(n) = self.n {
            item["n"] = json!({"N": n.to_string()});
        }
        item
    }
}

/// The engine's item, checked to have no attribute the model does not know of.
fn attrs_of(item: &Value) -> (String, Attrs) {
    let m = item.as_object().expect("item is an object");
    for k in m.keys() {
        assert!(
            matches!(k.as_str(), "pk" | "v" | "n"),
            "unexpected attribute {k} in {item}"
        );
    }
    let pk = item["pk"]["S"].as_str().expect("pk").to_string();
    let v = m
        .get("v")
        .map(|v| v["S"].as_str().expect("v is S").to_string());
    let n = m.get("n").map(|n| {
        n["N"]
            .as_str()
            .expect("n is N")
            .parse::<i64>()
            .unwrap_or_else(|_| panic!("n is not an integer: {n}"))
    });
    (pk, Attrs { v, n })
}

/// The optional image under `field` (`Item`, `Attributes`) of a response.
fn image(resp: &Value, field: &str) -> Option<Attrs> {
    resp.get(field).map(|i| attrs_of(i).1)
}

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
}

fn key(b: u8) -> String {
    format!("k{}", b % 8)
}

fn value(b: u8) -> String {
    format!("v{}", b % 4)
}

fn code(r: &Result<Value, hashlog::api::ApiError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.code.type_name(),
    }
}

fuzz_target!(|data: &[u8]| {
    let db = Database::new(Arc::new(MemKv::new()), DatabaseOptions::default()).expect("db");
    db.execute(
        "CreateTable",
        json!({
            "TableName": TABLE,
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        })
        .to_string()
        .as_bytes(),
    )
    .expect("create table");
    let mut model: BTreeMap<String, Attrs> = BTreeMap::new();
    let mut input = Bytes(data);
    let exec = |op: &str, body: Value| db.execute(op, body.to_string().as_bytes());

    while let Some(op) = input.byte() {
        let (Some(a), Some(b)) = (input.byte(), input.byte()) else {
            break;
        };
        let k = key(a);
        match op % 9 {
            0 => {
                let new = Attrs {
                    v: Some(value(b)),
                    n: Some(i64::from(b >> 2)),
                };
                let r = exec(
                    "PutItem",
                    json!({"TableName": TABLE, "Item": new.to_item(&k), "ReturnValues": "ALL_OLD"}),
                )
                .expect("put");
                assert_eq!(
                    image(&r, "Attributes"),
                    model.insert(k.clone(), new),
                    "put {k}"
                );
            }
            1 => {
                let r = exec(
                    "DeleteItem",
                    json!({"TableName": TABLE, "Key": {"pk": {"S": k}}, "ReturnValues": "ALL_OLD"}),
                )
                .expect("delete");
                assert_eq!(image(&r, "Attributes"), model.remove(&k), "delete {k}");
            }
            2 => {
                let r = exec(
                    "GetItem",
                    json!({"TableName": TABLE, "Key": {"pk": {"S": k}}, "ConsistentRead": b % 2 == 0}),
                )
                .expect("get");
                assert_eq!(image(&r, "Item").as_ref(), model.get(&k), "get {k}");
            }
            3 => {
                let new = Attrs {
                    v: Some(value(b)),
                    n: None,
                };
                let r = exec(
                    "PutItem",
                    json!({"TableName": TABLE, "Item": new.to_item(&k),
                           "ConditionExpression": "attribute_not_exists(pk)"}),
                );
                let want = if model.contains_key(&k) {
                    "ConditionalCheckFailedException"
                } else {
                    model.insert(k.clone(), new);
                    "ok"
                };
                assert_eq!(code(&r), want, "put-if-absent {k}: {r:?}");
            }
            4 => {
                let d = i64::from(b % 7) - 3;
                let v = value(b);
                let r = exec(
                    "UpdateItem",
                    json!({"TableName": TABLE, "Key": {"pk": {"S": k}},
                           "UpdateExpression": "SET v = :v ADD n :d",
                           "ExpressionAttributeValues": {":v": {"S": v}, ":d": {"N": d.to_string()}},
                           "ReturnValues": "ALL_NEW"}),
                )
                .expect("update");
                let e = model.entry(k.clone()).or_default();
                e.v = Some(v);
                e.n = Some(e.n.unwrap_or(0) + d);
                assert_eq!(image(&r, "Attributes").as_ref(), Some(&*e), "update {k}");
            }
            5 => {
                let v = value(b);
                let r = exec(
                    "DeleteItem",
                    json!({"TableName": TABLE, "Key": {"pk": {"S": k}},
                           "ConditionExpression": "v = :v",
                           "ExpressionAttributeValues": {":v": {"S": v}}}),
                );
                let want = if model
                    .get(&k)
                    .is_some_and(|x| x.v.as_deref() == Some(v.as_str()))
                {
                    model.remove(&k);
                    "ok"
                } else {
                    "ConditionalCheckFailedException"
                };
                assert_eq!(code(&r), want, "delete-if {k}: {r:?}");
            }
            6 => {
                // Full scan in pages of 1..=4 items.
                let limit = usize::from(b % 4) + 1;
                let mut seen = BTreeMap::new();
                let mut start: Option<Value> = None;
                for _ in 0..64 {
                    let mut req =
                        json!({"TableName": TABLE, "Limit": limit, "ConsistentRead": true});
                    if let Some(s) = start.take() {
                        req["ExclusiveStartKey"] = s;
                    }
                    let r = exec("Scan", req).expect("scan");
                    let items = r["Items"].as_array().expect("Items");
                    assert!(items.len() <= limit, "page larger than Limit");
                    for i in items {
                        let (pk, at) = attrs_of(i);
                        assert!(seen.insert(pk, at).is_none(), "item returned twice");
                    }
                    match r.get("LastEvaluatedKey") {
                        Some(lek) => start = Some(lek.clone()),
                        None => break,
                    }
                }
                assert!(start.is_none(), "scan did not finish in 64 pages");
                assert_eq!(seen, model, "scan");
            }
            7 => {
                // A batch of a put and a delete of two different keys.
                let k2 = key(a.wrapping_add(1 + b % 7));
                let new = Attrs {
                    v: Some(value(b)),
                    n: None,
                };
                let r = exec(
                    "BatchWriteItem",
                    json!({"RequestItems": {TABLE: [
                        {"PutRequest": {"Item": new.to_item(&k)}},
                        {"DeleteRequest": {"Key": {"pk": {"S": k2}}}},
                    ]}}),
                )
                .expect("batch write");
                assert_eq!(r["UnprocessedItems"], json!({}), "unprocessed");
                model.insert(k, new);
                model.remove(&k2);
            }
            _ => {
                // A transaction: put k, and k2 must exist; all or nothing.
                let k2 = key(a.wrapping_add(1 + b % 7));
                let new = Attrs {
                    v: Some(value(b)),
                    n: Some(-1),
                };
                let r = exec(
                    "TransactWriteItems",
                    json!({"TransactItems": [
                        {"Put": {"TableName": TABLE, "Item": new.to_item(&k)}},
                        {"ConditionCheck": {"TableName": TABLE, "Key": {"pk": {"S": k2}},
                                            "ConditionExpression": "attribute_exists(pk)"}},
                    ]}),
                );
                let want = if model.contains_key(&k2) {
                    model.insert(k, new);
                    "ok"
                } else {
                    "TransactionCanceledException"
                };
                assert_eq!(code(&r), want, "transaction: {r:?}");
            }
        }
    }
});
