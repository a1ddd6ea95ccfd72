"""Customer profitability: subscription revenue against the AI cost of serving each customer.

Revenue is the customer's tier price pro-rated to the period the data covers; cost is the sum of the
data's ``cost_usd`` (unpriced calls are counted, never added as $0). Revenue, margin and the
unprofitable flag come from ``analyzers.common.customer_economics``, the same function the analysis
session uses for the overview cards, so ``gross_margin_pct`` and ``unprofitable_customers`` agree.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from analyzers.base import AnalysisContext, AnalysisResult, Metric, Recommendation
from analyzers.common import (
    MONTHLY_METHOD,
    PERIOD_METHOD,
    REVENUE_METHOD,
    UNPROFITABLE_COST_SHARE,
    UNPROFITABLE_METHOD,
    customer_economics,
    gross_margin_pct,
    monthly,
    period_days,
    plain_keys,
)
from metering.tiers import Tier

NAME = "profitability"
TITLE = "Customer Profitability"
DESCRIPTION = "Revenue (pro-rated tier price), cost to serve, margin and margin bands per customer and tier."

BANDS = (">50%", "20-50%", "0-20%", "negative")
UNKNOWN_BAND = "unknown tier"
BANDS_METHOD = "margin_pct > 50; 20 <= margin_pct <= 50; 0 <= margin_pct < 20; margin_pct < 0"


def str_keys(out: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Group-key columns of a (small) grouped result as plain strings (``common.plain_keys``); the
    grouping itself stays on the categorical columns, far cheaper than converting every row first."""
    for k in keys:
        out[k] = plain_keys(out[k])
    return out


def monthly_factor(days: float) -> float:
    """``common.monthly`` of $1: the multiplier turning a figure for the period into a monthly one."""
    return monthly(1.0, days)


def customer_margins(df: pd.DataFrame, tiers: Mapping[str, Tier], days: float | None = None) -> pd.DataFrame:
    """``common.customer_economics`` plus ``tokens`` and the margin ``band`` of each customer.

    Bands: ">50%", "20-50%" (20 <= pct <= 50), "0-20%" (0 <= pct < 20), "negative", or "unknown tier"
    (no revenue known). Revenue, margin and the unprofitable flag are exactly those of
    ``analyzers.common.customer_economics`` (the overview cards use the same function).
    """
    days = period_days(df) if days is None else days
    out = customer_economics(df, dict(tiers), days)
    if len(df):
        tok = (
            (df["input_tokens"].astype("int64") + df["output_tokens"].astype("int64"))
            .groupby(df["customer_id"], observed=True, dropna=False)
            .sum()
        )
        tok.index = tok.index.astype("object").fillna("(none)").astype("str")
        out["tokens"] = tok.reindex(out["customer_id"].astype("str")).fillna(0).astype("int64").to_numpy()
    else:
        out["tokens"] = pd.Series(dtype="int64")
    pct = out["margin_pct"].to_numpy(dtype="float64")
    with np.errstate(invalid="ignore"):
        out["band"] = np.select([pct > 50, pct >= 20, pct >= 0, pct < 0], list(BANDS), default=UNKNOWN_BAND)
    return out


def interventions(margins: pd.DataFrame, days: float, tiers: Mapping[str, Tier]) -> pd.DataFrame:
    """Monthly $ effect of three interventions for each unprofitable customer.

    * upgrade: move to the next dearer tier -> + (next price - current price) per month; offered only
      when the customer's monthly cost stays <= 80 % of the next tier's price.
    * cap: cap AI spend at the tier's ``ai_budget_usd_month`` -> saves monthly cost above the budget.
    * usage pricing: bill monthly cost above the 80 % line at cost (cost-plus 0 %) -> + that amount
      (equivalently: cost beyond 80 % of the subscription becomes billable usage).
    ``best`` is the intervention with the largest monthly effect.
    """
    cols = [
        "customer_id",
        "subscription_tier",
        "monthly_cost_usd",
        "monthly_revenue_usd",
        "upgrade_to",
        "upgrade_usd_month",
        "cap_usd_month",
        "usage_pricing_usd_month",
        "best",
        "best_usd_month",
    ]
    bad = margins[margins["unprofitable"]]
    if bad.empty:
        return pd.DataFrame(columns=cols)
    f = monthly_factor(days)
    order = sorted(tiers.values(), key=lambda t: t.price_usd_month)
    next_tier = {t.name: order[i + 1] for i, t in enumerate(order[:-1])}
    tier = bad["subscription_tier"].astype("str")
    m_cost = bad["cost_usd"].astype("float64").fillna(0.0).to_numpy() * f
    m_rev = bad["revenue_usd"].astype("float64").fillna(0.0).to_numpy() * f
    nxt_name = tier.map({k: v.name for k, v in next_tier.items()})
    nxt_price = tier.map({k: v.price_usd_month for k, v in next_tier.items()}).astype("float64").to_numpy()
    budget = tier.map({n: t.ai_budget_usd_month for n, t in tiers.items()}).astype("float64").to_numpy()
    upgrade_ok = np.isfinite(nxt_price) & (m_cost <= UNPROFITABLE_COST_SHARE * np.nan_to_num(nxt_price))
    upgrade = np.where(upgrade_ok, nxt_price - m_rev, 0.0)
    cap = np.maximum(m_cost - np.nan_to_num(budget, nan=np.inf), 0.0)
    usage = np.maximum(m_cost - UNPROFITABLE_COST_SHARE * m_rev, 0.0)
    effects = np.column_stack([upgrade, cap, usage])
    names = np.array(["upgrade", "cap", "usage pricing"])
    best = effects.argmax(axis=1)
    out = pd.DataFrame(
        {
            "customer_id": bad["customer_id"].astype("str").to_numpy(),
            "subscription_tier": tier.to_numpy(),
            "monthly_cost_usd": m_cost,
            "monthly_revenue_usd": m_rev,
            "upgrade_to": np.where(upgrade_ok, nxt_name.fillna("").to_numpy(), ""),
            "upgrade_usd_month": upgrade,
            "cap_usd_month": cap,
            "usage_pricing_usd_month": usage,
            "best": names[best],
            "best_usd_month": effects.max(axis=1),
        }
    )
    return out.sort_values("best_usd_month", ascending=False, kind="stable").reset_index(drop=True)


def tier_summary(margins: pd.DataFrame) -> pd.DataFrame:
    """Per tier: customers, revenue, cost, margin, margin %, unprofitable customers."""
    cols = [
        "subscription_tier",
        "customers",
        "revenue_usd",
        "cost_usd",
        "margin_usd",
        "margin_pct",
        "unprofitable",
    ]
    if margins.empty:
        return pd.DataFrame(columns=cols)
    g = margins.groupby("subscription_tier", sort=True, observed=True, dropna=False)
    out = g.agg(
        customers=("customer_id", "size"),
        revenue_usd=("revenue_usd", "sum"),
        cost_usd=("cost_usd", "sum"),
        unprofitable=("unprofitable", "sum"),
    ).reset_index()
    out["margin_usd"] = out["revenue_usd"] - out["cost_usd"]
    out["margin_pct"] = np.where(
        out["revenue_usd"] > 0, out["margin_usd"] / out["revenue_usd"] * 100.0, np.nan
    )
    return out[cols]


def band_summary(margins: pd.DataFrame) -> pd.DataFrame:
    """Customers, revenue, cost and margin per margin band (every band listed, empty ones as 0)."""
    names = [*BANDS, UNKNOWN_BAND]
    g = margins.groupby("band", sort=False)
    out = pd.DataFrame(
        {
            "customers": g.size(),
            "revenue_usd": g["revenue_usd"].sum(),
            "cost_usd": g["cost_usd"].sum(),
            "margin_usd": g["margin_usd"].sum(),
        }
    ).reindex(names, fill_value=0)
    out = out.rename_axis("band").reset_index()
    out["customers"] = out["customers"].astype("int64")
    return out[(out["band"] != UNKNOWN_BAND) | (out["customers"] > 0)].reset_index(drop=True)


def analyze(df: pd.DataFrame, ctx: AnalysisContext) -> AnalysisResult:
    days = period_days(df)
    f = monthly_factor(days)
    margins = customer_margins(df, ctx.tiers, days)
    revenue = float(margins["revenue_usd"].sum())
    cost = float(margins["cost_usd"].sum())
    known_cost = float(margins.loc[margins["revenue_usd"].notna(), "cost_usd"].sum())
    gross_pct = gross_margin_pct(revenue, known_cost)
    unprofitable = int(margins["unprofitable"].sum())
    fixes = interventions(margins, days, ctx.tiers)
    unknown = int(margins["revenue_usd"].isna().sum())
    unpriced = int(margins["unpriced_calls"].sum()) if "unpriced_calls" in margins else 0

    customers = margins.sort_values("margin_usd", kind="stable").reset_index(drop=True)
    metrics = {
        "customer_count": Metric(len(margins), "customers", "Customers"),
        "revenue_usd": Metric(revenue, "USD", "Revenue (period)", "sum of pro-rated tier prices"),
        "cost_usd": Metric(cost, "USD", "Cost to serve (period)", "sum of cost_usd of priced calls"),
        "margin_usd": Metric(revenue - cost, "USD", "Gross margin (period)", "revenue - cost"),
        "gross_margin_pct": Metric(gross_pct, "%", "Gross margin %", "(revenue - cost) / revenue x 100"),
        "unprofitable_count": Metric(
            unprofitable, "customers", "Unprofitable customers", "cost > 80 % of revenue"
        ),
        "unprofitable_share_pct": Metric(
            unprofitable / len(margins) * 100.0 if len(margins) else 0.0, "%", "Unprofitable share"
        ),
        "monthly_revenue_usd": Metric(revenue * f, "USD/month", "Revenue run-rate", MONTHLY_METHOD),
        "monthly_margin_usd": Metric((revenue - cost) * f, "USD/month", "Margin run-rate", MONTHLY_METHOD),
        "intervention_potential_usd_month": Metric(
            float(fixes["best_usd_month"].sum()) if len(fixes) else 0.0,
            "USD/month",
            "Intervention potential",
            "sum over unprofitable customers of the best intervention's monthly effect",
        ),
        "period_days": Metric(days, "days", "Days covered", PERIOD_METHOD),
        "unpriced_calls": Metric(
            unpriced, "calls", "Unpriced calls", "calls without a catalog price; not in cost"
        ),
        "unknown_tier_customers": Metric(unknown, "customers", "Customers with an unknown tier"),
    }
    recs = _recommendations(fixes, margins, f)
    return AnalysisResult(
        name=NAME,
        title=TITLE,
        metrics=metrics,
        tables={
            "customers": customers,
            "tiers": tier_summary(margins),
            "bands": band_summary(margins),
            "interventions": fixes,
        },
        recommendations=recs,
        methods={
            "period": PERIOD_METHOD,
            "revenue": REVENUE_METHOD,
            "monthly": MONTHLY_METHOD,
            "unprofitable": UNPROFITABLE_METHOD,
            "bands": BANDS_METHOD,
            "gross_margin": "(revenue - cost) / revenue x 100 over customers whose tier has a price",
            "interventions": interventions.__doc__.split("\n\n", 1)[1].strip()
            if interventions.__doc__
            else "",
        },
    )


def _recommendations(fixes: pd.DataFrame, margins: pd.DataFrame, f: float) -> list[Recommendation]:
    recs: list[Recommendation] = []
    if fixes.empty:
        return recs
    for kind, title, what in (
        ("upgrade", "Upgrade heavy users to the next tier", "move to the next tier"),
        ("cap", "Cap AI spend at the tier budget", "cap monthly AI spend at the tier's AI budget"),
        (
            "usage pricing",
            "Bill usage above the 80 % line",
            "bill cost above 80 % of the subscription as usage",
        ),
    ):
        sel = fixes[fixes["best"] == kind]
        if sel.empty:
            continue
        total = float(sel["best_usd_month"].sum())
        top = ", ".join(sel["customer_id"].head(5))
        recs.append(
            Recommendation(
                title=title,
                detail=f"{len(sel)} unprofitable customers ({top}{', ...' if len(sel) > 5 else ''}): {what}.",
                monthly_impact_usd=total,
                priority="high" if total >= 100 else "medium",
                category="profitability",
            )
        )
    neg = margins[margins["band"] == "negative"]
    if len(neg):
        loss = float(-neg["margin_usd"].sum()) * f
        recs.append(
            Recommendation(
                title=f"{len(neg)} customers cost more than they pay",
                detail="Their AI cost exceeds their subscription; review their model mix and limits first.",
                monthly_impact_usd=loss,
                priority="high",
                category="profitability",
            )
        )
    return recs
