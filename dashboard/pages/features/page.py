"""Feature economics: Cost, adoption, attributed revenue and ROI per feature; invest / maintain / optimize / sunset."""

from __future__ import annotations

from analyzers.base import AnalysisResult
from dashboard.components.analyzer_page import PageSpec
from dashboard.components.charts import ReportFigure, lines_figure, result_table
from dashboard.pages.features import feature_quadrant


def report_figures(r: AnalysisResult) -> list[ReportFigure]:
    """The report-only figures of this analyzer (tables the live page shows as grids)."""
    a = result_table(r, "adoption_daily", "date", "feature_id", "customers")
    if a is None:
        return []
    return [
        (
            "Daily active customers per feature",
            lines_figure(a, "date", "customers", "feature_id", "customers"),
        )
    ]


SPEC = PageSpec(
    name="features",
    title="Feature economics",
    description="Cost, adoption, attributed revenue and ROI per feature; invest / maintain / optimize / sunset.",
    charts=(feature_quadrant,),
    report_figures=report_figures,
)
