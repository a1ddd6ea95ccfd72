"""Organizational alignment: chargeback and showback that add up to the cent.

Costs are allocated at the leaf (organization, product, feature, environment) and rounded to cents
with the largest-remainder method, so the leaf cents sum exactly to the rounded total and every
organization and product total is the exact sum of its leaves. Showback shows the same cost unrounded
and split by environment; statements are invoice-ready rows per organization.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analyzers import cube as cubes
from analyzers import usage
from analyzers.base import AnalysisContext, AnalysisResult, Metric, Recommendation
from analyzers.common import cost_breakdown, days_between
from analyzers.revenue.profitability import monthly_factor, str_keys

NAME = "alignment"
TITLE = "Organizational Alignment"
DESCRIPTION = "Chargeback and showback per organization, product and feature by environment; efficiency."

LEAF = ["organization_id", "product_id", "feature_id", "environment"]
#: the cube view it reads: the leaf (the efficiency table's organization x environment is within it)
VIEWS: tuple[cubes.View, ...] = (cubes.View(tuple(LEAF), grain=cubes.PERIOD), *usage.VIEWS)
#: an organization whose cost per 1K tokens exceeds the fleet's by this factor is flagged
EFFICIENCY_FLAG = 1.5
#: share of spend outside production above which we recommend a review
NONPROD_SHARE_FLAG = 0.10
ALLOCATION_METHOD = (
    "largest remainder: each leaf gets floor(cost x 100) cents; the cents missing to round(total x 100) "
    "go one each to the leaves with the largest fractional remainders (ties: larger cost first)"
)


def allocate_cents(amounts: np.ndarray | pd.Series) -> np.ndarray:
    """Round non-negative amounts (USD) to cents so that they sum exactly to the total rounded to cents
    (half a cent up).

    Returns integer cents. Largest-remainder (Hamilton) method; deterministic tie-break by amount
    then position.
    """
    a = np.nan_to_num(np.asarray(amounts, dtype=np.float64), nan=0.0) * 100.0
    if a.size == 0:
        return np.zeros(0, dtype=np.int64)
    floors = np.floor(a)
    target = int(np.floor(a.sum() + 0.5))  # half a cent rounds up, as on an invoice
    missing = target - int(floors.sum())
    cents = floors.astype(np.int64)
    if missing > 0:
        frac = a - floors
        order = np.lexsort((np.arange(a.size), -a, -frac))
        cents[order[:missing]] += 1
    elif missing < 0:  # only possible through float noise: take back from the smallest remainders
        frac = a - floors
        order = np.lexsort((np.arange(a.size), a, frac))
        order = order[cents[order] > 0]
        cents[order[:-missing]] -= 1
    return cents


def _leaf_table(u: usage.Usage) -> pd.DataFrame:
    """cost_breakdown at the leaf, in hierarchy order, with ``tokens`` and cents-exact ``allocated_usd``."""
    p = u.part(*LEAF)
    out = (
        cost_breakdown(p.keys, LEAF, measures=p.meas).sort_values(LEAF, kind="stable").reset_index(drop=True)
    )
    out["tokens"] = out["input_tokens"] + out["output_tokens"]
    out["allocated_usd"] = allocate_cents(out["cost_usd"].to_numpy()) / 100.0
    return out[
        [*LEAF, "calls", "cost_usd", "allocated_usd", "share_pct", "unpriced_calls", "error_calls", "tokens"]
    ]


def _roll_up(leaf: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    cols = ["calls", "cost_usd", "allocated_usd", "unpriced_calls", "error_calls", "tokens"]
    out = leaf.groupby(keys, sort=True)[cols].sum().reset_index()
    # cents are integers: re-derive from integer cents to keep sums exact in float
    out["allocated_usd"] = np.rint(out["allocated_usd"] * 100.0) / 100.0
    return out


def showback(leaf: pd.DataFrame) -> pd.DataFrame:
    """Organization -> product -> feature with one unrounded cost column per environment and a total."""
    keys = ["organization_id", "product_id", "feature_id"]
    if leaf.empty:
        return pd.DataFrame(columns=[*keys, "production", "staging", "development", "total_usd"])
    wide = leaf.pivot_table(
        index=keys, columns="environment", values="cost_usd", aggfunc="sum", fill_value=0.0
    )
    envs = ["production", "staging", "development"]
    wide = wide.reindex(columns=[*envs, *sorted(set(wide.columns) - set(envs))], fill_value=0.0)
    wide.columns = [str(c) for c in wide.columns]
    wide["total_usd"] = wide.sum(axis=1)
    return wide.reset_index()


def efficiency(u: usage.Usage) -> pd.DataFrame:
    """Per organization: cost per call and per 1K tokens, and their ratio to the fleet's."""
    cols = [
        "organization_id",
        "calls",
        "cost_usd",
        "tokens",
        "cost_per_call_usd",
        "cost_per_1k_tokens_usd",
        "fleet_cost_per_call_usd",
        "fleet_cost_per_1k_tokens_usd",
        "cost_per_call_index",
        "cost_per_1k_index",
        "nonprod_share_pct",
    ]
    if not u.calls:
        return pd.DataFrame(columns=cols)
    p = u.part("organization_id", "environment")
    m, env = p.meas, p.keys["environment"]
    d = pd.DataFrame(
        {
            "organization_id": p.keys["organization_id"],
            "calls": m["calls"] - m["unpriced_calls"],
            "cost_usd": m["cost_usd"],
            "tokens": m["priced_tokens"],
            "nonprod": np.where((env != "production").to_numpy(dtype=bool), m["cost_usd"], 0.0),
        }
    )
    out = str_keys(
        d.groupby("organization_id", observed=True, dropna=False).sum().reset_index(), ["organization_id"]
    )
    fleet_call = out["cost_usd"].sum() / max(int(out["calls"].sum()), 1)
    fleet_1k = out["cost_usd"].sum() / max(int(out["tokens"].sum()), 1) * 1000.0
    with np.errstate(divide="ignore", invalid="ignore"):
        out["cost_per_call_usd"] = np.where(out["calls"] > 0, out["cost_usd"] / out["calls"], np.nan)
        out["cost_per_1k_tokens_usd"] = np.where(
            out["tokens"] > 0, out["cost_usd"] / out["tokens"] * 1000.0, np.nan
        )
        out["cost_per_call_index"] = out["cost_per_call_usd"] / fleet_call if fleet_call > 0 else np.nan
        out["cost_per_1k_index"] = out["cost_per_1k_tokens_usd"] / fleet_1k if fleet_1k > 0 else np.nan
        out["nonprod_share_pct"] = np.where(
            out["cost_usd"] > 0, out["nonprod"] / out["cost_usd"] * 100.0, 0.0
        )
    out["fleet_cost_per_call_usd"] = fleet_call
    out["fleet_cost_per_1k_tokens_usd"] = fleet_1k
    return out[cols].sort_values("cost_usd", ascending=False, kind="stable").reset_index(drop=True)


def statements(leaf: pd.DataFrame, start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.DataFrame:
    """Invoice-ready lines: one per organization, product and environment, amounts in cents-exact USD."""
    cols = [
        "organization_id",
        "line",
        "product_id",
        "environment",
        "description",
        "calls",
        "tokens",
        "amount_usd",
        "period_start",
        "period_end",
    ]
    if leaf.empty:
        return pd.DataFrame(columns=cols)
    lines = _roll_up(leaf, ["organization_id", "product_id", "environment"])
    lines["line"] = lines.groupby("organization_id").cumcount() + 1
    lines["description"] = (
        "AI usage - "
        + lines["product_id"]
        + " ("
        + lines["environment"]
        + "): "
        + lines["calls"].map("{:,}".format)
        + " calls, "
        + lines["tokens"].map("{:,}".format)
        + " tokens"
    )
    lines["amount_usd"] = lines["allocated_usd"]
    lines["period_start"] = start
    lines["period_end"] = end
    return lines[cols]


def analyze(df: pd.DataFrame, ctx: AnalysisContext) -> AnalysisResult:
    return analyze_usage(usage.from_frame(df), ctx)


def analyze_usage(u: usage.Usage, ctx: AnalysisContext) -> AnalysisResult:
    """The analysis of call rows or usage-cube cells (``analyzers.usage``)."""
    start, end = u.first, u.last
    days = days_between(start, end) if u.calls else 0.0
    f = monthly_factor(days)
    leaf = _leaf_table(u)
    total = float(leaf["cost_usd"].sum()) if len(leaf) else 0.0
    allocated = float(np.rint(leaf["allocated_usd"].sum() * 100) / 100) if len(leaf) else 0.0
    orgs = _roll_up(leaf, ["organization_id"])
    products = _roll_up(leaf, ["organization_id", "product_id"])
    by_env = _roll_up(leaf, ["environment"])
    eff = efficiency(u)
    nonprod = float(leaf.loc[leaf["environment"] != "production", "cost_usd"].sum()) if len(leaf) else 0.0
    metrics = {
        "total_cost_usd": Metric(total, "USD", "Total cost", "sum of cost_usd of priced calls"),
        "allocated_total_usd": Metric(allocated, "USD", "Allocated (cents)", ALLOCATION_METHOD),
        "organization_count": Metric(
            int(leaf["organization_id"].nunique()) if len(leaf) else 0, "orgs", "Organizations"
        ),
        "allocation_lines": Metric(len(leaf), "lines", "Chargeback lines"),
        "nonprod_cost_usd": Metric(nonprod, "USD", "Staging + development cost"),
        "nonprod_share_pct": Metric(nonprod / total * 100.0 if total else 0.0, "%", "Non-production share"),
        "unpriced_calls": Metric(
            int(leaf["unpriced_calls"].sum()) if len(leaf) else 0, "calls", "Unpriced calls", "not allocated"
        ),
        "period_days": Metric(days, "days", "Days covered"),
    }
    return AnalysisResult(
        name=NAME,
        title=TITLE,
        metrics=metrics,
        tables={
            "chargeback": leaf,
            "organizations": orgs,
            "products": products,
            "environments": by_env,
            "showback": showback(leaf),
            "efficiency": eff,
            "statements": statements(leaf, start, end),
        },
        recommendations=_recommendations(eff, f),
        methods={
            "allocation": ALLOCATION_METHOD,
            "efficiency": "index = organization's cost per call (per 1K tokens) / fleet's; priced calls only",
            "monthly": f"monthly = period figure x 30.4375 / {days:.2f} days",
            "focus": "the FOCUS export is analyzers.focus.focus_frame (revenium-flow export --format focus)",
        },
    )


def _recommendations(eff: pd.DataFrame, f: float) -> list[Recommendation]:
    recs: list[Recommendation] = []
    if eff.empty:
        return recs
    hot = eff[eff["cost_per_1k_index"] >= EFFICIENCY_FLAG]
    for row in hot.head(5).itertuples():
        excess = (row.cost_per_1k_tokens_usd - row.fleet_cost_per_1k_tokens_usd) * row.tokens / 1000.0 * f
        recs.append(
            Recommendation(
                title=f"{row.organization_id} pays {row.cost_per_1k_index:.1f}x the fleet per 1K tokens",
                detail=(
                    f"${row.cost_per_1k_tokens_usd:.4f} per 1K tokens vs ${row.fleet_cost_per_1k_tokens_usd:.4f} "
                    "for the fleet; moving its model mix to the fleet average saves the difference."
                ),
                monthly_impact_usd=float(excess),
                priority="high" if row.cost_per_1k_index >= 2 else "medium",
                category="alignment",
            )
        )
    noisy = eff[eff["nonprod_share_pct"] > NONPROD_SHARE_FLAG * 100]
    for row in noisy.head(5).itertuples():
        waste = row.cost_usd * row.nonprod_share_pct / 100.0 * f
        recs.append(
            Recommendation(
                title=f"{row.organization_id}: {row.nonprod_share_pct:.0f}% of spend outside production",
                detail=(
                    "Staging and development traffic on production models; route it to cheaper models or cap it "
                    "(impact assumes half of that spend can be saved)."
                ),
                monthly_impact_usd=float(waste * 0.5),
                priority="low",
                category="alignment",
            )
        )
    return recs
