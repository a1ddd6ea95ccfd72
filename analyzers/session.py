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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analyzers import cube as cubes
from analyzers import cube_filter, registry
from analyzers.base import MISSING_KEY, Alert, AnalysisContext, AnalysisResult
from analyzers.finops import realtime
from analyzers.live import AlertRefresher, ResultCache
from analyzers.overview import (
    DIMS,
    DRILL_DIMS,
    MEASURES,
    Codes,
    Cube,
    Filters,
    Overview,
    OverviewFigures,
    cell_count,
    day_int,
    empty_cells,
    ms_to_ts,
    value_filters,
)
from metering.store import IncrementalReader

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
HOURLY_DIMS: tuple[str, ...] = ("provider", "model")


@dataclass
class RefreshInfo:
    new_rows: int
    reset: bool
    version: int
    malformed: int


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
        self._codes = {d: Codes() for d in DIMS}
        #: the overview's figures from the day cube (``analyzers.overview``)
        self._figures = OverviewFigures(self._codes, self.ctx)
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
                if cell_count(cube) > 2 * max(compacted, 4096):
                    cube, hourly = _regroup_cube(cube), _regroup_hourly(hourly)
                    compacted = cell_count(cube)
                st = _State(
                    version=st.version + (0 if res.reset else 1),
                    rows=st.rows + len(df),
                    malformed=st.malformed + malformed,
                    cube=cube,
                    hourly=hourly,
                    parts=_fold(st.parts, part),
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
        the FOCUS download). The file is read one partition at a time (``analyzers.engine.partitions``,
        ``metering.partitions.read_partition``: the store's parser, as ``revenium-flow analyze`` and
        ``export`` read it) and each partition filtered before the next is read, so memory holds the
        selected rows and one partition, never the whole file."""
        from analyzers.engine import partitions
        from metering.partitions import read_partition
        from metering.store import concat_frames, empty_frame

        if not self.path.exists():
            return empty_frame()
        f = filters or Filters()
        parts = [filter_frame(read_partition(p).table.to_pandas(), f) for p in partitions(self.path)]
        return concat_frames(parts) if parts else empty_frame()

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
        if st.cube is None or not cell_count(st.cube):
            from metering.store import empty_frame

            return realtime.inputs_from_frame(empty_frame())
        return realtime.inputs_from_cube(self._as_cube(st.cube), st.hourly, realtime.budget_scopes(self.ctx))

    def _as_cube(self, cells: Cube) -> cubes.Cube:
        """Cells of the running day cube as an ``analyzers.cube.Cube`` (labels from the dictionaries)."""
        labels = {d: tuple(self._codes[d].values) for d in DIMS}
        return cubes.Cube("day", labels, cells, cubes.empty(dims=DIMS).sketch, DIMS)

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
        return self._figures.build(st.version, st.cube, f, alerts_version, alerts)

    # --- options -------------------------------------------------------------------------------
    def filter_options(self) -> dict[str, Any]:
        """Values present in the data for each filter, and the first/last day ("start", "end")."""
        st = self._state
        cube = st.cube if st.cube is not None else empty_cells()
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
            out[key] = sorted(self._figures.labels(dim, present).tolist()) if len(present) else []
        if cell_count(cube):
            start = ms_to_ts(cube["first_ms"].min()).date().isoformat()
            end = ms_to_ts(cube["last_ms"].max()).date().isoformat()
            out["start"], out["end"], out["dates"] = start, end, [start, end]
        else:
            out["start"], out["end"], out["dates"] = None, None, []
        return out


# --- helpers ------------------------------------------------------------------------------------


#: analysis-cube parts kept before the newest ones are merged into one (``_fold``)
MAX_PARTS = 16


def _fold(parts: tuple[cubes.Cube, ...], part: cubes.Cube) -> tuple[cubes.Cube, ...]:
    """``parts`` with ``part`` appended; past ``MAX_PARTS`` the parts after the first are merged into
    one, and that one into the first once it holds as many cells (so a refresh merges small cubes, and
    the large one is rebuilt only when the data has doubled since)."""
    parts = (*parts, part)
    if len(parts) <= MAX_PARTS:
        return parts
    head, tail = parts[0], cubes.merge(*parts[1:])
    return (cubes.merge(head, tail),) if len(tail) >= len(head) else (head, tail)


def _replace(st: _State, **kw: Any) -> _State:
    from dataclasses import replace

    return replace(st, **kw)


def _concat(a: Cube, b: Cube) -> Cube:
    return {k: np.concatenate([a[k], b[k]]) for k in a}


def _regroup_cube(raw: Cube) -> Cube:
    return cubes.regroup_cells(raw, "day", DIMS)


def _regroup_hourly(raw: Cube) -> Cube:
    return cubes.regroup_cols(raw, ["hour", *HOURLY_DIMS], ["cost_usd", "calls"])


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
    pairs = [*value_filters(f), *((c, (v,)) for c, v in zip(DRILL_DIMS, f.drill, strict=False))]
    for col, allowed in pairs:
        values[col] = tuple(v for v in values[col] if v in allowed) if col in values else tuple(allowed)
    return cube_filter.day_keys("hour", day_int(f.start), day_int(f.end)), values


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
    for col, values in value_filters(f):
        mask &= _isin(df[col], values)
    for col, value in zip(DRILL_DIMS, f.drill, strict=False):
        mask &= _isin(df[col], (value,))
    return df[mask].reset_index(drop=True)
