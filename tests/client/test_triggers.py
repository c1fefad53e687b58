"""Stream triggers (`hashlog serve --trigger`): a webhook that fails then recovers receives every
record in order exactly as the stream has them; a command that always fails sends its batches to
the dead-letter file; checkpoints survive a restart."""
import http.server
import json
import threading
import time

from conftest import Server


class Hook(http.server.BaseHTTPRequestHandler):
    fail_first = 2
    calls = 0
    batches = []
    lock = threading.Lock()

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with Hook.lock:
            Hook.calls += 1
            fail = Hook.calls <= Hook.fail_first
            if not fail:
                Hook.batches.append(json.loads(body))
        self.send_response(500 if fail else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def create(ddb, name):
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )


def wait_for(pred, timeout=20):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_webhook_recovers_and_command_dead_letters(tmp_dir):
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{hook.server_address[1]}/hook"
    args = ["--trigger", f"hooked={url}", "--trigger", "failing=exec:exit 1",
            "--trigger-max-attempts", "3", "--trigger-batch-size", "3"]
    s = Server(tmp_dir / "data", extra_args=args).start()
    try:
        ddb = s.client()
        create(ddb, "hooked")
        create(ddb, "failing")
        for i in range(7):
            ddb.put_item(TableName="hooked", Item={"pk": {"S": f"k{i}"}})
        ddb.put_item(TableName="failing", Item={"pk": {"S": "x"}})

        def delivered():
            with Hook.lock:
                return [r["dynamodb"]["Keys"]["pk"]["S"] for b in Hook.batches for r in b["Records"]]

        try:
            wait_for(lambda: len(delivered()) >= 7)
        except AssertionError:
            raise AssertionError(f"delivered {delivered()} calls {Hook.calls} log:\n{s.log()}")
        assert delivered() == [f"k{i}" for i in range(7)]
        assert all(len(b["Records"]) <= 3 for b in Hook.batches)
        assert ":table/hooked/stream/" in Hook.batches[0]["Records"][0]["eventSourceARN"]
        dlq = tmp_dir / "data" / "triggers" / "failing.dlq.jsonl"
        wait_for(dlq.exists)
        wait_for(lambda: dlq.read_text().strip() != "")
        line = json.loads(dlq.read_text().splitlines()[0])
        assert line["batch"]["Records"][0]["dynamodb"]["Keys"]["pk"]["S"] == "x"
        assert "exited" in line["error"]
        # Restart: the checkpoint means nothing is delivered twice; new writes still flow.
        assert s.stop() == 0
        s = Server(tmp_dir / "data", extra_args=args).start()
        s.client().put_item(TableName="hooked", Item={"pk": {"S": "after"}})
        wait_for(lambda: len(delivered()) >= 8)
        time.sleep(0.5)
        assert delivered() == [f"k{i}" for i in range(7)] + ["after"]
    finally:
        s.kill()
        hook.shutdown()
