"""Feature economics: Cost, adoption, attributed revenue and ROI per feature; invest / maintain / optimize / sunset."""

from __future__ import annotations

from dashboard.components.analyzer_page import PageSpec
from dashboard.pages.features import feature_quadrant

SPEC = PageSpec(
    name="features",
    title="Feature economics",
    description="Cost, adoption, attributed revenue and ROI per feature; invest / maintain / optimize / sunset.",
    charts=(feature_quadrant,),
)
