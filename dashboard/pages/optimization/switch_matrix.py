"""Optimization chart: the model-switch matrix (from model → cheaper model, monthly savings)."""

from __future__ import annotations

import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analyzers.base import AnalysisResult
from dashboard.components.blocks import chart_card
from dashboard.components.charts import (
    TEMPLATE,
    empty_figure,
    plot_text,
    register_result_chart,
)

ANALYZER = "optimization"
GRAPH_ID = "optimization-switch-matrix"
#: rows (from-models) and columns (to-models) drawn, by total savings; the rest are summed as "other"
MAX_ROWS = 15
MAX_COLS = 10
OTHER = "(other models)"


def layout() -> dbc.Card:
    return chart_card("Model-switch matrix: monthly savings (from → to)", GRAPH_ID, height=480)


def _keep_top(pivot: pd.DataFrame, n: int, axis: int) -> pd.DataFrame:
    """The ``n`` largest rows (axis 0) or columns (axis 1) by total savings; the rest summed as OTHER."""
    totals = pivot.sum(axis=1 - axis).sort_values(ascending=False, kind="stable")
    if len(totals) <= n:
        return pivot.loc[totals.index] if axis == 0 else pivot[totals.index]
    keep, rest = totals.index[: n - 1], totals.index[n - 1 :]
    if axis == 0:
        other = pivot.loc[rest].sum(axis=0, min_count=1).to_frame(OTHER).T
        return pd.concat([pivot.loc[keep], other])
    other = pivot[rest].sum(axis=1, min_count=1).rename(OTHER)
    return pd.concat([pivot[keep], other], axis=1)


def process_data(result: AnalysisResult) -> pd.DataFrame:
    """from_model × to_model monthly savings summed over task types; rows and columns sorted by total
    savings, the top ``MAX_ROWS`` × ``MAX_COLS`` kept and the rest summed into "(other models)"."""
    sw = result.tables.get("switch_matrix")
    if sw is None or sw.empty:
        return pd.DataFrame()
    pivot = sw.pivot_table(
        index="from_model", columns="to_model", values="savings_usd_month", aggfunc="sum", observed=True
    )
    pivot.index = pivot.index.astype(str)
    pivot.columns = pivot.columns.astype(str)
    return _keep_top(_keep_top(pivot, MAX_ROWS, 0), MAX_COLS, 1)


def cell_text(v: float) -> str:
    """Cell label: blank for no saving, "<$1" below a dollar, else whole dollars."""
    if v != v or v <= 0:
        return ""
    return "<$1" if v < 1 else f"${v:,.0f}"


def create_figure(pivot: pd.DataFrame) -> go.Figure:
    if pivot.empty:
        return empty_figure("No cheaper model of the same capability class serves these calls.")
    z = pivot.to_numpy(dtype="float64")
    z = np.where(z > 0, z, np.nan)  # zero cells stay blank
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=plot_text(pivot.columns),
            y=plot_text(pivot.index),
            colorscale="Greens",
            colorbar={"title": "USD/month"},
            hovertemplate="%{y} → %{x}<br>$%{z:,.2f}/month<extra></extra>",
            text=[[cell_text(v) for v in row] for row in z],
            texttemplate="%{text}",
            xgap=1,
            ygap=1,
        )
    )
    fig.update_layout(
        template=TEMPLATE,
        margin={"l": 150, "r": 10, "t": 10, "b": 110},
        xaxis={"title": "switch to", "tickangle": -35, "dtick": 1},
        yaxis={"title": "from", "autorange": "reversed", "dtick": 1},  # every row labelled
    )
    return fig


def register(app, hub) -> None:
    register_result_chart(app, hub, ANALYZER, GRAPH_ID, process_data, create_figure)
