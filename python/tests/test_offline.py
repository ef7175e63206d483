"""materialize, materialize_incremental and get_historical_features (the offline store).

Skipped when the build reports Unsupported (no offline store)."""

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

import larder

ROWS = """\
event_timestamp,created,driver_id,conv_rate,acc_rate,avg_daily_trips,top_cities
2026-11-01 09:00:00+00:00,2026-11-01 09:00:05+00:00,1001,0.5,0.25,10,"[""Paris""]"
2026-11-02 09:00:00+00:00,2026-11-02 09:00:05+00:00,1001,0.75,0.5,20,"[""Lyon""]"
2026-11-02 10:00:00+00:00,2026-11-02 10:00:05+00:00,1002,0.125,,30,[]
"""


def write_batch_source(repo):
    with open(f"{repo[0]}/data/driver_stats.csv", "w") as f:
        f.write(ROWS)


def unsupported(call):
    try:
        return call()
    except larder.Unsupported:
        pytest.skip("this build has no offline store")


def test_materialize(store, repo):
    write_batch_source(repo)
    res = unsupported(lambda: store.materialize(datetime(2026, 11, 1), "2026-11-01T23:59:59Z",
                                                feature_views=["driver_hourly_stats"]))
    assert [v.name for v in res.views] == ["driver_hourly_stats"]
    assert res.views[0].rows_written == 1
    feats = ["driver_hourly_stats:conv_rate", "driver_hourly_stats:top_cities"]
    assert store.get_online_features(feats, [{"driver_id": 1001}]).to_dict() == {
        "driver_id": [1001], "conv_rate": [0.5], "top_cities": [["Paris"]]}
    res = store.materialize_incremental(pd.Timestamp("2026-11-03", tz="UTC"),
                                        feature_views=["driver_hourly_stats"])
    assert res.views[0].rows_written == 2
    d = store.get_online_features(feats, entities={"driver_id": [1001, 1002]}).to_dict()
    assert d["conv_rate"] == [0.75, 0.125]
    with pytest.raises(larder.InvalidArgument):
        store.materialize("2026-11-03T00:00:00Z", "2026-11-01T00:00:00Z")
    with pytest.raises(TypeError):
        store.materialize(None, "2026-11-01T00:00:00Z")


def test_get_historical_features(store, repo):
    write_batch_source(repo)
    entity_df = pd.DataFrame({
        "driver_id": [1001, 1001, 1002, 1003],
        "event_timestamp": pd.to_datetime(["2026-11-01 12:00", "2026-11-02 12:00",
                                           "2026-11-02 09:30", "2026-11-02 12:00"]),
        "label": [1, 0, 1, 0],
    })
    job = unsupported(lambda: store.get_historical_features(
        entity_df, features=["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate",
                             "driver_hourly_stats:top_cities"]))
    df = job.to_df()
    assert list(df.columns) == ["driver_id", "event_timestamp", "label", "conv_rate", "acc_rate",
                                "top_cities"]
    pd.testing.assert_frame_equal(df[["driver_id", "event_timestamp", "label"]], entity_df)
    assert df["conv_rate"].tolist()[:2] == [0.5, 0.75]
    assert np.isnan(df["conv_rate"].tolist()[2:]).all()  # 1002 not yet; 1003 never
    assert df["top_cities"].tolist() == [["Paris"], ["Lyon"], None, None]
    svc = store.get_historical_features(entity_df, features=store.get_feature_service(
        "driver_activity_v1"), full_feature_names=True).to_df()
    assert "driver_daily_quality__avg_daily_trips" in svc.columns
    with pytest.raises(larder.InvalidArgument, match="event_timestamp"):
        store.get_historical_features(entity_df.drop(columns=["event_timestamp"]),
                                      features=["driver_hourly_stats:conv_rate"])
