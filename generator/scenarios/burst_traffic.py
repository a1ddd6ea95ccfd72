"""Burst traffic: on ~8 % of days a 1-3 hour burst at 5-20x normal traffic, at a random hour."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generator.scenario import DayContext, Scenario, task_seed


@dataclass(frozen=True)
class BurstTraffic(Scenario):
    name = "burst_traffic"
    summary = "~8 % of days get a 1-3 h burst at 5-20x normal traffic, at random hours"
    probability: float = 0.08
    hours: tuple[int, int] = (1, 3)
    factor: tuple[float, float] = (5.0, 20.0)

    def burst(self, seed: int, day: int) -> tuple[int, int, float] | None:
        """(first UTC hour, length in hours, factor) of day ``day``'s burst, or None."""
        rng = np.random.default_rng(task_seed(seed, self.name, day, 7))
        if rng.random() >= self.probability:
            return None
        length = int(rng.integers(self.hours[0], self.hours[1] + 1))
        first = int(rng.integers(0, 24 - length + 1))
        return first, length, float(rng.uniform(*self.factor))

    def rate(self, ctx: DayContext) -> np.ndarray:
        m = np.ones(24)
        b = self.burst(ctx.seed, ctx.day)
        if b:
            first, length, factor = b
            m[first : first + length] = factor
        return m


SCENARIO = BurstTraffic()
