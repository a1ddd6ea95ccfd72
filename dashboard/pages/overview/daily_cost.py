"""Overview chart: daily cost stacked by provider (follows filters and drill path)."""

from __future__ import annotations

import dash_bootstrap_components as dbc
import pandas as pd
import plotly.graph_objects as go

from dashboard.components.blocks import chart_card
from dashboard.components.charts import (
    MARGIN,
    TEMPLATE_DICT,
    empty_figure,
    plot_text,
    register_overview_chart,
)
from dashboard.hub import DataHub

GRAPH_ID = "overview-daily-cost"


def layout() -> dbc.Card:
    return chart_card("Daily cost by provider", GRAPH_ID)


def process_data(daily: pd.DataFrame | None) -> pd.DataFrame:
    """One row per (date, provider) with cost; providers ordered by total cost, largest first."""
    if daily is None or daily.empty:
        return pd.DataFrame({"date": [], "provider": [], "cost_usd": []})
    out = daily[["date", "provider", "cost_usd"]].copy()
    out["provider"] = out["provider"].astype(str)
    out["date"] = pd.to_datetime(out["date"])
    totals = out.groupby("provider", sort=False)["cost_usd"].sum().sort_values(ascending=False)
    out["provider"] = pd.Categorical(out["provider"], categories=list(totals.index), ordered=True)
    return out.sort_values(["provider", "date"], kind="stable").reset_index(drop=True)


def create_figure(df: pd.DataFrame) -> go.Figure:
    if df.empty:
        return empty_figure()
    traces = [
        {
            "type": "bar",
            "x": part["date"].dt.strftime("%Y-%m-%d").tolist(),
            "y": part["cost_usd"].tolist(),
            "name": plot_text([provider])[0],
            "hovertemplate": "%{x}<br>%{fullData.name}: $%{y:,.2f}<extra></extra>",
        }
        for provider, part in df.groupby("provider", sort=True, observed=True)
    ]
    layout = {
        "barmode": "stack",
        "template": TEMPLATE_DICT,
        "margin": MARGIN,
        "xaxis": {"type": "date"},
        "yaxis": {"title": {"text": "cost (USD)"}, "tickprefix": "$"},
        "legend": {"orientation": "h", "y": -0.15, "traceorder": "normal"},
    }
    # plain dicts without plotly's per-property validation: redrawn on every new data version
    return go.Figure({"data": traces, "layout": layout}, _validate=False)


def register(app, hub: DataHub) -> None:
    register_overview_chart(
        app, hub, GRAPH_ID, lambda ov, _drill: create_figure(process_data(ov.daily_cost_by_provider))
    )
