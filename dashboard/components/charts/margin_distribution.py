"""Profitability chart: distribution of customer margin % with the 80 %-cost alarm line."""

from __future__ import annotations

import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analyzers.base import AnalysisResult
from dashboard.components.blocks import chart_card
from dashboard.components.charts.common import MARGIN, TEMPLATE, empty_figure, register_result_chart

ANALYZER = "profitability"
GRAPH_ID = "profitability-margin-distribution"
#: margin % at which cost reaches 80 % of revenue (the margin-at-risk line; 0 % is the loss-making line)
ALARM_MARGIN_PCT = 20.0


def layout() -> dbc.Card:
    return chart_card("Customer margin distribution", GRAPH_ID)


def process_data(result: AnalysisResult) -> pd.DataFrame:
    """Customers with a finite margin % (unknown tiers have no revenue and are left out)."""
    customers = result.tables.get("customers")
    if customers is None or customers.empty or "margin_pct" not in customers:
        return pd.DataFrame({"customer_id": [], "margin_pct": [], "band": []})
    out = customers[["customer_id", "margin_pct", "band"]].copy()
    out = out[np.isfinite(out["margin_pct"].astype("float64"))]
    return out.reset_index(drop=True)


def create_figure(df: pd.DataFrame) -> go.Figure:
    if df.empty:
        return empty_figure()
    clipped = df["margin_pct"].clip(lower=-200.0)
    fig = go.Figure(
        go.Histogram(
            x=clipped,
            nbinsx=40,
            marker_color="#0d6efd",
            hovertemplate="margin %{x}<br>%{y} customers<extra></extra>",
        )
    )
    fig.add_vline(
        x=ALARM_MARGIN_PCT,
        line_dash="dash",
        line_color="#dc3545",
        annotation_text="cost = 80 % of revenue",
        annotation_position="top left",
    )
    fig.add_vline(x=0, line_color="#6c757d")
    fig.update_layout(
        template=TEMPLATE,
        margin=MARGIN,
        xaxis_title="margin % (clipped at -200 %)",
        yaxis_title="customers",
        bargap=0.05,
    )
    return fig


def register(app, hub) -> None:
    register_result_chart(app, hub, ANALYZER, GRAPH_ID, process_data, create_figure)
