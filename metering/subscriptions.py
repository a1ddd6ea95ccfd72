"""Subscriptions: who pays what, when — the one revenue function of the project.

Rules (``SUBSCRIPTION_RULE``, stated in every analyzer's ``methods``):

* A customer's subscription starts on the UTC day of its first call. It stays active through ``as_of``
  while its last call is within ``churn_after_days`` (default 30) of ``as_of``; a longer silence
  between two calls ends it on the day of the last call before the gap, and the next call starts a new
  subscription.
* The tier in force on a day is the tier of the latest call on or before that day that carries one
  (calls without a tier keep the last known tier). A customer never seen with a tier is ``unknown``,
  priced at 0.
* Revenue of a customer over a window = sum over its active days in the window of tier price / number
  of days in that calendar month; a day the window covers only in part counts for its covered fraction.
* A subscriptions file (CSV or JSON; customer, tier, start, optional end, optional price) replaces the
  inference for the customers it lists.

Pure numpy (no pandas): the analyzers pass per-call arrays, the incremental session passes its cube
(one row per customer x day x tier with the latest call time), and both get the same figures.
"""

from __future__ import annotations

import csv
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from metering.jsonfile import parse_json

ENV_VAR = "REVENIUM_FLOW_SUBSCRIPTIONS"
DEFAULT_CHURN_AFTER_DAYS = 30
UNKNOWN_TIER = "unknown"
DAY_MS = 86_400_000

SUBSCRIPTION_RULE = (
    "a subscription starts on the UTC day of the customer's first call and stays active through as_of "
    "while the last call is within churn_after_days ({churn} days) of as_of; a longer silence ends it on the "
    "day of the last call before the gap, and a later call starts a new one; the tier in force on a day is "
    "the tier of the latest call on or before that day carrying one (never seen with a tier: 'unknown', "
    "priced $0); revenue over a window = sum over active days in the window of monthly tier price / days "
    "in that calendar month (a partly covered day counts its covered fraction); a subscriptions file "
    "replaces the inference for the customers it lists"
)


class SubscriptionError(ValueError):
    """The subscriptions file is unreadable or wrong; the message names the line and the field."""


@dataclass(frozen=True)
class Spells:
    """Subscription periods with one tier and price each: parallel arrays, days as int days since epoch.

    ``end`` is inclusive. ``price_usd_month`` is the monthly price in force (0 for an unknown tier).
    """

    customer: np.ndarray  # str (object) customer ids
    tier: np.ndarray  # str (object) tier names
    start: np.ndarray  # int64 first day
    end: np.ndarray  # int64 last day, inclusive
    price_usd_month: np.ndarray  # float64

    def __len__(self) -> int:
        return len(self.customer)

    @functools.cached_property
    def customer_index(self) -> tuple[np.ndarray, np.ndarray]:
        """(distinct customer ids sorted, each spell's position among them), computed once."""
        return np.unique(self.customer.astype(str), return_inverse=True)


@dataclass(frozen=True)
class SubscriptionFile:
    """Rows of a subscriptions file: customer, tier, start day, end day (-1 = open), price (NaN = tier's)."""

    customer: np.ndarray
    tier: np.ndarray
    start: np.ndarray
    end: np.ndarray
    price_usd_month: np.ndarray
    path: str = ""

    def __len__(self) -> int:
        return len(self.customer)


def _columns(customer: Any, tier: Any, start: Any, end: Any, price: Any) -> dict[str, np.ndarray]:
    """The five parallel arrays of a Spells / SubscriptionFile, typed."""
    return {
        "customer": np.asarray(customer, dtype=object),
        "tier": np.asarray(tier, dtype=object),
        "start": np.asarray(start, dtype="int64"),
        "end": np.asarray(end, dtype="int64"),
        "price_usd_month": np.asarray(price, dtype="float64"),
    }


def day_number(d: date) -> int:
    return (d - date(1970, 1, 1)).days


def _parse_day(value: Any, where: str, name: str) -> int:
    text = str(value).strip()[:10]
    try:
        return day_number(date.fromisoformat(text))
    except ValueError:
        raise SubscriptionError(
            f"{where}: field {name!r} is not a date (YYYY-MM-DD): {str(value)[:40]!r}"
        ) from None


def load_subscriptions(
    path: str | os.PathLike[str], tier_prices: Mapping[str, float] | None = None
) -> SubscriptionFile:
    """Read a subscriptions file: CSV with a header, or JSON (a list of objects, or {"subscriptions": [...]}).

    Fields: ``customer`` (or ``customer_id``), ``tier``, ``start`` (YYYY-MM-DD), optional ``end``
    (inclusive; empty = still active) and ``price`` (monthly USD; default = the tier's price). A tier not
    in ``tier_prices`` needs a price. Errors name the line (CSV) or entry (JSON) and the field.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise SubscriptionError(f"subscriptions file {p}: cannot read ({exc.strerror})") from exc
    rows: list[tuple[str, dict[str, Any]]] = []
    if p.suffix.lower() == ".json" or text.lstrip().startswith(("[", "{")):
        doc = parse_json(text, f"subscriptions file {p}", SubscriptionError)
        items = doc.get("subscriptions") if isinstance(doc, dict) else doc
        if not isinstance(items, list):
            raise SubscriptionError(f"subscriptions file {p}: expected a list of subscriptions")
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise SubscriptionError(f"subscriptions file {p}: entry {i}: expected an object")
            rows.append((f"subscriptions file {p}: entry {i}", item))
    else:
        reader = csv.DictReader(text.splitlines())
        for i, item in enumerate(reader, start=2):
            rows.append((f"subscriptions file {p}: line {i}", item))
    cust, tier, start, end, price = [], [], [], [], []
    for where, item in rows:
        c = item.get("customer", item.get("customer_id"))
        if c in (None, ""):
            raise SubscriptionError(f"{where}: field 'customer' is missing")
        t = item.get("tier")
        if t in (None, ""):
            raise SubscriptionError(f"{where}: field 'tier' is missing")
        if item.get("start") in (None, ""):
            raise SubscriptionError(f"{where}: field 'start' is missing")
        s = _parse_day(item["start"], where, "start")
        e = -1 if item.get("end") in (None, "") else _parse_day(item["end"], where, "end")
        if e != -1 and e < s:
            raise SubscriptionError(f"{where}: field 'end' is before 'start'")
        raw = item.get("price")
        if raw in (None, ""):
            if tier_prices is not None and str(t) not in tier_prices:
                raise SubscriptionError(f"{where}: field 'tier': unknown tier {t!r} and no 'price' given")
            pr = np.nan
        else:
            try:
                pr = float(raw)
            except (TypeError, ValueError):
                raise SubscriptionError(
                    f"{where}: field 'price' is not a number: {str(raw)[:40]!r}"
                ) from None
            if not np.isfinite(pr) or pr < 0:
                raise SubscriptionError(f"{where}: field 'price' must be a number >= 0, got {raw!r}")
        cust.append(str(c))
        tier.append(str(t))
        start.append(s)
        end.append(e)
        price.append(pr)
    return SubscriptionFile(**_columns(cust, tier, start, end, price), path=str(p))


def subscriptions_from_env(tier_prices: Mapping[str, float] | None = None) -> SubscriptionFile | None:
    """The file named by ``$REVENIUM_FLOW_SUBSCRIPTIONS``, or None when unset."""
    path = os.environ.get(ENV_VAR)
    return load_subscriptions(path, tier_prices) if path else None


def infer_spells(
    customer: np.ndarray,
    day: np.ndarray,
    tier: np.ndarray,
    stamp: np.ndarray,
    *,
    as_of_day: int,
    churn_after_days: int = DEFAULT_CHURN_AFTER_DAYS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Subscription segments from activity rows (calls, or cube rows of customer x day x tier).

    ``customer``: int codes >= 0; ``day``: int UTC day numbers; ``tier``: int codes, -1 = no tier;
    ``stamp``: time of the row's (latest) call, any monotone int unit. Returns per segment (one tier,
    inside one subscription): customer code, tier code (-1 = unknown), first day, last day (inclusive),
    ordered by customer then day. See the module docstring for the rules.
    """
    customer = np.asarray(customer, dtype="int64")
    if not len(customer):
        z = np.zeros(0, dtype="int64")
        return z, z, z, z
    day = np.asarray(day, dtype="int64")
    tier = np.asarray(tier, dtype="int64")
    stamp = np.asarray(stamp, dtype="int64")
    c, d, t = _customer_days(customer, day, tier, stamp)
    n = len(c)
    pos = np.arange(n)
    first_of_cust = np.r_[True, c[1:] != c[:-1]]
    cust_start = np.maximum.accumulate(np.where(first_of_cust, pos, 0))
    known = np.maximum.accumulate(np.where(t >= 0, pos, -1))
    t = np.where(known >= cust_start, t[np.maximum(known, 0)], -1)  # forward fill within the customer
    gap = np.r_[0, d[1:] - d[:-1]]
    spell_start = first_of_cust | (gap > churn_after_days)
    spell_id = np.cumsum(spell_start) - 1
    last_of_spell = np.r_[spell_start[1:], True]
    last_of_cust = np.r_[first_of_cust[1:], True]
    spell_end_day = d[last_of_spell]  # per spell, the day of its last call
    open_ = last_of_cust[last_of_spell] & (as_of_day - spell_end_day <= churn_after_days)
    spell_end_day = np.where(open_, np.maximum(as_of_day, spell_end_day), spell_end_day)
    seg_start = spell_start | np.r_[True, t[1:] != t[:-1]]
    idx = np.flatnonzero(seg_start)
    next_idx = np.r_[idx[1:], n]
    same_spell_next = np.r_[spell_id[idx[1:]] == spell_id[idx[:-1]], False]
    end = np.where(same_spell_next, d[np.minimum(next_idx, n - 1)] - 1, spell_end_day[spell_id[idx]])
    return c[idx], t[idx], d[idx], end


#: above this many customer x day cells the activity is sorted instead of laid on a dense grid
_DENSE_CELLS = 8_000_000


def _customer_days(
    customer: np.ndarray, day: np.ndarray, tier: np.ndarray, stamp: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (customer, day) pairs ordered by customer then day, with the tier of the day's latest
    call carrying one (-1 when none did)."""
    d0 = int(day.min())
    span = int(day.max()) - d0 + 1
    n_cust = int(customer.max()) + 1
    has = tier >= 0
    if n_cust * span <= _DENSE_CELLS:  # no sort: a dense customer x day grid
        cell = customer * span + (day - d0)
        present = np.flatnonzero(np.bincount(cell, minlength=n_cust * span))
        newest = np.full(n_cust * span, np.iinfo("int64").min)
        np.maximum.at(newest, cell[has], stamp[has])
        pick = np.flatnonzero(has & (stamp == newest[cell]))
        tier_of = np.full(n_cust * span, -1, dtype="int64")
        tier_of[cell[pick]] = tier[pick]  # ties (same instant): the last such row, as the sorted path
        return present // span, present % span + d0, tier_of[present]
    s0 = int(stamp.min())
    rank = (stamp - s0) + has.astype("int64") * (int(stamp.max()) - s0 + 1)
    order = np.lexsort((rank, customer * span + (day - d0)))
    c, d, t = customer[order], day[order], tier[order]
    # the last row of each (customer, day) carries the day's tier: tiered rows sort after untiered ones,
    # the latest tiered call last
    last = np.r_[(c[1:] != c[:-1]) | (d[1:] != d[:-1]), True]
    return c[last], d[last], t[last]


def build_spells(
    customer: np.ndarray,
    customer_labels: np.ndarray,
    day: np.ndarray,
    tier: np.ndarray,
    tier_labels: np.ndarray,
    stamp: np.ndarray,
    *,
    tier_prices: Mapping[str, float],
    as_of_day: int,
    churn_after_days: int = DEFAULT_CHURN_AFTER_DAYS,
    overrides: SubscriptionFile | None = None,
) -> Spells:
    """Priced subscription segments: inferred from activity (``infer_spells``), with the customers of
    ``overrides`` taken from the file instead. Labels translate the int codes; a tier label that is not in
    ``tier_prices`` (or a missing one) counts as no tier."""
    tier_labels = np.asarray(tier_labels, dtype=object)
    valid = np.array([str(x) in tier_prices for x in tier_labels], dtype=bool)
    tier = np.asarray(tier, dtype="int64")
    tier = np.where(
        (tier >= 0) & valid[np.clip(tier, 0, max(len(valid) - 1, 0))] if len(valid) else False, tier, -1
    )
    c, t, s, e = infer_spells(
        customer, day, tier, stamp, as_of_day=as_of_day, churn_after_days=churn_after_days
    )
    labels = np.asarray(customer_labels, dtype=object)
    cust = labels[c] if len(c) else np.zeros(0, dtype=object)
    names = np.where(
        t >= 0, tier_labels[np.maximum(t, 0)] if len(tier_labels) else UNKNOWN_TIER, UNKNOWN_TIER
    )
    names = np.asarray(names, dtype=object)
    lut = {k: float(v) for k, v in tier_prices.items()}
    price = np.array([lut.get(str(x), 0.0) for x in names], dtype="float64")
    if overrides is not None and len(overrides):
        keep = ~np.isin(cust.astype(str), overrides.customer.astype(str))
        oend = np.where(overrides.end < 0, np.maximum(as_of_day, overrides.start), overrides.end)
        oprice = np.array(
            [
                p if np.isfinite(p) else lut.get(str(x), 0.0)
                for x, p in zip(overrides.tier, overrides.price_usd_month, strict=True)
            ],
            dtype="float64",
        )
        cust = np.concatenate([cust[keep], overrides.customer])
        names = np.concatenate([names[keep], overrides.tier])
        s = np.concatenate([s[keep], overrides.start])
        e = np.concatenate([e[keep], oend])
        price = np.concatenate([price[keep], oprice])
    return Spells(**_columns(cust, names, s, e, price))


def days_in_month(days: np.ndarray) -> np.ndarray:
    """Number of days of the calendar month each UTC day number falls in."""
    d = np.asarray(days, dtype="int64").astype("datetime64[D]")
    m = d.astype("datetime64[M]")
    return ((m + 1).astype("datetime64[D]") - m.astype("datetime64[D]")).astype("int64")


@dataclass(frozen=True)
class Revenue:
    """Revenue of each spell over a window, and the same per customer."""

    spell_revenue_usd: np.ndarray
    spell_active_days: np.ndarray
    customers: np.ndarray  # distinct customer ids (sorted)
    revenue_usd: np.ndarray
    active_days: np.ndarray
    tier: np.ndarray  # tier in force at the end of the window (or of the last spell before it)


def revenue(spells: Spells, start_ms: int, end_ms: int) -> Revenue:
    """Revenue of every spell and customer over the window [start_ms, end_ms) (UTC milliseconds).

    Each day d contributes price / days_in_month(d) x the fraction of d inside the window and inside the
    spell (spells cover whole days). Active days count the same fractions.
    """
    n = len(spells)
    if n == 0 or end_ms <= start_ms:
        cust = np.unique(spells.customer.astype(str)) if n else np.zeros(0, dtype=str)
        zeros = np.zeros(len(cust))
        tiers = _last_tier(spells, cust)
        return Revenue(np.zeros(n), np.zeros(n), cust, zeros, zeros.copy(), tiers)
    d0, d1 = start_ms // DAY_MS, (end_ms - 1) // DAY_MS
    days = np.arange(d0, d1 + 1, dtype="int64")
    lo = np.maximum(days * DAY_MS, start_ms)
    hi = np.minimum((days + 1) * DAY_MS, end_ms)
    cover = (hi - lo) / DAY_MS
    cum_cover = np.r_[0.0, np.cumsum(cover)]
    cum_rev = np.r_[0.0, np.cumsum(cover / days_in_month(days))]
    a = np.clip(spells.start, d0, d1 + 1) - d0
    b = np.clip(spells.end + 1, d0, d1 + 1) - d0
    b = np.maximum(a, b)
    active = cum_cover[b] - cum_cover[a]
    rev = spells.price_usd_month * (cum_rev[b] - cum_rev[a])
    cust, inv = spells.customer_index
    return Revenue(
        spell_revenue_usd=rev,
        spell_active_days=active,
        customers=cust,
        revenue_usd=np.bincount(inv, weights=rev, minlength=len(cust)),
        active_days=np.bincount(inv, weights=active, minlength=len(cust)),
        tier=_last_tier(spells, cust, end_ms // DAY_MS if end_ms % DAY_MS else end_ms // DAY_MS - 1),
    )


def _last_tier(spells: Spells, customers: np.ndarray, last_day: int | None = None) -> np.ndarray:
    """Per customer, the tier of its latest spell starting on or before ``last_day`` (any when None)."""
    out = np.full(len(customers), UNKNOWN_TIER, dtype=object)
    if not len(spells) or not len(customers):
        return out
    ok = np.ones(len(spells), dtype=bool) if last_day is None else spells.start <= last_day
    ok |= ~np.isin(
        spells.customer.astype(str), spells.customer[ok].astype(str)
    )  # only later spells: take them
    idx = np.flatnonzero(ok)
    order = idx[np.lexsort((spells.start[idx], spells.customer[idx].astype(str)))]
    pos = np.searchsorted(customers, spells.customer[order].astype(str))
    out[pos] = spells.tier[order]  # later assignments win: the latest spell
    return out
