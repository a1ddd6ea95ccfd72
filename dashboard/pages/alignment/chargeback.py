"""Alignment chart: chargeback per organization, stacked by environment (sums to the allocated total)."""

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

ANALYZER = "alignment"
GRAPH_ID = "alignment-chargeback"
ENV_COLOURS = {"production": "#0d6efd", "staging": "#fd7e14", "development": "#6f42c1"}


def layout() -> dbc.Card:
    return chart_card("Chargeback by organization and environment", GRAPH_ID)


def process_data(result: AnalysisResult) -> pd.DataFrame:
    """Allocated USD per (organization, environment), organizations by total, largest first."""
    leaf = result.tables.get("chargeback")
    if leaf is None or leaf.empty:
        return pd.DataFrame({"organization_id": [], "environment": [], "allocated_usd": []})
    g = leaf.groupby(["organization_id", "environment"], observed=True, sort=False)["allocated_usd"].sum()
    g = g.reset_index()
    g["organization_id"] = g["organization_id"].astype(str)
    g["environment"] = g["environment"].astype(str)
    order = g.groupby("organization_id")["allocated_usd"].sum().sort_values(ascending=False).index
    g["rank"] = g["organization_id"].map({o: i for i, o in enumerate(order)})
    return g.sort_values(["rank", "environment"]).drop(columns="rank").reset_index(drop=True)


def create_figure(df: pd.DataFrame) -> go.Figure:
    if df.empty:
        return empty_figure()
    fig = go.Figure()
    orgs = list(dict.fromkeys(df["organization_id"]))
    for env, part in df.groupby("environment", sort=True):
        part = part.set_index("organization_id").reindex(orgs)
        fig.add_bar(
            x=plot_text(orgs),
            y=part["allocated_usd"].fillna(0),
            name=plot_text([env])[0],
            marker_color=ENV_COLOURS.get(env),
        )
    fig.update_layout(
        barmode="stack",
        template=TEMPLATE,
        margin=MARGIN,
        yaxis_tickprefix="$",
        yaxis_title="allocated (USD)",
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def register(app, hub) -> None:
    register_result_chart(app, hub, ANALYZER, GRAPH_ID, process_data, create_figure)
