"""The scenario registry: one module per scenario, each defining ``SCENARIO``; listed once below.

Adding a scenario is one module in this package and one line in ``MODULES``.
"""

from __future__ import annotations

import importlib

from generator.scenario import Scenario

MODULES: tuple[str, ...] = (
    "base_traffic",
    "seasonal_pattern",
    "burst_traffic",
    "multi_tenant",
    "model_migration",
    "weekend_effect",
    "timezone_pattern",
    "feature_launch",
    "cost_optimization",
    "gradual_decline",
    "steady_growth",
    "viral_spike",
)

SCENARIOS: tuple[Scenario, ...] = tuple(importlib.import_module(f"{__name__}.{m}").SCENARIO for m in MODULES)
BY_NAME: dict[str, Scenario] = {s.name: s for s in SCENARIOS}
NAMES: tuple[str, ...] = tuple(BY_NAME)


def resolve(names: str | list[str] | None) -> list[Scenario]:
    """Scenarios by name (comma-separated text or a list; None or "all" = every scenario, in order)."""
    if names is None or names == "all":
        return list(SCENARIOS)
    wanted = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
    wanted = [n for n in wanted if n]
    unknown = [n for n in wanted if n not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(NAMES)}")
    if not wanted:
        raise ValueError(f"no scenario given; known: {', '.join(NAMES)}")
    return [s for s in SCENARIOS if s.name in wanted]
