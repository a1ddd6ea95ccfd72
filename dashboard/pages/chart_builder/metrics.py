"""Dimensions, metrics and the vectorized aggregation behind every saved chart.

A chart groups calls by one or more dimensions (and a time bucket for lines) and computes one metric per
group. It reads the live session's usage cube (``analyzers.session.AnalysisSession.chart_cube``: UTC hour
x every chart dimension, with a latency sketch per cell), never call rows: a chart's frame has one row
per cube cell carrying the cell's sums (and, for p95 latency, one row per cell and latency-sketch bucket
carrying that bucket's calls). Every group's metric is computed from the cells (and buckets) of that
group, never from its children, so a parent's p95 latency or error rate is its own, and additive metrics
(cost, calls, tokens, margin) of the children sum to the parent. Sums are exact; p95 latency is read
from the merged sketch of the group's cells, within ``analyzers.cube.SKETCH_ACCURACY`` relative error of
the exact percentile (``analyzers.cube.SKETCH_METHOD``).

Margin needs revenue, which is a per-customer fact: subscription revenue over the customer's active days
(``metering.subscriptions``), taken from ``analyzers.usage.economics`` on the chart's cube (the
profitability analyzer's definition; ``$REVENIUM_FLOW_SUBSCRIPTIONS`` overrides the inference as it does
for the analyzers). To cut margin by any dimension, each customer's revenue is spread over that
customer's calls in equal shares (call-share attribution, from each cell's calls): a customer's calls on
an expensive model then show a lower margin than their calls on a cheap one, and summing over all groups
gives back revenue minus cost exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from analyzers import cube as cubes
from analyzers import cube_filter, usage
from analyzers.base import AnalysisContext
from analyzers.common import MISSING_KEY, REVENUE_METHOD, fmt_pct, fmt_usd
from analyzers.session import ANALYSIS_DIMS, ANALYSIS_SIDES
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
    "p95_latency": "95th percentile of latency_ms (linear interpolation) read from the group's latency "
    f"sketch: within {cubes.SKETCH_ACCURACY:.0%} relative error of the exact percentile "
    "(bucket i = ceil(log(latency) / log((1 + a) / (1 - a))), read as its midpoint)",
    "error_rate": f"calls with stop_reason in {', '.join(ERROR_STOP_REASONS)} / calls x 100",
    "margin": "attributed revenue - cost of priced calls; each customer's revenue is spread over the "
    f"customer's calls in equal shares; {REVENUE_METHOD}",
}

OTHER_LABEL = "(other)"

_SUM_COLUMNS = ["_calls", "_cost", "_priced", "_tokens", "_priced_tokens", "_error", "_revenue"]
#: the side table a chart reads: latency per cell (``ANALYSIS_SIDES``), for p95 latency
CHART_SIDES: dict[str, cubes.Side] = {"latency": ANALYSIS_SIDES["latency"]}
LAST_DAYS_METHOD = (
    "last N days = the N x 24 UTC hours up to and including the hour of the newest call (whole hours: "
    "the chart reads an hourly cube)"
)


def chart_cube(data: pd.DataFrame | cubes.Cube) -> cubes.Cube:
    """A chart's cube: ``data`` itself when it is one (the session's ``chart_cube``), else the cube of
    the call rows ``data`` (hour grain, ``ANALYSIS_DIMS``, a latency sketch per cell)."""
    if isinstance(data, cubes.Cube):
        return data
    return cubes.build(data, "hour", ANALYSIS_DIMS, sides=CHART_SIDES)


def _dim_codes(cube: cubes.Cube, dim: str) -> tuple[np.ndarray, list[str]]:
    """(code table, sorted labels) of a chart dimension: the cube's codes mapped onto labels where an
    empty value reads ``(none)``, like a missing one."""
    col = DIMENSIONS[dim]
    if col not in cube.labels or not cube.labels[col]:
        return np.zeros(max(len(cube.labels.get(col, ())), 1), dtype="int64"), [MISSING_KEY]
    labels = np.array(cube.labels[col], dtype=object)
    labels[labels == ""] = MISSING_KEY
    names, inverse = np.unique(labels.astype(str), return_inverse=True)
    return inverse.astype("int64"), [str(n) for n in names]


def dimension_values(data: pd.DataFrame | cubes.Cube, dim: str) -> list[str]:
    """Sorted distinct values of a dimension present in ``data`` (what a filter can pick from)."""
    cube = chart_cube(data)
    if not len(cube) or DIMENSIONS[dim] not in cube.labels:
        return []
    table, names = _dim_codes(cube, dim)
    present = np.unique(table[np.unique(cube.cols[DIMENSIONS[dim]])])
    return sorted(names[i] for i in present)


def select_dates(
    cube: cubes.Cube,
    *,
    date_from: str | None = None,
    date_to: str | None = None,
    last_days: int | None = None,
) -> cubes.Cube:
    """The cube's hours within the date range (inclusive UTC days), or the last ``last_days`` days
    (``LAST_DAYS_METHOD``)."""
    if not len(cube) or not (date_from or date_to or last_days):
        return cube
    unit = cubes.GRAINS[cube.grain]

    def day(text: str | None) -> int | None:
        return None if not text else int(pd.Timestamp(text, tz="UTC").value // 1_000_000 // cubes.DAY_MS)

    lo, hi = cube_filter.day_keys(cube.grain, day(date_from), day(date_to))
    if last_days:
        newest = int(cube.cols["last_ms"].max()) // unit
        lo = newest - last_days * cubes.DAY_MS // unit + 1
    return cube_filter.select(cube, (lo, hi))


def prepare(
    cube: cubes.Cube,
    dims: Sequence[str],
    tiers: Mapping[str, Tier],
    *,
    revenue: bool = True,
    context: AnalysisContext | None = None,
    latency: bool = False,
) -> pd.DataFrame:
    """One row per cube cell with the chosen dimensions (string categories), the cell's UTC hour
    (``_ts``) and the sums the metrics add: ``_calls``, ``_cost`` (priced), ``_priced`` calls, ``_tokens``,
    ``_priced_tokens``, ``_error`` calls and ``_revenue``, the cell's share of its customers' revenue
    for the period the cube covers (zeros when ``revenue`` is False: only margin reads it). With
    ``latency``, one more row per (cell, latency bucket) with that bucket's calls in ``_lat_count`` and
    its bucket in ``_lat_bucket`` (and no sums), which the p95 metric reads."""
    c = cube.cols
    n = len(cube)
    calls = c["calls"].astype("int64")
    priced = calls - c["unpriced_calls"]
    blocks = {
        "_calls": calls,
        "_cost": c["cost_usd"].astype("float64"),
        "_priced": priced,
        "_tokens": c["input_tokens"] + c["output_tokens"],
        "_priced_tokens": c["priced_tokens"],
        "_error": c["error_calls"],
        "_revenue": call_revenue(cube, tiers, context) if revenue and n else np.zeros(n),
        "_lat_count": np.zeros(n, dtype="int64"),
        "_lat_bucket": np.zeros(n, dtype="int32"),
    }
    keys = {k: c[k] for k in (cube.grain, *(DIMENSIONS[d] for d in dims))}
    if latency and n:
        lat = cube.sides["latency"]
        m = len(lat["count"])
        for k in keys:
            keys[k] = np.concatenate([keys[k], lat[k]])
        for k, v in blocks.items():
            blocks[k] = np.concatenate([v, np.zeros(m, dtype=v.dtype)])
        blocks["_lat_count"][n:] = lat["count"]
        blocks["_lat_bucket"][n:] = lat["bucket"]
    out = pd.DataFrame(index=pd.RangeIndex(len(keys[cube.grain])))
    for dim in dims:
        table, names = _dim_codes(cube, dim)
        out[dim] = pd.Categorical.from_codes(table[keys[DIMENSIONS[dim]]], names)
    for k, v in blocks.items():
        out[k] = v
    out["_ts"] = pd.to_datetime(keys[cube.grain] * cubes.GRAINS[cube.grain], unit="ms", utc=True)
    return out


def call_revenue(
    cube: cubes.Cube, tiers: Mapping[str, Tier], context: AnalysisContext | None = None
) -> np.ndarray:
    """Each cell's share of its customer's revenue for the period: the customer's revenue / calls x the
    cell's calls (0 for an unknown tier).

    Customer revenue comes from ``analyzers.usage.economics``, the profitability analyzer's own
    definition, so margin by customer in a chart equals the analyzer's margin to the cent.
    """
    if not len(cube):
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
    econ = usage.economics(usage.from_cube(cube), context)
    share = (econ["revenue_usd"].astype("float64").fillna(0.0) / econ["calls"]).set_axis(
        econ["customer_id"].astype("str")
    )
    per_label = share.reindex(list(cube.labels["customer_id"])).fillna(0.0).to_numpy(dtype="float64")
    return per_label[cube.cols["customer_id"]] * cube.cols["calls"]


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
    return frame["_cost"] if frame["_cost"].sum() > 0 else frame["_calls"]


def lump_small(frame: pd.DataFrame, dims: Sequence[str], top_n: int | None) -> pd.DataFrame:
    """Keep each dimension's ``top_n`` values by cost (by calls when nothing is priced); the rest become
    ``(other)``. Applied on the cells so every metric of ``(other)`` is computed from its own cells."""
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
        if metric == "p95_latency":
            sums["_p95"] = _p95(frame, grouped.ngroup().to_numpy(), len(sums))
        sums = sums.reset_index()
    else:
        sums = frame[_SUM_COLUMNS].sum().to_frame().T
        if metric == "p95_latency":
            sums["_p95"] = _p95(frame, np.zeros(len(frame), dtype="int64"), 1)
    sums["calls"] = sums["_calls"]
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


def _p95(frame: pd.DataFrame, gid: np.ndarray, groups: int) -> np.ndarray:
    """p95 latency of each group (``gid`` per frame row) from its latency-bucket rows (``prepare`` with
    ``latency``): ``analyzers.cube.side_quantiles``; NaN for a group without calls."""
    out = np.full(groups, np.nan)
    if "_lat_count" not in frame.columns:
        return out
    lat = frame["_lat_count"].to_numpy() > 0
    if not lat.any():
        return out
    rows = {
        "g": gid[lat],
        "bucket": frame["_lat_bucket"].to_numpy()[lat],
        "count": frame["_lat_count"].to_numpy()[lat],
    }
    q = cubes.side_quantiles(cubes.empty(dims=()), rows, ["g"], (0.95,))
    out[q["g"].to_numpy(dtype="int64")] = q["q0.95"].to_numpy()
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
