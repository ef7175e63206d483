"""The Python API takes Feast's FeatureStore signatures (sdk/python/feast/feature_store.py), so a
model server switches by changing its import."""

import os
from datetime import datetime, timezone

import pandas as pd
import pytest

import larder


def rows(ids, conv):
    return pd.DataFrame({
        "driver_id": ids, "event_timestamp": pd.to_datetime(["2026-11-02 09:00:00"] * len(ids)),
        "conv_rate": conv, "acc_rate": [0.5] * len(ids), "avg_daily_trips": [1] * len(ids),
        "top_cities": [["a"]] * len(ids)})


def conv_rates(store, ids):
    d = store.get_online_features(["driver_hourly_stats:conv_rate"],
                                  [{"driver_id": i} for i in ids], False, False).to_dict()
    return d["conv_rate"]


def test_push_mode_has_feasts_values():
    assert [(m.name, m.value) for m in larder.PushMode] == [
        ("ONLINE", 1), ("OFFLINE", 2), ("ONLINE_AND_OFFLINE", 3)]


def test_push_and_write_take_feasts_arguments(store):
    r = store.push("driver_stats_push", rows([1, 2], [0.5, 0.25]), allow_registry_cache=True,
                   to=larder.PushMode.ONLINE, transform_on_write=True)
    assert r.rows_written > 0 and r.rows_all_null == 0
    store.write_to_online_store("driver_hourly_stats",
                                inputs={k: list(v) for k, v in rows([3], [0.75]).items()},
                                allow_registry_cache=False, transform_on_write=False)
    assert conv_rates(store, [1, 2, 3]) == [0.5, 0.25, 0.75]


def test_all_null_rows_are_skipped_and_counted(store):
    store.push("driver_stats_push", rows([1], [0.5]))
    df = rows([1], [None])
    df["acc_rate"] = [None]
    df["avg_daily_trips"] = pd.array([None], dtype="Int64")
    df["top_cities"] = [None]
    r = store.push("driver_stats_push", df)
    assert r.rows_written == 0 and r.rows_all_null == r.views
    assert conv_rates(store, [1]) == [0.5]  # the stored row stays


def test_materialize_disable_event_timestamp(store, repo):
    with open(os.path.join(repo[0], "data", "driver_stats.csv"), "a") as f:
        f.write("2026-11-01T10:00:00Z,,5,0.125,0.5,2,\"[]\"\n")
    before = datetime.now(timezone.utc).replace(microsecond=0)
    store.materialize(None, None, ["driver_hourly_stats"], disable_event_timestamp=True,
                      full_feature_names=False, version=None)
    d = store.get_online_features(["driver_hourly_stats:conv_rate"], [{"driver_id": 5}]) \
        .to_dict(include_event_timestamps=True)
    assert d["conv_rate"] == [0.125]
    assert d["conv_rate__ts"][0] >= int(before.timestamp())  # now, not the file's 2026-11-01
    with pytest.raises(larder.InvalidArgument):
        store.materialize_incremental(datetime(2026, 11, 3), version="v2")


def test_registry_listings_take_feasts_arguments(store):
    names = [v.name for v in store.list_feature_views(allow_cache=True)]
    assert "driver_hourly_stats" in names
    assert store.list_feature_views(tags={"team": "nobody"}) == []
    assert store.get_feature_view("driver_hourly_stats", allow_registry_cache=True).name == \
        "driver_hourly_stats"
    assert [s.name for s in store.list_feature_services(tags=None)] == ["driver_activity_v1"]
    store.refresh_registry()
    with pytest.raises(larder.FeatureViewNotFoundException):
        store.get_feature_view("nope")
    assert larder.PushSourceNotFoundException is larder.PushSourceNotFound


def test_entity_rows_as_feast_reads_them(store):
    store.push("driver_stats_push", rows([1], [0.5]))
    # An extra key is ignored; the entity's name stands for its join key.
    d = store.get_online_features(["driver_hourly_stats:conv_rate"],
                                  [{"driver": 1, "unused": "x"}]).to_dict()
    assert d == {"driver_id": [1], "conv_rate": [0.5]}
