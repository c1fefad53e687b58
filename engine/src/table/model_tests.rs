//! Random sequences of item operations, batches and transactions against a `BTreeMap` model of
//! the table: every answer (success, conditional failure, returned item, Query and Scan pages)
//! must agree.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{json, Value};

use super::tests::{call, create, db, ok};
use crate::api::{Database, ErrorCode};

type Key = (String, i64);
type Model = BTreeMap<Key, i64>;

#[derive(Debug, Clone)]
enum Cond {
    None,
    NotExists,
    Exists,
    ValueIs(i64),
}

#[derive(Debug, Clone)]
enum Op {
    Put(Key, i64, Cond),
    Delete(Key, Cond),
    Add(Key, i64),
    Get(Key),
    Query(String, bool, Option<u8>),
    Scan(Option<u8>),
    BatchWrite(Vec<(Key, Option<i64>)>),
    Transact(Vec<(Key, Option<i64>, Cond)>),
}

fn key() -> impl Strategy<Value = Key> {
    (prop_oneof![Just("a"), Just("b"), Just("c")], 0i64..4).prop_map(|(p, s)| (p.to_string(), s))
}

fn cond() -> impl Strategy<Value = Cond> {
    prop_oneof![
        Just(Cond::None),
        Just(Cond::NotExists),
        Just(Cond::Exists),
        (0i64..3).prop_map(Cond::ValueIs),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (key(), 0i64..3, cond()).prop_map(|(k, v, c)| Op::Put(k, v, c)),
        (key(), cond()).prop_map(|(k, c)| Op::Delete(k, c)),
        (key(), -2i64..3).prop_map(|(k, d)| Op::Add(k, d)),
        key().prop_map(Op::Get),
        (
            prop_oneof![Just("a"), Just("b")],
            any::<bool>(),
            proptest::option::of(1u8..4)
        )
            .prop_map(|(p, f, l)| Op::Query(p.to_string(), f, l)),
        proptest::option::of(1u8..5).prop_map(Op::Scan),
        proptest::collection::btree_map(key(), proptest::option::of(0i64..3), 1..4)
            .prop_map(|m| Op::BatchWrite(m.into_iter().collect())),
        proptest::collection::btree_map(key(), (proptest::option::of(0i64..3), cond()), 1..4)
            .prop_map(|m| Op::Transact(m.into_iter().map(|(k, (v, c))| (k, v, c)).collect())),
    ]
}

fn key_json(k: &Key) -> Value {
    json!({"pk": {"S": k.0}, "sk": {"N": k.1.to_string()}})
}

fn item_json(k: &Key, v: i64) -> Value {
    json!({"pk": {"S": k.0}, "sk": {"N": k.1.to_string()}, "v": {"N": v.to_string()}})
}

/// Adds a condition to a request body; returns whether it holds in the model.
fn with_cond(body: &mut Value, c: &Cond, current: Option<i64>) -> bool {
    match c {
        Cond::None => true,
        Cond::NotExists => {
            body["ConditionExpression"] = json!("attribute_not_exists(pk)");
            current.is_none()
        }
        Cond::Exists => {
            body["ConditionExpression"] = json!("attribute_exists(pk)");
            current.is_some()
        }
        Cond::ValueIs(x) => {
            body["ConditionExpression"] = json!("v = :x");
            body["ExpressionAttributeValues"] = json!({":x": {"N": x.to_string()}});
            current == Some(*x)
        }
    }
}

fn v_of(item: &Value) -> Option<i64> {
    item["v"]["N"].as_str().and_then(|s| s.parse().ok())
}

fn entries(items: &Value) -> Vec<(Key, i64)> {
    items
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| {
                    Some((
                        (
                            i["pk"]["S"].as_str()?.to_string(),
                            i["sk"]["N"].as_str()?.parse().ok()?,
                        ),
                        v_of(i)?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Every page of a Query or Scan, following LastEvaluatedKey.
fn all_pages(db: &Database, op: &str, base: Value) -> Vec<(Key, i64)> {
    let mut out = Vec::new();
    let mut start: Option<Value> = None;
    for _ in 0..100 {
        let mut body = base.clone();
        if let Some(s) = &start {
            body["ExclusiveStartKey"] = s.clone();
        }
        let r = ok(db, op, body);
        out.extend(entries(&r["Items"]));
        match r.get("LastEvaluatedKey") {
            Some(k) => start = Some(k.clone()),
            None => return out,
        }
    }
    panic!("{op} never finished paging");
}

fn apply(db: &Database, model: &mut Model, op: &Op) -> Result<(), TestCaseError> {
    match op {
        Op::Put(k, v, c) => {
            let mut body =
                json!({"TableName": "mdl", "Item": item_json(k, *v), "ReturnValues": "ALL_OLD"});
            let holds = with_cond(&mut body, c, model.get(k).copied());
            let r = call(db, "PutItem", body);
            if holds {
                let r = r.map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(v_of(&r["Attributes"]), model.get(k).copied());
                model.insert(k.clone(), *v);
            } else {
                prop_assert_eq!(
                    r.err().map(|e| e.code),
                    Some(ErrorCode::ConditionalCheckFailedException)
                );
            }
        }
        Op::Delete(k, c) => {
            let mut body =
                json!({"TableName": "mdl", "Key": key_json(k), "ReturnValues": "ALL_OLD"});
            let holds = with_cond(&mut body, c, model.get(k).copied());
            let r = call(db, "DeleteItem", body);
            if holds {
                let r = r.map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(v_of(&r["Attributes"]), model.remove(k));
            } else {
                prop_assert_eq!(
                    r.err().map(|e| e.code),
                    Some(ErrorCode::ConditionalCheckFailedException)
                );
            }
        }
        Op::Add(k, d) => {
            let r = ok(
                db,
                "UpdateItem",
                json!({"TableName": "mdl", "Key": key_json(k), "UpdateExpression": "ADD v :d",
                       "ExpressionAttributeValues": {":d": {"N": d.to_string()}}, "ReturnValues": "ALL_NEW"}),
            );
            let new = model.get(k).copied().unwrap_or(0) + d;
            model.insert(k.clone(), new);
            prop_assert_eq!(v_of(&r["Attributes"]), Some(new));
        }
        Op::Get(k) => {
            let r = ok(
                db,
                "GetItem",
                json!({"TableName": "mdl", "Key": key_json(k), "ConsistentRead": true}),
            );
            prop_assert_eq!(v_of(&r["Item"]), model.get(k).copied());
        }
        Op::Query(p, forward, limit) => {
            let mut body = json!({"TableName": "mdl", "KeyConditionExpression": "pk = :p",
                "ExpressionAttributeValues": {":p": {"S": p}}, "ScanIndexForward": forward});
            if let Some(l) = limit {
                body["Limit"] = json!(l);
            }
            let got = all_pages(db, "Query", body);
            let mut want: Vec<(Key, i64)> = model
                .iter()
                .filter(|((kp, _), _)| kp == p)
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            if !forward {
                want.reverse();
            }
            prop_assert_eq!(got, want);
        }
        Op::Scan(limit) => {
            let mut body = json!({"TableName": "mdl"});
            if let Some(l) = limit {
                body["Limit"] = json!(l);
            }
            let mut got = all_pages(db, "Scan", body);
            got.sort();
            let want: Vec<(Key, i64)> = model.iter().map(|(k, v)| (k.clone(), *v)).collect();
            prop_assert_eq!(got, want);
        }
        Op::BatchWrite(writes) => {
            let reqs: Vec<Value> = writes
                .iter()
                .map(|(k, v)| match v {
                    Some(v) => json!({"PutRequest": {"Item": item_json(k, *v)}}),
                    None => json!({"DeleteRequest": {"Key": key_json(k)}}),
                })
                .collect();
            let r = ok(db, "BatchWriteItem", json!({"RequestItems": {"mdl": reqs}}));
            prop_assert_eq!(&r["UnprocessedItems"], &json!({}));
            for (k, v) in writes {
                match v {
                    Some(v) => model.insert(k.clone(), *v),
                    None => model.remove(k),
                };
            }
        }
        Op::Transact(actions) => {
            let mut items = Vec::new();
            let mut all_hold = true;
            let mut codes = Vec::new();
            for (k, v, c) in actions {
                let mut body = match v {
                    Some(v) => json!({"TableName": "mdl", "Item": item_json(k, *v)}),
                    None => json!({"TableName": "mdl", "Key": key_json(k)}),
                };
                let holds = with_cond(&mut body, c, model.get(k).copied());
                all_hold &= holds;
                codes.push(if holds {
                    "None"
                } else {
                    "ConditionalCheckFailed"
                });
                items.push(match (v, c) {
                    (Some(_), _) => json!({"Put": body}),
                    (None, Cond::None) => json!({"Delete": body}),
                    (None, _) if k.1 % 2 == 0 => json!({"ConditionCheck": body}),
                    (None, _) => json!({"Delete": body}),
                });
            }
            let r = call(db, "TransactWriteItems", json!({"TransactItems": items}));
            if all_hold {
                prop_assert!(r.is_ok(), "{:?}", r);
                for ((k, v, _), item) in actions.iter().zip(&items) {
                    if item.get("ConditionCheck").is_some() {
                        continue;
                    }
                    match v {
                        Some(v) => model.insert(k.clone(), *v),
                        None => model.remove(k),
                    };
                }
            } else {
                let e = r
                    .err()
                    .ok_or_else(|| TestCaseError::fail("transaction should fail"))?;
                prop_assert_eq!(e.code, ErrorCode::TransactionCanceledException);
                let got: Vec<&str> = e.extra["CancellationReasons"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|r| r["Code"].as_str()).collect())
                    .unwrap_or_default();
                prop_assert_eq!(got, codes);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn random_operations_agree_with_a_btreemap_model(ops in proptest::collection::vec(op(), 1..40)) {
        let db = db();
        create(&db, "mdl", Some("N"));
        let mut model = Model::new();
        for op in &ops {
            apply(&db, &mut model, op)?;
        }
        apply(&db, &mut model, &Op::Scan(None))?;
    }
}
