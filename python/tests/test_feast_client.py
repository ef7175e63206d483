"""`larder serve` driven the way Feast's own clients drive a feature server.

The request bodies are the ones Feast (feast-dev/feast, sdk/python/feast) sends:
infra/online_stores/remote.py (RemoteOnlineStore: get_online_features, online_read,
online_write_batch), feature_store.py (remote materialize / materialize_incremental, with
`?async=true` for run_async) and the curl examples of Feast's feature-server documentation. The
replies are parsed as those clients parse them: errors through rest_error_handler.py, i.e.
FeastError.from_error_detail(response.json()), and successes as
RemoteOnlineStore._build_online_response_from_json and online_read read them. Feast itself is
not installed: the few lines of client logic each check needs are restated here.
"""

import json
import os
import select
import signal
import subprocess
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

import pytest

from conftest import make_repo, remove_segment

LARDER_BIN = os.environ.get("LARDER_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "bin", "larder")

# Feast's quickstart repo, as Larder YAML, with a UnixTimestamp feature added.
FEAST_REPO_YAML = """\
project: feast_client
online_store:
  path: {segment}
  initial_capacity: 1000
  memory_limit: 64MiB
entities:
  - {{name: driver, join_keys: [driver_id], value_type: Int64}}
sources:
  - {{name: driver_hourly_stats_source, type: file, path: data/driver_stats.csv,
     timestamp_field: event_timestamp, created_timestamp_column: created}}
  - {{name: driver_stats_push_source, type: push, batch_source: driver_hourly_stats_source}}
feature_views:
  - name: driver_hourly_stats
    entities: [driver]
    ttl: 0
    source: driver_stats_push_source
    schema:
      - {{name: conv_rate, dtype: Float32}}
      - {{name: acc_rate, dtype: Float32}}
      - {{name: avg_daily_trips, dtype: Int64}}
  - name: driver_times
    entities: [driver]
    ttl: 0
    source: driver_stats_push_source
    schema:
      - {{name: last_trip, dtype: UnixTimestamp}}
      - {{name: trip_times, dtype: Array(UnixTimestamp)}}
feature_services:
  - name: driver_activity_v1
    features:
      - driver_hourly_stats: [conv_rate]
"""

CSV = {
    "driver_stats.csv":
        "event_timestamp,created,driver_id,conv_rate,acc_rate,avg_daily_trips,last_trip,"
        "trip_times\n"
        "2026-11-01T10:00:00Z,,2001,0.25,0.5,7,2026-11-01T09:00:00Z,\"[]\"\n"
        "2026-11-02T10:00:00Z,,2002,0.75,0.5,9,2026-11-02T09:00:00Z,\"[]\"\n",
}

# Exception classes that exist in Feast's feast.errors (sdk/python/feast/errors.py).
FEAST_ERROR_CLASSES = {
    "FeastError", "FeatureViewNotFoundException", "FeatureServiceNotFoundException",
    "PushSourceNotFoundException", "DataSourceNotFoundException",
    "FeastObjectNotFoundException",
}


# ---- the client side, as Feast writes it ------------------------------------------------------

def from_error_detail(detail):
    """FeastError.from_error_detail: json.loads(detail) must give module, class and message;
    anything else (a dict body, a non-JSON string) maps to None."""
    try:
        m = json.loads(detail)
        if all(f in m for f in ["module", "class", "message"]):
            return m
    except Exception:
        pass
    return None


class FeastClientError(Exception):
    def __init__(self, status, detail):
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


def post(url, path, body, params=None):
    """session.post(url, json=body, params=params) with rest_error_handler's check: an error
    status raises the mapped Feast error (FeastClientError carrying it); an unmappable one
    raises RuntimeError, as RemoteOnlineStore then does."""
    target = url + path + ("?" + "&".join(f"{k}={v}" for k, v in params.items())
                           if params else "")
    req = urllib.request.Request(target, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        mapped = from_error_detail(json.loads(text))
        if mapped is None:
            raise RuntimeError(f"{e.code} {text}")
        raise FeastClientError(e.code, mapped)


def build_online_response(resp_json):
    """RemoteOnlineStore._build_online_response_from_json, to plain Python: feature names and,
    per column, (values, statuses); an unknown status maps to INVALID as there."""
    names = resp_json.get("metadata", {}).get("feature_names", [])
    known = {"PRESENT", "NOT_FOUND", "NULL_VALUE", "OUTSIDE_MAX_AGE"}
    columns = []
    for result in resp_json.get("results", []):
        statuses = [s if s in known else "INVALID" for s in result.get("statuses", [])]
        columns.append((result.get("values", []), statuses))
    return names, columns


def get_event_ts(resp_json):
    """RemoteOnlineStore._get_event_ts."""
    results = resp_json.get("results") or []
    if len(results) > 1:
        ts = results[1].get("event_timestamps") or []
        if ts:
            return datetime.fromisoformat(ts[0].replace("Z", "+00:00"))
    return None


# ---- the server ---------------------------------------------------------------------------------

class Served:
    def __init__(self, repo_dir, *extra):
        self.proc = subprocess.Popen(
            [LARDER_BIN, "serve", "--repo", repo_dir, "--port", "0", "--threads", "1",
             "--write-threads", "1", *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        line = self._read_line(deadline=time.monotonic() + 30)
        assert "listening on " in line, line
        self.url = line.split("listening on ")[1].split()[0]

    def _read_line(self, deadline):
        buf = b""
        while not buf.endswith(b"\n"):
            ready, _, _ = select.select([self.proc.stderr], [], [], deadline - time.monotonic())
            if not ready:
                raise AssertionError("larder serve did not start: " + buf.decode())
            chunk = os.read(self.proc.stderr.fileno(), 1)
            if not chunk:
                raise AssertionError("larder serve exited: " + buf.decode())
            buf += chunk
        return buf.decode()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=60) == 0
        self.proc.stderr.close()


@pytest.fixture
def feast_repo(tmp_path):
    segment = make_repo(str(tmp_path), FEAST_REPO_YAML, CSV)
    assert subprocess.run([LARDER_BIN, "apply", "--repo", str(tmp_path)],
                          capture_output=True).returncode == 0
    yield str(tmp_path)
    remove_segment(segment)


@pytest.fixture
def server(feast_repo):
    s = Served(feast_repo)
    yield s
    s.stop()


def push_doc_example(url):
    # Feast's feature-server docs: `curl -X POST "http://localhost:6566/push" -d '{...}'`.
    return post(url, "/push", {
        "push_source_name": "driver_stats_push_source",
        "df": {
            "driver_id": [1001],
            "event_timestamp": ["2022-05-13 10:59:42+00:00"],
            "created": ["2022-05-13 10:59:42"],
            "conv_rate": [1.0],
            "acc_rate": [1.0],
            "avg_daily_trips": [1000],
            "last_trip": [1652439582],
            "trip_times": [[1652439582, 1652439600]],
        }})


# ---- the tests ----------------------------------------------------------------------------------

def test_remote_online_store_get_online_features(server):
    assert push_doc_example(server.url)[0] == 200
    # RemoteOnlineStore.get_online_features: every field of Feast's request model.
    status, text = post(server.url, "/get-online-features", {
        "entities": {"driver_id": [1001, 9999]},
        "full_feature_names": False,
        "include_feature_view_version_metadata": False,
        "features": ["driver_hourly_stats:conv_rate", "driver_hourly_stats:avg_daily_trips"],
    })
    assert status == 200
    names, columns = build_online_response(json.loads(text))
    assert names == ["driver_id", "conv_rate", "avg_daily_trips"]
    assert columns[0] == ([1001, 9999], ["PRESENT", "PRESENT"])
    assert columns[1] == ([1.0, None], ["PRESENT", "NOT_FOUND"])
    assert columns[2] == ([1000, None], ["PRESENT", "NOT_FOUND"])

    # ... and through a feature service, with full names.
    status, text = post(server.url, "/get-online-features", {
        "entities": {"driver_id": [1001]}, "full_feature_names": True,
        "include_feature_view_version_metadata": False, "feature_service": "driver_activity_v1"})
    names, columns = build_online_response(json.loads(text))
    assert names == ["driver_id", "driver_hourly_stats__conv_rate"]
    assert columns[1] == ([1.0], ["PRESENT"])


def test_unix_timestamps_are_epoch_seconds(server):
    assert push_doc_example(server.url)[0] == 200
    # RemoteOnlineStore.online_read's body: features of one view, one join key.
    status, text = post(server.url, "/get-online-features", {
        "features": ["driver_times:last_trip", "driver_times:trip_times"],
        "entities": {"driver_id": [1001]}})
    body = json.loads(text)
    names, columns = build_online_response(body)
    # online_read maps name -> value where the status is PRESENT, and python_values_to_proto
    # gets integers: Feast's unix_timestamp_val is int64 seconds.
    row = {n: columns[i][0][0] for i, n in enumerate(names) if columns[i][1][0] == "PRESENT"}
    assert row == {"driver_id": 1001, "last_trip": 1652439582,
                   "trip_times": [1652439582, 1652439600]}
    assert get_event_ts(body) == datetime(2022, 5, 13, 10, 59, 42, tzinfo=timezone.utc)


def test_online_write_batch_body(server):
    # RemoteOnlineStore.online_write_batch: join keys, features, naive-UTC isoformat event
    # timestamps and a "created" column of None, allow_registry_cache False.
    status, text = post(server.url, "/write-to-online-store", {
        "feature_view_name": "driver_hourly_stats",
        "df": {"driver_id": [7, 8], "conv_rate": [0.5, 0.25], "acc_rate": [0.5, None],
               "avg_daily_trips": [3, 4],
               "event_timestamp": ["2026-11-02T09:00:00", "2026-11-02T09:00:00"],
               "created": [None, None]},
        "allow_registry_cache": False,
    })
    assert status == 200, text
    _, columns = build_online_response(json.loads(post(server.url, "/get-online-features", {
        "features": ["driver_hourly_stats:acc_rate"], "entities": {"driver_id": [7, 8]}})[1]))
    assert columns[1] == ([0.5, None], ["PRESENT", "NULL_VALUE"])


def test_push_broadcasts_scalars_skips_all_null_frames_and_ignores_feast_fields(server):
    status, text = post(server.url, "/push", {
        "push_source_name": "driver_stats_push_source",
        "df": {"driver_id": [1, 2, 3], "event_timestamp": "2026-11-02T09:00:00Z",
               "conv_rate": [0.5, None, 0.75], "acc_rate": [0.5, None, 0.25],
               "avg_daily_trips": [1, None, 3], "last_trip": None, "trip_times": None},
        "to": "online", "allow_registry_cache": True, "transform_on_write": True,
    })
    assert status == 200, text
    # Two views; every feature of driver_times is null in every row: that view gets nothing,
    # as Feast's write_to_online_store skips a frame of null features. Row 2 of
    # driver_hourly_stats is written with its nulls (other rows have values).
    assert json.loads(text) == {"rows": 3, "views": 2, "rows_written": 3, "rows_skipped": 0,
                                "rows_all_null": 3}
    _, columns = build_online_response(json.loads(post(server.url, "/get-online-features", {
        "features": ["driver_hourly_stats:conv_rate", "driver_times:last_trip"],
        "entities": {"driver_id": [1, 2, 3]}})[1]))
    assert columns[1] == ([0.5, None, 0.75], ["PRESENT", "NULL_VALUE", "PRESENT"])
    assert columns[2][1] == ["NOT_FOUND"] * 3


def test_entity_columns_as_feast_reads_them(server):
    assert push_doc_example(server.url)[0] == 200
    # An extra column is ignored; the entity's name stands for its join key (Feast: deprecated).
    status, text = post(server.url, "/get-online-features", {
        "features": ["driver_hourly_stats:conv_rate"],
        "entities": {"driver": [1001], "unused": ["x"]}})
    assert status == 200, text
    names, columns = build_online_response(json.loads(text))
    assert names == ["driver_id", "conv_rate"]
    assert columns[1] == ([1.0], ["PRESENT"])


def test_errors_reraise_as_feast_exceptions(server):
    cases = [
        ("/get-online-features", {"features": ["nope:x"], "entities": {"driver_id": [1]}},
         404, "FeatureViewNotFoundException", "FeatureViewNotFound"),
        ("/get-online-features", {"feature_service": "nope", "entities": {"driver_id": [1]}},
         404, "FeatureServiceNotFoundException", "FeatureServiceNotFound"),
        ("/push", {"push_source_name": "nope", "df": {"driver_id": [1]}},
         422, "PushSourceNotFoundException", "PushSourceNotFound"),
        ("/write-to-online-store", {"feature_view_name": "nope", "df": {"driver_id": [1]}},
         404, "FeatureViewNotFoundException", "FeatureViewNotFound"),
        ("/get-online-features", {"features": "driver_hourly_stats:conv_rate",
                                  "entities": {"driver_id": [1]}},
         422, "FeastError", "InvalidArgument"),
        ("/get-online-features", {"features": ["driver_hourly_stats:conv_rate"],
                                  "entities": {"rider_id": [1]}},
         422, "FeastError", "MissingJoinKey"),
    ]
    for path, body, status, cls, code in cases:
        with pytest.raises(FeastClientError) as e:
            post(server.url, path, body)
        assert e.value.status == status, (path, body)
        assert e.value.detail["module"] == "feast.errors"
        assert e.value.detail["class"] == cls and cls in FEAST_ERROR_CLASSES
        assert e.value.detail["code"] == code
        assert e.value.detail["message"]


def test_unknown_fields_ignored_unless_strict(feast_repo):
    body = {"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1]},
            "some_future_field": 1}
    s = Served(feast_repo)
    try:
        assert post(s.url, "/get-online-features", body)[0] == 200
    finally:
        s.stop()
    s = Served(feast_repo, "--strict")
    try:
        with pytest.raises(FeastClientError) as e:
            post(s.url, "/get-online-features", body)
        assert e.value.status == 422
        assert "some_future_field" in e.value.detail["message"]
        body.pop("some_future_field")
        assert post(s.url, "/get-online-features", body)[0] == 200
    finally:
        s.stop()


def read_conv_rate(url, ids):
    _, columns = build_online_response(json.loads(post(url, "/get-online-features", {
        "features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": ids}})[1]))
    return columns[1]


def test_remote_materialize_bodies(server):
    start = datetime(2026, 11, 1, 0, 0, tzinfo=timezone.utc)
    end = datetime(2026, 11, 1, 23, 0, tzinfo=timezone.utc)
    # FeatureStore.materialize with a remote online store.
    status, text = post(server.url, "/materialize", {
        "start_ts": start.isoformat(), "end_ts": end.isoformat(),
        "feature_views": ["driver_hourly_stats"], "disable_event_timestamp": False,
        "full_feature_names": False})
    assert status == 200, text
    assert read_conv_rate(server.url, [2001, 2002]) == ([0.25, None], ["PRESENT", "NOT_FOUND"])
    # materialize_incremental(run_async=True): ?async=true, 202, then the rows appear.
    status, text = post(server.url, "/materialize-incremental", {
        "end_ts": datetime(2026, 11, 3, tzinfo=timezone.utc).isoformat(),
        "feature_views": ["driver_hourly_stats"], "full_feature_names": False},
        params={"async": "true"})
    assert status == 202
    assert json.loads(text) == {"status": "accepted", "feature_views": ["driver_hourly_stats"]}
    deadline = time.monotonic() + 60
    while read_conv_rate(server.url, [2002])[1] != ["PRESENT"]:
        assert time.monotonic() < deadline, "the accepted materialization never landed"
    # A version is refused, as Feast refuses it without feature view versioning.
    with pytest.raises(FeastClientError) as e:
        post(server.url, "/materialize-incremental", {"end_ts": end.isoformat(),
                                                      "feature_views": None, "version": "v2"})
    assert e.value.status == 422


def test_materialize_disable_event_timestamp(server):
    before = datetime.now(timezone.utc).replace(microsecond=0)
    status, text = post(server.url, "/materialize", {
        "start_ts": None, "end_ts": None, "feature_views": ["driver_hourly_stats"],
        "disable_event_timestamp": True, "full_feature_names": False})
    assert status == 200, text
    body = json.loads(post(server.url, "/get-online-features", {
        "features": ["driver_hourly_stats:conv_rate"],
        "entities": {"driver_id": [2001, 2002]}})[1])
    names, columns = build_online_response(body)
    assert columns[1] == ([0.25, 0.75], ["PRESENT", "PRESENT"])
    # Written with the current time as event timestamp, not the file's 2026-11-0x.
    assert get_event_ts(body) >= before
