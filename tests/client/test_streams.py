"""DynamoDB Streams and TTL as a user drives them through boto3 (`dynamodbstreams` client)."""
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import Server, unique


def streams_client(server):
    return boto3.client("dynamodbstreams", endpoint_url=server.url, region_name="us-east-1",
                        config=Config(retries={"max_attempts": 1}))


def create(ddb, name, view):
    return ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": view},
    )["TableDescription"]


def read_all(st, arn, kind="TRIM_HORIZON"):
    shard = st.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = st.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType=kind)["ShardIterator"]
    out = []
    for _ in range(100):
        page = st.get_records(ShardIterator=it, Limit=2)
        out.extend(page["Records"])
        if not page["Records"] or "NextShardIterator" not in page:
            break
        it = page["NextShardIterator"]
    return out


def test_stream_records_follow_writes(server, ddb):
    name = unique("streamed")
    arn = create(ddb, name, "NEW_AND_OLD_IMAGES")["LatestStreamArn"]
    st = streams_client(server)
    assert any(s["StreamArn"] == arn for s in st.list_streams(TableName=name)["Streams"])
    d = st.describe_stream(StreamArn=arn)["StreamDescription"]
    assert d["StreamStatus"] == "ENABLED" and d["TableName"] == name
    ddb.put_item(TableName=name, Item={"pk": {"S": "a"}, "n": {"N": "1"}})
    ddb.update_item(TableName=name, Key={"pk": {"S": "a"}}, UpdateExpression="ADD n :one",
                    ExpressionAttributeValues={":one": {"N": "1"}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "a"}, "n": {"N": "2"}})  # no change: no record
    ddb.delete_item(TableName=name, Key={"pk": {"S": "a"}})
    recs = read_all(st, arn)
    assert [r["eventName"] for r in recs] == ["INSERT", "MODIFY", "REMOVE"]
    assert recs[1]["dynamodb"]["OldImage"]["n"] == {"N": "1"}
    assert recs[1]["dynamodb"]["NewImage"]["n"] == {"N": "2"}
    assert recs[0]["eventSource"] == "aws:dynamodb"
    with pytest.raises(ClientError) as e:
        st.get_records(ShardIterator="not-an-iterator")
    assert e.value.response["Error"]["Code"] == "ValidationException"
    ddb.delete_table(TableName=name)


def test_ttl_expires_items_within_seconds(tmp_dir):
    s = Server(tmp_dir / "data", extra_args=["--ttl-sweep-interval", "0.2"]).start()
    try:
        ddb = s.client()
        arn = create(ddb, "ttl_tbl", "OLD_IMAGE")["LatestStreamArn"]
        ddb.update_time_to_live(TableName="ttl_tbl",
                                TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
        assert ddb.describe_time_to_live(TableName="ttl_tbl")["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"
        now = int(time.time())
        ddb.put_item(TableName="ttl_tbl", Item={"pk": {"S": "old"}, "expires": {"N": str(now - 5)}})
        ddb.put_item(TableName="ttl_tbl", Item={"pk": {"S": "new"}, "expires": {"N": str(now + 3600)}})
        deadline = time.monotonic() + 15
        while "Item" in ddb.get_item(TableName="ttl_tbl", Key={"pk": {"S": "old"}}):
            assert time.monotonic() < deadline, "expired item was never deleted"
            time.sleep(0.1)
        assert "Item" in ddb.get_item(TableName="ttl_tbl", Key={"pk": {"S": "new"}})
        removes = [r for r in read_all(streams_client(s), arn) if r["eventName"] == "REMOVE"]
        assert removes[0]["userIdentity"] == {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}
        assert removes[0]["dynamodb"]["OldImage"]["pk"] == {"S": "old"}
    finally:
        s.kill()
