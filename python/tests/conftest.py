"""Fixtures: a throwaway feature repo (its own /dev/shm segment) per test.

Run:  PYTHONPATH=build/python /usr/bin/python3 -m pytest -q python/tests   (ctest runs this)
"""

import itertools
import os

import pytest

import larder

_counter = itertools.count()

# Every dtype, two views on one push source (fan-out), a ttl'd view, a String-keyed view and a
# composite key, and a feature service reading the same feature names from two views.
REPO_YAML = """\
project: pytest_repo
online_store:
  path: {segment}
  initial_capacity: 1000
  memory_limit: 64MiB
entities:
  - {{name: driver, join_keys: [driver_id], value_type: Int64}}
  - {{name: city, join_keys: [city_name], value_type: String}}
  - {{name: rider, join_keys: [rider_id], value_type: Int32}}
sources:
  - {{name: driver_stats_source, type: file, path: data/driver_stats.csv,
     timestamp_field: event_timestamp, created_timestamp_column: created}}
  - {{name: driver_stats_push, type: push, batch_source: driver_stats_source}}
  - {{name: typed_source, type: file, path: data/typed.csv, timestamp_field: ts}}
  - {{name: typed_push, type: push, batch_source: typed_source}}
  - {{name: city_source, type: file, path: data/city.csv, timestamp_field: ts}}
  - {{name: city_push, type: push, batch_source: city_source}}
feature_views:
  - name: driver_hourly_stats
    entities: [driver]
    ttl: 3650d
    source: driver_stats_push
    schema:
      - {{name: driver_id, dtype: Int64}}
      - {{name: conv_rate, dtype: Float32}}
      - {{name: acc_rate, dtype: Float32}}
      - {{name: avg_daily_trips, dtype: Int64}}
      - {{name: top_cities, dtype: Array(String)}}
  - name: driver_daily_quality
    entities: [driver]
    ttl: 0
    source: driver_stats_push
    schema:
      - {{name: conv_rate, dtype: Float32}}
      - {{name: avg_daily_trips, dtype: Int64}}
  - name: driver_fresh
    entities: [driver]
    ttl: 1h
    source: driver_stats_push
    schema:
      - {{name: conv_rate, dtype: Float32}}
  - name: typed
    entities: [driver]
    ttl: 0
    source: typed_push
    schema:
      - {{name: i32, dtype: Int32}}
      - {{name: i64, dtype: Int64}}
      - {{name: f32, dtype: Float32}}
      - {{name: f64, dtype: Float64}}
      - {{name: s, dtype: String}}
      - {{name: b, dtype: Bytes}}
      - {{name: flag, dtype: Bool}}
      - {{name: when, dtype: UnixTimestamp}}
      - {{name: ai32, dtype: Array(Int32)}}
      - {{name: ai64, dtype: Array(Int64)}}
      - {{name: af32, dtype: Array(Float32)}}
      - {{name: af64, dtype: Array(Float64)}}
      - {{name: astr, dtype: Array(String)}}
      - {{name: abytes, dtype: Array(Bytes)}}
      - {{name: abool, dtype: Array(Bool)}}
      - {{name: ats, dtype: Array(UnixTimestamp)}}
  - name: city_stats
    entities: [city]
    ttl: 0
    source: city_push
    schema:
      - {{name: population, dtype: Int64}}
  - name: rider_city
    entities: [rider, city]
    ttl: 0
    source: city_push
    schema:
      - {{name: trips, dtype: Int32}}
feature_services:
  - name: driver_activity_v1
    features:
      - driver_hourly_stats: [conv_rate, avg_daily_trips]
      - driver_daily_quality
"""

CSV_HEADERS = {
    "driver_stats.csv": "event_timestamp,created,driver_id,conv_rate,acc_rate,avg_daily_trips,"
                        "top_cities\n",
    "typed.csv": "ts,driver_id,i32,i64,f32,f64,s,b,flag,when,ai32,ai64,af32,af64,astr,abytes,"
                 "abool,ats\n",
    "city.csv": "ts,city_name,rider_id,population,trips\n",
}


def make_repo(directory, yaml_text=REPO_YAML, csv=CSV_HEADERS):
    """Writes a repo into `directory`; returns its segment path."""
    segment = f"/dev/shm/larder-pytest-{os.getpid()}-{next(_counter)}"
    os.makedirs(os.path.join(directory, "data"), exist_ok=True)
    for name, text in csv.items():
        with open(os.path.join(directory, "data", name), "w") as f:
            f.write(text)
    with open(os.path.join(directory, "feature_store.yaml"), "w") as f:
        f.write(yaml_text.format(segment=segment))
    return segment


def remove_segment(path):
    for suffix in ("", ".readers", ".lock"):
        try:
            os.unlink(path + suffix)
        except FileNotFoundError:
            pass


@pytest.fixture
def repo(tmp_path):
    """(repo directory, segment path) of a repo that has not been applied."""
    segment = make_repo(str(tmp_path))
    yield str(tmp_path), segment
    remove_segment(segment)


@pytest.fixture
def store(repo):
    """An applied larder.FeatureStore over an empty segment."""
    s = larder.FeatureStore(repo_path=repo[0])
    s.apply()
    yield s
    try:
        s.teardown()
    except larder.StoreNotFound:
        pass
