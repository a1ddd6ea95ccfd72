"""The real-time page's headline: one count per idea (open alerts, anomalies, last 24 h), each explained."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
import pandas as pd
from dash import html

from analyzers.base import AnalysisResult
from dashboard.components.format import number, timestamp
from dashboard.pages.realtime.alert_history import alerts_frame

#: the counts the headline shows (one per idea), kept off the generic KPI cards
HEADLINE_METRICS = ("open_alerts", "anomalies", "open_anomalies", "as_of")
RECENT_HOURS = 24


def headline_counts(result: AnalysisResult) -> list[dict[str, Any]]:
    """The three counts of the page, each with a one-line explanation (pure).

    * open alerts: the analyzer's alerts for the current state;
    * anomalies in the selection: every flagged bucket in the selected period, old ones included;
    * last 24 h: open alerts whose time is within 24 hours of the newest call.
    """
    m = result.metrics
    alerts = alerts_frame(result.alerts)
    as_of = m["as_of"].value if "as_of" in m else None
    recent = 0
    if as_of is not None and not alerts.empty:
        end = pd.Timestamp(as_of)
        end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
        recent = int((alerts["time"] >= end - pd.Timedelta(hours=RECENT_HOURS)).sum())
    window = m["open_anomalies"].formula if "open_anomalies" in m else "recent anomalies"
    return [
        {
            "key": "open_alerts",
            "label": "Open alerts",
            "value": int(m["open_alerts"].value) if "open_alerts" in m else 0,
            "note": f"need attention now: {window}, customers over or near budget, today's spikes",
        },
        {
            "key": "anomalies",
            "label": "Anomalies in the selection",
            "value": int(m["anomalies"].value) if "anomalies" in m else 0,
            "note": "hours or days of unusually high cost anywhere in the selected period, old ones included",
        },
        {
            "key": "alerts_24h",
            "label": f"Alerts in the last {RECENT_HOURS} h",
            "value": recent,
            "note": f"open alerts dated within {RECENT_HOURS} hours of the newest call",
        },
    ]


def headline(result: AnalysisResult) -> list[Any]:
    cards = [
        dbc.Col(
            dbc.Card(
                dbc.CardBody(
                    [
                        html.Div(c["label"], className="kpi-label text-muted small"),
                        html.Div(
                            number(c["value"]), className="kpi-value fs-4 fw-semibold", id=f"rt-{c['key']}"
                        ),
                        html.Div(c["note"], className="kpi-note small text-muted"),
                    ],
                    className="py-2",
                ),
                className="h-100 shadow-sm kpi-card",
            ),
            md=4,
            className="mb-2",
        )
        for c in headline_counts(result)
    ]
    as_of = result.metrics.get("as_of")
    line = f"As of {timestamp(as_of.value)} (the newest call in the data)" if as_of is not None else ""
    return [
        html.Div(line, id="rt-as-of", className="small text-muted mb-1"),
        dbc.Row(cards, className="g-2 mb-2"),
    ]
