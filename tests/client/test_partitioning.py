"""A table's partitioning as an unmodified boto3 chooses it: the CreateTable tag
`hashlog:partitioning` (boto3 validates request members client-side, so a tag is what it can
send), the server default `hashlog serve --partitioning`, a bad value rejected with
ValidationException, and the setting read back (ListTagsOfResource, /metrics)."""
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import Server, unique

TAG = "hashlog:partitioning"


def create(ddb, name, tag=None):
    kw = {"Tags": [{"Key": TAG, "Value": tag}]} if tag is not None else {}
    return ddb.create_table(
        TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        ProvisionedThroughput={"ReadCapacityUnits": 100, "WriteCapacityUnits": 100}, **kw)


def gauge(text, series):
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return None


def test_tag_and_server_default_choose_the_partitioning(tmp_dir):
    s = Server(tmp_dir / "data", extra_args=["--partitioning", "fixed-hash:3"]).start()
    try:
        ddb = s.client()
        ring, fixed, dflt = unique("ring"), unique("fixed"), unique("dflt")
        create(ddb, ring, "consistent-hash:5:16")
        create(ddb, fixed, "fixed-hash:8")
        create(ddb, dflt)
        for t in (ring, fixed, dflt):
            ddb.put_item(TableName=t, Item={"pk": {"S": "a"}})
        arn = ddb.describe_table(TableName=ring)["Table"]["TableArn"]
        assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == [
            {"Key": TAG, "Value": "consistent-hash:5:16"}]
        text = urllib.request.urlopen(s.url + "/metrics", timeout=10).read().decode()
        for t, parts, strategy in ((ring, 5, "consistent-hash:5:16"), (fixed, 8, "fixed-hash:8"),
                                   (dflt, 3, "fixed-hash:3")):
            assert gauge(text, f'hashlog_capacity_partitions{{table="{t}"}}') == parts, t
            assert gauge(text, f'hashlog_capacity_partitioning{{table="{t}",strategy="{strategy}"}}') == 1
        # The setting is fixed once the table exists.
        with pytest.raises(ClientError) as e:
            ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": TAG, "Value": "hash-split"}])
        assert e.value.response["Error"]["Code"] == "ValidationException"
    finally:
        s.kill()


@pytest.mark.parametrize("bad", ["fixed-hash", "fixed-hash:0", "consistent-hash:4:0", "ring:8", "key-range:x"])
def test_bad_partitioning_tag_is_a_validation_error(ddb, bad):
    name = unique("bad")
    with pytest.raises(ClientError) as e:
        create(ddb, name, bad)
    err = e.value.response["Error"]
    assert err["Code"] == "ValidationException"
    assert TAG in err["Message"] and "fixed-hash:N" in err["Message"], err["Message"]
    with pytest.raises(ClientError) as e:
        ddb.describe_table(TableName=name)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_serve_rejects_a_bad_default(tmp_dir):
    import subprocess
    from conftest import BIN
    r = subprocess.run([BIN, "serve", "--data-dir", str(tmp_dir / "d"), "--partitioning", "ring"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "--partitioning" in r.stderr and "is not one of" in r.stderr, r.stderr
