"""An AnalysisResult as a JSON-safe dict: what the CLI writes and the dashboard serves.

Layout (documented key by key in ``specs/analyzers.md``)::

    {"name", "title",
     <metric name>: value, ...           # every metric's value at the top level (a table of the
                                         # same name wins the top-level key; the metric stays in "metrics")
     <table name>: [record, ...], ...    # every table as a list of records
     "metrics": {name: {value, unit, label, formula}},
     "tables": [table names],
     "recommendations": [{title, detail, monthly_impact_usd, priority, category}],  # by priority, $
     "alerts": [{id, severity, kind, entity, message, value, threshold, time}],
     "methods": {what: how}}

NaN/NaT/inf become null, timestamps ISO 8601 UTC with a trailing Z, numpy scalars plain numbers.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from analyzers.base import AnalysisResult

RESERVED = ("name", "title", "metrics", "tables", "recommendations", "alerts", "methods")


def json_value(v: Any) -> Any:
    """One value made JSON-safe (recursively for dicts, lists and tuples)."""
    if v is None or isinstance(v, bool | str):
        return v
    if isinstance(v, float | np.floating):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, pd.Timestamp | dt.datetime):
        if pd.isna(v):
            return None
        return iso_utc(pd.Timestamp(v))
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, pd.Timedelta | dt.timedelta):
        return None if pd.isna(v) else pd.Timedelta(v).total_seconds()
    if isinstance(v, dict):
        return {str(k): json_value(x) for k, x in v.items()}
    if isinstance(v, list | tuple | np.ndarray | pd.Series):
        return [json_value(x) for x in list(v)]
    if isinstance(v, pd.DataFrame):
        return frame_records(v)
    if v is pd.NaT or v is pd.NA:
        return None
    return str(v)


def iso_utc(ts: pd.Timestamp) -> str:
    """ISO 8601 in UTC with milliseconds and a trailing Z (naive timestamps are taken as UTC)."""
    t = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def frame_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """A DataFrame as a list of JSON-safe records (column-wise conversion, not per cell where avoidable)."""
    if df.empty:
        return []
    cols: dict[str, list[Any]] = {}
    for c in df.columns:
        s = df[c]
        name = str(c)
        if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(s.dtype):
            ts = pd.to_datetime(s, utc=True)
            text = ts.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z"
            cols[name] = [None if pd.isna(x) else x for x in text.astype(object)]
        elif pd.api.types.is_bool_dtype(s.dtype):
            cols[name] = [bool(x) for x in s.to_numpy()]
        elif pd.api.types.is_integer_dtype(s.dtype) and not s.isna().any():
            cols[name] = s.astype("int64").tolist()
        elif pd.api.types.is_float_dtype(s.dtype):
            a = s.to_numpy(dtype="float64", na_value=np.nan)
            cols[name] = [x if math.isfinite(x) else None for x in a.tolist()]
        else:
            cols[name] = [json_value(x) if not _isna(x) else None for x in s.astype(object).tolist()]
    names = list(cols)
    return [dict(zip(names, row, strict=True)) for row in zip(*cols.values(), strict=True)]


def _isna(x: Any) -> bool:
    try:
        return bool(pd.isna(x))
    except (TypeError, ValueError):
        return False


def result_to_dict(result: AnalysisResult) -> dict[str, Any]:
    """The JSON-safe dict of one analyzer result (layout in the module docstring)."""
    out: dict[str, Any] = {"name": result.name, "title": result.title}
    for key, m in result.metrics.items():
        if key not in RESERVED and key not in result.tables:
            out[key] = json_value(m.value)
    for key, table in result.tables.items():
        if key in RESERVED:
            raise ValueError(f"{result.name}: table name {key!r} collides with a reserved key")
        out[key] = frame_records(table)
    out["metrics"] = {k: json_value(asdict(m)) for k, m in result.metrics.items()}
    out["tables"] = list(result.tables)
    out["recommendations"] = [json_value(asdict(r)) for r in result.sorted_recommendations()]
    out["alerts"] = [json_value(asdict(a)) for a in result.alerts]
    out["methods"] = {str(k): str(v) for k, v in result.methods.items()}
    return out


def dumps(obj: Any) -> str:
    """Strict JSON text (no NaN/Infinity tokens), on one line: written by the json module's C encoder,
    which an ``indent`` turns off (2.5x slower on the eight results of a 50 MB file). ``obj`` is encoded
    as it is when it is JSON-safe already (``result_to_dict``'s output), else through ``json_value``."""
    try:
        return json.dumps(obj, ensure_ascii=False, allow_nan=False, default=json_value)
    except (ValueError, TypeError):  # a NaN, an infinity or a key of another type: the strict conversion
        return json.dumps(json_value(obj), ensure_ascii=False, allow_nan=False)
