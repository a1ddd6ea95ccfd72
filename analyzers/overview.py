"""The overview of the live session: KPI cards, their changes, daily cost by provider, the
organization -> product -> model hierarchy and the alerts in scope, all from the session's day cube
(UTC day x the overview's dimensions, codes in the session's grow-only dictionaries).

One of the live session's jobs (``analyzers.session.AnalysisSession`` keeps the cubes and hands this
class its day cube; ``analyzers.live`` holds the result cache and the one alert refresher). The figures
have the analyzers' definitions (``analyzers.common``), so the cards equal the analyzers' results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from analyzers import cube as cubes
from analyzers.base import Alert, AnalysisContext, Metric
from analyzers.common import (
    LOSS_MAKING_METHOD,
    RUN_RATE_DAYS,
    at_risk_method,
    cost_forecast,
    economics_arrays,
    gross_margin_pct,
    last_complete_day,
    revenue_method,
    run_rate,
)
from metering.schema import SOURCES
from metering.subscriptions import UNKNOWN_TIER, Spells, build_spells, revenue

#: the overview's day cube: column name -> numpy array, all of one length
Cube = dict[str, np.ndarray]
#: the day cube's dimensions (record columns; the day is derived from the timestamp)
DIMS: tuple[str, ...] = (
    "customer_id",
    "subscription_tier",
    "organization_id",
    "product_id",
    "model",
    "provider",
    "environment",
    "source",
    "api_key_id",
)
#: the sums of the usage cube (analyzers.cube.SUMS)
MEASURES: tuple[str, ...] = cubes.SUMS
OVERVIEW_KEYS: tuple[str, ...] = (
    "total_cost_usd",
    "run_rate_month_usd",
    "forecast_30d_usd",
    "revenue_usd",
    "gross_margin_pct",
    "loss_making_customers",
    "at_risk_customers",
    "cost_per_call_usd",
    "calls",
    "open_alerts",
    "unpriced_calls",
)
#: what a rise of each KPI means: +1 good, -1 bad, 0 neither (the dashboard colours the arrows with it)
KPI_DIRECTION: dict[str, int] = {
    "total_cost_usd": -1,
    "run_rate_month_usd": -1,
    "forecast_30d_usd": -1,
    "revenue_usd": 1,
    "gross_margin_pct": 1,
    "loss_making_customers": -1,
    "at_risk_customers": -1,
    "cost_per_call_usd": -1,
    "calls": 0,
    "open_alerts": -1,
    "unpriced_calls": -1,
}
#: KPIs whose change is a difference in percentage points, not a relative change
POINT_CHANGE_KEYS: frozenset[str] = frozenset({"gross_margin_pct"})
#: KPIs summed over time: compared per day of their window (so a partial day compares fairly)
_PER_DAY_KEYS = ("total_cost_usd", "revenue_usd", "calls", "unpriced_calls")
CHANGE_METHOD = (
    "change = (this window - previous window) / |previous window|; revenue of both windows from the "
    "subscriptions the calls imply (the whole selection's without a date filter, the two windows' with "
    "one); sums (cost, revenue, calls, unpriced calls) "
    "per day of their window; gross margin as the difference in percentage points; the run-rate as cost per "
    "day; the forecast's daily mean (total / 30) against the previous window's cost per day; without a date "
    "filter the "
    "last 7 complete days are compared with the 7 before, with one the filtered days with as many days "
    "just before; open alerts have no previous value"
)


def kpi_changes(now: dict[str, Any], prev: dict[str, Any]) -> dict[str, float | None]:
    """Change of each overview KPI between two windows' figures (``CHANGE_METHOD``)."""
    out: dict[str, float | None] = dict.fromkeys(OVERVIEW_KEYS)

    def rel(a: float | None, b: float | None) -> float | None:
        if a is None or b is None or not np.isfinite(a) or not np.isfinite(b) or b == 0:
            return None
        return (float(a) - float(b)) / abs(float(b))

    dn, dp = now.get("days") or 0.0, prev.get("days") or 0.0
    if dn <= 0 or dp <= 0:
        return out
    for k in _PER_DAY_KEYS:
        out[k] = rel(now[k] / dn, prev[k] / dp)
    prev_per_day = prev["total_cost_usd"] / dp
    out["run_rate_month_usd"] = rel(now["total_cost_usd"] / dn, prev_per_day)
    f30 = now.get("forecast_30d_usd")
    out["forecast_30d_usd"] = None if f30 is None else rel(float(f30) / 30.0, prev_per_day)
    for k in ("cost_per_call_usd", "loss_making_customers", "at_risk_customers"):
        out[k] = rel(now.get(k), prev.get(k))
    a, b = now.get("gross_margin_pct"), prev.get("gross_margin_pct")
    out["gross_margin_pct"] = None if a is None or b is None else (float(a) - float(b)) / 100.0
    return out


_DAY_MS = cubes.DAY_MS


#: the treemap's drill path: ``Filters.drill`` holds values of these dimensions, in this order
DRILL_DIMS: tuple[str, ...] = ("organization_id", "product_id", "model")


@dataclass(frozen=True)
class Filters:
    """What the user selected. Dates are inclusive UTC days; empty tuples mean "all"."""

    start: date | None = None
    end: date | None = None
    tiers: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    organizations: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    customers: tuple[str, ...] = ()  # end users (customer_id = subscriber.id, else its email)
    api_keys: tuple[str, ...] = ()  # api_key_id values (the ingest key that accepted the row)
    drill: tuple[str, ...] = ()  # (org,), (org, product) or (org, product, model): the treemap selection


@dataclass
class Overview:
    version: int
    rows: int
    period_start: pd.Timestamp | None
    period_end: pd.Timestamp | None
    metrics: dict[str, Metric]
    changes: dict[str, float | None]
    daily_cost_by_provider: pd.DataFrame  # date, provider, cost_usd, calls
    hierarchy: pd.DataFrame  # organization_id, product_id, model, cost_usd, calls
    alerts: list[Alert] = field(default_factory=list)
    alerts_version: int = 0  # data version the alerts were computed on (may trail ``version`` by one)
    calls_by_source: dict[str, int] = field(default_factory=dict)  # simulated / metered / otlp, in scope
    comparison: str = "no previous period"  # what the changes compare (CHANGE_METHOD)


class Codes:
    """Grow-only dictionary encoding of one dimension (value <-> small int), shared by all chunks."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self.index: dict[str, int] = {}

    def code(self, value: str) -> int:
        c = self.index.get(value)
        if c is None:
            c = len(self.values)
            self.values.append(value)
            self.index[value] = c
        return c

    def table(self, labels: tuple[str, ...]) -> np.ndarray:
        """This dictionary's code of each label (labels it lacks are added)."""
        return np.array([self.code(v) for v in labels], dtype="int32")

    def lookup(self, values: tuple[str, ...]) -> np.ndarray:
        return np.array([self.index[v] for v in values if v in self.index], dtype="int32")


class OverviewFigures:
    """The overview of a day cube for a set of filters (``build``), labels from ``codes``."""

    def __init__(self, codes: dict[str, Codes], ctx: AnalysisContext) -> None:
        self.codes = codes
        self.ctx = ctx

    def mask(self, cube: Cube, f: Filters, day_range: tuple[int, int] | None = None) -> np.ndarray | None:
        """Rows of the cube the filters keep (None = all of them)."""
        mask = None

        def both(m: np.ndarray) -> None:
            nonlocal mask
            mask = m if mask is None else mask & m

        day = cube["day"]
        lo, hi = day_range if day_range is not None else (day_int(f.start), day_int(f.end))
        if lo is not None:
            both(day >= lo)
        if hi is not None:
            both(day <= hi)
        for dim, values in value_filters(f):
            both(np.isin(cube[dim], self.codes[dim].lookup(values)))
        for dim, value in zip(DRILL_DIMS, f.drill, strict=False):
            both(cube[dim] == self.codes[dim].index.get(value, -1))
        return mask

    def labels(self, dim: str, codes: np.ndarray) -> np.ndarray:
        return np.asarray(self.codes[dim].values, dtype=object)[codes].astype(str)

    def build(
        self, version: int, cube: Cube | None, f: Filters, alerts_version: int, alerts: list[Alert]
    ) -> Overview:
        """The overview of the day cube ``cube`` (all calls of data ``version``) for filters ``f``, with
        the newest real-time alerts (computed on data ``alerts_version``)."""
        cube = cube if cube is not None else empty_cells()
        sel = _take(cube, self.mask(cube, f))
        cur = self._figures(sel, with_forecast=True)
        if f != Filters():
            alerts = self._alerts_in_scope(alerts, sel)
        cur["open_alerts"] = len(alerts)
        changes: dict[str, float | None] = dict.fromkeys(OVERVIEW_KEYS)
        comparison = "no previous period"
        if cur["period_start"] is not None:
            now_ms = (
                int(pd.Timestamp(self.ctx.as_of).value // 1_000_000)
                if self.ctx.as_of is not None
                else int(cube["last_ms"].max())
            )  # the data's "now", not the selection's newest call
            (now_days, prev_days), comparison = self._comparison_windows(sel, f, now_ms)
            now_sel = _take(cube, self.mask(cube, f, now_days[:2]))
            prev_sel = _take(cube, self.mask(cube, f, prev_days[:2]))
            if cell_count(now_sel) and cell_count(prev_sel):
                # revenue of both windows from the subscriptions the calls imply: those of the whole
                # selection without a date filter, else those of the two windows' calls
                if f.start is None and f.end is None and cur["spells"] is not None:
                    spells = cur["spells"]
                else:
                    both = _take(cube, self.mask(cube, f, (prev_days[0], now_days[1])))
                    spells = self._spells(both, now_days[1])
                a = self._figures(now_sel, window=now_days[2], spells=spells)
                b = self._figures(prev_sel, window=prev_days[2], spells=spells)
                a["forecast_30d_usd"] = cur["forecast_30d_usd"]
                changes = kpi_changes(a, b)
        metrics = {
            "total_cost_usd": Metric(
                cur["total_cost_usd"], "USD", "Total cost", "sum of cost_usd over priced calls"
            ),
            "run_rate_month_usd": Metric(
                cur["run_rate_month_usd"], "USD/month", "Monthly run-rate", cur["run_rate_method"]
            ),
            "forecast_30d_usd": Metric(
                cur["forecast_30d_usd"], "USD", "30-day forecast", cur["forecast_method"]
            ),
            "revenue_usd": Metric(
                cur["revenue_usd"], "USD", "Subscription revenue", revenue_method(self.ctx.churn_after_days)
            ),
            "gross_margin_pct": Metric(
                cur["gross_margin_pct"],
                "%",
                "Gross margin",
                "(revenue - cost) / revenue x 100 over customers with a known tier",
            ),
            "loss_making_customers": Metric(
                cur["loss_making_customers"], "customers", "Loss-making customers", LOSS_MAKING_METHOD
            ),
            "at_risk_customers": Metric(
                cur["at_risk_customers"],
                "customers",
                "Margin at risk",
                at_risk_method(self.ctx.at_risk_share),
            ),
            "cost_per_call_usd": Metric(
                cur["cost_per_call_usd"], "USD/call", "Cost per call", "total cost / priced calls"
            ),
            "calls": Metric(cur["calls"], "calls", "Calls", "number of calls"),
            "open_alerts": Metric(
                cur["open_alerts"],
                "alerts",
                "Open alerts",
                "real-time alerts (computed on all data) whose customer, model or provider has calls in "
                "the selection; portfolio alerts only without filters",
            ),
            "unpriced_calls": Metric(
                cur["unpriced_calls"], "calls", "Unpriced calls", "calls without cost_usd"
            ),
        }
        return Overview(
            version=version,
            rows=int(cur["calls"]),
            period_start=cur["period_start"],
            period_end=cur["period_end"],
            metrics=metrics,
            changes=changes,
            daily_cost_by_provider=self._daily_by_provider(sel),
            hierarchy=self._hierarchy(sel),
            alerts=alerts,
            alerts_version=alerts_version,
            calls_by_source=self._calls_by_source(sel),
            comparison=comparison,
        )

    def _comparison_windows(
        self, sel: Cube, f: Filters, as_of_ms: int
    ) -> tuple[tuple[tuple[int, int, tuple[int, int]], tuple[int, int, tuple[int, int]]], str]:
        """The two windows the KPI changes compare, as (first day, last day, (start ms, end ms)) each.

        With a date filter: the filtered days (up to as_of) against the same number of days just before.
        Without: the last 7 complete days against the 7 before them.
        """
        as_of_day = as_of_ms // _DAY_MS
        if f.start is not None or f.end is not None:
            lo = day_int(f.start) if f.start is not None else int(sel["day"].min())
            hi = min(day_int(f.end) if f.end is not None else as_of_day, as_of_day)
            n = max(hi - lo + 1, 1)
            end_ms = min((hi + 1) * _DAY_MS, as_of_ms)
            now = (lo, hi, (lo * _DAY_MS, max(end_ms, lo * _DAY_MS + 1)))
            prev = (lo - n, lo - 1, ((lo - n) * _DAY_MS, lo * _DAY_MS))
            return (now, prev), f"vs the previous {n} day{'s' if n > 1 else ''}"
        last = int(last_complete_day(ms_to_ts(as_of_ms)).value // 1_000_000 // _DAY_MS)
        n = RUN_RATE_DAYS
        now = (last - n + 1, last, ((last - n + 1) * _DAY_MS, (last + 1) * _DAY_MS))
        prev = (last - 2 * n + 1, last - n, ((last - 2 * n + 1) * _DAY_MS, (last - n + 1) * _DAY_MS))
        return (now, prev), f"last {n} complete days vs the {n} before"

    def _alerts_in_scope(self, alerts: list[Alert], sel: Cube) -> list[Alert]:
        """Alerts whose entity (customer:X, model:X, provider:X) has calls in the selected cube rows."""
        present: dict[str, set[str]] = {}
        for dim in ("customer", "model", "provider"):
            col = "customer_id" if dim == "customer" else dim
            codes = np.unique(np.asarray(sel[col])) if cell_count(sel) else np.zeros(0, dtype="int64")
            present[dim] = set(self.labels(col, codes)) if len(codes) else set()
        out = []
        for a in alerts:
            dim, _, value = a.entity.partition(":")
            if dim in present and value in present[dim]:
                out.append(a)
        return out

    def _figures(
        self,
        sel: Cube,
        window: tuple[int, int] | None = None,
        with_forecast: bool = False,
        spells: Spells | None = None,
    ) -> dict[str, Any]:
        """The card figures for one selection of cube rows (same definitions as the analyzers).

        ``window`` (UTC ms) is what revenue and per-day rates cover; default: 00:00 of the first day in
        the selection to as_of (``ctx.as_of`` or its newest call), as ``common.analysis_window``.
        """
        calls = int(sel["calls"].sum())
        unpriced = int(sel["unpriced_calls"].sum())
        cost = float(sel["cost_usd"].sum())
        out: dict[str, Any] = {
            "calls": calls,
            "unpriced_calls": unpriced,
            "total_cost_usd": cost,
            "cost_per_call_usd": cost / (calls - unpriced) if calls > unpriced else None,
            "period_start": None,
            "period_end": None,
            "as_of_ms": None,
            "days": 0.0,
            "forecast_30d_usd": None,
            "forecast_method": "",
            "run_rate_month_usd": None,
            "run_rate_method": "",
            "revenue_usd": 0.0,
            "gross_margin_pct": None,
            "loss_making_customers": 0,
            "at_risk_customers": 0,
            "spells": None,
        }
        if not calls:
            return out
        first, last = ms_to_ts(sel["first_ms"].min()), ms_to_ts(sel["last_ms"].max())
        out["period_start"], out["period_end"] = first, last
        as_of = self.ctx.as_of if self.ctx.as_of is not None else last
        as_of_ms = int(pd.Timestamp(as_of).value // 1_000_000)
        out["as_of_ms"] = as_of_ms
        if window is None:
            start = int(sel["day"].min()) * _DAY_MS
            window = (start, max(as_of_ms, start))
        out["days"] = (window[1] - window[0]) / _DAY_MS
        if with_forecast:
            d0 = int(sel["day"].min())
            daily = np.bincount(sel["day"] - d0, weights=sel["cost_usd"])
            series = pd.Series(daily, index=days_to_ts(np.arange(d0, d0 + len(daily))))
            fc = cost_forecast(series, as_of, 30)
            out["forecast_30d_usd"], out["forecast_method"] = fc.total, fc.method
            rr = run_rate(series, first, as_of)
            out["run_rate_month_usd"], out["run_rate_method"] = rr.monthly_usd, rr.method
        # common.customer_economics from the cube: the same subscription spells (metering.subscriptions)
        # from (customer, day, tier, latest call) rows, so the cards match the profitability analyzer
        if spells is None:
            spells = self._spells(
                sel, window[1] // _DAY_MS if window[1] % _DAY_MS else window[1] // _DAY_MS - 1
            )
        out["spells"] = spells
        rev = revenue(spells, *window)
        per = _sum_by(sel, ["customer_id"], ["cost_usd", "calls", "unpriced_calls"])
        per["customer_id"] = self.labels("customer_id", per["customer_id"])
        econ = economics_arrays(per, rev, self.ctx.at_risk_share)
        known = econ["tier"] != UNKNOWN_TIER
        out["revenue_usd"] = float(econ["revenue_usd"].sum())
        out["gross_margin_pct"] = gross_margin_pct(out["revenue_usd"], float(econ["cost_usd"][known].sum()))
        out["loss_making_customers"] = int(econ["loss_making"].sum())
        out["at_risk_customers"] = int(econ["at_risk"].sum())
        return out

    def _spells(self, sel: Cube, as_of_day: int) -> Spells:
        """Subscription spells of the selected cube rows (``metering.subscriptions.build_spells`` on the
        customer x day x tier rows and their latest call time: the same spells as from the calls)."""
        return build_spells(
            sel["customer_id"],
            np.asarray(self.codes["customer_id"].values, dtype=object),
            sel["day"],
            sel["subscription_tier"],
            np.asarray(self.codes["subscription_tier"].values, dtype=object),
            sel["last_ms"],
            tier_prices=self.ctx.tier_prices(),
            as_of_day=as_of_day,
            churn_after_days=self.ctx.churn_after_days,
            overrides=self.ctx.subscriptions,
        )

    def _daily_by_provider(self, sel: Cube) -> pd.DataFrame:
        g = _sum_by(sel, ["day", "provider"], ["cost_usd", "calls"])
        return pd.DataFrame(
            {
                "date": days_to_ts(g["day"]),
                "provider": self.labels("provider", g["provider"]),
                "cost_usd": g["cost_usd"].astype("float64"),
                "calls": g["calls"].astype("int64"),
            }
        )

    def _calls_by_source(self, sel: Cube) -> dict[str, int]:
        """Calls per ``source`` value in the selection, sources in the schema's order (SOURCES)."""
        g = _sum_by(sel, ["source"], ["calls"])
        counts = dict(
            zip(self.labels("source", g["source"]), g["calls"].astype("int64").tolist(), strict=True)
        )
        rank = {name: i for i, name in enumerate(SOURCES)}
        return dict(sorted(counts.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))

    def _hierarchy(self, sel: Cube) -> pd.DataFrame:
        keys = ["organization_id", "product_id", "model"]
        g = _sum_by(sel, keys, ["cost_usd", "calls"])
        # sort by the labels' lexical ranks (integers), not by the strings themselves
        order = np.lexsort(tuple(self._ranks(k)[g[k]] for k in reversed(keys)))
        out = pd.DataFrame({k: self.labels(k, g[k][order]) for k in keys})
        out["cost_usd"] = g["cost_usd"][order].astype("float64")
        out["calls"] = g["calls"][order].astype("int64")
        return out

    def _ranks(self, dim: str) -> np.ndarray:
        """Lexical rank of every code of a dimension."""
        values = self.codes[dim].values
        ranks = np.empty(len(values), dtype="int64")
        ranks[np.argsort(np.asarray(values, dtype=str), kind="stable")] = np.arange(len(values))
        return ranks


def cell_count(cube: Cube) -> int:
    return len(cube["calls"])


def _take(cube: Cube, mask: np.ndarray | None) -> Cube:
    return cube if mask is None else {k: v[mask] for k, v in cube.items()}


def day_int(d: date | None) -> int | None:
    return None if d is None else int((pd.Timestamp(d) - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1))


def days_to_ts(days: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(np.asarray(days, dtype="int64") * _DAY_MS, unit="ms", utc=True))


def ms_to_ts(ms: Any) -> pd.Timestamp | None:
    if ms is None or pd.isna(ms):
        return None
    return pd.Timestamp(int(ms), unit="ms", tz="UTC")


def value_filters(f: Filters) -> list[tuple[str, tuple[str, ...]]]:
    """(column, selected values) for each non-empty value filter."""
    pairs = (
        ("subscription_tier", f.tiers),
        ("environment", f.environments),
        ("organization_id", f.organizations),
        ("source", f.sources),
        ("customer_id", f.customers),
        ("api_key_id", f.api_keys),
    )
    return [(col, values) for col, values in pairs if values]


#: sums per combination of integer keys (analyzers.cube.sums_by)
_sum_by = cubes.sums_by


def empty_cells() -> Cube:
    cols = ["day", *DIMS, *MEASURES, "first_ms", "last_ms"]
    return {c: np.array([], dtype="float64" if c == "cost_usd" else "int64") for c in cols}
