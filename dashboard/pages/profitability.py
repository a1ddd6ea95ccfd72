"""Customer profitability: Revenue, cost to serve and margin per customer and tier; unprofitable customers and interventions."""

from __future__ import annotations

from dashboard.components import analyzer_page
from dashboard.components.analyzer_page import ExtraGrid, PageSpec
from dashboard.components.charts import margin_distribution


def unprofitable(result):
    """Customers whose cost exceeds 80 % of revenue, worst margin first."""
    customers = result.tables.get("customers")
    if customers is None or customers.empty:
        return customers
    return customers[customers["unprofitable"].astype(bool)].sort_values("margin_usd").reset_index(drop=True)


SPEC = PageSpec(
    name="profitability",
    title="Customer profitability",
    description="Revenue, cost to serve and margin per customer and tier; unprofitable customers and interventions.",
    charts=(margin_distribution,),
    extra_grids=(ExtraGrid("unprofitable", "Unprofitable customers (cost > 80 % of revenue)", unprofitable),),
)

analyzer_page.register_page(__name__, SPEC, path="/profitability", name="Profitability", order=6)
