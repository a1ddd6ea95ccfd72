"""Pricing strategy: the same usage billed under four pricing models, side by side.

Every customer's observed usage (tokens, cost) is billed as

* ``flat``   - today's subscription revenue (``metering.subscriptions``: active days x tier price);
* ``tiered`` - tier price + overage: tokens above the tier's ``included_tokens_month`` pro-rated to the customer's active days at
  the tier's ``overage_usd_per_1k_tokens`` (both from ``metering.tiers``);
* ``usage``  - pure usage: tokens x one list price per 1K tokens = the fleet's cost per 1K tokens x
  (1 + ``usage_markup``) (or ``usage_price_per_1k`` when given);
* ``hybrid`` - ``hybrid_base_share`` x the pro-rated tier price + cost x (1 + ``hybrid_markup``).

Parameters come from ``ctx.params`` (see ``DEFAULTS``). A customer whose bill rises by more than
``churn_threshold_pct`` is a churn risk; ``churn_probability`` of their new revenue is "at risk".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from analyzers import usage
from analyzers.base import AnalysisContext, AnalysisResult, Metric, Recommendation
from analyzers.common import REVENUE_METHOD
from analyzers.revenue.profitability import customer_margins, monthly_factor
from metering.tiers import DAYS_PER_MONTH

NAME = "pricing"
#: the cube views it reads: the customers' (margins)
VIEWS = usage.VIEWS
TITLE = "Pricing Strategy"
DESCRIPTION = (
    "Flat, tiered, pure-usage and hybrid pricing of the same usage: revenue, margin, winners, churn."
)

MODELS = ("flat", "tiered", "usage", "hybrid")
DEFAULTS: dict[str, float] = {
    "usage_markup": 1.0,  # usage price = fleet cost per 1K tokens x (1 + markup)
    "hybrid_base_share": 0.5,  # share of the tier price kept as the hybrid base fee
    "hybrid_markup": 0.3,  # cost-plus margin on top of the hybrid base
    "churn_threshold_pct": 20.0,  # a bill rising more than this is a churn risk
    "churn_probability": 0.3,  # share of an at-risk customer's revenue expected to be lost
}
#: usage segments by monthly tokens: bottom half, up to the 90th percentile, top 10 %
SEGMENTS = ("light", "regular", "heavy")


def params_of(ctx: AnalysisContext) -> dict[str, Any]:
    """DEFAULTS overridden by ``ctx.params`` (unknown keys are ignored; usage_price_per_1k optional)."""
    p: dict[str, Any] = dict(DEFAULTS)
    for k in (*DEFAULTS, "usage_price_per_1k"):
        if k in (ctx.params or {}):
            p[k] = float(ctx.params[k])
    return p


def usage_segments(tokens: pd.Series) -> np.ndarray:
    """light (<= median), regular (<= 90th percentile), heavy (above) by token volume."""
    t = tokens.to_numpy(dtype="float64")
    if t.size == 0:
        return np.array([], dtype=object)
    p50, p90 = np.percentile(t, 50), np.percentile(t, 90)
    return np.select([t <= p50, t <= p90], ["light", "regular"], default="heavy").astype(object)


def bills(margins: pd.DataFrame, days: float, tiers: dict, p: dict[str, Any]) -> tuple[pd.DataFrame, float]:
    """Per customer: revenue under each pricing model (``rev_<model>``) for the period, and the usage
    price per 1K tokens used. ``margins`` is ``customer_margins`` output (revenue_usd = flat)."""
    out = margins[["customer_id", "tier", "calls", "tokens", "cost_usd", "active_days", "revenue_usd"]].copy()
    tier = out["tier"].astype("str")
    frac = out["active_days"].to_numpy(dtype="float64") / DAYS_PER_MONTH
    included = tier.map({n: t.included_tokens_month for n, t in tiers.items()}).astype("float64") * frac
    rate = tier.map({n: t.overage_usd_per_1k_tokens for n, t in tiers.items()}).astype("float64")
    tokens = out["tokens"].astype("float64")
    cost = out["cost_usd"].astype("float64").fillna(0.0)
    fleet_tokens = float(tokens.sum())
    fleet_per_1k = float(cost.sum()) / fleet_tokens * 1000.0 if fleet_tokens > 0 else 0.0
    price_1k = p.get("usage_price_per_1k", fleet_per_1k * (1.0 + p["usage_markup"]))
    flat = out["revenue_usd"].astype("float64")
    out["rev_flat"] = flat
    out["rev_tiered"] = flat + np.maximum(tokens - included, 0.0) / 1000.0 * rate
    out["rev_usage"] = tokens / 1000.0 * price_1k
    out["rev_hybrid"] = p["hybrid_base_share"] * flat + cost * (1.0 + p["hybrid_markup"])
    out["segment"] = usage_segments(tokens)
    return out, float(price_1k)


def compare(b: pd.DataFrame, p: dict[str, Any], f: float) -> pd.DataFrame:
    """One row per pricing model: revenue, margin, winners/losers vs flat, churn risk (period and monthly)."""
    cost = b["cost_usd"].astype("float64").fillna(0.0).to_numpy()
    flat = np.nan_to_num(b["rev_flat"].to_numpy(dtype="float64"))
    rows = []
    for m in MODELS:
        rev = b[f"rev_{m}"].to_numpy(dtype="float64")
        with np.errstate(divide="ignore", invalid="ignore"):
            change = np.where(flat > 0, (rev - flat) / flat * 100.0, np.where(rev > 0, np.inf, 0.0))
        risk = change > p["churn_threshold_pct"]
        at_risk = float(np.nansum(rev[risk]) * p["churn_probability"])
        revenue = float(np.nansum(rev))
        margin = revenue - float(cost.sum())
        rows.append(
            {
                "model": m,
                "revenue_usd": revenue,
                "cost_usd": float(cost.sum()),
                "margin_usd": margin,
                "margin_pct": margin / revenue * 100.0 if revenue > 0 else np.nan,
                "customers_paying_more": int((rev > flat + 1e-9).sum()),
                "customers_paying_less": int((rev < flat - 1e-9).sum()),
                "churn_risk_customers": int(risk.sum()),
                "revenue_at_risk_usd": at_risk,
                "risk_adjusted_margin_usd": margin - at_risk,
                "monthly_revenue_usd": revenue * f,
                "monthly_risk_adjusted_margin_usd": (margin - at_risk) * f,
            }
        )
    return pd.DataFrame(rows)


def by_segment(b: pd.DataFrame) -> pd.DataFrame:
    """Pricing model x usage segment: customers, revenue, cost, margin, winners (pay less) and losers."""
    cols = [
        "model",
        "segment",
        "customers",
        "revenue_usd",
        "cost_usd",
        "margin_usd",
        "margin_pct",
        "paying_less",
        "paying_more",
    ]
    if b.empty:
        return pd.DataFrame(columns=cols)
    parts = []
    for m in MODELS:
        d = pd.DataFrame(
            {
                "segment": b["segment"],
                "customers": 1,
                "revenue_usd": b[f"rev_{m}"],
                "cost_usd": b["cost_usd"].fillna(0.0),
                "paying_less": (b[f"rev_{m}"] < b["rev_flat"] - 1e-9).astype("int64"),
                "paying_more": (b[f"rev_{m}"] > b["rev_flat"] + 1e-9).astype("int64"),
            }
        )
        g = d.groupby("segment", sort=False).sum().reindex(list(SEGMENTS)).dropna(how="all").reset_index()
        g.insert(0, "model", m)
        parts.append(g)
    out = pd.concat(parts, ignore_index=True)
    out["margin_usd"] = out["revenue_usd"] - out["cost_usd"]
    out["margin_pct"] = np.where(
        out["revenue_usd"] > 0, out["margin_usd"] / out["revenue_usd"] * 100.0, np.nan
    )
    for c in ("customers", "paying_less", "paying_more"):
        out[c] = out[c].astype("int64")
    return out[cols]


def analyze(df: pd.DataFrame, ctx: AnalysisContext) -> AnalysisResult:
    return analyze_usage(usage.from_frame(df), ctx)


def analyze_usage(u: usage.Usage, ctx: AnalysisContext) -> AnalysisResult:
    """The analysis of call rows or usage-cube cells (``analyzers.usage``)."""
    p = params_of(ctx)
    days = usage.period_days(u, ctx.as_of)
    f = monthly_factor(days)
    margins = customer_margins(u, ctx)
    b, price_1k = bills(margins, days, ctx.tiers, p)
    models = compare(b, p, f)
    flat = models.iloc[0]
    best = models.sort_values("risk_adjusted_margin_usd", ascending=False, kind="stable").iloc[0]
    metrics = {
        "flat_revenue_usd": Metric(float(flat["revenue_usd"]), "USD", "Flat revenue (today)", REVENUE_METHOD),
        "flat_margin_pct": Metric(_num(flat["margin_pct"]), "%", "Flat margin %"),
        "best_model": Metric(str(best["model"]), "", "Best model (risk-adjusted margin)"),
        "best_margin_pct": Metric(_num(best["margin_pct"]), "%", "Best model margin %"),
        "best_uplift_usd_month": Metric(
            float(best["monthly_risk_adjusted_margin_usd"] - flat["monthly_risk_adjusted_margin_usd"]),
            "USD/month",
            "Uplift vs flat (risk-adjusted)",
        ),
        "usage_price_per_1k_usd": Metric(price_1k, "USD/1K tokens", "Usage list price"),
        "customer_count": Metric(len(b), "customers", "Customers"),
        "period_days": Metric(days, "days", "Days covered"),
    }
    customers = b.rename(columns={"revenue_usd": "flat_revenue_usd"}).drop(columns=["flat_revenue_usd"])
    return AnalysisResult(
        name=NAME,
        title=TITLE,
        metrics=metrics,
        tables={"models": models, "segments": by_segment(b), "customers": customers},
        recommendations=_recommendations(models, best, flat),
        methods={
            "flat": REVENUE_METHOD,
            "tiered": "flat + max(0, tokens - included_tokens_month x active_days / 30.4375) / 1000 x overage "
            "rate",
            "usage": f"tokens / 1000 x {price_1k:.6f} USD (fleet cost per 1K tokens x (1 + usage_markup))",
            "hybrid": "hybrid_base_share x flat + cost x (1 + hybrid_markup)",
            "segments": "light <= median tokens < regular <= 90th percentile < heavy",
            "churn": "customers whose bill rises > churn_threshold_pct vs flat; revenue at risk = their new "
            "revenue x churn_probability; risk-adjusted margin = margin - revenue at risk",
            "parameters": ", ".join(f"{k}={v:g}" for k, v in p.items()),
        },
    )


def _num(v: Any) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


def _recommendations(models: pd.DataFrame, best: pd.Series, flat: pd.Series) -> list[Recommendation]:
    recs: list[Recommendation] = []
    uplift = float(best["monthly_risk_adjusted_margin_usd"] - flat["monthly_risk_adjusted_margin_usd"])
    if best["model"] != "flat" and uplift > 0:
        recs.append(
            Recommendation(
                title=f"Move to {best['model']} pricing",
                detail=(
                    f"Margin {_pct(best['margin_pct'])} vs {_pct(flat['margin_pct'])} today; "
                    f"{int(best['customers_paying_more'])} customers pay more, {int(best['churn_risk_customers'])} "
                    "of them enough to be a churn risk (already deducted)."
                ),
                monthly_impact_usd=uplift,
                priority="high" if uplift > 0.05 * max(float(flat["monthly_revenue_usd"]), 1.0) else "medium",
                category="pricing",
            )
        )
    tiered = models[models["model"] == "tiered"].iloc[0]
    gain = float(tiered["monthly_risk_adjusted_margin_usd"] - flat["monthly_risk_adjusted_margin_usd"])
    if best["model"] != "tiered" and gain > 0:
        recs.append(
            Recommendation(
                title="Add overage billing above the included allowance",
                detail=f"{int(tiered['customers_paying_more'])} customers exceed their tier's token allowance.",
                monthly_impact_usd=gain,
                priority="medium",
                category="pricing",
            )
        )
    return recs


def _pct(v: Any) -> str:
    return "n/a" if v is None or pd.isna(v) else f"{float(v):.1f}%"
