"""Real-time decision making: Anomalies, budget thresholds, spikes and portfolio risk — with every alert's severity and history."""

from __future__ import annotations

from dashboard.components.analyzer_page import ExtraGrid, PageSpec
from dashboard.pages.realtime import alert_history
from dashboard.pages.realtime.alert_history import alerts_frame
from dashboard.pages.realtime.headline import HEADLINE_METRICS, headline

SPEC = PageSpec(
    name="realtime",
    nav="Real-time",
    title="Real-time decision making",
    description="Anomalies, budget thresholds, spikes and portfolio risk — with every alert's severity and history.",
    charts=(alert_history,),
    extra_grids=(
        ExtraGrid("alerts", "Alerts (severity, entity, message, time)", lambda r: alerts_frame(r.alerts)),
    ),
    headline=headline,
    hidden_metrics=HEADLINE_METRICS,
)
