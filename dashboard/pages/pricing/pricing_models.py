"""Pricing chart: the same usage priced four ways, side by side (revenue, cost, margin)."""

from __future__ import annotations

import dash_bootstrap_components as dbc
import pandas as pd
import plotly.graph_objects as go

from analyzers.base import AnalysisResult
from dashboard.components.blocks import chart_card
from dashboard.components.charts import (
    MARGIN,
    TEMPLATE,
    empty_figure,
    nice_range,
    plot_text,
    register_result_chart,
)

ANALYZER = "pricing"
GRAPH_ID = "pricing-models"
SERIES = (
    ("revenue_usd", "revenue", "#0d6efd"),
    ("cost_usd", "cost", "#6c757d"),
    ("margin_usd", "margin", "#198754"),
    ("revenue_at_risk_usd", "revenue at risk", "#dc3545"),
)


def layout() -> dbc.Card:
    return chart_card("Four pricing models side by side (period)", GRAPH_ID)


def process_data(result: AnalysisResult) -> pd.DataFrame:
    t = result.tables.get("models")
    if t is None or t.empty:
        return pd.DataFrame({"model": [], **{c: [] for c, _, _ in SERIES}, "margin_pct": []})
    cols = ["model", *[c for c, _, _ in SERIES if c in t], *(["margin_pct"] if "margin_pct" in t else [])]
    out = t[cols].copy()
    out["model"] = out["model"].astype(str)
    return out.reset_index(drop=True)


def margin_axis(df: pd.DataFrame) -> dict:
    """The margin % axis on round ticks (0 % included; 20 %, not 46.5 %)."""
    axis = {"overlaying": "y", "side": "right", "ticksuffix": " %", "showgrid": False, "title": "margin %"}
    values = df["margin_pct"].astype("float64") if "margin_pct" in df else pd.Series(dtype="float64")
    values = values[values.notna() & values.abs().lt(float("inf"))]
    if values.empty:
        return axis
    start, end, step = nice_range(min(0.0, float(values.min())), max(0.0, float(values.max())) * 1.1)
    return {**axis, "range": [start, end], "dtick": step, "tick0": 0, "tickformat": ",~f"}


def create_figure(df: pd.DataFrame) -> go.Figure:
    if df.empty:
        return empty_figure()
    fig = go.Figure()
    models = plot_text(df["model"])
    for col, name, colour in SERIES:
        if col in df:
            fig.add_bar(
                x=models,
                y=df[col],
                name=name,
                marker_color=colour,
                hovertemplate="%{x}: $%{y:,.2f}<extra>" + name + "</extra>",
            )
    if "margin_pct" in df:
        fig.add_scatter(
            x=models,
            y=df["margin_pct"],
            name="margin %",
            yaxis="y2",
            mode="markers+text",
            text=[f"{v:.0f} %" for v in df["margin_pct"]],
            textposition="top center",
            marker={"color": "#212529", "size": 9},
        )
    fig.update_layout(
        barmode="group",
        template=TEMPLATE,
        margin=MARGIN,
        yaxis_tickprefix="$",
        yaxis2=margin_axis(df),
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def register(app, hub) -> None:
    register_result_chart(app, hub, ANALYZER, GRAPH_ID, process_data, create_figure)
