"""Rate optimization: what the same traffic would cost on cheaper models, with commitments, volume
discounts and more prompt caching.

Model quality is not in the data, so it is derived from the catalog: models are ranked by their
blended list price ((input + output) / 2 per token) and split into three equal-sized quality tiers
(economy < standard < premium). Each task type needs a minimum tier (``TASK_MIN_TIER``, overridable
with ``ctx.params["task_min_tier"]``); a switch is proposed only to a model of at least that tier,
so "a cheaper model serves the task" is an explicit, documented rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from analyzers.base import AnalysisContext, AnalysisResult, Metric, Recommendation
from analyzers.common import daily_totals, period_days
from analyzers.revenue.profitability import monthly_factor, str_keys
from metering.prices import Catalog

NAME = "optimization"
TITLE = "Rate Optimization"
DESCRIPTION = "Model-switch matrix, committed-use and volume discounts, caching savings, total potential."

QUALITY_NAMES = {1: "economy", 2: "standard", 3: "premium"}
#: minimum quality tier a task type needs (1 economy, 2 standard, 3 premium); unknown tasks need 2
TASK_MIN_TIER: dict[str, int] = {
    "qa": 1,
    "translation": 1,
    "summarization": 1,
    "classification": 1,
    "extraction": 1,
    "chat": 2,
    "analysis": 2,
    "code_generation": 3,
    "code": 3,
    "reasoning": 3,
}
DEFAULT_MIN_TIER = 2
COMMIT_DISCOUNTS = (0.20, 0.30, 0.40)
#: (monthly spend with one provider in USD, discount) -- an illustrative negotiated schedule
VOLUME_TIERS: tuple[tuple[float, float], ...] = (
    (0.0, 0.0),
    (1_000.0, 0.03),
    (5_000.0, 0.05),
    (25_000.0, 0.08),
    (100_000.0, 0.12),
)
CACHE_TARGET_HIT_RATE = 0.30

QUALITY_METHOD = (
    "quality tier = tercile of the catalog models ranked by blended list price (input + output) / 2 per "
    "token: cheapest third economy (1), middle standard (2), dearest premium (3)"
)
SWITCH_METHOD = (
    "for each (task_type, model): re-price the group's own input/cached/output/reasoning tokens at every "
    "catalog model's current price; the target is the cheapest model whose quality tier >= the task's "
    "minimum tier (TASK_MIN_TIER); savings = data cost - re-priced cost, x switch_adoption (default 1.0)"
)
COMMIT_METHOD = (
    "commit c per day at discount d: daily saving = min(spend, c) - c x (1 - d); utilisation = "
    "sum min(spend, c) / (c x days); break-even utilisation = 1 - d; c = 10th percentile (baseline) or "
    "median of daily spend"
)
CACHE_METHOD = (
    "cached tokens sit inside input tokens; realised saving = cached x (input price - cache-read price); "
    "potential = max(0, target hit rate x input - cached) x (input price - cache-read price), models with a "
    "catalog cache-read price only"
)
TOTAL_METHOD = (
    "total = switching + caching x (1 - switching / cost) + best commitment x (1 - (switching + caching) / "
    "cost); volume discounts are an alternative to a commitment and are not added"
)


def quality_tiers(catalog: Catalog) -> pd.DataFrame:
    """One row per catalog model: provider, model, current rates per token, blended price, quality tier."""
    rows = []
    for provider, model in catalog.prices:
        p = catalog.current(provider, model)
        if p is None:
            continue
        rows.append(
            {
                "provider": provider,
                "model": model,
                "input": p.input,
                "output": p.output,
                "cache_read": p.cache_read_rate,
                "reasoning": p.reasoning_rate,
                "has_cache_price": p.cache_read is not None,
                "blended_per_1k": (p.input + p.output) / 2 * 1000.0,
            }
        )
    out = pd.DataFrame(rows).sort_values(["blended_per_1k", "provider", "model"], kind="stable")
    rank = np.arange(len(out))
    out["quality_tier"] = (rank * 3 // max(len(out), 1) + 1).astype("int64")
    out["quality"] = out["quality_tier"].map(QUALITY_NAMES)
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


def switch_matrix(
    df: pd.DataFrame,
    catalog: Catalog,
    *,
    task_min_tier: Mapping[str, int] | None = None,
    adoption: float = 1.0,
    groups: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """From -> to per (task_type, model) with the savings of moving those calls to the cheapest model
    that still meets the task's quality tier. Only rows with a positive saving; sorted by savings."""
    cols = [
        "task_type",
        "from_provider",
        "from_model",
        "to_provider",
        "to_model",
        "calls",
        "current_cost_usd",
        "switched_cost_usd",
        "savings_usd",
        "savings_pct",
        "from_quality",
        "to_quality",
        "min_quality",
        "from_p50_ms",
        "to_p50_ms",
        "tradeoff",
    ]
    if df.empty:
        return pd.DataFrame(columns=cols)
    need = {**TASK_MIN_TIER, **(task_min_tier or {})}
    qt = quality_tiers(catalog)
    groups = token_groups(df) if groups is None else groups
    # token sums are of priced calls only, so they compare like with like against cost_usd
    groups = groups[groups["unpriced_calls"] < groups["calls"]].reset_index(drop=True)
    if groups.empty:
        return pd.DataFrame(columns=cols)
    inp = groups["input_tokens"].to_numpy(dtype="float64")
    cached = np.minimum(groups["cached_tokens"].to_numpy(dtype="float64"), inp)
    out_t = groups["output_tokens"].to_numpy(dtype="float64")
    reas = np.minimum(groups["reasoning_tokens"].to_numpy(dtype="float64"), out_t)
    cost_matrix = (
        (inp - cached)[:, None] * qt["input"].to_numpy()[None, :]
        + cached[:, None] * qt["cache_read"].to_numpy()[None, :]
        + (out_t - reas)[:, None] * qt["output"].to_numpy()[None, :]
        + reas[:, None] * qt["reasoning"].to_numpy()[None, :]
    )
    min_tier = groups["task_type"].map(need).fillna(DEFAULT_MIN_TIER).astype("int64").to_numpy()
    eligible = qt["quality_tier"].to_numpy()[None, :] >= min_tier[:, None]
    eligible &= qt["model"].to_numpy()[None, :] != groups["model"].to_numpy()[:, None]
    masked = np.where(eligible, cost_matrix, np.inf)
    best = masked.argmin(axis=1)
    best_cost = masked[np.arange(len(groups)), best]
    current = groups["cost_usd"].to_numpy()
    savings = np.where(np.isfinite(best_cost), (current - best_cost) * adoption, 0.0)
    tier_of = dict(zip(qt["model"], qt["quality_tier"], strict=True))
    # observed p50 latency of the target model on the same task (else over all its calls)
    to_model = qt["model"].to_numpy()[best]
    lat_task = groups.set_index(["task_type", "model"])["p50_ms"]
    lat_model = df["latency_ms"].astype("float64").groupby(df["model"], observed=True, dropna=False).median()
    lat_model.index = lat_model.index.astype("object").fillna("(none)").astype("str")
    on_task = lat_task.reindex(pd.MultiIndex.from_arrays([groups["task_type"], to_model])).to_numpy()
    to_p50 = np.where(np.isnan(on_task), lat_model.reindex(to_model).to_numpy(), on_task)
    res = pd.DataFrame(
        {
            "task_type": groups["task_type"],
            "from_provider": groups["provider"],
            "from_model": groups["model"],
            "to_provider": qt["provider"].to_numpy()[best],
            "to_model": to_model,
            "calls": groups["calls"],
            "current_cost_usd": current,
            "switched_cost_usd": np.where(np.isfinite(best_cost), best_cost, np.nan),
            "savings_usd": savings,
            "from_quality": groups["model"].map(tier_of).map(QUALITY_NAMES).fillna("unranked"),
            "to_quality": pd.Series(to_model).map(tier_of).map(QUALITY_NAMES).to_numpy(),
            "min_quality": pd.Series(min_tier).map(QUALITY_NAMES).to_numpy(),
            "from_p50_ms": groups["p50_ms"],
            "to_p50_ms": to_p50,
        }
    )
    res = res[res["savings_usd"] > 0].copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        res["savings_pct"] = np.where(
            res["current_cost_usd"] > 0, res["savings_usd"] / res["current_cost_usd"] * 100, 0.0
        )
    lat = np.where(
        res["to_p50_ms"].notna(),
        "p50 "
        + res["from_p50_ms"].round().astype("Int64").astype("str")
        + " -> "
        + res["to_p50_ms"].round().astype("Int64").astype("str")
        + " ms",
        "target latency not observed",
    )
    res["tradeoff"] = "quality " + res["from_quality"] + " -> " + res["to_quality"] + "; " + lat
    return res[cols].sort_values("savings_usd", ascending=False, kind="stable").reset_index(drop=True)


def commitments(daily: pd.Series, discounts: tuple[float, ...] = COMMIT_DISCOUNTS) -> pd.DataFrame:
    """Committed-use options: per commitment level and discount, utilisation, break-even and saving."""
    cols = [
        "level",
        "discount_pct",
        "commit_usd_day",
        "commit_usd_month",
        "utilisation_pct",
        "break_even_utilisation_pct",
        "savings_usd_month",
        "worthwhile",
    ]
    s = daily.to_numpy(dtype="float64")
    if s.size == 0 or s.sum() <= 0:
        return pd.DataFrame(columns=cols)
    levels = {
        "baseline (p10 daily spend)": float(np.percentile(s, 10)),
        "median daily spend": float(np.median(s)),
    }
    rows = []
    for name, c in levels.items():
        if c <= 0:
            continue
        used = np.minimum(s, c)
        util = used.sum() / (c * s.size)
        for d in discounts:
            saving_day = (used - c * (1 - d)).mean()
            rows.append(
                {
                    "level": name,
                    "discount_pct": d * 100,
                    "commit_usd_day": c,
                    "commit_usd_month": c * 30.4375,
                    "utilisation_pct": util * 100,
                    "break_even_utilisation_pct": (1 - d) * 100,
                    "savings_usd_month": saving_day * 30.4375,
                    "worthwhile": bool(util > 1 - d),
                }
            )
    return pd.DataFrame(rows, columns=cols)


def volume_discounts(
    df: pd.DataFrame, factor: float, schedule: tuple[tuple[float, float], ...] = VOLUME_TIERS
) -> pd.DataFrame:
    """Per provider: monthly spend, the discount its volume earns, and the gap to the next tier."""
    cols = [
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
    if df.empty:
        return pd.DataFrame(columns=cols)
    spend = (
        df["cost_usd"]
        .astype("float64")
        .fillna(0.0)
        .groupby(df["provider"], observed=True, dropna=False)
        .sum()
        * factor
    )
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
    cols = [
        "provider",
        "model",
        "input_tokens",
        "cached_tokens",
        "hit_rate_pct",
        "has_cache_price",
        "realised_savings_usd",
        "potential_savings_usd_month",
    ]
    if df.empty:
        return pd.DataFrame(columns=cols)
    qt = quality_tiers(catalog).set_index(["provider", "model"])
    groups = token_groups(df) if groups is None else groups
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


def analyze(df: pd.DataFrame, ctx: AnalysisContext) -> AnalysisResult:
    params: dict[str, Any] = ctx.params or {}
    days = period_days(df)
    f = monthly_factor(days)
    total = float(df["cost_usd"].sum()) if len(df) else 0.0
    monthly_cost = total * f
    adoption = float(params.get("switch_adoption", 1.0))
    groups = token_groups(df) if len(df) else None
    switches = switch_matrix(
        df, ctx.catalog, task_min_tier=params.get("task_min_tier"), adoption=adoption, groups=groups
    )
    switches["savings_usd_month"] = switches["savings_usd"] * f
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
    commits = commitments(daily_totals(df), tuple(params.get("commit_discounts", COMMIT_DISCOUNTS)))
    volume = volume_discounts(df, f, tuple(params.get("volume_tiers", VOLUME_TIERS)))
    target = float(params.get("cache_target_hit_rate", CACHE_TARGET_HIT_RATE))
    cache = caching(df, ctx.catalog, f, target, groups=groups)

    switch_m = float(switches["savings_usd_month"].sum())
    cache_m = float(cache["potential_savings_usd_month"].sum()) if len(cache) else 0.0
    commit_best = (
        commits.loc[commits["worthwhile"].astype(bool)]
        .sort_values("savings_usd_month", ascending=False)
        .head(1)
    )
    commit_m = float(commit_best["savings_usd_month"].iloc[0]) if len(commit_best) else 0.0
    volume_m = float(volume["savings_usd_month"].sum()) if len(volume) else 0.0
    if monthly_cost > 0:
        cache_eff = cache_m * max(1 - switch_m / monthly_cost, 0.0)
        commit_eff = commit_m * max(1 - (switch_m + cache_eff) / monthly_cost, 0.0)
    else:
        cache_eff = commit_eff = 0.0
    potential = switch_m + cache_eff + commit_eff
    metrics = {
        "monthly_cost_usd": Metric(
            monthly_cost, "USD/month", "Monthly run-rate", "period cost x 30.4375 / days"
        ),
        "switch_savings_usd_month": Metric(switch_m, "USD/month", "Model switching", SWITCH_METHOD),
        "caching_savings_usd_month": Metric(cache_m, "USD/month", "More caching", CACHE_METHOD),
        "realised_caching_savings_usd": Metric(
            float(cache["realised_savings_usd"].sum()) if len(cache) else 0.0,
            "USD",
            "Saved by caching (period)",
        ),
        "commitment_savings_usd_month": Metric(commit_m, "USD/month", "Best commitment", COMMIT_METHOD),
        "volume_savings_usd_month": Metric(volume_m, "USD/month", "Volume discounts earned"),
        "total_potential_usd_month": Metric(
            potential, "USD/month", "Total optimisation potential", TOTAL_METHOD
        ),
        "total_potential_pct": Metric(
            potential / monthly_cost * 100 if monthly_cost > 0 else 0.0, "%", "Potential vs run-rate"
        ),
        "unpriced_calls": Metric(
            int(df["cost_usd"].isna().sum()) if len(df) else 0, "calls", "Unpriced calls"
        ),
    }
    return AnalysisResult(
        name=NAME,
        title=TITLE,
        metrics=metrics,
        tables={
            "switch_matrix": switches,
            "switch_pivot": pivot,
            "quality_tiers": quality_tiers(ctx.catalog)[
                ["provider", "model", "blended_per_1k", "quality_tier", "quality"]
            ],
            "commitments": commits,
            "volume_discounts": volume,
            "caching": cache,
        },
        recommendations=_recommendations(switches, commit_best, cache, volume),
        methods={
            "quality": QUALITY_METHOD,
            "switching": SWITCH_METHOD,
            "commitments": COMMIT_METHOD,
            "caching": CACHE_METHOD,
            "volume": "per provider monthly spend against the schedule "
            + repr(VOLUME_TIERS)
            + " (ctx.params['volume_tiers'])",
            "total": TOTAL_METHOD,
            "monthly": f"monthly = period figure x 30.4375 / {days} days",
        },
    )


def _recommendations(
    switches: pd.DataFrame, commit_best: pd.DataFrame, cache: pd.DataFrame, volume: pd.DataFrame
) -> list[Recommendation]:
    recs: list[Recommendation] = []
    for row in switches.head(5).itertuples():
        recs.append(
            Recommendation(
                title=f"{row.task_type}: move {row.from_model} to {row.to_model}",
                detail=(
                    f"{row.calls:,} calls; {row.savings_pct:.0f}% cheaper on the same tokens. Trade-off: "
                    f"{row.tradeoff} (task needs at least {row.min_quality})."
                ),
                monthly_impact_usd=float(row.savings_usd_month),
                priority="high" if row.savings_pct >= 50 else "medium",
                category="model switch",
            )
        )
    if len(commit_best):
        c = commit_best.iloc[0]
        recs.append(
            Recommendation(
                title=f"Commit ${c['commit_usd_month']:,.0f}/month at {c['discount_pct']:.0f}% off",
                detail=(
                    f"{c['level']}: utilisation {c['utilisation_pct']:.0f}% vs break-even "
                    f"{c['break_even_utilisation_pct']:.0f}%."
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
                    f"target {CACHE_TARGET_HIT_RATE:.0%} of input tokens.",
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
                        f"(shifted from other providers) reaches ${row.next_threshold_usd:,.0f}.",
                        monthly_impact_usd=float(gain),
                        priority="low",
                        category="volume",
                    )
                )
    return recs
