"""push / write_to_online_store from pandas and dicts: dtypes, timestamps, nulls, errors."""

import os
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

import larder
from larder import _larder

TS_FEATURES = ["driver_hourly_stats:conv_rate"]


def driver_df(n=3, **overrides):
    df = {
        "driver_id": list(range(1, n + 1)),
        "event_timestamp": pd.to_datetime(["2026-11-02 09:00:00"] * n),
        "conv_rate": [0.5] * n,
        "acc_rate": [0.25] * n,
        "avg_daily_trips": [1] * n,
        "top_cities": [["a"]] * n,
    }
    df.update(overrides)
    return pd.DataFrame(df)


TYPED = ["i32", "i64", "f32", "f64", "s", "b", "flag", "when", "ai32", "ai64", "af32", "af64",
         "astr", "abytes", "abool", "ats"]


def typed(n=1, **columns):
    """A push to typed_push: every feature null unless given."""
    out = {"driver_id": list(range(1, n + 1)), "ts": ["2026-01-01T00:00:00Z"] * n}
    out.update({name: [None] * n for name in TYPED})
    out.update(columns)
    return out


def event_ts(store, ids):
    resp = store.get_online_features(TS_FEATURES, entities={"driver_id": ids})
    return resp.event_timestamps()["conv_rate"]


def us(text):
    return np.datetime64(text, "us")


def test_timestamp_forms(store):
    # Each driver's row carries the same instant in another form; naive means UTC.
    instant = "2026-11-02T09:00:00.123456"
    forms = [
        pd.Timestamp(instant),                                        # naive datetime64[ns]
        pd.Timestamp(instant, tz="UTC").tz_convert("Europe/Paris"),   # tz-aware
        "2026-11-02T09:00:00.123456Z",                                # RFC 3339
        "2026-11-02 10:00:00.123456+01:00",
        datetime(2026, 11, 2, 9, 0, 0, 123456),                       # naive datetime
        datetime(2026, 11, 2, 11, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
        np.datetime64(instant, "ns"),
        1793610000.123456,                                            # epoch seconds
    ]
    for i, value in enumerate(forms):
        df = driver_df(1, driver_id=[100 + i])
        df["event_timestamp"] = [value]
        store.push("driver_stats_push", df)
    got = event_ts(store, np.arange(100, 100 + len(forms)))
    assert got.tolist() == [us(instant).item()] * len(forms)


def test_timestamp_columns_by_dtype(store):
    base = pd.Timestamp("2026-11-02 09:00:00.654321")
    cols = {
        "ns": pd.Series([base]),
        "us": np.array([base.to_datetime64()], dtype="datetime64[us]"),
        "tz": pd.Series([base]).dt.tz_localize("UTC").dt.tz_convert("America/New_York"),
        "str": ["2026-11-02T09:00:00.654321Z"],
        "obj": pd.Series([base.to_pydatetime()], dtype=object),
    }
    for i, (name, col) in enumerate(cols.items()):
        store.push("driver_stats_push", {"driver_id": [200 + i], "event_timestamp": col,
                                         "conv_rate": [1.0], "acc_rate": [1.0],
                                         "avg_daily_trips": [1], "top_cities": [[]]})
    assert event_ts(store, list(range(200, 200 + len(cols)))).tolist() == [
        base.to_datetime64().astype("datetime64[us]").item()] * len(cols)
    # Epoch integers are seconds.
    store.push("driver_stats_push", {"driver_id": [300], "event_timestamp": [1793610000],
                                     "conv_rate": [1.0], "acc_rate": [1.0],
                                     "avg_daily_trips": [1], "top_cities": [[]]})
    assert event_ts(store, [300])[0] == us("2026-11-02T09:00:00")


def test_nanoseconds_are_floored_to_microseconds(store):
    df = driver_df(2)
    df["event_timestamp"] = pd.to_datetime(["2026-11-02 09:00:00.000001999",
                                            "1969-12-31 23:59:59.999999999"])
    store.push("driver_stats_push", df)
    assert event_ts(store, [1, 2]).tolist() == [
        us("2026-11-02T09:00:00.000001").item(), us("1969-12-31T23:59:59.999999").item()]


def test_timestamp_cells_are_exact():
    # Whole seconds travel as Int cells, fractions as Double seconds when the engine's
    # round(d * 1e6) gives the same microsecond back, else as RFC 3339 text (checked end to end
    # in test_timestamp_round_trip_random).
    assert _larder._timestamp_cell(1_793_610_000_000_000) == ("int", 1_793_610_000)
    assert _larder._timestamp_cell(1_793_610_000_123_456) == ("double", 1793610000.123456)
    assert _larder._timestamp_cell(253_402_300_799_999_999) == (
        "string", "9999-12-31T23:59:59.999999Z")
    rng = np.random.default_rng(1)
    kinds = {_larder._timestamp_cell(int(v))[0] for v in rng.integers(0, 4_102_444_800_000_000,
                                                                       10_000)}
    assert kinds <= {"int", "double"}  # 1970..2100: always a number


def test_timestamp_round_trip_random(store):
    rng = np.random.default_rng(2)
    micros = np.concatenate([
        rng.integers(0, 4_102_444_800_000_000, 500),               # 1970 .. 2100
        rng.integers(-62_135_596_800_000_000, 253_402_300_799_999_999, 500),  # years 1 .. 9999
        np.array([0, 1, -1, 999_999, 253_402_300_799_999_999, -62_135_596_800_000_000]),
    ]).astype(np.int64)
    n = len(micros)
    store.push("driver_stats_push", {
        "driver_id": np.arange(n), "event_timestamp": micros.astype("datetime64[us]"),
        "conv_rate": np.zeros(n), "acc_rate": np.zeros(n), "avg_daily_trips": np.zeros(n, int),
        "top_cities": [[]] * n})
    resp = store.get_online_features(TS_FEATURES, entities={"driver_id": np.arange(n)})
    got = resp.event_timestamps()["conv_rate"].astype(np.int64)
    # The engine reports unknown timestamps as NaT only for missing rows; every row is present.
    assert (resp.statuses()["conv_rate"] != larder.FieldStatus.NOT_FOUND).all()
    np.testing.assert_array_equal(got, micros)


def test_every_dtype_from_numpy_and_lists(store):
    n = 3
    cols = {
        "driver_id": np.arange(1, n + 1, dtype=np.int64),
        "ts": pd.Series(pd.to_datetime(["2026-01-01"] * n)),
        "i32": np.array([-2**31, 0, 2**31 - 1], dtype=np.int64),
        "i64": np.array([-2**63, 0, 2**63 - 1], dtype=np.int64),
        "f32": np.array([0.1, -1.5, np.inf], dtype=np.float32),
        "f64": np.array([0.1, -1e300, 5e-324]),
        "s": np.array(["a", "ü", ""]),
        "b": [b"\x00", bytearray(b"\xff"), memoryview(b"z")],
        "flag": np.array([True, False, True]),
        "when": pd.to_datetime(["2026-01-01 00:00:00.5", "1970-01-01", "2000-02-29"]),
        "ai32": [[1, 2], np.array([3], dtype=np.int8), []],
        "ai64": np.array([[1, 2], [3, 4], [5, 6]], dtype=np.int64),  # 2-D: one array per row
        "af32": np.array([[0.5], [1.5], [2.5]], dtype=np.float32),
        "af64": [(1.0, 2.0), [], [np.float64(3)]],
        "astr": [["x", "y"], [], ["z"]],
        "abytes": [[b"1"], [], [b"2", b"3"]],
        "abool": [[True], [False, np.bool_(True)], []],
        "ats": [[pd.Timestamp("2026-01-01")], ["2026-01-02T00:00:00Z"], []],
    }
    r = store.push("typed_push", cols)
    assert r.rows_written == n
    names = [c for c in cols if c not in ("driver_id", "ts")]
    d = store.get_online_features(["typed:" + c for c in names],
                                  entities={"driver_id": cols["driver_id"]}).to_dict()
    assert d["i32"] == [-2**31, 0, 2**31 - 1]
    assert d["i64"] == [-2**63, 0, 2**63 - 1]
    assert d["f32"] == [float(np.float32(0.1)), -1.5, float("inf")]
    assert d["f64"] == [0.1, -1e300, 5e-324]
    assert d["s"] == ["a", "ü", ""]
    assert d["b"] == [b"\x00", b"\xff", b"z"]
    assert d["flag"] == [True, False, True]
    assert d["when"] == [datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=timezone.utc),
                         datetime(1970, 1, 1, tzinfo=timezone.utc),
                         datetime(2000, 2, 29, tzinfo=timezone.utc)]
    assert d["ai32"] == [[1, 2], [3], []]
    assert d["ai64"] == [[1, 2], [3, 4], [5, 6]]
    assert d["af32"] == [[0.5], [1.5], [2.5]]
    assert d["af64"] == [[1.0, 2.0], [], [3.0]]
    assert d["astr"] == [["x", "y"], [], ["z"]]
    assert d["abytes"] == [[b"1"], [], [b"2", b"3"]]
    assert d["abool"] == [[True], [False, True], []]
    assert d["ats"] == [[datetime(2026, 1, 1, tzinfo=timezone.utc)],
                        [datetime(2026, 1, 2, tzinfo=timezone.utc)], []]


def test_nulls(store):
    df = pd.DataFrame(typed(4))
    df = df.assign(**{
        "ts": pd.to_datetime(["2026-01-01"] * 4),
        "i64": pd.array([1, None, 3, None], dtype="Int64"),          # nullable: mask
        "f64": [1.0, np.nan, None, 4.0],                              # NaN is null (Feast)
        "s": pd.array(["a", None, pd.NA, "d"], dtype="string"),
        "flag": pd.array([True, None, False, None], dtype="boolean"),
        "i32": pd.Series([1, None, 3, 4], dtype=object),
        "when": pd.to_datetime(["2026-01-01", None, "2026-01-03", None]),  # NaT
        "b": [b"x", None, np.nan, pd.NA],
    })
    df["f32"] = pd.Series([1.5, 2.5, None, 0.0], dtype="Float32")
    store.push("typed_push", df)
    names = ["i64", "f64", "s", "flag", "i32", "when", "b", "f32"]
    resp = store.get_online_features(["typed:" + n for n in names],
                                     entities={"driver_id": [1, 2, 3, 4]})
    st = resp.statuses()
    P, N = larder.FieldStatus.PRESENT, larder.FieldStatus.NULL_VALUE
    assert st["i64"].tolist() == [P, N, P, N]
    assert st["f64"].tolist() == [P, N, N, P]
    assert st["s"].tolist() == [P, N, N, P]
    assert st["flag"].tolist() == [P, N, P, N]
    assert st["i32"].tolist() == [P, N, P, P]
    assert st["when"].tolist() == [P, N, P, N]
    assert st["b"].tolist() == [P, N, N, N]
    assert st["f32"].tolist() == [P, P, N, P]
    assert resp.to_dict()["i64"] == [1, None, 3, None]


def test_categorical_and_unsigned_columns(store):
    store.push("city_push", pd.DataFrame({
        "ts": ["2026-01-01T00:00:00Z"] * 3,
        "city_name": pd.Categorical(["Paris", "Lyon", "Paris"]),
        "rider_id": np.array([1, 2, 3], dtype=np.uint8),
        "population": np.array([10, 20, 30], dtype=np.uint64),
        "trips": pd.Categorical([1, 2, 3]),
    }))
    d = store.get_online_features(["city_stats:population"],
                                  entities={"city_name": ["Paris", "Lyon"]}).to_dict()
    assert d["population"] == [30, 20]


def test_push_is_validated_whole(store):
    df = driver_df(3)
    df["avg_daily_trips"] = [1, 2, "x"]
    with pytest.raises(larder.InvalidArgument) as e:
        store.push("driver_stats_push", df)
    assert "row 3" in str(e.value) and "avg_daily_trips" in str(e.value)
    assert e.value.code == "InvalidArgument"
    # Nothing was written, not even the good rows.
    resp = store.get_online_features(TS_FEATURES, entities={"driver_id": [1, 2]})
    assert resp.statuses()["conv_rate"].tolist() == [larder.FieldStatus.NOT_FOUND] * 2


def test_push_errors(store):
    with pytest.raises(larder.PushSourceNotFound):
        store.push("nope", driver_df())
    with pytest.raises(larder.InvalidArgument, match="conv_rate"):
        store.push("driver_stats_push", driver_df().drop(columns=["conv_rate"]))
    with pytest.raises(larder.InvalidArgument, match="timestamp"):
        store.push("driver_stats_push", driver_df(event_timestamp=["not a time"] * 3))
    with pytest.raises(larder.InvalidArgument, match="event_timestamp"):
        store.push("driver_stats_push", driver_df(event_timestamp=[pd.NaT] * 3))
    with pytest.raises(larder.InvalidArgument, match="Int32"):
        store.push("typed_push", typed(i32=[2**31]))
    with pytest.raises(larder.InvalidArgument, match="int64 range"):
        store.push("typed_push", typed(i64=[2**64]))
    with pytest.raises(larder.InvalidArgument, match="int64 range"):
        store.push("typed_push", typed(i64=np.array([2**64 - 1], dtype=np.uint64)))
    with pytest.raises(TypeError, match="column 'i64' row 1"):
        store.push("typed_push", typed(i64=[{"a": 1}]))
    with pytest.raises(TypeError, match="timedelta"):
        store.push("typed_push", pd.DataFrame(typed(i64=[pd.Timedelta(1)])))
    with pytest.raises(TypeError):
        store.push("typed_push", [1, 2, 3])
    with pytest.raises(TypeError):
        store.push("typed_push", {"driver_id": 1})
    with pytest.raises(larder.InvalidArgument, match="has 1 values"):
        store.push("typed_push", {"driver_id": [1, 2], "ts": [0]})
    with pytest.raises(larder.InvalidArgument, match="push mode"):
        store.push("driver_stats_push", driver_df(), to="sideways")


def test_push_modes_and_ordering(store):
    df = driver_df(1)
    for to in (larder.PushMode.ONLINE, "online", "ONLINE"):
        assert store.push("driver_stats_push", df, to=to).rows_written == 3
    # An older row does not replace a newer one (the ordered write rule).
    older = driver_df(1, conv_rate=[0.125], event_timestamp=pd.to_datetime(["2026-11-01"]))
    r = store.push("driver_stats_push", older)
    assert r.rows_skipped == 3 and r.rows_written == 0
    assert store.get_online_features(TS_FEATURES, [{"driver_id": 1}]).to_dict()[
        "conv_rate"] == [0.5]


def test_push_offline_modes(store, repo):
    df = driver_df(1, conv_rate=[0.75])
    df["created"] = df["event_timestamp"]
    df = df[["event_timestamp", "created", "driver_id", "conv_rate", "acc_rate",
             "avg_daily_trips", "top_cities"]]
    try:
        store.push("driver_stats_push", df, to=larder.PushMode.ONLINE_AND_OFFLINE)
    except larder.Unsupported:
        pytest.skip("this build has no offline store")
    assert store.get_online_features(TS_FEATURES, [{"driver_id": 1}]).to_dict()[
        "conv_rate"] == [0.75]
    with open(f"{repo[0]}/data/driver_stats.csv") as f:
        assert len(f.read().strip().splitlines()) == 2  # header + the pushed row


def test_push_offline_to_a_parquet_directory(tmp_path):
    # The driver source as a directory of Parquet part files: each offline push adds one part,
    # which materialize reads back; a single .parquet file source refuses offline pushes.
    import conftest
    d = str(tmp_path)
    yaml_text = conftest.REPO_YAML.replace("path: data/driver_stats.csv", "path: data/driver_stats/")
    segment = conftest.make_repo(d, yaml_text)
    try:
        s = larder.FeatureStore(repo_path=d)
        s.apply()
        df = driver_df(2, conv_rate=[0.75, 0.5])
        df["created"] = df["event_timestamp"]
        try:
            s.push("driver_stats_push", df, to=larder.PushMode.OFFLINE)
        except larder.Unsupported:
            pytest.skip("this build has no offline store")
        s.push("driver_stats_push", df.iloc[:1], to=larder.PushMode.OFFLINE)
        parts = sorted(os.listdir(f"{d}/data/driver_stats"))
        assert len(parts) == 2 and all(p.startswith("part-") and p.endswith(".parquet")
                                       for p in parts)
        assert s.get_online_features(TS_FEATURES, [{"driver_id": 1}]).to_dict()[
            "conv_rate"] == [None]
        s.materialize("2020-01-01T00:00:00Z", "2030-01-01T00:00:00Z")
        assert s.get_online_features(TS_FEATURES, [{"driver_id": 1}]).to_dict()[
            "conv_rate"] == [0.75]
        s.teardown()
    finally:
        conftest.remove_segment(segment)

    single = str(tmp_path / "single")
    os.makedirs(single)
    yaml_text = conftest.REPO_YAML.replace("path: data/driver_stats.csv",
                                           "path: data/driver_stats.parquet")
    segment = conftest.make_repo(single, yaml_text)
    try:
        s = larder.FeatureStore(repo_path=single)
        s.apply()
        with pytest.raises(larder.DataSourceError, match="single Parquet file"):
            s.push("driver_stats_push", driver_df(1, conv_rate=[0.75]),
                   to=larder.PushMode.OFFLINE)
        assert not os.path.exists(f"{single}/data/driver_stats.parquet")
        s.teardown()
    finally:
        conftest.remove_segment(segment)


def test_write_to_online_store(store):
    r = store.write_to_online_store("driver_daily_quality", {
        "driver_id": [5], "event_timestamp": ["2026-01-01T00:00:00Z"],
        "conv_rate": [0.25], "avg_daily_trips": [9]})
    assert r.rows_written == 1 and r.views == 1
    d = store.get_online_features(["driver_daily_quality:conv_rate",
                                   "driver_hourly_stats:conv_rate"],
                                  [{"driver_id": 5}], full_feature_names=True).to_dict()
    assert d["driver_daily_quality__conv_rate"] == [0.25]
    assert d["driver_hourly_stats__conv_rate"] == [None]
    with pytest.raises(larder.FeatureViewNotFound):
        store.write_to_online_store("nope", {"driver_id": [5]})


def test_large_push_and_read_back(store):
    n = 50_000
    rng = np.random.default_rng(3)
    rates = rng.random(n, dtype=np.float32)
    df = pd.DataFrame({"driver_id": np.arange(n), "event_timestamp": pd.Timestamp("2026-01-01"),
                       "conv_rate": rates, "acc_rate": rates, "avg_daily_trips": np.arange(n),
                       "top_cities": [["x"]] * n})
    assert store.push("driver_stats_push", df).rows_written == 3 * n
    keys = rng.integers(0, n, 1000)
    a = store.get_online_features(["driver_hourly_stats:conv_rate",
                                   "driver_hourly_stats:avg_daily_trips"],
                                  entities={"driver_id": keys}).to_numpy()
    np.testing.assert_array_equal(a["conv_rate"], rates[keys])
    np.testing.assert_array_equal(a["avg_daily_trips"], keys)
