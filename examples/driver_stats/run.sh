#!/usr/bin/env bash
# The driver_stats quickstart: create the online store, push fresh rows, read them back (as the
# HTTP feature server's JSON) and show the lookup latency, then inspect and check the store.
#
#   bash examples/driver_stats/run.sh [BIN_DIR]    # BIN_DIR holds `larder` (default: build/bin)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="$(cd "${1:-$root/build/bin}" && pwd)"
larder="$bin/larder"
if [[ ! -x "$larder" ]]; then
  echo "run.sh: no larder binary at $larder (build first: scripts/build.sh)" >&2
  exit 1
fi
cd "$here"

step() { printf '\n== %s\n' "$*"; }

step "larder teardown (start from an empty store)"
"$larder" teardown || true

step "larder apply (create the store from feature_store.yaml)"
"$larder" apply

step "larder push driver_stats_push push_rows.csv (one push fans out to both views)"
"$larder" push driver_stats_push push_rows.csv

step "larder get: three drivers, 9999 does not exist (NOT_FOUND)"
"$larder" get \
  --features driver_hourly_stats:conv_rate,driver_hourly_stats:acc_rate,driver_hourly_stats:top_cities \
  --entity driver_id=1001 --entity driver_id=1002 --entity driver_id=9999

# The service reads conv_rate and avg_daily_trips from both views: full feature names
# (view__feature) tell them apart, as in Feast.
step "larder get --feature-service driver_activity_v1, timed over 100000 lookups"
"$larder" get --feature-service driver_activity_v1 --full-feature-names --entity driver_id=1001 \
  --repeat 100000

step "larder inspect"
"$larder" inspect

step "larder check"
"$larder" check
