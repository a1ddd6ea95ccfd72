"""Helpers every analyzer shares: grouping with percentiles, time buckets, z-score anomalies,
forecasting, the analysis period, customer revenue/margin, and number formatting.

One definition of each calculation lives here so that the eight analyzers, the incremental session
and the exports agree to the cent. Everything is vectorized (no per-row Python loops).
"""

from __future__ import annotations

import functools
import math
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analyzers.base import AT_RISK_COST_SHARE, MISSING_KEY
from analyzers.cube import group_index
from analyzers.cube import measures as cube_measures
from metering.schema import ERROR_STOP_REASONS
from metering.subscriptions import (
    DAY_MS,
    DEFAULT_CHURN_AFTER_DAYS,
    SUBSCRIPTION_RULE,
    UNKNOWN_TIER,
    Revenue,
    Spells,
    build_spells,
    revenue,
)
from metering.tiers import DAYS_PER_MONTH

if TYPE_CHECKING:
    from analyzers.base import AnalysisContext

#: percentile statistics group_stats understands, name -> quantile
PERCENTILES: dict[str, float] = {"p50": 0.50, "p95": 0.95, "p99": 0.99}
DEFAULT_STATS: tuple[str, ...] = ("count", "sum", "mean", "p50", "p95", "p99")
#: the forecast interval: 10th to 90th percentile of the backtested relative errors
INTERVAL_LEVEL = 0.80

PERIOD_METHOD = (
    "period_days = elapsed time from 00:00 UTC of the first call's day to as_of (the newest call, or the "
    "as_of given), in days: a partial last day counts as its elapsed fraction"
)


def revenue_method(churn_after_days: int = DEFAULT_CHURN_AFTER_DAYS) -> str:
    """The subscription revenue rule, for ``methods``."""
    return "revenue_usd (metering.subscriptions): " + SUBSCRIPTION_RULE.format(churn=churn_after_days)


REVENUE_METHOD = revenue_method()
LOSS_MAKING_METHOD = (
    "loss-making = cost_usd > revenue_usd (customers with a known tier; priced calls only, unpriced calls "
    "are counted separately, never as $0)"
)


def at_risk_method(share: float = AT_RISK_COST_SHARE) -> str:
    """How "margin at risk" is decided, for ``methods``."""
    return (
        f"margin at risk = cost_usd > {share:.0%} of revenue_usd (includes the loss-making customers; "
        "customers with a known tier; priced calls only)"
    )


# --- masks and totals ---------------------------------------------------------------------------


def error_mask(df: pd.DataFrame) -> pd.Series:
    """True for calls that failed (stop_reason in metering.schema.ERROR_STOP_REASONS)."""
    if "stop_reason" not in df.columns or df.empty:
        return pd.Series(np.zeros(len(df), dtype=bool), index=df.index)
    s = df["stop_reason"]
    if isinstance(s.dtype, pd.CategoricalDtype):  # test the few categories, not every row
        hit = np.append(np.asarray(s.cat.categories.isin(ERROR_STOP_REASONS), dtype=bool), False)
        return pd.Series(hit[s.cat.codes.to_numpy()], index=df.index)
    return pd.Series(s.isin(ERROR_STOP_REASONS).to_numpy(dtype=bool), index=df.index)


def total_cost(df: pd.DataFrame) -> float:
    """Sum of priced costs (unpriced rows excluded, never counted as $0), rounded to 1e-9."""
    return float(df["cost_usd"].sum(skipna=True)) if len(df) else 0.0


# --- grouping -----------------------------------------------------------------------------------


def _as_list(by: str | Sequence[str]) -> list[str]:
    return [by] if isinstance(by, str) else list(by)


def group_stats(
    df: pd.DataFrame,
    by: str | Sequence[str],
    value_cols: str | Sequence[str],
    stats: Sequence[str] = DEFAULT_STATS,
    *,
    count_name: str = "calls",
    sort_by: str | None = None,
    ascending: bool = False,
) -> pd.DataFrame:
    """Per group of ``by``: row count plus sum/mean/min/max/p50/p95/p99 of each value column.

    Output columns: ``by`` columns, ``count_name`` (rows per group, when "count" is in ``stats``) and
    ``<col>_<stat>`` for every value column and other stat. Missing values (NaN) are skipped by the
    statistics, and a group whose values are all NaN has sum 0 and NaN for the rest; every row is
    counted once in exactly one group (missing keys form their own group). Percentiles interpolate
    linearly between order statistics (numpy's default).
    """
    keys = _as_list(by)
    cols = _as_list(value_cols)
    unknown = [s for s in stats if s not in ("count", "sum", "mean", "min", "max", *PERCENTILES)]
    if unknown:
        raise ValueError(f"group_stats: unknown statistic(s) {unknown}")
    if df.empty:
        names = list(keys) + ([count_name] if "count" in stats else [])
        names += [f"{c}_{s}" for c in cols for s in stats if s in ("sum", "mean", "min", "max")]
        names += [f"{c}_{s}" for c in cols for s in stats if s in PERCENTILES]
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in names})
    gid, out = key_groups(df, keys)
    n = len(out)
    if "count" in stats:
        out[count_name] = np.bincount(gid, minlength=n).astype("int64")
    for c in cols:
        v = df[c].to_numpy(dtype="float64", na_value=np.nan)
        ok = ~np.isnan(v)
        cnt = np.bincount(gid[ok], minlength=n)
        tot = np.bincount(gid[ok], weights=v[ok], minlength=n)
        order_stats = [s for s in stats if s in PERCENTILES or s in ("min", "max")]
        qs = [PERCENTILES.get(s, 0.0 if s == "min" else 1.0) for s in order_stats]
        qv = grouped_quantiles(gid, v, n, qs) if qs else None
        for s in stats:
            if s == "sum":
                out[f"{c}_sum"] = tot
            elif s == "mean":
                with np.errstate(invalid="ignore", divide="ignore"):
                    out[f"{c}_mean"] = np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan)
        for j, s in enumerate(order_stats):
            out[f"{c}_{s}"] = qv[:, j]
    # column order: keys, count, simple stats per column, then percentiles per column
    simple = [f"{c}_{s}" for c in cols for s in stats if s in ("sum", "mean", "min", "max")]
    pct = [f"{c}_{s}" for c in cols for s in stats if s in PERCENTILES]
    out = out[[*keys, *([count_name] if "count" in stats else []), *simple, *pct]]
    out = out.sort_values(keys, kind="stable").reset_index(drop=True)
    if sort_by is not None and len(out):
        out = out.sort_values(sort_by, ascending=ascending, kind="stable").reset_index(drop=True)
    return out


def grouped_quantiles(
    gid: np.ndarray, values: np.ndarray, n: int, qs: Sequence[float], order: np.ndarray | None = None
) -> np.ndarray:
    """Quantiles of ``values`` per group id (NaN skipped), linear interpolation like numpy's default.

    Values are sorted once (pass ``order`` = ``np.argsort(values, kind="stable")`` to reuse it across
    groupings), then stably regrouped by id (a radix sort for small id ranges). Returns an
    (n, len(qs)) array, NaN for empty groups.
    """
    if order is None:
        order = np.argsort(values, kind="stable")
    order = order[~np.isnan(values[order])]
    g = gid[order]
    g_sort = g.astype("int16") if n < 32_000 else g
    regroup = np.argsort(g_sort, kind="stable")
    g = g[regroup]
    v = values[order][regroup]
    counts = np.bincount(g, minlength=n)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    res = np.full((n, len(qs)), np.nan)
    has = counts > 0
    for j, q in enumerate(qs):
        pos = q * (counts[has] - 1)
        lo = np.floor(pos).astype("int64")
        frac = pos - lo
        hi = np.minimum(lo + 1, counts[has] - 1)
        a, b = v[starts[has] + lo], v[starts[has] + hi]
        res[has, j] = np.where(frac >= 0.5, b - (b - a) * (1 - frac), a + (b - a) * frac)
    return res


def call_measures(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per-call arrays every breakdown sums (``analyzers.cube.measures``: calls, priced cost with NaN as 0,
    unpriced and failed flags, tokens, latency). Compute once and pass to several ``cost_breakdown``
    calls on the same frame."""
    return cube_measures(df)


def _key_codes(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(codes + 1 with 0 = missing, labels with "(none)" first) for a key column."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes, cats = s.cat.codes.to_numpy().astype("int64"), s.cat.categories
    else:
        codes, cats = pd.factorize(s, use_na_sentinel=True)
        codes = codes.astype("int64")
    if pd.api.types.is_datetime64_any_dtype(cats.dtype) or pd.api.types.is_numeric_dtype(cats.dtype):
        labels = np.asarray([None, *list(cats)], dtype=object)
    else:
        labels = np.asarray([MISSING_KEY, *[str(c) for c in cats]], dtype=object)
    return codes + 1, labels


def group_ids(codes: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Dense group id per row for a combination of non-negative integer keys, and each group's first row
    (``analyzers.cube.group_index``: ids follow first appearance; no overflow however many keys)."""
    return group_index(codes)


#: above this many key combinations cost_breakdown hashes rows instead of indexing a dense grid
_DENSE_LIMIT = 4_000_000


def key_groups(df: pd.DataFrame, keys: Sequence[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Group id per row for the combination of ``keys`` and one row of key labels per group.

    Category codes index a dense grid of key combinations when it is small (no hashing), else rows are
    hashed (``group_ids``). Missing keys are labelled "(none)"; every row gets exactly one group.
    """
    coded = [_key_codes(df[k]) for k in keys]
    sizes = tuple(len(labels) for _, labels in coded)
    if math.prod(sizes) <= _DENSE_LIMIT:
        flat = np.ravel_multi_index([c for c, _ in coded], sizes) if len(keys) > 1 else coded[0][0]
        present = np.flatnonzero(np.bincount(flat, minlength=math.prod(sizes)))
        lut = np.zeros(math.prod(sizes), dtype="int64")
        lut[present] = np.arange(len(present))
        gid = lut[flat]
        parts = np.unravel_index(present, sizes)
        out = pd.DataFrame(
            {k: labels[parts[i]] for i, (k, (_, labels)) in enumerate(zip(keys, coded, strict=True))}
        )
    else:
        gid, first = group_ids([c for c, _ in coded])
        out = pd.DataFrame({k: labels[codes[first]] for k, (codes, labels) in zip(keys, coded, strict=True)})
    for k in keys:
        if out[k].dtype == object and len(out) and isinstance(out[k].iloc[0], str):
            out[k] = out[k].astype("str")
        elif out[k].dtype == object and len(out) and isinstance(out[k].iloc[0], pd.Timestamp):
            out[k] = pd.to_datetime(out[k], utc=True)
    return gid, out


def cost_breakdown(
    df: pd.DataFrame,
    by: str | Sequence[str],
    *,
    total: float | None = None,
    tokens: bool = True,
    measures: dict[str, np.ndarray] | None = None,
    extra: Sequence[str] = (),
) -> pd.DataFrame:
    """Cost and calls per group: the allocation table every breakdown uses.

    Columns: ``by``, ``calls``, ``cost_usd`` (priced calls only), ``unpriced_calls``, ``error_calls``,
    ``input_tokens``, ``output_tokens`` (when ``tokens``), ``share_pct`` (of the total priced cost).
    Each call falls in exactly one row (missing keys become ``"(none)"``), so ``cost_usd`` sums to the
    total priced cost and ``calls`` to the number of calls. Sorted by cost, descending (ties by key).
    ``measures`` (from ``call_measures``) saves recomputing the per-call arrays; ``extra`` names further
    arrays of ``measures`` to sum per group.
    """
    keys = _as_list(by)
    m = measures if measures is not None else call_measures(df)
    names = ["calls", "cost_usd", "unpriced_calls", "error_calls"] + (
        ["input_tokens", "output_tokens"] if tokens else []
    )
    names += list(extra)
    if df.empty:
        out = pd.DataFrame({k: pd.Series(dtype="str") for k in keys})
        for c in names:
            out[c] = pd.Series(dtype="float64" if c == "cost_usd" or m[c].dtype.kind == "f" else "int64")
        out["share_pct"] = pd.Series(dtype="float64")
        return out
    gid, out = key_groups(df, keys)
    n = len(out)
    for c in names:
        w = np.bincount(gid, weights=m[c], minlength=n)
        out[c] = w if c == "cost_usd" or m[c].dtype.kind == "f" else np.rint(w).astype("int64")
    tot = float(out["cost_usd"].sum()) if total is None else total
    out["share_pct"] = out["cost_usd"] / tot * 100.0 if tot > 0 else 0.0
    out = out.sort_values(keys, kind="stable")
    return out.sort_values(["cost_usd", "calls"], ascending=False, kind="stable").reset_index(drop=True)


def plain_keys(s: pd.Series) -> pd.Series:
    """Group-key values as plain strings (dates stay dates), missing ones as "(none)"."""
    if pd.api.types.is_datetime64_any_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
        return s
    return s.astype("object").fillna(MISSING_KEY).astype("str")


# --- time -----------------------------------------------------------------------------------------


def bucket(ts: pd.Series, freq: str) -> pd.Series:
    """Start of the UTC time bucket of each timestamp.

    ``freq``: a fixed pandas frequency ("min", "15min", "h", "6h", "D"), "W" (weeks starting Monday)
    or "ME"/"MS" (calendar month, labelled by its first day).
    """
    if not isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = pd.to_datetime(ts, utc=True)
    if freq in ("W", "W-MON", "W-SUN"):
        day = ts.dt.floor("D")
        return day - pd.to_timedelta(day.dt.day_of_week, unit="D")
    if freq in ("ME", "MS", "M"):
        day = ts.dt.floor("D")
        return day - pd.to_timedelta(day.dt.day - 1, unit="D")
    return ts.dt.floor(freq)


def ts_ms(ts: pd.Series) -> np.ndarray:
    """Timestamps as int64 milliseconds since the epoch (fast; avoids object arrays of Timestamps)."""
    return ts.dt.tz_localize(None).to_numpy().astype("datetime64[ms]").astype("int64")


def day_of(ts: pd.Series) -> pd.Series:
    """The UTC day (midnight, tz-aware) of each timestamp."""
    return ts.dt.floor("D")


def period_bounds(df: pd.DataFrame) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """First and last call timestamp (None for an empty frame)."""
    if df.empty:
        return None, None
    ts = df["timestamp"]
    return ts.min(), ts.max()


def as_of_ts(df: pd.DataFrame, as_of: pd.Timestamp | None = None) -> pd.Timestamp | None:
    """ "Now" of an analysis: ``as_of`` when given, else the newest call (None for an empty frame)."""
    if as_of is not None and not pd.isna(as_of):
        t = pd.Timestamp(as_of)
        return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return None if df.empty else df["timestamp"].max()


def analysis_window(df: pd.DataFrame, as_of: pd.Timestamp | None = None) -> tuple[int, int] | None:
    """The window the figures cover, UTC milliseconds [start, end): 00:00 of the first call's day to
    as_of (``as_of_ts``). None for an empty frame. See PERIOD_METHOD."""
    if df.empty:
        return None
    first = int(pd.Timestamp(df["timestamp"].min()).value // 1_000_000)
    end = as_of_ts(df, as_of)
    end_ms = int(pd.Timestamp(end).value // 1_000_000)
    start = first // DAY_MS * DAY_MS
    return start, max(end_ms, start)


def period_days(df: pd.DataFrame, as_of: pd.Timestamp | None = None) -> float:
    """Days the data covers (PERIOD_METHOD): elapsed days from 00:00 UTC of the first call's day to as_of,
    a partial last day counting as its fraction (0 for no rows). The same rule is used everywhere."""
    w = analysis_window(df, as_of)
    return 0.0 if w is None else (w[1] - w[0]) / DAY_MS


def days_between(first: pd.Timestamp | None, last: pd.Timestamp | None) -> float:
    """Elapsed days from 00:00 UTC of ``first``'s day to ``last`` (0 when either is missing): PERIOD_METHOD
    for callers that hold only the first and last call times (the cube-reading analyzers)."""
    if first is None or last is None or pd.isna(first) or pd.isna(last):
        return 0.0
    return max((pd.Timestamp(last) - pd.Timestamp(first).normalize()) / pd.Timedelta(days=1), 0.0)


def complete_daily(
    series: pd.Series, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None
) -> pd.Series:
    """A daily series with every day from start to end present (missing days = 0)."""
    if series.empty and (start is None or end is None):
        return series.astype("float64")
    start = series.index.min() if start is None else start
    end = series.index.max() if end is None else end
    idx = pd.date_range(start, end, freq="D")
    return series.reindex(idx, fill_value=0.0).astype("float64")


# --- customers, revenue, margin ------------------------------------------------------------------


def customer_tiers(df: pd.DataFrame) -> pd.Series:
    """customer_id -> tier in force at the customer's newest call: the tier of its most recent call that
    carries one (first such row on ties); "unknown" for a customer never seen with a tier."""
    if df.empty:
        return pd.Series(dtype="str", name="subscription_tier")
    cust, cust_labels = _key_codes(df["customer_id"])
    tier, tier_labels = _key_codes(df["subscription_tier"])
    t = ts_ms(df["timestamp"])
    present = np.flatnonzero(np.bincount(cust, minlength=len(cust_labels)) > 0)
    tier_of = np.full(len(cust_labels), -1, dtype="int64")
    has = np.flatnonzero(tier > 0)
    if len(has):
        newest = np.full(len(cust_labels), np.iinfo("int64").min)
        np.maximum.at(newest, cust[has], t[has])
        pick = has[t[has] == newest[cust[has]]][::-1]  # reversed: the first row wins the assignment
        tier_of[cust[pick]] = tier[pick]
    names = np.where(tier_of[present] > 0, tier_labels[np.maximum(tier_of[present], 0)], UNKNOWN_TIER)
    return pd.Series(
        names.astype(str),
        index=pd.Index(cust_labels[present].astype(str), name="customer_id"),
        name="subscription_tier",
    ).sort_index()


def frame_spells(df: pd.DataFrame, ctx: AnalysisContext) -> Spells:
    """Subscription spells of the customers in ``df`` (``metering.subscriptions.build_spells``), as of
    ``ctx.as_of`` (default: the newest call), with ``ctx.subscriptions`` overriding the inference."""
    prices = ctx.tier_prices()
    if df.empty:
        return build_spells(
            np.zeros(0, "int64"), np.zeros(0, object), np.zeros(0, "int64"), np.zeros(0, "int64"),
            np.zeros(0, object), np.zeros(0, "int64"), tier_prices=prices, as_of_day=0,
            churn_after_days=ctx.churn_after_days, overrides=ctx.subscriptions,
        )  # fmt: skip
    cust, cust_labels = _key_codes(df["customer_id"])
    tier, tier_labels = _key_codes(df["subscription_tier"])
    ms = ts_ms(df["timestamp"])
    as_of = as_of_ts(df, ctx.as_of)
    return build_spells(
        cust,
        cust_labels,
        ms // DAY_MS,
        tier - 1,
        tier_labels[1:],
        ms,
        tier_prices=prices,
        as_of_day=int(pd.Timestamp(as_of).value // 1_000_000 // DAY_MS),
        churn_after_days=ctx.churn_after_days,
        overrides=ctx.subscriptions,
    )


def economics_arrays(
    totals: dict[str, np.ndarray], rev: Revenue, at_risk_share: float
) -> dict[str, np.ndarray]:
    """Revenue, margin and the loss-making / margin-at-risk flags from per-customer totals (numpy only).

    ``totals``: customer_id (str), calls, cost_usd, unpriced_calls. Customers with revenue but no calls
    (from a subscriptions file) are added with zero calls. Used by ``customer_economics`` (from rows) and
    by the incremental session (from its cube), so the two agree to the cent.
    """
    ids = np.asarray(totals["customer_id"], dtype=str)
    calls = np.asarray(totals["calls"], dtype="int64")
    cost = np.asarray(totals["cost_usd"], dtype="float64")
    unpriced = np.asarray(totals["unpriced_calls"], dtype="int64")
    known_ids = np.asarray(rev.customers, dtype=str)
    extra = np.setdiff1d(known_ids[rev.revenue_usd > 0], ids)
    if len(extra):
        ids = np.concatenate([ids, extra])
        calls = np.concatenate([calls, np.zeros(len(extra), dtype="int64")])
        cost = np.concatenate([cost, np.zeros(len(extra))])
        unpriced = np.concatenate([unpriced, np.zeros(len(extra), dtype="int64")])
    order = np.argsort(ids, kind="stable")
    ids, calls, cost, unpriced = ids[order], calls[order], cost[order], unpriced[order]
    if len(known_ids):
        pos = np.clip(np.searchsorted(known_ids, ids), 0, len(known_ids) - 1)
        found = known_ids[pos] == ids
        tier = np.where(found, rev.tier[pos], UNKNOWN_TIER)
        active = np.where(found, rev.active_days[pos], 0.0)
        r = np.where(found, rev.revenue_usd[pos], 0.0)
    else:
        tier = np.full(len(ids), UNKNOWN_TIER, dtype=object)
        active, r = np.zeros(len(ids)), np.zeros(len(ids))
    with np.errstate(divide="ignore", invalid="ignore"):
        margin_pct = np.where(r > 0, (r - cost) / r * 100.0, np.nan)
        cost_pct = np.where(r > 0, cost / r * 100.0, np.nan)
    known = tier != UNKNOWN_TIER
    return {
        "customer_id": ids,
        "tier": np.asarray(tier, dtype=str),
        "calls": calls,
        "cost_usd": cost,
        "unpriced_calls": unpriced,
        "active_days": active,
        "revenue_usd": r,
        "margin_usd": r - cost,
        "margin_pct": margin_pct,
        "cost_to_revenue_pct": cost_pct,
        "loss_making": known & (cost > r),
        "at_risk": known & (cost > at_risk_share * r),
    }


ECONOMICS_COLUMNS = (
    "customer_id", "tier", "calls", "cost_usd", "unpriced_calls", "active_days", "revenue_usd",
    "margin_usd", "margin_pct", "cost_to_revenue_pct", "loss_making", "at_risk",
)  # fmt: skip


def customer_economics(
    df: pd.DataFrame, ctx: AnalysisContext, window: tuple[int, int] | None = None
) -> pd.DataFrame:
    """Per customer: tier (in force at the window's end), calls, cost_usd, unpriced_calls, active_days,
    revenue_usd, margin_usd, margin_pct, cost_to_revenue_pct, loss_making, at_risk. The single definition
    of customer profitability (REVENUE_METHOD, LOSS_MAKING_METHOD, ``at_risk_method``); ``window`` (UTC ms)
    defaults to ``analysis_window(df, ctx.as_of)``.
    """
    cols = ["customer_id", "calls", "cost_usd", "unpriced_calls"]
    window = analysis_window(df, ctx.as_of) if window is None else window
    spells = frame_spells(df, ctx)
    rev = revenue(spells, *(window or (0, 0)))
    if df.empty:
        totals = {c: np.zeros(0, dtype="float64" if c == "cost_usd" else "int64") for c in cols}
        totals["customer_id"] = np.zeros(0, dtype=str)
    else:
        per = cost_breakdown(df, "customer_id", tokens=False)
        totals = {c: per[c].to_numpy() for c in cols}
    out = pd.DataFrame(economics_arrays(totals, rev, ctx.at_risk_share))
    for c in ("customer_id", "tier"):
        out[c] = out[c].astype("str")
    return out[list(ECONOMICS_COLUMNS)]


def gross_margin_pct(revenue: float, cost: float) -> float | None:
    """(revenue - cost) / revenue x 100, None when there is no revenue."""
    if not revenue or not math.isfinite(revenue) or revenue <= 0:
        return None
    return (revenue - cost) / revenue * 100.0


# --- anomalies ------------------------------------------------------------------------------------


def zscore_anomalies(
    series_frame: pd.DataFrame,
    *,
    entity_col: str | Sequence[str] = "entity",
    bucket_col: str = "bucket",
    value_col: str = "cost_usd",
    z_threshold: float = 2.0,
    min_impact: float = 0.0,
    min_buckets: int = 4,
    sigma_floor_frac: float = 0.1,
    two_sided: bool = False,
) -> pd.DataFrame:
    """Buckets whose value departs from the entity's other buckets by at least ``z_threshold`` sigma.

    ``series_frame`` has one row per (entity, bucket) and should include empty buckets as 0 (see
    ``fill_grid``). Baseline = mean of the entity's *other* buckets (leave-one-out, so a spike does not
    hide itself); sigma = their population standard deviation, floored at ``sigma_floor_frac`` x the
    baseline (a flat series would otherwise make every wiggle infinite). z = (value - baseline) / sigma;
    impact_usd = value - baseline; severity = |z| x sqrt(|impact_usd|). Entities with fewer than
    ``min_buckets`` buckets are skipped; rows with |impact| < ``min_impact`` are dropped. Only upward
    departures unless ``two_sided``. ``entity_col`` may name several columns (e.g. entity and hour of
    day, to compare a bucket with the same hour on other days). Sorted by severity, descending.
    """
    ents = _as_list(entity_col)
    cols = [*ents, bucket_col, "value", "baseline", "sigma", "z", "impact_usd", "severity"]
    if series_frame.empty:
        return pd.DataFrame(columns=cols)
    f = series_frame[[*ents, bucket_col, value_col]].rename(columns={value_col: "value"})
    f["value"] = f["value"].astype("float64").fillna(0.0)
    f["_sq"] = f["value"] ** 2
    g = f.groupby(ents, observed=True, sort=False)
    n = g["value"].transform("size").to_numpy(dtype="float64")
    s = g["value"].transform("sum").to_numpy(dtype="float64")
    ss = g["_sq"].transform("sum").to_numpy(dtype="float64")
    x = f["value"].to_numpy()
    m = n - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        base = (s - x) / m
        var = np.maximum((ss - x * x) / m - base * base, 0.0)
    sigma = np.maximum(np.sqrt(var), sigma_floor_frac * np.abs(base))
    sigma = np.where(sigma > 0, sigma, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (x - base) / sigma
    impact = x - base
    f["baseline"], f["sigma"], f["z"], f["impact_usd"] = base, sigma, z, impact
    f["severity"] = np.abs(z) * np.sqrt(np.abs(impact))
    keep = (n >= max(min_buckets, 2)) & np.isfinite(z) & (np.abs(impact) >= min_impact)
    keep &= (np.abs(z) >= z_threshold) if two_sided else (z >= z_threshold)
    out = f.loc[keep, cols]
    return out.sort_values(["severity", bucket_col], ascending=[False, True], kind="stable").reset_index(
        drop=True
    )


def fill_grid(
    frame: pd.DataFrame, entity_col: str, bucket_col: str, value_cols: Sequence[str], freq: str
) -> pd.DataFrame:
    """Every (entity, bucket) from the first to the last bucket of the whole frame, missing ones as 0."""
    if frame.empty:
        return frame
    start, end = frame[bucket_col].min(), frame[bucket_col].max()
    buckets = pd.date_range(start, end, freq=freq)
    entities = pd.unique(frame[entity_col].to_numpy())
    idx = pd.MultiIndex.from_product([entities, buckets], names=[entity_col, bucket_col])
    out = frame.set_index([entity_col, bucket_col])[list(value_cols)].reindex(idx, fill_value=0)
    return out.reset_index()


# --- forecasting ----------------------------------------------------------------------------------


@dataclass
class Forecast:
    """A daily forecast: per-day predictions with an interval, the horizon total with an interval taken
    from rolling-origin backtests, and the backtest error (MAPE)."""

    horizon_days: int
    daily: pd.DataFrame  # date, yhat, lo, hi
    total: float | None  # None: no complete day yet
    total_lo: float | None  # None: too little history to backtest
    total_hi: float | None
    slope_per_day: float
    backtest_origins: int
    backtest_mape_pct: float | None  # mean absolute % error of backtested block totals
    history_days: int
    method: str
    seasonal: dict[int, float] = field(default_factory=dict)  # weekday (0=Mon) -> multiplicative factor


#: fewer complete days than this: the forecast is flat at the mean daily cost (said so)
TREND_MIN_DAYS = 7
#: weekday factors need at least two of each weekday
SEASONAL_MIN_DAYS = 14
#: the robust trend is fitted on at most this many of the newest days
TREND_WINDOW_DAYS = 90
#: backtests: forecast blocks of this many days from each origin, over at most BACKTEST_MAX_ORIGINS origins
BACKTEST_BLOCK_DAYS = 7
BACKTEST_MAX_ORIGINS = 28
BACKTEST_MIN_HISTORY = 3
FORECAST_METHOD = (
    f"daily cost of complete days only; with >= {TREND_MIN_DAYS} complete days: Theil-Sen trend (median of "
    f"pairwise slopes, over the last {TREND_WINDOW_DAYS} days at most) on the series divided by weekday "
    f"factors (median of cost / trend per weekday, mean 1, with >= {SEASONAL_MIN_DAYS} days), predictions = "
    "trend x weekday factor, clipped at 0; with fewer: the mean daily cost, flat. Interval: the 10th and 90th "
    f"percentiles of the relative errors of {BACKTEST_BLOCK_DAYS}-day totals forecast by the same procedure from "
    f"rolling origins (each origin sees only earlier days; at most {BACKTEST_MAX_ORIGINS} origins), applied to "
    "the horizon total; MAPE = mean |actual - forecast| / actual of those block totals x 100. No interval "
    "without at least one backtest"
)


@functools.lru_cache(maxsize=256)
def _pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(n, k=1)


def theil_sen(y: np.ndarray) -> tuple[float, float]:
    """Robust line a + b t through ``y`` (t = 0..n-1): b = median of pairwise slopes, a = median(y - b t)."""
    n = len(y)
    if n < 2:
        return (float(y[0]) if n else 0.0), 0.0
    i, j = _pairs(n)
    b = float(np.median((y[j] - y[i]) / (j - i)))
    a = float(np.median(y - b * np.arange(n)))
    return a, b


def _fit_predict(
    values: np.ndarray, dows: np.ndarray, future_dows: np.ndarray
) -> tuple[np.ndarray, float, np.ndarray, str]:
    """Predictions for the days after ``values`` (weekdays ``future_dows``): yhat, slope, factors, method."""
    n = len(values)
    factors = np.ones(7)
    if n < TREND_MIN_DAYS:
        mean = float(values.mean()) if n else 0.0
        return np.full(len(future_dows), mean), 0.0, factors, "flat at the mean daily cost"
    off = max(n - TREND_WINDOW_DAYS, 0)
    y, d = values[off:], dows[off:]
    m = len(y)
    method = "Theil-Sen trend"
    if m >= SEASONAL_MIN_DAYS:
        a0, b0 = theil_sen(y)
        base = a0 + b0 * np.arange(m)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(base > 0, y / base, np.nan)
        # weekday medians in one call: the ratios laid out as weeks x 7 weekdays, NaN padded
        lead = int(d[0])
        grid = np.full(((lead + m + 6) // 7) * 7, np.nan)
        grid[lead : lead + m] = ratio
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a weekday without a finite ratio
            med = np.nanmedian(grid.reshape(-1, 7), axis=0)
        factors = np.where(np.isfinite(med), med, 1.0)
        mean_f = factors.mean()
        factors = factors / mean_f if mean_f > 0 else np.ones(7)
        method += " x weekday factors"
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(factors[d] > 0, y / factors[d], y)
    a, b = theil_sen(z)
    t = np.arange(m, m + len(future_dows), dtype="float64")
    yhat = np.maximum(a + b * t, 0.0) * factors[future_dows]
    return yhat, b, factors, method


def _backtest(values: np.ndarray, dows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Relative errors (actual / forecast - 1) of block totals and of single days, from rolling origins."""
    n = len(values)
    block = min(BACKTEST_BLOCK_DAYS, max(n - BACKTEST_MIN_HISTORY, 0))
    if block < 1:
        return np.zeros(0), np.zeros(0)
    origins = np.arange(BACKTEST_MIN_HISTORY, n - block + 1)[-BACKTEST_MAX_ORIGINS:]
    blocks, days = [], []
    for o in origins:
        pred, *_ = _fit_predict(values[:o], dows[:o], dows[o : o + block])
        actual = values[o : o + block]
        if pred.sum() > 0:
            blocks.append(actual.sum() / pred.sum() - 1.0)
        ok = pred > 0
        days.extend((actual[ok] / pred[ok] - 1.0).tolist())
    return np.asarray(blocks), np.asarray(days)


_FORECASTS: OrderedDict[tuple, Forecast] = OrderedDict()
_FORECASTS_LOCK = threading.Lock()


def forecast(daily_series: pd.Series, horizon_days: int) -> Forecast:
    """``_forecast`` memoised on the series' content (a live dashboard recomputes the same complete days
    on every tick until a day completes); each caller gets its own copy of the daily table."""
    s = daily_series.astype("float64")
    key = (
        s.to_numpy().tobytes(),
        tuple(pd.DatetimeIndex(s.index).asi8[[0, -1]]) if len(s) else (),
        len(s),
        horizon_days,
    )
    with _FORECASTS_LOCK:
        hit = _FORECASTS.get(key)
    if hit is None:
        hit = _forecast(s, horizon_days)
        with _FORECASTS_LOCK:
            _FORECASTS[key] = hit
            while len(_FORECASTS) > 32:
                _FORECASTS.popitem(last=False)
    return replace(hit, daily=hit.daily.copy())


def _forecast(daily_series: pd.Series, horizon_days: int) -> Forecast:
    """Forecast a daily series of complete days ``horizon_days`` ahead (FORECAST_METHOD).

    ``daily_series`` is indexed by UTC day (missing days count as 0). Never 0 from one complete day on
    unless every day cost 0; with no day at all ``total`` is None.
    """
    s = daily_series.astype("float64")
    if len(s):
        s = complete_daily(pd.Series(s.to_numpy(), index=pd.DatetimeIndex(s.index)))
    n = len(s)
    if not n:
        empty = pd.DataFrame({"date": pd.DatetimeIndex([], tz="UTC"), "yhat": [], "lo": [], "hi": []})
        return Forecast(
            horizon_days, empty, None, None, None, 0.0, 0, None, 0, "no complete day yet: no forecast"
        )
    values = s.to_numpy()
    idx = pd.DatetimeIndex(s.index)
    dows = idx.day_of_week.to_numpy()
    future = pd.date_range(idx[-1] + pd.Timedelta(days=1), periods=horizon_days, freq="D")
    yhat, slope, factors, how = _fit_predict(values, dows, future.day_of_week.to_numpy())
    blocks, days = _backtest(values, dows)
    total = float(yhat.sum())
    if len(blocks):
        q_lo, q_hi = np.quantile(blocks, [0.1, 0.9])
        total_lo, total_hi = max(total * (1 + q_lo), 0.0), max(total * (1 + q_hi), 0.0)
        d_lo, d_hi = np.quantile(days, [0.1, 0.9]) if len(days) else (q_lo, q_hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            ape = np.abs(blocks / (1 + blocks))  # |actual - pred| / actual, from actual / pred - 1
        ape = ape[np.isfinite(ape)]
        mape = float(ape.mean() * 100.0) if len(ape) else None
        lo, hi = np.maximum(yhat * (1 + d_lo), 0.0), np.maximum(yhat * (1 + d_hi), 0.0)
    else:
        total_lo = total_hi = mape = None
        lo = hi = np.full(len(yhat), np.nan)
    method = (
        f"{how} over {n} complete day(s)"
        + ("" if n >= TREND_MIN_DAYS else f" (fewer than {TREND_MIN_DAYS}: no trend)")
        + (
            f"; {INTERVAL_LEVEL:.0%} interval from {len(blocks)} rolling-origin backtest(s), MAPE {mape:.1f} %"
            if mape is not None
            else "; no interval: too little history to backtest"
        )
    )
    return Forecast(
        horizon_days=horizon_days,
        daily=pd.DataFrame({"date": future, "yhat": yhat, "lo": lo, "hi": hi}),
        total=total,
        total_lo=total_lo,
        total_hi=total_hi,
        slope_per_day=float(slope),
        backtest_origins=int(len(blocks)),
        backtest_mape_pct=mape,
        history_days=n,
        method=method,
        seasonal={i: float(factors[i]) for i in range(7)} if n >= SEASONAL_MIN_DAYS else {},
    )


# --- formatting -------------------------------------------------------------------------------


def fmt_usd(value: float | None, *, precise: bool = False) -> str:
    """Money for a finance reader, the one money format of analyzers, dashboard and reports: every digit
    ("$2,500,000.00", never "$2.5M"); amounts under $1 keep four decimals so a $0.004 call is not shown
    as $0.00 ("$0.0042"); None/NaN -> "n/a" (a dash would read as zero)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    v = float(value)
    sign = "-" if v < 0 else ""
    a = abs(v)
    if precise or (0 < a < 1):
        return f"{sign}${a:,.4f}"
    return f"{sign}${a:,.2f}"


def fmt_int(value: float | int | None) -> str:
    """ "12,345"; None/NaN -> "n/a"."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{round(float(value)):,}"


def fmt_pct(value: float | None, digits: int = 1, *, signed: bool = False) -> str:
    """A value already in percent: 12.3 -> "12.3 %" ("+12.3 %" when signed); None/NaN -> "n/a".

    The one percent format of analyzer texts, cards, tables and reports (a space before the sign, as SI
    and the chart axes write it)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{float(value):+,.{digits}f} %" if signed else f"{float(value):,.{digits}f} %"


def fmt_ms(value: float | None) -> str:
    """Latency: "850 ms" or "2.35 s"."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    v = float(value)
    return f"{v / 1000:,.2f} s" if v >= 1000 else f"{v:,.0f} ms"


def fmt_tokens(value: float | None) -> str:
    """Token counts: "950", "12.3K", "4.56M", "1.2B"."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    v = float(value)
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(v) >= div:
            return f"{v / div:,.{2 if div > 1e3 else 1}f}{suffix}"
    return f"{v:,.0f}"


def daily_totals(df: pd.DataFrame, value: str = "cost_usd") -> pd.Series:
    """Sum of ``value`` per UTC day (NaN skipped), every day from first to last present."""
    if df.empty:
        return pd.Series(dtype="float64")
    s = df[value].astype("float64").groupby(day_of(df["timestamp"]), sort=True).sum()
    s.index = pd.DatetimeIndex(s.index)
    return complete_daily(s)


def cost_forecast(daily_cost: pd.Series, as_of: pd.Timestamp | None, horizon_days: int) -> Forecast:
    """``forecast`` of daily cost over the complete days only (a day still in progress at ``as_of`` is
    left out, ``last_complete_day``). The understanding analyzer and the session's overview both use
    this, so their figures agree."""
    s = daily_cost
    if as_of is not None and not pd.isna(as_of) and len(s):
        s = s[pd.DatetimeIndex(s.index) <= last_complete_day(as_of)]
    return forecast(s, horizon_days)


def monthly(amount: float, days: float) -> float:
    """An amount observed over ``days`` scaled to a month of 30.4375 days (0 when days is 0)."""
    return float(amount) * DAYS_PER_MONTH / days if days else 0.0


MONTHLY_METHOD = f"monthly figures = amount over the period x {DAYS_PER_MONTH} / period_days"


# --- run-rate -------------------------------------------------------------------------------------

#: the monthly run-rate uses the last this many complete days
RUN_RATE_DAYS = 7
#: a UTC day counts as complete once as_of has reached its last hour (23:00 UTC) or passed it
COMPLETE_DAY_SLACK = pd.Timedelta(hours=1)
RUN_RATE_METHOD = (
    f"monthly run-rate = cost of the last {RUN_RATE_DAYS} complete UTC days x {DAYS_PER_MONTH} / {RUN_RATE_DAYS} "
    f"(a day is complete once as_of reaches 23:00 UTC of it); with fewer complete days, those that exist "
    "(said so); with none, the cost since the first call / elapsed days x 30.4375"
)


def last_complete_day(as_of: pd.Timestamp) -> pd.Timestamp:
    """The newest UTC day (midnight) that is complete at ``as_of`` (see COMPLETE_DAY_SLACK)."""
    t = pd.Timestamp(as_of)
    day = t.normalize()
    return day if t >= day + pd.Timedelta(days=1) - COMPLETE_DAY_SLACK else day - pd.Timedelta(days=1)


@dataclass(frozen=True)
class RunRate:
    monthly_usd: float
    days: float  # days the rate is measured over
    complete_days: int  # complete days used (0: the elapsed part of the first day)
    method: str


def run_rate(daily_cost: pd.Series, first: pd.Timestamp | None, as_of: pd.Timestamp | None) -> RunRate:
    """Monthly run-rate of a daily cost series (index: UTC midnights), RUN_RATE_METHOD."""
    if first is None or as_of is None or not len(daily_cost):
        return RunRate(0.0, 0.0, 0, "no calls")
    last = last_complete_day(as_of)
    idx = pd.DatetimeIndex(daily_cost.index)
    complete = daily_cost[(idx <= last) & (idx >= pd.Timestamp(first).normalize())]
    k = min(RUN_RATE_DAYS, len(complete))
    if k >= 1:
        amount = float(complete.iloc[-k:].sum())
        note = (
            f"last {k} complete days"
            if k == RUN_RATE_DAYS
            else f"only {k} complete day{'s' if k > 1 else ''} exist{'s' if k == 1 else ''}: their mean"
        )
        return RunRate(monthly(amount, k), float(k), k, f"{note} x {DAYS_PER_MONTH}")
    elapsed = max((pd.Timestamp(as_of) - pd.Timestamp(first)) / pd.Timedelta(days=1), 1.0 / 1440)
    amount = float(daily_cost.sum())
    return RunRate(
        monthly(amount, elapsed),
        elapsed,
        0,
        f"no complete day yet: cost over the {elapsed * 24:.1f} hours since the first call x "
        f"{DAYS_PER_MONTH} / elapsed days (indicative only)",
    )
