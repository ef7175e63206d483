#!/usr/bin/env bash
# Runs every benchmark of docs/benchmarks.md with one command: installs the Debian packages,
# builds, runs the micro-benchmarks and the load harness (Larder against Redis in Feast's
# layout and LMDB, interleaved in rounds), and draws the latency plot.
#
#   bash bench/run.sh            # ~8 minutes on 2 cores
#   bash bench/run.sh --quick    # ~2 minutes: fewer rounds, shorter runs (a smoke test)
#
# Results go to build/bench-results/ (override with LARDER_BENCH_OUT=DIR): micro.json,
# micro.txt, loadtest-single.{json,md}, loadtest-batch.{json,md}; the plot to
# docs/img/latency.svg (with --quick: to the results directory; override with
# LARDER_BENCH_PLOT=FILE).
# LARDER_BENCH_10M=1 adds the 10^7-entity micro-benchmarks (~2 GiB of /dev/shm, a few minutes).
# LARDER_BENCH_HUGE=1 (root only) repeats both load-harness runs with the Larder segment and the
# LMDB file on a tmpfs mounted huge=within_size (2 MiB pages, docs/benchmarks.md), into
# loadtest-{single,batch}-huge.{json,md}; the mount is removed at exit.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${LARDER_BENCH_OUT:-$root/build/bench-results}"
rounds=5 duration=3 reps=3 plot_default="$root/docs/img/latency.svg"
if [ "${1:-}" = "--quick" ]; then rounds=2 duration=1 reps=1 plot_default="$out/latency.svg"; fi
plot="${LARDER_BENCH_PLOT:-$plot_default}"

bash "$root/scripts/install-deps.sh"
cmake -S "$root" -B "$root/build" -DLARDER_WERROR=ON >/dev/null
make -C "$root/build" -j"$(nproc)" larder_microbench larder_loadtest
mkdir -p "$out" "$(dirname "$plot")"
bin="$root/build/bin"

echo "== micro-benchmarks ($reps repetitions, medians) ==" >&2
"$bin/larder_microbench" --benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true \
  --benchmark_out="$out/micro.json" --benchmark_out_format=json | tee "$out/micro.txt"

echo "== load harness: single lookups, 1 and 2 readers, with and without a writer ==" >&2
"$bin/larder_loadtest" --compare redis,lmdb --readers 1,2 --writer \
  --rounds "$rounds" --duration "$duration" -o "$out/loadtest-single.json" \
  | tee "$out/loadtest-single.md"

echo "== load harness: batches of 100 entities ==" >&2
"$bin/larder_loadtest" --compare redis,lmdb --batch 100 \
  --rounds "$rounds" --duration "$duration" -o "$out/loadtest-batch.json" \
  | tee "$out/loadtest-batch.md"

if [ "${LARDER_BENCH_HUGE:-0}" != 0 ]; then
  huge=$(mktemp -d /tmp/larder-huge-XXXXXX)
  mount -t tmpfs -o huge=within_size,size=8G,mode=0700 larder-huge "$huge"
  trap 'umount "$huge" 2>/dev/null; rmdir "$huge" 2>/dev/null' EXIT
  echo "== load harness on huge pages ($huge: tmpfs huge=within_size) ==" >&2
  "$bin/larder_loadtest" --compare redis,lmdb --readers 1,2 --writer --dir "$huge" \
    --rounds "$rounds" --duration "$duration" -o "$out/loadtest-single-huge.json" \
    | tee "$out/loadtest-single-huge.md"
  "$bin/larder_loadtest" --compare redis,lmdb --batch 100 --dir "$huge" \
    --rounds "$rounds" --duration "$duration" -o "$out/loadtest-batch-huge.json" \
    | tee "$out/loadtest-batch-huge.md"
fi

python3 "$root/bench/plot_latency.py" "$out/loadtest-single.json" "$out/loadtest-batch.json" \
  --names "single lookups,batches of 100" -o "$plot"
echo "results in $out; plot in $plot" >&2
