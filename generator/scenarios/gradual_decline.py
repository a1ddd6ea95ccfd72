"""Gradual decline: volume falls 1-3 % a day and 15-25 % of customers churn on random days."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generator.scenario import DayContext, Scenario


@dataclass(frozen=True)
class GradualDecline(Scenario):
    name = "gradual_decline"
    summary = "1-3 % daily decline, 15-25 % of customers churn on random days"
    daily_decline: tuple[float, float] = (0.01, 0.03)
    churn: tuple[float, float] = (0.15, 0.25)
    churn_window_days: tuple[float, float] = (2.0, 30.0)

    def churn_days(self, ctx: DayContext) -> np.ndarray:
        """Run day (fractional) each population customer stops calling; inf = never churns."""
        share = ctx.run_between(2, *self.churn)
        churned = ctx.customer_uniform(3) < share
        lo, hi = self.churn_window_days
        when = lo + (hi - lo) * ctx.customer_uniform(4)
        return np.where(churned, when, np.inf)

    def rate(self, ctx: DayContext) -> np.ndarray:
        decline = ctx.run_between(1, *self.daily_decline)
        hour_end = ctx.t_days + 0.5 / 24
        alive = hour_end[None, :] <= self.churn_days(ctx)[ctx.cust][:, None]  # whole hours before churn
        return np.where(alive, (1 - decline) ** ctx.t_days[None, :], 0.0)


SCENARIO = GradualDecline()
