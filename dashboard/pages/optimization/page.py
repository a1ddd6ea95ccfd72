"""Rate optimization: model switches within a capability class, commitments per provider (when asked),
volume discounts, caching savings."""

from __future__ import annotations

from analyzers.base import AnalysisResult
from dashboard.components.analyzer_page import PageSpec
from dashboard.components.charts import ReportFigure, bar_figure, result_table
from dashboard.components.headline import CARD_KEYS
from dashboard.pages.optimization import switch_matrix


def report_figures(r: AnalysisResult) -> list[ReportFigure]:
    """The report-only figures of this analyzer (tables the live page shows as grids)."""
    out: list[ReportFigure] = []
    c = result_table(r, "commitments", "level", "discount_pct", "savings_usd_month")
    if c is not None:
        d = c.assign(discount=c["discount_pct"].map("{:.0f}% off".format))
        out.append(
            (
                "Committed-use savings by discount",
                bar_figure(d, "discount", "savings_usd_month", color="level", ytitle="USD/month"),
            )
        )
    k = result_table(r, "caching", "model", "potential_savings_usd_month")
    if k is not None:
        k = k[k["potential_savings_usd_month"] > 0].head(15)
        if len(k):
            out.append(
                (
                    "Caching potential by model",
                    bar_figure(k, "model", "potential_savings_usd_month", ytitle="USD/month"),
                )
            )
    return out


SPEC = PageSpec(
    name="optimization",
    title="Rate optimization",
    description="One switch per source model, to the same capability class (or one class down for simple "
    "tasks, labelled a quality trade-off) and only for calls that fit the target's context window; "
    "commitments per provider (modelled when asked), volume discounts, caching savings.",
    charts=(switch_matrix,),
    card_keys=CARD_KEYS["optimization"],
    report_figures=report_figures,
)
