#![no_main]
//! Arbitrary request bodies for every operation get a response or a DynamoDB error, never a
//! panic, against the in-memory model store.
use std::sync::{Arc, OnceLock};

use hashlog::api::{Database, DatabaseOptions, SUPPORTED_OPERATIONS};
use hashlog::kv::MemKv;
use libfuzzer_sys::fuzz_target;

fn db() -> &'static Database {
    static DB: OnceLock<Database> = OnceLock::new();
    DB.get_or_init(|| {
        let db = Database::new(Arc::new(MemKv::new()), DatabaseOptions::default()).expect("db");
        let _ = db.execute(
            "CreateTable",
            br#"{"TableName":"fuzz","KeySchema":[{"AttributeName":"pk","KeyType":"HASH"},{"AttributeName":"sk","KeyType":"RANGE"}],"AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"},{"AttributeName":"sk","AttributeType":"N"}],"BillingMode":"PAY_PER_REQUEST"}"#,
        );
        db
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&op, body)) = data.split_first() else {
        return;
    };
    let op = SUPPORTED_OPERATIONS[op as usize % SUPPORTED_OPERATIONS.len()];
    if op == "DeleteTable" {
        return;
    }
    let _ = db().execute(op, body);
});
