"""Weekend effect: Saturday 40-60 %, Sunday 30-50 %, holidays 20-40 %, Friday taper after 15:00."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generator.calendar import holiday_days
from generator.scenario import DayContext, Scenario, hash_uniform


@dataclass(frozen=True)
class WeekendEffect(Scenario):
    name = "weekend_effect"
    summary = "Saturday 40-60 %, Sunday 30-50 %, holidays 20-40 % of weekday volume, Friday taper after 15:00"
    saturday: tuple[float, float] = (0.40, 0.60)
    sunday: tuple[float, float] = (0.30, 0.50)
    holiday: tuple[float, float] = (0.20, 0.40)
    friday_taper_from: float = 15.0  # local hour
    friday_taper_to: float = 0.5  # factor reached at 20:00 local and kept for the evening

    def weekday(self, ctx: DayContext) -> np.ndarray:
        # one draw per local calendar date, the same whichever UTC day (task) the hour falls in
        u = hash_uniform(ctx.seed, self.name, ctx.local_epoch_day)
        f = np.ones(ctx.local_dow.shape)
        sat, sun = ctx.local_dow == 5, ctx.local_dow == 6
        f[sat] = (self.saturday[0] + u * (self.saturday[1] - self.saturday[0]))[sat]
        f[sun] = (self.sunday[0] + u * (self.sunday[1] - self.sunday[0]))[sun]
        fri = ctx.local_dow == 4
        ramp = np.clip((ctx.local_hour - self.friday_taper_from) / (20.0 - self.friday_taper_from), 0, 1)
        f[fri] = (1 - (1 - self.friday_taper_to) * ramp)[fri]
        lo = int(ctx.local_epoch_day.min())
        first = np.datetime64(lo, "D").astype(object)
        last = np.datetime64(int(ctx.local_epoch_day.max()), "D").astype(object)
        hol = np.isin(ctx.local_epoch_day, holiday_days(first, last))
        f[hol] = (self.holiday[0] + u * (self.holiday[1] - self.holiday[0]))[hol]
        return f


SCENARIO = WeekendEffect()
