"""Optimization chart: the model-switch matrix (from model → cheaper model, monthly savings)."""

from __future__ import annotations

import dash_bootstrap_components as dbc
import pandas as pd
import plotly.graph_objects as go

from analyzers.base import AnalysisResult
from dashboard.components.blocks import chart_card
from dashboard.components.charts.common import (
    TEMPLATE,
    empty_figure,
    plot_text,
    register_result_chart,
)

ANALYZER = "optimization"
GRAPH_ID = "optimization-switch-matrix"


def layout() -> dbc.Card:
    return chart_card("Model-switch matrix: monthly savings (from → to)", GRAPH_ID, height=420)


def process_data(result: AnalysisResult) -> pd.DataFrame:
    """from_model × to_model monthly savings summed over task types (rows/cols sorted by savings)."""
    sw = result.tables.get("switch_matrix")
    if sw is None or sw.empty:
        return pd.DataFrame()
    pivot = sw.pivot_table(
        index="from_model", columns="to_model", values="savings_usd_month", aggfunc="sum", observed=True
    )
    pivot.index = pivot.index.astype(str)
    pivot.columns = pivot.columns.astype(str)
    rows = pivot.sum(axis=1).sort_values(ascending=False).index
    cols = pivot.sum(axis=0).sort_values(ascending=False).index
    return pivot.loc[rows, cols]


def create_figure(pivot: pd.DataFrame) -> go.Figure:
    if pivot.empty:
        return empty_figure("No cheaper model of the same capability class serves these calls.")
    z = pivot.to_numpy()
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=plot_text(pivot.columns),
            y=plot_text(pivot.index),
            colorscale="Greens",
            colorbar={"title": "USD/month"},
            hovertemplate="%{y} → %{x}<br>$%{z:,.2f}/month<extra></extra>",
            text=[[f"${v:,.0f}" if v == v else "" for v in row] for row in z],
            texttemplate="%{text}",
        )
    )
    fig.update_layout(
        template=TEMPLATE,
        margin={"l": 120, "r": 10, "t": 10, "b": 80},
        xaxis_title="switch to",
        yaxis_title="from",
        yaxis_autorange="reversed",
    )
    return fig


def register(app, hub) -> None:
    register_result_chart(app, hub, ANALYZER, GRAPH_ID, process_data, create_figure)
