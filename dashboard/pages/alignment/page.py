"""Organizational alignment: Chargeback and showback per organization → product → feature, by environment; allocations sum to the total."""

from __future__ import annotations

from analyzers.base import AnalysisResult
from dashboard.components.analyzer_page import PageSpec
from dashboard.components.charts import ReportFigure, bar_figure, result_table
from dashboard.pages.alignment import chargeback, focus_download


def report_figures(r: AnalysisResult) -> list[ReportFigure]:
    """The report-only figures of this analyzer (tables the live page shows as grids)."""
    e = result_table(r, "efficiency", "organization_id", "cost_per_1k_index")
    if e is None:
        return []
    return [
        (
            "Cost per 1K tokens vs fleet (1.0 = fleet)",
            bar_figure(e, "organization_id", "cost_per_1k_index", ytitle="index"),
        )
    ]


SPEC = PageSpec(
    name="alignment",
    title="Organizational alignment",
    description="Chargeback and showback per organization → product → feature, by environment; allocations sum to the total.",
    charts=(chargeback, focus_download),
    report_figures=report_figures,
)
