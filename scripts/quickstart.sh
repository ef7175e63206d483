#!/usr/bin/env bash
# Installs dependencies, builds, and runs Larder's main job on the bundled example:
# apply the driver_stats feature repo, push fresh rows, read them back, show lookup latency.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
bash examples/driver_stats/run.sh "$PWD/build/bin"
