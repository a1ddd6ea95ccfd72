"""Real-time decision making: Anomalies, budget thresholds, spikes and portfolio risk — with every alert's severity and history."""

from __future__ import annotations

from analyzers.base import AnalysisResult
from dashboard.components.analyzer_page import ExtraGrid, PageSpec
from dashboard.components.charts import ReportFigure, lines_figure, result_table
from dashboard.pages.realtime import alert_history
from dashboard.pages.realtime.alert_history import alerts_frame
from dashboard.pages.realtime.headline import HEADLINE_METRICS, headline


def report_figures(r: AnalysisResult) -> list[ReportFigure]:
    """The report-only figures of this analyzer (tables the live page shows as grids)."""
    c = result_table(r, "cumulative", "date", "cumulative_usd", "expected_usd")
    if c is None:
        return []
    long = c.melt(id_vars="date", value_vars=["cumulative_usd", "expected_usd"], var_name="series")
    return [
        ("Month-to-date cost vs linear expectation", lines_figure(long, "date", "value", "series", "USD"))
    ]


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
    report_figures=report_figures,
)
