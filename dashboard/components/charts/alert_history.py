"""Real-time chart: alert history — every alert at its time, by severity (size = |z| or value)."""

from __future__ import annotations

import dash_bootstrap_components as dbc
import pandas as pd
import plotly.graph_objects as go

from analyzers.base import Alert, AnalysisResult
from dashboard.components.blocks import chart_card
from dashboard.components.charts.common import (
    MARGIN,
    SEVERITY_ORDER,
    SEVERITY_PLOT_COLOURS,
    TEMPLATE,
    empty_figure,
    plot_text,
    register_result_chart,
)

ANALYZER = "realtime"
GRAPH_ID = "realtime-alert-history"
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITY_ORDER)}


def layout() -> dbc.Card:
    return chart_card("Alert history by severity", GRAPH_ID)


def alerts_frame(alerts: list[Alert]) -> pd.DataFrame:
    """Alerts as a table, most severe first, newest first within a severity (text stays text)."""
    df = pd.DataFrame(
        {
            "severity": [a.severity for a in alerts],
            "kind": [a.kind for a in alerts],
            "entity": [a.entity for a in alerts],
            "message": [a.message for a in alerts],
            "value": [float(a.value) if a.value is not None else None for a in alerts],
            "threshold": [float(a.threshold) if a.threshold is not None else None for a in alerts],
            "time": pd.to_datetime([a.time for a in alerts], utc=True),
            "id": [a.id for a in alerts],
        }
    )
    if df.empty:
        return df
    df["rank"] = df["severity"].map(SEVERITY_RANK).fillna(len(SEVERITY_RANK))
    df = df.sort_values(["rank", "time"], ascending=[True, False], na_position="last", kind="stable")
    return df.drop(columns="rank").reset_index(drop=True)


def process_data(result: AnalysisResult) -> pd.DataFrame:
    df = alerts_frame(result.alerts)
    return df[df["time"].notna()].reset_index(drop=True) if not df.empty else df


def create_figure(df: pd.DataFrame) -> go.Figure:
    if df.empty:
        return empty_figure("No alerts: spend is within its expected range.")
    fig = go.Figure()
    for sev in SEVERITY_ORDER:
        part = df[df["severity"] == sev]
        if part.empty:
            continue
        fig.add_scatter(
            x=part["time"],
            y=plot_text(part["kind"]),
            mode="markers",
            name=sev,
            marker={
                "color": SEVERITY_PLOT_COLOURS[sev],
                "size": 12,
                "line": {"width": 1, "color": "#212529"},
            },
            customdata=pd.DataFrame(
                {"e": plot_text(part["entity"]), "m": plot_text(part["message"])}
            ).to_numpy(),
            hovertemplate="%{x|%Y-%m-%d %H:%M}<br>%{customdata[0]}<br>%{customdata[1]}<extra></extra>",
        )
    fig.update_layout(
        template=TEMPLATE, margin={**MARGIN, "l": 90}, yaxis_title="", legend={"orientation": "h", "y": -0.2}
    )
    return fig


def register(app, hub) -> None:
    register_result_chart(app, hub, ANALYZER, GRAPH_ID, process_data, create_figure)
