"""Viral spike: an exponential rise to 50x, then a settle near 5x."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generator.scenario import DayContext, Scenario


@dataclass(frozen=True)
class ViralSpike(Scenario):
    name = "viral_spike"
    summary = "exponential viral event: 1x -> 50x peak -> settles near 5x"
    share: float = 0.5  # half a slice: at 5-50x it would otherwise dwarf the other patterns
    event_day: float = 15.0
    rise_days: float = 1.5
    peak: float = 50.0
    plateau: float = 5.0
    decay_days: float = 1.5

    def multiplier(self, days: np.ndarray) -> np.ndarray:
        days = np.asarray(days, dtype=float)
        top = self.event_day + self.rise_days
        rise = np.exp(np.log(self.peak) * np.clip((days - self.event_day) / self.rise_days, 0, 1))
        fall = self.plateau + (self.peak - self.plateau) * np.exp(
            -np.maximum(days - top, 0) / self.decay_days
        )
        return np.where(days < top, rise, fall)

    def rate(self, ctx: DayContext) -> np.ndarray:
        return self.multiplier(ctx.t_days)


SCENARIO = ViralSpike()
