"""All-pairs test cases: every value of every factor meets every value of every other factor at least once,
in far fewer cases than the full product (a chart type x dimension x metric grid of 4 x 11 x 10 = 440
cases needs about 110). Greedy and deterministic: each case is the combination of the full product that
covers the most pairs not yet covered (ties go to the first in product order).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any


def pairs_of(case: Sequence[Any]) -> set[tuple[int, Any, int, Any]]:
    return {(i, case[i], j, case[j]) for i, j in itertools.combinations(range(len(case)), 2)}


def all_pairs(*factors: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Cases (one value per factor, in factor order) covering every pair of values of two factors."""
    if any(len(f) == 0 for f in factors):
        return []
    if len(factors) < 2:
        return [tuple(c) for c in itertools.product(*factors)]
    candidates = list(itertools.product(*factors))
    uncovered = set().union(*(pairs_of(c) for c in candidates))
    cases: list[tuple[Any, ...]] = []
    while uncovered:
        best = max(candidates, key=lambda c: len(pairs_of(c) & uncovered))
        cases.append(best)
        uncovered -= pairs_of(best)
    return cases
