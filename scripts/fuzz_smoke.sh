#!/usr/bin/env bash
# Fuzz smoke run: every target `cargo fuzz list` names, for a bounded time each, on the stable
# toolchain without a sanitizer (`-s none`). Fails if any target crashes, panics, times out on
# one input or runs out of memory; prints executions per target.
#
#   scripts/fuzz_smoke.sh [SECONDS_PER_TARGET]      (default 15)
#
# Seeds come from fuzz/corpus/TARGET (read only); inputs the run discovers go to a temporary
# directory that is deleted afterwards, so the repository's corpus only holds hand-written seeds
# and regression inputs. A crashing input is saved by libFuzzer under fuzz/artifacts/TARGET/;
# replay it with `cargo fuzz run -s none TARGET fuzz/artifacts/TARGET/<file>`.
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-15}"
case "$secs" in
  '' | *[!0-9]*) echo "usage: $0 [SECONDS_PER_TARGET]" >&2; exit 2 ;;
esac

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

mapfile -t targets < <(cargo fuzz list)
if [ "${#targets[@]}" -eq 0 ]; then
  echo "no fuzz targets found" >&2
  exit 1
fi

echo "== building ${#targets[@]} fuzz targets"
cargo fuzz build -s none

failed=()
summary=()
for t in "${targets[@]}"; do
  mkdir -p "$work/$t"
  seeds=()
  if [ -d "fuzz/corpus/$t" ]; then
    seeds=("fuzz/corpus/$t")
  fi
  echo "== $t: ${secs}s"
  log="$work/$t.log"
  # -timeout: one input running longer than 20 s is a finding, not a stuck CI job.
  if cargo fuzz run -s none "$t" "$work/$t" "${seeds[@]}" -- \
      -max_total_time="$secs" -timeout=20 -print_final_stats=1 >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$t")
    tail -n 40 "$log" >&2
  fi
  execs="$(sed -n 's/^Done \([0-9]*\) runs in .*/\1/p' "$log" | tail -n 1)"
  if [ -z "$execs" ]; then
    execs="$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)"
  fi
  line="$(printf '%-14s %-6s %12s execs in %ss' "$t" "$status" "${execs:-?}" "$secs")"
  summary+=("$line")
  echo "$line"
done

echo "== fuzz smoke summary"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz smoke FAILED: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
