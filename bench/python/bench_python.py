#!/usr/bin/env python3
"""Larder's Python binding, timed with time.perf_counter_ns (no pytest-benchmark): medians.

    PYTHONPATH=build/python /usr/bin/python3 bench/python/bench_python.py [--rows 100000]

Creates a throwaway repo and segment (/dev/shm/larder-pybench-<pid>), pushes --rows drivers and
measures the issue's three targets:

  * one entity's lookup from Python (get_online_features with one entity row)   < 5 us
  * 1,000 entities into numpy (entities={key: int64 array} -> to_numpy())       < 200 us
  * push of a 100,000-row DataFrame                                             >= 500,000 rows/s

plus a few neighbours (to_dict, to_df, the OnlineReader, a feature service) for context.
The segment is removed at the end.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np
import pandas as pd

import larder

FEATURES = [
    "driver_hourly_stats:conv_rate",
    "driver_hourly_stats:acc_rate",
    "driver_hourly_stats:avg_daily_trips",
]

YAML = """\
project: pybench
online_store:
  path: {segment}
  initial_capacity: {capacity}
  memory_limit: 1GiB
entities:
  - {{name: driver, join_keys: [driver_id], value_type: Int64}}
sources:
  - {{name: driver_stats_source, type: file, path: data/driver_stats.csv,
     timestamp_field: event_timestamp, created_timestamp_column: created}}
  - {{name: driver_stats_push, type: push, batch_source: driver_stats_source}}
feature_views:
  - name: driver_hourly_stats
    entities: [driver]
    ttl: 0
    source: driver_stats_push
    schema:
      - {{name: driver_id, dtype: Int64}}
      - {{name: conv_rate, dtype: Float32}}
      - {{name: acc_rate, dtype: Float32}}
      - {{name: avg_daily_trips, dtype: Int64}}
feature_services:
  - name: driver_activity
    features: [driver_hourly_stats]
"""


def make_repo(rows):
    repo = tempfile.mkdtemp(prefix="larder-pybench-")
    segment = f"/dev/shm/larder-pybench-{os.getpid()}"
    os.makedirs(os.path.join(repo, "data"))
    with open(os.path.join(repo, "data", "driver_stats.csv"), "w") as f:
        f.write("event_timestamp,created,driver_id,conv_rate,acc_rate,avg_daily_trips\n")
    with open(os.path.join(repo, "feature_store.yaml"), "w") as f:
        f.write(YAML.format(segment=segment, capacity=max(rows * 2, 1000)))
    return repo


def driver_frame(ids, when):
    """A Feast-style push DataFrame: int64 keys, datetime64 timestamps, float and int features."""
    n = len(ids)
    rng = np.random.default_rng(int(when.value % 2**32))
    return pd.DataFrame({
        "driver_id": ids,
        "event_timestamp": pd.Series(np.full(n, when.value, dtype="datetime64[ns]")),
        "created": pd.Series(np.full(n, when.value, dtype="datetime64[ns]")),
        "conv_rate": rng.random(n, dtype=np.float32),
        "acc_rate": rng.random(n, dtype=np.float32),
        "avg_daily_trips": rng.integers(0, 1000, n, dtype=np.int64),
    })


def per_call_ns(fn, calls, repeats):
    """Median over `repeats` of the mean time of `calls` back-to-back calls."""
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter_ns() - t0) / calls)
    return statistics.median(samples)


def each_call_ns(fn, repeats):
    """Median of `repeats` individually timed calls."""
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - t0)
    return statistics.median(samples)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000, help="drivers in the store and push size")
    ap.add_argument("--batch", type=int, default=1000, help="entities per numpy lookup")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    args = ap.parse_args()
    reps = 5 if args.quick else 1
    repo = make_repo(args.rows)
    store = larder.FeatureStore(repo)
    store.apply()
    results = []  # (operation, figure, unit, target, ok)
    try:
        ids = np.arange(1, args.rows + 1, dtype=np.int64)
        base = pd.Timestamp("2026-11-02 09:00:00")

        # ---- push of a 100,000-row DataFrame (fresh timestamps each time: every row is written)
        frames = [driver_frame(ids, base + pd.Timedelta(seconds=i))
                  for i in range(7 if reps == 1 else 3)]
        rates = []
        for df in frames:
            t0 = time.perf_counter_ns()
            res = store.push("driver_stats_push", df, to=larder.PushMode.ONLINE)
            dt = time.perf_counter_ns() - t0
            assert res.rows_written == len(df), res
            rates.append(len(df) / (dt / 1e9))
        push_rate = statistics.median(rates)
        results.append((f"push of a {args.rows:,}-row DataFrame", push_rate, "rows/s",
                         ">= 500,000 rows/s", push_rate >= 500_000))

        # Same frame as a dict of numpy columns (no pandas on the way).
        cols = {c: frames[0][c].to_numpy() for c in frames[0].columns}
        cols["event_timestamp"] = (base + pd.Timedelta(seconds=100)).to_datetime64()
        cols["event_timestamp"] = np.full(args.rows, cols["event_timestamp"])
        cols["created"] = cols["event_timestamp"]
        t0 = time.perf_counter_ns()
        store.push("driver_stats_push", cols)
        rate = args.rows / ((time.perf_counter_ns() - t0) / 1e9)
        results.append((f"push of {args.rows:,} rows as a dict of numpy arrays", rate, "rows/s", "", None))

        reader = larder.OnlineReader(store.segment_path)
        rng = np.random.default_rng(7)

        # ---- one entity's lookup
        row = [{"driver_id": 4242}]
        calls, repeats = 2000 // reps, 50 // reps
        for who, obj in (("FeatureStore", store), ("OnlineReader", reader)):
            t = per_call_ns(lambda: obj.get_online_features(features=FEATURES, entity_rows=row),
                            calls, repeats)
            results.append((f"one entity, get_online_features ({who})", t / 1000, "us",
                            "< 5 us", t < 5000))
        t = per_call_ns(lambda: reader.get_online_features(FEATURES, row).to_dict(), calls, repeats)
        results.append(("one entity, get_online_features + to_dict()", t / 1000, "us", "", None))
        t = per_call_ns(lambda: reader.get_online_features(
            feature_service="driver_activity", entity_rows=row), calls, repeats)
        results.append(("one entity, feature_service=", t / 1000, "us", "", None))
        t = per_call_ns(lambda: reader.get_online_features(FEATURES, row).to_numpy(), calls, repeats)
        results.append(("one entity, get_online_features + to_numpy()", t / 1000, "us", "", None))

        # ---- 1,000 entities into numpy (each call takes the next of 64 random key batches, so
        # the keys are not all cache-hot)
        batches = [rng.integers(1, args.rows + 1, args.batch, dtype=np.int64) for _ in range(64)]
        lists = [b.tolist() for b in batches]

        def batch_case(label, finish, keys=batches, repeats=1000 // reps, target="", limit=None):
            it = iter(range(10**9))

            def call():
                resp = reader.get_online_features(
                    features=FEATURES, entities={"driver_id": keys[next(it) % len(keys)]})
                return finish(resp)

            call()
            t = each_call_ns(call, repeats)
            results.append((f"{args.batch:,} entities {label}", t / 1000, "us", target,
                            None if limit is None else t < limit))

        out = reader.get_online_features(features=FEATURES,
                                         entities={"driver_id": batches[0]}).to_numpy()
        assert out["conv_rate"].dtype == np.float32 and len(out["conv_rate"]) == args.batch
        batch_case("-> to_numpy()", lambda r: r.to_numpy(), target="< 200 us", limit=200_000)
        batch_case("-> to_numpy() + statuses()", lambda r: (r.to_numpy(), r.statuses()))
        batch_case("lookup only (no conversion)", lambda r: r)
        batch_case("(a list) -> to_numpy()", lambda r: r.to_numpy(), keys=lists)
        batch_case("-> to_dict()", lambda r: r.to_dict(), repeats=300 // reps)
        batch_case("-> to_df()", lambda r: r.to_df(), repeats=300 // reps)
    finally:
        try:
            store.teardown()
        finally:
            shutil.rmtree(repo, ignore_errors=True)

    print(f"larder {larder.__version__}, Python {sys.version.split()[0]}, numpy {np.__version__}, "
          f"pandas {pd.__version__}, {os.cpu_count()} CPUs; {len(FEATURES)} features "
          f"(Float32, Float32, Int64) of one view, {args.rows:,} entities; medians")
    print()
    def figure(value, unit):
        return f"{value:,.0f} {unit}" if unit == "rows/s" else f"{value:,.2f} {unit}"

    w = max(len(r[0]) for r in results)
    fw = max(len(figure(r[1], r[2])) for r in results)
    print(f"| {'operation'.ljust(w)} | {'median'.rjust(fw)} | target            | met |")
    print(f"| {'-' * w} | {'-' * fw} | ----------------- | --- |")
    failed = False
    for name, value, unit, target, ok in results:
        met = "" if ok is None else ("yes" if ok else "NO")
        failed = failed or ok is False
        print(f"| {name.ljust(w)} | {figure(value, unit).rjust(fw)} | {target.ljust(17)} | {met:3} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
