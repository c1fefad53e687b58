"""Tables and items as a DynamoDB user drives them through boto3."""
import json
import urllib.request

import pytest
from botocore.exceptions import ClientError


def code(e):
    return e.response["Error"]["Code"]


def test_table_lifecycle(ddb):
    ddb.create_table(
        TableName="lifecycle",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
    )
    d = ddb.describe_table(TableName="lifecycle")["Table"]
    assert d["TableStatus"] == "ACTIVE"
    assert d["TableArn"].endswith(":table/lifecycle")
    assert d["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    assert "lifecycle" in ddb.list_tables()["TableNames"]
    with pytest.raises(ClientError) as e:
        ddb.create_table(
            TableName="lifecycle",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    assert code(e.value) == "ResourceInUseException"
    ddb.delete_table(TableName="lifecycle")
    with pytest.raises(ClientError) as e:
        ddb.describe_table(TableName="lifecycle")
    assert code(e.value) == "ResourceNotFoundException"


def test_list_tables_paginates(ddb):
    for i in range(3):
        ddb.create_table(
            TableName=f"page{i}",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    seen = []
    kw = {"Limit": 1}
    while True:
        r = ddb.list_tables(**kw)
        seen += r["TableNames"]
        if "LastEvaluatedTableName" not in r:
            break
        kw["ExclusiveStartTableName"] = r["LastEvaluatedTableName"]
    assert {"page0", "page1", "page2"} <= set(seen)
    for i in range(3):
        ddb.delete_table(TableName=f"page{i}")


def test_put_get_update_delete(ddb, table):
    item = {"pk": {"S": "u1"}, "sk": {"N": "1"}, "name": {"S": "Ada"}, "tags": {"SS": ["a", "b"]},
            "doc": {"M": {"list": {"L": [{"N": "1"}, {"BOOL": True}, {"NULL": True}]}}}, "bin": {"B": b"\x00\x01"}}
    ddb.put_item(TableName=table, Item=item)
    got = ddb.get_item(TableName=table, Key={"pk": {"S": "u1"}, "sk": {"N": "1"}}, ConsistentRead=True)["Item"]
    assert got == item
    proj = ddb.get_item(TableName=table, Key={"pk": {"S": "u1"}, "sk": {"N": "1"}},
                        ProjectionExpression="#n, doc.#l[1]", ExpressionAttributeNames={"#n": "name", "#l": "list"})["Item"]
    assert proj == {"name": {"S": "Ada"}, "doc": {"M": {"list": {"L": [{"BOOL": True}]}}}}
    r = ddb.update_item(TableName=table, Key={"pk": {"S": "u1"}, "sk": {"N": "1"}},
                        UpdateExpression="SET visits = if_not_exists(visits, :z) + :one ADD tags :t REMOVE doc",
                        ExpressionAttributeValues={":z": {"N": "0"}, ":one": {"N": "1"}, ":t": {"SS": ["c"]}},
                        ReturnValues="UPDATED_NEW")
    assert r["Attributes"]["visits"] == {"N": "1"}
    assert sorted(r["Attributes"]["tags"]["SS"]) == ["a", "b", "c"]
    old = ddb.delete_item(TableName=table, Key={"pk": {"S": "u1"}, "sk": {"N": "1"}}, ReturnValues="ALL_OLD")["Attributes"]
    assert old["name"] == {"S": "Ada"} and "doc" not in old
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "u1"}, "sk": {"N": "1"}})


def test_numbers_are_exact_and_canonical(ddb, table):
    ddb.put_item(TableName=table, Item={"pk": {"S": "n"}, "sk": {"N": "1"}, "v": {"N": "0.1000000000000000000000000000000000001"}})
    r = ddb.update_item(TableName=table, Key={"pk": {"S": "n"}, "sk": {"N": "1"}}, UpdateExpression="SET v = v + :x",
                        ExpressionAttributeValues={":x": {"N": "1.50"}}, ReturnValues="ALL_NEW")
    assert r["Attributes"]["v"] == {"N": "1.6000000000000000000000000000000000001"}
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=table, Item={"pk": {"S": "n"}, "sk": {"N": "2"}, "v": {"N": "1E+126"}})
    assert code(e.value) == "ValidationException"
    assert "Number overflow" in e.value.response["Error"]["Message"]


def test_conditions_and_return_values_on_failure(ddb, table):
    key = {"pk": {"S": "c"}, "sk": {"N": "1"}}
    ddb.put_item(TableName=table, Item={**key, "v": {"N": "1"}}, ConditionExpression="attribute_not_exists(pk)")
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=table, Item={**key, "v": {"N": "2"}}, ConditionExpression="attribute_not_exists(pk)",
                     ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert code(e.value) == "ConditionalCheckFailedException"
    assert e.value.response["Item"]["v"] == {"N": "1"}
    ddb.update_item(TableName=table, Key=key, UpdateExpression="SET v = :n", ConditionExpression="v = :o",
                    ExpressionAttributeValues={":n": {"N": "5"}, ":o": {"N": "1"}})
    # Legacy Expected still works for old clients.
    with pytest.raises(ClientError) as e:
        ddb.delete_item(TableName=table, Key=key, Expected={"v": {"Value": {"N": "1"}}})
    assert code(e.value) == "ConditionalCheckFailedException"


def test_query_ordering_pagination_and_filter(ddb, table):
    for i in range(25):
        ddb.put_item(TableName=table, Item={"pk": {"S": "q"}, "sk": {"N": str(i)}, "even": {"BOOL": i % 2 == 0}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "other"}, "sk": {"N": "1"}})
    got, kw = [], {}
    while True:
        r = ddb.query(TableName=table, KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
                      FilterExpression="even = :t", ScanIndexForward=False, Limit=4,
                      ExpressionAttributeValues={":p": {"S": "q"}, ":a": {"N": "3"}, ":b": {"N": "20"}, ":t": {"BOOL": True}}, **kw)
        got += [int(i["sk"]["N"]) for i in r["Items"]]
        if "LastEvaluatedKey" not in r:
            break
        kw["ExclusiveStartKey"] = r["LastEvaluatedKey"]
    assert got == [20, 18, 16, 14, 12, 10, 8, 6, 4]
    c = ddb.query(TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "q"}}, Select="COUNT")
    assert c["Count"] == 25 and "Items" not in c
    paginator = ddb.get_paginator("query")
    pages = paginator.paginate(TableName=table, KeyConditionExpression="pk = :p",
                               ExpressionAttributeValues={":p": {"S": "q"}}, PaginationConfig={"PageSize": 7})
    assert sum(p["Count"] for p in pages) == 25


def test_scan_segments_cover_the_table_once(ddb, table):
    for i in range(60):
        ddb.put_item(TableName=table, Item={"pk": {"S": f"k{i}"}, "sk": {"N": "0"}})
    keys = []
    for seg in range(4):
        kw = {}
        while True:
            r = ddb.scan(TableName=table, Segment=seg, TotalSegments=4, Limit=9, **kw)
            keys += [i["pk"]["S"] for i in r["Items"]]
            if "LastEvaluatedKey" not in r:
                break
            kw["ExclusiveStartKey"] = r["LastEvaluatedKey"]
    assert sorted(keys) == sorted(f"k{i}" for i in range(60))
    with pytest.raises(ClientError) as e:
        ddb.scan(TableName=table, Segment=4, TotalSegments=4)
    assert code(e.value) == "ValidationException"


def test_batches(ddb, table):
    reqs = [{"PutRequest": {"Item": {"pk": {"S": "b"}, "sk": {"N": str(i)}}}} for i in range(25)]
    assert ddb.batch_write_item(RequestItems={table: reqs})["UnprocessedItems"] == {}
    r = ddb.batch_get_item(RequestItems={table: {"Keys": [{"pk": {"S": "b"}, "sk": {"N": str(i)}} for i in range(0, 25, 5)]}})
    assert len(r["Responses"][table]) == 5
    with pytest.raises(ClientError) as e:
        ddb.batch_write_item(RequestItems={table: reqs + [reqs[0]]})
    assert code(e.value) == "ValidationException"
    with pytest.raises(ClientError) as e:
        ddb.batch_get_item(RequestItems={table: {"Keys": [{"pk": {"S": "b"}, "sk": {"N": "1"}}] * 2}})
    assert "duplicates" in e.value.response["Error"]["Message"]


def test_transactions(ddb, table):
    put = lambda pk: {"Put": {"TableName": table, "Item": {"pk": {"S": pk}, "sk": {"N": "1"}}}}
    ddb.transact_write_items(TransactItems=[put("t1"), put("t2")], ClientRequestToken="token-1")
    ddb.transact_write_items(TransactItems=[put("t1"), put("t2")], ClientRequestToken="token-1")
    with pytest.raises(ClientError) as e:
        ddb.transact_write_items(TransactItems=[put("t3")], ClientRequestToken="token-1")
    assert code(e.value) == "IdempotentParameterMismatchException"
    with pytest.raises(ClientError) as e:
        ddb.transact_write_items(TransactItems=[
            put("t4"),
            {"ConditionCheck": {"TableName": table, "Key": {"pk": {"S": "t1"}, "sk": {"N": "1"}},
                                "ConditionExpression": "attribute_not_exists(pk)"}},
        ])
    assert code(e.value) == "TransactionCanceledException"
    assert [r["Code"] for r in e.value.response["CancellationReasons"]] == ["None", "ConditionalCheckFailed"]
    got = ddb.transact_get_items(TransactItems=[{"Get": {"TableName": table, "Key": {"pk": {"S": p}, "sk": {"N": "1"}}}} for p in ("t1", "t4")])
    assert "Item" in got["Responses"][0] and "Item" not in got["Responses"][1]


def test_validation_errors(ddb, table):
    cases = [
        dict(TableName=table, Item={"pk": {"S": ""}, "sk": {"N": "1"}}),
        dict(TableName=table, Item={"pk": {"N": "1"}, "sk": {"N": "1"}}),
        dict(TableName=table, Item={"pk": {"S": "x"}}),
        dict(TableName=table, Item={"pk": {"S": "x"}, "sk": {"N": "1"}, "big": {"S": "x" * 410000}}),
        dict(TableName=table, Item={"pk": {"S": "x"}, "sk": {"N": "1"}}, ConditionExpression="attribute_exists("),
        dict(TableName=table, Item={"pk": {"S": "x"}, "sk": {"N": "1"}}, ConditionExpression="a = :v",
             ExpressionAttributeValues={":v": {"S": "1"}, ":unused": {"S": "2"}}),
    ]
    for kw in cases:
        with pytest.raises(ClientError) as e:
            ddb.put_item(**kw)
        assert code(e.value) == "ValidationException", kw
    with pytest.raises(ClientError) as e:
        ddb.get_item(TableName="does_not_exist", Key={"pk": {"S": "x"}})
    assert code(e.value) == "ResourceNotFoundException"


def raw(server, target, body, content_type="application/x-amz-json-1.0"):
    req = urllib.request.Request(server.url + "/", data=body, method="POST",
                                 headers={"Content-Type": content_type, "X-Amz-Target": target})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read()), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), dict(e.headers)


def test_wire_protocol_errors(server):
    status, body, _ = raw(server, "DynamoDB_20120810.Nonsense", b"{}")
    assert status == 400 and body["__type"].endswith("#UnknownOperationException")
    status, body, _ = raw(server, "DynamoDB_20120810.ListTables", b"{not json")
    assert status == 400 and body["__type"].endswith("#SerializationException")
    status, body, _ = raw(server, "DynamoDB_20120810.PutItem", json.dumps({"TableName": "zzz", "Item": {"a": {"S": 5}}}).encode())
    assert status == 400 and body["__type"].endswith("#SerializationException")
    status, body, headers = raw(server, "DynamoDB_20120810.ListTables", b"{}")
    assert status == 200 and "x-amz-crc32" in {k.lower() for k in headers}
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    assert "dynamodb_SuccessfulRequestLatency_bucket" in text
