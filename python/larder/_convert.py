"""pandas DataFrames and dicts of columns → the (name, values, mask) columns the extension reads.

numpy columns are handed over as they are (the extension reads their buffers). pandas' own
dtypes are normalized here:

* datetime64 (naive: UTC) stays datetime64; tz-aware datetimes are converted to UTC first;
* nullable Int64 / boolean / Float64 become a numpy array plus a null mask;
* string, categorical and other extension dtypes become object arrays (pd.NA → None).

NaN and None (and NaT, pd.NA) are nulls, as in Feast.
"""

import numpy as np


def _is_pandas(obj):
    return type(obj).__module__.split(".", 1)[0] == "pandas"


def _series_column(s):
    """A pandas Series → (values, mask or None)."""
    dt = s.dtype
    if isinstance(dt, np.dtype):
        if dt.kind == "m":
            raise TypeError(f"column {s.name!r}: timedelta values are not supported")
        return s.to_numpy(), None
    import pandas as pd

    if isinstance(dt, pd.DatetimeTZDtype):
        return s.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(), None
    if isinstance(dt, pd.CategoricalDtype):
        return _series_column(s.astype(dt.categories.dtype if not s.isna().any() else object))
    kind = getattr(dt, "kind", "O")
    numpy_dtype = getattr(dt, "numpy_dtype", None)
    if kind in "iubf" and numpy_dtype is not None:  # Int64, UInt8, boolean, Float64, ...
        mask = s.isna().to_numpy()
        fill = False if kind == "b" else 0
        values = s.to_numpy(dtype=numpy_dtype, na_value=fill)
        return values, (mask if mask.any() else None)
    return s.to_numpy(dtype=object, na_value=None), None


def _column(values):
    if _is_pandas(values):
        import pandas as pd

        if isinstance(values, pd.Series):
            return _series_column(values)
        if isinstance(values, (pd.Index, pd.api.extensions.ExtensionArray)):
            return _series_column(pd.Series(values))
    return values, None


def frame_columns(df):
    """[(name, values, mask)] of a pandas DataFrame or a dict of columns."""
    if isinstance(df, dict):
        items = df.items()
    elif _is_pandas(df) and hasattr(df, "columns") and hasattr(df, "iloc"):
        items = ((name, df[name]) for name in df.columns)
        if df.columns.duplicated().any():
            dup = df.columns[df.columns.duplicated()][0]
            raise ValueError(f"the DataFrame has more than one column named {dup!r}")
    elif hasattr(df, "keys") and hasattr(df, "__getitem__"):
        items = ((k, df[k]) for k in df.keys())
    else:
        raise TypeError("expected a pandas DataFrame or a dict of columns, not "
                        f"{type(df).__name__!r}")
    out = []
    for name, values in items:
        if not isinstance(name, str):
            raise TypeError(f"column names must be strings, not {type(name).__name__!r}")
        v, mask = _column(values)
        out.append((name, v, mask))
    return out
