#!/usr/bin/env bash
# Runs the C API smoke program against a private copy of the example repo.
set -euo pipefail
bin="$1"; src="$2"
repo=$(mktemp -d)
seg="/dev/shm/larder-c-api-smoke-$$"
trap 'rm -rf "$repo"; rm -f "$seg" "$seg.readers" "$seg.lock"' EXIT
sed "s|path: /dev/shm/larder-driver_stats|path: $seg|" \
  "$src/examples/driver_stats/feature_store.yaml" > "$repo/feature_store.yaml"
"$bin/c_api_smoke" "$repo" "$seg"
