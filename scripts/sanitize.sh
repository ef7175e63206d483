#!/usr/bin/env bash
# Builds the test suite with sanitizers and runs it (docs/reliability.md, "Sanitizers").
#
#   bash scripts/sanitize.sh address   # ASan + UBSan (GCC) in build-asan/: every test
#   bash scripts/sanitize.sh thread    # TSan (GCC) in build-tsan/: every test
#
# Extra arguments go to ctest (e.g. -R CrashCampaign). Only what ctest runs is built (the tests,
# the two C API tests and the `larder` command the CLI tests call): no benchmarks, no binding.
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-}"
shift || true
case "$kind" in
  address) dir=build-asan ;;
  thread) dir=build-tsan ;;
  *) echo "usage: scripts/sanitize.sh address|thread [ctest args]" >&2; exit 2 ;;
esac

cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLARDER_SANITIZE="$kind" \
  -DLARDER_WERROR=ON -DLARDER_BUILD_BENCH=OFF -DLARDER_BUILD_PYTHON=OFF >/dev/null
cmake --build "$dir" -j"$(nproc)" --target larder_tests c_api_smoke c_api_test larder

# handle_segv=0: tests check that a store through a reader's read-only mapping dies with
# SIGSEGV (StoreTest.ReaderMappingIsReadOnly); the sanitizers' own SEGV handler would turn that
# into an abort. Any other segfault still fails its test, without the sanitizer's stack.
if [ "$kind" = address ]; then
  # Leaks are checked too; abort (not just report) on the first error of either sanitizer.
  export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1:handle_segv=0}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
else
  export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:handle_segv=0}"
fi
# Sanitized binaries are several times slower: run one test at a time per core, with room.
ctest --test-dir "$dir" --output-on-failure -j"$(nproc)" --timeout 1800 "$@"
