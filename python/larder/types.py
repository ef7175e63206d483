"""Value types of the Python API: PushMode, FieldStatus and the registry's objects."""

import enum
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Dict, List, Optional, Tuple


class PushMode(enum.Enum):
    """Where a push goes: Feast's PushMode, with Feast's values (feast.data_source.PushMode)."""

    ONLINE = 1
    OFFLINE = 2
    ONLINE_AND_OFFLINE = 3


class FieldStatus(enum.IntEnum):
    """Status of one value in a response (Feast's FieldStatus numbering).

    ``OnlineResponse.statuses()`` returns uint8 arrays of these numbers.
    """

    INVALID = 0
    PRESENT = 1
    NULL_VALUE = 2
    NOT_FOUND = 3
    OUTSIDE_MAX_AGE = 4


@dataclass(frozen=True)
class Field:
    """A feature of a feature view: its name and Larder dtype ("Float32", "Array(String)", ...)."""

    name: str
    dtype: str


@dataclass(frozen=True)
class Entity:
    name: str
    join_keys: List[str]
    value_type: str
    description: str = ""
    tags: Dict[str, str] = field(default_factory=dict)
    owner: str = ""

    @property
    def join_key(self) -> str:
        return self.join_keys[0]


@dataclass(frozen=True)
class DataSource:
    """A file source (type "file", a CSV batch source) or a push source (type "push")."""

    name: str
    type: str
    path: str = ""
    timestamp_field: str = ""
    created_timestamp_column: str = ""
    batch_source: str = ""
    description: str = ""
    tags: Dict[str, str] = field(default_factory=dict)
    owner: str = ""


@dataclass(frozen=True)
class FeatureView:
    name: str
    entities: List[str]
    ttl: Optional[timedelta]  # None: features never expire
    source: str
    online: bool
    features: List[Field]
    join_keys: List[Field]
    description: str = ""
    tags: Dict[str, str] = field(default_factory=dict)
    owner: str = ""

    @property
    def schema(self) -> List[Field]:
        return list(self.join_keys) + list(self.features)

    @property
    def feature_refs(self) -> List[str]:
        return [f"{self.name}:{f.name}" for f in self.features]


@dataclass(frozen=True)
class FeatureService:
    """A named set of features. Pass it as ``features=`` to get_online_features, as in Feast."""

    name: str
    projections: List[Tuple[str, List[str]]]  # (view, features); [] = every feature of the view
    description: str = ""
    tags: Dict[str, str] = field(default_factory=dict)
    owner: str = ""


def _registry_objects(config):
    """Builds the dataclasses above from the extension's registry dict."""
    entities = [Entity(e["name"], list(e["join_keys"]), e["value_type"], e["description"],
                       dict(e["tags"]), e["owner"]) for e in config["entities"]]
    sources = [DataSource(s["name"], s["type"], s["path"], s["timestamp_field"],
                          s["created_timestamp_column"], s["batch_source"], s["description"],
                          dict(s["tags"]), s["owner"]) for s in config["sources"]]
    views = [FeatureView(v["name"], list(v["entities"]),
                         timedelta(seconds=v["ttl_seconds"]) if v["ttl_seconds"] else None,
                         v["source"], v["online"], [Field(n, t) for n, t in v["features"]],
                         [Field(n, t) for n, t in v["join_keys"]], v["description"],
                         dict(v["tags"]), v["owner"]) for v in config["feature_views"]]
    services = [FeatureService(s["name"], [(p["view"], list(p["features"]))
                                           for p in s["projections"]],
                               s["description"], dict(s["tags"]), s["owner"])
                for s in config["feature_services"]]
    return entities, sources, views, services
