"""Subscription tiers: price per month, AI budget, token allowance and overage rate.

The single home of tier prices (``metering/data/tiers.json``); override with ``--tiers FILE`` or
``$REVENIUM_FLOW_TIERS``. Analyzers, the generator and the showcase all import from here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from metering.jsonfile import read_json

ENV_VAR = "REVENIUM_FLOW_TIERS"
DAYS_PER_MONTH = 30.4375  # 365.25 / 12: used to pro-rate monthly prices to a period


class TierError(ValueError):
    """The tiers file is unreadable or wrong; the message names the tier and field."""


@dataclass(frozen=True)
class Tier:
    name: str
    price_usd_month: float
    ai_budget_usd_month: float
    included_tokens_month: int
    overage_usd_per_1k_tokens: float

    def price_for_days(self, days: float) -> float:
        """The subscription revenue pro-rated to ``days`` (monthly price x days / 30.4375)."""
        return self.price_usd_month * days / DAYS_PER_MONTH


_FIELDS = ("price_usd_month", "ai_budget_usd_month", "included_tokens_month", "overage_usd_per_1k_tokens")


def default_tiers_path() -> Path:
    return Path(str(resources.files("metering") / "data" / "tiers.json"))


def load_tiers(path: str | os.PathLike[str] | None = None) -> dict[str, Tier]:
    """Tier name -> Tier, from ``path``, ``$REVENIUM_FLOW_TIERS`` or the built-in file."""
    p = Path(path or os.environ.get(ENV_VAR) or default_tiers_path())
    doc = read_json(p, "tiers file", TierError)
    raw = doc.get("tiers") if isinstance(doc, dict) else None
    if not isinstance(raw, dict) or not raw:
        raise TierError(f"tiers file {p}: expected an object with a non-empty 'tiers' object")
    out: dict[str, Tier] = {}
    for name, spec in raw.items():
        if not isinstance(spec, dict):
            raise TierError(f"tiers file {p}: tier {name!r} must be an object")
        vals = {}
        for f in _FIELDS:
            v = spec.get(f)
            if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
                raise TierError(f"tiers file {p}: tier {name!r} field {f!r} must be a number >= 0, got {v!r}")
            vals[f] = v
        out[name] = Tier(
            name=name,
            price_usd_month=float(vals["price_usd_month"]),
            ai_budget_usd_month=float(vals["ai_budget_usd_month"]),
            included_tokens_month=int(vals["included_tokens_month"]),
            overage_usd_per_1k_tokens=float(vals["overage_usd_per_1k_tokens"]),
        )
    return out


def tier_prices(path: str | os.PathLike[str] | None = None) -> dict[str, float]:
    """Tier name -> monthly subscription price in USD."""
    return {n: t.price_usd_month for n, t in load_tiers(path).items()}
