#!/usr/bin/env bash
# Durable PutItem on a fresh data directory, two server binaries interleaved: for each round
# and each binary, a new server on an empty directory (sync durability, capacity off), then
# OPS puts of 1 KiB items at each connection count. A fresh database's first WAL segments
# are where spare-file preparation (WalOptions::prepare_segments) matters.
# Usage: bash bench/scripts/fresh_puts_ab.sh A_BIN B_BIN [OPS] [ROUNDS] [CONNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
A="$1"; BB="$2"; OPS="${3:-40000}"; ROUNDS="${4:-3}"; CONNS="${5:-16,64}"
B="${BENCH:-target/release/hashlog-bench}"
PORT="${PORT:-8403}"
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
wait_port() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; return 1; }
for round in $(seq 1 "$ROUNDS"); do
  for t in ${CONNS//,/ }; do
    for which in A B; do
      bin="$A"; [ "$which" = B ] && bin="$BB"
      rm -rf "$WORK/data"
      "$bin" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" --log warn --capacity off > "$WORK/server.log" 2>&1 &
      pid=$!
      wait_port "$PORT"
      "$B" http --endpoint "http://127.0.0.1:$PORT" --label "$which r$round" --threads "$t" --ops "$OPS" --keys "$OPS" --ops-kinds put --server-pid "$pid" | grep "^| $which"
      kill "$pid"; wait "$pid" 2>/dev/null || true
    done
  done
done
