"""A saved chart: its configuration model, validation, and the function that draws it from call data.

A ``ChartConfig`` says what to show (chart type, an ordered hierarchy of dimensions, one metric, filters,
time grain); ``build_figure(config, data)`` turns it plus the usage cube (or call rows, built into one)
into a Plotly figure. The
configuration is plain data so a team can share it as JSON (see ``dashboard.pages.chart_builder.workspace``); every
instance is valid by construction, so drawing never meets a bad configuration.
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from analyzers import cube as cubes
from analyzers.base import AnalysisContext
from dashboard.pages.chart_builder.metrics import (
    DIMENSION_LABELS,
    DIMENSIONS,
    METRIC_FORMULAS,
    METRICS,
    aggregate,
    chart_cube,
    format_values,
    keep_top,
    lump_small,
    prepare,
    rank_weight,
    select_dates,
)
from metering.tiers import Tier, load_tiers

FORMAT = "revenium-flow chart v1"
CHART_TYPES: dict[str, str] = {
    "treemap": "Treemap",
    "sunburst": "Sunburst",
    "bar": "Bar",
    "line": "Line (time series)",
    "table": "Table",
}
BAR_MODES = ("stack", "group")
#: time grain -> label; buckets are UTC hours, days, ISO weeks (Monday) and calendar months
TIME_GRAINS: dict[str, str] = {"hour": "Hour", "day": "Day", "week": "Week", "month": "Month"}
MAX_DIMENSIONS = 4
#: lines and bar segments drawn at most (the rest is merged into "(other series)")
MAX_SERIES = 20
OTHER_SERIES = "(other series)"
#: the merged rest is grey, never one of the palette's series colours
OTHER_COLOUR = "#adb5bd"
MAX_TOP_N = 500
MAX_LAST_DAYS = 3660
MAX_FILTER_VALUES = 1000
MAX_TITLE = 120
_MIN_DIMENSIONS = {"treemap": 1, "sunburst": 1, "bar": 1, "line": 0, "table": 0}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FIELDS = (
    "title",
    "chart_type",
    "dimensions",
    "metric",
    "bar_mode",
    "time_grain",
    "date_from",
    "date_to",
    "last_days",
    "filters",
    "top_n",
)
_SEP = " / "
#: node ids join the path with a line break, which no stored value can contain (the schema refuses it)
_ID_SEP = "\n"
_ROOT_ID = "All calls"


class ConfigError(ValueError):
    """A chart configuration is wrong; ``problems`` lists (field, reason) for every mistake found."""

    def __init__(self, problems: Sequence[tuple[str, str]]):
        self.problems = list(problems)
        super().__init__("; ".join(f"{f}: {r}" for f, r in self.problems))


@dataclass(frozen=True)
class ChartConfig:
    """What a saved chart shows. Dimensions are an ordered hierarchy (outermost first)."""

    title: str
    chart_type: str = "treemap"
    dimensions: tuple[str, ...] = ("organization", "product", "model")
    metric: str = "cost"
    bar_mode: str = "stack"
    time_grain: str = "day"
    date_from: str | None = None  # inclusive UTC day, YYYY-MM-DD
    date_to: str | None = None  # inclusive UTC day, YYYY-MM-DD
    last_days: int | None = None  # only the last N days up to the newest call (metrics.LAST_DAYS_METHOD)
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # dimension -> allowed values
    top_n: int | None = 15  # per dimension; the rest is grouped as "(other)"; None keeps every value

    def __post_init__(self) -> None:
        # normalise JSON-ish input (lists) so equal configurations compare equal; drop empty filters
        if isinstance(self.dimensions, list):
            object.__setattr__(self, "dimensions", tuple(self.dimensions))
        if isinstance(self.filters, Mapping):
            filters = {k: tuple(v) if isinstance(v, list) else v for k, v in self.filters.items() if v}
            object.__setattr__(self, "filters", filters)
        problems = config_problems(self)
        if problems:
            raise ConfigError(problems)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; ``from_dict(to_dict())`` gives an equal config."""
        return {
            "format": FORMAT,
            "title": self.title,
            "chart_type": self.chart_type,
            "dimensions": list(self.dimensions),
            "metric": self.metric,
            "bar_mode": self.bar_mode,
            "time_grain": self.time_grain,
            "date_from": self.date_from,
            "date_to": self.date_to,
            "last_days": self.last_days,
            "filters": {k: list(v) for k, v in self.filters.items()},
            "top_n": self.top_n,
        }

    @classmethod
    def from_dict(cls, doc: Any) -> ChartConfig:
        """Parse a JSON document; raises ``ConfigError`` naming every wrong field."""
        if not isinstance(doc, dict):
            raise ConfigError([("config", f"expected a JSON object, got {type(doc).__name__}")])
        problems: list[tuple[str, str]] = []
        if doc.get("format", FORMAT) != FORMAT:
            problems.append(("format", f"expected {FORMAT!r}, got {doc.get('format')!r}"))
        problems += [(k, "unknown field") for k in doc if k not in _FIELDS and k != "format"]
        if "title" not in doc:
            problems.append(("title", "missing required field"))
        kwargs: dict[str, Any] = {k: doc[k] for k in _FIELDS if k in doc}
        if "dimensions" in kwargs and not isinstance(kwargs["dimensions"], list):
            problems.append(("dimensions", "expected a list of dimension names"))
        filters = kwargs.get("filters", {})
        if not isinstance(filters, dict) or not all(isinstance(v, list) for v in filters.values()):
            problems.append(("filters", "expected an object mapping dimension names to lists of values"))
        if problems:
            raise ConfigError(problems)
        return cls(**kwargs)

    def replace(self, **changes: Any) -> ChartConfig:
        """A copy with some fields changed (validated like any new configuration)."""
        return dataclasses.replace(self, **changes)


def config_problems(cfg: ChartConfig) -> list[tuple[str, str]]:
    """Every (field, reason) wrong with a configuration; empty when it is valid."""
    p: list[tuple[str, str]] = []
    if not isinstance(cfg.title, str) or not cfg.title.strip():
        p.append(("title", "must be a non-empty string"))
    elif len(cfg.title) > MAX_TITLE:
        p.append(("title", f"longer than {MAX_TITLE} characters ({len(cfg.title)})"))
    elif _CONTROL.search(cfg.title):
        p.append(("title", "contains a control character"))
    if cfg.chart_type not in CHART_TYPES:
        p.append(
            ("chart_type", f"unknown chart type {cfg.chart_type!r}; expected one of {', '.join(CHART_TYPES)}")
        )
    if cfg.metric not in METRICS:
        p.append(("metric", f"unknown metric {cfg.metric!r}; expected one of {', '.join(METRICS)}"))
    if cfg.bar_mode not in BAR_MODES:
        p.append(("bar_mode", f"unknown bar mode {cfg.bar_mode!r}; expected one of {', '.join(BAR_MODES)}"))
    if cfg.time_grain not in TIME_GRAINS:
        p.append(
            ("time_grain", f"unknown time grain {cfg.time_grain!r}; expected one of {', '.join(TIME_GRAINS)}")
        )
    dims = cfg.dimensions
    if not isinstance(dims, tuple) or not all(isinstance(d, str) for d in dims):
        p.append(("dimensions", "expected a tuple of dimension names"))
    else:
        unknown = [d for d in dims if d not in DIMENSIONS]
        if unknown:
            p.append(
                ("dimensions", f"unknown dimension {unknown[0]!r}; expected any of {', '.join(DIMENSIONS)}")
            )
        if len(set(dims)) != len(dims):
            p.append(("dimensions", "a dimension appears twice"))
        if len(dims) > MAX_DIMENSIONS:
            p.append(("dimensions", f"at most {MAX_DIMENSIONS} dimensions, got {len(dims)}"))
        need = _MIN_DIMENSIONS.get(cfg.chart_type, 0)
        if len(dims) < need:
            p.append(("dimensions", f"a {cfg.chart_type} needs at least {need} dimension"))
    for name in ("date_from", "date_to"):
        v = getattr(cfg, name)
        if v is not None and (not isinstance(v, str) or not _DATE.match(v) or not _is_date(v)):
            p.append((name, f"expected a date YYYY-MM-DD or null, got {v!r}"))
    dates_ok = not any(f in ("date_from", "date_to") for f, _ in p)
    if dates_ok and cfg.date_from and cfg.date_to and cfg.date_from > cfg.date_to:
        p.append(("date_to", f"{cfg.date_to} is before date_from {cfg.date_from}"))
    if cfg.last_days is not None:
        if (
            isinstance(cfg.last_days, bool)
            or not isinstance(cfg.last_days, int)
            or not 1 <= cfg.last_days <= MAX_LAST_DAYS
        ):
            p.append(
                (
                    "last_days",
                    f"expected a whole number of days 1..{MAX_LAST_DAYS} or null, got {cfg.last_days!r}",
                )
            )
        elif cfg.date_from or cfg.date_to:
            p.append(("last_days", "use either last_days or date_from/date_to, not both"))
    if cfg.top_n is not None and (
        isinstance(cfg.top_n, bool) or not isinstance(cfg.top_n, int) or not 1 <= cfg.top_n <= MAX_TOP_N
    ):
        p.append(("top_n", f"expected a whole number 1..{MAX_TOP_N} or null, got {cfg.top_n!r}"))
    if not isinstance(cfg.filters, Mapping):
        p.append(("filters", "expected a mapping of dimension -> values"))
    else:
        for dim, values in cfg.filters.items():
            where = f"filters.{dim}"
            if dim not in DIMENSIONS:
                p.append((where, f"unknown dimension; expected any of {', '.join(DIMENSIONS)}"))
            elif not isinstance(values, tuple) or not all(isinstance(v, str) and v for v in values):
                p.append((where, "expected a list of non-empty strings"))
            elif len(values) > MAX_FILTER_VALUES:
                p.append((where, f"at most {MAX_FILTER_VALUES} values, got {len(values)}"))
            elif any(len(v) > 256 or _CONTROL.search(v) for v in values):
                p.append((where, "a value is longer than 256 characters or contains a control character"))
    return p


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


# --- drawing -----------------------------------------------------------------------------------

#: the layout half of "plotly_white" (what the dashboard's charts use); its per-trace-type defaults are
#: left out because copying them into every figure costs ~10 ms and they match plotly's own defaults
_TEMPLATE = go.layout.Template(layout=pio.templates["plotly_white"].layout)


def build_figure(
    config: ChartConfig,
    df: pd.DataFrame | cubes.Cube,
    *,
    tiers: Mapping[str, Tier] | None = None,
    context: AnalysisContext | None = None,
) -> go.Figure:
    """Draw ``config`` from the session's chart cube (``metrics.chart_cube``; call rows in the schema of
    ``metering.schema`` are built into one first).

    The margin metric's revenue comes from ``context`` (its tiers and subscriptions file: the dashboard
    hands its own, so a chart's margin is the profitability analyzer's) or, without one, from ``tiers``
    (default: ``metering.tiers.load_tiers()``) and ``$REVENIUM_FLOW_SUBSCRIPTIONS``. Text from the data is
    escaped, so names show literally and never as HTML.
    """
    frame = chart_frame(config, df, tiers=tiers, context=context)
    if frame.empty:
        fig = _empty_figure("No calls match this chart's filters yet.")
    else:
        draw = {"treemap": _hierarchy, "sunburst": _hierarchy, "bar": _bar, "line": _line, "table": _table}
        fig = draw[config.chart_type](config, frame)
    label, unit = METRICS[config.metric]
    fig.update_layout(
        title={"text": _escape(config.title), "x": 0.01},
        template=_TEMPLATE,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        uirevision=config.title,  # live refreshes keep the user's zoom and legend choices
        meta={"metric": config.metric, "formula": METRIC_FORMULAS[config.metric], "unit": unit},
    )
    return fig


def chart_frame(
    config: ChartConfig,
    df: pd.DataFrame | cubes.Cube,
    *,
    tiers: Mapping[str, Tier] | None = None,
    context: AnalysisContext | None = None,
) -> pd.DataFrame:
    """The filtered cell-level frame a chart aggregates (``metrics.prepare``; revenue attributed before
    dimension filters, so a filtered cut keeps its own share of each customer's revenue)."""
    cube = chart_cube(df)
    dated = select_dates(cube, date_from=config.date_from, date_to=config.date_to, last_days=config.last_days)
    needed = list(dict.fromkeys(list(config.dimensions) + list(config.filters)))
    margin = config.metric == "margin"
    if context is not None:
        tiers = context.tiers
    frame = prepare(
        dated,
        needed,
        (load_tiers() if tiers is None else tiers) if margin else {},
        revenue=margin,
        context=context,
        latency=config.metric == "p95_latency",
    )
    mask = np.ones(len(frame), dtype=bool)
    for dim, values in config.filters.items():
        mask &= frame[dim].isin(list(values)).to_numpy()
    if not mask.all():
        frame = frame.loc[mask]
    return lump_small(frame, config.dimensions, config.top_n)


def _escape(value: object) -> str:
    """Plotly renders a small HTML subset in labels: escape so data text is shown as text."""
    return html.escape(str(value), quote=False)


def _escape_all(values: pd.Series | Sequence[object]) -> list[str]:
    return [_escape(v) for v in values]


def _empty_figure(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(
        text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font={"size": 15}
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def _joined(agg: pd.DataFrame, keys: Sequence[str], start: str | None = None, sep: str = _SEP) -> pd.Series:
    """Group labels joined with ``sep`` (prefixed by ``start``), e.g. "All calls / org_1 / product_a"."""
    out = pd.Series(start or "", index=agg.index, dtype="str")
    for i, k in enumerate(keys):
        out = (out + sep if start or i else out) + agg[k].astype("str")
    return out


def _hover(metric: str, first: str) -> str:
    return (
        f"{first}<br>{METRICS[metric][0]}: %{{customdata[0]}}<br>calls: %{{customdata[1]}}"
        "<br>cost: %{customdata[2]}<br>unpriced calls: %{customdata[3]}<extra></extra>"
    )


def _customdata(metric: str, agg: pd.DataFrame, extra: pd.Series | None = None) -> np.ndarray:
    """Per group: formatted metric, calls, cost, unpriced calls (and an escaped label path)."""
    cols = [
        format_values(metric, agg["value"]),
        format_values("calls", agg["calls"]),
        format_values("cost", agg["cost"]),
        agg["unpriced"].astype("str").tolist(),
    ]
    if extra is not None:
        cols.append(_escape_all(extra))
    return np.array(cols, dtype=object).T.reshape(len(agg), len(cols))


def _hierarchy(config: ChartConfig, frame: pd.DataFrame) -> go.Figure:
    """Treemap/sunburst: one node per group at every level, each level aggregated from the cells.

    Cost, calls and tokens size the nodes; any other metric colours them and the nodes are sized by calls
    (so no group disappears for having an unknown or negative value).
    """
    metric, dims = config.metric, list(config.dimensions)
    levels = [aggregate(frame, [], metric).assign(id=_ROOT_ID, parent="", label=_ROOT_ID)]
    for depth in range(1, len(dims) + 1):
        agg = aggregate(frame, dims[:depth], metric)
        agg["id"] = _joined(agg, dims[:depth], _ROOT_ID, _ID_SEP)
        agg["parent"] = _joined(agg, dims[: depth - 1], _ROOT_ID, _ID_SEP)
        agg["label"] = agg[dims[depth - 1]].astype("str")
        levels.append(agg[["id", "parent", "label", "value", "calls", "cost", "unpriced"]])
    nodes = pd.concat(levels, ignore_index=True)
    sized_by_metric = metric in ("cost", "calls", "tokens")
    if sized_by_metric:
        size, size_name = nodes["value"].fillna(0.0), METRICS[metric][0]
    else:
        size, size_name = nodes["calls"].astype("float64"), "Calls"
    label = METRICS[metric][0]
    trace_kwargs: dict[str, Any] = {
        "ids": nodes["id"].to_numpy(),
        "labels": _escape_all(nodes["label"]),
        "parents": nodes["parent"].to_numpy(),
        "values": size.to_numpy(),
        "branchvalues": "total",
        "customdata": _customdata(metric, nodes, nodes["id"].str.replace(_ID_SEP, _SEP, regex=False)),
        "texttemplate": "%{label}<br>%{customdata[0]}",
        "hovertemplate": _hover(metric, "%{customdata[4]}"),
    }
    if not sized_by_metric:
        marker: dict[str, Any] = {
            "colors": nodes["value"].to_numpy(dtype="float64"),
            "showscale": True,
            "colorbar": {"title": {"text": label}},
            "colorscale": {"margin": "RdYlGn", "error_rate": "Reds"}.get(metric, "Viridis"),
        }
        if metric == "margin":
            marker["cmid"] = 0.0
        trace_kwargs["marker"] = marker
    trace = go.Treemap(**trace_kwargs) if config.chart_type == "treemap" else go.Sunburst(**trace_kwargs)
    fig = go.Figure(trace)
    subtitle = f"size: {size_name}" + ("" if sized_by_metric else f" · colour: {label}")
    fig.add_annotation(
        text=subtitle,
        showarrow=False,
        x=0,
        y=1.06,
        xref="paper",
        yref="paper",
        xanchor="left",  # the chart toolbar sits on the right
        font={"size": 11},
    )
    return fig


def series_column(frame: pd.DataFrame, keys: Sequence[str]) -> pd.Series:
    """One category per combination of ``keys`` ("a / b"), the ``MAX_SERIES`` largest kept, the rest
    merged on the cells (so their metric is computed from their own cells) into "(other series)"."""
    if len(keys) == 1:
        series = frame[keys[0]]
    else:
        grouped = frame.groupby(list(keys), observed=True, sort=False)
        gid = grouped.ngroup().to_numpy()
        labels = [_SEP.join(str(part) for part in combo) for combo in grouped.size().index]
        series = pd.Series(pd.Categorical.from_codes(gid, labels), index=frame.index)
    return keep_top(series, rank_weight(frame), MAX_SERIES, other=OTHER_SERIES)


def _series_traces(
    agg: pd.DataFrame, has_series: bool, metric: str, x: str, make: Any
) -> list[go.BaseTraceType]:
    """One trace per series (a single trace named after the metric when there is none)."""
    if not has_series:
        return [make(x=agg[x], y=agg["value"], customdata=_customdata(metric, agg), name=METRICS[metric][0])]
    traces, other = [], None
    for name, part in agg.groupby("_series", observed=True, sort=True):
        trace = make(x=part[x], y=part["value"], customdata=_customdata(metric, part), name=_escape(name))
        if name == OTHER_SERIES:
            trace.marker.color = OTHER_COLOUR
            if isinstance(trace, go.Scatter):
                trace.line.color = OTHER_COLOUR
            other = trace
        else:
            traces.append(trace)
    return traces + ([other] if other is not None else [])  # the rest last, after the named series


def _bar(config: ChartConfig, frame: pd.DataFrame) -> go.Figure:
    """Bars per value of the first dimension, split (stacked or grouped) by the remaining ones."""
    metric, dims = config.metric, list(config.dimensions)
    order = aggregate(frame, dims[:1], metric).sort_values(["value", dims[0]], ascending=[False, True])
    split = len(dims) > 1
    if split:
        frame = frame.assign(_series=series_column(frame, dims[1:]))
    agg = aggregate(frame, [dims[0], "_series"] if split else dims[:1], metric)
    agg["x"] = _escape_all(agg[dims[0]])

    def make(**kw: Any) -> go.Bar:
        return go.Bar(hovertemplate=_hover(metric, "%{x}" + (" · %{fullData.name}" if split else "")), **kw)

    fig = go.Figure(_series_traces(agg, split, metric, "x", make))
    fig.update_layout(
        barmode="relative" if config.bar_mode == "stack" else "group",
        xaxis={
            "title": {"text": DIMENSION_LABELS[dims[0]]},
            "categoryorder": "array",
            "categoryarray": _escape_all(order[dims[0]]),
        },
        yaxis={"title": {"text": METRICS[metric][0]}},
        legend={"title": {"text": _SEP.join(DIMENSION_LABELS[d] for d in dims[1:])}},
        showlegend=split,
    )
    return fig


def _bucket(ts: pd.Series, grain: str) -> pd.Series:
    """UTC hour, day, week (starting Monday) or calendar month a call falls in."""
    day = ts.dt.floor("D")
    if grain == "hour":
        return ts.dt.floor("h")
    if grain == "day":
        return day
    if grain == "week":
        return day - pd.to_timedelta(ts.dt.day_of_week, unit="D")
    return day - pd.to_timedelta(ts.dt.day - 1, unit="D")


def _line(config: ChartConfig, frame: pd.DataFrame) -> go.Figure:
    """One line per combination of the dimensions (one line in all when there is none)."""
    metric, dims = config.metric, list(config.dimensions)
    frame = frame.assign(_bucket=_bucket(frame["_ts"], config.time_grain))
    if dims:
        frame = frame.assign(_series=series_column(frame, dims))
    agg = aggregate(frame, ["_bucket", "_series"] if dims else ["_bucket"], metric)
    agg = agg.sort_values("_bucket", kind="stable")

    def make(**kw: Any) -> go.Scatter:
        return go.Scatter(mode="lines+markers", hovertemplate=_hover(metric, "%{x} · %{fullData.name}"), **kw)

    fig = go.Figure(_series_traces(agg, bool(dims), metric, "_bucket", make))
    fig.update_layout(
        xaxis={"title": {"text": TIME_GRAINS[config.time_grain]}},
        yaxis={"title": {"text": METRICS[metric][0]}},
        legend={"title": {"text": _SEP.join(DIMENSION_LABELS[d] for d in dims)}},
        showlegend=bool(dims),
        hovermode="closest",
    )
    return fig


def table_frame(config: ChartConfig, frame: pd.DataFrame) -> pd.DataFrame:
    """The table chart's rows: one per group, largest metric first, with calls and cost beside it."""
    dims = list(config.dimensions)
    agg = aggregate(frame, dims, config.metric)
    agg = agg.sort_values(["value", *dims], ascending=[False, *[True] * len(dims)], na_position="last")
    return agg.rename(columns={d: DIMENSION_LABELS[d] for d in dims})


def _table(config: ChartConfig, frame: pd.DataFrame) -> go.Figure:
    agg = table_frame(config, frame)
    dims = [DIMENSION_LABELS[d] for d in config.dimensions]
    columns = {d: _escape_all(agg[d]) for d in dims} if dims else {"Scope": ["All calls"] * len(agg)}
    columns[METRICS[config.metric][0]] = format_values(config.metric, agg["value"])
    # calls and cost beside the metric (unless the metric is one of them)
    columns.setdefault("Calls", format_values("calls", agg["calls"]))
    columns.setdefault("Cost", format_values("cost", agg["cost"]))
    columns["Unpriced calls"] = agg["unpriced"].astype("str").tolist()
    n_text = len(dims) or 1
    align = ["left"] * n_text + ["right"] * (len(columns) - n_text)
    return go.Figure(
        go.Table(
            header={"values": list(columns), "align": align, "fill": {"color": "#e9ecef"}},
            cells={"values": list(columns.values()), "align": align},
        )
    )


def describe(config: ChartConfig) -> str:
    """One line summarising a configuration (for lists of saved charts)."""
    dims = " → ".join(DIMENSION_LABELS[d] for d in config.dimensions) or "all calls"
    parts = [CHART_TYPES[config.chart_type], METRICS[config.metric][0], dims]
    if config.chart_type == "line":
        parts.append(f"per {config.time_grain}")
    if config.filters:
        parts.append(
            "; ".join(f"{DIMENSION_LABELS[d]} = {', '.join(v)}" for d, v in config.filters.items() if v)
        )
    if config.last_days:
        parts.append(f"last {config.last_days} days")
    elif config.date_from or config.date_to:
        parts.append(f"{config.date_from or '…'} – {config.date_to or '…'}")
    return " · ".join(p for p in parts if p)


__all__ = [
    "BAR_MODES",
    "CHART_TYPES",
    "FORMAT",
    "TIME_GRAINS",
    "ChartConfig",
    "ConfigError",
    "build_figure",
    "chart_frame",
    "config_problems",
    "describe",
    "table_frame",
]
