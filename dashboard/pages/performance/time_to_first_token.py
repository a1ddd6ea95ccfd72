"""Performance chart: time to first token of streamed calls, p50 and p95 per model (``ttft_by_model``)."""

from __future__ import annotations

import dash_bootstrap_components as dbc
import pandas as pd
import plotly.graph_objects as go

from analyzers.base import AnalysisResult
from dashboard.components.blocks import chart_card
from dashboard.components.charts import (
    empty_figure,
    grouped_bars,
    plot_text,
    register_result_chart,
)

ANALYZER = "performance"
GRAPH_ID = "performance-ttft"
EMPTY = "No streamed calls with a time to first token yet (sent by SDKs as timeToFirstToken)."


def layout() -> dbc.Card:
    return chart_card("Time to first token, streamed calls (p50 / p95)", GRAPH_ID)


def process_data(result: AnalysisResult) -> pd.DataFrame:
    """One row per provider/model with streamed calls: label, calls, p50 and p95 in ms (fastest first)."""
    t = result.tables.get("ttft_by_model")
    if t is None or t.empty:
        return pd.DataFrame({"label": [], "streamed_calls": [], "ttft_p50_ms": [], "ttft_p95_ms": []})
    out = pd.DataFrame(
        {
            "label": t["provider"].astype(str) + "/" + t["model"].astype(str),
            "streamed_calls": t["streamed_calls"].astype("int64"),
            "ttft_p50_ms": t["ttft_p50_ms"].astype("float64"),
            "ttft_p95_ms": t["ttft_p95_ms"].astype("float64"),
        }
    )
    return out.sort_values("ttft_p50_ms", kind="stable").reset_index(drop=True)


def create_figure(df: pd.DataFrame) -> go.Figure:
    if df.empty:
        return empty_figure(EMPTY)
    fig = go.Figure()
    labels = plot_text(df["label"])
    fig.add_bar(x=labels, y=df["ttft_p50_ms"], name="p50", customdata=df["streamed_calls"])
    fig.add_bar(x=labels, y=df["ttft_p95_ms"], name="p95", customdata=df["streamed_calls"])
    fig.update_traces(
        hovertemplate="%{x}: %{y:,.0f} ms (%{customdata:,} streamed calls)<extra>%{fullData.name}</extra>"
    )
    return grouped_bars(fig, "ms to first token")


def register(app, hub) -> None:
    register_result_chart(app, hub, ANALYZER, GRAPH_ID, process_data, create_figure)
