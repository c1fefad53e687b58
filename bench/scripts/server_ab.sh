#!/usr/bin/env bash
# One row set of a server A/B: a fresh `hashlog serve` (binary HASHLOG, options SERVER_ARGS),
# then `hashlog-bench http` with the event-loop client at each connection count, running
# KINDS (default put,get) with OPS operations each (default 40000). Usage:
#   bash bench/scripts/server_ab.sh "SERVER_ARGS" LABEL CONNS...
# e.g. HASHLOG=/tmp/hl-old bash bench/scripts/server_ab.sh "--offload-writes" old 16 32
# BENCH overrides the client; PORT (default 8632) the port.
set -euo pipefail
cd "$(dirname "$0")/../.."
SERVER_ARGS=$1; LABEL=$2; shift 2
B="${BENCH:-target/release/hashlog-bench}"
H="${HASHLOG:-target/release/hashlog}"
PORT="${PORT:-8632}"
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
wait_port() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; return 1; }
# shellcheck disable=SC2086 # the argument string is a list of options
"$H" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" --log warn --capacity off $SERVER_ARGS > "$WORK/server.log" 2>&1 &
pid=$!
wait_port "$PORT"
for t in "$@"; do
  "$B" http --endpoint "http://127.0.0.1:$PORT" --label "$LABEL" --threads "$t" --client-threads 1 \
    --ops "${OPS:-40000}" --keys 5000 --ops-kinds "${KINDS:-put,get}" --server-pid "$pid"
done
kill "$pid"; wait "$pid" 2>/dev/null || true
