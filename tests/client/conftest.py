"""Starts the real `hashlog` binary on a free loopback port for the client tests.

HASHLOG_BIN names the binary (default: target/release/hashlog under the repository root).
Every server started here is stopped at the end; every wait is bounded.
"""
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time

import boto3
import pytest
from botocore.config import Config

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("HASHLOG_BIN", str(ROOT / "target" / "release" / "hashlog"))

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testkey")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testsecret")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


class Server:
    def __init__(self, data_dir, extra_args=()):
        self.data_dir = data_dir
        self.extra_args = list(extra_args)
        self.proc = None
        self.url = None

    def start(self, timeout=20.0):
        self.proc = subprocess.Popen(
            [BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(self.data_dir), "--log", "warn", *self.extra_args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                if self.proc.poll() is not None:
                    raise RuntimeError("hashlog exited: " + self.proc.stderr.read())
                continue
            if "http://" in line:
                self.url = "http://" + line.split("http://", 1)[1].split()[0]
                return self
        self.kill()
        raise RuntimeError("hashlog did not print its address in time")

    def client(self, **kw):
        return boto3.client(
            "dynamodb",
            endpoint_url=self.url,
            config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30),
            **kw,
        )

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self):
        """SIGTERM: the server finishes in-flight requests, flushes and exits 0."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            return self.proc.wait(timeout=20)
        return self.proc.returncode if self.proc else None


@pytest.fixture(scope="session")
def server():
    d = tempfile.mkdtemp(prefix="hashlog-client-")
    s = Server(pathlib.Path(d) / "data").start()
    yield s
    s.kill()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture()
def ddb(server):
    return server.client()


@pytest.fixture()
def tmp_server_dir():
    d = tempfile.mkdtemp(prefix="hashlog-client-")
    yield pathlib.Path(d)
    shutil.rmtree(d, ignore_errors=True)


_counter = [0]


@pytest.fixture()
def table(ddb):
    """A fresh table with pk (S) and sk (N)."""
    _counter[0] += 1
    name = f"tbl{_counter[0]}_{int(time.time() * 1000) % 100000}"
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield name
    try:
        ddb.delete_table(TableName=name)
    except Exception:
        pass
