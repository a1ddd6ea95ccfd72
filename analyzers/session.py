"""The incremental analysis engine the dashboard polls on every tick.

``AnalysisSession`` tails the call file with ``metering.store.IncrementalReader`` and keeps no call rows:
each appended chunk is built into a usage cube (``analyzers.cube.build``, UTC hour x ``ANALYSIS_DIMS``,
with the side tables per cell, ``ANALYSIS_SIDES``) that is kept as one more part; the parts are merged
(``analyzers.cube.merge``, labels grow-only) the first time an analysis reads them after new data. From
the same chunk cube come the overview's day cube (UTC day x ``DIMS``, codes in the session's grow-only
dictionaries) and the hourly (hour x provider x model) cube the real-time alerts read. A refresh costs
time proportional to the new rows. The analyzers run on the cube narrowed to the filters
(``analyzers.cube_filter.select``) with its sides projected to their keys (``cube_filter.project``):
``registry.run_cube``, once per data version and filter set (``analyzers.live.ResultCache``); the chart
builder reads the narrowed cube (``chart_cube``). All state changes happen under a lock; readers work on
an immutable snapshot, so several Dash threads can call in at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analyzers import cube as cubes
from analyzers import cube_filter, registry
from analyzers.base import Alert, AnalysisContext, AnalysisResult, Metric
from analyzers.common import (
    LOSS_MAKING_METHOD,
    MISSING_KEY,
    RUN_RATE_DAYS,
    at_risk_method,
    cost_forecast,
    economics_arrays,
    gross_margin_pct,
    last_complete_day,
    revenue_method,
    run_rate,
)
from analyzers.finops import realtime
from analyzers.live import AlertRefresher, ResultCache
from metering.schema import SOURCES
from metering.store import IncrementalReader
from metering.subscriptions import UNKNOWN_TIER, Spells, build_spells, revenue

#: cube dimensions: name -> source column (date is derived from the timestamp)
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
#: the analysis cube's dimensions: the usage cube's and every dimension the chart builder groups by
ANALYSIS_DIMS: tuple[str, ...] = (
    *cubes.DIMS,
    *(d for d in ("scenario", "is_streamed") if d not in cubes.DIMS),
)
#: the analysis cube's side tables: ``analyzers.cube.SIDES`` per cell (so that every dashboard filter
#: narrows them), latency per day left out (``cube_filter.project`` derives it from the latency side)
ANALYSIS_SIDES: dict[str, cubes.Side] = {
    name: spec
    for name, spec in cubes.cell_sides("hour", ANALYSIS_DIMS).items()
    if name not in cube_filter.DERIVED_SIDES
}
#: the sums of the usage cube (analyzers.cube.SUMS)
MEASURES: tuple[str, ...] = cubes.SUMS
HOURLY_DIMS: tuple[str, ...] = ("provider", "model")
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


_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000


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


@dataclass
class RefreshInfo:
    new_rows: int
    reset: bool
    version: int
    malformed: int


class _Codes:
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


#: a cube: column name -> numpy array, all of one length
Cube = dict[str, np.ndarray]


@dataclass(frozen=True)
class _State:
    """One immutable data version: cubes and bookkeeping (no call rows)."""

    version: int = 0
    rows: int = 0
    malformed: int = 0
    cube: Cube | None = None  # day, DIMS codes, MEASURES, first_ms, last_ms (numpy arrays)
    hourly: Cube | None = None  # hour, provider, model codes, cost_usd, calls
    parts: tuple[cubes.Cube, ...] = ()  # analysis cubes (ANALYSIS_DIMS, ANALYSIS_SIDES), not yet merged
    compacted_rows: int = 0  # cube length after the last regroup


class AnalysisSession:
    """Running aggregates over one call file, refreshed incrementally; see the module docstring."""

    def __init__(self, path: str | Path, ctx: AnalysisContext | None = None, cache_size: int = 16) -> None:
        self.path = Path(path)
        self.ctx = ctx if ctx is not None else AnalysisContext()
        self._reader = IncrementalReader(self.path, arrow=True)  # Arrow tables: cube.build reads them
        self._codes = {d: _Codes() for d in DIMS}
        self._state = _State()
        self._refresh_lock = threading.Lock()
        self._lock = threading.RLock()
        #: overviews and results (general), filtered row frames (large): ``analyzers.live.ResultCache``
        self._results = ResultCache(lambda: self._state.version, cache_size, 3)
        #: the newest alerts and their one background refresher (``analyzers.live.AlertRefresher``)
        self._alerts = AlertRefresher()
        #: compute alerts inline in overview() instead of serving the previous version's while recomputing
        self.sync_alerts = False

    # --- state ---------------------------------------------------------------------------------
    @property
    def version(self) -> int:
        return self._state.version

    @property
    def rows(self) -> int:
        return self._state.rows

    def refresh(self) -> RefreshInfo:
        """Read the rows appended since the last refresh and fold them into the cubes (O(new rows))."""
        with self._refresh_lock:
            res = self._reader.poll()
            st = self._state
            malformed = len(res.malformed)
            if res.reset:  # the dictionaries stay: older snapshots still decode with them
                self._alerts.reset(st.version + 1)
                st = _State(version=st.version + 1)
            df = res.frame
            if len(df):
                cube, hourly, part = self._chunk_cubes(df)
                cube = cube if st.cube is None else _concat(st.cube, cube)
                hourly = hourly if st.hourly is None else _concat(st.hourly, hourly)
                compacted = st.compacted_rows
                if _len(cube) > 2 * max(compacted, 4096):
                    cube, hourly = _regroup_cube(cube), _regroup_hourly(hourly)
                    compacted = _len(cube)
                st = _State(
                    version=st.version + (0 if res.reset else 1),
                    rows=st.rows + len(df),
                    malformed=st.malformed + malformed,
                    cube=cube,
                    hourly=hourly,
                    parts=(*st.parts, part),
                    compacted_rows=compacted,
                )
            elif malformed:
                st = _replace(st, malformed=st.malformed + malformed)
            with self._lock:
                changed = st.version != self._state.version
                self._state = st
                if changed:
                    self._results.clear()
            return RefreshInfo(
                new_rows=len(df), reset=bool(res.reset), version=st.version, malformed=malformed
            )

    def _chunk_cubes(self, df: Any) -> tuple[Cube, Cube, cubes.Cube]:
        """The new rows as one analysis cube (``analyzers.cube.build``: hour grain, ``ANALYSIS_DIMS``,
        ``ANALYSIS_SIDES``), and from its cells the day cube and the hourly cube, recoded into the
        session's grow-only dictionaries."""
        built = cubes.build(df, grain="hour", dims=ANALYSIS_DIMS, sides=ANALYSIS_SIDES)
        cols = {k: built.cols[k] for k in ("hour", *DIMS, *MEASURES, "first_ms", "last_ms")}
        for d in DIMS:
            if len(built.labels[d]):
                cols[d] = self._codes[d].table(built.labels[d])[cols[d]]
        hourly = _regroup_hourly({k: cols[k] for k in ("hour", *HOURLY_DIMS, "cost_usd", "calls")})
        cols["day"] = cols.pop("hour") // 24
        return _regroup_cube(cols), hourly, built

    # --- caching -------------------------------------------------------------------------------
    def _cached(self, key: tuple, compute: Callable[[], Any], *, large: bool = False) -> Any:
        """``ResultCache.get``: once per key (starting with the data version), the newest few kept."""
        return self._results.get(key, compute, large=large)

    # --- filtering -----------------------------------------------------------------------------
    def _cube_mask(
        self, cube: Cube, f: Filters, day_range: tuple[int, int] | None = None
    ) -> np.ndarray | None:
        """Rows of the cube the filters keep (None = all of them)."""
        mask = None

        def both(m: np.ndarray) -> None:
            nonlocal mask
            mask = m if mask is None else mask & m

        day = cube["day"]
        lo, hi = day_range if day_range is not None else (_day_int(f.start), _day_int(f.end))
        if lo is not None:
            both(day >= lo)
        if hi is not None:
            both(day <= hi)
        for dim, values in _value_filters(f):
            both(np.isin(cube[dim], self._codes[dim].lookup(values)))
        for dim, value in zip(("organization_id", "product_id", "model"), f.drill, strict=False):
            both(cube[dim] == self._codes[dim].index.get(value, -1))
        return mask

    def _analysis(self, st: _State) -> cubes.Cube:
        """The analysis cube of version ``st`` (every call): its parts merged once and kept as one."""
        if not st.parts:
            return cubes.empty("hour", ANALYSIS_DIMS, ANALYSIS_SIDES)
        if len(st.parts) == 1:
            return st.parts[0]

        def merge() -> cubes.Cube:
            whole = cubes.merge(*st.parts)
            with self._lock:
                if self._state.version == st.version and self._state.parts is st.parts:
                    self._state = _replace(self._state, parts=(whole,))
            return whole

        return self._cached((st.version, "analysis-cube"), merge, large=True)

    def chart_cube(self, filters: Filters | None = None) -> cubes.Cube:
        """The analysis cube narrowed to ``filters`` (side tables still per cell), for the chart builder."""
        st = self._state
        f = filters or Filters()
        whole = self._analysis(st)
        if f == Filters():
            return whole
        return self._cached(
            (st.version, "chart-cube", f), lambda: cube_filter.select(whole, *_selection(f)), large=True
        )

    def analysis_cube(self, filters: Filters | None = None) -> cubes.Cube:
        """The cube the analyzers read for ``filters``: ``chart_cube`` with its side tables projected to
        the keys of ``analyzers.cube.SIDES`` (``cube_filter.project``)."""
        st = self._state
        f = filters or Filters()
        return self._cached(
            (st.version, "analysis", f), lambda: cube_filter.project(self.chart_cube(f)), large=True
        )

    def export_rows(self, filters: Filters | None = None) -> pd.DataFrame:
        """The call rows matching ``filters``, read from the file now and not kept (for exports such as
        the FOCUS download: ``metering.store.read_calls``, the reader ``revenium-flow export`` uses)."""
        from metering.store import empty_frame, read_calls

        if not self.path.exists():
            return empty_frame()
        return filter_frame(read_calls(self.path), filters or Filters())

    # --- results -------------------------------------------------------------------------------
    def result(self, name: str, filters: Filters | None = None) -> AnalysisResult:
        """One analyzer on the filtered cube (``registry.run_cube``), at most once per (data version,
        filters)."""
        registry.get(name)  # unknown names fail here, with the list of valid ones
        st = self._state
        f = filters or Filters()
        if name == realtime.NAME and f == Filters():
            return self._realtime(st)
        return self._cached(
            (st.version, "result", name, f), lambda: registry.run_cube(name, self.analysis_cube(f), self.ctx)
        )

    def alerts(self) -> list[Alert]:
        """Real-time alerts on all data (from the running cubes), cached per version."""
        return list(self._realtime(self._state).alerts)

    def _realtime(self, st: _State) -> AnalysisResult:
        def compute() -> AnalysisResult:
            res = realtime.analyze_inputs(self._realtime_inputs(st), self.ctx)
            self._alerts.publish(st.version, res.alerts)
            return res

        return self._cached((st.version, "result", realtime.NAME, Filters()), compute)

    def latest_alerts(self) -> tuple[int, list[Alert]]:
        """(data version, alerts) of the newest alert computation; (0, []) before the first."""
        return self._alerts.latest() or (0, [])

    def refresh_alerts(self, wait: bool = False) -> None:
        """Recompute the alerts of the current data version in the background unless they are newest
        already or a recompute is running (one refresher: ``analyzers.live.AlertRefresher``)."""
        st = self._state
        latest = self._alerts.latest()
        if st.rows and (latest is None or latest[0] < st.version):
            self._alerts.want(st)
            self._alerts.start(self._realtime)
        if wait:
            self._alerts.join()

    def wait_alerts(self) -> None:
        """Wait for a running background alert recompute."""
        self._alerts.join()

    def _overview_alerts(self, st: _State) -> tuple[int, list[Alert]]:
        """Alerts for the overview without waiting for a recompute.

        When this version's alerts are not ready yet but an earlier version's are, those are returned
        and the current version is computed on the background refresher (one at a time); the overview is
        then at most one data version behind on alerts only. The very first call computes inline.
        """
        done = self._results.peek((st.version, "result", realtime.NAME, Filters()))
        if done is not None:
            return st.version, list(done.alerts)
        latest = self._alerts.latest()
        if latest is not None and not self.sync_alerts:
            self._alerts.want(st)
            return latest
        return st.version, list(self._realtime(st).alerts)

    def _start_pending_alerts(self) -> None:
        """Start the background alert recompute requested by the overview just built (after it, so the
        overview itself does not compete with it for the interpreter)."""
        self._alerts.start(self._realtime)

    def _realtime_inputs(self, st: _State) -> realtime.RealtimeInputs:
        """The realtime analyzer's aggregates, taken from the cubes instead of the rows."""
        if st.cube is None or not _len(st.cube):
            from metering.store import empty_frame

            return realtime.inputs_from_frame(empty_frame())
        return realtime.inputs_from_cube(self._as_cube(st.cube), st.hourly, realtime.budget_scopes(self.ctx))

    def _as_cube(self, cells: Cube) -> cubes.Cube:
        """Cells of the running day cube as an ``analyzers.cube.Cube`` (labels from the dictionaries)."""
        labels = {d: tuple(self._codes[d].values) for d in DIMS}
        return cubes.Cube("day", labels, cells, cubes.empty(dims=DIMS).sketch, DIMS)

    def _labels(self, dim: str, codes: np.ndarray) -> np.ndarray:
        return np.asarray(self._codes[dim].values, dtype=object)[codes].astype(str)

    # --- overview ------------------------------------------------------------------------------
    def overview(self, filters: Filters | None = None) -> Overview:
        """Cards, daily cost by provider, the hierarchy and open alerts, from the running cubes."""
        st = self._state
        f = filters or Filters()
        key = (st.version, "overview", f)
        ov = self._cached(key, lambda: self._overview(st, f))
        self._start_pending_alerts()
        if ov.alerts_version != st.version:
            ready = (st.version, "result", realtime.NAME, Filters()) in self._results
            if ready:
                self._results.drop(key)
                ov = self._cached(key, lambda: self._overview(st, f))
        return ov

    def _overview(self, st: _State, f: Filters) -> Overview:
        alerts_version, alerts = self._overview_alerts(st)
        cube = st.cube if st.cube is not None else _empty_cube()
        sel = _take(cube, self._cube_mask(cube, f))
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
            now_sel = _take(cube, self._cube_mask(cube, f, now_days[:2]))
            prev_sel = _take(cube, self._cube_mask(cube, f, prev_days[:2]))
            if _len(now_sel) and _len(prev_sel):
                # revenue of both windows from the subscriptions the calls imply: those of the whole
                # selection without a date filter, else those of the two windows' calls
                if f.start is None and f.end is None and cur["spells"] is not None:
                    spells = cur["spells"]
                else:
                    both = _take(cube, self._cube_mask(cube, f, (prev_days[0], now_days[1])))
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
            version=st.version,
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
            lo = _day_int(f.start) if f.start is not None else int(sel["day"].min())
            hi = min(_day_int(f.end) if f.end is not None else as_of_day, as_of_day)
            n = max(hi - lo + 1, 1)
            end_ms = min((hi + 1) * _DAY_MS, as_of_ms)
            now = (lo, hi, (lo * _DAY_MS, max(end_ms, lo * _DAY_MS + 1)))
            prev = (lo - n, lo - 1, ((lo - n) * _DAY_MS, lo * _DAY_MS))
            return (now, prev), f"vs the previous {n} day{'s' if n > 1 else ''}"
        last = int(last_complete_day(_ms_to_ts(as_of_ms)).value // 1_000_000 // _DAY_MS)
        n = RUN_RATE_DAYS
        now = (last - n + 1, last, ((last - n + 1) * _DAY_MS, (last + 1) * _DAY_MS))
        prev = (last - 2 * n + 1, last - n, ((last - 2 * n + 1) * _DAY_MS, (last - n + 1) * _DAY_MS))
        return (now, prev), f"last {n} complete days vs the {n} before"

    def _alerts_in_scope(self, alerts: list[Alert], sel: Cube) -> list[Alert]:
        """Alerts whose entity (customer:X, model:X, provider:X) has calls in the selected cube rows."""
        present: dict[str, set[str]] = {}
        for dim in ("customer", "model", "provider"):
            col = "customer_id" if dim == "customer" else dim
            codes = np.unique(np.asarray(sel[col])) if _len(sel) else np.zeros(0, dtype="int64")
            present[dim] = set(self._labels(col, codes)) if len(codes) else set()
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
        first, last = _ms_to_ts(sel["first_ms"].min()), _ms_to_ts(sel["last_ms"].max())
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
            series = pd.Series(daily, index=_days_to_ts(np.arange(d0, d0 + len(daily))))
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
        per["customer_id"] = self._labels("customer_id", per["customer_id"])
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
            np.asarray(self._codes["customer_id"].values, dtype=object),
            sel["day"],
            sel["subscription_tier"],
            np.asarray(self._codes["subscription_tier"].values, dtype=object),
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
                "date": _days_to_ts(g["day"]),
                "provider": self._labels("provider", g["provider"]),
                "cost_usd": g["cost_usd"].astype("float64"),
                "calls": g["calls"].astype("int64"),
            }
        )

    def _calls_by_source(self, sel: Cube) -> dict[str, int]:
        """Calls per ``source`` value in the selection, sources in the schema's order (SOURCES)."""
        g = _sum_by(sel, ["source"], ["calls"])
        counts = dict(
            zip(self._labels("source", g["source"]), g["calls"].astype("int64").tolist(), strict=True)
        )
        rank = {name: i for i, name in enumerate(SOURCES)}
        return dict(sorted(counts.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))

    def _hierarchy(self, sel: Cube) -> pd.DataFrame:
        keys = ["organization_id", "product_id", "model"]
        g = _sum_by(sel, keys, ["cost_usd", "calls"])
        # sort by the labels' lexical ranks (integers), not by the strings themselves
        order = np.lexsort(tuple(self._ranks(k)[g[k]] for k in reversed(keys)))
        out = pd.DataFrame({k: self._labels(k, g[k][order]) for k in keys})
        out["cost_usd"] = g["cost_usd"][order].astype("float64")
        out["calls"] = g["calls"][order].astype("int64")
        return out

    def _ranks(self, dim: str) -> np.ndarray:
        """Lexical rank of every code of a dimension."""
        values = self._codes[dim].values
        ranks = np.empty(len(values), dtype="int64")
        ranks[np.argsort(np.asarray(values, dtype=str), kind="stable")] = np.arange(len(values))
        return ranks

    # --- options -------------------------------------------------------------------------------
    def filter_options(self) -> dict[str, Any]:
        """Values present in the data for each filter, and the first/last day ("start", "end")."""
        st = self._state
        cube = st.cube if st.cube is not None else _empty_cube()
        out: dict[str, Any] = {}
        for key, dim in (
            ("organizations", "organization_id"),
            ("tiers", "subscription_tier"),
            ("environments", "environment"),
            ("sources", "source"),
            ("customers", "customer_id"),
            ("api_keys", "api_key_id"),
        ):
            present = np.unique(cube[dim])
            out[key] = sorted(self._labels(dim, present).tolist()) if len(present) else []
        if _len(cube):
            start = _ms_to_ts(cube["first_ms"].min()).date().isoformat()
            end = _ms_to_ts(cube["last_ms"].max()).date().isoformat()
            out["start"], out["end"], out["dates"] = start, end, [start, end]
        else:
            out["start"], out["end"], out["dates"] = None, None, []
        return out


# --- helpers ------------------------------------------------------------------------------------


def _replace(st: _State, **kw: Any) -> _State:
    from dataclasses import replace

    return replace(st, **kw)


def _len(cube: Cube) -> int:
    return len(cube["calls"])


def _concat(a: Cube, b: Cube) -> Cube:
    return {k: np.concatenate([a[k], b[k]]) for k in a}


def _take(cube: Cube, mask: np.ndarray | None) -> Cube:
    return cube if mask is None else {k: v[mask] for k, v in cube.items()}


#: sums per combination of integer keys (analyzers.cube.sums_by)
_sum_by = cubes.sums_by


def _regroup_cube(raw: Cube) -> Cube:
    return cubes.regroup_cells(raw, "day", DIMS)


def _regroup_hourly(raw: Cube) -> Cube:
    return cubes.regroup_cols(raw, ["hour", *HOURLY_DIMS], ["cost_usd", "calls"])


def _empty_cube() -> Cube:
    cols = ["day", *DIMS, *MEASURES, "first_ms", "last_ms"]
    return {c: np.array([], dtype="float64" if c == "cost_usd" else "int64") for c in cols}


def _day_int(d: date | None) -> int | None:
    return None if d is None else int((pd.Timestamp(d) - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1))


def _days_to_ts(days: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(np.asarray(days, dtype="int64") * _DAY_MS, unit="ms", utc=True))


def _ms_to_ts(ms: Any) -> pd.Timestamp | None:
    if ms is None or pd.isna(ms):
        return None
    return pd.Timestamp(int(ms), unit="ms", tz="UTC")


def _value_filters(f: Filters) -> list[tuple[str, tuple[str, ...]]]:
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


def _isin(s: pd.Series, values: tuple[str, ...]) -> np.ndarray:
    """Membership with "(none)" matching missing values, as in the cube."""
    mask = s.isin(values).to_numpy(dtype=bool)
    if MISSING_KEY in values:
        mask |= s.isna().to_numpy()
    return mask


def _selection(f: Filters) -> tuple[tuple[int | None, int | None], dict[str, tuple[str, ...]]]:
    """``cube_filter.select``'s arguments for the filters: hour keys of the date range and the labels
    each dimension may take (the drill path and a value filter on one dimension both apply)."""
    values: dict[str, tuple[str, ...]] = {}
    pairs = [*_value_filters(f), *((c, (v,)) for c, v in zip(_DRILL, f.drill, strict=False))]
    for col, allowed in pairs:
        values[col] = tuple(v for v in values[col] if v in allowed) if col in values else tuple(allowed)
    return cube_filter.day_keys("hour", _day_int(f.start), _day_int(f.end)), values


_DRILL = ("organization_id", "product_id", "model")


def filter_frame(df: pd.DataFrame, f: Filters) -> pd.DataFrame:
    """Rows matching the filters (dates inclusive, UTC), the same selection the cube mask makes."""
    if f == Filters() or df.empty:
        return df
    mask = np.ones(len(df), dtype=bool)
    ts = df["timestamp"]
    if f.start is not None:
        mask &= (ts >= pd.Timestamp(f.start, tz="UTC")).to_numpy()
    if f.end is not None:
        mask &= (ts < pd.Timestamp(f.end, tz="UTC") + pd.Timedelta(days=1)).to_numpy()
    for col, values in _value_filters(f):
        mask &= _isin(df[col], values)
    for col, value in zip(("organization_id", "product_id", "model"), f.drill, strict=False):
        mask &= _isin(df[col], (value,))
    return df[mask].reset_index(drop=True)
