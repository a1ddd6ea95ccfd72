"""Profitability chart: distribution of customer margin % with the 80 %-cost alarm line."""

from __future__ import annotations

import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analyzers.base import AnalysisResult
from dashboard.components.blocks import chart_card
from dashboard.components.charts import MARGIN, TEMPLATE, empty_figure, register_result_chart

ANALYZER = "profitability"
GRAPH_ID = "profitability-margin-distribution"
#: margin % at which cost reaches 80 % of revenue (the margin-at-risk line; 0 % is the loss-making line)
ALARM_MARGIN_PCT = 20.0


def layout() -> dbc.Card:
    return chart_card("Customer margin distribution", GRAPH_ID)


def process_data(result: AnalysisResult) -> pd.DataFrame:
    """Customers with a finite margin % (unknown tiers have no revenue and are left out)."""
    customers = result.tables.get("customers")
    if customers is None or customers.empty or "margin_pct" not in customers:
        return pd.DataFrame({"customer_id": [], "margin_pct": [], "band": []})
    out = customers[["customer_id", "margin_pct", "band"]].copy()
    out = out[np.isfinite(out["margin_pct"].astype("float64"))]
    return out.reset_index(drop=True)


def histogram_range(margins: pd.Series) -> tuple[float, float, int, int]:
    """(low, high, below, above): the 1st-99th percentile of the margins (linear interpolation) and
    how many customers fall outside it on each side."""
    values = margins.astype("float64").to_numpy()
    lo, hi = (float(x) for x in np.percentile(values, [1.0, 99.0]))
    if hi <= lo:  # (almost) everyone at one margin: a narrow window around it
        lo, hi = lo - 1.0, hi + 1.0
    return lo, hi, int((values < lo).sum()), int((values > hi).sum())


def create_figure(df: pd.DataFrame) -> go.Figure:
    if df.empty:
        return empty_figure()
    lo, hi, below, above = histogram_range(df["margin_pct"])
    lo = min(lo, ALARM_MARGIN_PCT - 5.0)  # the alarm line is always in view
    shown = df["margin_pct"][(df["margin_pct"] >= lo) & (df["margin_pct"] <= hi)]
    outside = below + above
    title = f"{len(df):,} customers"
    if outside:
        title += (
            f" · {outside:,} outside the 1st–99th percentile not drawn"
            f" ({below:,} below {lo:,.0f} %, {above:,} above {hi:,.0f} %)"
        )
    fig = go.Figure(
        go.Histogram(
            x=shown,
            xbins={"start": lo, "end": hi, "size": (hi - lo) / 40},
            marker_color="#0d6efd",
            hovertemplate="margin %{x}<br>%{y} customers<extra></extra>",
        )
    )
    if hi >= ALARM_MARGIN_PCT:
        fig.add_vline(
            x=ALARM_MARGIN_PCT,
            line_dash="dash",
            line_color="#dc3545",
            annotation_text="cost = 80 % of revenue",
            annotation_position="top right",
        )
    if lo <= 0 <= hi:
        fig.add_vline(x=0, line_color="#6c757d")
    fig.update_layout(
        template=TEMPLATE,
        margin={**MARGIN, "t": 40},
        title={"text": title, "font": {"size": 12}, "x": 0.01},
        xaxis={"title": "margin %", "ticksuffix": " %", "range": [lo, hi]},
        yaxis_title="customers",
        bargap=0.05,
    )
    return fig


def register(app, hub) -> None:
    register_result_chart(app, hub, ANALYZER, GRAPH_ID, process_data, create_figure)
