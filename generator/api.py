"""The generator's public functions for scripts and examples (``showcase/``); the ``generate`` command
runs the full pipeline (``generator.run``: worker pool, merger, manifest) instead.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import date

from generator.synthesis import synthesize_days
from generator.traffic import TrafficModel
from generator.world import World, WorldSpec
from metering.store import CallStore


def write_days(
    path: str | os.PathLike[str],
    *,
    seed: int,
    start: date,
    customers: int,
    days: int,
    rate_scale: float = 1.0,
) -> int:
    """Replace ``path`` with ``days`` simulated days of ``customers`` customers from ``start`` (the
    generator's own world, day synthesis and CSV formatting; rows from real metering are kept);
    returns the number of simulated rows written."""
    spec = WorldSpec(
        seed=seed, start=start, customers=customers, traffic=replace(TrafficModel(), rate_scale=rate_scale)
    )
    store = CallStore(path)
    store.reset()
    shard = synthesize_days(World(spec), 0, days)
    store.append_lines(shard.csv, shard.rows)
    return shard.rows
