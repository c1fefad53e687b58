#!/usr/bin/env bash
# hashlog against the DynamoDB-compatible servers installable from package registries, same
# client (hashlog-bench http), same run. Usage: bash bench/scripts/http_peers.sh [THREADS] [OPS]
# THREADS may be a comma-separated list (each server is measured at every connection count).
# BENCH and HASHLOG override the client and server binaries (e.g. to compare builds).
# ONLY=REGEX measures only the servers whose label matches (e.g. ONLY='hashlog|dynalite').
# RATE=N runs open loop: N requests per second in all on a fixed schedule (hashlog-bench http
# --rate), for tails at the same load on every server.
# CLIENT_THREADS=K drives the connections from K event-loop threads (hashlog-bench http
# --client-threads) instead of one blocking thread per connection.
# Then CPU time per operation of the client and of the server process (user + system), and
# the system part of each (the kernel on its behalf: on loopback, mostly the TCP stack).
# Peers are looked up in $PEERS (default /tmp/peers), installed with:
#   cargo install dynoxide-rs --root $PEERS/dx
#   (cd $PEERS && npm install dynalite)
#   python3 -m venv $PEERS/mv && $PEERS/mv/bin/pip install 'moto[server]'
set -euo pipefail
cd "$(dirname "$0")/../.."
THREADS="${1:-16}"
ONLY="${ONLY:-}"
OPS="${2:-10000}"
PEERS="${PEERS:-/tmp/peers}"
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -q -p hashlog-server -p hashlog-bench
BENCH="${BENCH:-target/release/hashlog-bench}"
HASHLOG="${HASHLOG:-target/release/hashlog}"
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

wait_port() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; return 1; }

run() { # label port command...
  local label=$1 port=$2; shift 2
  if [ -n "$ONLY" ] && ! [[ "$label" =~ $ONLY ]]; then return 0; fi
  "$@" > "$WORK/$port.log" 2>&1 &
  local pid=$!
  if wait_port "$port"; then
    sleep 0.5
    for t in ${THREADS//,/ }; do
      "$BENCH" http --endpoint "http://127.0.0.1:$port" --label "$label" --threads "$t" ${CLIENT_THREADS:+--client-threads "$CLIENT_THREADS"} --ops "$OPS" --keys 5000 --server-pid "$pid" ${RATE:+--rate "$RATE"} || echo "| $label | failed | $t | | | | | | | | | |"
    done
  else
    echo "| $label | did not start | | | | | | | | | | |"
  fi
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

echo "# ${RATE:+open loop at $RATE requests/s; }$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $THREADS connections; $OPS ops per row; 1 KiB items; client: $([ -n "${CLIENT_THREADS:-}" ] && echo "$CLIENT_THREADS event-loop thread(s)" || echo "one blocking thread per connection")"
echo "| server | op | connections | ops/s | p50 µs | p99 µs | p99.9 µs | errors | client CPU µs/op | server CPU µs/op | client sys µs/op | server sys µs/op |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
# --capacity off: the peers enforce no capacity (as DynamoDB Local); a new on-demand table
# would otherwise throttle past its 4,000 WCU starting peak, as DynamoDB does.
run "hashlog (sync: fdatasync per ack)" 8301 "$HASHLOG" serve --listen 127.0.0.1:8301 --data-dir "$WORK/h1" --log warn --capacity off
run "hashlog (buffered 10 ms)" 8302 "$HASHLOG" serve --listen 127.0.0.1:8302 --data-dir "$WORK/h2" --log warn --durability buffered --capacity off
if [ -x "$PEERS/dx/bin/dynoxide" ]; then
  run "Dynoxide (SQLite file)" 8303 "$PEERS/dx/bin/dynoxide" --port 8303 --db-path "$WORK/dx.db"
fi
if [ -x "$PEERS/node_modules/.bin/dynalite" ]; then
  run "dynalite (LevelDB, no sync)" 8304 "$PEERS/node_modules/.bin/dynalite" --port 8304 --path "$WORK/dl"
fi
if [ -x "$PEERS/mv/bin/moto_server" ]; then
  run "moto (in memory)" 8305 "$PEERS/mv/bin/moto_server" -p 8305
fi
