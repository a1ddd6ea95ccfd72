"""Performance tracking: Latency percentiles, throughput, SLA compliance, error rates and the best model per task."""

from __future__ import annotations

from dashboard.components.analyzer_page import PageSpec
from dashboard.pages.performance import latency_percentiles, time_to_first_token

SPEC = PageSpec(
    name="performance",
    title="Performance tracking",
    description="Latency percentiles, throughput, SLA compliance, error rates and the best model per task.",
    charts=(latency_percentiles, time_to_first_token),
)
