"""Organizational alignment: Chargeback and showback per organization → product → feature, by environment; allocations sum to the total."""

from __future__ import annotations

from dashboard.components.analyzer_page import PageSpec
from dashboard.pages.alignment import chargeback, focus_download

SPEC = PageSpec(
    name="alignment",
    title="Organizational alignment",
    description="Chargeback and showback per organization → product → feature, by environment; allocations sum to the total.",
    charts=(chargeback, focus_download),
)
