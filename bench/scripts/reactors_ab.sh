#!/usr/bin/env bash
# One row set of the reactor A/B (docs/results/2026-12-05-server-reactors.md): a fresh
# `hashlog serve` with SERVER_ARGS, 10,000 puts at 4 connections, then GETS gets at each
# connection count. Usage:
#   bash bench/scripts/reactors_ab.sh "SERVER_ARGS" LABEL "CLIENT_ARGS" CONNS...
# e.g. bash bench/scripts/reactors_ab.sh "--reactors shared" shared "--client-threads 1" 4 16
# BENCH and HASHLOG override the binaries; PORT (default 8631) the port; GETS (default 60000).
set -euo pipefail
cd "$(dirname "$0")/../.."
SERVER_ARGS=$1; LABEL=$2; CLIENT_ARGS=$3; shift 3
B="${BENCH:-target/release/hashlog-bench}"
H="${HASHLOG:-target/release/hashlog}"
PORT="${PORT:-8631}"
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
wait_port() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; return 1; }
# shellcheck disable=SC2086 # the argument strings are lists of options
"$H" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" --log warn --capacity off $SERVER_ARGS > "$WORK/server.log" 2>&1 &
pid=$!
wait_port "$PORT"
"$B" http --endpoint "http://127.0.0.1:$PORT" --label "$LABEL" --threads 4 --ops 10000 --keys 5000 --ops-kinds put --server-pid "$pid" | tail -1
for t in "$@"; do
  # shellcheck disable=SC2086
  "$B" http --endpoint "http://127.0.0.1:$PORT" --label "$LABEL" --threads "$t" $CLIENT_ARGS --ops "${GETS:-60000}" --keys 5000 --ops-kinds get --server-pid "$pid" | tail -1
done
kill "$pid"; wait "$pid" 2>/dev/null || true
