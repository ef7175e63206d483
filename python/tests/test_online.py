"""get_online_features: request forms, Feast's to_dict / to_df shapes, numpy arrays, statuses."""

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

import larder

FEATURES = ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate",
            "driver_hourly_stats:avg_daily_trips", "driver_hourly_stats:top_cities"]
T0 = pd.Timestamp("2026-11-02 09:00:00")


def push_drivers(store, when=T0):
    df = pd.DataFrame({
        "driver_id": [1001, 1002, 1003],
        "event_timestamp": [when, when, when + pd.Timedelta(microseconds=123456)],
        "created": [when] * 3,
        "conv_rate": [0.91, 0.47, np.nan],
        "acc_rate": [0.88, np.nan, 0.73],
        "avg_daily_trips": [27, 12, 31],
        "top_cities": [["Paris", "Lyon"], [], None],
    })
    return store.push("driver_stats_push", df)


def f32(x):
    return float(np.float32(x))


def test_to_dict_feast_shape(store):
    res = push_drivers(store)
    assert (res.rows_in, res.views, res.rows_written, res.rows_skipped, res.rows_all_null) == \
        (3, 3, 9, 0, 0)
    resp = store.get_online_features(
        features=FEATURES,
        entity_rows=[{"driver_id": 1001}, {"driver_id": 1002}, {"driver_id": 9999}])
    assert resp.feature_names == ["driver_id", "conv_rate", "acc_rate", "avg_daily_trips",
                                  "top_cities"]
    assert len(resp) == 3
    assert resp.to_dict() == {
        "driver_id": [1001, 1002, 9999],
        "conv_rate": [f32(0.91), f32(0.47), None],
        "acc_rate": [f32(0.88), None, None],
        "avg_daily_trips": [27, 12, None],
        "top_cities": [["Paris", "Lyon"], [], None],
    }


def test_to_dict_event_timestamps(store):
    push_drivers(store)
    d = store.get_online_features(features=FEATURES[:2],
                                  entity_rows=[{"driver_id": 1003}, {"driver_id": 5}]
                                  ).to_dict(include_event_timestamps=True)
    secs = int(T0.tz_localize("UTC").timestamp())
    assert list(d) == ["driver_id", "driver_id__ts", "conv_rate", "conv_rate__ts", "acc_rate",
                       "acc_rate__ts"]
    assert d["driver_id__ts"] == [0, 0]
    assert d["conv_rate__ts"] == [secs, 0]  # whole seconds, as Feast
    assert d["conv_rate"] == [None, None]   # NaN was pushed: null


def test_entity_forms_agree(store):
    push_drivers(store)
    ids = [1001, 1003, 42]
    expected = store.get_online_features(FEATURES, [{"driver_id": i} for i in ids]).to_dict()
    forms = [
        dict(entity_rows={"driver_id": ids}),
        dict(entities={"driver_id": ids}),
        dict(entities={"driver_id": tuple(ids)}),
        dict(entities={"driver_id": np.array(ids, dtype=np.int64)}),
        dict(entities={"driver_id": np.array(ids, dtype=np.int32)}),
        dict(entities={"driver_id": np.array(ids, dtype=np.uint16)}),
        dict(entities={"driver_id": pd.Series(ids)}),
        dict(entity_rows=pd.DataFrame({"driver_id": ids})),
        dict(entity_rows=[{"driver_id": np.int64(i)} for i in ids]),
        dict(entity_rows=[{"driver_id": str(i)} for i in ids]),  # strings parse, as in Feast JSON
    ]
    for kw in forms:
        d = store.get_online_features(features=FEATURES, **kw).to_dict()
        assert [int(x) for x in d.pop("driver_id")] == ids, kw
        assert d == {k: v for k, v in expected.items() if k != "driver_id"}, kw


def test_non_contiguous_entity_array(store):
    push_drivers(store)
    ids = np.array([[1001, 0], [1002, 0], [1003, 0]], dtype=np.int64)[:, 0]
    assert not ids.flags["C_CONTIGUOUS"]
    d = store.get_online_features(FEATURES[:1], entities={"driver_id": ids}).to_dict()
    assert d["conv_rate"] == [f32(0.91), f32(0.47), None]


def test_feature_service_and_full_names(store):
    push_drivers(store)
    rows = [{"driver_id": 1001}]
    by_name = store.get_online_features(feature_service="driver_activity_v1", entity_rows=rows,
                                        full_feature_names=True)
    by_obj = store.get_online_features(features=store.get_feature_service("driver_activity_v1"),
                                       entity_rows=rows, full_feature_names=True)
    assert by_name.to_dict() == by_obj.to_dict() == {
        "driver_id": [1001],
        "driver_hourly_stats__conv_rate": [f32(0.91)],
        "driver_hourly_stats__avg_daily_trips": [27],
        "driver_daily_quality__conv_rate": [f32(0.91)],
        "driver_daily_quality__avg_daily_trips": [27],
    }
    # Without full names the service's two conv_rate features collide: an error, as in Feast.
    with pytest.raises(larder.InvalidArgument, match="full_feature_names"):
        store.get_online_features(feature_service="driver_activity_v1", entity_rows=rows)


def test_to_df_is_feast_to_df(store):
    push_drivers(store)
    store.push("typed_push", {"driver_id": [1], "ts": ["2026-01-01T00:00:00Z"], "i32": [None],
                              "i64": [5], "f32": [1.5], "f64": [None], "s": ["x"], "b": [b"y"],
                              "flag": [True], "when": ["2026-01-02T03:04:05.5Z"],
                              "ai32": [[1]], "ai64": [[2]], "af32": [[0.5]], "af64": [[]],
                              "astr": [["a"]], "abytes": [[b"\x00"]], "abool": [[False]],
                              "ats": [["2026-01-01T00:00:00Z"]]})
    cases = [
        (FEATURES, {"driver_id": [1001, 1002, 7]}),
        (FEATURES, {"driver_id": [1001, 1002]}),
        (["typed:" + n for n in ("i32", "i64", "f32", "f64", "s", "b", "flag", "when", "ai32",
                                  "af64", "astr", "abool", "ats")], {"driver_id": [1, 2]}),
        (["typed:i64", "typed:flag", "typed:f64"], {"driver_id": [1]}),
        (["typed:i64", "typed:flag", "typed:f64"], {"driver_id": np.array([1, 2])}),
    ]
    for features, entities in cases:
        resp = store.get_online_features(features=features, entities=entities)
        for ts in (False, True):
            pd.testing.assert_frame_equal(resp.to_df(include_event_timestamps=ts),
                                          pd.DataFrame(resp.to_dict(ts)))


def test_to_numpy_dtypes_and_missing_values(store):
    store.push("typed_push", {
        "driver_id": [1, 2],
        "ts": ["2026-01-01T00:00:00Z"] * 2,
        "i32": [-7, None], "i64": [2**40, None], "f32": [0.25, None], "f64": [1e-300, None],
        "s": ["héllo", None], "b": [b"\x00\xff", None], "flag": [True, None],
        "when": ["2026-01-02T03:04:05.123456Z", None],
        # ai64 keeps row 2 from being all null (such a row is not written at all).
        "ai32": [[1, 2], None], "ai64": [[3], [4]], "af32": [[0.5, 1.5], None],
        "af64": [[2.5], None], "astr": [["a", "b"], None], "abytes": [[b"x"], None],
        "abool": [[True, False], None], "ats": [["2026-01-01T00:00:01Z"], None],
    })
    names = ["i32", "i64", "f32", "f64", "s", "b", "flag", "when", "ai32", "ai64", "af32", "af64",
             "astr", "abytes", "abool", "ats"]
    resp = store.get_online_features(features=["typed:" + n for n in names],
                                     entities={"driver_id": np.array([1, 2, 3])})
    a = resp.to_numpy()
    assert list(a) == ["driver_id"] + names
    assert a["driver_id"].tolist() == [1, 2, 3]
    expect = {"i32": np.int32, "i64": np.int64, "f32": np.float32, "f64": np.float64,
              "s": object, "b": object, "flag": np.bool_, "when": np.dtype("datetime64[us]")}
    for n, dt in expect.items():
        assert a[n].dtype == dt, n
    assert a["i32"].tolist() == [-7, 0, 0]
    assert a["i64"].tolist() == [2**40, 0, 0]
    assert a["f32"][0] == 0.25 and np.isnan(a["f32"][1:]).all()
    assert a["f64"][0] == 1e-300 and np.isnan(a["f64"][1:]).all()
    assert a["s"].tolist() == ["héllo", None, None]
    assert a["b"].tolist() == [b"\x00\xff", None, None]
    assert a["flag"].tolist() == [True, False, False]
    assert a["when"][0] == np.datetime64("2026-01-02T03:04:05.123456")
    assert np.isnat(a["when"][1:]).all()
    assert a["ai32"][0].dtype == np.int32 and a["ai32"][0].tolist() == [1, 2]
    assert a["ai64"][0].dtype == np.int64
    assert a["af32"][0].dtype == np.float32 and a["af32"][0].tolist() == [0.5, 1.5]
    assert a["af64"][0].dtype == np.float64
    assert a["abool"][0].dtype == np.bool_ and a["abool"][0].tolist() == [True, False]
    assert a["ats"][0].dtype == np.dtype("datetime64[us]")
    assert a["astr"][0] == ["a", "b"] and a["abytes"][0] == [b"x"]
    for n in ("ai32", "astr", "ats"):
        assert a[n][1] is None and a[n][2] is None
    st = resp.statuses()
    assert list(st) == names
    for n in names:
        assert st[n].dtype == np.uint8
        second = larder.FieldStatus.PRESENT if n == "ai64" else larder.FieldStatus.NULL_VALUE
        assert st[n].tolist() == [larder.FieldStatus.PRESENT, second,
                                  larder.FieldStatus.NOT_FOUND], n
    ts = resp.event_timestamps()
    assert ts["i32"].dtype == np.dtype("datetime64[us]")
    assert ts["i32"][0] == ts["i32"][1] == np.datetime64("2026-01-01T00:00:00")
    assert np.isnat(ts["i32"][2])
    d = resp.to_dict()
    assert d["when"] == [datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc), None, None]
    assert d["flag"] == [True, None, None]
    assert d["ats"][0] == [datetime(2026, 1, 1, 0, 0, 1, tzinfo=timezone.utc)]
    assert resp.dtypes["ai32"] == "Array(Int32)"


def test_outside_max_age(store):
    old = pd.Timestamp.now(tz="UTC").tz_localize(None) - pd.Timedelta(hours=2)
    push_drivers(store, when=old)
    resp = store.get_online_features(features=["driver_fresh:conv_rate"],
                                     entity_rows=[{"driver_id": 1001}])
    # Expired rows keep their value (as Feast's Go and Java servers) with OUTSIDE_MAX_AGE.
    assert resp.statuses()["conv_rate"].tolist() == [larder.FieldStatus.OUTSIDE_MAX_AGE]
    assert resp.to_dict()["conv_rate"] == [f32(0.91)]


def test_string_and_composite_keys(store):
    store.push("city_push", pd.DataFrame({
        "ts": pd.to_datetime(["2026-01-01", "2026-01-01"]),
        "city_name": ["Paris", "Lyon"], "rider_id": np.array([7, 8], dtype=np.int32),
        "population": [2_100_000, 520_000], "trips": [3, 4]}))
    d = store.get_online_features(["city_stats:population"],
                                  entities={"city_name": np.array(["Lyon", "Paris", "Nice"])}
                                  ).to_dict()
    assert d == {"city_name": ["Lyon", "Paris", "Nice"], "population": [520_000, 2_100_000, None]}
    d = store.get_online_features(["rider_city:trips"],
                                  entity_rows=[{"rider_id": 8, "city_name": "Lyon"},
                                               {"rider_id": 7, "city_name": "Lyon"}]).to_dict()
    assert d["trips"] == [4, None]
    a = store.get_online_features(["rider_city:trips"],
                                  entities={"rider_id": [7], "city_name": ["Paris"]}).to_numpy()
    assert a["trips"].dtype == np.int32 and a["trips"].tolist() == [3]


def test_reader_reads_what_the_store_pushed(store, repo):
    reader = larder.OnlineReader(repo[1])
    assert reader.get_online_features(FEATURES, [{"driver_id": 1001}]).to_dict()[
        "conv_rate"] == [None]
    push_drivers(store)
    assert reader.get_online_features(FEATURES, [{"driver_id": 1001}]).to_dict()[
        "conv_rate"] == [f32(0.91)]
    assert reader.project == "pytest_repo"
    assert [v.name for v in reader.list_feature_views()] == [
        v.name for v in store.list_feature_views()]
    view = reader.get_feature_view("driver_hourly_stats")
    assert view.ttl == timedelta(days=3650)
    assert view.features[0] == larder.Field("conv_rate", "Float32")
    assert view.join_keys == [larder.Field("driver_id", "Int64")]
    assert store.online_reader().segment_path == repo[1]
    info = reader.inspect()
    assert {v["name"]: v["rows"] for v in info["views"]}["driver_hourly_stats"] == 3
    assert reader.check().ok
    # Nothing stuck, nothing to repair: the reader-safety counters and repair are reachable.
    assert info["stuck_reader_reports"] == 0 and info["lookups_retried"] == 0
    assert all(not r["withdrawn"] and r["held_back_bytes"] == 0 for r in info["readers"])
    assert store.repair() is False


def test_reader_trusts_a_named_owner_and_refuses_an_unknown_one(store, repo):
    # This process owns the segment: trusting root (uid 0) as well changes nothing.
    reader = larder.OnlineReader(repo[1], owner=0)
    assert reader.get_online_features(FEATURES, [{"driver_id": 1001}]).to_dict()[
        "conv_rate"] == [None]
    with pytest.raises(larder.InvalidArgument, match="no_such_user_of_larder"):
        larder.OnlineReader(repo[1], owner="no_such_user_of_larder")
    assert store.config["online_store"]["owner"] == ""


def test_empty_request(store):
    resp = store.get_online_features(FEATURES[:1], entities={"driver_id": []})
    assert len(resp) == 0
    assert resp.to_dict() == {"driver_id": [], "conv_rate": []}
    assert resp.to_numpy()["conv_rate"].shape == (0,)
    assert resp.to_df().shape == (0, 2)


def test_bad_requests(store):
    rows = [{"driver_id": 1}]
    with pytest.raises(larder.FeatureViewNotFound, match="'nope'"):
        store.get_online_features(["nope:x"], rows)
    with pytest.raises(larder.FeatureNotFound):
        store.get_online_features(["driver_hourly_stats:nope"], rows)
    with pytest.raises(larder.FeatureServiceNotFound):
        store.get_online_features(feature_service="nope", entity_rows=rows)
    with pytest.raises(larder.MissingJoinKey, match="driver_id"):
        store.get_online_features(FEATURES, [{"nobody": 1}])
    with pytest.raises(larder.InvalidArgument, match="not a valid Int64"):
        store.get_online_features(FEATURES, [{"driver_id": "abc"}])
    with pytest.raises(larder.InvalidArgument, match="view:feature|feature_view:feature"):
        store.get_online_features(["conv_rate"], rows)
    with pytest.raises(larder.InvalidArgument, match="same join keys"):
        store.get_online_features(FEATURES, [{"driver_id": 1}, {"driver_id": 2, "x": 3}])
    with pytest.raises(larder.InvalidArgument, match="same join keys"):
        store.get_online_features(FEATURES, [{"driver_id": 1}, {"x": 3}])
    with pytest.raises(larder.InvalidArgument, match="exactly one"):
        store.get_online_features(FEATURES)
    with pytest.raises(larder.InvalidArgument, match="exactly one"):
        store.get_online_features(FEATURES, rows, entities={"driver_id": [1]})
    with pytest.raises(larder.InvalidArgument, match="not both"):
        store.get_online_features(FEATURES, rows, feature_service="driver_activity_v1")
    with pytest.raises(larder.InvalidArgument):
        store.get_online_features(entity_rows=rows)
    with pytest.raises(larder.InvalidArgument, match="has 2 values"):
        store.get_online_features(["rider_city:trips"],
                                  entities={"rider_id": [1], "city_name": ["a", "b"]})
    with pytest.raises(TypeError):
        store.get_online_features("driver_hourly_stats:conv_rate", rows)
    with pytest.raises(TypeError):
        store.get_online_features([1], rows)
    with pytest.raises(TypeError):
        store.get_online_features(FEATURES, [1001])
    with pytest.raises(TypeError):
        store.get_online_features(FEATURES, entities={"driver_id": 1001})
    with pytest.raises(TypeError):
        store.get_online_features(FEATURES, entities={"driver_id": [object()]})
    with pytest.raises(larder.InvalidArgument, match="int64 range"):
        store.get_online_features(FEATURES, [{"driver_id": 2**70}])


def test_schema_changes_keep_rows_and_discarding_needs_force(store, repo):
    """plan() writes nothing; a feature added keeps the rows (old rows read it NOT_FOUND); a
    changed dtype raises InvalidArgument unless apply(force=True)."""
    push_drivers(store)
    yaml_path = repo[0] + "/feature_store.yaml"
    with open(yaml_path) as f:
        original = f.read()
    quality = ("      - {name: conv_rate, dtype: Float32}\n"
               "      - {name: avg_daily_trips, dtype: Int64}\n  - name: driver_fresh")
    assert quality in original
    grown = original.replace(quality, quality.replace(
        "  - name: driver_fresh", "      - {name: rating, dtype: Float64}\n  - name: driver_fresh"))
    with open(yaml_path, "w") as f:
        f.write(grown)
    changed = larder.FeatureStore(repo_path=repo[0])
    plan = changed.plan()
    assert plan.rows_discarded == 0
    assert any("add feature 'rating' (Float64)" in m for m in plan.messages), plan.messages
    report = changed.apply()
    assert report.changed and report.rows_discarded == 0
    got = changed.get_online_features(
        features=["driver_daily_quality:avg_daily_trips", "driver_daily_quality:rating"],
        entity_rows=[{"driver_id": 1001}]).to_dict()
    assert got["avg_daily_trips"] == [27]
    assert got["rating"] == [None]

    retyped = grown.replace("{name: rating, dtype: Float64}", "{name: rating, dtype: Int64}")
    with open(yaml_path, "w") as f:
        f.write(retyped)
    again = larder.FeatureStore(repo_path=repo[0])
    assert again.plan().rows_discarded == 3
    with pytest.raises(larder.InvalidArgument, match="apply would discard 3 rows"):
        again.apply()
    assert again.get_online_features(
        features=["driver_daily_quality:avg_daily_trips"],
        entity_rows=[{"driver_id": 1001}]).to_dict()["avg_daily_trips"] == [27]
    assert again.apply(force=True).rows_discarded == 3
    assert again.get_online_features(
        features=["driver_daily_quality:avg_daily_trips"],
        entity_rows=[{"driver_id": 1001}]).to_dict()["avg_daily_trips"] == [None]
