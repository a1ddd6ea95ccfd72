"""The figures of each static report: the analyzer's page charts plus a few report-only ones.

The chart modules of an analyzer's page (``dashboard/pages/<name>/``, listed in its ``SPEC.charts``) that
expose ``process_data(result)`` / ``create_figure(frame)`` are reused as they are, so a report shows the
same charts as the live page. The report-only figures below cover tables the live pages show as grids.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import ModuleType

import pandas as pd
import plotly.graph_objects as go

from analyzers.base import AnalysisResult
from dashboard.pages import analyzer_spec
from dashboard.pages.overview import daily_cost, hierarchy_treemap

TEMPLATE = "plotly_white"
Figure = tuple[str, go.Figure]


def _chart_modules(analyzer: str) -> list[ModuleType]:
    """The charts of the analyzer's page that draw from its result (``process_data`` + ``create_figure``)."""
    return [
        mod
        for mod in analyzer_spec(analyzer).charts
        if hasattr(mod, "process_data") and hasattr(mod, "create_figure")
    ]


def _title(mod: ModuleType) -> str:
    doc = (mod.__doc__ or mod.__name__).strip().splitlines()[0]
    text = doc.split(":", 1)[1].strip().rstrip(".") if ":" in doc else doc.rstrip(".")
    return text[:1].upper() + text[1:]


def _table(result: AnalysisResult, name: str, *cols: str) -> pd.DataFrame | None:
    t = result.tables.get(name)
    if t is None or t.empty or any(c not in t.columns for c in cols):
        return None
    return t


def _bar(df: pd.DataFrame, x: str, y: str, *, color: str | None = None, ytitle: str = "") -> go.Figure:
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


def _lines(df: pd.DataFrame, x: str, y: str, by: str, ytitle: str) -> go.Figure:
    fig = go.Figure(
        [
            go.Scatter(name=str(k), x=g[x], y=g[y], mode="lines")
            for k, g in df.groupby(by, sort=True, observed=True)
        ]
    )
    fig.update_layout(template=TEMPLATE, margin={"l": 50, "r": 10, "t": 10, "b": 40}, yaxis_title=ytitle)
    return fig


def _understanding(r: AnalysisResult) -> list[Figure]:
    out: list[Figure] = []
    daily = _table(r, "daily_by_provider", "date", "provider", "cost_usd")
    if daily is not None:
        out.append(("Daily cost", daily_cost.create_figure(daily_cost.process_data(daily))))
    hier = _table(r, "hierarchy")
    if hier is not None:
        out.append(
            (
                "Organization → product → model",
                hierarchy_treemap.create_figure(hierarchy_treemap.process_data(hier)),
            )
        )
    return out


def _optimization(r: AnalysisResult) -> list[Figure]:
    out: list[Figure] = []
    c = _table(r, "commitments", "level", "discount_pct", "savings_usd_month")
    if c is not None:
        d = c.assign(discount=c["discount_pct"].map("{:.0f}% off".format))
        out.append(
            (
                "Committed-use savings by discount",
                _bar(d, "discount", "savings_usd_month", color="level", ytitle="USD/month"),
            )
        )
    k = _table(r, "caching", "model", "potential_savings_usd_month")
    if k is not None:
        k = k[k["potential_savings_usd_month"] > 0].head(15)
        if len(k):
            out.append(
                (
                    "Caching potential by model",
                    _bar(k, "model", "potential_savings_usd_month", ytitle="USD/month"),
                )
            )
    return out


def _alignment(r: AnalysisResult) -> list[Figure]:
    e = _table(r, "efficiency", "organization_id", "cost_per_1k_index")
    if e is None:
        return []
    return [
        (
            "Cost per 1K tokens vs fleet (1.0 = fleet)",
            _bar(e, "organization_id", "cost_per_1k_index", ytitle="index"),
        )
    ]


def _profitability(r: AnalysisResult) -> list[Figure]:
    t = _table(r, "tiers", "tier", "revenue_usd", "cost_usd")
    if t is None:
        return []
    long = t.melt(id_vars="tier", value_vars=["revenue_usd", "cost_usd"], var_name="what")
    return [("Revenue and cost by tier", _bar(long, "tier", "value", color="what", ytitle="USD"))]


def _pricing(r: AnalysisResult) -> list[Figure]:
    s = _table(r, "segments", "model", "segment", "margin_usd")
    if s is None:
        return []
    return [
        (
            "Margin by usage segment and pricing model",
            _bar(s, "segment", "margin_usd", color="model", ytitle="USD"),
        )
    ]


def _features(r: AnalysisResult) -> list[Figure]:
    a = _table(r, "adoption_daily", "date", "feature_id", "customers")
    if a is None:
        return []
    return [("Daily active customers per feature", _lines(a, "date", "customers", "feature_id", "customers"))]


def _performance(r: AnalysisResult) -> list[Figure]:
    d = _table(r, "daily_latency", "date", "p50_ms", "p95_ms", "p99_ms")
    if d is None:
        return []
    long = d.melt(id_vars="date", value_vars=["p50_ms", "p95_ms", "p99_ms"], var_name="percentile")
    return [("Daily latency percentiles", _lines(long, "date", "value", "percentile", "ms"))]


def _realtime(r: AnalysisResult) -> list[Figure]:
    c = _table(r, "cumulative", "date", "cumulative_usd", "expected_usd")
    if c is None:
        return []
    long = c.melt(id_vars="date", value_vars=["cumulative_usd", "expected_usd"], var_name="series")
    return [("Month-to-date cost vs linear expectation", _lines(long, "date", "value", "series", "USD"))]


EXTRA: dict[str, Callable[[AnalysisResult], list[Figure]]] = {
    "understanding": _understanding,
    "performance": _performance,
    "realtime": _realtime,
    "optimization": _optimization,
    "alignment": _alignment,
    "profitability": _profitability,
    "pricing": _pricing,
    "features": _features,
}


def figures_for(result: AnalysisResult) -> list[Figure]:
    """(title, figure) pairs for one analyzer's report. A chart that fails is skipped with a warning on
    stderr (the rest of the report is still written)."""
    out: list[Figure] = []
    for mod in _chart_modules(result.name):
        try:
            out.append((_title(mod), mod.create_figure(mod.process_data(result))))
        except Exception as exc:  # noqa: BLE001 - one broken chart must not cost the whole report
            print(f"report {result.name}: chart {mod.__name__} skipped: {exc!r}", file=sys.stderr)
    extra = EXTRA.get(result.name)
    if extra is not None:
        try:
            out.extend(extra(result))
        except Exception as exc:  # noqa: BLE001
            print(f"report {result.name}: report-only charts skipped: {exc!r}", file=sys.stderr)
    return out
