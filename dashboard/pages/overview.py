"""Overview: KPI cards with change vs the previous period, daily cost by provider, cost treemap."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import html

from dashboard.components.charts import daily_cost, hierarchy_treemap, overview_cards

CHARTS = (overview_cards, daily_cost, hierarchy_treemap)


def register_callbacks(app, hub) -> None:
    for chart in CHARTS:
        chart.register(app, hub)


dash.register_page(
    __name__,
    path="/",
    name="Overview",
    title="revenium-flow · Overview",
    order=0,
    register_callbacks=register_callbacks,
)

layout = html.Div(
    [
        overview_cards.layout(),
        dbc.Row(
            [
                dbc.Col(daily_cost.layout(), lg=6),
                dbc.Col(hierarchy_treemap.layout(), lg=6),
            ],
            className="g-3",
        ),
    ]
)
