"""Pricing strategy: The same usage priced four ways: flat, tiered, usage and hybrid — revenue, margin, winners, losers and churn risk."""

from __future__ import annotations

from dashboard.components.analyzer_page import PageSpec
from dashboard.pages.pricing import pricing_models

SPEC = PageSpec(
    name="pricing",
    title="Pricing strategy",
    description="The same usage priced four ways: flat, tiered, usage and hybrid — revenue, margin, winners, losers and churn risk.",
    charts=(pricing_models,),
)
