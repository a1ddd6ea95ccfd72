"""Seasonal pattern: weekly, daily and monthly sinusoids (month-end reporting peak)."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

import numpy as np

from generator.scenario import DayContext, Scenario


@dataclass(frozen=True)
class SeasonalPattern(Scenario):
    name = "seasonal_pattern"
    summary = "weekly ±30 %, daily ±50 %, monthly ±20 % sinusoids with a month-end peak"
    weekly: float = 0.30
    daily: float = 0.50
    monthly: float = 0.20
    daily_peak_hour: float = 14.0  # local hour of the daily maximum

    def rate(self, ctx: DayContext) -> np.ndarray:
        weekly = 1 + self.weekly * np.sin(2 * np.pi * ctx.t_days / 7.0)
        daily = 1 + self.daily * np.cos(2 * np.pi * (ctx.local_hour - self.daily_peak_hour) / 24.0)
        day = date.fromordinal(ctx.start.toordinal() + ctx.day)
        length = calendar.monthrange(day.year, day.month)[1]
        frac = (day.day - 1 + ctx.t_days % 1.0) / length  # 0 at the 1st, -> 1 at month end
        monthly = 1 + self.monthly * np.cos(2 * np.pi * (frac - 1.0))  # peak at month end
        return weekly * monthly * daily


SCENARIO = SeasonalPattern()
