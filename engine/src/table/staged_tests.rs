//! Single-item writes staged for a reactor thread ([`Database::respond_staged`]): the same
//! answers as the blocking operations, and no lost update when staged and blocking writers
//! meet on one item.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::api::{ApiError, Database, DatabaseOptions};
use crate::db::tests::drive_all;
use crate::db::EngineOptions;
use crate::io::BackendKind;
use crate::table::StagedWrite;

fn open(dir: &std::path::Path) -> Database {
    let engine = EngineOptions {
        backend: BackendKind::Std,
        ..EngineOptions::default()
    };
    Database::open(dir, engine, DatabaseOptions::default()).expect("open")
}

fn create(db: &Database, name: &str) {
    db.execute(
        "CreateTable",
        json!({"TableName": name, "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]})
        .to_string()
        .as_bytes(),
    )
    .expect("create");
}

/// Finishes staged writes as the HTTP front does: commits awaited together on this thread,
/// the writes that would wait on threads of their own (they may wait for a lock an awaited
/// commit holds).
fn resolve_all(staged: Vec<StagedWrite>) -> Vec<Result<Value, ApiError>> {
    let mut out: Vec<Option<Result<Value, ApiError>>> = staged.iter().map(|_| None).collect();
    let mut futs = Vec::new();
    let mut fut_at = Vec::new();
    let mut threads = Vec::new();
    for (n, s) in staged.into_iter().enumerate() {
        match s {
            StagedWrite::Done(r) => out[n] = Some(r),
            StagedWrite::Commit(f) => {
                futs.push(f);
                fut_at.push(n);
            }
            StagedWrite::Blocking(rest) => threads.push((n, std::thread::spawn(rest))),
        }
    }
    for (n, r) in fut_at.into_iter().zip(drive_all(futs)) {
        out[n] = Some(r);
    }
    for (n, h) in threads {
        out[n] = Some(h.join().expect("blocking rest"));
    }
    out.into_iter().flatten().collect()
}

fn staged(db: &Database, op: &str, body: &Value) -> StagedWrite {
    db.respond_staged(op, body.to_string().as_bytes())
}

#[test]
fn staged_writes_answer_as_the_blocking_ones_do() {
    let (da, dbb) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let (a, b) = (open(da.path()), open(dbb.path()));
    create(&a, "tab");
    create(&b, "tab");
    let requests: Vec<(&str, Value)> = vec![
        (
            "PutItem",
            json!({"TableName": "tab", "Item": {"pk": {"S": "k"}, "n": {"N": "1"}},
            "ReturnConsumedCapacity": "TOTAL"}),
        ),
        (
            "PutItem",
            json!({"TableName": "tab", "Item": {"pk": {"S": "k"}, "n": {"N": "2"}},
            "ReturnValues": "ALL_OLD"}),
        ),
        (
            "PutItem",
            json!({"TableName": "tab", "Item": {"pk": {"S": "k"}},
            "ConditionExpression": "attribute_not_exists(pk)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}),
        ),
        (
            "UpdateItem",
            json!({"TableName": "tab", "Key": {"pk": {"S": "k"}},
            "UpdateExpression": "ADD n :one SET s = :s", "ReturnValues": "UPDATED_NEW",
            "ExpressionAttributeValues": {":one": {"N": "1"}, ":s": {"S": "x"}}}),
        ),
        (
            "UpdateItem",
            json!({"TableName": "tab", "Key": {"pk": {"S": "new"}},
            "UpdateExpression": "SET l = :l", "ReturnValues": "ALL_NEW",
            "ExpressionAttributeValues": {":l": {"L": [{"S": "a"}]}}}),
        ),
        (
            "UpdateItem",
            json!({"TableName": "tab", "Key": {"pk": {"S": "k"}},
            "UpdateExpression": "SET pk = :v",
            "ExpressionAttributeValues": {":v": {"S": "x"}}}),
        ),
        (
            "DeleteItem",
            json!({"TableName": "tab", "Key": {"pk": {"S": "k"}},
            "ReturnValues": "ALL_OLD", "ReturnConsumedCapacity": "TOTAL"}),
        ),
        (
            "DeleteItem",
            json!({"TableName": "tab", "Key": {"pk": {"S": "gone"}},
            "ReturnValues": "ALL_OLD"}),
        ),
        (
            "DeleteItem",
            json!({"TableName": "missing", "Key": {"pk": {"S": "k"}}}),
        ),
        (
            "PutItem",
            json!({"TableName": "tab", "Item": {"pk": {"S": 5}}}),
        ),
        (
            "PutItem",
            json!({"TableName": "tab", "Item": {"other": {"S": "x"}}}),
        ),
        (
            "UpdateItem",
            json!({"TableName": "tab", "Key": {"pk": {"S": "k"}},
            "UpdateExpression": "SET a = :missing"}),
        ),
    ];
    for (op, body) in &requests {
        let got = resolve_all(vec![staged(&a, op, body)])
            .pop()
            .expect("one answer");
        let want = b.execute(op, body.to_string().as_bytes());
        match (got, want) {
            (Ok(g), Ok(w)) => assert_eq!(g, w, "{op} {body}"),
            (Err(g), Err(w)) => {
                assert_eq!((g.code, &g.message), (w.code, &w.message), "{op} {body}");
                assert_eq!(g.extra, w.extra, "{op} {body}");
            }
            (g, w) => panic!("{op} {body}: staged {g:?}, blocking {w:?}"),
        }
    }
    // The same items are stored.
    for k in ["k", "new", "gone"] {
        let get = json!({"TableName": "tab", "Key": {"pk": {"S": k}}, "ConsistentRead": true});
        let get = get.to_string();
        assert_eq!(
            a.execute("GetItem", get.as_bytes()).expect("get"),
            b.execute("GetItem", get.as_bytes()).expect("get")
        );
    }
}

#[test]
fn staged_and_blocking_increments_of_one_item_lose_none() {
    let dir = tempfile::tempdir().expect("dir");
    let db = Arc::new(open(dir.path()));
    create(&db, "ctr");
    let add = json!({"TableName": "ctr", "Key": {"pk": {"S": "n"}},
        "UpdateExpression": "ADD v :one", "ExpressionAttributeValues": {":one": {"N": "1"}}});
    let blocking: Vec<_> = (0..3)
        .map(|_| {
            let (db, add) = (Arc::clone(&db), add.to_string());
            std::thread::spawn(move || {
                for _ in 0..100 {
                    db.execute("UpdateItem", add.as_bytes()).expect("add");
                }
            })
        })
        .collect();
    let mut handed_back = 0;
    for _ in 0..40 {
        let round: Vec<StagedWrite> = (0..8).map(|_| staged(&db, "UpdateItem", &add)).collect();
        handed_back += round
            .iter()
            .filter(|s| matches!(s, StagedWrite::Blocking(_)))
            .count();
        for r in resolve_all(round) {
            r.expect("staged add");
        }
    }
    for h in blocking {
        h.join().expect("join");
    }
    // Eight stagings of one item at once: all but the first found its lock taken.
    assert!(handed_back >= 40 * 7, "{handed_back}");
    let got = db
        .execute(
            "GetItem",
            json!({"TableName": "ctr", "Key": {"pk": {"S": "n"}}, "ConsistentRead": true})
                .to_string()
                .as_bytes(),
        )
        .expect("get");
    assert_eq!(got["Item"]["v"], json!({"N": "620"}));
}

#[test]
fn describe_table_counts_live_items_not_stored_versions() {
    let dir = tempfile::tempdir().expect("dir");
    let db = open(dir.path());
    create(&db, "cnt");
    let exec = |op: &str, body: Value| {
        db.execute(op, body.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("{op}: {e}"))
    };
    for round in 0..3 {
        for i in 0..10 {
            exec(
                "PutItem",
                json!({"TableName": "cnt", "Item": {"pk": {"S": format!("k{i}")}, "r": {"N": round.to_string()}}}),
            );
        }
    }
    for i in 0..4 {
        exec(
            "DeleteItem",
            json!({"TableName": "cnt", "Key": {"pk": {"S": format!("k{i}")}}}),
        );
        // Deleting a missing item changes nothing.
        exec(
            "DeleteItem",
            json!({"TableName": "cnt", "Key": {"pk": {"S": "never"}}}),
        );
    }
    let t = exec("DescribeTable", json!({"TableName": "cnt"}));
    assert_eq!(t["Table"]["ItemCount"], json!(6));
    // Each item: "pk" (2) + "k5" (2) + "r" (1) + the number 2 (2) = 7 bytes.
    assert_eq!(t["Table"]["TableSizeBytes"], json!(6 * 7));
}
