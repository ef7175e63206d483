#!/usr/bin/env bash
# Feast's driver_stats example data, served by Larder from its Parquet batch source: apply,
# materialize Feast's Parquet file, read online, push fresh rows to both stores (the offline
# push adds a Parquet part file to the source directory), join point in time for training,
# check, tear down. The added part file is removed at the end, so
# the example starts the same way every time.
#
#   bash examples/feast_parquet/run.sh [BIN_DIR]    # BIN_DIR holds `larder` (default: build/bin)
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
# Part files that pushes added (everything but Feast's file), removed on exit.
cleanup() { find data/driver_stats -name '*.parquet' ! -name part-00000.parquet -delete; }
trap cleanup EXIT
cleanup

step "larder teardown (start from an empty store)"
"$larder" teardown || true

step "larder apply"
"$larder" apply

step "larder materialize: Feast's Parquet file (2021-04-12 .. 2024-09-10) into the online store"
"$larder" materialize 2021-01-01T00:00:00Z 2025-01-01T00:00:00Z

step "larder get: drivers 1001 and 1005"
"$larder" get --features driver_hourly_stats:conv_rate,driver_hourly_stats:avg_daily_trips \
  --entity driver_id=1001 --entity driver_id=1005

step "larder push --to online_and_offline: online now, and a new Parquet part file offline"
"$larder" push driver_stats_push push_rows.csv --to online_and_offline
ls data/driver_stats

step "larder get: 1001 as pushed, and the new driver 1006"
"$larder" get --features driver_hourly_stats:conv_rate,driver_hourly_stats:avg_daily_trips \
  --entity driver_id=1001 --entity driver_id=1006

step "larder get-historical-features: each entity row as of its time (for training)"
"$larder" get-historical-features --entity-df entity_rows.csv \
  --features driver_hourly_stats:conv_rate,driver_hourly_stats:acc_rate

step "larder check (the online store, and every Parquet part file of the source)"
"$larder" check

step "larder teardown"
"$larder" teardown
