"""The population: archetype and tier mix, organizations, time zones, scenario slices."""

from __future__ import annotations

import numpy as np
import pytest

from generator.population import build_population
from generator.scenarios import NAMES, SCENARIOS
from generator.traffic import ARCHETYPES, TIME_ZONES
from metering.schema import TIERS

SHARES = {s.name: s.share for s in SCENARIOS}
PROVIDERS = ["openai", "anthropic", "google", "bedrock", "azure", "mistral", "cohere"]


def make(seed: int = 1, customers: int = 500):
    return build_population(seed, customers=customers, scenario_shares=SHARES, providers=PROVIDERS)


def test_archetype_shares_are_exact_and_tiers_follow_archetype():
    pop = make()
    counts = np.bincount(pop.archetype, minlength=3)
    assert dict(zip(pop.archetype_names, counts.tolist(), strict=True)) == {
        "light": 350,
        "power": 100,
        "heavy": 50,
    }
    heavy = pop.archetype == pop.archetype_names.index("heavy")
    assert not (pop.tier[heavy] == TIERS.index("starter")).any()  # heavy: 0 % starter
    light = pop.archetype == pop.archetype_names.index("light")
    starter_share = (pop.tier[light] == TIERS.index("starter")).mean()
    assert abs(starter_share - ARCHETYPES["light"]["tiers"]["starter"]) < 0.08
    # calls/day keep the archetype ratios (ranges scaled by one factor)
    means = [pop.calls_per_day[pop.archetype == a].mean() for a in range(3)]
    assert means[0] < means[1] < means[2]


def test_organizations_products_features_and_time_zones():
    pop = make()
    assert pop.n_orgs == 40
    assert set(np.unique(pop.org)) == set(range(40))  # every organization owns customers
    assert (pop.product_org[pop.product] == pop.org).all()  # a customer's product belongs to its org
    assert (pop.product_feature_count >= 2).all()
    tz_share = np.bincount(pop.tz, minlength=len(TIME_ZONES)) / pop.n_customers
    assert np.allclose(tz_share, [z["share"] for z in TIME_ZONES.values()], atol=0.005)
    assert len(set(pop.region_names)) == len(TIME_ZONES)
    assert ((pop.org_volume >= 3) & (pop.org_volume <= 10)).all()


def test_every_scenario_owns_a_slice_with_every_archetype():
    pop = make()
    for i, name in enumerate(NAMES):
        members = pop.customers_of(i)
        assert len(members) >= 15, name
        assert set(np.unique(pop.archetype[members])) == {0, 1, 2}, name


def test_same_seed_same_population_other_seed_differs():
    a, b, c = make(3), make(3), make(4)
    assert (a.tier == b.tier).all() and (a.org == b.org).all() and (a.scenario_of == b.scenario_of).all()
    assert not (a.org == c.org).all()


def test_sizes_are_configurable_and_validated():
    assert make(customers=40).n_customers == 40
    with pytest.raises(ValueError, match="customers"):
        make(customers=0)
