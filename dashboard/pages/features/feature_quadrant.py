"""Features chart: adoption vs margin %, sized by cost, coloured by invest/maintain/optimize/sunset."""

from __future__ import annotations

import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analyzers.base import AnalysisResult
from dashboard.components.blocks import chart_card
from dashboard.components.charts import (
    MARGIN,
    TEMPLATE,
    empty_figure,
    plot_text,
    register_result_chart,
)

ANALYZER = "features"
GRAPH_ID = "features-quadrant"
QUADRANT_COLOURS = {"invest": "#198754", "maintain": "#0d6efd", "optimize": "#fd7e14", "sunset": "#dc3545"}
#: features labelled on the chart (largest cost first); the others are named on hover
MAX_LABELS = 10
#: label positions tried in turn so neighbouring labels do not sit on top of each other
LABEL_POSITIONS = ("top center", "bottom center", "middle right", "middle left")


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


def label_plan(df: pd.DataFrame) -> pd.DataFrame:
    """Per feature: its label ("" beyond the ``MAX_LABELS`` costliest) and a text position; features
    are taken left to right by adoption and alternate positions, so close neighbours never share one."""
    rank = df["cost_usd"].rank(method="first", ascending=False)
    text = df["feature_id"].where(rank <= MAX_LABELS, "")
    order = df["adoption_pct"].rank(method="first").astype(int) - 1
    position = order.map(lambda i: LABEL_POSITIONS[i % len(LABEL_POSITIONS)])
    return pd.DataFrame({"text": text, "position": position}, index=df.index)


def create_figure(df: pd.DataFrame) -> go.Figure:
    if df.empty:
        return empty_figure()
    fig = go.Figure()
    size_ref = max(float(df["cost_usd"].max()), 1e-9)
    labels = label_plan(df)
    for quadrant, part in df.groupby("quadrant", sort=True):
        plan = labels.loc[part.index]
        fig.add_scatter(
            x=part["adoption_pct"],
            y=part["margin_pct"],
            mode="markers+text",
            name=plot_text([quadrant])[0],
            text=plot_text(plan["text"]),
            textposition=plan["position"].tolist(),
            customdata=part[["cost_usd"]].assign(name=plot_text(part["feature_id"])).to_numpy(),
            marker={
                "size": 12 + 40 * np.sqrt(part["cost_usd"].clip(lower=0) / size_ref),
                "color": QUADRANT_COLOURS.get(quadrant, "#6c757d"),
                "opacity": 0.75,
            },
            hovertemplate="%{customdata[1]}<br>adoption %{x:.1f} %<br>margin %{y:.1f} %<br>cost $%{customdata[0]:,.2f}"
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
