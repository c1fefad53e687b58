"""Process-level behaviour: durability across kill -9, SigV4, graceful shutdown, the AWS CLI."""
import json
import os
import shutil
import subprocess

import pytest
from botocore.exceptions import ClientError

from conftest import Server


def make_table(c, name="durable"):
    c.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                   AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")


def test_acknowledged_writes_survive_kill_9(tmp_server_dir):
    s = Server(tmp_server_dir / "data").start()
    c = s.client()
    make_table(c)
    for i in range(200):
        c.put_item(TableName="durable", Item={"pk": {"S": f"k{i}"}, "v": {"N": str(i)}})
    c.delete_item(TableName="durable", Key={"pk": {"S": "k7"}})
    s.kill()  # SIGKILL: no flush, no goodbye
    s2 = Server(tmp_server_dir / "data").start()
    try:
        c2 = s2.client()
        for i in range(200):
            r = c2.get_item(TableName="durable", Key={"pk": {"S": f"k{i}"}}, ConsistentRead=True)
            if i == 7:
                assert "Item" not in r
            else:
                assert r["Item"]["v"] == {"N": str(i)}
    finally:
        s2.kill()


def test_sigterm_flushes_and_exits_zero(tmp_server_dir):
    s = Server(tmp_server_dir / "data").start()
    c = s.client()
    make_table(c, "graceful")
    c.put_item(TableName="graceful", Item={"pk": {"S": "a"}})
    assert s.stop() == 0
    s2 = Server(tmp_server_dir / "data").start()
    try:
        assert s2.client().get_item(TableName="graceful", Key={"pk": {"S": "a"}})["Item"] == {"pk": {"S": "a"}}
    finally:
        s2.kill()


def test_sigv4_verification(tmp_server_dir):
    creds = tmp_server_dir / "credentials"
    creds.write_text("[default]\naws_access_key_id = AKIDGOOD\naws_secret_access_key = goodsecret\n")
    s = Server(tmp_server_dir / "data", ["--credentials", str(creds)]).start()
    try:
        ok = s.client(aws_access_key_id="AKIDGOOD", aws_secret_access_key="goodsecret")
        assert "TableNames" in ok.list_tables()
        bad_secret = s.client(aws_access_key_id="AKIDGOOD", aws_secret_access_key="wrong")
        with pytest.raises(ClientError) as e:
            bad_secret.list_tables()
        assert e.value.response["Error"]["Code"] == "InvalidSignatureException"
        unknown = s.client(aws_access_key_id="AKIDNOPE", aws_secret_access_key="goodsecret")
        with pytest.raises(ClientError) as e:
            unknown.list_tables()
        assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"
        import urllib.request
        req = urllib.request.Request(s.url + "/", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.ListTables"})
        try:
            urllib.request.urlopen(req, timeout=10)
            raise AssertionError("unsigned request accepted")
        except urllib.error.HTTPError as e:
            assert json.loads(e.read())["__type"].endswith("#MissingAuthenticationTokenException")
        # A request correctly signed, but dated 20 minutes ago, is refused.
        import datetime
        import hashlib
        import hmac
        stale = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)
        amz_date = stale.strftime("%Y%m%dT%H%M%SZ")
        host = s.url.split("://", 1)[1]
        headers = {"content-type": "application/x-amz-json-1.0", "host": host, "x-amz-date": amz_date,
                   "x-amz-target": "DynamoDB_20120810.ListTables"}
        signed = sorted(headers)
        canonical = "\n".join(["POST", "/", "", "".join(f"{h}:{headers[h]}\n" for h in signed), ";".join(signed),
                               hashlib.sha256(b"{}").hexdigest()])
        scope = f"{amz_date[:8]}/us-east-1/dynamodb/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        k = ("AWS4" + "goodsecret").encode()
        for part in (amz_date[:8], "us-east-1", "dynamodb", "aws4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        sig = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = f"AWS4-HMAC-SHA256 Credential=AKIDGOOD/{scope}, SignedHeaders={';'.join(signed)}, Signature={sig}"
        req = urllib.request.Request(s.url + "/", data=b"{}", method="POST", headers=headers)
        try:
            urllib.request.urlopen(req, timeout=10)
            raise AssertionError("stale request accepted")
        except urllib.error.HTTPError as e:
            body = json.loads(e.read())
            assert body["__type"].endswith("#InvalidSignatureException"), body
            assert "Signature expired" in body["message"]
    finally:
        s.kill()


def test_refuses_public_address_without_credentials(tmp_server_dir):
    p = subprocess.run([os.environ.get("HASHLOG_BIN", "target/release/hashlog"), "serve", "--listen", "0.0.0.0:0",
                        "--data-dir", str(tmp_server_dir / "d")], capture_output=True, text=True, timeout=20)
    assert p.returncode != 0 and "--credentials" in p.stderr


@pytest.mark.skipif(shutil.which("aws") is None, reason="AWS CLI not installed")
def test_aws_cli(server):
    env = dict(os.environ)
    base = ["aws", "dynamodb", "--endpoint-url", server.url, "--output", "json"]
    subprocess.run(base + ["create-table", "--table-name", "clitable", "--attribute-definitions", "AttributeName=pk,AttributeType=S",
                           "--key-schema", "AttributeName=pk,KeyType=HASH", "--billing-mode", "PAY_PER_REQUEST"],
                   check=True, capture_output=True, env=env, timeout=60)
    subprocess.run(base + ["put-item", "--table-name", "clitable", "--item", '{"pk":{"S":"a"},"v":{"N":"1"}}'],
                   check=True, capture_output=True, env=env, timeout=60)
    out = subprocess.run(base + ["get-item", "--table-name", "clitable", "--key", '{"pk":{"S":"a"}}'],
                         check=True, capture_output=True, env=env, timeout=60, text=True).stdout
    assert json.loads(out)["Item"]["v"] == {"N": "1"}
    out = subprocess.run(base + ["list-tables"], check=True, capture_output=True, env=env, timeout=60, text=True).stdout
    assert "clitable" in json.loads(out)["TableNames"]
