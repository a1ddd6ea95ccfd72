"""What a scenario is: a rate multiplier over (customer, hour) and optional mix changes.

A scenario module defines a subclass of ``Scenario`` whose dataclass fields are its parameters
(domain-facts §5) and overrides any of:

* ``rate(ctx)``  -> multiplier broadcastable to ``(customers of the slice, 24 UTC hours)``;
* ``weekday(ctx)`` -> the day-of-week / holiday factor (default: weekends at 70 %);
* ``adjust(ctx, calls)`` -> mix changes on the drawn calls (model migration, routing, a launched
  feature, calls removed by caching). It edits index arrays in place, never loops per call.

Randomness comes only from ``ctx.rng`` (seeded by (seed, scenario, day)) and ``ctx.run_uniform(stream)``
(seeded by (seed, scenario, stream): run-wide draws such as churn days), so output never depends on
which worker ran a day.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass
from datetime import date
from typing import ClassVar

import numpy as np

from generator.population import Population
from generator.traffic import TrafficModel


def s_curve(t: np.ndarray | float, start: float, duration: float) -> np.ndarray:
    """Logistic ramp from ~2 % at ``start`` to ~98 % at ``start + duration`` (0 before, 1 after)."""
    t = np.asarray(t, dtype=float)
    k = 2 * np.log(49.0) / max(duration, 1e-9)
    return 1.0 / (1.0 + np.exp(-k * (t - (start + duration / 2))))


def task_seed(seed: int, scenario: str, *parts: int) -> np.random.SeedSequence:
    """Seed for one (scenario, ...) stream: independent of worker count and task order."""
    return np.random.SeedSequence([seed & 0xFFFFFFFF, seed >> 32, zlib.crc32(scenario.encode()), *parts])


def hash_uniform(seed: int, scenario: str, keys: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) per integer key (splitmix64): a stable draw per date or id, whatever the task."""
    salt = np.uint64(((seed & 0xFFFFFFFF) << 32) ^ zlib.crc32(scenario.encode()))
    x = np.asarray(keys).astype(np.uint64) + salt
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


@dataclass
class ModelTable:
    """The catalog's providers and models as indices (what synthesis and scenarios draw from)."""

    providers: list[str]
    models: list[str]
    model_provider: np.ndarray  # int8 provider index per model
    output_price: np.ndarray  # USD per token (latest catalog price), for tilts and routing
    cacheable: np.ndarray  # bool: the model has a cache-read price
    reasoning: np.ndarray  # bool: Price.supports_reasoning
    speed: np.ndarray  # latency factor
    max_input: np.ndarray  # int64 prompt limit (large when unknown)

    def index(self, model: str) -> int | None:
        return self.models.index(model) if model in self.models else None

    @functools.cached_property
    def cheapest_of_provider(self) -> np.ndarray:
        """For each model, the model with the lowest output price at the same provider."""
        out = np.arange(len(self.models))
        for p in range(len(self.providers)):
            sel = np.flatnonzero(self.model_provider == p)
            if len(sel):
                out[sel] = sel[np.argmin(self.output_price[sel])]
        return out


@dataclass
class Calls:
    """The calls of one (scenario, day) task as index and count arrays, one entry per call."""

    t_ms: np.ndarray  # int64 epoch ms
    cust: np.ndarray  # int32 global customer index
    provider: np.ndarray  # int8
    model: np.ndarray  # int16
    feature: np.ndarray  # int16 index into ctx.feature_names
    task: np.ndarray  # int8 index into ctx.task_names
    keep: np.ndarray  # bool: False drops the call (e.g. served from an application cache)
    cache_boost: np.ndarray  # float64 extra probability of a provider cache hit

    def __len__(self) -> int:
        return len(self.t_ms)


@dataclass
class DayContext:
    """Everything a scenario may look at for one day of its slice."""

    seed: int
    scenario: str
    day: int  # run day number (0 = the start date)
    start: date
    day_start_ms: int
    pop: Population
    traffic: TrafficModel
    models: ModelTable
    cust: np.ndarray  # global indices of the slice's customers (k)
    local_hour: np.ndarray  # (k, 24) local hour at the middle of each UTC hour, 0..24
    local_dow: np.ndarray  # (k, 24) local weekday, 0 = Monday
    local_epoch_day: np.ndarray  # (k, 24) local calendar day as epoch day number
    t_days: np.ndarray  # (24,) run days elapsed at the middle of each UTC hour
    feature_names: tuple[str, ...]
    task_names: tuple[str, ...]
    rng: np.random.Generator

    def run_uniform(self, stream: int, n: int | None = None) -> np.ndarray:
        """Run-wide uniform draw(s) in [0, 1): the same for every day of the run (cached)."""
        return _run_uniform(self.seed, self.scenario, stream, n)

    def run_between(self, stream: int, low: float, high: float) -> float:
        """A run-wide value drawn uniformly in ``[low, high)``."""
        return low + (high - low) * float(self.run_uniform(stream))

    def customer_uniform(self, stream: int) -> np.ndarray:
        """A fixed uniform draw per customer of the population (indexed by global customer)."""
        return self.run_uniform(stream, self.pop.n_customers)


@functools.lru_cache(maxsize=512)
def _run_uniform(seed: int, scenario: str, stream: int, n: int | None) -> np.ndarray:
    rng = np.random.default_rng(task_seed(seed, scenario, 1_000_000 + stream))
    out = np.asarray(rng.random(n))
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class Scenario:
    """Base traffic behaviour; scenario modules subclass it and override what they change."""

    name: ClassVar[str] = "scenario"
    summary: ClassVar[str] = ""
    #: relative share of the population owned by this scenario
    share: float = 1.0
    #: intraday shape (first local hour, end local hour, share of calls inside); None = the traffic
    #: model's business hours (8-20 local carrying 85 %)
    profile: tuple | None = None
    #: use the organization's provider preference instead of the market shares
    provider_preference: bool = False

    def rate(self, ctx: DayContext) -> np.ndarray | float:
        return 1.0

    def weekday(self, ctx: DayContext) -> np.ndarray | float:
        weekend = ctx.local_dow >= 5
        return np.where(weekend, ctx.traffic.weekend_factor, 1.0)

    def adjust(self, ctx: DayContext, calls: Calls) -> None:
        return None
