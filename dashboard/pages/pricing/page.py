"""Pricing strategy: The same usage priced four ways: flat, tiered, usage and hybrid — revenue, margin, winners, losers and churn risk."""

from __future__ import annotations

from analyzers.base import AnalysisResult
from dashboard.components.analyzer_page import PageSpec
from dashboard.components.charts import ReportFigure, bar_figure, result_table
from dashboard.pages.pricing import pricing_models


def report_figures(r: AnalysisResult) -> list[ReportFigure]:
    """The report-only figures of this analyzer (tables the live page shows as grids)."""
    s = result_table(r, "segments", "model", "segment", "margin_usd")
    if s is None:
        return []
    return [
        (
            "Margin by usage segment and pricing model",
            bar_figure(s, "segment", "margin_usd", color="model", ytitle="USD"),
        )
    ]


SPEC = PageSpec(
    name="pricing",
    title="Pricing strategy",
    description="The same usage priced four ways: flat, tiered, usage and hybrid — revenue, margin, winners, losers and churn risk.",
    charts=(pricing_models,),
    report_figures=report_figures,
)
