"""FeatureStore (a feature repo, writer-capable) and OnlineReader (a segment, read-only).

Both read through the C++ extension directly: ``get_online_features`` is the extension's method
(no Python frame in between) and releases the GIL during the lookup.
"""

import os
from typing import List, Optional

from . import _larder
from ._convert import frame_columns
from .errors import (FeatureServiceNotFound, FeatureViewNotFound, InvalidArgument, LarderError,
                     Unsupported)
from .types import PushMode, _registry_objects

__all__ = ["FeatureStore", "OnlineReader", "RetrievalJob"]


class RetrievalJob:
    """The result of get_historical_features (Feast's RetrievalJob): ``to_df()``."""

    def __init__(self, entity_df, columns, dtypes):
        self._entity_df = entity_df
        self._columns = columns  # [(name, [value per row])]
        self._dtypes = dtypes    # output name -> Larder dtype

    @property
    def feature_names(self):
        return [name for name, _ in self._columns]

    def to_df(self):
        import pandas as pd

        out = self._entity_df.copy()
        for name, values in self._columns:
            dtype = self._dtypes.get(name, "")
            if dtype == "UnixTimestamp":
                values = pd.to_datetime(values, utc=True)
            elif dtype == "Array(UnixTimestamp)":
                values = [None if v is None else list(pd.to_datetime(v, utc=True))
                          for v in values]
            elif dtype.startswith("Array"):
                values = pd.Series(values, dtype=object, index=out.index)
            out[name] = values if not isinstance(values, pd.Series) else values.to_numpy()
        return out

    def to_dict(self):
        return {name: list(values) for name, values in self.to_df().items()}


def _no_version(version):
    if version is not None:
        raise InvalidArgument(f"version {version!r}: Larder keeps no feature view versions")


def _push_mode(to):
    if isinstance(to, PushMode):
        return to.name.lower()
    if isinstance(to, str):
        return to.lower()
    name = getattr(to, "name", None)  # e.g. feast.data_source.PushMode
    if isinstance(name, str):
        return name.lower()
    raise TypeError(f"to must be a larder.PushMode, not {type(to).__name__!r}")


def _with_tags(objects, tags):
    if not tags:
        return objects
    return [o for o in objects
            if all((getattr(o, "tags", None) or {}).get(k) == v for k, v in tags.items())]


class _RegistryMixin:
    """Registry listings shared by FeatureStore (from the YAML) and OnlineReader (the segment)."""

    def _objects(self):
        return _registry_objects(self._config())

    @property
    def project(self) -> str:
        return self._config()["project"]

    def list_entities(self):
        return self._objects()[0]

    def list_data_sources(self):
        return self._objects()[1]

    def list_feature_views(self, allow_cache: bool = False, tags: Optional[dict] = None):
        """The feature views (Feast's list_feature_views). allow_cache is accepted and ignored
        (the registry is read fresh every time); tags keeps the views holding every given
        tag with its value, as Feast filters."""
        del allow_cache
        return _with_tags(self._objects()[2], tags)

    def list_stream_feature_views(self, allow_cache: bool = False, tags: Optional[dict] = None):
        """Always empty: Larder's views are all plain feature views (a push source feeds them)."""
        del allow_cache, tags
        return []

    def list_on_demand_feature_views(self, allow_cache: bool = False,
                                     tags: Optional[dict] = None):
        """Always empty: Larder runs no on-demand transformations."""
        del allow_cache, tags
        return []

    def list_feature_services(self, tags: Optional[dict] = None):
        """The feature services (Feast's list_feature_services), filtered by tags as Feast does."""
        return _with_tags(self._objects()[3], tags)

    def refresh_registry(self):
        """Feast's refresh_registry. A no-op here: every call reads the registry as it is now
        (the segment's registry is shared memory; there is no cache to refresh)."""

    def get_entity(self, name: str, allow_registry_cache: bool = False):
        for e in self.list_entities():
            if e.name == name:
                return e
        raise LarderError(f"entity '{name}' is not in the registry")

    def get_feature_view(self, name: str, allow_registry_cache: bool = False):
        for v in self.list_feature_views():
            if v.name == name:
                return v
        raise FeatureViewNotFound(f"feature view '{name}' is not in the registry")

    def get_feature_service(self, name: str, allow_cache: bool = False):
        for s in self.list_feature_services():
            if s.name == name:
                return s
        raise FeatureServiceNotFound(f"feature service '{name}' is not in the registry")


class FeatureStore(_RegistryMixin, _larder._Store):
    """A Larder feature repo: reads ``<repo_path>/feature_store.yaml``; applies, pushes, reads.

    >>> store = larder.FeatureStore(repo_path="examples/driver_stats")
    >>> store.apply()
    >>> store.push("driver_stats_push", df)
    >>> store.get_online_features(features=["driver_hourly_stats:conv_rate"],
    ...                           entity_rows=[{"driver_id": 1001}]).to_dict()

    Raises ConfigError (naming file, line and column) when the YAML is invalid. Every method
    may be called from many threads at once; writes serialize on the store's writer lock.
    """

    def __init__(self, repo_path=".", fs_yaml_file=None):
        if fs_yaml_file is not None:
            fs_yaml_file = os.fspath(fs_yaml_file)
            if os.path.basename(fs_yaml_file) != "feature_store.yaml":
                raise Unsupported("Larder reads the repo's feature_store.yaml: pass repo_path")
            repo_path = os.path.dirname(fs_yaml_file) or "."
        self.repo_path = os.fspath(repo_path if repo_path is not None else ".")
        super().__init__(self.repo_path)

    def __repr__(self):
        return f"larder.FeatureStore(repo_path={self.repo_path!r})"

    @property
    def segment_path(self) -> str:
        """The online store's segment file (online_store.path)."""
        return self._config()["online_store"]["path"]

    @property
    def config(self) -> dict:
        """The repo's configuration, as parsed from feature_store.yaml."""
        return self._config()

    def push(self, push_source_name: str, df, allow_registry_cache: bool = True,
             to=PushMode.ONLINE, transform_on_write: bool = True):
        """Pushes rows to every feature view reading ``push_source_name`` (Feast's push).

        df: a pandas DataFrame or a dict of columns (lists or numpy arrays). It needs the join
        keys, the features and the batch source's timestamp_field (and optionally its
        created_timestamp_column). Timestamps may be pandas/numpy datetimes (naive = UTC,
        tz-aware converted), datetime objects, RFC 3339 strings or epoch seconds. NaN, None,
        NaT and pd.NA are nulls. The whole push is validated before anything is written.

        When the features of a view are null in every row, nothing is written to that view, as
        Feast skips a frame of null features; rows_all_null counts those rows.

        Returns a PushResult (rows_in, views, rows_written, rows_skipped, rows_all_null).
        Raises PushSourceNotFound, InvalidArgument (naming the row and column), StoreFull,
        Busy. The GIL is released while the rows are written. allow_registry_cache and
        transform_on_write are accepted and ignored (the registry is always current; there are
        no on-demand transformations to run).
        """
        del allow_registry_cache, transform_on_write
        return self._push(push_source_name, frame_columns(df), _push_mode(to))

    def write_to_online_store(self, feature_view_name: str, df=None, inputs=None,
                              allow_registry_cache: bool = True, transform_on_write: bool = True):
        """Writes rows to one feature view (Feast's write_to_online_store). df (or inputs, a
        dict of columns, as Feast takes it) as for push; the other arguments are ignored."""
        del allow_registry_cache, transform_on_write
        if df is None:
            df = inputs
        if df is None:
            raise InvalidArgument("write_to_online_store needs df or inputs")
        return self._write_to_online_store(feature_view_name, frame_columns(df))

    def materialize(self, start_date, end_date, feature_views: Optional[List[str]] = None,
                    disable_event_timestamp: bool = False, full_feature_names: bool = False,
                    version: Optional[str] = None, force: bool = False, run_async: bool = False):
        """Loads each view's batch-source rows with start_date <= ts <= end_date into the online
        store (the latest per entity). Dates: datetimes (naive = UTC), strings or epoch
        seconds. disable_event_timestamp: every row up to now instead (dates ignored), written
        with now as its event timestamp, as Feast does. full_feature_names, force and run_async
        (Feast's remote-server options) are accepted and ignored; version must be None (Larder
        keeps no feature view versions)."""
        del full_feature_names, force, run_async
        _no_version(version)
        if disable_event_timestamp:
            return self._materialize_as_of_now(feature_views)
        return self._materialize(_larder.to_micros(start_date), _larder.to_micros(end_date),
                                 feature_views)

    def materialize_incremental(self, end_date, feature_views: Optional[List[str]] = None,
                                full_feature_names: bool = False, version: Optional[str] = None,
                                force: bool = False, run_async: bool = False):
        """Materializes from each view's last materialized end to end_date (other arguments as
        for materialize)."""
        del full_feature_names, force, run_async
        _no_version(version)
        return self._materialize_incremental(_larder.to_micros(end_date), feature_views)

    def get_historical_features(self, entity_df, features=None, full_feature_names=False, *,
                                feature_service=None):
        """Feast's point-in-time join against the batch sources (the offline store).

        entity_df: a pandas DataFrame (or dict of columns) with the join keys and an
        ``event_timestamp`` column; each row gets every feature's value as of that time (the
        latest batch-source row at or before it, within the view's ttl), or null.
        features: "view:feature" references or a FeatureService; or feature_service=name.
        Returns a RetrievalJob; ``.to_df()`` is entity_df's columns followed by the features.
        The GIL is released while the batch sources are read.
        """
        import pandas as pd

        if not isinstance(entity_df, pd.DataFrame):
            entity_df = pd.DataFrame(entity_df)
        columns = self._get_historical_features(frame_columns(entity_df), features,
                                                feature_service, full_feature_names)
        dtypes = self._output_dtypes(features, feature_service, full_feature_names)
        return RetrievalJob(entity_df, columns, dtypes)

    def _output_dtypes(self, features, feature_service, full):
        views = {v.name: v for v in self.list_feature_views()}
        refs = []
        if feature_service is None and features is not None and not isinstance(features,
                                                                               (list, tuple)):
            feature_service = features
        if feature_service is not None:
            name = feature_service if isinstance(feature_service, str) else feature_service.name
            for view, names in self.get_feature_service(name).projections:
                v = views.get(view)
                for f in (v.features if v else []):
                    if not names or f.name in names:
                        refs.append((view, f.name, f.dtype))
        else:
            for ref in features or []:
                view, _, feat = ref.partition(":")
                for f in (views[view].features if view in views else []):
                    if f.name == feat:
                        refs.append((view, feat, f.dtype))
        return {(f"{view}__{feat}" if full else feat): dtype for view, feat, dtype in refs}

    def online_reader(self) -> "OnlineReader":
        """A read-only OnlineReader of this repo's segment."""
        owner = self._config()["online_store"]["owner"]
        return OnlineReader(self.segment_path, owner=owner or None)


class OnlineReader(_RegistryMixin, _larder._Reader):
    """A read-only attachment to an online store's segment: all a model server needs.

    >>> reader = larder.OnlineReader("/dev/shm/larder-driver_stats")
    >>> reader.get_online_features(features=[...], entities={"driver_id": ids}).to_numpy()

    The segment is mapped read-only; the process writes only its reader slots. Share one
    reader per process: each thread that reads takes a slot of its own (1024 per store).
    Raises StoreNotFound, IncompatibleStore, CorruptStore.
    """

    def __init__(self, segment_path, owner=None):
        # owner: the user (name or uid) whose segment is trusted besides this process's user
        # and root (online_store.owner); a segment of anyone else is refused.
        self.segment_path = os.fspath(segment_path)
        super().__init__(self.segment_path, "" if owner is None else str(owner))

    def __repr__(self):
        return f"larder.OnlineReader({self.segment_path!r})"

    def registry(self) -> dict:
        """The registry stored in the segment (as a dict)."""
        return self._config()
