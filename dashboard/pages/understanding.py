"""Understanding usage & cost: Totals, allocation by every dimension, patterns, 30/90-day forecasts and top spenders."""

from __future__ import annotations

from dashboard.components import analyzer_page
from dashboard.components.analyzer_page import PageSpec
from dashboard.components.charts import cost_by_model, cost_forecast
from dashboard.components.headline import CARD_KEYS

SPEC = PageSpec(
    name="understanding",
    title="Understanding usage & cost",
    description="Totals, allocation by every dimension, patterns, 30/90-day forecasts and top spenders.",
    charts=(
        cost_forecast,
        cost_by_model,
    ),
    card_keys=CARD_KEYS["understanding"],
)

analyzer_page.register_page(__name__, SPEC, path="/understanding", name="Understanding", order=1)
