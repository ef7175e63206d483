#!/usr/bin/env bash
# Runs the C API test against a private copy of the example repo (its batch source included:
# the test materializes from it and pushes to its store only).
set -euo pipefail
bin="$1"; src="$2"
repo=$(mktemp -d)
seg="/dev/shm/larder-c-api-test-$$"
trap 'rm -rf "$repo"; rm -f "$seg" "$seg.readers" "$seg.lock"' EXIT
cp -r "$src/examples/driver_stats/data" "$repo/"
sed "s|path: /dev/shm/larder-driver_stats|path: $seg|" \
  "$src/examples/driver_stats/feature_store.yaml" > "$repo/feature_store.yaml"
"$bin/c_api_test" "$repo" "$seg"
