"""Performance tracking: Latency percentiles, throughput, SLA compliance, error rates and the best model per task."""

from __future__ import annotations

from analyzers.base import AnalysisResult
from dashboard.components.analyzer_page import PageSpec
from dashboard.components.charts import ReportFigure, lines_figure, result_table
from dashboard.pages.performance import latency_percentiles, time_to_first_token


def report_figures(r: AnalysisResult) -> list[ReportFigure]:
    """The report-only figures of this analyzer (tables the live page shows as grids)."""
    d = result_table(r, "daily_latency", "date", "p50_ms", "p95_ms", "p99_ms")
    if d is None:
        return []
    long = d.melt(id_vars="date", value_vars=["p50_ms", "p95_ms", "p99_ms"], var_name="percentile")
    return [("Daily latency percentiles", lines_figure(long, "date", "value", "percentile", "ms"))]


SPEC = PageSpec(
    name="performance",
    title="Performance tracking",
    description="Latency percentiles, throughput, SLA compliance, error rates and the best model per task.",
    charts=(latency_percentiles, time_to_first_token),
    report_figures=report_figures,
)
