"""Understanding chart: cost and cost per 1K tokens by model (where the money goes)."""

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
    plot_text,
    register_result_chart,
)

ANALYZER = "understanding"
GRAPH_ID = "understanding-cost-by-model"
TOP = 15


def layout() -> dbc.Card:
    return chart_card(f"Cost by model (top {TOP})", GRAPH_ID)


def process_data(result: AnalysisResult) -> pd.DataFrame:
    t = result.tables.get("cost_per_1k_by_model")
    if t is None or t.empty:
        t = result.tables.get("cost_by_model")
    if t is None or t.empty:
        return pd.DataFrame({"model": [], "provider": [], "cost_usd": [], "cost_per_1k_tokens_usd": []})
    cols = ["model", "provider", "cost_usd"] + (
        ["cost_per_1k_tokens_usd"] if "cost_per_1k_tokens_usd" in t else []
    )
    out = t[cols].copy()
    out["model"] = out["model"].astype(str)
    out["provider"] = out["provider"].astype(str)
    return out.sort_values("cost_usd", ascending=False).head(TOP).reset_index(drop=True)


def create_figure(df: pd.DataFrame) -> go.Figure:
    if df.empty:
        return empty_figure()
    custom = df[["provider"]].assign(
        per1k=df.get("cost_per_1k_tokens_usd", pd.Series(float("nan"), index=df.index))
    )
    fig = go.Figure(
        go.Bar(
            x=plot_text(df["model"]),
            y=df["cost_usd"],
            customdata=custom.to_numpy(),
            marker_color="#0d6efd",
            hovertemplate="%{x} (%{customdata[0]})<br>$%{y:,.2f}<br>$%{customdata[1]:.4f} per 1K tokens"
            "<extra></extra>",
        )
    )
    fig.update_layout(template=TEMPLATE, margin=MARGIN, yaxis_tickprefix="$", yaxis_title="cost (USD)")
    return fig


def register(app, hub) -> None:
    register_result_chart(app, hub, ANALYZER, GRAPH_ID, process_data, create_figure)
