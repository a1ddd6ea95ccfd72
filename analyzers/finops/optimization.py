"""Rate optimization: what the same traffic would cost on cheaper models of the same capability, with
committed-use programmes, volume discounts and more prompt caching.

Model capability comes from the catalog: each model has a ``capability_class`` (frontier > balanced >
small) and a context window (``max_input_tokens``). A switch goes only to a model of the same class
or, for task types marked simple and labelled as a quality trade-off, one class down; only calls whose
input fits the target's context window count; one switch per source model (the one saving most), so
savings never add up alternatives and never exceed the spend they apply to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analyzers import cube as cubes
from analyzers.base import MISSING_KEY, AnalysisContext, AnalysisResult, Metric, Recommendation
from analyzers.common import as_of_ts, complete_daily, daily_totals, days_between, period_days
from analyzers.revenue.profitability import monthly_factor, str_keys
from metering.prices import CAPABILITY_CLASSES, Catalog

NAME = "optimization"
#: the cube views it reads: the side tables' (input tokens, latency) with the cells per task type x
#: provider x model (and stop reason) over the whole period, and the daily cost per provider
DAILY_PROVIDER = cubes.View(("provider",))
VIEWS: tuple[cubes.View, ...] = (cubes.SIDE_VIEW, DAILY_PROVIDER)
TITLE = "Rate Optimization"
DESCRIPTION = "Model switches within a capability class, commitments per provider, volume discounts, caching."

#: task types simple enough to accept a model one capability class down (labelled a quality trade-off);
#: override with ``ctx.params["simple_tasks"]``
SIMPLE_TASKS: tuple[str, ...] = ("qa", "translation", "summarization", "classification", "extraction")
#: (monthly spend with one provider in USD, discount) -- an illustrative negotiated schedule
VOLUME_TIERS: tuple[tuple[float, float], ...] = (
    (0.0, 0.0),
    (1_000.0, 0.03),
    (5_000.0, 0.05),
    (25_000.0, 0.08),
    (100_000.0, 0.12),
)
CACHE_TARGET_HIT_RATE = 0.30
#: input token counts are capped here when matching context windows (no real call comes near it)
_TOKEN_CAP = 2**40

CAPABILITY_METHOD = (
    "capability class and context window per model from the catalog (capability_class: "
    + " > ".join(CAPABILITY_CLASSES)
    + "; max_input_tokens); unclassified models are neither switched from nor to"
)
SWITCH_METHOD = (
    "per source model: every catalog model of the same capability class is a candidate for all its calls, "
    "and a model one class down for its calls of simple task types (a quality trade-off); only calls whose "
    "input tokens fit the candidate's context window qualify; their own input/cached/cache-write/output/"
    "reasoning tokens are re-priced at the candidate's current list prices; the candidate saving most is the "
    "one switch of that source model; savings = qualifying calls' data cost - re-priced cost, x "
    "switch_adoption (default 1.0); never a sum of alternatives, never more than the qualifying spend"
)
COMMIT_METHOD = (
    "off unless params commitments = true. Per provider and programme of the catalog's "
    "commitment_programmes: commit c per day at discount d against that provider's daily spend: daily "
    "saving = min(spend, c) - c x (1 - d); utilisation = sum min(spend, c) / (c x days); break-even "
    "utilisation = 1 - d; c = 10th percentile (baseline) or median of its daily spend; the best worthwhile "
    "option per provider counts, summed over providers"
)
CACHE_METHOD = (
    "cached tokens sit inside input tokens; realised saving = cached x (input price - cache-read price); "
    "potential = max(0, target hit rate x input - cached) x (input price - cache-read price), models with a "
    "catalog cache-read price only"
)
TOTAL_METHOD = (
    "total = switching + caching x (1 - switching / cost) + commitments x (1 - (switching + caching) / "
    "cost), each lever applied to what the previous ones leave; volume discounts already earned are not "
    "added; the total never exceeds the monthly cost"
)


def capabilities(catalog: Catalog) -> pd.DataFrame:
    """One row per catalog model: provider, model, capability class and rank (0 = best), context window,
    current rates per token (input, output, cache read / write, reasoning) and the blended price."""
    rows = []
    rank = {c: i for i, c in enumerate(CAPABILITY_CLASSES)}
    for provider, model in catalog.prices:
        p = catalog.current(provider, model)
        if p is None:
            continue
        rows.append(
            {
                "provider": provider,
                "model": model,
                "capability": p.capability or "unclassified",
                "class_rank": rank.get(p.capability or "", -1),
                "context_window": p.max_input_tokens if p.max_input_tokens is not None else _TOKEN_CAP,
                "input": p.input,
                "output": p.output,
                "cache_read": p.cache_read_rate,
                "cache_creation": p.input if p.cache_creation is None else p.cache_creation,
                "reasoning": p.reasoning_rate,
                "has_cache_price": p.cache_read is not None,
                "blended_per_1k": (p.input + p.output) / 2 * 1000.0,
            }
        )
    out = pd.DataFrame(rows).sort_values(["class_rank", "blended_per_1k", "provider", "model"], kind="stable")
    return out.reset_index(drop=True)


GROUP_KEYS = ["task_type", "provider", "model"]


def token_groups(df: pd.DataFrame) -> pd.DataFrame:
    """Per (task_type, provider, model): calls, cost_usd, unpriced_calls, token sums of the *priced*
    calls (input, output, cached, reasoning) and the p50 latency -- the input of the switch matrix and
    of the caching table, computed once."""
    keys = GROUP_KEYS
    cost = df["cost_usd"].astype("float64")
    priced = cost.notna().to_numpy()
    work = pd.DataFrame({k: df[k] for k in keys})
    work["calls"] = 1
    work["cost_usd"] = cost.fillna(0.0)
    work["unpriced_calls"] = (~priced).astype("int64")
    for c in ("input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens"):
        work[c] = np.where(priced, df[c].to_numpy(dtype="int64"), 0) if c in df else 0
    work["latency_ms"] = df["latency_ms"].astype("float64")
    g = work.groupby(keys, sort=True, observed=True, dropna=False)
    out = g[
        [
            "calls",
            "cost_usd",
            "unpriced_calls",
            "input_tokens",
            "output_tokens",
            "cached_tokens",
            "reasoning_tokens",
        ]
    ].sum()
    out["p50_ms"] = g["latency_ms"].median()
    return str_keys(out.reset_index(), keys).sort_values(keys, kind="stable").reset_index(drop=True)


SWITCH_COLUMNS = [
    "from_provider",
    "from_model",
    "from_class",
    "to_provider",
    "to_model",
    "to_class",
    "quality_tradeoff",
    "calls",
    "qualifying_calls",
    "current_cost_usd",
    "qualifying_cost_usd",
    "switched_cost_usd",
    "savings_usd",
    "savings_pct",
    "from_p50_ms",
    "to_p50_ms",
    "assumption",
]


HIST_SUMS = ("calls", "cost", "input", "cached", "creation", "output", "reasoning")


def input_histogram(df: pd.DataFrame) -> pd.DataFrame:
    """The priced calls per (task_type, provider, model, input tokens): ``HIST_SUMS`` and ``max`` (the
    input tokens), the row-side twin of the usage cube's ``input`` side table (one row per distinct
    input, so context-window matching is exact)."""
    cost = df["cost_usd"].to_numpy(dtype="float64", na_value=np.nan) if len(df) else np.zeros(0)
    priced = ~np.isnan(cost)
    sub = df[priced]
    raw: dict[str, np.ndarray] = {}
    labels: dict[str, np.ndarray] = {}
    for k in GROUP_KEYS:
        codes, uniq = pd.factorize(sub[k].astype("object").fillna(MISSING_KEY), use_na_sentinel=False)
        raw[k], labels[k] = codes.astype("int64"), np.asarray(uniq, dtype=object).astype(str)
    inp = sub["input_tokens"].to_numpy(dtype="int64")
    raw["max"] = inp
    raw["calls"] = np.ones(len(sub), dtype="int64")
    raw["cost"] = cost[priced]
    for name, col in (
        ("input", "input_tokens"),
        ("cached", "cached_tokens"),
        ("creation", "cache_creation_tokens"),
        ("output", "output_tokens"),
        ("reasoning", "reasoning_tokens"),
    ):
        raw[name] = sub[col].to_numpy(dtype="int64") if col in sub else np.zeros(len(sub), dtype="int64")
    if not len(sub):
        return pd.DataFrame(columns=[*GROUP_KEYS, "max", *HIST_SUMS])
    g = cubes.regroup_cols(raw, [*GROUP_KEYS, "max"], HIST_SUMS)
    return pd.DataFrame(
        {**{k: labels[k][g[k]] for k in GROUP_KEYS}, **{k: g[k] for k in ("max", *HIST_SUMS)}}
    )


def switch_matrix(
    df: pd.DataFrame,
    catalog: Catalog,
    *,
    simple_tasks: Sequence[str] | None = None,
    adoption: float = 1.0,
) -> pd.DataFrame:
    """The best switch of each source model (SWITCH_METHOD) from the call rows (``switches``)."""
    lat = df["latency_ms"].astype("float64").groupby(df["model"], observed=True).median()
    lat.index = lat.index.astype("object").astype("str")
    return switches(input_histogram(df), lat, catalog, simple_tasks=simple_tasks, adoption=adoption)


def switches(
    hist: pd.DataFrame,
    p50_by_model: pd.Series,
    catalog: Catalog,
    *,
    simple_tasks: Sequence[str] | None = None,
    adoption: float = 1.0,
) -> pd.DataFrame:
    """The best switch of each source model (SWITCH_METHOD): one row per source model with a positive
    saving, sorted by savings. ``hist``: the priced calls per (task_type, provider, model) and input
    size (``input_histogram`` or the cube's ``input`` side table: ``HIST_SUMS``, ``max`` = the largest
    input of the row); a row qualifies for a target when its ``max`` fits the target's context window.
    Vectorized: rows sorted by (source model, simple task, max input) and prefix sums give every
    candidate's qualifying calls with one ``searchsorted``. ``p50_by_model``: median latency per model."""
    if not len(hist) or not hist["calls"].sum():
        return pd.DataFrame(columns=SWITCH_COLUMNS)
    caps = capabilities(catalog)
    sub = hist
    # source model = (provider, model): factorize the two key columns, then their code pairs
    p_codes, p_labels = pd.factorize(sub["provider"], use_na_sentinel=False)
    m_codes, m_labels = pd.factorize(sub["model"], use_na_sentinel=False)
    src_code, pairs = pd.factorize(p_codes.astype("int64") * (len(m_labels) + 1) + m_codes)
    src_provider = np.asarray(p_labels, dtype=object)[pairs // (len(m_labels) + 1)].astype(str)
    src_model = np.asarray(m_labels, dtype=object)[pairs % (len(m_labels) + 1)].astype(str)
    src_provider, src_model = src_provider.astype(object), src_model.astype(object)
    simple_set = set(SIMPLE_TASKS if simple_tasks is None else simple_tasks)
    simple = sub["task_type"].astype("object").isin(simple_set).to_numpy()
    g = src_code.astype("int64") * 2 + simple
    inp = np.minimum(sub["max"].to_numpy(dtype="int64"), _TOKEN_CAP - 1)
    order = np.lexsort((inp, g))
    cols = {k: sub[k].to_numpy(dtype="float64") for k in HIST_SUMS}
    cum = {k: np.r_[0.0, np.cumsum(v[order])] for k, v in cols.items()}
    key = g[order] * (_TOKEN_CAP + 1) + inp[order]
    n_src = len(pairs)
    windows = np.minimum(caps["context_window"].to_numpy(dtype="int64"), _TOKEN_CAP - 1)
    gid = np.arange(2 * n_src, dtype="int64")
    start = np.searchsorted(key, gid * (_TOKEN_CAP + 1), side="left")
    upto = np.searchsorted(key, gid[:, None] * (_TOKEN_CAP + 1) + windows[None, :], side="right")
    q = {k: c[upto] - c[start][:, None] for k, c in cum.items()}  # (2 x sources, targets)
    # source model capability
    rank_of = dict(zip(zip(caps["provider"], caps["model"], strict=True), caps["class_rank"], strict=True))
    src_rank = np.array([rank_of.get((p, m), -1) for p, m in zip(src_provider, src_model, strict=True)])
    t_rank = caps["class_rank"].to_numpy()
    same = (t_rank[None, :] == src_rank[:, None]) & (src_rank[:, None] >= 0)
    down = (t_rank[None, :] == src_rank[:, None] + 1) & (src_rank[:, None] >= 0)
    same &= ~(
        (caps["provider"].to_numpy()[None, :] == src_provider[:, None])
        & (caps["model"].to_numpy()[None, :] == src_model[:, None])
    )
    both = {k: v[0::2] + v[1::2] for k, v in q.items()}  # all the source's calls (not simple + simple)
    simple_only = {k: v[1::2] for k, v in q.items()}
    take = {k: np.where(same, both[k], np.where(down, simple_only[k], 0.0)) for k in HIST_SUMS}
    rate = {
        k: caps[k].to_numpy(dtype="float64")[None, :]
        for k in ("input", "cache_read", "cache_creation", "output", "reasoning")
    }
    cached = np.minimum(take["cached"], take["input"])
    creation = np.minimum(take["creation"], take["input"] - cached)
    reasoning = np.minimum(take["reasoning"], take["output"])
    switched = (
        (take["input"] - cached - creation) * rate["input"]
        + cached * rate["cache_read"]
        + creation * rate["cache_creation"]
        + (take["output"] - reasoning) * rate["output"]
        + reasoning * rate["reasoning"]
    )
    saving = np.where((same | down) & (take["calls"] > 0), (take["cost"] - switched) * adoption, -np.inf)
    best = saving.argmax(axis=1)
    rows = np.arange(n_src)
    best_saving = saving[rows, best]
    keep = np.flatnonzero(best_saving > 0)
    if not len(keep):
        return pd.DataFrame(columns=SWITCH_COLUMNS)
    bt = best[keep]
    lat = p50_by_model
    totals = np.bincount(src_code, weights=cols["cost"], minlength=n_src)
    all_calls = np.rint(np.bincount(src_code, weights=cols["calls"], minlength=n_src))
    tradeoff = down[keep, bt]
    out = pd.DataFrame(
        {
            "from_provider": src_provider[keep],
            "from_model": src_model[keep],
            "from_class": [CAPABILITY_CLASSES[r] if r >= 0 else "unclassified" for r in src_rank[keep]],
            "to_provider": caps["provider"].to_numpy()[bt],
            "to_model": caps["model"].to_numpy()[bt],
            "to_class": caps["capability"].to_numpy()[bt],
            "quality_tradeoff": tradeoff,
            "calls": all_calls[keep].astype("int64"),
            "qualifying_calls": np.rint(take["calls"][keep, bt]).astype("int64"),
            "current_cost_usd": totals[keep],
            "qualifying_cost_usd": take["cost"][keep, bt],
            "switched_cost_usd": switched[keep, bt],
            "savings_usd": best_saving[keep],
            "from_p50_ms": lat.reindex(src_model[keep]).to_numpy(),
            "to_p50_ms": lat.reindex(caps["model"].to_numpy()[bt]).to_numpy(),
        }
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        out["savings_pct"] = np.where(
            out["qualifying_cost_usd"] > 0, out["savings_usd"] / out["qualifying_cost_usd"] * 100, 0.0
        )
    win = caps["context_window"].to_numpy()[bt]
    out["assumption"] = [
        f"Assumes {t} ({c}) does the job of {f} for these {n:,} calls"
        + (" of simple task types, one capability class down (a quality trade-off)" if d else "")
        + (f", each fitting its {w:,}-token context window" if w < _TOKEN_CAP else "")
        + f", at current list prices{'' if adoption == 1 else f' with {adoption:.0%} adoption'}."
        for t, c, f, n, d, w in zip(
            out["to_model"],
            out["to_class"],
            out["from_model"],
            out["qualifying_calls"],
            tradeoff,
            win,
            strict=True,
        )
    ]
    return (
        out[SWITCH_COLUMNS].sort_values("savings_usd", ascending=False, kind="stable").reset_index(drop=True)
    )


COMMIT_COLUMNS = [
    "provider",
    "programme",
    "term_months",
    "level",
    "discount_pct",
    "commit_usd_day",
    "commit_usd_month",
    "utilisation_pct",
    "break_even_utilisation_pct",
    "savings_usd_month",
    "worthwhile",
]


def commitments(df: pd.DataFrame, catalog: Catalog) -> pd.DataFrame:
    """Committed-use options per provider and programme (COMMIT_METHOD): utilisation, break-even, saving."""
    return commitment_options(_frame_daily(df), catalog)


def _frame_daily(df: pd.DataFrame) -> Callable[[str], np.ndarray]:
    def daily(provider: str) -> np.ndarray:
        mine = df[df["provider"].astype("object") == provider] if len(df) else df
        return daily_totals(mine).to_numpy(dtype="float64") if len(mine) else np.zeros(0)

    return daily


def _frame_spend(df: pd.DataFrame) -> pd.Series:
    """Period spend per provider (unpriced calls add 0)."""
    if not len(df):
        return pd.Series(dtype="float64")
    return (
        df["cost_usd"]
        .astype("float64")
        .fillna(0.0)
        .groupby(df["provider"], observed=True, dropna=False)
        .sum()
    )


def commitment_options(daily: Callable[[str], np.ndarray], catalog: Catalog) -> pd.DataFrame:
    """COMMIT_METHOD from each provider's daily spend (``daily(provider)``: every day from its first to
    its last day with calls, 0 for days without)."""
    rows = []
    for provider, programmes in sorted(catalog.commitments.items()):
        s = daily(provider)
        if s.size == 0 or s.sum() <= 0:
            continue
        levels = {
            "baseline (p10 daily spend)": float(np.percentile(s, 10)),
            "median daily spend": float(np.median(s)),
        }
        for name, c in levels.items():
            if c <= 0:
                continue
            used = np.minimum(s, c)
            util = used.sum() / (c * s.size)
            for prog in programmes:
                d = prog.discount
                rows.append(
                    {
                        "provider": provider,
                        "programme": prog.name,
                        "term_months": prog.term_months,
                        "level": name,
                        "discount_pct": d * 100,
                        "commit_usd_day": c,
                        "commit_usd_month": c * 30.4375,
                        "utilisation_pct": util * 100,
                        "break_even_utilisation_pct": (1 - d) * 100,
                        "savings_usd_month": (used - c * (1 - d)).mean() * 30.4375,
                        "worthwhile": bool(util > 1 - d),
                    }
                )
    return pd.DataFrame(rows, columns=COMMIT_COLUMNS)


def best_commitments(commits: pd.DataFrame) -> pd.DataFrame:
    """The worthwhile option saving most, per provider (providers' spends are disjoint, so these add)."""
    ok = commits[commits["worthwhile"].astype(bool)] if len(commits) else commits
    if ok.empty:
        return ok
    ok = ok.sort_values(["provider", "savings_usd_month"], ascending=[True, False], kind="stable")
    return ok.groupby("provider", sort=True).head(1).reset_index(drop=True)


def volume_discounts(
    df: pd.DataFrame, factor: float, schedule: tuple[tuple[float, float], ...] = VOLUME_TIERS
) -> pd.DataFrame:
    """Per provider: monthly spend, the discount its volume earns, and the gap to the next tier."""
    cols = VOLUME_COLUMNS
    if df.empty:
        return pd.DataFrame(columns=cols)
    return volume_tiers(_frame_spend(df), factor, schedule)


VOLUME_COLUMNS = [
    "provider",
    "monthly_spend_usd",
    "tier_threshold_usd",
    "discount_pct",
    "savings_usd_month",
    "next_threshold_usd",
    "gap_usd_month",
    "next_discount_pct",
    "savings_at_next_usd_month",
]


def volume_tiers(
    spend: pd.Series, factor: float, schedule: tuple[tuple[float, float], ...] = VOLUME_TIERS
) -> pd.DataFrame:
    """``volume_discounts`` from the period spend per provider (``spend``: provider -> USD)."""
    cols = VOLUME_COLUMNS
    if spend.empty:
        return pd.DataFrame(columns=cols)
    spend = spend * factor
    sched = sorted(schedule)
    thresholds = np.array([t for t, _ in sched])
    disc = np.array([d for _, d in sched])
    m = spend.to_numpy()
    i = np.clip(np.searchsorted(thresholds, m, side="right") - 1, 0, len(sched) - 1)
    j = np.minimum(i + 1, len(sched) - 1)
    has_next = j > i
    out = pd.DataFrame(
        {
            "provider": spend.index,
            "monthly_spend_usd": m,
            "tier_threshold_usd": thresholds[i],
            "discount_pct": disc[i] * 100,
            "savings_usd_month": m * disc[i],
            "next_threshold_usd": np.where(has_next, thresholds[j], np.nan),
            "gap_usd_month": np.where(has_next, thresholds[j] - m, np.nan),
            "next_discount_pct": np.where(has_next, disc[j] * 100, np.nan),
            "savings_at_next_usd_month": np.where(has_next, thresholds[j] * disc[j], np.nan),
        }
    )
    return out[cols].sort_values("monthly_spend_usd", ascending=False, kind="stable").reset_index(drop=True)


def caching(
    df: pd.DataFrame,
    catalog: Catalog,
    factor: float,
    target: float = CACHE_TARGET_HIT_RATE,
    groups: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per model: cache hit rate, realised saving from cached tokens and the potential at ``target``."""
    cols = CACHE_COLUMNS
    if df.empty:
        return pd.DataFrame(columns=cols)
    return cache_table(token_groups(df) if groups is None else groups, catalog, factor, target)


CACHE_COLUMNS = [
    "provider",
    "model",
    "input_tokens",
    "cached_tokens",
    "hit_rate_pct",
    "has_cache_price",
    "realised_savings_usd",
    "potential_savings_usd_month",
]


def cache_table(
    groups: pd.DataFrame | None, catalog: Catalog, factor: float, target: float = CACHE_TARGET_HIT_RATE
) -> pd.DataFrame:
    """``caching`` from the per (task_type, provider, model) sums of ``token_groups``."""
    cols = CACHE_COLUMNS
    if groups is None or groups.empty:
        return pd.DataFrame(columns=cols)
    qt = capabilities(catalog).set_index(["provider", "model"])
    groups = groups[groups["unpriced_calls"] < groups["calls"]]
    if groups.empty:
        return pd.DataFrame(columns=cols)
    g = (
        groups.groupby(["provider", "model"], sort=True)[["input_tokens", "cached_tokens"]]
        .sum()
        .reset_index()
    )
    keys = pd.MultiIndex.from_frame(g[["provider", "model"]])
    rates = qt.reindex(keys)
    delta = (rates["input"] - rates["cache_read"]).to_numpy(dtype="float64")
    has = rates["has_cache_price"].fillna(False).to_numpy(dtype=bool)
    inp = g["input_tokens"].to_numpy(dtype="float64")
    cached = g["cached_tokens"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        hit = np.where(inp > 0, cached / inp * 100, 0.0)
    extra = np.maximum(target * inp - cached, 0.0)
    out = pd.DataFrame(
        {
            "provider": g["provider"],
            "model": g["model"],
            "input_tokens": g["input_tokens"],
            "cached_tokens": g["cached_tokens"],
            "hit_rate_pct": hit,
            "has_cache_price": has,
            "realised_savings_usd": np.where(has, cached * np.nan_to_num(delta), 0.0),
            "potential_savings_usd_month": np.where(has, extra * np.nan_to_num(delta) * factor, 0.0),
        }
    )
    return (
        out[cols]
        .sort_values("potential_savings_usd_month", ascending=False, kind="stable")
        .reset_index(drop=True)
    )


@dataclass
class _Inputs:
    """What the result is computed from (call rows or the usage cube give the same figures)."""

    days: float
    total: float
    unpriced: int
    groups: pd.DataFrame | None
    switches: Callable[[Sequence[str] | None, float], pd.DataFrame]
    daily: Callable[[str], np.ndarray]
    spend: pd.Series


def analyze(df: pd.DataFrame, ctx: AnalysisContext) -> AnalysisResult:
    def switch(simple: Sequence[str] | None, adoption: float) -> pd.DataFrame:
        return switch_matrix(df, ctx.catalog, simple_tasks=simple, adoption=adoption)

    inputs = _Inputs(
        days=period_days(df, ctx.as_of),
        total=float(df["cost_usd"].sum()) if len(df) else 0.0,
        unpriced=int(df["cost_usd"].isna().sum()) if len(df) else 0,
        groups=token_groups(df) if len(df) else None,
        switches=switch,
        daily=_frame_daily(df),
        spend=_frame_spend(df),
    )
    return _analyze(inputs, ctx)


def analyze_cube(src: cubes.Cube | cubes.Views, ctx: AnalysisContext) -> AnalysisResult:
    """The same result from a usage cube (any grain): every cost and token figure from the cells' and
    the ``input`` side table's sums (to the cent); context windows matched on the side table's input
    buckets (exact unless priced calls of one source model lie on both sides of a window within one
    bucket, 2 % wide: that bucket then does not qualify, so a saving is never overstated); the p50
    latencies of the switch table from the latency sketch (within its 1 % error)."""
    c = cubes.view(src, GROUP_KEYS, ("input", "latency"))
    if not len(c):
        from metering.store import empty_frame

        return analyze(empty_frame(), ctx)
    hist = pd.DataFrame(
        {k: c.decode(k, c.sides["input"][k]) for k in GROUP_KEYS}
        | {k: c.sides["input"][k] for k in ("max", *HIST_SUMS)}
    )
    by_model = cubes.side_quantiles(c, c.sides["latency"], ["model"], (0.5,))
    lat = pd.Series(by_model["q0.5"].to_numpy(), index=by_model["model"].astype(str))

    def switch(simple: Sequence[str] | None, adoption: float) -> pd.DataFrame:
        return switches(hist, lat, ctx.catalog, simple_tasks=simple, adoption=adoption)

    first = pd.Timestamp(int(c.cols["first_ms"].min()), unit="ms", tz="UTC")
    end = as_of_ts(pd.DataFrame(), ctx.as_of) if ctx.as_of is not None else None
    last = end if end is not None else pd.Timestamp(int(c.cols["last_ms"].max()), unit="ms", tz="UTC")
    sp = cubes.regroup_cols(c.cols, ["provider"], ["cost_usd"])
    spend = pd.Series(sp["cost_usd"], index=pd.Index(c.decode("provider", sp["provider"]), name="provider"))
    inputs = _Inputs(
        days=days_between(first, last),
        total=float(c.cols["cost_usd"].sum()),
        unpriced=int(c.cols["unpriced_calls"].sum()),
        groups=_cube_groups(c),
        switches=switch,
        daily=_cube_daily(cubes.view(src, DAILY_PROVIDER.dims, daily=True)),
        spend=spend.sort_index(kind="stable"),
    )
    res = _analyze(inputs, ctx)
    res.methods["switching"] = SWITCH_METHOD + (
        "; from the usage cube: the priced calls' cost and token sums per task type x model and input-token "
        f"bucket (log-spaced, {2 * cubes.SKETCH_ACCURACY:.0%} wide, with each bucket's smallest and largest "
        "input); a bucket qualifies when its largest input fits the window, so the match is exact unless "
        "calls of one source model lie on both sides of a window within one bucket (then that bucket is left "
        "out: savings understated, never overstated); from_p50_ms / to_p50_ms from the latency sketch, "
        f"within {cubes.SKETCH_ACCURACY:.0%} relative error"
    )
    return res


def _cube_groups(c: cubes.Cube) -> pd.DataFrame:
    """``token_groups`` of a usage cube: call counts and cost from the cells, the priced calls' tokens
    from the ``input`` side table, the p50 latency from the latency sketch."""
    keys = list(GROUP_KEYS)
    cells = cubes.regroup_cols(c.cols, keys, ["calls", "cost_usd", "unpriced_calls"])
    groups = pd.DataFrame({k: c.decode(k, cells[k]) for k in keys})
    for k in ("calls", "cost_usd", "unpriced_calls"):
        groups[k] = cells[k]
    tok = ("input", "output", "cached", "reasoning")
    h = cubes.regroup_cols(c.sides["input"], keys, tok)
    priced = pd.DataFrame({k: c.decode(k, h[k]) for k in keys} | {f"{k}_tokens": h[k] for k in tok})
    groups = groups.merge(priced, on=keys, how="left")
    for k in tok:
        groups[f"{k}_tokens"] = groups[f"{k}_tokens"].fillna(0).astype("int64")
    p50 = cubes.side_quantiles(c, c.sides["latency"], keys, (0.5,))
    groups = groups.merge(p50[[*keys, "q0.5"]].rename(columns={"q0.5": "p50_ms"}), on=keys, how="left")
    return groups.sort_values(keys, kind="stable").reset_index(drop=True)


def _cube_daily(c: cubes.Cube) -> Callable[[str], np.ndarray]:
    """Daily spend of a provider from the cube's cells (``commitment_options``)."""
    day = cubes.days(c)
    per_day = cubes.regroup_cols(
        {"day": day, "provider": c.cols["provider"], "cost_usd": c.cols["cost_usd"]},
        ["provider", "day"],
        ["cost_usd"],
    )
    labels = c.decode("provider", per_day["provider"])

    def daily(provider: str) -> np.ndarray:
        mine = labels == provider
        if not mine.any():
            return np.zeros(0)
        when = pd.to_datetime(per_day["day"][mine] * cubes.DAY_MS, unit="ms", utc=True)
        s = pd.Series(per_day["cost_usd"][mine], index=when).sort_index()
        return complete_daily(s).to_numpy(dtype="float64")

    return daily


def _analyze(inputs: _Inputs, ctx: AnalysisContext) -> AnalysisResult:
    params: dict[str, Any] = {**(ctx.params or {}), **((ctx.params or {}).get(NAME) or {})}
    days = inputs.days
    f = monthly_factor(days)
    total = inputs.total
    monthly_cost = total * f
    adoption = float(params.get("switch_adoption", 1.0))
    groups = inputs.groups
    switches = inputs.switches(params.get("simple_tasks"), adoption)
    switches["savings_usd_month"] = switches["savings_usd"].astype("float64") * f
    switches["qualifying_cost_usd_month"] = switches["qualifying_cost_usd"].astype("float64") * f
    pivot = (
        switches.pivot_table(
            index="from_model", columns="to_model", values="savings_usd_month", aggfunc="sum"
        )
        .fillna(0.0)
        .reset_index()
        if len(switches)
        else pd.DataFrame(columns=["from_model"])
    )
    pivot.columns = [str(c) for c in pivot.columns]
    model_commitments = bool(params.get("commitments", False))
    commits = (
        commitment_options(inputs.daily, ctx.catalog)
        if model_commitments
        else pd.DataFrame(columns=COMMIT_COLUMNS)
    )
    commit_best = best_commitments(commits)
    volume = volume_tiers(inputs.spend, f, tuple(params.get("volume_tiers", VOLUME_TIERS)))
    target = float(params.get("cache_target_hit_rate", CACHE_TARGET_HIT_RATE))
    cache = cache_table(groups, ctx.catalog, f, target)

    switch_m = float(switches["savings_usd_month"].sum())
    qualifying_m = float(switches["qualifying_cost_usd_month"].sum())
    cache_m = float(cache["potential_savings_usd_month"].sum()) if len(cache) else 0.0
    commit_m = float(commit_best["savings_usd_month"].sum()) if len(commit_best) else 0.0
    volume_m = float(volume["savings_usd_month"].sum()) if len(volume) else 0.0
    if monthly_cost > 0:
        cache_eff = cache_m * max(1 - switch_m / monthly_cost, 0.0)
        commit_eff = commit_m * max(1 - (switch_m + cache_eff) / monthly_cost, 0.0)
    else:
        cache_eff = commit_eff = 0.0
    potential = min(switch_m + cache_eff + commit_eff, monthly_cost)
    metrics = {
        "monthly_cost_usd": Metric(monthly_cost, "USD/month", "Monthly cost", "period cost x 30.4375 / days"),
        "switch_savings_usd_month": Metric(switch_m, "USD/month", "Model switching", SWITCH_METHOD),
        "qualifying_spend_usd_month": Metric(
            qualifying_m,
            "USD/month",
            "Spend the switches apply to",
            "monthly cost of the calls that qualify for the recommended switches (switch savings never exceed it)",
        ),
        "caching_savings_usd_month": Metric(cache_m, "USD/month", "More caching", CACHE_METHOD),
        "realised_caching_savings_usd": Metric(
            float(cache["realised_savings_usd"].sum()) if len(cache) else 0.0,
            "USD",
            "Saved by caching (period)",
        ),
        "commitment_savings_usd_month": Metric(
            commit_m,
            "USD/month",
            "Commitments" + ("" if model_commitments else " (not modelled)"),
            COMMIT_METHOD,
        ),
        "volume_savings_usd_month": Metric(volume_m, "USD/month", "Volume discounts earned"),
        "total_potential_usd_month": Metric(
            potential, "USD/month", "Total optimisation potential", TOTAL_METHOD
        ),
        "total_potential_pct": Metric(
            potential / monthly_cost * 100 if monthly_cost > 0 else 0.0, "%", "Potential vs monthly cost"
        ),
        "unpriced_calls": Metric(inputs.unpriced, "calls", "Unpriced calls"),
    }
    return AnalysisResult(
        name=NAME,
        title=TITLE,
        metrics=metrics,
        tables={
            "switch_matrix": switches,
            "switch_pivot": pivot,
            "capabilities": capabilities(ctx.catalog)[
                ["provider", "model", "capability", "context_window", "blended_per_1k"]
            ],
            "commitments": commits,
            "volume_discounts": volume,
            "caching": cache,
        },
        recommendations=_recommendations(switches, commit_best, cache, volume),
        methods={
            "capability": CAPABILITY_METHOD,
            "switching": SWITCH_METHOD,
            "simple_tasks": "task types accepting one class down: "
            + ", ".join(params.get("simple_tasks") or SIMPLE_TASKS),
            "commitments": COMMIT_METHOD,
            "caching": CACHE_METHOD,
            "volume": "per provider monthly spend against the schedule "
            + repr(VOLUME_TIERS)
            + " (ctx.params['volume_tiers']); already earned, not added to the total",
            "total": TOTAL_METHOD,
            "monthly": f"monthly = period figure x 30.4375 / {days:.2f} days",
        },
    )


def _recommendations(
    switches: pd.DataFrame, commit_best: pd.DataFrame, cache: pd.DataFrame, volume: pd.DataFrame
) -> list[Recommendation]:
    recs: list[Recommendation] = []
    for row in switches.head(5).itertuples():
        recs.append(
            Recommendation(
                title=f"Move {row.from_model} to {row.to_model}"
                + (" for simple tasks (quality trade-off)" if row.quality_tradeoff else ""),
                detail=(
                    f"{row.qualifying_calls:,} of its {row.calls:,} calls qualify; {row.savings_pct:.0f}% cheaper "
                    f"on those calls' own tokens. {row.assumption}"
                ),
                monthly_impact_usd=float(row.savings_usd_month),
                priority="high" if round(row.savings_pct, 6) >= 50 and not row.quality_tradeoff else "medium",
                category="model switch",
            )
        )
    for c in commit_best.to_dict("records"):
        recs.append(
            Recommendation(
                title=f"{c['provider']}: commit ${c['commit_usd_month']:,.0f}/month ({c['programme']})",
                detail=(
                    f"{c['level']}: utilisation {c['utilisation_pct']:.0f}% vs break-even "
                    f"{c['break_even_utilisation_pct']:.0f}%. Assumes the catalog's {c['discount_pct']:.0f}% "
                    f"discount over a {c['term_months']}-month term and daily spend like the period's."
                ),
                monthly_impact_usd=float(c["savings_usd_month"]),
                priority="medium",
                category="commitment",
            )
        )
    if len(cache):
        top = cache[cache["potential_savings_usd_month"] >= 0.01].head(3)
        if len(top):
            recs.append(
                Recommendation(
                    title="Raise prompt-cache hit rate on " + ", ".join(top["model"]),
                    detail=f"Current hit rates {', '.join(f'{h:.0f}%' for h in top['hit_rate_pct'])}; "
                    f"assumes {CACHE_TARGET_HIT_RATE:.0%} of input tokens can be served from the cache at the "
                    "catalog's cache-read price.",
                    monthly_impact_usd=float(top["potential_savings_usd_month"].sum()),
                    priority="medium",
                    category="caching",
                )
            )
    if len(volume):
        # consolidating only helps if the whole fleet's spend could reach the provider's next tier
        total = float(volume["monthly_spend_usd"].sum())
        near = volume[volume["next_threshold_usd"] <= total].sort_values("gap_usd_month").head(1)
        for row in near.itertuples():
            gain = row.savings_at_next_usd_month - row.savings_usd_month
            if gain > 0:
                recs.append(
                    Recommendation(
                        title=f"Consolidate spend on {row.provider} to reach the {row.next_discount_pct:.0f}% volume tier",
                        detail=f"${row.monthly_spend_usd:,.0f}/month today; ${row.gap_usd_month:,.0f}/month more "
                        f"(shifted from other providers) reaches ${row.next_threshold_usd:,.0f}. Assumes the "
                        "illustrative volume schedule and that the shifted work runs as well there.",
                        monthly_impact_usd=float(gain),
                        priority="low",
                        category="volume",
                    )
                )
    return recs
