"""Starts the real `hashlog` binary on a free loopback port for the client tests.

HASHLOG_BIN names the binary (default: target/release/hashlog under the repository root); this
file builds nothing. Each server gets its own temporary data directory, its stderr goes to a
log file there (shown when it fails to start), and every wait is bounded. Every server started
here is killed at the end.
"""
import os
import pathlib
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid

import boto3
import pytest
from botocore.config import Config

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("HASHLOG_BIN", str(ROOT / "target" / "release" / "hashlog"))

# Dummy credentials and a region, and no cloud metadata lookups (botocore would try).
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testkey")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testsecret")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0


class Server:
    """One `hashlog serve` process."""

    def __init__(self, data_dir, extra_args=(), listen="127.0.0.1:0"):
        self.data_dir = pathlib.Path(data_dir)
        self.extra_args = list(extra_args)
        self.listen = listen
        self.proc = None
        self.url = None
        self.log_path = None
        self._log = None

    def start(self, timeout=START_TIMEOUT_S):
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir.parent / f"hashlog-{uuid.uuid4().hex[:8]}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--listen", self.listen, "--data-dir", str(self.data_dir), "--log", "warn",
             *self.extra_args],
            stdout=subprocess.PIPE, stderr=self._log, text=True,
        )
        # Read stdout on a thread so a silent server cannot block us past the deadline.
        lines = queue.Queue()

        def pump(stream):
            for line in stream:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, args=(self.proc.stdout,), daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                break
            if "http://" in line:
                self.url = "http://" + line.split("http://", 1)[1].split()[0]
                return self
        self.kill()
        raise RuntimeError(f"hashlog did not print its address within {timeout}s; log:\n{self.log()}")

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    @property
    def host(self):
        return self.url.split("://", 1)[1]

    def client(self, patient=False, **kw):
        """A boto3 client of this server. By default it does not retry, so a test sees every
        error; `patient=True` retries throttles as the SDKs' standard mode does."""
        retries = {"mode": "standard", "max_attempts": 10} if patient else {"max_attempts": 1}
        return boto3.client(
            "dynamodb",
            endpoint_url=self.url,
            region_name="us-east-1",
            config=Config(retries=retries, connect_timeout=5, read_timeout=30),
            **kw,
        )

    def kill(self):
        """SIGKILL: no flush, no goodbye."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        self._close_log()

    def stop(self):
        """SIGTERM: the server finishes in-flight requests, flushes and exits 0."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=STOP_TIMEOUT_S)
            finally:
                self.kill()
        self._close_log()
        return self.proc.returncode if self.proc else None

    def _close_log(self):
        if self._log:
            self._log.close()
            self._log = None


@pytest.fixture()
def tmp_dir():
    d = tempfile.mkdtemp(prefix="hashlog-client-")
    yield pathlib.Path(d)
    shutil.rmtree(d, ignore_errors=True)


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


def unique(prefix):
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture()
def table(ddb):
    """A fresh table with pk (S) and sk (N); deleted afterwards."""
    name = unique("tbl")
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield name
    try:
        ddb.delete_table(TableName=name)
    except Exception:
        pass


@pytest.fixture()
def hash_table(ddb):
    """A fresh table with only a hash key pk (S)."""
    name = unique("hash")
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield name
    try:
        ddb.delete_table(TableName=name)
    except Exception:
        pass
