"""Larder for Python: Feast-style online features from shared memory, in microseconds.

    import larder
    store = larder.FeatureStore(repo_path="examples/driver_stats")   # writer-capable
    store.push("driver_stats_push", df, to=larder.PushMode.ONLINE)
    resp = store.get_online_features(features=["driver_hourly_stats:conv_rate"],
                                     entity_rows=[{"driver_id": 1001}])
    resp.to_dict(); resp.to_df(); resp.to_numpy(); resp.statuses()

    reader = larder.OnlineReader("/dev/shm/larder-driver_stats")    # read-only processes

Errors are larder.LarderError subclasses named after the engine's codes. See docs/python.md.
"""

from . import _larder
from .errors import *  # noqa: F401,F403
from .errors import __all__ as _error_names
from .feature_store import FeatureStore, OnlineReader
from .types import DataSource, Entity, FeatureService, FeatureView, Field, FieldStatus, PushMode

OnlineResponse = _larder.OnlineResponse
PushResult = _larder.PushResult
ApplyReport = _larder.ApplyReport
CheckReport = _larder.CheckReport
MaterializeResult = _larder.MaterializeResult
to_micros = _larder.to_micros

__version__ = _larder.__version__


def _to_df(self, include_event_timestamps=False):
    """A pandas DataFrame: the same as pd.DataFrame(self.to_dict(include_event_timestamps)),
    as in Feast, with numeric features built from arrays rather than per-value objects."""
    import pandas as pd

    if len(self) == 0:
        return pd.DataFrame(self.to_dict(include_event_timestamps))
    return pd.DataFrame(self._df_columns(include_event_timestamps))


OnlineResponse.to_df = _to_df

__all__ = [
    "FeatureStore", "OnlineReader", "OnlineResponse", "PushMode", "FieldStatus", "PushResult",
    "ApplyReport", "CheckReport", "MaterializeResult", "Entity", "DataSource", "FeatureView",
    "FeatureService", "Field", "to_micros",
] + list(_error_names)
