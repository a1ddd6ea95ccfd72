"""Understanding usage & cost: Totals, allocation by every dimension, patterns, 30/90-day forecasts and top spenders."""

from __future__ import annotations

from analyzers.base import AnalysisResult
from dashboard.components.analyzer_page import PageSpec
from dashboard.components.charts import ReportFigure, result_table
from dashboard.components.headline import CARD_KEYS
from dashboard.pages.overview import daily_cost, hierarchy_treemap
from dashboard.pages.understanding import cost_by_model, cost_forecast


def report_figures(r: AnalysisResult) -> list[ReportFigure]:
    """The report-only figures of this analyzer (tables the live page shows as grids)."""
    out: list[ReportFigure] = []
    daily = result_table(r, "daily_by_provider", "date", "provider", "cost_usd")
    if daily is not None:
        out.append(("Daily cost", daily_cost.create_figure(daily_cost.process_data(daily))))
    hier = result_table(r, "hierarchy")
    if hier is not None:
        out.append(
            (
                "Organization → product → model",
                hierarchy_treemap.create_figure(hierarchy_treemap.process_data(hier)),
            )
        )
    return out


SPEC = PageSpec(
    name="understanding",
    title="Understanding usage & cost",
    description="Totals, allocation by every dimension, patterns, 30/90-day forecasts and top spenders.",
    charts=(
        cost_forecast,
        cost_by_model,
    ),
    card_keys=CARD_KEYS["understanding"],
    report_figures=report_figures,
)
