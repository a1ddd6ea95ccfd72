"""Rate optimization: model switches within a capability class, commitments per provider (when asked),
volume discounts, caching savings."""

from __future__ import annotations

from dashboard.components import analyzer_page
from dashboard.components.analyzer_page import PageSpec
from dashboard.components.charts import switch_matrix
from dashboard.components.headline import CARD_KEYS

SPEC = PageSpec(
    name="optimization",
    title="Rate optimization",
    description="One switch per source model, to the same capability class (or one class down for simple "
    "tasks, labelled a quality trade-off) and only for calls that fit the target's context window; "
    "commitments per provider (modelled when asked), volume discounts, caching savings.",
    charts=(switch_matrix,),
    card_keys=CARD_KEYS["optimization"],
)

analyzer_page.register_page(__name__, SPEC, path="/optimization", name="Optimization", order=4)
