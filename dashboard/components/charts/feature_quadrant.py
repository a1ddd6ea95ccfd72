"""Features chart: adoption vs margin %, sized by cost, coloured by invest/maintain/optimize/sunset."""

from __future__ import annotations

import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analyzers.base import AnalysisResult
from dashboard.components.blocks import chart_card
from dashboard.components.charts.common import (
    MARGIN,
    TEMPLATE,
    empty_figure,
    plot_text,
    register_result_chart,
)

ANALYZER = "features"
GRAPH_ID = "features-quadrant"
QUADRANT_COLOURS = {"invest": "#198754", "maintain": "#0d6efd", "optimize": "#fd7e14", "sunset": "#dc3545"}


def layout() -> dbc.Card:
    return chart_card("Feature portfolio: adoption × margin (bubble = cost)", GRAPH_ID)


def process_data(result: AnalysisResult) -> pd.DataFrame:
    t = result.tables.get("features")
    if t is None or t.empty:
        return pd.DataFrame(
            {"feature_id": [], "adoption_pct": [], "margin_pct": [], "cost_usd": [], "quadrant": []}
        )
    out = t[["feature_id", "adoption_pct", "margin_pct", "cost_usd", "quadrant"]].copy()
    for c in ("feature_id", "quadrant"):
        out[c] = out[c].astype(str)
    return out[np.isfinite(out["margin_pct"].astype("float64"))].reset_index(drop=True)


def create_figure(df: pd.DataFrame) -> go.Figure:
    if df.empty:
        return empty_figure()
    fig = go.Figure()
    size_ref = max(float(df["cost_usd"].max()), 1e-9)
    for quadrant, part in df.groupby("quadrant", sort=True):
        fig.add_scatter(
            x=part["adoption_pct"],
            y=part["margin_pct"],
            mode="markers+text",
            name=plot_text([quadrant])[0],
            text=plot_text(part["feature_id"]),
            textposition="top center",
            marker={
                "size": 12 + 40 * np.sqrt(part["cost_usd"].clip(lower=0) / size_ref),
                "color": QUADRANT_COLOURS.get(quadrant, "#6c757d"),
                "opacity": 0.75,
            },
            customdata=part[["cost_usd"]].to_numpy(),
            hovertemplate="%{text}<br>adoption %{x:.1f} %<br>margin %{y:.1f} %<br>cost $%{customdata[0]:,.2f}"
            "<extra></extra>",
        )
    fig.update_layout(
        template=TEMPLATE,
        margin=MARGIN,
        xaxis_title="adoption (% of customers)",
        yaxis_title="margin %",
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def register(app, hub) -> None:
    register_result_chart(app, hub, ANALYZER, GRAPH_ID, process_data, create_figure)
