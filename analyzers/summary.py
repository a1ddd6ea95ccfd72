"""The headline figures of a call store (``summary.json``), from the rows or from the usage cube.

Both give the same dictionary: calls, total priced cost, unpriced calls, distinct customers,
organizations and models, the first and last call (ISO 8601 UTC) and ``period_days`` (PERIOD_METHOD,
as of the newest call).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from analyzers.base import MISSING_KEY
from analyzers.common import period_bounds, period_days, total_cost
from analyzers.cube import DAY_MS, PERIOD, Cube, View, Views, view
from analyzers.export import iso_utc

#: distinct-count keys of the summary -> record column
DISTINCT: dict[str, str] = {"customers": "customer_id", "organizations": "organization_id", "models": "model"}
#: the cube views the figures read: one per distinct count (the totals come from any view)
VIEWS: tuple[View, ...] = tuple(View((col,), grain=PERIOD) for col in DISTINCT.values())


def frame_summary(df: pd.DataFrame) -> dict[str, Any]:
    """The figures from typed call rows."""
    first, last = period_bounds(df)
    n = len(df)
    out: dict[str, Any] = {
        "calls": n,
        "total_cost_usd": total_cost(df),
        "unpriced_calls": int(df["cost_usd"].isna().sum()) if n else 0,
    }
    for key, col in DISTINCT.items():
        out[key] = int(df[col].nunique()) if n else 0
    out["period_start"] = None if first is None else iso_utc(first)
    out["period_end"] = None if last is None else iso_utc(last)
    out["period_days"] = period_days(df)
    return out


def cube_summary(src: Cube | Views) -> dict[str, Any]:
    """The same figures from a usage cube or the engines' views (``VIEWS``; distinct counts over labels
    with calls, "(none)" = missing is not counted, as ``nunique`` skips missing values)."""
    c = view(src, ())
    n = c.calls
    out: dict[str, Any] = {
        "calls": n,
        "total_cost_usd": float(c.cols["cost_usd"].sum()) if n else 0.0,
        "unpriced_calls": int(c.cols["unpriced_calls"].sum()),
    }
    for key, col in DISTINCT.items():
        if not n:
            out[key] = 0
            continue
        d = view(src, (col,))
        present = np.unique(d.cols[col])
        labels = d.label_array(col)[present] if len(d.labels[col]) else np.zeros(0, object)
        out[key] = int(np.sum(labels != MISSING_KEY))
    if not n:
        out |= {"period_start": None, "period_end": None, "period_days": 0.0}
        return out
    first, last = int(c.cols["first_ms"].min()), int(c.cols["last_ms"].max())
    out["period_start"] = iso_utc(pd.Timestamp(first, unit="ms", tz="UTC"))
    out["period_end"] = iso_utc(pd.Timestamp(last, unit="ms", tz="UTC"))
    start = first // DAY_MS * DAY_MS
    out["period_days"] = (max(last, start) - start) / DAY_MS
    return out
