"""Feature launch: a new ``code`` feature on day 10 with a 3-5x spike and ~40 % adoption.

The eventual adopters (40 % of the slice) drive the launch spike with trial calls on ``code``; after it,
the share of their calls on ``code`` follows an S-curve up to ``code_share``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generator.scenario import Calls, DayContext, Scenario, s_curve


@dataclass(frozen=True)
class FeatureLaunch(Scenario):
    name = "feature_launch"
    summary = "a new `code` feature launches on day 10: 3-5x spike, S-curve adoption to ~40 % of customers"
    launch_day: float = 10.0
    spike: tuple[float, float] = (3.0, 5.0)
    spike_decay_days: float = 1.5
    adoption: float = 0.40
    adoption_days: float = 10.0
    code_share: float = 0.40  # share of an adopter's calls on the feature once adopted

    def adopters(self, ctx: DayContext) -> np.ndarray:
        """Bool per population customer: will adopt the feature."""
        return ctx.customer_uniform(1) < self.adoption

    def spike_factor(self, ctx: DayContext, days: np.ndarray) -> np.ndarray:
        """Slice traffic relative to normal: K at launch, decaying to 1 (K drawn once per run)."""
        k = ctx.run_between(2, *self.spike)
        since = days - self.launch_day
        return np.where(since >= 0, 1 + (k - 1) * np.exp(-np.maximum(since, 0) / self.spike_decay_days), 1.0)

    def rate(self, ctx: DayContext) -> np.ndarray:
        adopt = self.adopters(ctx)[ctx.cust][:, None]
        extra = (self.spike_factor(ctx, ctx.t_days) - 1) / self.adoption  # adopters carry the spike
        return np.where(adopt, 1 + extra[None, :], 1.0)

    def adjust(self, ctx: DayContext, calls: Calls) -> None:
        code = ctx.feature_names.index(ctx.traffic.launch_feature)
        days = (calls.t_ms - ctx.day_start_ms) / 86_400_000 + ctx.day
        adopt = self.adopters(ctx)[calls.cust]
        a = 1 + (self.spike_factor(ctx, days) - 1) / self.adoption
        p = ((a - 1) + self.code_share * s_curve(days, self.launch_day, self.adoption_days)) / a
        on_code = adopt & (days >= self.launch_day) & (ctx.rng.random(len(calls)) < p)
        calls.feature[on_code] = code
        calls.task[on_code] = ctx.task_names.index("code_generation")


SCENARIO = FeatureLaunch()
