"""Organizational alignment: Chargeback and showback per organization → product → feature, by environment; allocations sum to the total."""

from __future__ import annotations

from dashboard.components import analyzer_page
from dashboard.components.analyzer_page import PageSpec
from dashboard.components.charts import chargeback, focus_download

SPEC = PageSpec(
    name="alignment",
    title="Organizational alignment",
    description="Chargeback and showback per organization → product → feature, by environment; allocations sum to the total.",
    charts=(chargeback, focus_download),
)

analyzer_page.register_page(__name__, SPEC, path="/alignment", name="Alignment", order=5)
