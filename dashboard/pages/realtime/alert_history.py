"""Real-time chart: alert history — a timeline of alert counts per hour (or day), stacked by severity."""

from __future__ import annotations

import dash_bootstrap_components as dbc
import pandas as pd
import plotly.graph_objects as go

from analyzers.base import SEVERITY_ORDER, SEVERITY_RANK, Alert, AnalysisResult
from dashboard.components.blocks import chart_card
from dashboard.components.charts import (
    MARGIN,
    SEVERITY_PLOT_COLOURS,
    TEMPLATE,
    empty_figure,
    register_result_chart,
)

ANALYZER = "realtime"
GRAPH_ID = "realtime-alert-history"


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


def bucket_freq(times: pd.Series) -> str:
    """Hourly buckets for up to three days of alerts, daily beyond (pandas aliases "h" / "D")."""
    span = times.max() - times.min()
    return "h" if span <= pd.Timedelta(days=3) else "D"


def process_data(result: AnalysisResult) -> pd.DataFrame:
    """Alert counts per time bucket and severity (bucket, severity, alerts, entities): the timeline."""
    df = alerts_frame(result.alerts)
    df = df[df["time"].notna()] if not df.empty else df
    if df.empty:
        return pd.DataFrame({"bucket": [], "severity": [], "alerts": [], "entities": []})
    df = df.assign(bucket=df["time"].dt.floor(bucket_freq(df["time"])))
    g = df.groupby(["bucket", "severity"], sort=True, observed=True).agg(
        alerts=("id", "size"), entities=("entity", "nunique")
    )
    return g.reset_index()


def create_figure(df: pd.DataFrame) -> go.Figure:
    if df.empty:
        return empty_figure("No alerts: spend is within its expected range.")
    fig = go.Figure()
    for sev in SEVERITY_ORDER:
        part = df[df["severity"] == sev]
        if part.empty:
            continue
        fig.add_bar(
            x=part["bucket"],
            y=part["alerts"],
            name=sev,
            marker={"color": SEVERITY_PLOT_COLOURS[sev]},
            customdata=part[["entities"]].to_numpy(),
            hovertemplate="%{x|%Y-%m-%d %H:%M} UTC<br>%{y} " + sev + " alert(s) on %{customdata[0]} "
            "customer(s), model(s) or provider(s)<extra></extra>",
        )
    fig.update_layout(
        template=TEMPLATE,
        margin=MARGIN,
        barmode="stack",
        yaxis={"title": "alerts", "rangemode": "tozero"},
        xaxis={"title": "", "type": "date"},
        legend={"orientation": "h", "y": -0.2, "traceorder": "normal"},
    )
    return fig


def register(app, hub) -> None:
    register_result_chart(app, hub, ANALYZER, GRAPH_ID, process_data, create_figure)
