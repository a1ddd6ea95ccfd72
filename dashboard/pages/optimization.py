"""Rate optimization: Model switches, committed-use and volume discounts, caching savings."""

from __future__ import annotations

from dashboard.components import analyzer_page
from dashboard.components.analyzer_page import PageSpec
from dashboard.components.charts import switch_matrix

SPEC = PageSpec(
    name="optimization",
    title="Rate optimization",
    description="Model switches, committed-use and volume discounts, caching savings.",
    charts=(switch_matrix,),
)

analyzer_page.register_page(__name__, SPEC, path="/optimization", name="Optimization", order=4)
