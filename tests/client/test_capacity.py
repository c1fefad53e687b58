"""Capacity as a DynamoDB user meets it: a provisioned table throttles beyond its throughput with
ProvisionedThroughputExceededException, the SDK's retries get the writes through, an on-demand
table absorbs the same burst, and UpdateTable raises the limit."""
import pytest
from botocore.exceptions import ClientError

from conftest import unique


def create(ddb, name, provisioned):
    kw = {"ProvisionedThroughput": {"ReadCapacityUnits": provisioned[0], "WriteCapacityUnits": provisioned[1]}} \
        if provisioned else {"BillingMode": "PAY_PER_REQUEST"}
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], **kw)


def test_provisioned_table_throttles_and_sdk_retries_succeed(server, ddb):
    name = unique("tiny")
    create(ddb, name, (1, 20))
    # A new table absorbs a first burst (300 s of its rate, as DynamoDB keeps), but its one
    # partition serves at most 1,000 WCU a second: 100 KB items (100 WCU each) from four
    # clients at once meet that whatever the disk's latency, and a retry a moment later gets
    # through.
    import threading
    import time
    big = "x" * 100_000
    errors, written, stop = [], [], time.monotonic() + 30

    def hammer(client, t):
        i = 0
        while not errors and time.monotonic() < stop:
            try:
                client.put_item(TableName=name, Item={"pk": {"S": f"k{t}-{i}"}, "v": {"S": big}})
                written.append(f"k{t}-{i}")
            except ClientError as e:
                errors.append(e.response)
            i += 1

    threads = [threading.Thread(target=hammer, args=(server.client(), t)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors, "no throttle within 30 s"
    for err in errors:
        assert err["Error"]["Code"] == "ProvisionedThroughputExceededException"
        assert "provisioned throughput for the table was exceeded" in err["Error"]["Message"]
        reasons = err["ThrottlingReasons"]
        assert len(reasons) == 1 and reasons[0]["resource"].endswith(f":table/{name}")
        assert reasons[0]["reason"].startswith("TableWrite"), reasons
    throttled = len(errors)
    with pytest.raises(ClientError) as e:
        for i in range(100):  # 25 RCU each, against 1 RCU and its 300 of burst
            ddb.get_item(TableName=name, Key={"pk": {"S": written[0]}}, ConsistentRead=True)
    assert e.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    # The SDK's standard retry mode backs off and gets a write through.
    patient = server.client(patient=True)
    patient.put_item(TableName=name, Item={"pk": {"S": "eventually"}})
    # /metrics shows the throttles per table (CloudWatch's ThrottledRequests).
    import urllib.request
    text = urllib.request.urlopen(server.url + "/metrics", timeout=10).read().decode()
    line = next(l for l in text.splitlines()
                if l.startswith(f'hashlog_capacity_throttled_requests_total{{table="{name}",op="write"}}'))
    assert float(line.split()[-1]) >= throttled
    assert f'hashlog_capacity_partition_throttled_requests_total{{table="{name}",partition="0"' in text
    # More throughput: the same burst goes through.
    ddb.update_table(TableName=name, ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 5000})
    # Hot-key insight samples one request in 16: after a few hundred small writes of one key
    # the sketch holds it.
    for _ in range(300):
        ddb.put_item(TableName=name, Item={"pk": {"S": "k-hot"}})
    text = urllib.request.urlopen(server.url + "/metrics", timeout=10).read().decode()
    assert f'hashlog_capacity_hot_key_accessed{{table="{name}",key="k-hot"' in text
    ddb.delete_table(TableName=name)


def test_on_demand_table_absorbs_a_burst(ddb):
    name = unique("free")
    create(ddb, name, None)
    for i in range(200):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}})
    ddb.delete_table(TableName=name)


def test_a_hot_key_on_an_on_demand_table_is_throttled_with_the_on_demand_message(server, ddb):
    # A partition serves at most 1,000 WCU a second even on demand: four 390 KB puts to one
    # key (about 1,560 WCU) back to back, without retries, meet the limit.
    # Three clients at once, so a slow disk cannot space the puts out below the limit.
    import threading
    import time
    name = unique("hotkey")
    create(ddb, name, None)
    big = "x" * 390_000
    errors, stop = [], time.monotonic() + 30

    def hammer(client):
        while not errors and time.monotonic() < stop:
            try:
                client.put_item(TableName=name, Item={"pk": {"S": "hot"}, "v": {"S": big}})
            except ClientError as e:
                errors.append(e.response)

    threads = [threading.Thread(target=hammer, args=(server.client(),)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors, "no throttle within 30 s"
    err = errors[0]
    assert err["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert err["Error"]["Message"].startswith(
        "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling")
    assert err["ThrottlingReasons"] == [{"reason": "TableWriteKeyRangeThroughputExceeded",
                                        "resource": ddb.describe_table(TableName=name)["Table"]["TableArn"]}]
    ddb.delete_table(TableName=name)
