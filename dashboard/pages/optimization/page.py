"""Rate optimization: model switches within a capability class, commitments per provider (when asked),
volume discounts, caching savings."""

from __future__ import annotations

from dashboard.components.analyzer_page import PageSpec
from dashboard.components.headline import CARD_KEYS
from dashboard.pages.optimization import switch_matrix

SPEC = PageSpec(
    name="optimization",
    title="Rate optimization",
    description="One switch per source model, to the same capability class (or one class down for simple "
    "tasks, labelled a quality trade-off) and only for calls that fit the target's context window; "
    "commitments per provider (modelled when asked), volume discounts, caching savings.",
    charts=(switch_matrix,),
    card_keys=CARD_KEYS["optimization"],
)
