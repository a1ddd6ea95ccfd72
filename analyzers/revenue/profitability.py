"""Customer profitability: subscription revenue against the AI cost of serving each customer.

Revenue is the customer's subscription revenue over the analysis window (``metering.subscriptions``:
active days x tier price / days in the month); cost is the sum of the data's ``cost_usd`` (unpriced
calls are counted, never added as $0). Revenue, margin and the loss-making / margin-at-risk flags come
from ``analyzers.common.customer_economics``, the same function the analysis session uses for the
overview cards, so ``gross_margin_pct``, ``loss_making_count`` and ``at_risk_count`` agree.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from analyzers import usage
from analyzers.base import AnalysisContext, AnalysisResult, Metric, Recommendation
from analyzers.common import (
    LOSS_MAKING_METHOD,
    MONTHLY_METHOD,
    PERIOD_METHOD,
    at_risk_method,
    gross_margin_pct,
    monthly,
    plain_keys,
    revenue_method,
)
from metering.subscriptions import UNKNOWN_TIER
from metering.tiers import DAYS_PER_MONTH, Tier

NAME = "profitability"
#: the cube views it reads: the customers' (economics)
VIEWS = usage.VIEWS
TITLE = "Customer Profitability"
DESCRIPTION = "Subscription revenue, cost to serve, margin and margin bands per customer and tier."

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


def customer_margins(
    data: pd.DataFrame | usage.Usage, ctx: AnalysisContext, window: tuple[int, int] | None = None
) -> pd.DataFrame:
    """``common.customer_economics`` plus ``tokens`` and the margin ``band`` of each customer, from call
    rows or a usage (``analyzers.usage.economics``).

    Bands: ">50%", "20-50%" (20 <= pct <= 50), "0-20%" (0 <= pct < 20), "negative", or "unknown tier"
    (no revenue known). Revenue, margin and the flags are exactly those of
    ``analyzers.common.customer_economics`` (the overview cards use the same function).
    """
    u = data if isinstance(data, usage.Usage) else usage.from_frame(data)
    out = usage.economics(u, ctx, window)
    pct = out["margin_pct"].to_numpy(dtype="float64")
    with np.errstate(invalid="ignore"):
        out["band"] = np.select([pct > 50, pct >= 20, pct >= 0, pct < 0], list(BANDS), default=UNKNOWN_BAND)
    return out


def customer_monthly_factor(margins: pd.DataFrame) -> np.ndarray:
    """Per customer, 30.4375 / active_days: turns its figures over the window into monthly ones (0 when
    it had no active day)."""
    days = margins["active_days"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(days > 0, DAYS_PER_MONTH / days, 0.0)


def interventions(margins: pd.DataFrame, tiers: Mapping[str, Tier], at_risk_share: float) -> pd.DataFrame:
    """Monthly $ effect of three interventions for each customer whose margin is at risk.

    Monthly figures of a customer = its figures over the window x 30.4375 / its active days.

    * upgrade: move to the next dearer tier -> + (next price - current monthly revenue) per month;
      offered only when the customer's monthly cost stays under the at-risk line of the next tier's price.
    * cap: cap AI spend at the tier's ``ai_budget_usd_month`` -> saves monthly cost above the budget.
    * usage pricing: bill monthly cost above the at-risk line at cost (cost-plus 0 %) -> + that amount
      (equivalently: cost beyond that share of the subscription becomes billable usage).
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
    bad = margins[margins["at_risk"]]
    if bad.empty:
        return pd.DataFrame(columns=cols)
    f = customer_monthly_factor(bad)
    order = sorted(tiers.values(), key=lambda t: t.price_usd_month)
    next_tier = {t.name: order[i + 1] for i, t in enumerate(order[:-1])}
    tier = bad["tier"].astype("str")
    m_cost = bad["cost_usd"].astype("float64").fillna(0.0).to_numpy() * f
    m_rev = bad["revenue_usd"].astype("float64").fillna(0.0).to_numpy() * f
    nxt_name = tier.map({k: v.name for k, v in next_tier.items()})
    nxt_price = tier.map({k: v.price_usd_month for k, v in next_tier.items()}).astype("float64").to_numpy()
    budget = tier.map({n: t.ai_budget_usd_month for n, t in tiers.items()}).astype("float64").to_numpy()
    upgrade_ok = np.isfinite(nxt_price) & (m_cost <= at_risk_share * np.nan_to_num(nxt_price))
    upgrade = np.where(upgrade_ok, nxt_price - m_rev, 0.0)
    cap = np.maximum(m_cost - np.nan_to_num(budget, nan=np.inf), 0.0)
    usage = np.maximum(m_cost - at_risk_share * m_rev, 0.0)
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
    """Per tier: customers, revenue, cost, margin, margin %, loss-making and margin-at-risk customers."""
    cols = [
        "tier",
        "customers",
        "revenue_usd",
        "cost_usd",
        "margin_usd",
        "margin_pct",
        "loss_making",
        "at_risk",
    ]
    if margins.empty:
        return pd.DataFrame(columns=cols)
    g = margins.groupby("tier", sort=True, observed=True, dropna=False)
    out = g.agg(
        customers=("customer_id", "size"),
        revenue_usd=("revenue_usd", "sum"),
        cost_usd=("cost_usd", "sum"),
        loss_making=("loss_making", "sum"),
        at_risk=("at_risk", "sum"),
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
    return analyze_usage(usage.from_frame(df), ctx)


def analyze_usage(u: usage.Usage, ctx: AnalysisContext) -> AnalysisResult:
    """The analysis of call rows or usage-cube cells (``analyzers.usage``)."""
    days = usage.period_days(u, ctx.as_of)
    f = monthly_factor(days)
    margins = customer_margins(u, ctx, usage.window(u, ctx.as_of))
    revenue = float(margins["revenue_usd"].sum())
    cost = float(margins["cost_usd"].sum())
    known = margins["tier"].to_numpy(dtype=object) != UNKNOWN_TIER
    known_cost = float(margins.loc[known, "cost_usd"].sum())
    gross_pct = gross_margin_pct(revenue, known_cost)
    loss = int(margins["loss_making"].sum())
    risk = int(margins["at_risk"].sum())
    fixes = interventions(margins, ctx.tiers, ctx.at_risk_share)
    unknown = int((~known).sum())
    unpriced = int(margins["unpriced_calls"].sum()) if "unpriced_calls" in margins else 0
    n = len(margins)
    risk_method = at_risk_method(ctx.at_risk_share)

    customers = margins.sort_values("margin_usd", kind="stable").reset_index(drop=True)
    metrics = {
        "customer_count": Metric(n, "customers", "Customers"),
        "revenue_usd": Metric(revenue, "USD", "Revenue (period)", "sum of customers' subscription revenue"),
        "cost_usd": Metric(cost, "USD", "Cost to serve (period)", "sum of cost_usd of priced calls"),
        "margin_usd": Metric(revenue - cost, "USD", "Gross margin (period)", "revenue - cost"),
        "gross_margin_pct": Metric(
            gross_pct,
            "%",
            "Gross margin %",
            "(revenue - cost) / revenue x 100 over customers with a known tier",
        ),
        "loss_making_count": Metric(loss, "customers", "Loss-making customers", LOSS_MAKING_METHOD),
        "at_risk_count": Metric(risk, "customers", "Customers with margin at risk", risk_method),
        "loss_making_share_pct": Metric(loss / n * 100.0 if n else 0.0, "%", "Loss-making share"),
        "at_risk_share_pct": Metric(risk / n * 100.0 if n else 0.0, "%", "Margin-at-risk share"),
        "monthly_revenue_usd": Metric(revenue * f, "USD/month", "Revenue run-rate", MONTHLY_METHOD),
        "monthly_margin_usd": Metric((revenue - cost) * f, "USD/month", "Margin run-rate", MONTHLY_METHOD),
        "intervention_potential_usd_month": Metric(
            float(fixes["best_usd_month"].sum()) if len(fixes) else 0.0,
            "USD/month",
            "Intervention potential",
            "sum over customers with margin at risk of the best intervention's monthly effect",
        ),
        "period_days": Metric(days, "days", "Days covered", PERIOD_METHOD),
        "unpriced_calls": Metric(
            unpriced, "calls", "Unpriced calls", "calls without a catalog price; not in cost"
        ),
        "unknown_tier_customers": Metric(
            unknown, "customers", "Customers with an unknown tier", "never seen with a tier: priced $0"
        ),
    }
    recs = _recommendations(fixes, margins)
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
            "revenue": revenue_method(ctx.churn_after_days),
            "monthly": MONTHLY_METHOD,
            "loss_making": LOSS_MAKING_METHOD,
            "at_risk": risk_method,
            "bands": BANDS_METHOD,
            "gross_margin": "(revenue - cost) / revenue x 100 over customers with a known tier",
            "interventions": interventions.__doc__.split("\n\n", 1)[1].strip()
            if interventions.__doc__
            else "",
        },
    )


def _recommendations(fixes: pd.DataFrame, margins: pd.DataFrame) -> list[Recommendation]:
    recs: list[Recommendation] = []
    if fixes.empty:
        return recs
    for kind, title, what in (
        ("upgrade", "Upgrade heavy users to the next tier", "move to the next tier"),
        ("cap", "Cap AI spend at the tier budget", "cap monthly AI spend at the tier's AI budget"),
        (
            "usage pricing",
            "Bill usage above the margin-at-risk line",
            "bill cost above the at-risk share of the subscription as usage",
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
                detail=f"{len(sel)} customers with margin at risk ({top}{', ...' if len(sel) > 5 else ''}): "
                f"{what}. Assumes their monthly usage stays at the rate of their active days.",
                monthly_impact_usd=total,
                priority="high" if total >= 100 else "medium",
                category="profitability",
            )
        )
    loss = margins[margins["loss_making"]]
    if len(loss):
        monthly_loss = float(-(loss["margin_usd"].to_numpy() * customer_monthly_factor(loss)).sum())
        recs.append(
            Recommendation(
                title=f"{len(loss)} loss-making customers (cost > revenue)",
                detail="Their AI cost exceeds their subscription revenue; review their model mix and limits "
                "first. Impact = their monthly loss at the rate of their active days.",
                monthly_impact_usd=monthly_loss,
                priority="high",
                category="profitability",
            )
        )
    return recs
