"""Model migration: an S-curve shift from gpt-4 to claude-sonnet-4 from day 10 over 14 days."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generator.scenario import Calls, DayContext, Scenario, s_curve


@dataclass(frozen=True)
class ModelMigration(Scenario):
    name = "model_migration"
    summary = "S-curve shift gpt-4 -> claude-sonnet-4 starting day 10 over 14 days"
    source: str = "gpt-4"
    target: str = "claude-sonnet-4"
    start_day: float = 10.0
    duration_days: float = 14.0
    #: share of this slice's calls that run on the source model before the migration
    source_share: float = 0.5

    def migrated(self, days: np.ndarray | float) -> np.ndarray:
        """Share of source-model calls that have moved to the target at run day ``days``."""
        return s_curve(days, self.start_day, self.duration_days)

    def adjust(self, ctx: DayContext, calls: Calls) -> None:
        src, dst = ctx.models.index(self.source), ctx.models.index(self.target)
        if src is None or dst is None:
            return
        n = len(calls)
        on_source = (ctx.rng.random(n) < self.source_share) | (calls.model == src)
        days = (calls.t_ms - ctx.day_start_ms) / 86_400_000 + ctx.day
        moved = on_source & (ctx.rng.random(n) < self.migrated(days))
        calls.model[on_source] = src
        calls.model[moved] = dst
        calls.provider[:] = ctx.models.model_provider[calls.model]


SCENARIO = ModelMigration()
