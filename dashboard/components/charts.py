"""What every chart module shares: the empty figure, text escaping, the standard inputs and the callbacks
that feed a chart from the overview or from an analyzer's result."""

from __future__ import annotations

import html as _html
from collections.abc import Iterable

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from dash import Input, Output, no_update

from analyzers.base import AnalysisResult
from dashboard.components.shell import DRILL_STORE, FILTER_STORE, VERSION_STORE
from dashboard.hub import DataHub, filters_from_store

TEMPLATE = "plotly_white"
#: (title, figure) of a static report's figure
ReportFigure = tuple[str, go.Figure]
#: the template as a plain dict, for figures built without validation (hot, redrawn every data version)
TEMPLATE_DICT = pio.templates[TEMPLATE].to_plotly_json()
MARGIN = {"l": 40, "r": 10, "t": 30, "b": 40}
SEVERITY_PLOT_COLOURS = {"critical": "#dc3545", "warning": "#ffc107", "info": "#0dcaf0"}

#: the inputs a data chart listens to: new data version, the tab's filters and drill path
DATA_INPUTS = [
    Input(VERSION_STORE, "data"),
    Input(FILTER_STORE, "data"),
    Input(DRILL_STORE, "data"),
]


def nice_step(span: float, target_ticks: int = 5) -> float:
    """A round tick step (1, 2, 2.5 or 5 × 10^k) giving about ``target_ticks`` ticks over ``span``."""
    import math

    if not math.isfinite(span) or span <= 0:
        return 1.0
    raw = span / max(1, target_ticks)
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * power:
            return m * power
    return 10 * power


def nice_range(lo: float, hi: float, target_ticks: int = 5) -> tuple[float, float, float]:
    """(start, end, step) covering [lo, hi] on whole multiples of a round step (axis ticks like 20 %,
    never 46.5 %)."""
    import math

    step = nice_step(hi - lo, target_ticks)
    return math.floor(lo / step) * step, math.ceil(hi / step) * step, step


def plot_text(values: Iterable) -> list[str]:
    """Plotly renders a small HTML subset in labels; escape so data text shows as literal text."""
    return [_html.escape(str(v), quote=False) for v in values]


def has_rows(version: dict | None) -> bool:
    return bool(version) and int(version.get("rows") or 0) > 0


def grouped_bars(fig: go.Figure, yaxis_title: str) -> go.Figure:
    """The layout of a grouped bar chart with the legend below (latency percentiles, time to first token)."""
    fig.update_layout(
        barmode="group",
        template=TEMPLATE,
        margin=MARGIN,
        yaxis_title=yaxis_title,
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def empty_figure(message: str = "No data for the current selection.") -> go.Figure:
    fig = go.Figure()
    fig.update_layout(
        template=TEMPLATE,
        margin=MARGIN,
        xaxis={"visible": False},
        yaxis={"visible": False},
        annotations=[
            {"text": message, "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}
        ],
    )
    return fig


def pick(df: pd.DataFrame, *candidates: str) -> str | None:
    """The first of ``candidates`` that is a column of ``df`` (tables name some columns differently)."""
    for c in candidates:
        if c in df.columns:
            return c
    return None


def compute(
    hub: DataHub, name: str, version: dict | None, filters: dict | None, drill: list | None
) -> AnalysisResult | None:
    """The analyzer's result for this tab's filters (cached by the session per data version)."""
    if not has_rows(version):
        return None
    return hub.result(name, filters_from_store(filters, drill))


def ticked(version: dict | None) -> bool:
    """True once the tab has received its first data version from the tick."""
    return bool(version) and int(version.get("version", -1)) >= 0


def register_overview_chart(app, hub, graph_id: str, figure) -> None:
    """One callback: the overview for the tab's filters and drill path -> ``figure(overview, drill)``."""

    @app.callback(Output(graph_id, "figure"), *DATA_INPUTS)
    def update_overview_chart(version, filters, drill):
        if not has_rows(version):
            return empty_figure("No data yet — press Generate.")
        ov = hub.overview(filters_from_store(filters, drill))
        if ov is None:
            return no_update
        return figure(ov, list(drill or []))


def register_result_chart(app, hub, analyzer: str, graph_id: str, process, create) -> None:
    """One callback: the analyzer's result for the tab's filters -> ``create(process(result))``."""

    @app.callback(Output(graph_id, "figure"), *DATA_INPUTS)
    def update_result_chart(version, filters, drill):
        result = compute(hub, analyzer, version, filters, drill)
        if result is None:
            return empty_figure("No data yet — press Generate.")
        return create(process(result))


def result_table(result: AnalysisResult, name: str, *cols: str) -> pd.DataFrame | None:
    """The result's table ``name`` when it has rows and every column of ``cols`` (else None)."""
    t = result.tables.get(name)
    if t is None or t.empty or any(c not in t.columns for c in cols):
        return None
    return t


def bar_figure(df: pd.DataFrame, x: str, y: str, *, color: str | None = None, ytitle: str = "") -> go.Figure:
    """A plain (or, with ``color``, grouped) bar chart of a report figure."""
    if color:
        fig = go.Figure(
            [
                go.Bar(name=str(k), x=g[x].astype(str), y=g[y])
                for k, g in df.groupby(color, sort=False, observed=True)
            ]
        )
        fig.update_layout(barmode="group")
    else:
        fig = go.Figure(go.Bar(x=df[x].astype(str), y=df[y]))
    fig.update_layout(template=TEMPLATE, margin={"l": 50, "r": 10, "t": 10, "b": 80}, yaxis_title=ytitle)
    return fig


def lines_figure(df: pd.DataFrame, x: str, y: str, by: str, ytitle: str) -> go.Figure:
    """One line per value of ``by`` (a report figure)."""
    fig = go.Figure(
        [
            go.Scatter(name=str(k), x=g[x], y=g[y], mode="lines")
            for k, g in df.groupby(by, sort=True, observed=True)
        ]
    )
    fig.update_layout(template=TEMPLATE, margin={"l": 50, "r": 10, "t": 10, "b": 40}, yaxis_title=ytitle)
    return fig
