#!/usr/bin/env python3
"""Sends the same writes and reads to two DynamoDB endpoints and compares the response bodies
byte for byte (used to check that two hashlog builds answer reads identically).

Usage: python3 bench/scripts/compare_reads.py http://127.0.0.1:PORT_A http://127.0.0.1:PORT_B
Each endpoint must be a fresh server (the script creates tables "cmp" and "cmp2").
Exits non-zero when a body differs.
"""
import json
import sys
import urllib.error
import urllib.request


def call(endpoint, op, body):
    req = urllib.request.Request(
        endpoint,
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810." + op,
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


RICH = {
    "s": {"S": 'q"\\\n \u00e9 \U0001f600 </>'},
    "n": {"N": "1.50"},
    "b": {"B": "AAE="},
    "t": {"BOOL": True},
    "z": {"NULL": True},
    "ss": {"SS": ["b", "a"]},
    "ns": {"NS": ["10", "-0.5", "1E3"]},
    "bs": {"BS": ["AA==", "/+8="]},
    "m": {"M": {"x": {"L": [{"N": "1E2"}, {"M": {"y": {"S": ""}}}]}, "e": {"M": {}}}},
    "v": {"S": "x" * 1000},
}


def key(sk):
    return {"pk": {"S": "a"}, "sk": {"N": str(sk)}}


SETUP = [
    ("CreateTable", {"TableName": "cmp", "BillingMode": "PAY_PER_REQUEST",
                     "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                   {"AttributeName": "sk", "KeyType": "RANGE"}],
                     "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                              {"AttributeName": "sk", "AttributeType": "N"}]}),
    ("CreateTable", {"TableName": "cmp2", "BillingMode": "PAY_PER_REQUEST",
                     "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                     "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}),
] + [
    ("PutItem", {"TableName": "cmp", "Item": dict(RICH, **key(sk))}) for sk in range(1, 8)
] + [
    ("PutItem", {"TableName": "cmp2", "Item": {"pk": {"S": "k"}, "v": {"N": "7"}}}),
]

P = {":p": {"S": "a"}}
READS = [
    ("GetItem", {"TableName": "cmp", "Key": key(1), "ReturnConsumedCapacity": "TOTAL"}),
    ("GetItem", {"TableName": "cmp", "Key": key(99), "ReturnConsumedCapacity": "INDEXES"}),
    ("GetItem", {"TableName": "cmp", "Key": key(2), "ProjectionExpression": "n, m.x[1], #b",
                 "ExpressionAttributeNames": {"#b": "bs"}}),
    ("Query", {"TableName": "cmp", "KeyConditionExpression": "pk = :p",
               "ExpressionAttributeValues": P}),
    ("Query", {"TableName": "cmp", "KeyConditionExpression": "pk = :p",
               "ExpressionAttributeValues": P, "Limit": 3, "ScanIndexForward": False,
               "ReturnConsumedCapacity": "INDEXES"}),
    ("Query", {"TableName": "cmp", "KeyConditionExpression": "pk = :p",
               "ExpressionAttributeValues": P, "Select": "COUNT",
               "ReturnConsumedCapacity": "TOTAL"}),
    ("Query", {"TableName": "cmp", "KeyConditionExpression": "pk = :p AND sk > :s",
               "ProjectionExpression": "sk, ss",
               "ExpressionAttributeValues": {":p": {"S": "a"}, ":s": {"N": "3"}}}),
    ("Scan", {"TableName": "cmp"}),
    ("Scan", {"TableName": "cmp", "Limit": 2, "ReturnConsumedCapacity": "TOTAL"}),
    ("BatchGetItem", {"RequestItems": {
        "cmp": {"Keys": [key(1), key(50), key(4)], "ProjectionExpression": "s, b"},
        "cmp2": {"Keys": [{"pk": {"S": "k"}}, {"pk": {"S": "none"}}], "ConsistentRead": True},
    }, "ReturnConsumedCapacity": "TOTAL"}),
    ("TransactGetItems", {"TransactItems": [
        {"Get": {"TableName": "cmp", "Key": key(5)}},
        {"Get": {"TableName": "cmp", "Key": key(70)}},
        {"Get": {"TableName": "cmp2", "Key": {"pk": {"S": "k"}}, "ProjectionExpression": "v"}},
    ], "ReturnConsumedCapacity": "TOTAL"}),
    # Error paths are unchanged: compare them too.
    ("GetItem", {"TableName": "nope", "Key": key(1)}),
    ("Query", {"TableName": "cmp", "KeyConditionExpression": "pk = :p"}),
]


def main():
    a, b = sys.argv[1], sys.argv[2]
    for op, body in SETUP:
        for e in (a, b):
            status, out = call(e, op, body)
            if status != 200:
                sys.exit(f"{e} {op}: {status} {out[:200]!r}")
    differ = 0
    for op, body in READS:
        ra, rb = call(a, op, body), call(b, op, body)
        same = ra == rb
        differ += not same
        print(f"{'same' if same else 'DIFFERENT'} {op} {ra[0]} {len(ra[1])} bytes")
        if not same:
            print(f"  A: {ra[1][:400]!r}\n  B: {rb[1][:400]!r}")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
