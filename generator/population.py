"""The simulated customer base: customers, organizations, products, features, time zones.

Built once per run from the seed (same seed, same sizes -> same population) and shared read-only by
every task. Everything is an index array so synthesis can gather per call without Python loops.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generator.traffic import TrafficModel
from metering.schema import TIERS

LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Population:
    """Per-customer and per-organization arrays (index i = customer i / organization i)."""

    customer_ids: np.ndarray  # str, "cust_0007"
    archetype: np.ndarray  # int8 index into archetype_names
    archetype_names: tuple[str, ...]
    tier: np.ndarray  # int8 index into TIERS
    calls_per_day: np.ndarray  # float64, scaled base rate
    token_scale: np.ndarray  # float64 multiplier of the task's token medians (by archetype)
    org: np.ndarray  # int32 organization index
    tz: np.ndarray  # int8 index into tz_names
    tz_names: tuple[str, ...]
    tz_offset_h: np.ndarray  # float64 per customer (UTC offset in hours)
    region: np.ndarray  # int8 index into region_names
    region_names: tuple[str, ...]
    product: np.ndarray  # int32 global product index (the customer's product)
    premium: np.ndarray  # float64 >= 0: tilt toward the dearest models of a provider
    user_agent: np.ndarray  # int8 index into the traffic user agents (the customer's usual client)
    org_ids: np.ndarray  # str "org_007"
    org_volume: np.ndarray  # float64 volume multiplier (multi_tenant), spans 3-10x
    org_provider: np.ndarray  # int8 preferred provider index (into the run's provider list)
    org_preference: np.ndarray  # float64 0..1 strength of that preference
    product_ids: np.ndarray  # str "product_007a"
    product_org: np.ndarray  # int32
    product_features: np.ndarray  # int16 (n_products, max_features) indices into feature_names, -1 = none
    product_feature_count: np.ndarray  # int16
    feature_names: tuple[str, ...]
    scenario_of: np.ndarray  # int16 index of the scenario owning each customer (into scenario names)

    @property
    def n_customers(self) -> int:
        return len(self.customer_ids)

    @property
    def n_orgs(self) -> int:
        return len(self.org_ids)

    def customers_of(self, scenario_index: int) -> np.ndarray:
        return np.flatnonzero(self.scenario_of == scenario_index)


def _exact_counts(shares: np.ndarray, n: int) -> np.ndarray:
    """Largest-remainder apportionment of ``n`` items to ``shares``."""
    raw = shares / shares.sum() * n
    counts = np.floor(raw).astype(np.int64)
    rest = n - counts.sum()
    if rest:
        counts[np.argsort(-(raw - counts), kind="stable")[:rest]] += 1
    return counts


def build_population(
    seed: int,
    *,
    customers: int = 500,
    organizations: int | None = None,
    scenario_shares: dict[str, float],
    providers: list[str],
    traffic: TrafficModel | None = None,
) -> Population:
    """A reproducible population; ``scenario_shares`` maps scenario name -> share of customers."""
    if customers < 1:
        raise ValueError(f"customers must be >= 1, got {customers}")
    tm = traffic or TrafficModel()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x50505]))
    n = customers
    n_org = organizations if organizations is not None else max(1, round(n / 12.5))
    if n_org < 1:
        raise ValueError(f"organizations must be >= 1, got {n_org}")

    # archetypes in exact proportions, shuffled
    arch_names = tuple(tm.archetypes)
    arch_counts = _exact_counts(np.array([tm.archetypes[a]["share"] for a in arch_names]), n)
    archetype = rng.permutation(np.repeat(np.arange(len(arch_names), dtype=np.int8), arch_counts))

    # tier by archetype (domain-facts §3) and base calls/day
    tier = np.zeros(n, dtype=np.int8)
    calls = np.zeros(n)
    tokens = np.ones(n)
    for a, name in enumerate(arch_names):
        spec = tm.archetypes[name]
        sel = np.flatnonzero(archetype == a)
        probs = np.array([spec["tiers"].get(t, 0.0) for t in TIERS])
        tier[sel] = rng.choice(len(TIERS), size=len(sel), p=probs / probs.sum())
        lo, hi = spec["calls_per_day"]
        calls[sel] = rng.uniform(lo, hi, len(sel)) * tm.rate_scale
        tokens[sel] = spec.get("tokens", 1.0)

    # organizations own customers (uneven sizes), each with 1-3 products of 2-4 features
    org_weights = rng.pareto(1.2, n_org) + 0.5
    org = rng.choice(n_org, size=n, p=org_weights / org_weights.sum()).astype(np.int32)
    org[rng.permutation(n)[: min(n, n_org)]] = np.arange(min(n, n_org))  # every org has a customer
    features = tuple(tm.features)
    n_prod_per_org = rng.integers(1, 4, n_org)
    product_org = np.repeat(np.arange(n_org, dtype=np.int32), n_prod_per_org)
    n_prod = len(product_org)
    first_prod = np.concatenate([[0], np.cumsum(n_prod_per_org)[:-1]])
    prod_letter = np.arange(n_prod) - first_prod[product_org]
    product_ids = np.array(
        [f"product_{o:03d}{LETTERS[k % 26]}" for o, k in zip(product_org, prod_letter, strict=True)]
    )
    max_f = min(4, len(features))
    feat_count = rng.integers(min(2, max_f), max_f + 1, n_prod).astype(np.int16)
    prod_feats = np.full((n_prod, max_f), -1, dtype=np.int16)
    keys = rng.random((n_prod, len(features))).argsort(axis=1)[:, :max_f]
    cols = np.arange(max_f)[None, :]
    prod_feats[:] = np.where(cols < feat_count[:, None], keys, -1)
    pick = rng.random(n)
    product = (first_prod[org] + np.floor(pick * n_prod_per_org[org]).astype(np.int64)).astype(np.int32)

    # time zones and regions
    tz_names = tuple(tm.time_zones)
    tz_shares = np.array([tm.time_zones[z]["share"] for z in tz_names])
    tz = rng.permutation(np.repeat(np.arange(len(tz_names), dtype=np.int8), _exact_counts(tz_shares, n)))
    offsets = np.array([tm.time_zones[z]["offset"] for z in tz_names])[tz]
    region_names = tuple(dict.fromkeys(tm.time_zones[z]["region"] for z in tz_names))
    region_of_tz = np.array([region_names.index(tm.time_zones[z]["region"]) for z in tz_names], dtype=np.int8)

    ua_names = list(tm.user_agents)
    ua_p = np.array([tm.user_agents[u] for u in ua_names])
    user_agent = rng.choice(len(ua_names), size=n, p=ua_p / ua_p.sum()).astype(np.int8)
    premium = rng.lognormal(-0.5, 1.2, n)  # most customers mildly, a few strongly, prefer the top models

    # per-organization volume (3-10x span) and provider preference
    org_volume = rng.uniform(3.0, 10.0, n_org)
    share = np.array([tm.market_share.get(p, 0.01) for p in providers])
    org_provider = rng.choice(len(providers), size=n_org, p=share / share.sum()).astype(np.int8)
    org_preference = rng.uniform(0.3, 0.7, n_org)

    # scenario slices: customers dealt round-robin within archetype so each slice gets the mix
    names = list(scenario_shares)
    sc_counts = _exact_counts(np.array([scenario_shares[s] for s in names], dtype=float), n)
    slots = np.repeat(np.arange(len(names), dtype=np.int16), sc_counts)
    order = np.lexsort((rng.random(n), archetype))  # customers grouped by archetype
    # proportional interleave: the j-th of c slots of a scenario sits at (j + 0.5) / c
    within = np.arange(n) - np.repeat(np.cumsum(sc_counts) - sc_counts, sc_counts)
    interleaved = slots[
        np.argsort((within + 0.5) / np.repeat(np.maximum(sc_counts, 1), sc_counts), kind="stable")
    ]
    scenario_of = np.empty(n, dtype=np.int16)
    scenario_of[order] = interleaved

    return Population(
        customer_ids=np.array([f"cust_{i:04d}" for i in range(n)]),
        archetype=archetype,
        archetype_names=arch_names,
        tier=tier,
        calls_per_day=calls,
        token_scale=tokens,
        org=org,
        tz=tz,
        tz_names=tz_names,
        tz_offset_h=offsets,
        region=region_of_tz[tz],
        region_names=region_names,
        product=product,
        premium=premium,
        user_agent=user_agent,
        org_ids=np.array([f"org_{i:03d}" for i in range(n_org)]),
        org_volume=org_volume,
        org_provider=org_provider,
        org_preference=org_preference,
        product_ids=product_ids,
        product_org=product_org,
        product_features=prod_feats,
        product_feature_count=feat_count,
        feature_names=features,
        scenario_of=scenario_of,
    )
