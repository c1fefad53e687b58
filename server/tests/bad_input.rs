//! Bad input at the API: a seeded generator sends malformed, oversize, wrongly typed, deeply
//! nested and adversarial requests for every supported operation to the real server (the
//! storage engine in a temporary directory, on 127.0.0.1:0) and checks every answer:
//!
//! - 200 with a JSON object (the mutation happened to be valid), or 400/413 with a JSON body
//!   carrying `__type` and `message`/`Message`; never a 5xx (a 500 whose `__type` is
//!   InternalServerError is counted and reported as a bug, anything else fails at once);
//! - the connection survives every request whose body is under the limit (unless the server
//!   answered and said `Connection: close`);
//! - afterwards the items that existed before are unchanged, both tables still describe the
//!   same, and the server still answers.
//!
//! Main strategy: take a valid request of the operation and apply 1–3 mutations (drop a field,
//! change a JSON type, splice random JSON, put a bad attribute value, an adversarial string or
//! number, or raw text such as `1e999` or 39 digits), then sometimes damage the bytes or the
//! headers. Generated requests name only the `fuzzed` and `scratch` tables and keys `g*`, so the
//! protected items (table `keep`, and keys `keep-*` in `fuzzed`) must come back unchanged whatever
//! was accepted.
//!
//! `HASHLOG_BADINPUT_SEED` replays a run (the seed is printed), `HASHLOG_BADINPUT_CASES` sets
//! the number of generated cases (default 6000; the loop also stops after 40 s).

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{env_usize, seed_from_env, Conn, Reply, TestServer};
use hashlog::api::SUPPORTED_OPERATIONS;
use hashlog::limits::{ITEM_SIZE_MAX_BYTES, NESTING_DEPTH_MAX, REQUEST_BODY_MAX_BYTES};
use hashlog::wal::Durability;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};

const FZ: &str = "fuzzed";
const KEEP: &str = "keep";
const SCRATCH: &str = "scratch";
const ARN_PREFIX: &str = "arn:aws:dynamodb:us-east-1:000000000000:table/";
const TIME_BUDGET: Duration = Duration::from_secs(40);

// ---------------------------------------------------------------------------------------------
// What a generated case is and how its answer is judged.

struct Case {
    op: &'static str,
    target: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
    /// Whether the body may legitimately be refused as over the limit.
    over_limit: bool,
    what: String,
}

impl Case {
    fn headers(&self) -> Vec<(&str, &str)> {
        let mut h = Vec::new();
        if let Some(ct) = &self.content_type {
            h.push(("Content-Type", ct.as_str()));
        }
        if let Some(t) = &self.target {
            h.push(("X-Amz-Target", t.as_str()));
        }
        h
    }

    fn describe(&self) -> String {
        let shown: String = String::from_utf8_lossy(&self.body[..self.body.len().min(300)]).into();
        format!(
            "op {} ({}) target {:?} content-type {:?}, {} body bytes: {shown:?}",
            self.op,
            self.what,
            self.target,
            self.content_type,
            self.body.len()
        )
    }
}

#[derive(Default)]
struct Tally {
    sent: usize,
    by_outcome: BTreeMap<String, usize>,
    by_op: BTreeMap<&'static str, usize>,
    /// First mutation → [accepted, SerializationException, other error].
    by_mutation: BTreeMap<String, [usize; 3]>,
    internal_errors: Vec<String>,
    failures: Vec<String>,
    reconnects: usize,
}

impl Tally {
    /// Judges one answer; returns whether the connection must be replaced.
    fn judge(&mut self, case: &Case, got: Result<Reply, String>) -> bool {
        self.sent += 1;
        *self.by_op.entry(case.op).or_default() += 1;
        let r = match got {
            Ok(r) => r,
            Err(e) => {
                let fatal = !case.over_limit;
                if fatal {
                    self.failures
                        .push(format!("dropped connection ({e}): {}", case.describe()));
                }
                *self.by_outcome.entry("no answer".into()).or_default() += 1;
                return true;
            }
        };
        let body = r.json();
        if case.over_limit
            && !(matches!(r.status, 400 | 413) && r.error_name() == "ValidationException")
        {
            self.failures.push(format!(
                "over the limit but answered {} {:?}: {}",
                r.status,
                String::from_utf8_lossy(&r.body),
                case.describe()
            ));
        }
        let label = match r.status {
            200 => {
                if !body.as_ref().is_some_and(Value::is_object) {
                    self.failures.push(format!(
                        "200 without a JSON object body {:?}: {}",
                        String::from_utf8_lossy(&r.body),
                        case.describe()
                    ));
                }
                "200".to_string()
            }
            400 | 413 => {
                let ok = body.as_ref().is_some_and(|v| {
                    v["__type"].as_str().is_some_and(|t| t.contains('#'))
                        && (v["message"].is_string() || v["Message"].is_string())
                });
                if !ok {
                    self.failures.push(format!(
                        "{} without __type/message {:?}: {}",
                        r.status,
                        String::from_utf8_lossy(&r.body),
                        case.describe()
                    ));
                }
                format!("{} {}", r.status, r.error_name())
            }
            500 if r.error_name() == "InternalServerError" => {
                self.internal_errors.push(format!(
                    "{}: {}",
                    String::from_utf8_lossy(&r.body),
                    case.describe()
                ));
                "500 InternalServerError".to_string()
            }
            s => {
                self.failures.push(format!(
                    "status {s} {:?}: {}",
                    String::from_utf8_lossy(&r.body),
                    case.describe()
                ));
                format!("{s} {}", r.error_name())
            }
        };
        let first = case.what.split(", ").next().unwrap_or("").to_string();
        let slot = match label.as_str() {
            "200" => 0,
            "400 SerializationException" => 1,
            _ => 2,
        };
        self.by_mutation.entry(first).or_default()[slot] += 1;
        *self.by_outcome.entry(label).or_default() += 1;
        r.closes()
    }
}

// ---------------------------------------------------------------------------------------------
// Fixture: tables, protected items, generated-key items.

fn create_table_body(name: &str, with_sort: bool) -> Value {
    let mut ks = vec![json!({"AttributeName": "pk", "KeyType": "HASH"})];
    let mut ad = vec![json!({"AttributeName": "pk", "AttributeType": "S"})];
    if with_sort {
        ks.push(json!({"AttributeName": "sk", "KeyType": "RANGE"}));
        ad.push(json!({"AttributeName": "sk", "AttributeType": "N"}));
    }
    json!({
        "TableName": name,
        "KeySchema": ks,
        "AttributeDefinitions": ad,
        "BillingMode": "PAY_PER_REQUEST",
    })
}

/// `{"L":[{"L":[... {"S":"x"}]}]}` with `depth` levels of L (the innermost S is one more).
fn nested(depth: usize) -> Value {
    let mut v = json!({"S": "x"});
    for _ in 0..depth {
        v = json!({ "L": [v] });
    }
    v
}

/// The items no generated request may change: (table, item).
fn protected_items() -> Vec<(&'static str, Value)> {
    let mut v = vec![
        (
            KEEP,
            json!({
                "pk": {"S": "keep-types"},
                "s": {"S": "héllo 😀 \u{0}"},
                "n": {"N": "-12.5e3"},
                "big": {"N": "99999999999999999999999999999999999999"},
                "b": {"B": "AAEC/w=="},
                "ss": {"SS": ["a", "b"]},
                "ns": {"NS": ["1", "2.5"]},
                "bs": {"BS": ["AA==", "AQ=="]},
                "l": {"L": [{"S": "x"}, {"N": "1"}, {"NULL": true}]},
                "m": {"M": {"deep": {"M": {"x": {"BOOL": true}}}}},
                "t": {"BOOL": false},
            }),
        ),
        (
            KEEP,
            json!({"pk": {"S": "keep-nested"}, "d": nested(NESTING_DEPTH_MAX - 1)}),
        ),
        (
            KEEP,
            json!({"pk": {"S": "keep-large"}, "v": {"S": "L".repeat(300 * 1024)}}),
        ),
    ];
    for i in 1..=3 {
        v.push((
            FZ,
            json!({"pk": {"S": format!("keep-{i}")}, "sk": {"N": i.to_string()}, "v": {"S": "kept"}, "n": {"N": "7"}}),
        ));
    }
    v
}

fn key_of(table: &str, item: &Value) -> Value {
    if table == FZ {
        json!({"pk": item["pk"], "sk": item["sk"]})
    } else {
        json!({"pk": item["pk"]})
    }
}

fn must(c: &mut Conn, op: &str, body: &Value) -> Value {
    let r = c.call(op, body).unwrap_or_else(|e| panic!("{op}: {e}"));
    assert_eq!(
        r.status,
        200,
        "{op} {body}: {}",
        String::from_utf8_lossy(&r.body)
    );
    r.json().expect("JSON")
}

fn setup(c: &mut Conn) {
    must(c, "CreateTable", &create_table_body(FZ, true));
    must(c, "CreateTable", &create_table_body(KEEP, false));
    for (table, item) in protected_items() {
        must(c, "PutItem", &json!({"TableName": table, "Item": item}));
    }
    for g in 0..8 {
        for sk in 1..=2 {
            must(
                c,
                "PutItem",
                &json!({"TableName": FZ, "Item": {
                    "pk": {"S": format!("g{g}")}, "sk": {"N": sk.to_string()},
                    "v": {"S": "x"}, "n": {"N": "1"}, "ss": {"SS": ["a"]},
                    "l": {"L": [{"N": "1"}]}, "m": {"M": {"a": {"S": "b"}}}}}),
            );
        }
    }
}

/// What the protected state looks like: every protected item read back, and both tables'
/// key schemas.
fn snapshot(c: &mut Conn) -> Vec<Value> {
    let mut out = Vec::new();
    for (table, item) in protected_items() {
        let got = must(
            c,
            "GetItem",
            &json!({"TableName": table, "Key": key_of(table, &item), "ConsistentRead": true}),
        );
        out.push(got["Item"].clone());
    }
    for t in [FZ, KEEP] {
        let d = must(c, "DescribeTable", &json!({"TableName": t}));
        out.push(d["Table"]["KeySchema"].clone());
        out.push(d["Table"]["AttributeDefinitions"].clone());
    }
    let s = must(
        c,
        "Scan",
        &json!({"TableName": KEEP, "ConsistentRead": true}),
    );
    out.push(s["Count"].clone());
    out
}

// ---------------------------------------------------------------------------------------------
// Valid requests, one or more shapes per operation.

/// Operations whose generated requests must not name `fuzzed` (they could legitimately drop it or
/// change what its items mean).
fn touches_table_itself(op: &str) -> bool {
    matches!(op, "DeleteTable" | "UpdateTable" | "UpdateTimeToLive")
}

fn gkey(rng: &mut SmallRng) -> Value {
    json!({"pk": {"S": format!("g{}", rng.gen_range(0..10))}, "sk": {"N": rng.gen_range(0..4).to_string()}})
}

fn gitem(rng: &mut SmallRng) -> Value {
    let mut item = gkey(rng);
    let m = item.as_object_mut().expect("object");
    m.insert("v".into(), json!({"S": "y"}));
    m.insert("n".into(), json!({"N": rng.gen_range(-5..5).to_string()}));
    if rng.gen_bool(0.3) {
        m.insert("ss".into(), json!({"SS": ["a", "b"]}));
        m.insert(
            "m".into(),
            json!({"M": {"a": {"L": [{"S": "b"}, {"BOOL": true}]}}}),
        );
    }
    item
}

fn values() -> Value {
    json!({":v": {"S": "x"}, ":one": {"N": "1"}, ":p": {"S": "g1"}, ":s": {"N": "0"}})
}

fn base_request(op: &str, rng: &mut SmallRng) -> Value {
    let table = if touches_table_itself(op) || rng.gen_bool(0.1) {
        SCRATCH
    } else {
        FZ
    };
    match op {
        "CreateTable" => {
            let mut b = create_table_body(SCRATCH, rng.gen_bool(0.5));
            if rng.gen_bool(0.3) {
                b["BillingMode"] = json!("PROVISIONED");
                b["ProvisionedThroughput"] =
                    json!({"ReadCapacityUnits": 5, "WriteCapacityUnits": 5});
            }
            if rng.gen_bool(0.3) {
                b["AttributeDefinitions"]
                    .as_array_mut()
                    .expect("array")
                    .push(json!({"AttributeName": "g", "AttributeType": "S"}));
                b["GlobalSecondaryIndexes"] = json!([{
                    "IndexName": "gi",
                    "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }]);
            }
            b
        }
        "DeleteTable" | "DescribeTable" | "DescribeTimeToLive" => json!({"TableName": table}),
        "ListTables" => json!({"Limit": rng.gen_range(1..20), "ExclusiveStartTableName": "a"}),
        "UpdateTable" => {
            if rng.gen_bool(0.5) {
                json!({"TableName": SCRATCH, "BillingMode": "PAY_PER_REQUEST"})
            } else {
                json!({"TableName": SCRATCH, "BillingMode": "PROVISIONED",
                       "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}})
            }
        }
        "PutItem" => json!({
            "TableName": table,
            "Item": gitem(rng),
            "ConditionExpression": "attribute_not_exists(pk) OR #v = :v",
            "ExpressionAttributeNames": {"#v": "v"},
            "ExpressionAttributeValues": {":v": {"S": "x"}},
            "ReturnValues": "ALL_OLD",
            "ReturnConsumedCapacity": "TOTAL",
        }),
        "GetItem" => json!({
            "TableName": table,
            "Key": gkey(rng),
            "ProjectionExpression": "#v, n, l[0], m.a",
            "ExpressionAttributeNames": {"#v": "v"},
            "ConsistentRead": rng.gen_bool(0.5),
        }),
        "UpdateItem" => json!({
            "TableName": table,
            "Key": gkey(rng),
            "UpdateExpression": "SET #v = :v, l = list_append(if_not_exists(l, :empty), :l) ADD n :one REMOVE gone",
            "ConditionExpression": "attribute_not_exists(pk) OR size(#v) < :ten",
            "ExpressionAttributeNames": {"#v": "v"},
            "ExpressionAttributeValues": {":v": {"S": "x"}, ":one": {"N": "1"},
                ":empty": {"L": []}, ":l": {"L": [{"N": "2"}]}, ":ten": {"N": "10"}},
            "ReturnValues": "ALL_NEW",
        }),
        "DeleteItem" => json!({
            "TableName": table,
            "Key": gkey(rng),
            "ConditionExpression": "n <> :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
            "ReturnValues": "ALL_OLD",
        }),
        "Query" => json!({
            "TableName": table,
            "KeyConditionExpression": "pk = :p AND sk > :s",
            "FilterExpression": "begins_with(v, :v) OR contains(ss, :v)",
            "ProjectionExpression": "pk, sk, v",
            "ExpressionAttributeValues": values(),
            "Limit": rng.gen_range(1..5),
            "ScanIndexForward": rng.gen_bool(0.5),
            "ExclusiveStartKey": {"pk": {"S": "g1"}, "sk": {"N": "0"}},
            "Select": "SPECIFIC_ATTRIBUTES",
        }),
        "Scan" => json!({
            "TableName": table,
            "FilterExpression": "n BETWEEN :s AND :one",
            "ExpressionAttributeValues": {":s": {"N": "0"}, ":one": {"N": "1"}},
            "Limit": rng.gen_range(1..50),
            "Segment": 0,
            "TotalSegments": 2,
            "ConsistentRead": true,
        }),
        "BatchGetItem" => json!({"RequestItems": {
            table: {"Keys": [gkey(rng), gkey(rng)], "ConsistentRead": true,
                    "ProjectionExpression": "pk, sk, v"},
        }}),
        "BatchWriteItem" => json!({"RequestItems": {
            table: [{"PutRequest": {"Item": gitem(rng)}}, {"DeleteRequest": {"Key": gkey(rng)}}],
        }}),
        "TransactWriteItems" => json!({
            "TransactItems": [
                {"Put": {"TableName": table, "Item": gitem(rng)}},
                {"Update": {"TableName": table, "Key": gkey(rng), "UpdateExpression": "ADD n :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}}}},
                {"ConditionCheck": {"TableName": table, "Key": gkey(rng),
                                    "ConditionExpression": "attribute_exists(pk)"}},
            ],
            "ClientRequestToken": format!("tok-{}", rng.gen::<u32>()),
        }),
        "TransactGetItems" => json!({"TransactItems": [
            {"Get": {"TableName": table, "Key": gkey(rng)}},
            {"Get": {"TableName": table, "Key": gkey(rng), "ProjectionExpression": "v"}},
        ]}),
        "TagResource" => json!({"ResourceArn": format!("{ARN_PREFIX}{table}"),
                                "Tags": [{"Key": "k", "Value": "v"}]}),
        "UntagResource" => json!({"ResourceArn": format!("{ARN_PREFIX}{table}"), "TagKeys": ["k"]}),
        "ListTagsOfResource" => json!({"ResourceArn": format!("{ARN_PREFIX}{table}")}),
        "UpdateTimeToLive" => json!({"TableName": SCRATCH,
            "TimeToLiveSpecification": {"Enabled": true, "AttributeName": "ttl"}}),
        "DescribeLimits" => json!({}),
        "Streams.ListStreams" => json!({"TableName": table, "Limit": rng.gen_range(1..5)}),
        "Streams.DescribeStream" => {
            json!({"StreamArn": format!("{ARN_PREFIX}{table}/stream/2026-01-01T00:00:00.000")})
        }
        "Streams.GetShardIterator" => json!({
            "StreamArn": format!("{ARN_PREFIX}{table}/stream/2026-01-01T00:00:00.000"),
            "ShardId": "shardId-00000000000000000000-00000001",
            "ShardIteratorType": "TRIM_HORIZON"}),
        "Streams.GetRecords" => {
            json!({"ShardIterator": format!("0|{ARN_PREFIX}{table}/stream/x|shardId-1|0"), "Limit": 10})
        }
        other => json!({"TableName": table, "Unknown": other}),
    }
}

// ---------------------------------------------------------------------------------------------
// Mutations.

/// Raw text that replaces a `"\u{1}RAW<n>\u{1}"` string after serialization, so cases can carry
/// numbers serde_json cannot hold and outright invalid JSON.
const RAW: &[&str] = &[
    "1e999",
    "-1e999",
    "123456789012345678901234567890123456789",
    "-0",
    "1E-400",
    "0.0000000000000000000000000000000000000001",
    "18446744073709551616",
    "-9223372036854775809",
    "NaN",
    "Infinity",
    "tru",
    "nul",
    "[",
    "{",
    "\"unterminated",
    "\"\\ud800\"",
    "\"\\u00zz\"",
    "{\"S\":\"a\",\"S\":\"b\"}",
    "{\"N\":\"1\",\"N\":\"x\"}",
    "{\"TableName\":\"fuzzed\",\"TableName\":7}",
    "[1,]",
    "{,}",
    "01",
    "1.",
    ".5",
    "+1",
    "\"\u{7f}\"",
];

const FIELD_NAMES: &[&str] = &[
    "TableName",
    "Item",
    "Key",
    "Keys",
    "Limit",
    "ExpressionAttributeNames",
    "ExpressionAttributeValues",
    "ConditionExpression",
    "UpdateExpression",
    "KeyConditionExpression",
    "FilterExpression",
    "ProjectionExpression",
    "ReturnValues",
    "ExclusiveStartKey",
    "Segment",
    "TotalSegments",
    "RequestItems",
    "TransactItems",
    "AttributesToGet",
    "KeyConditions",
    "QueryFilter",
    "ScanFilter",
    "Expected",
    "AttributeUpdates",
    "ConditionalOperator",
    "IndexName",
    "Select",
    "ReturnItemCollectionMetrics",
    "ReturnValuesOnConditionCheckFailure",
    "ClientRequestToken",
    "GlobalSecondaryIndexUpdates",
    "StreamSpecification",
    "SSESpecification",
    "ResourceArn",
    "Tags",
    "TagKeys",
    "",
    "__proto__",
];

fn adversarial_string(rng: &mut SmallRng) -> String {
    const POOL: &[&str] = &[
        "",
        " ",
        "a",
        "\u{0}",
        "\u{ffff}",
        "😀",
        "#",
        ":",
        "#nope",
        ":nope",
        "((((",
        "))",
        "a = ",
        "SET",
        "SET #v = :v,",
        "SET a = a + ",
        "attribute_exists(",
        "attribute_type(v, :nope)",
        "size(size(v)) > :one",
        "v.b[99999999999999999999]",
        "l[-1]",
        "REMOVE ",
        "ADD n :v DELETE ss :v",
        "SET n = n - :v",
        "pk = :p AND begins_with(sk, :s) OR",
        "pk = :p OR sk = :s",
        "pk < :p",
        "NOT NOT NOT v",
        "v IN ()",
        "v BETWEEN :s",
        "contains()",
        "#v = :v AND #w = :w",
        "v = :v AND :v",
        "\"",
        "\\",
        "null",
        "PAY_PER_REQUEST",
        "PROVISIONED",
        "ALL_NEW",
        "UPDATED_OLD",
        "HASH",
        "RANGE",
        "S",
        "N",
        "SS",
        "COUNT",
        "ALL_PROJECTED_ATTRIBUTES",
        "arn:aws:dynamodb:us-east-1:000000000000:table/nope",
        "arn:",
        "scratch",
        "nope",
        "ab",
        "bad name!",
        "g1",
        "1e999",
        "-",
        "0x10",
    ];
    match rng.gen_range(0..10) {
        0 => "x".repeat(rng.gen_range(4090..4200)),
        1 => "x".repeat(rng.gen_range(65_530..70_000)),
        2 => format!("{}a{}", "(".repeat(300), ")".repeat(300)),
        3 => (0..rng.gen_range(1..40))
            .map(|_| char::from(rng.gen_range(0x20u8..0x7f)))
            .collect(),
        4 => format!("SET {}", "a.".repeat(200) + "b = :v"),
        _ => POOL[rng.gen_range(0..POOL.len())].to_string(),
    }
}

fn adversarial_number(rng: &mut SmallRng) -> Value {
    match rng.gen_range(0..12) {
        0 => json!(0),
        1 => json!(-1),
        2 => json!(i64::MIN),
        3 => json!(u64::MAX),
        4 => json!(i64::from(i32::MAX) + 1),
        5 => json!(1.5),
        6 => json!(-1e308),
        7 => json!(1e20),
        8 => json!(1_000_000_000),
        9 => json!(101),
        10 => json!(26),
        _ => json!(rng.gen_range(-3..200)),
    }
}

fn bad_attribute_value(rng: &mut SmallRng) -> Value {
    let nines = "9".repeat(39);
    let pool = [
        json!({"N": "1e999"}),
        json!({"N": "abc"}),
        json!({"N": ""}),
        json!({"N": nines}),
        json!({"N": format!("0.{nines}")}),
        json!({"N": "-"}),
        json!({"N": " 1"}),
        json!({"N": "1e-131"}),
        json!({"N": "1E+126"}),
        json!({"N": "9.9999999999999999999999999999999999999E+125"}),
        json!({"N": 1}),
        json!({"S": ""}),
        json!({"S": 1}),
        json!({"S": null}),
        json!({"B": "***"}),
        json!({"B": ""}),
        json!({"B": "QQ"}),
        json!({"BOOL": "true"}),
        json!({"NULL": false}),
        json!({"NULL": "x"}),
        json!({"SS": []}),
        json!({"SS": ["a", "a"]}),
        json!({"NS": ["1", "1.0"]}),
        json!({"NS": ["x"]}),
        json!({"NS": []}),
        json!({"BS": ["AA==", "AA=="]}),
        json!({"SS": "a"}),
        json!({"SS": [1]}),
        json!({"L": "x"}),
        json!({"M": []}),
        json!({"M": {"a": "b"}}),
        json!({"M": {"": {"S": "x"}}}),
        json!({"X": "1"}),
        json!({}),
        json!({"S": "a", "N": "1"}),
        json!([]),
        json!("str"),
        json!(5),
        Value::Null,
        nested(NESTING_DEPTH_MAX),
        nested(NESTING_DEPTH_MAX + 1),
        nested(NESTING_DEPTH_MAX + 2),
        nested(100),
        json!({"S": "x".repeat(ITEM_SIZE_MAX_BYTES + 1)}),
        json!({"S": "x".repeat(ITEM_SIZE_MAX_BYTES - 64)}),
        json!({"M": (0..3000).map(|i| (format!("a{i}"), json!({"N": "1"}))).collect::<Map<_, _>>()}),
    ];
    pool[rng.gen_range(0..pool.len())].clone()
}

fn random_json(rng: &mut SmallRng, depth: u32) -> Value {
    match rng.gen_range(0..if depth > 3 { 4 } else { 7 }) {
        0 => Value::Null,
        1 => json!(rng.gen_bool(0.5)),
        2 => adversarial_number(rng),
        3 => json!(adversarial_string(rng)),
        4 => Value::Array(
            (0..rng.gen_range(0..4))
                .map(|_| random_json(rng, depth + 1))
                .collect(),
        ),
        5 => bad_attribute_value(rng),
        _ => {
            let mut m = Map::new();
            for _ in 0..rng.gen_range(0..4) {
                let k = FIELD_NAMES[rng.gen_range(0..FIELD_NAMES.len())].to_string();
                m.insert(k, random_json(rng, depth + 1));
            }
            Value::Object(m)
        }
    }
}

#[derive(Clone, Debug)]
enum Seg {
    Key(String),
    Idx(usize),
}

fn paths(v: &Value, here: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    out.push(here.clone());
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                here.push(Seg::Key(k.clone()));
                paths(c, here, out);
                here.pop();
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                here.push(Seg::Idx(i));
                paths(c, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

fn at<'a>(v: &'a mut Value, path: &[Seg]) -> &'a mut Value {
    let mut cur = v;
    for s in path {
        cur = match s {
            Seg::Key(k) => &mut cur[k.as_str()],
            Seg::Idx(i) => &mut cur[*i],
        };
    }
    cur
}

fn at_ref<'a>(v: &'a Value, path: &[Seg]) -> &'a Value {
    let mut cur = v;
    for s in path {
        cur = match s {
            Seg::Key(k) => &cur[k.as_str()],
            Seg::Idx(i) => &cur[*i],
        };
    }
    cur
}

fn is_attribute_value(v: &Value) -> bool {
    const TYPES: &[&str] = &["S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"];
    v.as_object()
        .is_some_and(|m| m.len() == 1 && m.keys().all(|k| TYPES.contains(&k.as_str())))
}

/// One mutation at a random node; returns its name.
fn mutate(v: &mut Value, rng: &mut SmallRng, raws: &mut Vec<&'static str>) -> &'static str {
    let mut all = Vec::new();
    paths(v, &mut Vec::new(), &mut all);
    let kind = rng.gen_range(0..10);
    // Aim most string, number and attribute-value mutations at nodes of that kind, so they get
    // past the JSON shape checks into validation; the rest land anywhere.
    let aimed: Vec<Vec<Seg>> = all
        .iter()
        .filter(|p| {
            let node = at_ref(v, p);
            match kind {
                3 => node.is_string(),
                4 => node.is_number(),
                5 => is_attribute_value(node),
                7 => node.is_array(),
                _ => false,
            }
        })
        .cloned()
        .collect();
    let pool = if !aimed.is_empty() && rng.gen_bool(0.8) {
        &aimed
    } else {
        &all
    };
    let path = pool[rng.gen_range(0..pool.len())].clone();
    match kind {
        // Drop a member (the node itself when it is an object member, else one of its own).
        0 | 1 => {
            if let Some((Seg::Key(k), parent)) = path.split_last() {
                if let Value::Object(m) = at(v, parent) {
                    m.remove(k.as_str());
                }
            } else if let Value::Object(m) = at(v, &path) {
                if let Some(k) = m.keys().nth(rng.gen_range(0..m.len().max(1))).cloned() {
                    m.remove(&k);
                }
            }
            "drop"
        }
        // Change the JSON type.
        2 => {
            let node = at(v, &path);
            *node = match node {
                Value::Object(m) => Value::Array(m.values().cloned().collect()),
                Value::Array(a) => json!(a.len()),
                Value::String(s) => json!(s.len()),
                Value::Number(n) => json!(n.to_string()),
                Value::Bool(_) => json!("true"),
                Value::Null => json!({}),
            };
            "retype"
        }
        3 => {
            *at(v, &path) = json!(adversarial_string(rng));
            "string"
        }
        4 => {
            *at(v, &path) = adversarial_number(rng);
            "number"
        }
        5 => {
            *at(v, &path) = bad_attribute_value(rng);
            "attribute value"
        }
        6 => {
            let node = at(v, &path);
            if let Value::Object(m) = node {
                let k = if rng.gen_bool(0.8) {
                    FIELD_NAMES[rng.gen_range(0..FIELD_NAMES.len())].to_string()
                } else {
                    adversarial_string(rng)
                };
                m.insert(k, random_json(rng, 0));
            } else {
                *node = random_json(rng, 0);
            }
            "splice"
        }
        // Repeat an array element past the batch and transaction limits.
        7 => {
            let node = at(v, &path);
            if let Value::Array(a) = node {
                if let Some(first) = a.first().cloned() {
                    let n = [26, 101, 1000][rng.gen_range(0..3)];
                    a.resize(n, first);
                }
            } else {
                *node = json!([node.clone(), node.clone()]);
            }
            "repeat"
        }
        // Raw text: invalid numbers and invalid JSON.
        _ => {
            let raw = RAW[rng.gen_range(0..RAW.len())];
            *at(v, &path) = json!(format!("\u{1}RAW{}\u{1}", raws.len()));
            raws.push(raw);
            "raw"
        }
    }
}

/// Replaces every string that could name a protected item or, for table-level operations,
/// the `fuzzed` table.
fn sanitize(v: &mut Value, op: &str) {
    match v {
        Value::String(s) => {
            if s.starts_with(KEEP) || s.contains("table/keep") {
                *s = format!("x{s}");
            }
            if touches_table_itself(op) && (s == FZ || s.ends_with("table/fuzzed")) {
                *s = SCRATCH.to_string();
            }
        }
        Value::Object(m) => {
            let bad: Vec<String> = m
                .keys()
                .filter(|k| k.starts_with(KEEP) || (touches_table_itself(op) && *k == FZ))
                .cloned()
                .collect();
            for k in bad {
                if let Some(x) = m.remove(&k) {
                    m.insert(format!("x{k}"), x);
                }
            }
            m.values_mut().for_each(|c| sanitize(c, op));
        }
        Value::Array(a) => a.iter_mut().for_each(|c| sanitize(c, op)),
        _ => {}
    }
}

fn encode(v: &Value, raws: &[&str]) -> Vec<u8> {
    let mut s = v.to_string();
    for (i, raw) in raws.iter().enumerate() {
        s = s.replace(&format!("\"\\u0001RAW{i}\\u0001\""), raw);
    }
    s.into_bytes()
}

/// The `X-Amz-Target` of an operation name (`Streams.X` is the DynamoDB Streams API).
fn target_of(op: &str) -> String {
    match op.strip_prefix("Streams.") {
        Some(s) => format!("DynamoDBStreams_20120810.{s}"),
        None => format!("DynamoDB_20120810.{op}"),
    }
}

fn generate(rng: &mut SmallRng) -> Case {
    let op = SUPPORTED_OPERATIONS[rng.gen_range(0..SUPPORTED_OPERATIONS.len())];
    let mut v = base_request(op, rng);
    let mut raws = Vec::new();
    let mut what = Vec::new();
    let n = match rng.gen_range(0..100) {
        0..=4 => 0,
        5..=64 => 1,
        65..=89 => 2,
        _ => 3,
    };
    for _ in 0..n {
        what.push(mutate(&mut v, rng, &mut raws));
    }
    sanitize(&mut v, op);
    let mut body = encode(&v, &raws);

    // Damage the bytes now and then.
    match rng.gen_range(0..40) {
        0 => {
            body.truncate(rng.gen_range(0..body.len().max(1)));
            what.push("truncated");
        }
        1 => {
            if !body.is_empty() {
                let i = rng.gen_range(0..body.len());
                body[i] ^= 1 << rng.gen_range(0..8);
            }
            what.push("bit flip");
        }
        2 => {
            body = (0..rng.gen_range(0..2000)).map(|_| rng.gen()).collect();
            what.push("random bytes");
        }
        3 => {
            body = [
                &b""[..],
                b"   ",
                b"null",
                b"[]",
                b"1",
                b"\"x\"",
                b"{}",
                b"{\"a\":}",
            ][rng.gen_range(0..8)]
            .to_vec();
            what.push("tiny body");
        }
        4 => {
            let depth = [129, 1000, 100_000][rng.gen_range(0..3)];
            body = format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes();
            what.push("deep raw nesting");
        }
        5 => {
            body = format!(
                "{{\"TableName\":\"fuzzed\",\"Item\":{}}}",
                "{\"M\":{\"a\":".repeat(5000)
            )
            .into_bytes();
            what.push("deep unterminated");
        }
        6 => {
            let i = rng.gen_range(0..=body.len());
            let junk: Vec<u8> = (0..rng.gen_range(1..8)).map(|_| rng.gen()).collect();
            body.splice(i..i, junk);
            what.push("inserted bytes");
        }
        _ => {}
    }

    // And the headers.
    let mut target = Some(target_of(op));
    let mut content_type = Some("application/x-amz-json-1.0".to_string());
    match rng.gen_range(0..100) {
        0 => target = None,
        1 => target = Some(format!("DynamoDB_20111205.{op}")),
        2 => target = Some(format!("dynamodb_20120810.{op}")),
        3 => target = Some(format!("DynamoDB_20120810.{}", op.to_lowercase())),
        4 => target = Some(format!("DynamoDB_20120810.{op}.Extra")),
        5 => target = Some("DynamoDBStreams_20120810.GetRecords".into()),
        6 => target = Some(format!("DynamoDB_20120810.{op}{op}")),
        7 => target = Some("DynamoDB_20120810.DescribeBackup".into()),
        8 => content_type = None,
        9 => content_type = Some("text/plain".into()),
        10 => content_type = Some("application/x-amz-json-1.1".into()),
        11 => content_type = Some("application/json; charset=utf-8".into()),
        12 => content_type = Some(String::new()),
        13 => content_type = Some("application/x-amz-json-9.9".into()),
        _ => {}
    }
    Case {
        op,
        target,
        content_type,
        over_limit: body.len() > REQUEST_BODY_MAX_BYTES,
        body,
        what: what.join(", "),
    }
}

// ---------------------------------------------------------------------------------------------
// Fixed cases at and over the body limit.

fn limit_cases() -> Vec<Case> {
    let max = REQUEST_BODY_MAX_BYTES;
    let target = Some("DynamoDB_20120810.PutItem".to_string());
    let ct = Some("application/x-amz-json-1.0".to_string());
    // A valid PutItem padded with spaces to exactly the limit: read and accepted.
    let mut valid = json!({"TableName": FZ, "Item": {"pk": {"S": "g9"}, "sk": {"N": "9"}, "v": {"S": "limit"}}})
        .to_string()
        .into_bytes();
    valid.resize(max, b' ');
    // An oversize item in a body of exactly the limit: read, then refused.
    let filler = max - 200;
    let mut big_item =
        format!(r#"{{"TableName":"fuzzed","Item":{{"pk":{{"S":"g9"}},"sk":{{"N":"8"}},"v":{{"S":"{}"}}}}}}"#,
            "x".repeat(filler))
        .into_bytes();
    big_item.resize(max, b' ');
    let mut over = valid.clone();
    over.push(b' ');
    let mut cases = vec![
        Case {
            op: "PutItem",
            target: target.clone(),
            content_type: ct.clone(),
            body: valid,
            over_limit: false,
            what: "valid body of exactly the limit".into(),
        },
        Case {
            op: "PutItem",
            target: target.clone(),
            content_type: ct.clone(),
            body: big_item,
            over_limit: false,
            what: "oversize item in a body of exactly the limit".into(),
        },
        Case {
            op: "PutItem",
            target: target.clone(),
            content_type: ct.clone(),
            body: over,
            over_limit: true,
            what: "body one byte over the limit".into(),
        },
    ];
    for op in ["BatchWriteItem", "TransactWriteItems", "Query"] {
        cases.push(Case {
            op,
            target: Some(target_of(op)),
            content_type: ct.clone(),
            body: vec![b'{'; max + 1000],
            over_limit: true,
            what: "garbage over the limit".into(),
        });
    }
    cases
}

// ---------------------------------------------------------------------------------------------

#[test]
fn generated_bad_requests_get_dynamodb_errors_and_change_nothing() {
    let seed = seed_from_env("HASHLOG_BADINPUT_SEED");
    let cases = env_usize("HASHLOG_BADINPUT_CASES", 6000);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut srv = TestServer::start(
        Durability::Buffered {
            interval: Duration::from_millis(10),
        },
        common::test_config(),
    );
    let mut c = srv.connect();
    setup(&mut c);
    let before = snapshot(&mut c);

    let started = Instant::now();
    let mut tally = Tally::default();
    let mut body_bytes = 0usize;
    for _ in 0..cases {
        if started.elapsed() > TIME_BUDGET {
            eprintln!("time budget reached");
            break;
        }
        let case = generate(&mut rng);
        body_bytes += case.body.len();
        let got = if case.over_limit {
            c.post_lenient(&case.headers(), &case.body)
        } else {
            c.post(&case.headers(), &case.body)
        };
        if tally.judge(&case, got) {
            tally.reconnects += 1;
            c = srv.connect();
        }
        if tally.failures.len() >= 20 {
            break;
        }
    }
    let generated = tally.sent;
    for case in limit_cases() {
        body_bytes += case.body.len();
        let got = if case.over_limit {
            c.post_lenient(&case.headers(), &case.body)
        } else {
            c.post(&case.headers(), &case.body)
        };
        if tally.judge(&case, got) {
            tally.reconnects += 1;
            c = srv.connect();
        }
    }
    // A declared length over the limit is refused from the headers alone.
    c.send_raw(
        format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\n\
             X-Amz-Target: DynamoDB_20120810.PutItem\r\nContent-Length: {}\r\n\r\n",
            1u64 << 40
        )
        .as_bytes(),
    )
    .expect("send");
    let r = c.read_reply().expect("reply to a declared huge body");
    assert_eq!(r.status, 400);
    assert_eq!(r.error_name(), "ValidationException");
    // Garbage instead of HTTP: the connection may go, the server must stay.
    for junk in [
        &b"\x00\x01\x02 not http at all\r\n\r\n"[..],
        b"POST / HTTP/9.9\r\n\r\n",
        b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        let mut g = srv.connect();
        let _ = g.send_raw(junk);
        let _ = g.read_reply();
    }
    let elapsed = started.elapsed();

    let mut c = srv.connect();
    let after = snapshot(&mut c);
    assert_eq!(
        before, after,
        "protected items or table definitions changed"
    );
    let tables = must(&mut c, "ListTables", &json!({}));
    for t in [FZ, KEEP] {
        assert!(
            tables["TableNames"]
                .as_array()
                .is_some_and(|a| a.contains(&json!(t))),
            "{tables}"
        );
    }
    let limit_item = must(
        &mut c,
        "GetItem",
        &json!({"TableName": FZ, "Key": {"pk": {"S": "g9"}, "sk": {"N": "9"}}, "ConsistentRead": true}),
    );
    assert_eq!(limit_item["Item"]["v"], json!({"S": "limit"}));
    srv.stop().expect("clean stop");

    eprintln!(
        "bad input: seed {seed}: {} requests ({generated} generated + {} fixed), {:.1} MB of bodies, \
         {} reconnects, {elapsed:.1?}",
        tally.sent,
        tally.sent - generated,
        body_bytes as f64 / 1e6,
        tally.reconnects
    );
    eprintln!("by operation: {:?}", tally.by_op);
    for (k, n) in &tally.by_outcome {
        eprintln!("  {n:6}  {k}");
    }
    eprintln!("by first mutation [accepted, SerializationException, other error]:");
    for (k, n) in &tally.by_mutation {
        eprintln!("  {k:>20}: {n:?}");
    }
    for e in &tally.internal_errors {
        eprintln!("BUG (InternalServerError): {e}");
    }
    assert!(
        tally.failures.is_empty(),
        "{} bad answers (seed {seed}); first ones:\n{}",
        tally.failures.len(),
        tally.failures.join("\n")
    );
    assert!(
        tally.internal_errors.is_empty(),
        "{} InternalServerError answers (seed {seed}); first: {}",
        tally.internal_errors.len(),
        tally.internal_errors[0]
    );
    assert!(
        SUPPORTED_OPERATIONS
            .iter()
            .all(|op| tally.by_op.contains_key(op)),
        "not every operation was exercised: {:?}",
        tally.by_op
    );
}
