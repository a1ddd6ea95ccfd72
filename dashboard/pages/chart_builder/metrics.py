"""Dimensions, metrics and the vectorized aggregation behind every saved chart.

A chart groups calls by one or more dimensions (and a time bucket for lines) and computes one metric per
group. Every group's metric is computed from the raw rows of that group, never from its children, so a
parent's p95 latency or error rate is exact, and additive metrics (cost, calls, tokens, margin) of the
children sum to the parent.

Margin needs revenue, which is a per-customer fact: subscription revenue over the customer's active days
(``metering.subscriptions``), taken from ``analyzers.common.customer_economics`` (the profitability
analyzer's definition; ``$REVENIUM_FLOW_SUBSCRIPTIONS`` overrides the inference as it does for the
analyzers). To cut margin by any dimension, each customer's
revenue is spread over that customer's calls in equal shares (call-share attribution): a customer's calls
on an expensive model then show a lower margin than their calls on a cheap one, and summing over all
groups gives back revenue minus cost exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from analyzers.base import AnalysisContext
from analyzers.common import MISSING_KEY, REVENUE_METHOD, customer_economics, fmt_pct, fmt_usd
from metering.schema import ERROR_STOP_REASONS
from metering.tiers import Tier

#: dimension key -> call-record column
DIMENSIONS: dict[str, str] = {
    "provider": "provider",
    "model": "model",
    "organization": "organization_id",
    "product": "product_id",
    "feature": "feature_id",
    "customer": "customer_id",
    "tier": "subscription_tier",
    "environment": "environment",
    "region": "region",
    "task_type": "task_type",
    "scenario": "scenario",
    "api_key": "api_key_id",
    "operation_type": "operation_type",
    "transaction_name": "transaction_name",
    "streamed": "is_streamed",
}

DIMENSION_LABELS: dict[str, str] = {
    "provider": "Provider",
    "model": "Model",
    "organization": "Organization",
    "product": "Product",
    "feature": "Feature",
    "customer": "Customer",
    "tier": "Tier",
    "environment": "Environment",
    "region": "Region",
    "task_type": "Task type",
    "scenario": "Scenario",
    "api_key": "API key (id)",
    "operation_type": "Operation",
    "transaction_name": "Agent / workflow",
    "streamed": "Streamed",
}

#: metric key -> (label, unit)
METRICS: dict[str, tuple[str, str]] = {
    "cost": ("Cost", "USD"),
    "calls": ("Calls", "calls"),
    "tokens": ("Tokens", "tokens"),
    "cost_per_call": ("Cost per call", "USD/call"),
    "cost_per_1k_tokens": ("Cost per 1K tokens", "USD/1K tokens"),
    "p95_latency": ("p95 latency", "ms"),
    "error_rate": ("Error rate", "%"),
    "margin": ("Margin", "USD"),
}

#: metrics whose group values add up to the parent's value (usable as treemap sizes, stackable)
ADDITIVE_METRICS = ("cost", "calls", "tokens", "margin")

METRIC_FORMULAS: dict[str, str] = {
    "cost": "sum of cost_usd over priced calls (unpriced calls are counted, not added as $0)",
    "calls": "number of calls",
    "tokens": "sum of input_tokens + output_tokens",
    "cost_per_call": "cost / number of priced calls",
    "cost_per_1k_tokens": "cost / tokens of priced calls x 1000",
    "p95_latency": "95th percentile of latency_ms (linear interpolation)",
    "error_rate": f"calls with stop_reason in {', '.join(ERROR_STOP_REASONS)} / calls x 100",
    "margin": "attributed revenue - cost of priced calls; each customer's revenue is spread over the "
    f"customer's calls in equal shares; {REVENUE_METHOD}",
}

OTHER_LABEL = "(other)"

_SUM_COLUMNS = ["_cost", "_priced", "_tokens", "_priced_tokens", "_error", "_revenue"]


def dimension_series(df: pd.DataFrame, dim: str) -> pd.Series:
    """The values of a dimension as a string category, with empty/missing values shown as ``(none)``.

    Works on the category codes, so it costs the same for 100 or 1,000,000 rows of a category column.
    """
    col = DIMENSIONS[dim]
    if col not in df.columns:
        return pd.Series(
            pd.Categorical.from_codes(np.zeros(len(df), dtype="int8"), [MISSING_KEY]), index=df.index
        )
    s = df[col]
    if not isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype("str").astype("category")
    labels = np.array([str(c) for c in s.cat.categories], dtype=object)
    labels[labels == ""] = MISSING_KEY
    names, inverse = np.unique(np.append(labels, MISSING_KEY), return_inverse=True)
    codes = s.cat.codes.to_numpy()
    remap = inverse[:-1]
    if not len(remap):  # no value at all (a column entirely missing): every row is (none)
        new_codes = np.full(len(codes), inverse[-1], dtype=codes.dtype)
    else:
        new_codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], inverse[-1]) if len(codes) else codes
    return pd.Series(pd.Categorical.from_codes(new_codes, list(names)), index=df.index)


def dimension_values(df: pd.DataFrame, dim: str) -> list[str]:
    """Sorted distinct values of a dimension present in ``df`` (what a filter can pick from)."""
    if df.empty or DIMENSIONS[dim] not in df.columns:
        return []
    s = dimension_series(df, dim)
    present = np.unique(s.cat.codes.to_numpy())
    return sorted(str(v) for v in s.cat.categories[present[present >= 0]])


def category_lookup(s: pd.Series, values: pd.Series, default: float = np.nan) -> np.ndarray:
    """Per row, ``values[str(category of the row)]``: one lookup per category instead of per row."""
    if not isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype("str").astype("category")
    per_category = (
        values.reindex([str(c) for c in s.cat.categories]).fillna(default).to_numpy(dtype="float64")
    )
    codes = s.cat.codes.to_numpy()
    out = np.full(len(s), default, dtype="float64")
    ok = codes >= 0
    out[ok] = per_category[codes[ok]]
    return out


def apply_filters(
    df: pd.DataFrame,
    *,
    date_from: str | None = None,
    date_to: str | None = None,
    last_days: int | None = None,
    filters: Mapping[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """Rows within the date range (inclusive UTC days; ``last_days`` counts back from the newest call)
    whose dimension values are among the chosen ones."""
    mask = np.ones(len(df), dtype=bool)
    if len(df) and (date_from or date_to or last_days):
        ts = df["timestamp"]
        if date_from:
            mask &= (ts >= pd.Timestamp(date_from, tz="UTC")).to_numpy()
        if date_to:
            mask &= (ts < pd.Timestamp(date_to, tz="UTC") + pd.Timedelta(days=1)).to_numpy()
        if last_days:
            mask &= (ts > ts.max() - pd.Timedelta(days=last_days)).to_numpy()
    for dim, values in (filters or {}).items():
        if values:
            mask &= dimension_series(df, dim).isin(list(values)).to_numpy()
    return df if mask.all() else df.loc[mask]


def prepare(
    df: pd.DataFrame,
    dims: Sequence[str],
    tiers: Mapping[str, Tier],
    *,
    revenue: bool = True,
    context: AnalysisContext | None = None,
) -> pd.DataFrame:
    """Row-level frame with the chosen dimensions (string categories) plus the per-call quantities metrics sum.

    ``_revenue`` is each call's share of its customer's revenue for the period the frame covers (zeros
    when ``revenue`` is False: only the margin metric reads it).
    """
    out = pd.DataFrame(index=df.index)
    for dim in dims:
        out[dim] = dimension_series(df, dim)
    cost = df["cost_usd"].astype("float64")
    priced = cost.notna()
    tokens = df["input_tokens"].astype("int64") + df["output_tokens"].astype("int64")
    out["_cost"] = cost.fillna(0.0)
    out["_priced"] = priced.astype("int64")
    out["_tokens"] = tokens
    out["_priced_tokens"] = tokens.where(priced, 0)
    stop = df["stop_reason"] if "stop_reason" in df.columns else pd.Series("END", index=df.index)
    out["_error"] = stop.isin(ERROR_STOP_REASONS).to_numpy().astype("int64")
    out["_latency"] = df["latency_ms"].astype("float64")
    out["_revenue"] = call_revenue(df, tiers, context) if revenue else np.zeros(len(df))
    if "timestamp" in df.columns:
        out["_ts"] = df["timestamp"]
    return out


def call_revenue(
    df: pd.DataFrame, tiers: Mapping[str, Tier], context: AnalysisContext | None = None
) -> np.ndarray:
    """Each call's equal share of its customer's revenue for the period (0 for an unknown tier).

    Customer revenue comes from ``analyzers.common.customer_economics``, the profitability analyzer's own
    definition, so margin by customer in a chart equals the analyzer's margin to the cent.
    """
    if df.empty:
        return np.zeros(0)
    if (
        context is None
    ):  # no analysis context handed over: the tiers given and the environment's subscriptions
        from metering.subscriptions import subscriptions_from_env

        prices = {n: t.price_usd_month for n, t in tiers.items()}
        # the catalog plays no part in revenue: an empty one saves reading the price file per chart
        context = AnalysisContext(
            catalog=None, tiers=dict(tiers), subscriptions=subscriptions_from_env(prices)
        )  # type: ignore[arg-type]
    econ = customer_economics(df, context)
    share = (econ["revenue_usd"].astype("float64").fillna(0.0) / econ["calls"]).set_axis(
        econ["customer_id"].astype("str")
    )
    return category_lookup(df["customer_id"], share, default=0.0)


def keep_top(series: pd.Series, weight: pd.Series, limit: int, other: str = OTHER_LABEL) -> pd.Series:
    """``series`` (a category) with only its ``limit`` heaviest values kept (ties by name); the rest -> ``other``."""
    totals = weight.groupby(series, observed=True, sort=False).sum()
    if len(totals) <= limit:
        return series
    ranked = pd.DataFrame({"value": totals.index.astype("str"), "weight": totals.to_numpy()})
    keep = ranked.sort_values(["weight", "value"], ascending=[False, True])["value"].head(limit).tolist()
    cats = [str(c) for c in series.cat.categories]
    names = sorted(keep) + [other]
    position = {name: i for i, name in enumerate(names)}
    remap = np.array([position.get(c, len(names) - 1) for c in cats], dtype="int64")
    codes = series.cat.codes.to_numpy()
    new_codes = remap[np.maximum(codes, 0)] if len(codes) else codes
    return pd.Series(pd.Categorical.from_codes(new_codes, names), index=series.index)


def rank_weight(frame: pd.DataFrame) -> pd.Series:
    """What "largest" means when keeping the top values: cost, or calls when nothing is priced."""
    return frame["_cost"] if frame["_cost"].sum() > 0 else pd.Series(1, index=frame.index)


def lump_small(frame: pd.DataFrame, dims: Sequence[str], top_n: int | None) -> pd.DataFrame:
    """Keep each dimension's ``top_n`` values by cost (by calls when nothing is priced); the rest become
    ``(other)``. Applied on raw rows so every metric of ``(other)`` stays exact."""
    if not top_n or frame.empty:
        return frame
    weight = rank_weight(frame)
    changed = {dim: keep_top(frame[dim], weight, top_n) for dim in dims}
    changed = {d: s for d, s in changed.items() if s is not frame[d]}
    return frame.assign(**changed) if changed else frame


def aggregate(frame: pd.DataFrame, keys: Sequence[str], metric: str) -> pd.DataFrame:
    """One row per group of ``keys`` with ``value`` (the metric) plus ``calls``, ``cost``, ``unpriced``."""
    keys = list(keys)
    if keys:
        grouped = frame.groupby(keys, observed=True, sort=False)
        sums = grouped[_SUM_COLUMNS].sum()
        sums["calls"] = grouped.size()
        if metric == "p95_latency":
            sums["_p95"] = grouped["_latency"].quantile(0.95)
        sums = sums.reset_index()
    else:
        sums = frame[_SUM_COLUMNS].sum().to_frame().T
        sums["calls"] = len(frame)
        if metric == "p95_latency":
            sums["_p95"] = frame["_latency"].quantile(0.95) if len(frame) else np.nan
    calls = sums["calls"].astype("float64")
    priced = sums["_priced"].astype("float64")
    cost = sums["_cost"].where(priced > 0)  # a group with no priced call has unknown cost, not $0
    values = {
        "cost": lambda: cost,
        "calls": lambda: calls,
        "tokens": lambda: sums["_tokens"].astype("float64"),
        "cost_per_call": lambda: cost / priced.where(priced > 0),
        "cost_per_1k_tokens": lambda: (
            cost / sums["_priced_tokens"].where(sums["_priced_tokens"] > 0) * 1000.0
        ),
        "p95_latency": lambda: sums["_p95"],
        "error_rate": lambda: sums["_error"] / calls.where(calls > 0) * 100.0,
        "margin": lambda: sums["_revenue"] - sums["_cost"],
    }
    out = sums[keys].copy() if keys else pd.DataFrame(index=sums.index)
    out["value"] = values[metric]().astype("float64").to_numpy()
    out["calls"] = sums["calls"].astype("int64").to_numpy()
    out["cost"] = cost.astype("float64").to_numpy()
    out["unpriced"] = (calls - priced).astype("int64").to_numpy()
    return out


def format_value(metric: str, value: float) -> str:
    """Human-readable metric value with its unit; ``n/a`` for an unknown (NaN) value."""
    if value is None or not np.isfinite(value):
        return "n/a (unpriced)" if metric in ("cost", "cost_per_call", "cost_per_1k_tokens") else "n/a"
    if metric in ("cost", "margin"):
        return fmt_usd(value)
    if metric in ("cost_per_call", "cost_per_1k_tokens"):  # unit costs: a fifth decimal tells models apart
        return f"${value:,.5f}"
    if metric in ("calls", "tokens"):
        return f"{value:,.0f}"
    if metric == "p95_latency":
        return f"{value:,.0f} ms"
    return fmt_pct(value, 2)


def format_values(metric: str, values: pd.Series | np.ndarray) -> list[str]:
    return [format_value(metric, float(v)) for v in np.asarray(values, dtype="float64")]
