"""Understanding chart: daily cost with the 30-day forecast and its prediction interval."""

from __future__ import annotations

import dash_bootstrap_components as dbc
import pandas as pd
import plotly.graph_objects as go

from analyzers.base import AnalysisResult
from dashboard.components.blocks import chart_card
from dashboard.components.charts import MARGIN, TEMPLATE, empty_figure, register_result_chart

ANALYZER = "understanding"
GRAPH_ID = "understanding-forecast"
#: days of forecast in the initial view (zoom out to see the rest of the forecast horizon)
VIEW_AHEAD_DAYS = 30


def layout() -> dbc.Card:
    return chart_card("Daily cost and forecast (with prediction interval)", GRAPH_ID)


def process_data(result: AnalysisResult) -> pd.DataFrame:
    """Actual daily cost and forecast rows in one frame: date, kind (actual/forecast), cost, lo, hi."""
    daily = result.tables.get("daily")
    fc = result.tables.get("forecast")
    parts = []
    if daily is not None and not daily.empty:
        parts.append(
            pd.DataFrame(
                {
                    "date": pd.to_datetime(daily["date"]),
                    "kind": "actual",
                    "cost_usd": daily["cost_usd"].astype("float64"),
                    "lo": None,
                    "hi": None,
                }
            )
        )
    if fc is not None and not fc.empty:
        parts.append(
            pd.DataFrame(
                {
                    "date": pd.to_datetime(fc["date"]),
                    "kind": "forecast",
                    "cost_usd": fc["yhat"].astype("float64"),
                    "lo": fc["lo"].astype("float64"),
                    "hi": fc["hi"].astype("float64"),
                }
            )
        )
    if not parts:
        return pd.DataFrame({"date": [], "kind": [], "cost_usd": [], "lo": [], "hi": []})
    return pd.concat(parts, ignore_index=True)


def view_range(df: pd.DataFrame) -> list[str] | None:
    """The initial x window: the actual period plus ``VIEW_AHEAD_DAYS`` days ahead (half a day of
    padding each side so the first and last bars are whole)."""
    actual = df.loc[df["kind"] == "actual", "date"]
    if actual.empty:
        return None
    start = actual.min() - pd.Timedelta(hours=12)
    end = actual.max() + pd.Timedelta(days=VIEW_AHEAD_DAYS, hours=12)
    return [start.isoformat(), end.isoformat()]


def create_figure(df: pd.DataFrame) -> go.Figure:
    if df.empty:
        return empty_figure()
    fig = go.Figure()
    actual = df[df["kind"] == "actual"]
    fc = df[df["kind"] == "forecast"]
    fig.add_bar(x=actual["date"], y=actual["cost_usd"], name="actual", marker_color="#0d6efd")
    if not fc.empty:
        fig.add_scatter(
            x=fc["date"], y=fc["hi"], mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip"
        )
        fig.add_scatter(
            x=fc["date"],
            y=fc["lo"],
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor="rgba(253,126,20,0.2)",
            name="interval",
        )
        fig.add_scatter(
            x=fc["date"], y=fc["cost_usd"], mode="lines", line={"color": "#fd7e14"}, name="forecast"
        )
    fig.update_layout(
        template=TEMPLATE,
        margin=MARGIN,
        xaxis={"range": view_range(df)},
        yaxis_tickprefix="$",
        yaxis_title="cost per day",
        legend={"orientation": "h", "y": -0.15},
    )
    return fig


def register(app, hub) -> None:
    register_result_chart(app, hub, ANALYZER, GRAPH_ID, process_data, create_figure)
