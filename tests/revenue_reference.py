"""The subscription revenue rule computed the slow, obvious way: one customer, one day at a time.

Independent of ``metering.subscriptions`` (no numpy tricks): used to check it on random data.
"""

from __future__ import annotations

import calendar

import pandas as pd

CHURN = 30


def reference_revenue(
    full: pd.DataFrame, customer: str, prices: dict[str, float], as_of: pd.Timestamp | None = None
) -> tuple[float, float]:
    """(revenue, active days) of ``customer`` over 00:00 of the first call's day in ``full`` .. as_of."""
    as_of = full["timestamp"].max() if as_of is None else as_of
    start = full["timestamp"].min().normalize()
    mine = full[full["customer_id"].astype("str") == customer].sort_values("timestamp", kind="stable")
    call_days = sorted({t.normalize() for t in mine["timestamp"]})
    tiered = [
        (t.normalize(), str(tier))
        for t, tier in zip(mine["timestamp"], mine["subscription_tier"], strict=True)
        if isinstance(tier, str) and tier in prices
    ]
    revenue = active = 0.0
    day = start
    while day <= as_of.normalize():
        before = [d for d in call_days if d <= day]
        after = [d for d in call_days if d > day]
        if before:
            p = before[-1]
            gap_end = after[0] if after else as_of.normalize()
            on = day == p or (gap_end - p).days <= CHURN
            cover = (min(day + pd.Timedelta(days=1), as_of) - max(day, start)) / pd.Timedelta(days=1)
            if on and cover > 0:
                known = [tier for d, tier in tiered if d <= day]
                price = prices[known[-1]] if known else 0.0
                dim = calendar.monthrange(day.year, day.month)[1]
                revenue += price / dim * cover
                active += cover
        day += pd.Timedelta(days=1)
    return revenue, active
