#!/usr/bin/env bash
# Installs every build, test and benchmark dependency of Larder from Debian's packages.
# Idempotent; run as root (or through sudo). Nothing is downloaded from anywhere else.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake pkg-config git
  # engine
  libboost-dev libxxhash-dev libflatbuffers-dev flatbuffers-compiler libyaml-cpp-dev
  libsimdjson-dev libcli11-dev
  # Feast registry import (engine/feast/): protobuf, read through our own .proto subset
  libprotobuf-dev protobuf-compiler
  # Parquet batch sources (engine/parquet/): page codecs
  libsnappy-dev zlib1g-dev libzstd-dev liblz4-dev libbrotli-dev
  # tests and micro-benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev curl procps
  # scripts/stress.sh: the suite under full CPU load
  stress
  # HTTP feature server (larder serve): curl drives tests/server_test.cc; wrk, redis-server
  # and redis-benchmark (redis-tools) run bench/http/run_wrk.sh
  wrk redis-tools redis-server
  # fuzzing (scripts/fuzz.sh: clang with libFuzzer, ASan and UBSan runtimes)
  clang libclang-rt-14-dev
  # load harness (bench/loadtest: Redis and LMDB comparisons) and its latency plot
  libhiredis-dev liblmdb-dev redis-server gnuplot-nox
  # Python binding (python/): pybind11 extension, its tests and the examples
  pybind11-dev python3-dev python3-pytest python3-numpy python3-pandas
)

if [ "${LARDER_EXTRA_PACKAGES:-}" != "" ]; then
  # shellcheck disable=SC2206
  packages+=(${LARDER_EXTRA_PACKAGES})
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "install-deps: all packages present" >&2
fi
