"""Customer profitability: subscription revenue, cost to serve and margin per customer and tier; customers
with margin at risk (the loss-making ones first) and interventions."""

from __future__ import annotations

from dashboard.components.analyzer_page import ExtraGrid, PageSpec
from dashboard.components.headline import CARD_KEYS
from dashboard.pages.profitability import margin_distribution


def at_risk(result):
    """Customers with margin at risk (cost > 80 % of revenue; loss-making ones included), worst margin first."""
    customers = result.tables.get("customers")
    if customers is None or customers.empty:
        return customers
    return customers[customers["at_risk"].astype(bool)].sort_values("margin_usd").reset_index(drop=True)


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
)
