"""Steady growth: volume grows linearly from 100 % to 200 % over the period, then holds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generator.scenario import DayContext, Scenario


@dataclass(frozen=True)
class SteadyGrowth(Scenario):
    name = "steady_growth"
    summary = "linear growth from 100 % to 200 % over the period"
    growth: float = 1.0  # added volume over one period
    period_days: float = 30.0

    def rate(self, ctx: DayContext) -> np.ndarray:
        # held after the period, so long runs are not swamped by one slice
        return 1 + self.growth * np.minimum(ctx.t_days, self.period_days) / self.period_days


SCENARIO = SteadyGrowth()
