"""Feature economics: what each feature costs, who uses it, the revenue it earns and where it goes next.

Attributed revenue: each customer's subscription revenue (``common.customer_economics``) is split over
the features that customer used by call share (``params["features"]["attribution"]``: "calls",
"tokens" or "equal"), so attributed revenue sums to total revenue; cost is each feature's actual cost,
so margins differ by how cost-intensive a feature is. Quadrant: adoption (share of customers using the
feature) against margin %, split at the median adoption of all features and the portfolio margin %.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analyzers import usage
from analyzers.base import MISSING_KEY, AnalysisContext, AnalysisResult, Metric, Recommendation
from analyzers.common import cost_breakdown, gross_margin_pct, key_groups, revenue_method
from analyzers.cube import DAY_MS, PERIOD, View
from analyzers.revenue.profitability import customer_margins, monthly_factor, str_keys

NAME = "features"
#: the cube views it reads: customer x feature over the whole period (usage, first use) and per day
#: (adoption), the totals and the customers' (margins: ``usage.VIEWS``)
CUSTOMER_FEATURE = ("customer_id", "feature_id")
#: the sums the daily adoption reads (the day view keeps only these: it is the largest view)
ADOPTION_SUMS = ("calls", "cost_usd")
VIEWS: tuple[View, ...] = (
    View(CUSTOMER_FEATURE, grain=PERIOD),
    View(CUSTOMER_FEATURE, sums=ADOPTION_SUMS),
    *usage.VIEWS,
)
TITLE = "Feature Economics"
DESCRIPTION = "Cost, adoption, attributed revenue, ROI and invest/maintain/optimize/sunset per feature."

#: how a customer's revenue is split over its features: method -> what the share is
ATTRIBUTIONS: dict[str, str] = {
    "calls": "the feature's share of the customer's calls",
    "tokens": "the feature's share of the customer's tokens (by calls when it has none)",
    "equal": "an equal share for each feature the customer used",
}
DEFAULT_ATTRIBUTION = "calls"


def attribution_method(method: str = DEFAULT_ATTRIBUTION) -> str:
    return (
        f"customer revenue x {ATTRIBUTIONS[method]} (params features.attribution = {method!r}; one of "
        f"{', '.join(ATTRIBUTIONS)}); sums to total revenue; cost is the feature's actual cost"
    )


ATTRIBUTION_METHOD = attribution_method()
QUADRANT_METHOD = (
    "high adoption = adoption_pct >= median adoption of all features; high margin = margin_pct >= "
    "portfolio margin %; invest = high/high, optimize = high adoption + low margin, maintain = low "
    "adoption + high margin, sunset = low/low"
)


def _cust_feature(u: usage.Usage) -> pd.DataFrame:
    """calls, cost_usd, unpriced_calls and tokens per (customer, feature): ``common.cost_breakdown``."""
    keys = list(CUSTOMER_FEATURE)
    p = u.part(*keys)
    out = cost_breakdown(p.keys, keys, measures=p.meas)[
        [*keys, "calls", "cost_usd", "unpriced_calls", "input_tokens", "output_tokens"]
    ]
    out["tokens"] = out.pop("input_tokens") + out.pop("output_tokens")
    return out.sort_values(keys, kind="stable").reset_index(drop=True)


def attribute_revenue(cf: pd.DataFrame, revenue: pd.Series, method: str = DEFAULT_ATTRIBUTION) -> np.ndarray:
    """Revenue attributed to each (customer, feature) row of ``cf`` (see ``attribution_method``)."""
    if method not in ATTRIBUTIONS:
        raise ValueError(
            f"features.attribution: unknown method {method!r}; expected one of {', '.join(ATTRIBUTIONS)}"
        )
    g = cf.groupby("customer_id")
    calls = cf["calls"].to_numpy(dtype="float64")
    share_calls = calls / g["calls"].transform("sum").to_numpy(dtype="float64")
    if method == "calls":
        share = share_calls
    elif method == "equal":
        share = 1.0 / g["calls"].transform("size").to_numpy(dtype="float64")
    else:
        tok = cf["tokens"].to_numpy(dtype="float64")
        cust_tok = g["tokens"].transform("sum").to_numpy(dtype="float64")
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(cust_tok > 0, tok / cust_tok, share_calls)
    rev = revenue.reindex(cf["customer_id"]).to_numpy(dtype="float64")
    return np.nan_to_num(rev) * share


def feature_table(
    data: pd.DataFrame | usage.Usage, margins: pd.DataFrame, method: str = DEFAULT_ATTRIBUTION
) -> pd.DataFrame:
    cols = [
        "feature_id",
        "calls",
        "cost_usd",
        "unpriced_calls",
        "customers",
        "adoption_pct",
        "cost_per_customer_usd",
        "attributed_revenue_usd",
        "margin_usd",
        "margin_pct",
        "roi_pct",
        "first_seen",
        "quadrant",
    ]
    u = data if isinstance(data, usage.Usage) else usage.from_frame(data)
    if not u.calls:
        return pd.DataFrame(columns=cols)
    cf = _cust_feature(u)
    cf["revenue_usd"] = attribute_revenue(cf, margins.set_index("customer_id")["revenue_usd"], method)
    out = cf.groupby("feature_id", sort=True).agg(
        calls=("calls", "sum"),
        cost_usd=("cost_usd", "sum"),
        unpriced_calls=("unpriced_calls", "sum"),
        customers=("customer_id", "size"),
        attributed_revenue_usd=("revenue_usd", "sum"),
    )
    n_customers = cf["customer_id"].nunique()
    out["adoption_pct"] = out["customers"] / n_customers * 100.0
    out["cost_per_customer_usd"] = out["cost_usd"] / out["customers"]
    out["margin_usd"] = out["attributed_revenue_usd"] - out["cost_usd"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["margin_pct"] = np.where(
            out["attributed_revenue_usd"] > 0,
            out["margin_usd"] / out["attributed_revenue_usd"] * 100.0,
            np.nan,
        )
        out["roi_pct"] = np.where(out["cost_usd"] > 0, out["margin_usd"] / out["cost_usd"] * 100.0, np.nan)
    out["first_seen"] = usage.first_seen(u, "feature_id").reindex(out.index)
    portfolio = gross_margin_pct(float(out["attributed_revenue_usd"].sum()), float(out["cost_usd"].sum()))
    hi_adopt = out["adoption_pct"] >= out["adoption_pct"].median()
    hi_margin = out["margin_pct"].fillna(-np.inf) >= (portfolio if portfolio is not None else 0.0)
    out["quadrant"] = np.select(
        [hi_adopt & hi_margin, hi_adopt, hi_margin], ["invest", "optimize", "maintain"], default="sunset"
    )
    return (
        out.reset_index()[cols].sort_values("cost_usd", ascending=False, kind="stable").reset_index(drop=True)
    )


def co_usage(data: pd.DataFrame | usage.Usage) -> pd.DataFrame:
    """Feature pairs used by the same customers: customers_both, Jaccard index and lift (ties in
    customers_both and jaccard: by feature names)."""
    cols = ["feature_a", "feature_b", "customers_both", "jaccard", "lift"]
    u = data if isinstance(data, usage.Usage) else usage.from_frame(data)
    if not u.calls:
        return pd.DataFrame(columns=cols)
    cf = _cust_feature(u)  # sorted by customer, feature
    ci, cu = pd.factorize(cf["customer_id"])
    fi, fu = pd.factorize(cf["feature_id"], sort=True)
    fu = np.asarray(fu.astype("object").astype("str"))
    m = np.zeros((len(cu), len(fu)), dtype=np.int64)
    m[ci, fi] = 1
    both = m.T @ m
    counts = np.diag(both).astype("float64")
    a, b = np.triu_indices(len(fu), k=1)
    n = float(len(cu))
    inter = both[a, b].astype("float64")
    union = counts[a] + counts[b] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        out = pd.DataFrame(
            {
                "feature_a": np.asarray(fu)[a],
                "feature_b": np.asarray(fu)[b],
                "customers_both": inter.astype("int64"),
                "jaccard": np.where(union > 0, inter / union, 0.0),
                "lift": np.where(counts[a] * counts[b] > 0, inter * n / (counts[a] * counts[b]), np.nan),
            }
        )
    # name order within a pair is alphabetical so the same pair always reads the same way
    swap = out["feature_a"] > out["feature_b"]
    out.loc[swap, ["feature_a", "feature_b"]] = out.loc[swap, ["feature_b", "feature_a"]].to_numpy()
    out = out[out["customers_both"] > 0].sort_values(["feature_a", "feature_b"], kind="stable")
    return (
        out[cols]
        .sort_values(["customers_both", "jaccard"], ascending=False, kind="stable")
        .reset_index(drop=True)
    )


def adoption_daily(data: pd.DataFrame | usage.Usage) -> pd.DataFrame:
    """Per UTC day and feature: distinct customers, calls and cost (long format)."""
    cols = ["date", "feature_id", "customers", "calls", "cost_usd"]
    u = data if isinstance(data, usage.Usage) else usage.from_frame(data)
    if not u.calls:
        return pd.DataFrame(columns=cols)
    # one group per (day, feature, customer) on the category codes, then counted per (day, feature): no
    # string per row or cell; a missing customer ("(none)") is not counted, as nunique skips it
    p = u.part(*CUSTOMER_FEATURE, daily=True, sums=ADOPTION_SUMS)
    keys = pd.DataFrame(
        {"day": p.day, "feature_id": p.keys["feature_id"], "customer_id": p.keys["customer_id"]}
    )
    gid, d = key_groups(keys, ["day", "feature_id", "customer_id"])
    d["calls"] = np.rint(np.bincount(gid, weights=p.meas["calls"], minlength=len(d))).astype("int64")
    d["cost_usd"] = np.bincount(gid, weights=p.meas["cost_usd"], minlength=len(d))
    d["customers"] = (d["customer_id"] != MISSING_KEY).astype("int64")
    out = d.groupby(["day", "feature_id"], sort=True)[["customers", "calls", "cost_usd"]].sum().reset_index()
    out.insert(0, "date", pd.to_datetime(out["day"].to_numpy(dtype="int64") * DAY_MS, unit="ms", utc=True))
    return str_keys(out, ["feature_id"])[cols]


def analyze(df: pd.DataFrame, ctx: AnalysisContext) -> AnalysisResult:
    return analyze_usage(usage.from_frame(df), ctx)


def analyze_usage(u: usage.Usage, ctx: AnalysisContext) -> AnalysisResult:
    """The analysis of call rows or usage-cube cells (``analyzers.usage``)."""
    days = usage.period_days(u, ctx.as_of)
    f = monthly_factor(days)
    margins = customer_margins(u, ctx)
    method = str((ctx.params.get("features") or {}).get("attribution", DEFAULT_ATTRIBUTION))
    table = feature_table(u, margins, method)
    pairs = co_usage(u)
    revenue = float(table["attributed_revenue_usd"].sum()) if len(table) else 0.0
    cost = float(table["cost_usd"].sum()) if len(table) else 0.0
    top = table.iloc[0] if len(table) else None
    metrics = {
        "feature_count": Metric(len(table), "features", "Features"),
        "total_cost_usd": Metric(cost, "USD", "Feature cost (period)"),
        "attributed_revenue_usd": Metric(
            revenue, "USD", "Attributed revenue (period)", attribution_method(method)
        ),
        "portfolio_margin_pct": Metric(gross_margin_pct(revenue, cost), "%", "Portfolio margin %"),
        "top_feature": Metric(None if top is None else str(top["feature_id"]), "", "Costliest feature"),
        "median_adoption_pct": Metric(
            float(table["adoption_pct"].median()) if len(table) else None, "%", "Median adoption"
        ),
        "sunset_candidates": Metric(
            int((table["quadrant"] == "sunset").sum()) if len(table) else 0, "features", "Sunset candidates"
        ),
        "period_days": Metric(days, "days", "Days covered"),
    }
    return AnalysisResult(
        name=NAME,
        title=TITLE,
        metrics=metrics,
        tables={"features": table, "co_usage": pairs, "adoption_daily": adoption_daily(u)},
        recommendations=_recommendations(table, f),
        methods={
            "attribution": attribution_method(method),
            "revenue": revenue_method(ctx.churn_after_days),
            "quadrant": QUADRANT_METHOD,
            "adoption": "adoption_pct = customers who used the feature / customers in the data x 100",
            "co_usage": "pairs of features used by the same customer; jaccard = both / either; lift = both x "
            "customers / (customers_a x customers_b)",
        },
    )


def _recommendations(table: pd.DataFrame, f: float) -> list[Recommendation]:
    recs: list[Recommendation] = []
    for row in table[table["quadrant"] == "optimize"].head(3).itertuples():
        # bringing the feature to break-even (or halving its loss) is the stated target
        gap = max(-row.margin_usd, row.cost_usd * 0.2) * f
        recs.append(
            Recommendation(
                title=f"Optimize {row.feature_id}: widely used, thin margin",
                detail=f"{row.adoption_pct:.0f}% of customers; margin {row.margin_pct:.0f}% "
                "(impact: closing the loss, or 20% of its cost when profitable, via cheaper models/caching).",
                monthly_impact_usd=float(gap),
                priority="high" if row.margin_usd < 0 else "medium",
                category="features",
            )
        )
    for row in table[table["quadrant"] == "sunset"].head(3).itertuples():
        loss = max(-row.margin_usd, 0.0) * f
        recs.append(
            Recommendation(
                title=f"Review {row.feature_id}: low adoption, low margin",
                detail=f"{row.customers} customers ({row.adoption_pct:.0f}%); cost ${row.cost_usd * f:,.2f}/month.",
                monthly_impact_usd=float(loss),
                priority="low",
                category="features",
            )
        )
    return recs
