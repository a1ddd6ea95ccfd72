"""Helpers for the generator tests: small worlds and synthesized calls (imported by module name)."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import numpy as np

# `tests/metering/` would otherwise shadow the `metering` package when pytest runs without the repo on
# sys.path (the console-script `pytest`, unlike `python -m pytest`)
_REPO = str(Path(__file__).resolve().parents[2])
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from generator.synthesis import TaskCalls, synthesize_task  # noqa: E402
from generator.world import World, WorldSpec  # noqa: E402

START = date(2026, 1, 5)  # a Monday


def world_of(*scenarios: str, customers: int = 500, seed: int = 7) -> World:
    return World(WorldSpec(seed=seed, start=START, customers=customers, scenarios=scenarios or None))


def calls_of(world: World, days, si: int = 0) -> TaskCalls:
    """The calls of scenario ``si`` over ``days``, concatenated."""
    return TaskCalls.concat([synthesize_task(world, si, d) for d in days])


def local_ms(world: World, calls: TaskCalls) -> np.ndarray:
    """Each call's local wall-clock time (epoch ms shifted by the customer's UTC offset)."""
    return calls.t_ms + (world.pop.tz_offset_h[calls.cust] * 3_600_000).astype(np.int64)
