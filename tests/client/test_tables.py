"""Tables and items as a DynamoDB user drives them through boto3."""
import time

import pytest
from botocore.exceptions import ClientError

from conftest import unique


def code(e):
    return e.value.response["Error"]["Code"]


def message(e):
    return e.value.response["Error"]["Message"]


def test_table_lifecycle(ddb):
    name = unique("life")
    created = ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
    )["TableDescription"]
    assert created["TableName"] == name
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    d = ddb.describe_table(TableName=name)["Table"]
    assert d["TableStatus"] == "ACTIVE"
    assert d["TableArn"].endswith(f":table/{name}")
    assert d["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert d["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    assert d["ItemCount"] == 0
    assert name in ddb.list_tables()["TableNames"]
    # UpdateTable answers UPDATING, as DynamoDB does; the waiter then sees ACTIVE.
    updated = ddb.update_table(
        TableName=name,
        ProvisionedThroughput={"ReadCapacityUnits": 6, "WriteCapacityUnits": 5},
    )["TableDescription"]
    assert updated["TableStatus"] == "UPDATING"
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    assert ddb.describe_table(TableName=name)["Table"]["ProvisionedThroughput"]["ReadCapacityUnits"] == 6
    # Tags: DynamoDB's character set, and the aws: prefix is reserved.
    arn = d["TableArn"]
    for bad in [{"Key": "bad*key", "Value": "1"}, {"Key": "ok", "Value": "#!%"},
                {"Key": "aws:cloudformation:stack-name", "Value": "x"}]:
        with pytest.raises(ClientError) as e:
            ddb.tag_resource(ResourceArn=arn, Tags=[bad])
        assert code(e) == "ValidationException", bad
        assert "Invalid tag" in message(e)
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "team/owner", "Value": "data + infra"}])
    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == [
        {"Key": "team/owner", "Value": "data + infra"}]
    with pytest.raises(ClientError) as e:
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    assert code(e) == "ResourceInUseException"
    deleted = ddb.delete_table(TableName=name)["TableDescription"]
    assert deleted["TableName"] == name
    with pytest.raises(ClientError) as e:
        ddb.describe_table(TableName=name)
    assert code(e) == "ResourceNotFoundException"
    assert name not in ddb.list_tables()["TableNames"]
    with pytest.raises(ClientError) as e:
        ddb.delete_table(TableName=name)
    assert code(e) == "ResourceNotFoundException"


def test_create_table_validation(ddb):
    with pytest.raises(ClientError) as e:  # key attribute without a definition
        ddb.create_table(TableName=unique("bad"), KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "other", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
    assert code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:  # name too short
        ddb.create_table(TableName="ab", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
    assert code(e) == "ValidationException"


def test_table_class_is_kept_and_described(ddb):
    name = unique("cls")
    schema = dict(KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                  AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                  BillingMode="PAY_PER_REQUEST")
    with pytest.raises(ClientError) as e:
        ddb.create_table(TableName=name, TableClass="COLD", **schema)
    assert code(e) == "ValidationException"
    ddb.create_table(TableName=name, TableClass="STANDARD_INFREQUENT_ACCESS", **schema)
    try:
        d = ddb.describe_table(TableName=name)["Table"]
        assert d["TableClassSummary"]["TableClass"] == "STANDARD_INFREQUENT_ACCESS"
        ddb.update_table(TableName=name, TableClass="STANDARD")
        s = ddb.describe_table(TableName=name)["Table"]["TableClassSummary"]
        assert s["TableClass"] == "STANDARD" and "LastUpdateDateTime" in s
    finally:
        ddb.delete_table(TableName=name)


def test_kms_encryption_is_described_and_switched_off(ddb):
    schema = dict(KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                  AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                  BillingMode="PAY_PER_REQUEST")
    plain, managed, own = unique("sse"), unique("sse"), unique("sse")
    for bad in ({"Enabled": True, "SSEType": "AES256"},
                {"Enabled": True, "KMSMasterKeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}):
        with pytest.raises(ClientError) as e:
            ddb.create_table(TableName=plain, SSESpecification=bad, **schema)
        assert code(e) == "ValidationException"
    ddb.create_table(TableName=plain, SSESpecification={"Enabled": False}, **schema)
    ddb.create_table(TableName=managed, SSESpecification={"Enabled": True}, **schema)
    ddb.create_table(TableName=own, SSESpecification={
        "Enabled": True, "SSEType": "KMS",
        "KMSMasterKeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}, **schema)
    try:
        # The default AWS owned key is not described; a KMS key is.
        assert "SSEDescription" not in ddb.describe_table(TableName=plain)["Table"]
        m = ddb.describe_table(TableName=managed)["Table"]["SSEDescription"]
        assert m["Status"] == "ENABLED" and m["SSEType"] == "KMS"
        assert m["KMSMasterKeyArn"].startswith("arn:aws:kms:us-east-1:")
        assert ":key/" in m["KMSMasterKeyArn"]
        o = ddb.describe_table(TableName=own)["Table"]["SSEDescription"]
        assert o["KMSMasterKeyArn"].endswith(":key/1234abcd-12ab-34cd-56ef-1234567890ab")
        # Switched on by UpdateTable (the same AWS managed key), and off again.
        ddb.update_table(TableName=plain, SSESpecification={"Enabled": True})
        p = ddb.describe_table(TableName=plain)["Table"]["SSEDescription"]
        assert p["KMSMasterKeyArn"] == m["KMSMasterKeyArn"]
        ddb.update_table(TableName=own, SSESpecification={"Enabled": False})
        assert "SSEDescription" not in ddb.describe_table(TableName=own)["Table"]
    finally:
        for n in (plain, managed, own):
            ddb.delete_table(TableName=n)


def test_list_tables_paginates(ddb):
    names = sorted(unique("page") for _ in range(3))
    for n in names:
        ddb.create_table(TableName=n, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
    try:
        seen, kw = [], {"Limit": 1}
        while True:
            r = ddb.list_tables(**kw)
            assert len(r["TableNames"]) <= 1
            seen += r["TableNames"]
            if "LastEvaluatedTableName" not in r:
                break
            kw["ExclusiveStartTableName"] = r["LastEvaluatedTableName"]
        assert set(names) <= set(seen)
        assert seen == sorted(seen)
        pages = ddb.get_paginator("list_tables").paginate(PaginationConfig={"PageSize": 2})
        assert set(names) <= {t for p in pages for t in p["TableNames"]}
    finally:
        for n in names:
            ddb.delete_table(TableName=n)


def test_put_get_update_delete_with_return_values(ddb, table):
    key = {"pk": {"S": "u1"}, "sk": {"N": "1"}}
    item = {**key, "name": {"S": "Ada"}, "tags": {"SS": ["a", "b"]}, "n": {"N": "10"},
            "doc": {"M": {"list": {"L": [{"N": "1"}, {"BOOL": True}, {"NULL": True}]}}}, "bin": {"B": b"\x00\x01"}}
    r = ddb.put_item(TableName=table, Item=item, ReturnValues="ALL_OLD")
    assert "Attributes" not in r
    assert ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"] == item
    r = ddb.put_item(TableName=table, Item={**item, "name": {"S": "Grace"}}, ReturnValues="ALL_OLD")
    assert r["Attributes"]["name"] == {"S": "Ada"}
    proj = ddb.get_item(TableName=table, Key=key, ProjectionExpression="#n, doc.#l[1]",
                        ExpressionAttributeNames={"#n": "name", "#l": "list"})["Item"]
    assert proj == {"name": {"S": "Grace"}, "doc": {"M": {"list": {"L": [{"BOOL": True}]}}}}

    r = ddb.update_item(TableName=table, Key=key,
                        UpdateExpression="SET visits = if_not_exists(visits, :z) + :one, n = n - :one "
                                         "ADD tags :t REMOVE doc",
                        ExpressionAttributeValues={":z": {"N": "0"}, ":one": {"N": "1"}, ":t": {"SS": ["c"]}},
                        ReturnValues="UPDATED_NEW")
    assert r["Attributes"]["visits"] == {"N": "1"}
    assert r["Attributes"]["n"] == {"N": "9"}
    assert sorted(r["Attributes"]["tags"]["SS"]) == ["a", "b", "c"]
    assert "name" not in r["Attributes"]
    r = ddb.update_item(TableName=table, Key=key, UpdateExpression="SET #n = :v",
                        ExpressionAttributeNames={"#n": "name"}, ExpressionAttributeValues={":v": {"S": "Hopper"}},
                        ReturnValues="UPDATED_OLD")
    assert r["Attributes"] == {"name": {"S": "Grace"}}
    r = ddb.update_item(TableName=table, Key=key, UpdateExpression="DELETE tags :t",
                        ExpressionAttributeValues={":t": {"SS": ["a"]}}, ReturnValues="ALL_NEW")
    assert sorted(r["Attributes"]["tags"]["SS"]) == ["b", "c"]
    assert "doc" not in r["Attributes"] and r["Attributes"]["name"] == {"S": "Hopper"}

    old = ddb.delete_item(TableName=table, Key=key, ReturnValues="ALL_OLD")["Attributes"]
    assert old["name"] == {"S": "Hopper"}
    assert "Item" not in ddb.get_item(TableName=table, Key=key, ConsistentRead=True)
    # Deleting what is not there is not an error.
    assert "Attributes" not in ddb.delete_item(TableName=table, Key=key, ReturnValues="ALL_OLD")


def test_update_creates_missing_item(ddb, table):
    key = {"pk": {"S": "new"}, "sk": {"N": "7"}}
    r = ddb.update_item(TableName=table, Key=key, UpdateExpression="ADD hits :one",
                        ExpressionAttributeValues={":one": {"N": "1"}}, ReturnValues="ALL_NEW")
    assert r["Attributes"] == {**key, "hits": {"N": "1"}}


def test_numbers_are_exact_and_canonical(ddb, table):
    key = {"pk": {"S": "n"}, "sk": {"N": "1"}}
    ddb.put_item(TableName=table, Item={**key, "v": {"N": "0.1000000000000000000000000000000000001"}})
    r = ddb.update_item(TableName=table, Key=key, UpdateExpression="SET v = v + :x",
                        ExpressionAttributeValues={":x": {"N": "1.50"}}, ReturnValues="ALL_NEW")
    assert r["Attributes"]["v"] == {"N": "1.6000000000000000000000000000000000001"}
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=table, Item={"pk": {"S": "n"}, "sk": {"N": "2"}, "v": {"N": "1E+126"}})
    assert code(e) == "ValidationException"
    assert "Number overflow" in message(e)


def test_thirty_two_nested_maps_are_stored_read_updated_and_deleted(ddb, table):
    # DynamoDB takes attributes nested 32 levels deep, the attribute itself being level 1
    # (31 maps or lists around a scalar); the 33rd level is refused.
    def nest(levels):
        v = {"S": "leaf"}
        for kind in reversed(levels):
            v = {"M": {"x": v}} if kind == "M" else {"L": [v]}
        return v

    key = {"pk": {"S": "deep"}, "sk": {"N": "1"}}
    for levels in ["M" * 31, "L" * 31, "ML" * 15 + "M"]:
        ddb.put_item(TableName=table, Item={**key, "d": nest(levels)})
        assert ddb.get_item(TableName=table, Key=key)["Item"]["d"] == nest(levels)
        got = ddb.query(TableName=table, KeyConditionExpression="pk = :p",
                        ExpressionAttributeValues={":p": {"S": "deep"}})["Items"]
        assert got == [{**key, "d": nest(levels)}]
        ddb.update_item(TableName=table, Key=key, UpdateExpression="SET e = :v",
                        ExpressionAttributeValues={":v": nest(levels)})
        assert ddb.scan(TableName=table, Select="COUNT")["Count"] == 1
        ddb.update_item(TableName=table, Key=key, UpdateExpression="REMOVE d, e")
    ddb.delete_item(TableName=table, Key=key)
    assert "Item" not in ddb.get_item(TableName=table, Key=key)
    # 100 levels is past serde_json's own depth limit: still DynamoDB's nesting error.
    for levels in ["M" * 32, "L" * 32, "LM" * 16, "M" * 100]:
        with pytest.raises(ClientError) as e:
            ddb.put_item(TableName=table, Item={**key, "d": nest(levels)})
        assert code(e) == "ValidationException"
        assert "Nesting Levels have exceeded supported limits" in e.value.response["Error"]["Message"]


def test_conditions(ddb, table):
    key = {"pk": {"S": "c"}, "sk": {"N": "1"}}
    ddb.put_item(TableName=table, Item={**key, "v": {"N": "1"}}, ConditionExpression="attribute_not_exists(pk)")
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=table, Item={**key, "v": {"N": "2"}}, ConditionExpression="attribute_not_exists(pk)",
                     ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert code(e) == "ConditionalCheckFailedException"
    assert message(e) == "The conditional request failed"
    assert e.value.response["Item"]["v"] == {"N": "1"}
    ddb.update_item(TableName=table, Key=key, UpdateExpression="SET v = :n",
                    ConditionExpression="v = :o AND size(pk) < :three",
                    ExpressionAttributeValues={":n": {"N": "5"}, ":o": {"N": "1"}, ":three": {"N": "3"}})
    with pytest.raises(ClientError) as e:
        ddb.update_item(TableName=table, Key=key, UpdateExpression="SET v = :n", ConditionExpression="v > :n",
                        ExpressionAttributeValues={":n": {"N": "5"}})
    assert code(e) == "ConditionalCheckFailedException"
    with pytest.raises(ClientError) as e:
        ddb.delete_item(TableName=table, Key=key, ConditionExpression="attribute_type(v, :s)",
                        ExpressionAttributeValues={":s": {"S": "S"}})
    assert code(e) == "ConditionalCheckFailedException"
    # Legacy Expected still works for old clients.
    with pytest.raises(ClientError) as e:
        ddb.delete_item(TableName=table, Key=key, Expected={"v": {"Value": {"N": "1"}}})
    assert code(e) == "ConditionalCheckFailedException"
    ddb.delete_item(TableName=table, Key=key, ConditionExpression="v IN (:a, :b)",
                    ExpressionAttributeValues={":a": {"N": "4"}, ":b": {"N": "5"}})
    assert "Item" not in ddb.get_item(TableName=table, Key=key, ConsistentRead=True)


def put_range(ddb, table, pk, n, **extra):
    with_extra = lambda i: {k: f(i) for k, f in extra.items()}
    for i in range(n):
        ddb.put_item(TableName=table, Item={"pk": {"S": pk}, "sk": {"N": str(i)}, **with_extra(i)})


def test_query_key_conditions_filters_pagination_and_reverse(ddb, table):
    put_range(ddb, table, "q", 25, even=lambda i: {"BOOL": i % 2 == 0})
    ddb.put_item(TableName=table, Item={"pk": {"S": "other"}, "sk": {"N": "1"}})
    vals = {":p": {"S": "q"}, ":a": {"N": "3"}, ":b": {"N": "20"}, ":t": {"BOOL": True}}
    got, kw = [], {}
    while True:
        r = ddb.query(TableName=table, KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
                      FilterExpression="even = :t", ScanIndexForward=False, Limit=4,
                      ExpressionAttributeValues=vals, **kw)
        assert r["ScannedCount"] <= 4
        got += [int(i["sk"]["N"]) for i in r["Items"]]
        if "LastEvaluatedKey" not in r:
            break
        kw["ExclusiveStartKey"] = r["LastEvaluatedKey"]
    assert got == [20, 18, 16, 14, 12, 10, 8, 6, 4]

    r = ddb.query(TableName=table, KeyConditionExpression="pk = :p AND sk < :b",
                  ExpressionAttributeValues={":p": {"S": "q"}, ":b": {"N": "3"}})
    assert [i["sk"]["N"] for i in r["Items"]] == ["0", "1", "2"]
    r = ddb.query(TableName=table, KeyConditionExpression="#k = :p AND sk >= :b", ExpressionAttributeNames={"#k": "pk"},
                  ExpressionAttributeValues={":p": {"S": "q"}, ":b": {"N": "22"}}, ScanIndexForward=False)
    assert [i["sk"]["N"] for i in r["Items"]] == ["24", "23", "22"]
    c = ddb.query(TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "q"}},
                  Select="COUNT")
    assert c["Count"] == 25 and "Items" not in c
    p = ddb.query(TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "q"}},
                  ProjectionExpression="sk", Limit=2)
    assert p["Items"] == [{"sk": {"N": "0"}}, {"sk": {"N": "1"}}]
    pages = ddb.get_paginator("query").paginate(
        TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "q"}},
        PaginationConfig={"PageSize": 7})
    assert sum(p["Count"] for p in pages) == 25
    none = ddb.query(TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "zzz"}})
    assert none["Count"] == 0 and none["Items"] == []


def test_long_query_pages_are_whole_ordered_and_stop_at_one_megabyte(server, table):
    # 600 items of about 2 KB under one key: a page past its first 32 items or 64 KiB reads
    # the rest off the reactor thread; a page stops at 1 MB as DynamoDB's do.
    # Loading them is 1,200 WCU on one partition key, above a partition's 1,000 WCU a second
    # even on demand, so the load (or the first query after it) may be throttled, as on
    # DynamoDB: this client retries as the SDKs' standard mode does and resends what a batch
    # leaves unprocessed.
    ddb = server.client(patient=True)
    blob = "x" * 2000
    items = [{"pk": {"S": "long"}, "sk": {"N": str(i)}, "odd": {"BOOL": i % 2 == 1}, "v": {"S": blob}}
             for i in range(600)]
    for start in range(0, 600, 25):
        left = {table: [{"PutRequest": {"Item": it}} for it in items[start:start + 25]]}
        for _ in range(50):
            left = ddb.batch_write_item(RequestItems=left).get("UnprocessedItems", {})
            if not left:
                break
            time.sleep(0.05)
        assert not left
    vals = {":p": {"S": "long"}}

    def collect(extra_vals=None, **kw):
        got, pages, start = [], [], {}
        while True:
            r = ddb.query(TableName=table, KeyConditionExpression="pk = :p",
                          ExpressionAttributeValues={**vals, **(extra_vals or {})}, **kw, **start)
            got += [int(i["sk"]["N"]) for i in r["Items"]]
            pages.append(r)
            if "LastEvaluatedKey" not in r:
                return got, pages
            start = {"ExclusiveStartKey": r["LastEvaluatedKey"]}

    got, pages = collect()
    assert got == list(range(600))
    # The first page stopped at the 1 MB cap, well past the first 32 items.
    assert 32 < pages[0]["Count"] < 600 and "LastEvaluatedKey" in pages[0]
    assert all(i["v"]["S"] == blob for p in pages for i in p["Items"])
    got, pages = collect(ScanIndexForward=False, Limit=100)
    assert got == list(range(599, -1, -1))
    assert [p["Count"] for p in pages[:6]] == [100] * 6
    got, _ = collect(FilterExpression="odd = :t", extra_vals={":t": {"BOOL": True}})
    assert got == list(range(1, 600, 2))
    got, _ = collect(ProjectionExpression="sk", Limit=250)
    assert got == list(range(600))


def test_query_begins_with_on_string_sort_key(ddb):
    name = unique("events")
    ddb.create_table(TableName=name,
                     KeySchema=[{"AttributeName": "user", "KeyType": "HASH"}, {"AttributeName": "ts", "KeyType": "RANGE"}],
                     AttributeDefinitions=[{"AttributeName": "user", "AttributeType": "S"},
                                           {"AttributeName": "ts", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    try:
        for ts in ["2024-01-05", "2024-02-01", "2024-02-15", "2024-03-01", "2023-12-31"]:
            ddb.put_item(TableName=name, Item={"user": {"S": "u"}, "ts": {"S": ts}})
        r = ddb.query(TableName=name, KeyConditionExpression="#u = :u AND begins_with(ts, :m)",
                      ExpressionAttributeNames={"#u": "user"},
                      ExpressionAttributeValues={":u": {"S": "u"}, ":m": {"S": "2024-02"}})
        assert [i["ts"]["S"] for i in r["Items"]] == ["2024-02-01", "2024-02-15"]
        with pytest.raises(ClientError) as e:  # a key condition on a non-key attribute
            ddb.query(TableName=name, KeyConditionExpression="#u = :u AND other = :m",
                      ExpressionAttributeNames={"#u": "user"},
                      ExpressionAttributeValues={":u": {"S": "u"}, ":m": {"S": "x"}})
        assert code(e) == "ValidationException"
    finally:
        ddb.delete_table(TableName=name)


def test_scan_segments_and_pagination_cover_the_table_once(ddb, table):
    for i in range(60):
        ddb.put_item(TableName=table, Item={"pk": {"S": f"k{i}"}, "sk": {"N": "0"}, "i": {"N": str(i)}})
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
    pages = list(ddb.get_paginator("scan").paginate(TableName=table, PaginationConfig={"PageSize": 11}))
    assert len(pages) >= 6 and sum(p["Count"] for p in pages) == 60
    f = ddb.scan(TableName=table, FilterExpression="i >= :x", ExpressionAttributeValues={":x": {"N": "50"}})
    assert f["Count"] == 10 and f["ScannedCount"] == 60
    with pytest.raises(ClientError) as e:
        ddb.scan(TableName=table, Segment=4, TotalSegments=4)
    assert code(e) == "ValidationException"


def test_batch_write_and_get(ddb, table):
    reqs = [{"PutRequest": {"Item": {"pk": {"S": "b"}, "sk": {"N": str(i)}, "v": {"S": "x" * 100}}}} for i in range(25)]
    assert ddb.batch_write_item(RequestItems={table: reqs})["UnprocessedItems"] == {}
    keys = [{"pk": {"S": "b"}, "sk": {"N": str(i)}} for i in range(0, 25, 5)]
    missing = {"pk": {"S": "nope"}, "sk": {"N": "1"}}
    r = ddb.batch_get_item(RequestItems={table: {"Keys": keys + [missing], "ConsistentRead": True}})
    assert sorted(int(i["sk"]["N"]) for i in r["Responses"][table]) == [0, 5, 10, 15, 20]
    assert r["UnprocessedKeys"] == {}
    r = ddb.batch_get_item(RequestItems={table: {"Keys": keys[:2], "ProjectionExpression": "sk"}})
    assert all(set(i) == {"sk"} for i in r["Responses"][table])
    deletes = [{"DeleteRequest": {"Key": {"pk": {"S": "b"}, "sk": {"N": str(i)}}}} for i in range(10)]
    assert ddb.batch_write_item(RequestItems={table: deletes})["UnprocessedItems"] == {}
    assert ddb.query(TableName=table, KeyConditionExpression="pk = :p",
                     ExpressionAttributeValues={":p": {"S": "b"}}, Select="COUNT")["Count"] == 15
    with pytest.raises(ClientError) as e:  # the same key twice in one batch
        ddb.batch_write_item(RequestItems={table: reqs[:2] + [reqs[0]]})
    assert code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:  # 26 requests
        ddb.batch_write_item(RequestItems={table: reqs + [{"PutRequest": {"Item": {"pk": {"S": "z"}, "sk": {"N": "0"}}}}]})
    assert code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        ddb.batch_get_item(RequestItems={table: {"Keys": [keys[0], keys[0]]}})
    assert code(e) == "ValidationException"
    assert "duplicates" in message(e)


def test_transactions(ddb, table):
    put = lambda pk: {"Put": {"TableName": table, "Item": {"pk": {"S": pk}, "sk": {"N": "1"}}}}
    ddb.transact_write_items(TransactItems=[put("t1"), put("t2")], ClientRequestToken="token-1")
    # The same token and items again: accepted, nothing applied twice.
    ddb.transact_write_items(TransactItems=[put("t1"), put("t2")], ClientRequestToken="token-1")
    with pytest.raises(ClientError) as e:
        ddb.transact_write_items(TransactItems=[put("t3")], ClientRequestToken="token-1")
    assert code(e) == "IdempotentParameterMismatchException"
    with pytest.raises(ClientError) as e:
        ddb.transact_write_items(TransactItems=[
            put("t4"),
            {"ConditionCheck": {"TableName": table, "Key": {"pk": {"S": "t1"}, "sk": {"N": "1"}},
                                "ConditionExpression": "attribute_not_exists(pk)"}},
        ])
    assert code(e) == "TransactionCanceledException"
    assert [r["Code"] for r in e.value.response["CancellationReasons"]] == ["None", "ConditionalCheckFailed"]
    assert "ConditionalCheckFailed" in message(e)
    ddb.transact_write_items(TransactItems=[
        {"Update": {"TableName": table, "Key": {"pk": {"S": "t1"}, "sk": {"N": "1"}},
                    "UpdateExpression": "SET c = :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        {"Delete": {"TableName": table, "Key": {"pk": {"S": "t2"}, "sk": {"N": "1"}}}},
    ])
    got = ddb.transact_get_items(TransactItems=[
        {"Get": {"TableName": table, "Key": {"pk": {"S": p}, "sk": {"N": "1"}}}} for p in ("t1", "t2", "t4")])
    assert got["Responses"][0]["Item"]["c"] == {"N": "1"}
    assert "Item" not in got["Responses"][1] and "Item" not in got["Responses"][2]
    with pytest.raises(ClientError) as e:  # two actions on one item
        ddb.transact_write_items(TransactItems=[put("t5"), put("t5")])
    assert code(e) == "ValidationException"


def test_error_paths(ddb, table):
    bad_puts = [
        dict(TableName=table, Item={"pk": {"S": ""}, "sk": {"N": "1"}}),  # empty key string
        dict(TableName=table, Item={"pk": {"N": "1"}, "sk": {"N": "1"}}),  # wrong key type
        dict(TableName=table, Item={"pk": {"S": "x"}}),  # missing sort key
        dict(TableName=table, Item={"pk": {"S": "x"}, "sk": {"N": "1"}, "big": {"S": "x" * 410000}}),  # > 400 KB
        dict(TableName=table, Item={"pk": {"S": "x"}, "sk": {"N": "1"}}, ConditionExpression="attribute_exists("),
        dict(TableName=table, Item={"pk": {"S": "x"}, "sk": {"N": "1"}}, ConditionExpression="a = :v",
             ExpressionAttributeValues={":v": {"S": "1"}, ":unused": {"S": "2"}}),
        dict(TableName=table, Item={"pk": {"S": "x"}, "sk": {"N": "1"}}, ConditionExpression="#nope = :v",
             ExpressionAttributeValues={":v": {"S": "1"}}),
        dict(TableName=table, Item={"pk": {"S": "x"}, "sk": {"N": "not-a-number"}}),
    ]
    for kw in bad_puts:
        with pytest.raises(ClientError) as e:
            ddb.put_item(**kw)
        assert code(e) == "ValidationException", kw
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=table, Item={"pk": {"S": "x"}, "sk": {"N": "1"}, "big": {"S": "x" * 410000}})
    assert "Item size has exceeded the maximum allowed size" in message(e)
    with pytest.raises(ClientError) as e:
        ddb.get_item(TableName=table, Key={"pk": {"S": "x"}, "sk": {"S": "1"}})
    assert code(e) == "ValidationException"
    assert "The provided key element does not match the schema" in message(e)
    with pytest.raises(ClientError) as e:
        ddb.update_item(TableName=table, Key={"pk": {"S": "x"}, "sk": {"N": "1"}}, UpdateExpression="SET pk = :v",
                        ExpressionAttributeValues={":v": {"S": "y"}})
    assert code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        ddb.update_item(TableName=table, Key={"pk": {"S": "x"}, "sk": {"N": "1"}}, UpdateExpression="SET = oops")
    assert code(e) == "ValidationException"
    for call in (lambda: ddb.get_item(TableName="does_not_exist", Key={"pk": {"S": "x"}}),
                 lambda: ddb.put_item(TableName="does_not_exist", Item={"pk": {"S": "x"}}),
                 lambda: ddb.query(TableName="does_not_exist", KeyConditionExpression="pk = :p",
                                   ExpressionAttributeValues={":p": {"S": "x"}}),
                 lambda: ddb.scan(TableName="does_not_exist")):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "ResourceNotFoundException"
        assert message(e).startswith("Requested resource not found")


def test_concurrent_conditional_increments_of_one_item_lose_none(server, hash_table):
    """Many connections updating one item at once: single-item writes run on the reactor
    threads and await their commit there, or finish on the blocking pool when the item is
    locked; every increment and every condition must still see the previous write."""
    import threading

    ddb = server.client()
    ddb.put_item(TableName=hash_table, Item={"pk": {"S": "ctr"}, "n": {"N": "0"}})
    errors = []

    def bump(client):
        try:
            for _ in range(25):
                client.update_item(TableName=hash_table, Key={"pk": {"S": "ctr"}},
                                   UpdateExpression="ADD n :one",
                                   ExpressionAttributeValues={":one": {"N": "1"}})
                # A conditional write of the same item that must see the latest value.
                cur = client.get_item(TableName=hash_table, Key={"pk": {"S": "ctr"}},
                                      ConsistentRead=True)["Item"]["n"]["N"]
                client.put_item(TableName=hash_table, Item={"pk": {"S": f"seen-{cur}-{threading.get_ident()}"}},
                                ConditionExpression="attribute_not_exists(pk)")
        except Exception as e:  # reported below, with the thread's context
            errors.append(e)

    threads = [threading.Thread(target=bump, args=(server.client(),)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    got = ddb.get_item(TableName=hash_table, Key={"pk": {"S": "ctr"}}, ConsistentRead=True)["Item"]
    assert got["n"] == {"N": "200"}
