"""Cost optimization: from day 10 simple tasks move to cheaper models and caching removes repeats."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generator.scenario import Calls, DayContext, Scenario


@dataclass(frozen=True)
class CostOptimization(Scenario):
    name = "cost_optimization"
    summary = "from day 10, simple tasks routed to cheaper models (~70 % cheaper by day 20); caching removes ~30 % of repeats"
    start_day: float = 10.0
    full_day: float = 20.0
    routed_share: float = 0.85  # share of simple-task calls on the provider's cheapest model at full effect
    cache_removed: float = 0.30  # share of simple-task calls answered by an application cache
    cache_hit_boost: float = 0.40  # extra probability of a provider cache hit on the remaining ones

    def progress(self, days: np.ndarray) -> np.ndarray:
        return np.clip((days - self.start_day) / (self.full_day - self.start_day), 0.0, 1.0)

    def adjust(self, ctx: DayContext, calls: Calls) -> None:
        days = (calls.t_ms - ctx.day_start_ms) / 86_400_000 + ctx.day
        r = self.progress(days)
        simple = np.isin(calls.task, [ctx.task_names.index(t) for t in ctx.traffic.simple_tasks])
        u = ctx.rng.random((3, len(calls)))
        routed = simple & (u[0] < self.routed_share * r)
        calls.model[routed] = ctx.models.cheapest_of_provider[calls.model[routed]]
        calls.keep &= ~(simple & (u[1] < self.cache_removed * r))
        calls.cache_boost[simple] += self.cache_hit_boost * r[simple]


SCENARIO = CostOptimization()
