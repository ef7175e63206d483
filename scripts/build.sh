#!/usr/bin/env bash
# Configures and builds Larder into build/ (binaries in build/bin/). Warnings are errors.
set -euo pipefail
cd "$(dirname "$0")/.."
build_type="${LARDER_BUILD_TYPE:-RelWithDebInfo}"
cmake -S . -B build -DCMAKE_BUILD_TYPE="$build_type" -DLARDER_WERROR=ON "$@" >/dev/null
cmake --build build -j"$(nproc)"
