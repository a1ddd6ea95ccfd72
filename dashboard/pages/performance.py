"""Performance tracking: Latency percentiles, throughput, SLA compliance, error rates and the best model per task."""

from __future__ import annotations

from dashboard.components import analyzer_page
from dashboard.components.analyzer_page import PageSpec
from dashboard.components.charts import latency_percentiles, time_to_first_token

SPEC = PageSpec(
    name="performance",
    title="Performance tracking",
    description="Latency percentiles, throughput, SLA compliance, error rates and the best model per task.",
    charts=(latency_percentiles, time_to_first_token),
)

analyzer_page.register_page(__name__, SPEC, path="/performance", name="Performance", order=2)
