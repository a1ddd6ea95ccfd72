"""Budgets beyond the tier allocation: monthly USD per customer, organization, product or API key.

A budgets file (``--budgets FILE`` / ``$REVENIUM_FLOW_BUDGETS``) is JSON: a list of objects, or
``{"budgets": [...]}``, each with ``scope`` (customer, organization, product, api_key), ``id``,
``monthly_usd`` and optional ``thresholds`` (percent of the budget the month-end projection may reach
before an alert; default 80 and 100). Errors name the entry and the field.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metering.jsonfile import read_json

ENV_VAR = "REVENIUM_FLOW_BUDGETS"
#: scope -> the call-record column that identifies it (api_key_id: not stored by this project's ingest
#: yet; a budget on it is reported as having no data until the column exists)
SCOPE_COLUMNS: dict[str, str] = {
    "customer": "customer_id",
    "organization": "organization_id",
    "product": "product_id",
    "api_key": "api_key_id",
}
DEFAULT_THRESHOLDS: tuple[float, ...] = (80.0, 100.0)


class BudgetError(ValueError):
    """The budgets file is unreadable or wrong; the message names the entry and the field."""


@dataclass(frozen=True)
class ScopeBudget:
    scope: str
    id: str
    monthly_usd: float
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS


def parse_budgets(doc: Any, source: str = "budgets") -> tuple[ScopeBudget, ...]:
    items = doc.get("budgets") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise BudgetError(f"{source}: expected a list of budgets (or an object with a 'budgets' list)")
    out: list[ScopeBudget] = []
    seen: set[tuple[str, str]] = set()
    for i, it in enumerate(items):
        where = f"{source}: entry {i}"
        if not isinstance(it, dict):
            raise BudgetError(f"{where}: expected an object")
        scope = it.get("scope")
        if scope not in SCOPE_COLUMNS:
            raise BudgetError(
                f"{where}: field 'scope' must be one of {', '.join(SCOPE_COLUMNS)}, got {scope!r}"
            )
        ident = it.get("id")
        if not isinstance(ident, str) or not ident:
            raise BudgetError(f"{where}: field 'id' must be a non-empty string")
        usd = it.get("monthly_usd")
        if isinstance(usd, bool) or not isinstance(usd, int | float) or not math.isfinite(usd) or usd <= 0:
            raise BudgetError(f"{where}: field 'monthly_usd' must be a number > 0, got {usd!r}")
        raw = it.get("thresholds", list(DEFAULT_THRESHOLDS))
        if (
            not isinstance(raw, list)
            or not raw
            or any(isinstance(t, bool) or not isinstance(t, int | float) or not 0 < t <= 1000 for t in raw)
        ):
            raise BudgetError(
                f"{where}: field 'thresholds' must be a list of percentages in (0, 1000], got {raw!r}"
            )
        if (scope, ident) in seen:
            raise BudgetError(f"{where}: a second budget for {scope} {ident!r}")
        seen.add((scope, ident))
        out.append(ScopeBudget(scope, ident, float(usd), tuple(sorted(float(t) for t in raw))))
    return tuple(out)


def load_budgets(path: str | os.PathLike[str]) -> tuple[ScopeBudget, ...]:
    p = Path(path)
    doc = read_json(p, "budgets file", BudgetError)
    return parse_budgets(doc, f"budgets file {p}")
