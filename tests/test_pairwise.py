"""The pairwise case generator covers every pair and stays near the lower bound."""

from __future__ import annotations

import itertools

from tests.pairwise import all_pairs, pairs_of


def test_every_pair_is_covered_and_the_grid_is_small():
    types, dims, metrics = "abcd", [f"d{i}" for i in range(11)], [f"m{i}" for i in range(10)]
    cases = all_pairs(types, dims, metrics)
    want = set().union(*(pairs_of(c) for c in itertools.product(types, dims, metrics)))
    assert set().union(*(pairs_of(c) for c in cases)) == want
    assert 110 <= len(cases) <= 130  # 11 x 10 is the least any covering can have; the product is 440


def test_small_and_degenerate_factors():
    assert all_pairs([1, 2], [3]) == [(1, 3), (2, 3)]
    assert all_pairs([1, 2]) == [(1,), (2,)]
    assert all_pairs([1], []) == []
    cases = all_pairs([0, 1], [0, 1], [0, 1], [0, 1])
    assert len(cases) < 16 and set().union(*map(pairs_of, cases)) == set().union(
        *map(pairs_of, itertools.product([0, 1], repeat=4))
    )
