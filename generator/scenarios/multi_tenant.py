"""Multi-tenant: per-organization volume multipliers (3-10x) and provider preferences."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generator.scenario import DayContext, Scenario


@dataclass(frozen=True)
class MultiTenant(Scenario):
    name = "multi_tenant"
    summary = "per-organization volume multipliers spanning 3-10x, per-organization provider preference"
    provider_preference: bool = True

    def rate(self, ctx: DayContext) -> np.ndarray:
        vol = ctx.pop.org_volume
        # relative to the population mean, so the slice keeps its share while orgs differ 3-10x
        return (vol[ctx.pop.org[ctx.cust]] / vol.mean())[:, None]


SCENARIO = MultiTenant()
