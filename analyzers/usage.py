"""What a cube-reading analyzer reads: call rows, or usage-cube cells with their sums, behind one face.

``Usage.keys`` holds the grouping columns (one row per call or per cube cell), ``meas`` the sums of
each row (``analyzers.cube.SUMS``: 1 call per row for calls), ``hour`` each row's UTC hour. Analyzers
that group with ``common.cost_breakdown(usage.keys, keys, measures=usage.meas)`` and sum ``meas`` get
the same figures from either (floats to the last few ulps: sums are added in another order).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analyzers import cube as cubes
from analyzers.common import call_measures, customer_tiers, period_bounds, ts_ms


@dataclass
class Usage:
    keys: pd.DataFrame
    meas: dict[str, np.ndarray]
    hour: np.ndarray
    first: pd.Timestamp | None
    last: pd.Timestamp | None
    _tiers: Callable[[], pd.Series]
    _distinct: Callable[[str], int]
    _memo: dict = field(default_factory=dict)

    @property
    def calls(self) -> int:
        return int(self.meas["calls"].sum()) if len(self.meas["calls"]) else 0

    def tiers(self) -> pd.Series:
        """customer_id -> tier in force at its newest call (``common.customer_tiers``)."""
        if "tiers" not in self._memo:
            self._memo["tiers"] = self._tiers()
        return self._memo["tiers"]

    def distinct(self, col: str) -> int:
        """Distinct non-missing values of ``col`` (as ``Series.nunique``)."""
        return self._distinct(col)


def from_frame(df: pd.DataFrame) -> Usage:
    """Call rows (the typed frame)."""
    first, last = period_bounds(df)
    hour = ts_ms(df["timestamp"]) // cubes.HOUR_MS if len(df) else np.zeros(0, dtype="int64")
    return Usage(
        df,
        call_measures(df),
        hour,
        first,
        last,
        lambda: customer_tiers(df),
        lambda col: int(df[col].nunique()) if len(df) else 0,
    )


def from_cube(c: cubes.Cube) -> Usage:
    """The cells of an hour-grain usage cube (``analyzers.cube``)."""
    from analyzers.finops.realtime import cube_customer_tiers

    if not len(c):
        from metering.store import empty_frame

        return from_frame(empty_frame())

    def present(col: str) -> int:
        labels = c.label_array(col)[np.unique(c.cols[col])]
        return int(np.sum(labels != cubes.MISSING))

    return Usage(
        cubes.frame(c),
        dict(c.cols),
        c.cols["hour"],
        pd.Timestamp(int(c.cols["first_ms"].min()), unit="ms", tz="UTC"),
        pd.Timestamp(int(c.cols["last_ms"].max()), unit="ms", tz="UTC"),
        lambda: cube_customer_tiers(c),
        present,
    )
