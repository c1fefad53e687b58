#!/usr/bin/env bash
# Inline against offloaded reads in `hashlog serve`, interleaved: for each round, a fresh
# server with `--offload-reads`, then one with the default (inline), each loaded with KEYS
# items of 1 KiB by 16 connections, then OPS reads of KIND (get or query) at 4 and 16
# connections. Usage: bash bench/scripts/inline_reads_ab.sh KEYS OPS KIND [ROUNDS]
# Prints hashlog-bench's table rows (server CPU per op from /proc, last column).
# MODES (default "offload inline") may also name `shared` and `pinned` (--reactors).
set -euo pipefail
cd "$(dirname "$0")/../.."
KEYS="${1:-5000}"; OPS="${2:-40000}"; KIND="${3:-get}"; ROUNDS="${4:-2}"
B="${BENCH:-target/release/hashlog-bench}"
H="${HASHLOG:-target/release/hashlog}"
PORT="${PORT:-8402}"
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
wait_port() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; return 1; }
for round in $(seq 1 "$ROUNDS"); do
  for mode in ${MODES:-offload inline}; do
    case "$mode" in
      offload) extra=(--offload-reads) ;;
      shared | pinned) extra=(--reactors "$mode") ;;
      *) extra=() ;;
    esac
    rm -rf "$WORK/data"
    "$H" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" --log warn --capacity off "${extra[@]}" > "$WORK/server.log" 2>&1 &
    pid=$!
    wait_port "$PORT"
    "$B" http --endpoint "http://127.0.0.1:$PORT" --threads 16 --ops "$KEYS" --keys "$KEYS" --ops-kinds put > /dev/null
    sleep 2
    for t in 4 16; do
      "$B" http --endpoint "http://127.0.0.1:$PORT" --label "$mode k$KEYS r$round" --threads "$t" --ops "$OPS" --keys "$KEYS" --ops-kinds "$KIND" --server-pid "$pid" | grep "^| $mode"
    done
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
done
