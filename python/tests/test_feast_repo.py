"""A Feast repo as `feast apply` leaves it (feature_store.yaml + data/registry.db) opened by
larder.FeatureStore: a Feast model server switches by changing its import, not its repo.

The registry is this project's own seed (fuzz/seeds/feast_registry_push_view_service.txtpb),
encoded by protoc with Larder's wire-compatible messages (engine/feast/feast_registry.proto).
"""

import os
import subprocess
import time

import pandas as pd
import pytest

import larder

from conftest import remove_segment

SOURCE_DIR = os.path.join(os.path.dirname(__file__), "..", "..")

FEAST_YAML = """\
project: rides
registry: data/registry.db
provider: local
online_store:
  type: larder
  path: {segment}
  memory_limit: 16MiB
offline_store:
  type: file
entity_key_serialization_version: 3
"""


@pytest.fixture
def feast_repo(tmp_path):
    segment = f"/dev/shm/larder-pytest-feast-{os.getpid()}"
    os.makedirs(tmp_path / "data")
    seed = os.path.join(SOURCE_DIR, "fuzz", "seeds", "feast_registry_push_view_service.txtpb")
    with open(seed, "rb") as text, open(tmp_path / "data" / "registry.db", "wb") as out:
        subprocess.run(
            ["protoc", "--encode=larder.feast_import.FeastRegistry", "-I", SOURCE_DIR,
             "-I", "/usr/include", os.path.join(SOURCE_DIR, "engine", "feast", "feast_registry.proto")],
            stdin=text, stdout=out, check=True)
    (tmp_path / "feature_store.yaml").write_text(FEAST_YAML.format(segment=segment))
    yield str(tmp_path)
    remove_segment(segment)


def test_feast_repo_serves_with_feast_names(feast_repo):
    store = larder.FeatureStore(repo_path=feast_repo)
    store.apply()
    assert [v.name for v in store.list_feature_views()] == ["driver_hourly"]
    services = store.list_feature_services()
    assert [s.name for s in services] == ["ranking"]
    sources = {s["name"]: s for s in store.config["sources"]}
    assert sources["driver_push"]["type"] == "push"
    assert sources["driver_stats"]["path"] == os.path.join(feast_repo, "data", "driver_stats.parquet")
    df = pd.DataFrame({"driver_id": [1001], "conv_rate": [0.25], "trips": [3],
                       "cities": [["Oslo", "Bergen"]],
                       "event_timestamp": [pd.Timestamp(time.time(), unit="s", tz="UTC")]})
    store.push("driver_push", df)
    got = store.get_online_features(features=services[0], entity_rows=[{"driver_id": 1001}]).to_dict()
    assert got["conv_rate"] == [0.25]
    got = store.get_online_features(features=["driver_hourly:cities"],
                                    entity_rows=[{"driver_id": 1001}]).to_dict()
    assert got["cities"] == [["Oslo", "Bergen"]]


def test_feast_yaml_with_another_online_store_is_refused(feast_repo):
    path = os.path.join(feast_repo, "feature_store.yaml")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace("type: larder", "type: sqlite"))
    with pytest.raises(larder.ConfigError, match="type 'sqlite' is another Feast online store"):
        larder.FeatureStore(repo_path=feast_repo)
