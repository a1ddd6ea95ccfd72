"""Overview: KPI cards with change vs the previous period, daily cost by provider, cost treemap."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from dashboard.pages.overview import daily_cost, hierarchy_treemap, overview_cards

CHARTS = (overview_cards, daily_cost, hierarchy_treemap)


def register_callbacks(app, hub) -> None:
    for chart in CHARTS:
        chart.register(app, hub)


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
