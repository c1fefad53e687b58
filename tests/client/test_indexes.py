"""Global and local secondary indexes as a DynamoDB user drives them through boto3."""
import time

import pytest
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from conftest import Server, unique


def code(e):
    return e.value.response["Error"]["Code"]


def message(e):
    return e.value.response["Error"]["Message"]


def create_orders(ddb, name):
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "customer", "KeyType": "HASH"},
                   {"AttributeName": "order", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "customer", "AttributeType": "S"},
            {"AttributeName": "order", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
            {"AttributeName": "total", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[{
            "IndexName": "byStatus",
            "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"},
                          {"AttributeName": "total", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["note"]},
        }],
        LocalSecondaryIndexes=[{
            "IndexName": "byTotal",
            "KeySchema": [{"AttributeName": "customer", "KeyType": "HASH"},
                          {"AttributeName": "total", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }],
    )


@pytest.fixture()
def orders(ddb):
    name = unique("orders")
    create_orders(ddb, name)
    yield name
    try:
        ddb.delete_table(TableName=name)
    except ClientError:
        pass


def test_describe_lists_indexes(ddb, orders):
    d = ddb.describe_table(TableName=orders)["Table"]
    (gsi,) = d["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "byStatus"
    assert gsi["IndexStatus"] == "ACTIVE"
    assert gsi["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["note"]}
    (lsi,) = d["LocalSecondaryIndexes"]
    assert lsi["IndexName"] == "byTotal"
    assert lsi["IndexArn"].endswith(f"table/{orders}/index/byTotal")


def test_query_gsi_and_lsi_with_resource_api(server, orders):
    import boto3
    res = boto3.resource("dynamodb", endpoint_url=server.url, region_name="us-east-1")
    t = res.Table(orders)
    with t.batch_writer() as w:
        for i in range(30):
            w.put_item(Item={"customer": f"c{i % 3}", "order": f"o{i:03}", "status": "open" if i % 2 else "done",
                             "total": i, "note": f"n{i}", "secret": "s"})
        w.put_item(Item={"customer": "c9", "order": "sparse"})  # no status/total: in no index
    items = []
    kwargs = {"IndexName": "byStatus", "KeyConditionExpression": Key("status").eq("open") & Key("total").gte(10),
              "Limit": 4}
    while True:
        page = t.query(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    assert [int(i["total"]) for i in items] == [i for i in range(10, 30) if i % 2]
    assert all("secret" not in i and i["note"].startswith("n") for i in items)
    desc = t.query(IndexName="byStatus", KeyConditionExpression=Key("status").eq("done"), ScanIndexForward=False)
    assert int(desc["Items"][0]["total"]) == 28
    lsi = t.query(IndexName="byTotal", KeyConditionExpression=Key("customer").eq("c1") & Key("total").between(5, 20),
                  ConsistentRead=True)
    assert [int(i["total"]) for i in lsi["Items"]] == [7, 10, 13, 16, 19]
    assert set(lsi["Items"][0]) == {"customer", "order", "total"}
    scanned = t.scan(IndexName="byStatus", Select="COUNT")
    assert scanned["Count"] == 30


def test_index_errors(ddb, orders):
    with pytest.raises(ClientError) as e:
        ddb.query(TableName=orders, IndexName="byStatus", ConsistentRead=True,
                  KeyConditionExpression="#s = :s", ExpressionAttributeNames={"#s": "status"},
                  ExpressionAttributeValues={":s": {"S": "open"}})
    assert code(e) == "ValidationException"
    assert message(e) == "Consistent reads are not supported on global secondary indexes"
    with pytest.raises(ClientError) as e:
        ddb.query(TableName=orders, IndexName="missing", KeyConditionExpression="customer = :c",
                  ExpressionAttributeValues={":c": {"S": "x"}})
    assert message(e) == "The table does not have the specified index: missing"
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=orders, Item={"customer": {"S": "a"}, "order": {"S": "b"}, "total": {"S": "ten"}})
    assert code(e) == "ValidationException"
    assert "Type mismatch for Index Key total" in message(e)
    # Key attributes are scalars: no document path into one, the table's or an index's.
    for filt, name, who in [("#n.x = :s", "status", "IndexKey: status"), ("#n[0] = :s", "total", "IndexKey: total")]:
        with pytest.raises(ClientError) as e:
            ddb.query(TableName=orders, KeyConditionExpression="customer = :c", FilterExpression=filt,
                      ExpressionAttributeNames={"#n": name},
                      ExpressionAttributeValues={":c": {"S": "x"}, ":s": {"S": "open"}})
        assert message(e) == ("Key attributes must be scalars; list random access '[]' and map lookup "
                              "'.' are not allowed: " + who)
    with pytest.raises(ClientError) as e:
        ddb.get_item(TableName=orders, Key={"customer": {"S": "a"}, "order": {"S": "b"}},
                     ProjectionExpression="customer.givenName")
    assert message(e).endswith("are not allowed: Key: customer")


def test_update_table_creates_gsi_online_and_deletes_it(ddb, orders):
    for i in range(50):
        ddb.put_item(TableName=orders, Item={"customer": {"S": "c"}, "order": {"S": f"o{i}"},
                                             "region": {"S": "eu" if i % 2 else "us"}})
    out = ddb.update_table(
        TableName=orders,
        AttributeDefinitions=[{"AttributeName": "region", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[{"Create": {
            "IndexName": "byRegion",
            "KeySchema": [{"AttributeName": "region", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
        }}],
    )["TableDescription"]
    assert any(g["IndexName"] == "byRegion" for g in out["GlobalSecondaryIndexes"])
    deadline = time.monotonic() + 20
    while True:
        gsis = ddb.describe_table(TableName=orders)["Table"]["GlobalSecondaryIndexes"]
        if all(g["IndexStatus"] == "ACTIVE" for g in gsis):
            break
        assert time.monotonic() < deadline, gsis
        time.sleep(0.05)
    eu = ddb.query(TableName=orders, IndexName="byRegion", KeyConditionExpression="#r = :r",
                   ExpressionAttributeNames={"#r": "region"}, ExpressionAttributeValues={":r": {"S": "eu"}})
    assert eu["Count"] == 25
    ddb.update_table(TableName=orders, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "byRegion"}}])
    names = [g["IndexName"] for g in ddb.describe_table(TableName=orders)["Table"]["GlobalSecondaryIndexes"]]
    assert names == ["byStatus"]


def test_indexes_survive_kill_9(tmp_dir):
    s = Server(tmp_dir / "data").start()
    try:
        ddb = s.client()
        create_orders(ddb, "killed")
        for i in range(20):
            ddb.put_item(TableName="killed", Item={"customer": {"S": "c"}, "order": {"S": f"o{i}"},
                                                  "status": {"S": "open"}, "total": {"N": str(i)}})
        ddb.delete_item(TableName="killed", Key={"customer": {"S": "c"}, "order": {"S": "o0"}})
        s.kill()
        s = Server(tmp_dir / "data").start()
        ddb = s.client()
        got = ddb.query(TableName="killed", IndexName="byStatus", KeyConditionExpression="#s = :s",
                        ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":s": {"S": "open"}})
        assert [int(i["total"]["N"]) for i in got["Items"]] == list(range(1, 20))
    finally:
        s.kill()
