#!/usr/bin/env bash
# Runs examples/feast_parquet/run.sh on a private copy of the example (its own segment path), and
# checks what it printed: Feast's Parquet file materialized, a pushed row online and joined
# point in time from the Parquet part file the offline push added.
set -euo pipefail
bin="$1"; src="$2"
work=$(mktemp -d)
seg="/dev/shm/larder-example-feast-parquet-$$"
trap 'rm -rf "$work"; rm -f "$seg" "$seg.readers" "$seg.lock"' EXIT
cp -r "$src/examples/feast_parquet" "$work/"
sed -i "s|path: /dev/shm/larder-feast_parquet|path: $seg|" "$work/feast_parquet/feature_store.yaml"
grep -q "path: $seg" "$work/feast_parquet/feature_store.yaml"
bash "$work/feast_parquet/run.sh" "$bin" > "$work/out.txt" 2>&1 || { cat "$work/out.txt"; exit 1; }
expect() {
  grep -qF -- "$1" "$work/out.txt" || { cat "$work/out.txt"; echo "missing: $1" >&2; exit 1; }
}
expect "1808 rows in range, 5 written"
expect '"values":[1001,1006],"statuses":["PRESENT","PRESENT"]'
expect '"values":[0.93,0.42]'
expect "1006,2026-12-02T00:00:00Z,0.42,0.77"
expect "1001,2024-09-01T00:00:00Z,0.4292346,0.11387802"
# The part file the push added was removed on exit: the example starts the same every time.
[[ "$(ls "$work/feast_parquet/data/driver_stats")" == "part-00000.parquet" ]]
echo "ok"
