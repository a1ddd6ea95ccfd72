"""What a cube-reading analyzer reads: call rows, or usage-cube cells with their sums, behind one face.

``Usage.keys`` holds the grouping columns (one row per call or per cube cell), ``meas`` the sums of
each row (``analyzers.cube.SUMS``: 1 call per row for calls), ``day`` each row's UTC day and
``hourly()`` the calls and cost per UTC hour (from the rows, or the cube's ``hourly`` side table). Analyzers
that group with ``common.cost_breakdown(p.keys, keys, measures=p.meas)`` on ``p = usage.part(*keys)`` and
sum ``meas`` get the same figures from either (floats to the last few ulps: sums are added in another
order). Over the engines' views (``from_views``) ``part`` picks the narrowest view holding the keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analyzers import cube as cubes
from analyzers.base import MISSING_KEY
from analyzers.common import (
    ECONOMICS_COLUMNS,
    as_of_ts,
    call_measures,
    cost_breakdown,
    customer_tiers,
    economics_arrays,
    frame_spells,
    period_bounds,
    ts_ms,
)
from metering.subscriptions import Spells, build_spells, revenue

if TYPE_CHECKING:
    from analyzers.base import AnalysisContext


@dataclass
class Usage:
    keys: pd.DataFrame
    meas: dict[str, np.ndarray]
    #: each row's UTC day (None for a view over the whole period: ``part(..., daily=True)`` has days)
    day: np.ndarray | None
    first: pd.Timestamp | None
    last: pd.Timestamp | None
    _tiers: Callable[[], pd.Series]
    _distinct: Callable[[str], int]
    _spells: Callable[[AnalysisContext], Spells]
    _first_seen: Callable[[str], pd.Series]
    _hourly: Callable[[], dict[str, np.ndarray]]
    _part: Callable[[tuple[str, ...], bool, tuple[str, ...]], Usage] | None = None
    _memo: dict = field(default_factory=dict)

    def part(self, *dims: str, daily: bool = False, sums: tuple[str, ...] = cubes.SUMS) -> Usage:
        """The usage to group by ``dims`` (and, when ``daily``, by day: ``day``) from: the narrowest view
        holding them and the ``sums`` (``cube.Views``), or the rows or full cube themselves. Its ``keys``
        hold ``dims``, its ``meas`` at least ``sums``; its totals are this usage's."""
        if self._part is None:
            return self
        key = ("part", tuple(sorted(dims)), daily, tuple(sums))
        if key not in self._memo:
            self._memo[key] = self._part(tuple(dims), daily, tuple(sums))
        return self._memo[key]

    @property
    def calls(self) -> int:
        return int(self.meas["calls"].sum()) if len(self.meas["calls"]) else 0

    def tiers(self) -> pd.Series:
        """customer_id -> tier in force at its newest call (``common.customer_tiers``)."""
        if "tiers" not in self._memo:
            self._memo["tiers"] = self._tiers()
        return self._memo["tiers"]

    def hourly(self) -> dict[str, np.ndarray]:
        """Calls and cost per UTC hour with calls: ``hour`` (ms // HOUR_MS), ``calls``, ``cost_usd``."""
        if "hourly" not in self._memo:
            self._memo["hourly"] = self._hourly()
        return self._memo["hourly"]

    def distinct(self, col: str) -> int:
        """Distinct non-missing values of ``col`` (as ``Series.nunique``)."""
        return self._distinct(col)


def from_frame(df: pd.DataFrame) -> Usage:
    """Call rows (the typed frame)."""
    first, last = period_bounds(df)
    hour = ts_ms(df["timestamp"]) // cubes.HOUR_MS if len(df) else np.zeros(0, dtype="int64")
    meas = call_measures(df)
    return Usage(
        df,
        meas,
        hour // 24,
        first,
        last,
        lambda: customer_tiers(df),
        lambda col: int(df[col].nunique()) if len(df) else 0,
        lambda ctx: frame_spells(df, ctx),
        lambda col: _frame_first_seen(df, col),
        lambda: _per_hour(hour, meas["calls"], meas["cost_usd"]),
    )


def _per_hour(hour: np.ndarray, calls: np.ndarray, cost: np.ndarray) -> dict[str, np.ndarray]:
    return cubes.sums_by({"hour": hour, "calls": calls, "cost_usd": cost}, ["hour"], ["calls", "cost_usd"])


def _frame_first_seen(df: pd.DataFrame, col: str) -> pd.Series:
    first = df["timestamp"].groupby(df[col], observed=True, dropna=False).min()
    first.index = first.index.astype("object").fillna(MISSING_KEY).astype("str")
    return first


def from_cube(c: cubes.Cube) -> Usage:
    """The cells of a usage cube (``analyzers.cube``, hour or day grain; hours from ``cube.hours``)."""
    from analyzers.finops.realtime import cube_customer_tiers

    if not len(c):
        from metering.store import empty_frame

        return from_frame(empty_frame())

    def present(col: str) -> int:
        labels = c.label_array(col)[np.unique(c.cols[col])]
        return int(np.sum(labels != MISSING_KEY))

    return Usage(
        cubes.frame(c, sums=False),  # the sums stay in ``meas`` (the cube's own arrays, not copied)
        dict(c.cols),
        None if c.grain == cubes.PERIOD else cubes.days(c),
        pd.Timestamp(int(c.cols["first_ms"].min()), unit="ms", tz="UTC"),
        pd.Timestamp(int(c.cols["last_ms"].max()), unit="ms", tz="UTC"),
        lambda: cube_customer_tiers(c),
        present,
        lambda ctx: _cube_spells(c, ctx),
        lambda col: _cube_first_seen(c, col),
        lambda: _cube_hourly(c),
    )


CUSTOMER_VIEW = cubes.CUSTOMER_VIEW
#: the customers' totals (economics)
CUSTOMER_TOTALS = cubes.View(("customer_id",), grain=cubes.PERIOD)
#: the views ``Usage`` reads on its own (totals, days, tiers, spells, economics); ``hourly`` reads
#: ``cube.SIDE_VIEW``
VIEWS: tuple[cubes.View, ...] = (cubes.DAYS_VIEW, CUSTOMER_VIEW, CUSTOMER_TOTALS)


def from_source(src: cubes.Cube | cubes.Views) -> Usage:
    """``from_cube`` of a cube, or ``from_views`` of the engines' views."""
    return from_views(src) if isinstance(src, cubes.Views) else from_cube(src)


def from_views(v: cubes.Views) -> Usage:
    """The engines' views (``cube.Views``): totals from the narrowest, each grouping (``Usage.part``),
    tiers, spells, distinct counts and first calls from the narrowest view holding their dimensions,
    hours from the side tables' view. Holds ``VIEWS`` and the analyzer's own."""
    base = from_cube(v.view((), daily=True))
    if not base.calls:
        return base

    def part(dims: tuple[str, ...], daily: bool, sums: tuple[str, ...]) -> Usage:
        return from_cube(v.view(dims, daily=daily, sums=sums))

    def cust() -> Usage:
        return base.part(*CUSTOMER_VIEW.dims, daily=True, sums=CUSTOMER_VIEW.sums)

    base._tiers = lambda: cust().tiers()
    base._distinct = lambda col: base.part(col).distinct(col)
    base._spells = lambda ctx: spells(cust(), ctx)
    base._first_seen = lambda col: first_seen(base.part(col), col)
    base._hourly = lambda: _cube_hourly(v.view((), ("hourly",)))
    base._part = part
    return base


def _cube_hourly(c: cubes.Cube) -> dict[str, np.ndarray]:
    h = cubes.hours(c)
    return _per_hour(h["hour"], h["calls"], h["cost_usd"])


def _cube_first_seen(c: cubes.Cube, col: str) -> pd.Series:
    g = cubes.regroup_cols(c.cols, [col], [], mins=("first_ms",))
    return pd.Series(
        pd.to_datetime(g["first_ms"], unit="ms", utc=True), index=pd.Index(c.decode(col, g[col]))
    )


def _cube_spells(c: cubes.Cube, ctx: AnalysisContext) -> Spells:
    last = int(c.cols["last_ms"].max())
    as_of = as_of_ts(pd.DataFrame(), ctx.as_of) if ctx.as_of is not None else None
    as_of_ms = last if as_of is None else int(pd.Timestamp(as_of).value // 1_000_000)
    return build_spells(
        c.cols["customer_id"],
        c.label_array("customer_id"),
        cubes.days(c),
        c.cols["subscription_tier"],
        c.label_array("subscription_tier"),
        c.cols["last_ms"],
        tier_prices=ctx.tier_prices(),
        as_of_day=as_of_ms // cubes.DAY_MS,
        churn_after_days=ctx.churn_after_days,
        overrides=ctx.subscriptions,
    )


def first_seen(u: Usage, col: str) -> pd.Series:
    """The first call of each value of ``col`` (label -> UTC timestamp)."""
    return u._first_seen(col)


def window(u: Usage, as_of: pd.Timestamp | None = None) -> tuple[int, int] | None:
    """``common.analysis_window``: 00:00 UTC of the first call's day to as_of (default the newest call)."""
    if not u.calls or u.first is None:
        return None
    end = as_of_ts(pd.DataFrame(), as_of) if as_of is not None else u.last
    start = int(u.first.value // 1_000_000) // cubes.DAY_MS * cubes.DAY_MS
    return start, max(int(pd.Timestamp(end).value // 1_000_000), start)


def period_days(u: Usage, as_of: pd.Timestamp | None = None) -> float:
    """``common.period_days``: the window's length in days (0 without calls)."""
    w = window(u, as_of)
    return 0.0 if w is None else (w[1] - w[0]) / cubes.DAY_MS


def spells(u: Usage, ctx: AnalysisContext) -> Spells:
    """Subscription spells of the customers (``common.frame_spells``; from cells: each cell's day, tier
    and newest call, the same spells as from the calls)."""
    key = ("spells", id(ctx))
    if key not in u._memo:
        u._memo[key] = u._spells(ctx)
    return u._memo[key]


def economics(u: Usage, ctx: AnalysisContext, win: tuple[int, int] | None = None) -> pd.DataFrame:
    """``common.customer_economics`` of the usage, plus each customer's ``tokens`` (input + output)."""
    cols = ["customer_id", "calls", "cost_usd", "unpriced_calls"]
    win = window(u, ctx.as_of) if win is None else win
    rev = revenue(spells(u, ctx), *(win or (0, 0)))
    if not u.calls:
        totals = {c: np.zeros(0, dtype="float64" if c == "cost_usd" else "int64") for c in cols}
        totals["customer_id"] = np.zeros(0, dtype=str)
        tokens = pd.Series(dtype="int64")
    else:
        c = u.part("customer_id")
        per = cost_breakdown(c.keys, "customer_id", measures=c.meas)
        totals = {c: per[c].to_numpy() for c in cols}
        tokens = pd.Series(
            (per["input_tokens"] + per["output_tokens"]).to_numpy(), index=per["customer_id"].astype("str")
        )
    out = pd.DataFrame(economics_arrays(totals, rev, ctx.at_risk_share))
    for c in ("customer_id", "tier"):
        out[c] = out[c].astype("str")
    out = out[list(ECONOMICS_COLUMNS)]
    out["tokens"] = tokens.reindex(out["customer_id"]).fillna(0).astype("int64").to_numpy()
    return out
