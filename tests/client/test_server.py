"""The wire protocol and the process: raw HTTP, headers, metrics, SigV4, durability across
kill -9, graceful shutdown, start-up refusals, and the AWS CLI."""
import datetime
import http.client
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
import zlib
from unittest import mock

import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import BIN, Server, unique

NS = "com.amazonaws.dynamodb.v20120810#"


def raw(url, target, body, content_type="application/x-amz-json-1.0", headers=None):
    h = {"Content-Type": content_type}
    if target is not None:
        h["X-Amz-Target"] = target
    h.update(headers or {})
    req = urllib.request.Request(url + "/", data=body, method="POST", headers=h)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read(), {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as e:
        return e.code, e.read(), {k.lower(): v for k, v in e.headers.items()}


def error_type(body):
    return json.loads(body)["__type"]


def make_table(c, name):
    c.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                   AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")


# ---- wire protocol ----

def test_unknown_and_missing_operation(server):
    status, body, _ = raw(server.url, "DynamoDB_20120810.Nonsense", b"{}")
    assert status == 400 and error_type(body) == NS + "UnknownOperationException"
    status, body, _ = raw(server.url, None, b"{}")
    assert status == 400 and error_type(body) == NS + "UnknownOperationException"
    status, body, _ = raw(server.url, "Garbage", b"{}")
    assert status == 400 and error_type(body) == NS + "UnknownOperationException"


def test_malformed_bodies_are_serialization_errors(server):
    status, body, _ = raw(server.url, "DynamoDB_20120810.ListTables", b"{not json")
    assert status == 400 and error_type(body) == NS + "SerializationException"
    status, body, _ = raw(server.url, "DynamoDB_20120810.PutItem",
                          json.dumps({"TableName": "zzz", "Item": {"a": {"S": 5}}}).encode())
    assert status == 400 and error_type(body) == NS + "SerializationException"


def test_response_headers_crc32_and_request_id(server):
    ids = set()
    for _ in range(3):
        status, body, headers = raw(server.url, "DynamoDB_20120810.ListTables", b"{}")
        assert status == 200
        assert int(headers["x-amz-crc32"]) == zlib.crc32(body)
        assert headers["content-type"] == "application/x-amz-json-1.0"
        ids.add(headers["x-amzn-requestid"])
    assert len(ids) == 3
    # Errors carry them too.
    status, body, headers = raw(server.url, "DynamoDB_20120810.Nonsense", b"{}")
    assert int(headers["x-amz-crc32"]) == zlib.crc32(body) and headers["x-amzn-requestid"]


def test_json_1_1_content_type_is_accepted(server):
    status, body, headers = raw(server.url, "DynamoDB_20120810.ListTables", b"{}",
                                content_type="application/x-amz-json-1.1")
    assert status == 200 and "TableNames" in json.loads(body)


def test_keep_alive_reuses_one_connection(server):
    conn = http.client.HTTPConnection(server.host, timeout=10)
    try:
        socks = set()
        for _ in range(5):
            conn.request("POST", "/", body=b"{}", headers={
                "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.ListTables"})
            r = conn.getresponse()
            assert r.status == 200
            r.read()
            socks.add(id(conn.sock))
        assert len(socks) == 1
    finally:
        conn.close()


def test_oversized_request_is_refused(server):
    conn = http.client.HTTPConnection(server.host, timeout=10)
    try:
        conn.putrequest("POST", "/")
        conn.putheader("Content-Type", "application/x-amz-json-1.0")
        conn.putheader("X-Amz-Target", "DynamoDB_20120810.PutItem")
        conn.putheader("Content-Length", str(16 * 1024 * 1024 + 1))
        conn.endheaders()
        r = conn.getresponse()  # answered without the body being sent
        assert r.status == 400
        assert error_type(r.read()) == NS + "ValidationException"
    finally:
        conn.close()


def test_unsupported_operation_is_a_clear_error(ddb):
    with pytest.raises(ClientError) as e:
        ddb.list_backups()
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "not supported" in e.value.response["Error"]["Message"]


def test_describe_endpoints(ddb, server):
    r = ddb.describe_endpoints()
    assert r["Endpoints"] == [{"Address": server.host, "CachePeriodInMinutes": 1440}]


def test_health_and_metrics(ddb, server, hash_table):
    with urllib.request.urlopen(server.url + "/", timeout=10) as r:
        assert r.status == 200 and r.read() == b"healthy: dynamodb.us-east-1.amazonaws.com "
    for i in range(3):
        ddb.put_item(TableName=hash_table, Item={"pk": {"S": f"m{i}"}}, ReturnConsumedCapacity="TOTAL")
    ddb.scan(TableName=hash_table, ReturnConsumedCapacity="TOTAL")
    with pytest.raises(ClientError):
        ddb.put_item(TableName=hash_table, Item={"pk": {"S": "m0"}}, ConditionExpression="attribute_not_exists(pk)")
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain")
        text = r.read().decode()
    labels = f'table="{hash_table}"'
    lines = [l for l in text.splitlines() if labels in l]
    get = lambda name, op: next(float(l.rsplit(" ", 1)[1]) for l in lines
                                if l.startswith(f"dynamodb_{name}{{") and f'operation="{op}"' in l)
    assert get("SuccessfulRequestLatency_count", "PutItem") == 3
    assert get("ConsumedWriteCapacityUnits", "PutItem") == 3
    assert get("ReturnedItemCount", "Scan") == 3
    assert get("ConsumedReadCapacityUnits", "Scan") > 0
    assert get("ConditionalCheckFailedRequests", "PutItem") == 1
    assert get("UserErrors", "PutItem") == 1
    assert "# TYPE dynamodb_SuccessfulRequestLatency histogram" in text


# ---- the process ----

def test_acknowledged_writes_survive_kill_9(tmp_dir):
    s = Server(tmp_dir / "data").start()
    try:
        c = s.client()
        make_table(c, "durable")
        for i in range(150):
            c.put_item(TableName="durable", Item={"pk": {"S": f"k{i}"}, "v": {"N": str(i)}})
        c.delete_item(TableName="durable", Key={"pk": {"S": "k7"}})
        c.update_item(TableName="durable", Key={"pk": {"S": "k8"}}, UpdateExpression="SET v = :x",
                      ExpressionAttributeValues={":x": {"N": "-1"}})
        c.batch_write_item(RequestItems={"durable": [
            {"PutRequest": {"Item": {"pk": {"S": f"b{i}"}}}} for i in range(20)]})
        c.transact_write_items(TransactItems=[
            {"Put": {"TableName": "durable", "Item": {"pk": {"S": "tx1"}}}},
            {"Delete": {"TableName": "durable", "Key": {"pk": {"S": "k9"}}}}])
    finally:
        s.kill()  # SIGKILL: no flush, no goodbye
    s2 = Server(tmp_dir / "data").start()
    try:
        c2 = s2.client()
        assert "durable" in c2.list_tables()["TableNames"]
        for i in range(150):
            r = c2.get_item(TableName="durable", Key={"pk": {"S": f"k{i}"}}, ConsistentRead=True)
            if i in (7, 9):
                assert "Item" not in r, i
            elif i == 8:
                assert r["Item"]["v"] == {"N": "-1"}
            else:
                assert r["Item"]["v"] == {"N": str(i)}, i
        items = []
        for p in c2.get_paginator("scan").paginate(TableName="durable", ConsistentRead=True):
            items += p["Items"]
        assert len(items) == 150 - 2 + 20 + 1
    finally:
        s2.kill()


def test_sigterm_flushes_and_exits_zero(tmp_dir):
    s = Server(tmp_dir / "data").start()
    c = s.client()
    make_table(c, "graceful")
    c.put_item(TableName="graceful", Item={"pk": {"S": "a"}})
    assert s.stop() == 0
    s2 = Server(tmp_dir / "data").start()
    try:
        assert s2.client().get_item(TableName="graceful", Key={"pk": {"S": "a"}})["Item"] == {"pk": {"S": "a"}}
    finally:
        s2.kill()


def test_refuses_public_address_without_credentials(tmp_dir):
    p = subprocess.run([BIN, "serve", "--listen", "0.0.0.0:0", "--data-dir", str(tmp_dir / "d")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "--credentials" in p.stderr


def test_allow_unauthenticated_permits_public_address(tmp_dir):
    s = Server(tmp_dir / "data", ["--allow-unauthenticated"], listen="0.0.0.0:0").start()
    try:
        assert s.url.startswith("http://0.0.0.0:")
    finally:
        s.kill()


def test_unusable_credentials_file_is_refused(tmp_dir):
    empty = tmp_dir / "creds"
    empty.write_text("[default]\nregion = us-east-1\n")
    for path in (empty, tmp_dir / "missing"):
        p = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_dir / "d"),
                            "--credentials", str(path)], capture_output=True, text=True, timeout=30)
        assert p.returncode != 0 and str(path) in p.stderr


# ---- SigV4 ----

@pytest.fixture()
def signed_server(tmp_dir):
    creds = tmp_dir / "credentials"
    creds.write_text("# test identities\n[default]\naws_access_key_id = AKIDGOOD\naws_secret_access_key = goodsecret\n\n"
                     "[profile ops]\naws_access_key_id=AKIDOPS\naws_secret_access_key=opssecret\n")
    s = Server(tmp_dir / "data", ["--credentials", str(creds)]).start()
    yield s
    s.kill()


def signed_raw(server, key, secret, when=None, authorization=None):
    """ListTables signed by botocore's SigV4Auth, optionally as of `when`."""
    req = AWSRequest(method="POST", url=server.url + "/", data=b"{}", headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.ListTables"})
    signer = botocore.auth.SigV4Auth(Credentials(key, secret), "dynamodb", "us-east-1")
    if when is None:
        signer.add_auth(req)
    else:
        with mock.patch.object(botocore.auth, "get_current_datetime", return_value=when):
            signer.add_auth(req)
    headers = dict(req.headers.items())
    if authorization is not None:
        headers["Authorization"] = authorization
    return raw(server.url, None, b"{}", headers=headers)


def test_sigv4_accepts_every_profile_of_the_credentials_file(signed_server):
    assert "TableNames" in signed_server.client(aws_access_key_id="AKIDGOOD",
                                                aws_secret_access_key="goodsecret").list_tables()
    assert "TableNames" in signed_server.client(aws_access_key_id="AKIDOPS",
                                                aws_secret_access_key="opssecret").list_tables()
    status, _, _ = signed_raw(signed_server, "AKIDGOOD", "goodsecret")
    assert status == 200


def test_sigv4_refusals(signed_server):
    bad_secret = signed_server.client(aws_access_key_id="AKIDGOOD", aws_secret_access_key="wrong")
    with pytest.raises(ClientError) as e:
        bad_secret.list_tables()
    assert e.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert e.value.response["Error"]["Message"].startswith(
        "The request signature we calculated does not match the signature you provided.")
    unknown = signed_server.client(aws_access_key_id="AKIDNOPE", aws_secret_access_key="goodsecret")
    with pytest.raises(ClientError) as e:
        unknown.list_tables()
    assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert e.value.response["Error"]["Message"] == "The security token included in the request is invalid."

    status, body, _ = raw(signed_server.url, "DynamoDB_20120810.ListTables", b"{}")
    assert status == 400 and error_type(body) == NS + "MissingAuthenticationTokenException"
    assert json.loads(body)["message"] == "Request is missing Authentication Token"

    status, body, _ = signed_raw(signed_server, "AKIDGOOD", "goodsecret", authorization="AWS4-HMAC-SHA256 Credential=oops")
    assert status == 400 and error_type(body) == NS + "IncompleteSignatureException"


def test_sigv4_clock_skew_window(signed_server):
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    status, _, _ = signed_raw(signed_server, "AKIDGOOD", "goodsecret", when=now - datetime.timedelta(minutes=10))
    assert status == 200
    stale = now - datetime.timedelta(minutes=20)
    status, body, _ = signed_raw(signed_server, "AKIDGOOD", "goodsecret", when=stale)
    assert status == 400 and error_type(body) == NS + "InvalidSignatureException"
    msg = json.loads(body)["message"]
    assert msg.startswith(f"Signature expired: {stale.strftime('%Y%m%dT%H%M%SZ')} is now earlier than ")
    assert msg.endswith(" - 15 min.)")
    future = now + datetime.timedelta(minutes=20)
    status, body, _ = signed_raw(signed_server, "AKIDGOOD", "goodsecret", when=future)
    assert status == 400 and error_type(body) == NS + "InvalidSignatureException"
    assert json.loads(body)["message"].startswith("Signature not yet current: ")


# ---- the AWS CLI ----

needs_cli = pytest.mark.skipif(shutil.which("aws") is None, reason="AWS CLI not installed")


def aws(server, *args, check=True):
    return subprocess.run(["aws", "dynamodb", "--endpoint-url", server.url, "--region", "us-east-1",
                           "--output", "json", *args],
                          check=check, capture_output=True, env=dict(os.environ), timeout=60, text=True)


@needs_cli
def test_aws_cli_round_trip(server):
    name = unique("cli")
    aws(server, "create-table", "--table-name", name, "--attribute-definitions", "AttributeName=pk,AttributeType=S",
        "--key-schema", "AttributeName=pk,KeyType=HASH", "--billing-mode", "PAY_PER_REQUEST")
    try:
        assert name in json.loads(aws(server, "list-tables").stdout)["TableNames"]
        aws(server, "put-item", "--table-name", name, "--item", '{"pk":{"S":"a"},"v":{"N":"1"}}')
        out = aws(server, "get-item", "--table-name", name, "--key", '{"pk":{"S":"a"}}').stdout
        assert json.loads(out)["Item"]["v"] == {"N": "1"}
        out = aws(server, "scan", "--table-name", name).stdout
        assert json.loads(out)["Count"] == 1
        out = aws(server, "describe-table", "--table-name", name).stdout
        assert json.loads(out)["Table"]["TableStatus"] == "ACTIVE"
    finally:
        aws(server, "delete-table", "--table-name", name, check=False)


@needs_cli
def test_aws_cli_reports_service_errors(server):
    p = aws(server, "get-item", "--table-name", "no_such_table", "--key", '{"pk":{"S":"a"}}', check=False)
    assert p.returncode != 0 and "ResourceNotFoundException" in p.stderr


def test_browsers_get_cors_and_other_methods_get_dynamodbs_404(server):
    host = server.host
    conn = http.client.HTTPConnection(host, timeout=10)
    try:
        # A preflight from a page: allowed, with what it asked for, for two days.
        conn.request("OPTIONS", "/", headers={"Origin": "http://localhost:3000",
                                              "Access-Control-Request-Headers": "content-type, x-amz-target",
                                              "Access-Control-Request-Method": "POST"})
        r = conn.getresponse()
        assert r.status == 200 and r.read() == b""
        assert r.getheader("access-control-allow-origin") == "*"
        assert r.getheader("access-control-allow-headers") == "content-type, x-amz-target"
        assert r.getheader("access-control-allow-methods") == "POST"
        assert r.getheader("access-control-max-age") == "172800"
        # The call itself may be read by the page.
        conn.request("POST", "/", body=b"{}", headers={"Origin": "http://localhost:3000",
                                                       "Content-Type": "application/x-amz-json-1.0",
                                                       "X-Amz-Target": "DynamoDB_20120810.ListTables"})
        r = conn.getresponse()
        assert r.status == 200 and "TableNames" in json.loads(r.read())
        assert r.getheader("access-control-allow-origin") == "*"
        # Other methods: DynamoDB's 404, and the connection stays usable.
        for method in ["PUT", "DELETE", "PATCH", "OPTIONS"]:
            conn.request(method, "/")
            r = conn.getresponse()
            assert r.status == 404 and r.read() == b"<UnknownOperationException/>\n", method
            assert r.getheader("x-amz-crc32") == "3552371480"
    finally:
        conn.close()
