#!/usr/bin/env bash
# Runs the whole suite (ctest, in build/) N times in a row while `stress` keeps every core busy:
# the check that no test depends on the machine being idle (issue 23; docs/reliability.md,
# "Tests under load"). Stops at the first failing run and keeps its log.
#
#   bash scripts/stress.sh [runs, default 20] [extra ctest args]
#
# Build first (scripts/build.sh). Not part of CI: 20 runs take about an hour on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-20}"
shift || true
command -v stress >/dev/null || { echo "stress: not installed (scripts/install-deps.sh)" >&2; exit 2; }
[ -d build ] || { echo "no build/: run scripts/build.sh first" >&2; exit 2; }

cores="$(nproc)"
stress -c "$cores" >/dev/null 2>&1 &
stress_pid=$!
trap 'kill "$stress_pid" 2>/dev/null || true; wait "$stress_pid" 2>/dev/null || true' EXIT

log_dir="$(mktemp -d /tmp/larder-stress.XXXXXX)"
for ((i = 1; i <= runs; ++i)); do
  start=$SECONDS
  if ctest --test-dir build -j"$cores" --timeout 1800 --output-on-failure "$@" >"$log_dir/run-$i.log" 2>&1; then
    echo "stress: run $i of $runs passed in $((SECONDS - start)) s (stress -c $cores)"
  else
    echo "stress: run $i of $runs FAILED after $((SECONDS - start)) s; log: $log_dir/run-$i.log" >&2
    grep -E '\*\*\*Failed|Timeout|Not Run' "$log_dir/run-$i.log" >&2 || true
    exit 1
  fi
done
echo "stress: $runs runs in a row passed under stress -c $cores; logs in $log_dir"
