"""Running totals of a generation run and the end-of-run summary the seed printed."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from generator.calendar import iso_ms
from generator.shards import Shard
from generator.world import World


@dataclass
class Totals:
    """What has been appended so far (this run only)."""

    n_customers: int
    n_models: int
    n_scenarios: int
    rows: int = 0
    cost: float = 0.0
    unpriced: int = 0
    tokens: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    customers: np.ndarray = field(init=False)
    models: np.ndarray = field(init=False)
    by_scenario: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.customers = np.zeros(self.n_customers, dtype=bool)
        self.models = np.zeros(self.n_models, dtype=bool)
        self.by_scenario = np.zeros(self.n_scenarios, dtype=np.int64)

    def add(self, shard: Shard) -> None:
        if not shard.rows:
            return
        self.rows += shard.rows
        priced = ~np.isnan(shard.cost)
        self.cost += float(shard.cost[priced].sum())
        self.unpriced += int((~priced).sum())
        self.tokens += int(shard.tokens.sum())
        self.customers[shard.cust] = True
        self.models[shard.model] = True
        self.by_scenario += np.bincount(shard.scenario, minlength=self.n_scenarios)
        self.first_ms = int(shard.t_ms[0]) if self.first_ms is None else self.first_ms
        self.last_ms = int(shard.t_ms[-1])


def summary_lines(world: World, totals: Totals, *, path: str, size_bytes: int, elapsed: float) -> list[str]:
    """Human-readable end-of-run summary (calls, customers, orgs, providers, models, cost, mix...)."""
    t = totals
    orgs = len(np.unique(world.pop.org[np.flatnonzero(t.customers)]))
    used_models = np.flatnonzero(t.models)
    providers = len(np.unique(world.models.model_provider[used_models]))
    per_call = t.cost / t.rows if t.rows else 0.0
    rate = t.rows / elapsed if elapsed > 0 else 0.0
    lines = [
        f"file            {path} ({size_bytes / 2**20:.1f} MB)",
        f"calls           {t.rows:,} ({rate:,.0f} calls/s over {elapsed:.2f} s)",
        f"customers       {int(t.customers.sum()):,}",
        f"organizations   {orgs:,}",
        f"providers       {providers}",
        f"models          {len(used_models)}",
        f"total cost      ${t.cost:,.2f}" + (f" (+{t.unpriced:,} unpriced calls)" if t.unpriced else ""),
        f"tokens          {t.tokens:,}",
        f"cost per call   ${per_call:.6f}",
    ]
    if t.first_ms is not None and t.last_ms is not None:
        lines.append(f"date range      {iso_ms(t.first_ms)} .. {iso_ms(t.last_ms)}")
    lines.append("mix by scenario")
    for name, n in zip(world.scenario_names, t.by_scenario, strict=True):
        share = n / t.rows * 100 if t.rows else 0.0
        lines.append(f"  {name:<18} {int(n):>10,}  {share:5.1f} %")
    return lines
