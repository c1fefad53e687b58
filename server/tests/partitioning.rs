//! A table's partitioning over HTTP: the `hashlog:partitioning` CreateTable tag (what an
//! unmodified boto3 can send), the server's default (`hashlog serve --partitioning`), a bad
//! value rejected with ValidationException, and the setting reported back by
//! ListTagsOfResource and `/metrics` (partition count and strategy). The real server on
//! 127.0.0.1:0, capacity enforced.

mod common;

use common::{test_config, Conn, TestServer};
use hashlog::api::DatabaseOptions;
use hashlog::wal::Durability;
use serde_json::json;

fn create(c: &mut Conn, name: &str, tag: Option<&str>) -> common::Reply {
    let mut body = json!({"TableName": name,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "ProvisionedThroughput": {"ReadCapacityUnits": 100, "WriteCapacityUnits": 100}});
    if let Some(v) = tag {
        body["Tags"] = json!([{"Key": "hashlog:partitioning", "Value": v}]);
    }
    c.call("CreateTable", &body).expect("CreateTable")
}

fn metrics(c: &mut Conn) -> String {
    let req = format!(
        "GET /metrics HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\n\r\n",
        c.addr
    );
    c.send_raw(req.as_bytes()).expect("send");
    let r = c.read_reply().expect("metrics");
    assert_eq!(r.status, 200);
    String::from_utf8(r.body).expect("utf-8")
}

/// The value of the one `/metrics` line that starts with `series `.
fn gauge(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn the_tag_or_the_server_default_chooses_the_partitioning_and_metrics_report_it() {
    let opts = DatabaseOptions {
        enforce_capacity: true,
        default_partitioning: "consistent-hash:3:16".parse().expect("strategy"),
        ..DatabaseOptions::default()
    };
    let mut server = TestServer::start_with(Durability::Sync, test_config(), opts);
    let mut c = server.connect();
    for (table, tag) in [
        ("fixed", Some("fixed-hash:8")),
        ("split", Some("hash-split")),
        ("keys", Some("key-range:4")),
        ("dflt", None),
    ] {
        let r = create(&mut c, table, tag);
        assert_eq!(r.status, 200, "{table}: {:?}", r.json());
        let put = json!({"TableName": table, "Item": {"pk": {"S": "a"}}});
        assert_eq!(c.call("PutItem", &put).expect("PutItem").status, 200);
    }
    // A bad value: ValidationException naming the tag and the accepted forms; no table.
    let r = create(&mut c, "bad", Some("fixed-hash:0"));
    assert_eq!(r.status, 400);
    assert_eq!(r.error_name(), "ValidationException");
    let msg = r
        .json()
        .and_then(|v| v["message"].as_str().map(str::to_string));
    let msg = msg.expect("message");
    assert!(
        msg.contains("hashlog:partitioning") && msg.contains("consistent-hash:N"),
        "{msg}"
    );
    let r = c
        .call("DescribeTable", &json!({"TableName": "bad"}))
        .expect("DescribeTable");
    assert_eq!(r.error_name(), "ResourceNotFoundException");
    // The tag reads back as given.
    let arn = "arn:aws:dynamodb:us-east-1:000000000000:table/fixed";
    let r = c
        .call("ListTagsOfResource", &json!({"ResourceArn": arn}))
        .expect("ListTagsOfResource");
    assert_eq!(
        r.json().map(|v| v["Tags"].clone()),
        Some(json!([{"Key": "hashlog:partitioning", "Value": "fixed-hash:8"}]))
    );
    // And it cannot change.
    let r = c
        .call(
            "TagResource",
            &json!({"ResourceArn": arn, "Tags": [{"Key": "hashlog:partitioning", "Value": "fixed-hash:9"}]}),
        )
        .expect("TagResource");
    assert_eq!(r.error_name(), "ValidationException");
    // /metrics: each table's partition count and strategy.
    let m = metrics(&mut c);
    for (table, partitions, strategy) in [
        ("fixed", 8.0, "fixed-hash:8"),
        ("split", 1.0, "hash-split"),
        ("keys", 1.0, "key-range:4"),
        ("dflt", 3.0, "consistent-hash:3:16"),
    ] {
        let p = format!("hashlog_capacity_partitions{{table=\"{table}\"}}");
        assert_eq!(gauge(&m, &p), Some(partitions), "{p}");
        let s =
            format!("hashlog_capacity_partitioning{{table=\"{table}\",strategy=\"{strategy}\"}}");
        assert_eq!(gauge(&m, &s), Some(1.0), "{s}");
    }
    server.stop().expect("stop");
}
