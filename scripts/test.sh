#!/usr/bin/env bash
# The whole test suite: Rust unit, property, crash and fault tests, then the boto3/AWS CLI client
# tests against the real `hashlog` binary. Installs what it needs (a Python virtualenv with
# boto3, pytest and the AWS CLI in .venv/) on first use; safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
export PROPTEST_CASES="${PROPTEST_CASES:-24}"

echo "== rust: build (release binary for the client tests)"
cargo build --release -p hashlog-server --bin hashlog

echo "== rust: tests (unit, property, crash, fault)"
cargo test --workspace --lib --bins --tests

echo "== rust: every criterion bench once (smoke; numbers come from cargo bench)"
cargo test -p hashlog-bench --benches -- --test

echo "== python: client tests (boto3, AWS CLI)"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c 'import boto3, pytest' 2>/dev/null || [ ! -x .venv/bin/aws ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check boto3 pytest awscli
fi
export PATH="$PWD/.venv/bin:$PATH"
export HASHLOG_BIN="$PWD/target/release/hashlog"
if ls tests/client/test_*.py >/dev/null 2>&1; then
  .venv/bin/python -m pytest -q tests/client
else
  echo "no client tests found" >&2
  exit 1
fi

# Every fuzz target for a short bounded time (HASHLOG_FUZZ_SECS, default 5 s each; cargo-fuzz
# is installed on first use). HASHLOG_FUZZ=0 skips it.
if [ "${HASHLOG_FUZZ:-1}" != "0" ]; then
  echo "== fuzz: smoke run of every target (HASHLOG_FUZZ=0 skips)"
  bash scripts/fuzz_smoke.sh "${HASHLOG_FUZZ_SECS:-5}"
fi
