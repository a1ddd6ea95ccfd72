"""Everything fixed for a run: catalog, model table, population, scenarios and lookup tables.

A ``WorldSpec`` is small and picklable; every process builds the identical ``World`` from it (pool
workers under ``fork`` simply inherit the parent's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

import numpy as np
import pyarrow as pa

from generator.calendar import day_start_ms
from generator.population import Population, build_population
from generator.scenario import ModelTable, Scenario
from generator.scenarios import resolve
from generator.text import strings
from generator.traffic import TrafficModel
from metering.csvtext import vocabulary
from metering.prices import Catalog, load_catalog
from metering.schema import COLUMN_NAMES, ERROR_STOP_REASONS, TIERS
from metering.store import format_csv, numpy_to_arrow

_BIG = 10_000_000


@dataclass(frozen=True)
class WorldSpec:
    seed: int = 42
    start: date = date(2026, 1, 1)
    customers: int = 500
    organizations: int | None = None
    scenarios: tuple[str, ...] | None = None  # None = all
    prices: str | None = None  # catalog path (None = $REVENIUM_FLOW_PRICES or built-in)
    traffic: TrafficModel = field(default_factory=TrafficModel)


def _model_table(catalog: Catalog, tm: TrafficModel) -> ModelTable:
    providers = sorted(catalog.providers, key=lambda p: (-tm.market_share.get(p, 0.0), p))
    models: list[str] = []
    owner: list[int] = []
    out_price, cacheable, reasoning, speed, max_in = [], [], [], [], []
    for pi, p in enumerate(providers):
        for m in catalog.models(p):
            price = catalog.current(p, m)
            models.append(m)
            owner.append(pi)
            out_price.append(price.output)
            cacheable.append(price.cache_read is not None)
            reasoning.append(price.supports_reasoning)
            speed.append(tm.speed.get(m, 1.0))
            max_in.append(price.max_input_tokens or _BIG)
    return ModelTable(
        providers=providers,
        models=models,
        model_provider=np.array(owner, dtype=np.int8),
        output_price=np.array(out_price),
        cacheable=np.array(cacheable, dtype=bool),
        reasoning=np.array(reasoning, dtype=bool),
        speed=np.array(speed),
        max_input=np.array(max_in, dtype=np.int64),
    )


def _cum(weights: np.ndarray) -> np.ndarray:
    c = np.cumsum(weights / weights.sum())
    c[-1] = 1.0
    return c


class World:
    """The run's fixed tables. Synthesis reads only from here plus the task's random generator."""

    def __init__(self, spec: WorldSpec) -> None:
        self.spec = spec
        self.seed = spec.seed
        self.start = spec.start
        self.start_ms = day_start_ms(spec.start, 0)
        self.traffic = tm = spec.traffic
        self.catalog = load_catalog(spec.prices)
        self.models = _model_table(self.catalog, tm)
        #: (provider, model) per model index: the keys ``Catalog.price_keys`` prices by
        self.model_keys = [
            (self.models.providers[p], m)
            for p, m in zip(self.models.model_provider, self.models.models, strict=True)
        ]
        self.scenarios: list[Scenario] = resolve(list(spec.scenarios) if spec.scenarios else None)
        self.scenario_names = [s.name for s in self.scenarios]
        self.pop: Population = build_population(
            spec.seed,
            customers=spec.customers,
            organizations=spec.organizations,
            scenario_shares={s.name: s.share for s in self.scenarios},
            providers=self.models.providers,
            traffic=tm,
        )
        self.slices = [self.pop.customers_of(i) for i in range(len(self.scenarios))]
        self.feature_names = tuple(self.pop.feature_names) + (tm.launch_feature,)
        self.task_names = tuple(tm.tasks)
        self.env_names = tuple(tm.environments)
        self.ua_names = tuple(tm.user_agents)
        self.stop_names = tuple(tm.stop_reasons)
        self.error_stops = np.array([s in ERROR_STOP_REASONS for s in self.stop_names])
        self.stop_index = {s: i for i, s in enumerate(self.stop_names)}

        mt = self.models
        n_p = len(mt.providers)
        share = np.array([tm.market_share.get(p, 0.01) for p in mt.providers])
        self.provider_cum = _cum(share)
        pref = self.pop.org_preference[:, None]
        onehot = np.eye(n_p)[self.pop.org_provider]
        org_p = (1 - pref) * (share / share.sum())[None, :] + pref * onehot
        self.org_provider_cum = np.cumsum(org_p, axis=1)
        self.org_provider_cum[:, -1] = 1.0
        per = [np.flatnonzero(mt.model_provider == p) for p in range(n_p)]
        width = max(len(x) for x in per)
        self.model_count = np.array([len(x) for x in per], dtype=np.int64)
        self.model_slots = np.zeros((n_p, width), dtype=np.int16)
        self.model_weight = np.zeros((n_p, width))
        self.model_rel_price = np.zeros((n_p, width))
        for p, idx in enumerate(per):
            w = np.array([tm.model_weights.get(mt.models[i], 0.0) for i in idx])
            if w.sum() <= 0:
                w = np.ones(len(idx))
            self.model_slots[p, : len(idx)] = idx
            self.model_weight[p, : len(idx)] = w / w.sum()
            self.model_rel_price[p, : len(idx)] = mt.output_price[idx] / max(
                mt.output_price[idx].max(), 1e-30
            )

        # per customer and provider: cumulative model choice, tilted toward dear models by `premium`
        w = self.model_weight[None] * (1 + self.pop.premium[:, None, None] * self.model_rel_price[None])
        self.model_cum = np.cumsum(w, axis=2) / w.sum(axis=2, keepdims=True)
        self.model_cum[:, :, -1] = 1.0

        self.task_in = np.array([tm.tasks[t][0] for t in self.task_names])
        self.task_out = np.array([tm.tasks[t][1] for t in self.task_names])
        feats = {**tm.features, tm.launch_feature: tm.launch_feature_tasks}
        ft = np.array([[feats[f].get(t, 0.0) for t in self.task_names] for f in self.feature_names])
        self.feature_task_cum = np.cumsum(ft / ft.sum(axis=1, keepdims=True), axis=1)
        self.feature_task_cum[:, -1] = 1.0
        self.env_cum = _cum(np.array(list(tm.environments.values())))
        self.ua_cum = _cum(np.array(list(tm.user_agents.values())))
        self.stop_cum = _cum(np.array(list(tm.stop_reasons.values())))
        self.trace_cum = _cum(np.array(tm.trace_sizes))
        self._profiles: dict[tuple, np.ndarray] = {}

    def profile(self, shape: tuple | None) -> np.ndarray:
        """``(time zones, 24 UTC hours)`` share of a day's calls per hour; rows sum to 1."""
        tm = self.traffic
        key = shape or (tm.business_hours[0], tm.business_hours[1], tm.business_share)
        if key not in self._profiles:
            first, end, inside_share = key
            offsets = np.array([tm.time_zones[z]["offset"] for z in self.pop.tz_names])
            local = (np.arange(24)[None, :] + 0.5 + offsets[:, None]) % 24
            inside = (local >= first) & (local < end)
            # a gentle hump inside the window, flat outside; each part normalised to its share
            hump = 1 + 0.35 * np.sin(np.pi * np.clip((local - first) / (end - first), 0, 1))
            w_in = np.where(inside, hump, 0.0)
            w_out = np.where(inside, 0.0, 1.0)
            prof = inside_share * w_in / w_in.sum(1, keepdims=True) + (1 - inside_share) * w_out / w_out.sum(
                1, keepdims=True
            )
            self._profiles[key] = prof
        return self._profiles[key]

    @cached_property
    def names(self) -> dict[str, list[str]]:
        """The values of every categorical column (index arrays point into these)."""
        p = self.pop
        return {
            "provider": list(self.models.providers),
            "model": list(self.models.models),
            "customer_id": p.customer_ids.tolist(),
            "subscription_tier": list(TIERS),
            "organization_id": p.org_ids.tolist(),
            "product_id": p.product_ids.tolist(),
            "feature_id": list(self.feature_names),
            "task_type": list(self.task_names),
            "environment": list(self.env_names),
            "user_agent": list(self.ua_names),
            "region": list(p.region_names),
            "stop_reason": list(self.stop_names),
            "scenario": list(self.scenario_names),
            "source": ["simulated"],
        }

    @cached_property
    def dictionaries(self) -> dict[str, pa.Array]:
        """Arrow dictionaries of every categorical column."""
        return {k: strings(v) for k, v in self.names.items()}

    @cached_property
    def text_tables(self) -> dict[str, np.ndarray] | None:
        """The categorical columns as CSV text tables (``metering.csvtext.vocabulary``), each entry with
        its trailing comma; runs of columns that depend on one key are one entry (model: provider and
        model; customer: customer, tier, organization, product); ``tail``: per scenario, the scenario,
        ``source`` and the columns the generator leaves at their default, as the store formats them.
        None when a name needs CSV quoting (then ``format_calls`` takes the store's formatter)."""
        p = self.pop
        d = self.names
        provider_of = self.models.model_provider
        tiers = [d["subscription_tier"][t] for t in p.tier]
        texts = {
            "model": [f"{d['provider'][provider_of[m]]},{name}," for m, name in enumerate(d["model"])],
            "customer": [
                f"{c},{tiers[i]},{d['organization_id'][p.org[i]]},{d['product_id'][p.product[i]]},"
                for i, c in enumerate(d["customer_id"])
            ],
            "feature": [f"{v}," for v in d["feature_id"]],
            "task": [f"{v}," for v in d["task_type"]],
            "environment": [f"{v}," for v in d["environment"]],
            "user_agent": [f"{v}," for v in d["user_agent"]],
            "region": [f"{d['region'][r]}," for r in p.region],
            "stop_reason": [f"{v}," for v in d["stop_reason"]],
        }
        names = [v for values in d.values() for v in values]
        if any(ch in name for name in names for ch in ',"\r\n'):
            return None
        tables = {k: vocabulary([v.encode() for v in values]) for k, values in texts.items()}
        rest = COLUMN_NAMES[COLUMN_NAMES.index("scenario") :]
        tables["tail"] = vocabulary(
            [
                format_csv({"scenario": strings([name]), "source": strings(["simulated"])}, rest)
                for name in d["scenario"]
            ]
        )
        return tables

    def prepare(self) -> World:
        """Build now every table synthesis would otherwise build on first use (text tables, each
        scenario's hourly profile), e.g. in the parent before it forks workers: they inherit the
        tables instead of each building its own."""
        if self.text_tables is None:
            self.dictionaries  # noqa: B018 - the store's formatter takes these instead
        for sc in self.scenarios:
            self.profile(sc.profile)
        return self

    def categorical(self, column: str, indices: np.ndarray) -> pa.Array:
        return pa.DictionaryArray.from_arrays(
            numpy_to_arrow(indices.astype(np.int32)), self.dictionaries[column]
        )


_CURRENT: list[World] = []


def get_world(spec: WorldSpec) -> World:
    """The world for ``spec``, built once per process (a forked worker reuses its parent's)."""
    if _CURRENT and (_CURRENT[0].spec is spec or _CURRENT[0].spec == spec):
        return _CURRENT[0]
    _CURRENT[:] = [World(spec)]
    return _CURRENT[0]


def share_world(world: World) -> None:
    """Make ``world`` (tables built: ``World.prepare``) the one ``get_world`` returns for its spec in
    this process and in the processes it forks from now on."""
    _CURRENT[:] = [world.prepare()]
