#!/usr/bin/env bash
# Measures the HTTP feature server (`larder serve`) with wrk against POST /get-online-features,
# 1 entity and 100 entities per request, and redis-benchmark GET (and MGET of 100 keys) at the
# same concurrency on the same machine, interleaved, ROUNDS times; prints the medians as a
# markdown table (the raw wrk and redis-benchmark output goes to stderr).
#
#   bash bench/http/run_wrk.sh              # 100k entities, 10 s per run, 1 and 16 conns, 3 rounds
#   ENTITIES=1000000 DURATION=30 CONNS="1 4 16" bash bench/http/run_wrk.sh
#   SERVERS="--threads 2;--threads 1 --busy-poll 50" bash bench/http/run_wrk.sh   # (the default)
#   NICE=-10 bash bench/http/run_wrk.sh             # on a shared machine: servers and clients
#                                                   # ahead of other work (root)
#   PIN=1 SERVERS="--threads 1;--threads 1 --busy-poll 50" bash bench/http/run_wrk.sh
#       # servers (larder serve and redis-server) on the last core, clients (wrk and
#       # redis-benchmark) on the others: less scheduler noise on a small machine
#
# SERVERS: `larder serve` configurations separated by ';', each started once on its own port
# (all attached to the same store) and measured in turn; the table labels rows with them.
# The store: a generated repo, one feature view of 10 Float32 features and 1 String (all 11
# requested), ENTITIES entity rows pushed through `larder push`. Every request asks for random
# entities. The Redis values are as long as the 1-entity response body, the keys as many as the
# entities. Everything listens on 127.0.0.1 only and stops when the script exits.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

ENTITIES=${ENTITIES:-100000}
DURATION=${DURATION:-10}
CONNS=${CONNS:-"1 16"}
SERVERS=${SERVERS:-"--threads $(nproc);--threads 1 --busy-poll 50"}
WRK_THREADS=${WRK_THREADS:-1}
ROUNDS=${ROUNDS:-3}
NICE=${NICE:-0}
PIN=${PIN:-0}
run=(nice -n "$NICE")
server_run=("${run[@]}")
client_run=("${run[@]}")
if [ "$PIN" != 0 ]; then
  last_cpu=$(($(nproc) - 1))
  [ "$last_cpu" -ge 1 ] || { echo "PIN=1 needs at least 2 cores" >&2; exit 1; }
  server_run+=(taskset -c "$last_cpu")
  client_run+=(taskset -c "0-$((last_cpu - 1))")
fi
larder="$root/build/bin/larder"

if [ "${SKIP_DEPS:-}" != "1" ]; then bash scripts/install-deps.sh; fi
if [ ! -x "$larder" ]; then bash scripts/build.sh; fi

work=$(mktemp -d /tmp/larder-httpbench-XXXXXX)
segment="/dev/shm/larder-httpbench-$$"
server_pids=()
redis_pid=""
cleanup() {
  for pid in "${server_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  if [ -n "$redis_pid" ]; then kill -TERM "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
  rm -f "$segment" "$segment.readers" "$segment.lock"
  rm -rf "$work"
}
trap cleanup EXIT

# A free loopback port (bash's /dev/tcp: a refused connection means nobody listens).
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "no free port found" >&2
  exit 1
}

# "22.00us" | "1.20ms" | "1.00s" -> microseconds.
to_us() {
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else if (v ~ /s$/) print n * 1e6;
    else print n }'
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== building a store of $ENTITIES entities" >&2
mkdir -p "$work/repo/data"
cat > "$work/repo/feature_store.yaml" <<EOF
project: httpbench
online_store:
  path: $segment
  initial_capacity: $ENTITIES
  memory_limit: 2GiB
entities:
  - {name: entity, join_keys: [entity_id], value_type: Int64}
sources:
  - {name: bench_file, type: file, path: data/bench.csv, timestamp_field: event_timestamp}
  - {name: bench_push, type: push, batch_source: bench_file}
feature_views:
  - name: bench
    entities: [entity]
    source: bench_push
    schema:
      - {name: f0, dtype: Float32}
      - {name: f1, dtype: Float32}
      - {name: f2, dtype: Float32}
      - {name: f3, dtype: Float32}
      - {name: f4, dtype: Float32}
      - {name: f5, dtype: Float32}
      - {name: f6, dtype: Float32}
      - {name: f7, dtype: Float32}
      - {name: f8, dtype: Float32}
      - {name: f9, dtype: Float32}
      - {name: s, dtype: String}
EOF
header="entity_id,event_timestamp,f0,f1,f2,f3,f4,f5,f6,f7,f8,f9,s"
echo "$header" > "$work/repo/data/bench.csv"
awk -v n="$ENTITIES" -v h="$header" 'BEGIN {
  print h
  srand(42)
  for (i = 1; i <= n; i++) {
    line = i ",2026-11-02T09:00:00Z"
    for (f = 0; f < 10; f++) line = line "," sprintf("%.4f", rand())
    print line ",city_" (i % 1000)
  }
}' > "$work/rows.csv"
"$larder" apply --repo "$work/repo" >&2
"$larder" push bench_push "$work/rows.csv" --repo "$work/repo" >&2

# One server per configuration, each on a port of its own.
IFS=';' read -r -a server_args <<< "$SERVERS"
urls=()
for i in "${!server_args[@]}"; do
  # shellcheck disable=SC2086
  "${server_run[@]}" "$larder" serve --repo "$work/repo" --port 0 ${server_args[$i]} 2> "$work/serve$i.err" &
  server_pids+=($!)
  port=""
  for _ in $(seq 1 500); do
    port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$work/serve$i.err" | grep -o '[0-9]*$' || true)
    [ -n "$port" ] && break
    sleep 0.02
  done
  [ -n "$port" ] || { cat "$work/serve$i.err" >&2; exit 1; }
  cat "$work/serve$i.err" >&2
  urls+=("http://127.0.0.1:$port/get-online-features")
done
url=${urls[0]}

features='"bench:f0","bench:f1","bench:f2","bench:f3","bench:f4","bench:f5","bench:f6","bench:f7","bench:f8","bench:f9","bench:s"'
one_body="{\"features\":[$features],\"entities\":{\"entity_id\":[4242]}}"
response_bytes=$(curl -s -X POST "$url" -d "$one_body" | wc -c)
echo "== 1-entity response: $response_bytes bytes" >&2

# Redis, started now so that its runs interleave with the server's (the same conditions on a
# machine shared with other work).
echo "== starting redis-server" >&2
rport=$(free_port)
"${server_run[@]}" redis-server --bind 127.0.0.1 --port "$rport" --save "" --appendonly no --daemonize no \
  --logfile "$work/redis.log" &
redis_pid=$!
for _ in $(seq 1 200); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.02; done
# Every key redis-benchmark's -r draws (key:000000000000 .. ENTITIES-1), value as long as the
# 1-entity response.
awk -v n="$ENTITIES" -v size="$response_bytes" 'BEGIN {
  v = sprintf("%*s", size, ""); gsub(/ /, "x", v)
  for (i = 0; i < n; i++) {
    k = sprintf("key:%012d", i)
    printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, size, v
  }
}' | redis-cli -p "$rport" --pipe >&2
mget_args=()
for _ in $(seq 1 100); do mget_args+=("key:__rand_int__"); done

results=()   # "label|conns|rps|p50|p99", one per run
last_rps=0
run_wrk() {  # per_request conns server_index
  local out rps p50 p99 t=$WRK_THREADS
  if [ "$2" -lt "$t" ]; then t=$2; fi
  out=$("${client_run[@]}" wrk -t"$t" -c"$2" -d"${DURATION}s" --latency \
        -s "$root/bench/http/get_online_features.lua" "${urls[$3]}" -- "$1" "$ENTITIES" "$features" entity_id)
  echo "$out" >&2
  if echo "$out" | grep -q "Non-2xx"; then
    echo "wrk saw error responses (above); stopping" >&2
    exit 1
  fi
  rps=$(echo "$out" | awk '/^Requests\/sec/ {printf "%.0f", $2}')
  p50=$(to_us "$(echo "$out" | awk '$1 == "50%" {print $2}')")
  p99=$(to_us "$(echo "$out" | awk '$1 == "99%" {print $2}')")
  last_rps=$rps
  results+=("larder serve ${server_args[$3]}: $1 entit$([ "$1" = 1 ] && echo y || echo ies)|$2|$rps|$p50|$p99")
}
run_redis() {  # label conns requests args...
  local label=$1 c=$2 n=$3 line rps p50 p99
  shift 3
  line=$("${client_run[@]}" redis-benchmark -p "$rport" -c "$c" -n "$n" -r "$ENTITIES" --csv "$@" | tail -n 1)
  echo "$line" >&2
  rps=$(echo "$line" | awk -F'"' '{printf "%.0f", $4}')
  p50=$(echo "$line" | awk -F'"' '{printf "%.0f", $10 * 1000}')
  p99=$(echo "$line" | awk -F'"' '{printf "%.0f", $14 * 1000}')
  results+=("$label|$c|$rps|$p50|$p99")
}
# As many Redis requests as the server answered in DURATION, so both run about as long.
redis_requests() { local n=$((last_rps * DURATION)); [ "$n" -lt 10000 ] && n=10000; echo "$n"; }

for round in $(seq 1 "$ROUNDS"); do
  echo "== round $round of $ROUNDS" >&2
  for c in $CONNS; do
    for i in "${!server_args[@]}"; do run_wrk 1 "$c" "$i"; done
    run_redis "redis-benchmark GET (1 key)" "$c" "$(redis_requests)" -t get -d "$response_bytes"
    for i in "${!server_args[@]}"; do run_wrk 100 "$c" "$i"; done
    run_redis "redis-benchmark MGET (100 keys)" "$c" "$(redis_requests)" MGET "${mget_args[@]}"
  done
done

echo
echo "Machine: $(nproc) cores, $(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2}'), Linux $(uname -r); load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "larder serve configurations: $SERVERS; nice $NICE; pinned: $([ "$PIN" != 0 ] && echo "servers on CPU $last_cpu, clients on the others" || echo no); wrk -t$WRK_THREADS -d${DURATION}s --latency; $ENTITIES entities, 11 features (1-entity response $response_bytes bytes); redis-server $(redis-server --version | grep -o 'v=[0-9.]*'), values of $response_bytes bytes"
echo "Median of $ROUNDS rounds (each figure on its own), the servers' runs interleaved with Redis's:"
echo
echo "| workload | connections | requests/s | p50 (µs) | p99 (µs) |"
echo "| --- | ---: | ---: | ---: | ---: |"
printf '%s\n' "${results[@]}" | awk -F'|' '
  function median(list,   a, n, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  { key = $1 "|" $2; if (!(key in rps)) order[++k] = key
    rps[key] = rps[key] " " $3; p50[key] = p50[key] " " $4; p99[key] = p99[key] " " $5 }
  END { for (i = 1; i <= k; i++) { split(order[i], kc, "|")
          printf "| %s | %s | %.0f | %.0f | %.0f |\n", kc[1], kc[2], median(rps[order[i]]), median(p50[order[i]]), median(p99[order[i]]) } }'
