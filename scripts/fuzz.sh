#!/usr/bin/env bash
# Builds the libFuzzer targets (clang + ASan + UBSan, in build-fuzz/) and runs each one for
# SECONDS (default 60), one after another.
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET ...]     # TARGET: segment, csv, ... (default: all)
#
# Each target starts from its seed corpus (fuzz/corpus/<target>/, read only) plus the inputs
# earlier runs found (build-fuzz/corpus/<target>/). A crash leaves its input in
# build-fuzz/artifacts/<target>/ and makes the script exit 1: fix the bug, copy the input to
# fuzz/regressions/<target>/ (tests/fuzz_regression_test.cc replays it in every build).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
shift || true
all=(segment segment_mutate segment_writer segment_live repo_config push_json online_request csv
  timestamp row_verify parquet feast_registry snapshot)
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then targets=("${all[@]}"); fi

if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ is not installed (bash scripts/install-deps.sh installs it)" >&2
  exit 1
fi
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLARDER_FUZZ=ON \
  -DLARDER_BUILD_TESTS=OFF -DLARDER_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target larder_fuzz_all

export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
failed=()
for t in "${targets[@]}"; do
  work="build-fuzz/corpus/$t"
  art="build-fuzz/artifacts/$t"
  mkdir -p "$work" "$art"
  max_len=8192
  case "$t" in
    segment) max_len=131072 ;;
    segment_mutate | segment_writer | segment_live) max_len=2000 ;;
  esac
  echo "== fuzz_$t for ${secs}s" >&2
  log="build-fuzz/fuzz_$t.log"
  if ./build-fuzz/bin/"fuzz_$t" -max_total_time="$secs" -timeout=20 -rss_limit_mb=4096 \
      -max_len="$max_len" -print_final_stats=1 -artifact_prefix="$art/" \
      "$work" "fuzz/corpus/$t" >"$log" 2>&1; then
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$log" | tr '\n' ' ' >&2
    echo "(corpus $(ls "$work" | wc -l) + $(ls "fuzz/corpus/$t" | wc -l) seeds)" >&2
  else
    echo "fuzz_$t FAILED; the end of its log ($log):" >&2
    tail -40 "$log" >&2
    failed+=("$t")
  fi
  # The targets' scratch repos and segments (left behind when libFuzzer exits without
  # running static destructors).
  rm -rf /dev/shm/larder-fuzz-* /tmp/larder-fuzz-* 2>/dev/null || true
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: crashes in: ${failed[*]} (inputs in build-fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets ran ${secs}s each without a crash" >&2
