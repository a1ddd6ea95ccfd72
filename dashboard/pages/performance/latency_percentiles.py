"""Performance chart: p50 / p95 / p99 latency by model against the SLA threshold."""

from __future__ import annotations

import dash_bootstrap_components as dbc
import pandas as pd
import plotly.graph_objects as go

from analyzers.base import AnalysisResult
from dashboard.components.blocks import chart_card
from dashboard.components.charts import (
    empty_figure,
    grouped_bars,
    plot_text,
    register_result_chart,
)

ANALYZER = "performance"
GRAPH_ID = "performance-latency"
PERCENTILES = ("p50_ms", "p95_ms", "p99_ms")


def layout() -> dbc.Card:
    return chart_card("Latency percentiles by model", GRAPH_ID)


def process_data(result: AnalysisResult) -> pd.DataFrame:
    """Models by p95 (slowest first) with their percentiles; the SLA threshold in ``attrs``."""
    t = result.tables.get("latency_by_model")
    if t is None or t.empty:
        return pd.DataFrame({"model": [], **{p: [] for p in PERCENTILES}})
    out = t[["model", *PERCENTILES]].copy()
    out["model"] = out["model"].astype(str)
    out = out.sort_values("p95_ms", ascending=False).reset_index(drop=True)
    sla = result.metrics.get("sla_ms")
    out.attrs["sla_ms"] = float(sla.value) if sla is not None and sla.value is not None else None
    return out


def create_figure(df: pd.DataFrame) -> go.Figure:
    if df.empty:
        return empty_figure()
    fig = go.Figure()
    for p, colour in zip(PERCENTILES, ("#198754", "#fd7e14", "#dc3545"), strict=True):
        fig.add_bar(x=plot_text(df["model"]), y=df[p], name=p.replace("_ms", ""), marker_color=colour)
    sla = df.attrs.get("sla_ms")
    if sla:
        fig.add_hline(y=sla, line_dash="dash", annotation_text=f"SLA {sla:,.0f} ms")
    return grouped_bars(fig, "latency (ms)")


def register(app, hub) -> None:
    register_result_chart(app, hub, ANALYZER, GRAPH_ID, process_data, create_figure)
