"""Errors: one LarderError subclass per engine error code, with the engine's code and message."""

import os
import pickle

import pytest

import larder
from larder import _larder


def test_one_class_per_engine_code():
    codes = _larder.error_codes()
    assert len(codes) >= 17
    for number, name in codes:
        cls = getattr(larder, name)
        assert issubclass(cls, larder.LarderError), name
        assert cls.code == name and cls.code_number == number
        assert name in larder.__all__


def test_builtin_bases():
    assert issubclass(larder.InvalidArgument, ValueError)
    assert issubclass(larder.MissingJoinKey, ValueError)
    assert issubclass(larder.FeatureViewNotFound, LookupError)
    assert issubclass(larder.PushSourceNotFound, LookupError)
    assert issubclass(larder.Unsupported, NotImplementedError)


def test_engine_errors_carry_code_and_message(store):
    with pytest.raises(larder.LarderError) as e:
        store.get_online_features(["nope:x"], [{"driver_id": 1}])
    assert type(e.value) is larder.FeatureViewNotFound
    assert e.value.code == "FeatureViewNotFound" and e.value.code_number == 3
    assert e.value.message == str(e.value) == "feature view 'nope' is not in the registry"
    err = pickle.loads(pickle.dumps(e.value))
    assert type(err) is larder.FeatureViewNotFound and err.message == e.value.message


def test_store_not_found(tmp_path):
    with pytest.raises(larder.StoreNotFound):
        larder.OnlineReader(str(tmp_path / "no-such-segment"))


def test_store_not_applied(repo):
    store = larder.FeatureStore(repo[0])
    with pytest.raises(larder.StoreNotFound):
        store.get_online_features(["driver_hourly_stats:conv_rate"], [{"driver_id": 1}])


def test_incompatible_store(tmp_path):
    path = tmp_path / "not-a-segment"
    path.write_bytes(b"x" * 8192)
    with pytest.raises((larder.IncompatibleStore, larder.CorruptStore)):
        larder.OnlineReader(str(path))


def test_config_error_names_line_and_column(tmp_path):
    (tmp_path / "feature_store.yaml").write_text(
        "project: p\nentities:\n  - {name: driver, join_keys: [driver_id], value_type: Int64}\n"
        "feature_views:\n  - name: v\n    entities: [drivr]\n    source: s\n")
    with pytest.raises(larder.ConfigError) as e:
        larder.FeatureStore(repo_path=str(tmp_path))
    assert "feature_store.yaml:" in str(e.value)
    with pytest.raises(larder.ConfigError):
        larder.FeatureStore(repo_path=str(tmp_path / "missing"))


def test_fs_yaml_file(repo):
    store = larder.FeatureStore(fs_yaml_file=os.path.join(repo[0], "feature_store.yaml"))
    assert store.segment_path == repo[1]
    with pytest.raises(larder.Unsupported):
        larder.FeatureStore(fs_yaml_file=os.path.join(repo[0], "other.yaml"))


def test_registry_lookups(store):
    with pytest.raises(larder.FeatureViewNotFound):
        store.get_feature_view("nope")
    with pytest.raises(larder.FeatureServiceNotFound):
        store.get_feature_service("nope")
    assert store.get_entity("driver").join_key == "driver_id"
    assert {s.name: s.type for s in store.list_data_sources()}["driver_stats_push"] == "push"
    svc = store.get_feature_service("driver_activity_v1")
    assert svc.projections == [("driver_hourly_stats", ["conv_rate", "avg_daily_trips"]),
                               ("driver_daily_quality", [])]
    assert store.project == "pytest_repo"
