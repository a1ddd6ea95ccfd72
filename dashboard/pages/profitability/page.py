"""Customer profitability: subscription revenue, cost to serve and margin per customer and tier; customers
with margin at risk (the loss-making ones first) and interventions."""

from __future__ import annotations

from analyzers.base import AnalysisResult
from dashboard.components.analyzer_page import ExtraGrid, PageSpec
from dashboard.components.charts import ReportFigure, bar_figure, result_table
from dashboard.components.headline import CARD_KEYS
from dashboard.pages.profitability import margin_distribution


def at_risk(result):
    """Customers with margin at risk (cost > 80 % of revenue; loss-making ones included), worst margin first."""
    customers = result.tables.get("customers")
    if customers is None or customers.empty:
        return customers
    return customers[customers["at_risk"].astype(bool)].sort_values("margin_usd").reset_index(drop=True)


def report_figures(r: AnalysisResult) -> list[ReportFigure]:
    """The report-only figures of this analyzer (tables the live page shows as grids)."""
    t = result_table(r, "tiers", "tier", "revenue_usd", "cost_usd")
    if t is None:
        return []
    long = t.melt(id_vars="tier", value_vars=["revenue_usd", "cost_usd"], var_name="what")
    return [("Revenue and cost by tier", bar_figure(long, "tier", "value", color="what", ytitle="USD"))]


SPEC = PageSpec(
    name="profitability",
    title="Customer profitability",
    description="Subscription revenue (active days x tier price), cost to serve and margin per customer and "
    "tier; loss-making customers (cost > revenue), customers with margin at risk (cost > 80 % of revenue) "
    "and interventions.",
    charts=(margin_distribution,),
    extra_grids=(
        ExtraGrid(
            "at_risk", "Customers with margin at risk (cost > 80 % of revenue; loss-making first)", at_risk
        ),
    ),
    card_keys=CARD_KEYS["profitability"],
    report_figures=report_figures,
)
