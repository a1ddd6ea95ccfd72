"""Helpers every analyzer shares: grouping with percentiles, time buckets, z-score anomalies,
forecasting, the analysis period, customer revenue/margin, and number formatting.

One definition of each calculation lives here so that the eight analyzers, the incremental session
and the exports agree to the cent. Everything is vectorized (no per-row Python loops).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from metering.schema import ERROR_STOP_REASONS
from metering.tiers import DAYS_PER_MONTH, Tier

#: percentile statistics group_stats understands, name -> quantile
PERCENTILES: dict[str, float] = {"p50": 0.50, "p95": 0.95, "p99": 0.99}
DEFAULT_STATS: tuple[str, ...] = ("count", "sum", "mean", "p50", "p95", "p99")
#: a customer is unprofitable when its cost to serve exceeds this share of its revenue
UNPROFITABLE_COST_SHARE = 0.80
#: two-sided normal quantile used for prediction intervals (80 % interval)
INTERVAL_Z = 1.2816
INTERVAL_LEVEL = 0.80

PERIOD_METHOD = (
    "period_days = number of UTC calendar days from the first to the last call, inclusive "
    "(a partial first/last day counts as a whole day)"
)
REVENUE_METHOD = (
    "revenue_usd = tier monthly price x period_days / "
    f"{DAYS_PER_MONTH} (days per month = 365.25/12); every customer seen in the data is billed for the "
    "whole period at the tier of its most recent call; a tier missing from the tier table gives no revenue (NaN)"
)
UNPROFITABLE_METHOD = (
    f"unprofitable = cost_usd > {UNPROFITABLE_COST_SHARE:.0%} of revenue_usd (priced calls only; "
    "unpriced calls are counted separately, not as $0)"
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


def unpriced_mask(df: pd.DataFrame) -> np.ndarray:
    """True for calls without a price (cost_usd NaN)."""
    return df["cost_usd"].isna().to_numpy()


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
    """Per-call arrays every breakdown sums: calls, priced cost (NaN -> 0), unpriced and failed flags,
    tokens. Compute once and pass to several ``cost_breakdown`` calls on the same frame."""
    cost = df["cost_usd"].to_numpy(dtype="float64", na_value=np.nan)
    return {
        "calls": np.ones(len(df), dtype="int64"),
        "cost_usd": np.nan_to_num(cost, nan=0.0),
        "unpriced_calls": np.isnan(cost).astype("int64"),
        "error_calls": np.asarray(error_mask(df), dtype="int64"),
        "input_tokens": df["input_tokens"].to_numpy(dtype="int64"),
        "output_tokens": df["output_tokens"].to_numpy(dtype="int64"),
    }


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


MISSING_KEY = "(none)"


def group_ids(codes: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Dense group id per row for a combination of non-negative integer keys, and each group's first row.

    Keys are folded pairwise (id x (max + 1) + next, re-densified by factorize): no overflow however
    many keys. Ids follow first appearance, so first rows come from a running maximum (no sort).
    """
    gid = np.zeros(len(codes[0]) if len(codes) else 0, dtype="int64")
    for k in codes:
        k = np.asarray(k, dtype="int64")
        gid = pd.factorize(gid * (int(k.max()) + 1 if len(k) else 1) + k)[0].astype("int64")
    if not len(gid):
        return gid, gid
    rm = np.maximum.accumulate(gid)
    first = np.flatnonzero(np.r_[True, rm[1:] > rm[:-1]])
    return gid, first


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
    return s.astype("object").fillna("(none)").astype("str")


def _key_values(s: pd.Series) -> np.ndarray:
    """Group-key values as a plain string array, missing ones as "(none)" (for small frames)."""
    return plain_keys(s).to_numpy()


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


def period_days(df: pd.DataFrame) -> int:
    """Days the data covers: UTC calendar days from the first to the last call, inclusive (0 if empty).

    See PERIOD_METHOD. The same rule is used for revenue pro-rating everywhere.
    """
    first, last = period_bounds(df)
    return days_between(first, last)


def days_between(first: pd.Timestamp | None, last: pd.Timestamp | None) -> int:
    """Inclusive count of UTC calendar days from ``first`` to ``last`` (0 when either is missing)."""
    if first is None or last is None or pd.isna(first) or pd.isna(last):
        return 0
    return int((pd.Timestamp(last).normalize() - pd.Timestamp(first).normalize()).days) + 1


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
    """customer_id -> subscription tier of the customer's most recent call (first such row on ties)."""
    if df.empty:
        return pd.Series(dtype="str", name="subscription_tier")
    cust, cust_labels = _key_codes(df["customer_id"])
    tier, tier_labels = _key_codes(df["subscription_tier"])
    t = ts_ms(df["timestamp"])
    newest = np.full(len(cust_labels), np.iinfo("int64").min)
    np.maximum.at(newest, cust, t)
    pick = np.flatnonzero(t == newest[cust])[::-1]  # reversed: the first row wins the assignment
    tier_of = np.zeros(len(cust_labels), dtype="int64")
    tier_of[cust[pick]] = tier[pick]
    present = np.flatnonzero(newest > np.iinfo("int64").min)
    return pd.Series(
        tier_labels[tier_of[present]].astype(str),
        index=pd.Index(cust_labels[present].astype(str), name="customer_id"),
        name="subscription_tier",
    ).sort_index()


def prorated_price(tiers: dict[str, Tier], tier_names: Iterable[str], days: float) -> np.ndarray:
    """Tier monthly price pro-rated to ``days`` (NaN for an unknown tier); see REVENUE_METHOD."""
    monthly = np.array(
        [tiers[t].price_usd_month if t in tiers else np.nan for t in tier_names], dtype="float64"
    )
    return monthly * float(days) / DAYS_PER_MONTH


def customer_economics_from_totals(totals: pd.DataFrame, tiers: dict[str, Tier], days: float) -> pd.DataFrame:
    """Revenue, margin and the unprofitable flag from per-customer totals.

    ``totals`` columns: customer_id, subscription_tier, calls, cost_usd, unpriced_calls. Used both by
    ``customer_economics`` (from rows) and by the incremental session (from its cube), so the two agree.
    """
    out = totals.copy()
    out["revenue_usd"] = prorated_price(tiers, out["subscription_tier"], days)
    out["margin_usd"] = out["revenue_usd"] - out["cost_usd"]
    with np.errstate(divide="ignore", invalid="ignore"):
        rev = out["revenue_usd"].to_numpy()
        out["margin_pct"] = np.where(rev > 0, out["margin_usd"].to_numpy() / rev * 100.0, np.nan)
        out["cost_to_revenue_pct"] = np.where(rev > 0, out["cost_usd"].to_numpy() / rev * 100.0, np.nan)
    out["unprofitable"] = (out["cost_usd"] > UNPROFITABLE_COST_SHARE * out["revenue_usd"]).to_numpy()
    return out


def customer_economics(df: pd.DataFrame, tiers: dict[str, Tier], days: float | None = None) -> pd.DataFrame:
    """Per customer: tier (most recent), calls, cost_usd, unpriced_calls, revenue_usd, margin_usd,
    margin_pct, cost_to_revenue_pct, unprofitable. The single definition of customer profitability
    (REVENUE_METHOD, UNPROFITABLE_METHOD); ``days`` defaults to ``period_days(df)``.
    """
    cols = ["customer_id", "subscription_tier", "calls", "cost_usd", "unpriced_calls"]
    if df.empty:
        return customer_economics_from_totals(
            pd.DataFrame({c: pd.Series(dtype="float64" if c == "cost_usd" else "int64") for c in cols}),
            tiers,
            0,
        )
    days = period_days(df) if days is None else days
    per = cost_breakdown(df, "customer_id", tokens=False)[
        ["customer_id", "calls", "cost_usd", "unpriced_calls"]
    ]
    tiers_of = customer_tiers(df)
    per["subscription_tier"] = tiers_of.reindex(per["customer_id"]).to_numpy()
    per = per[cols].sort_values("customer_id", kind="stable").reset_index(drop=True)
    return customer_economics_from_totals(per, tiers, days)


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
    """A daily forecast: per-day predictions with an interval, the horizon total, and backtest error."""

    horizon_days: int
    daily: pd.DataFrame  # date, yhat, lo, hi
    total: float
    total_lo: float
    total_hi: float
    slope_per_day: float
    backtest_days: int
    backtest_wape_pct: float | None  # weighted absolute percentage error on the held-out days
    history_days: int
    method: str
    seasonal: dict[int, float] = field(default_factory=dict)  # weekday (0=Mon) -> additive effect


def _fit(values: np.ndarray, dows: np.ndarray, seasonal: bool) -> tuple[float, float, np.ndarray, float]:
    """Joint least squares of a + b t (+ weekday effects in sum-to-zero coding); returns a, b, effects, sigma."""
    n = len(values)
    if n < 2:
        return (float(values[0]) if n else 0.0), 0.0, np.zeros(7), 0.0
    t = np.arange(n, dtype="float64")
    cols = [np.ones(n), t]
    if seasonal:
        cols += [(dows == k).astype("float64") - (dows == 6).astype("float64") for k in range(6)]
    x = np.column_stack(cols)
    coef, *_ = np.linalg.lstsq(x, values, rcond=None)
    eff = np.zeros(7)
    if seasonal:
        eff[:6] = coef[2:]
        eff[6] = -coef[2:].sum()
    resid = values - x @ coef
    dof = max(n - x.shape[1], 1)
    sigma = float(np.sqrt((resid**2).sum() / dof))
    return float(coef[0]), float(coef[1]), eff, sigma


def forecast(daily_series: pd.Series, horizon_days: int, *, backtest_days: int | None = None) -> Forecast:
    """Forecast a daily series ``horizon_days`` ahead: linear trend + weekly seasonality.

    ``daily_series`` is indexed by day (missing days count as 0). Trend by least squares on the day
    number; weekday effects (additive, centred) when at least 14 days of history exist; with fewer than
    3 days the forecast is flat at the mean. The 80 % prediction interval per day is yhat ± 1.2816 x
    sigma (sigma = residual standard error); for the horizon total ± 1.2816 x sigma x sqrt(horizon).
    Trend and weekday effects are fitted jointly (one least-squares solve). Predictions are clipped at 0. Backtest: refit without the last ``backtest_days`` days (default
    min(7, n // 4)), predict them, report WAPE = sum|actual - predicted| / sum actual.
    """
    s = daily_series.astype("float64")
    if len(s):
        idx = pd.DatetimeIndex(s.index)
        s = complete_daily(pd.Series(s.to_numpy(), index=idx))
    n = len(s)
    values = s.to_numpy()
    dows = pd.DatetimeIndex(s.index).day_of_week.to_numpy() if n else np.array([], dtype=int)
    seasonal = n >= 14
    if n:
        future = pd.date_range(
            pd.DatetimeIndex(s.index)[-1] + pd.Timedelta(days=1), periods=horizon_days, freq="D"
        )
    else:  # no history: nothing to forecast
        future = pd.DatetimeIndex([], tz="UTC")
        horizon_days = 0
    if n < 3:
        mean = float(values.mean()) if n else 0.0
        sigma = float(values.std()) if n else 0.0
        yhat = np.full(horizon_days, mean)
        a, b, eff = mean, 0.0, np.zeros(7)
        method = "flat: mean of fewer than 3 days of history"
    else:
        a, b, eff, sigma = _fit(values, dows, seasonal)
        t = np.arange(n, n + horizon_days, dtype="float64")
        yhat = a + b * t + eff[future.day_of_week.to_numpy()]
        method = "least-squares linear trend" + (" + additive weekday effects" if seasonal else "")
    yhat = np.maximum(yhat, 0.0)
    half = INTERVAL_Z * sigma
    daily = pd.DataFrame(
        {"date": future, "yhat": yhat, "lo": np.maximum(yhat - half, 0.0), "hi": yhat + half}
    )
    total = float(yhat.sum())
    half_total = INTERVAL_Z * sigma * math.sqrt(horizon_days)
    bt = min(7, n // 4) if backtest_days is None else backtest_days
    wape = None
    if bt >= 1 and n - bt >= 3:
        train, test = values[: n - bt], values[n - bt :]
        ta, tb, teff, _ = _fit(train, dows[: n - bt], (n - bt) >= 14)
        tt = np.arange(n - bt, n, dtype="float64")
        pred = np.maximum(ta + tb * tt + teff[dows[n - bt :]], 0.0)
        denom = float(np.abs(test).sum())
        wape = float(np.abs(test - pred).sum() / denom * 100.0) if denom > 0 else None
    else:
        bt = 0
    return Forecast(
        horizon_days=horizon_days,
        daily=daily,
        total=total,
        total_lo=max(total - half_total, 0.0),
        total_hi=total + half_total,
        slope_per_day=float(b),
        backtest_days=bt,
        backtest_wape_pct=wape,
        history_days=n,
        method=method + f"; {INTERVAL_LEVEL:.0%} interval = yhat ± {INTERVAL_Z} sigma (total: × sqrt(days))",
        seasonal={i: float(eff[i]) for i in range(7)} if seasonal else {},
    )


# --- formatting -------------------------------------------------------------------------------


def fmt_usd(value: float | None, *, precise: bool = False) -> str:
    """ "$1,234.56"; amounts under $1 keep four significant decimals ("$0.0042"); None/NaN -> "n/a"."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    v = float(value)
    sign = "-" if v < 0 else ""
    a = abs(v)
    if precise or (0 < a < 1):
        return f"{sign}${a:,.4f}"
    if a >= 1e6:
        return f"{sign}${a / 1e6:,.2f}M"
    return f"{sign}${a:,.2f}"


def fmt_int(value: float | int | None) -> str:
    """ "12,345"; None/NaN -> "n/a"."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{round(float(value)):,}"


def fmt_num(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{float(value):,.{digits}f}"


def fmt_pct(value: float | None, digits: int = 1, *, signed: bool = False) -> str:
    """A value already in percent: 12.3 -> "12.3%" ("+12.3%" when signed); None/NaN -> "n/a"."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{float(value):+,.{digits}f}%" if signed else f"{float(value):,.{digits}f}%"


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


#: a final day whose last call is earlier than this hour (UTC) is treated as partial by cost_forecast
PARTIAL_DAY_HOUR = 23


def daily_totals(df: pd.DataFrame, value: str = "cost_usd") -> pd.Series:
    """Sum of ``value`` per UTC day (NaN skipped), every day from first to last present."""
    if df.empty:
        return pd.Series(dtype="float64")
    s = df[value].astype("float64").groupby(day_of(df["timestamp"]), sort=True).sum()
    s.index = pd.DatetimeIndex(s.index)
    return complete_daily(s)


def cost_forecast(daily_cost: pd.Series, last_timestamp: pd.Timestamp | None, horizon_days: int) -> Forecast:
    """``forecast`` of daily cost, leaving out a partial final day (last call before 23:00 UTC) when at
    least 4 days remain, so that a day still in progress does not drag the trend down.
    The understanding analyzer and the session's overview both use this, so their figures agree.
    """
    s = daily_cost
    note = "all days"
    if (
        len(s) >= 5
        and last_timestamp is not None
        and not pd.isna(last_timestamp)
        and pd.Timestamp(last_timestamp).hour < PARTIAL_DAY_HOUR
    ):
        s = s.iloc[:-1]
        note = "final day left out (partial: last call before 23:00 UTC)"
    fc = forecast(s, horizon_days)
    fc.method = f"{fc.method}; history: {note}"
    return fc


def monthly(amount: float, days: float) -> float:
    """An amount observed over ``days`` scaled to a month of 30.4375 days (0 when days is 0)."""
    return float(amount) * DAYS_PER_MONTH / days if days else 0.0


MONTHLY_METHOD = f"monthly figures = amount over the period x {DAYS_PER_MONTH} / period_days"
