"""Understanding usage & cost: Totals, allocation by every dimension, patterns, 30/90-day forecasts and top spenders."""

from __future__ import annotations

from dashboard.components.analyzer_page import PageSpec
from dashboard.components.headline import CARD_KEYS
from dashboard.pages.understanding import cost_by_model, cost_forecast

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
