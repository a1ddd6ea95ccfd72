"""Understanding usage & cost: where the money goes, how it moves over time, and where it is heading.

Totals; cost and calls by provider, model, customer, organization, product, feature, tier,
environment; the organization -> product -> model hierarchy; cost per 1K tokens by model; the
input/output ratio; daily, hourly and weekday patterns; 30- and 90-day forecasts; top spenders.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analyzers import cube as cubes
from analyzers import usage
from analyzers.base import AnalysisContext, AnalysisResult, Metric, Recommendation
from analyzers.common import (
    BACKTEST_BLOCK_DAYS,
    FORECAST_METHOD,
    MONTHLY_METHOD,
    PERIOD_METHOD,
    RUN_RATE_METHOD,
    as_of_ts,
    cost_breakdown,
    cost_forecast,
    days_between,
    fmt_pct,
    fmt_usd,
    key_groups,
    monthly,
    run_rate,
)
from metering.tiers import DAYS_PER_MONTH

HOUR_MS = cubes.HOUR_MS
DAY_MS = cubes.DAY_MS
NAME = "understanding"
TITLE = "Understanding usage & cost"
DESCRIPTION = (
    "Totals and allocation by provider, model, customer, organization, product, feature, tier and "
    "environment; the organization → product → model hierarchy; cost per 1K tokens; daily, hourly and "
    "weekday patterns; 30- and 90-day forecasts with an interval and backtest error; top spenders."
)

#: breakdown table name -> grouping column(s)
BREAKDOWNS: dict[str, list[str]] = {
    "cost_by_provider": ["provider"],
    "cost_by_model": ["provider", "model"],
    "cost_by_customer": ["customer_id"],
    "cost_by_organization": ["organization_id"],
    "cost_by_product": ["product_id"],
    "cost_by_feature": ["feature_id"],
    "cost_by_tier": ["subscription_tier"],
    "cost_by_environment": ["environment"],
    "cost_by_task_type": ["task_type"],
    "cost_by_source": ["source"],
    "cost_by_api_key": ["api_key_id"],
    "cost_by_operation_type": ["operation_type"],
    "cost_by_transaction_name": ["transaction_name"],
}
HIERARCHY = ["organization_id", "product_id", "model"]
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
TOP_N = 10


#: the daily series per provider and per model (table name -> column)
DAILY_BY: dict[str, str] = {"daily_by_provider": "provider", "daily_by_model": "model"}
#: the top spenders' organization: each customer's most frequent one
CUSTOMER_ORG = ["customer_id", "organization_id"]

#: distinct-count metrics -> (column, label)
DISTINCT: dict[str, tuple[str, str]] = {
    "customers": ("customer_id", "Customers"),
    "organizations": ("organization_id", "Organizations"),
    "products": ("product_id", "Products"),
    "models": ("model", "Models"),
    "providers": ("provider", "Providers"),
}


#: the cube views it reads: over the whole period one per breakdown (each distinct count is within one),
#: the hierarchy and the top spenders' organization; per day the series per provider and per model; the
#: totals, days and customers' tiers (``usage.VIEWS``) and the hours (``cube.SIDE_VIEW``)
VIEWS: tuple[cubes.View, ...] = (
    *(cubes.View(tuple(keys), grain=cubes.PERIOD) for keys in BREAKDOWNS.values()),
    cubes.View(tuple(HIERARCHY), grain=cubes.PERIOD),
    *(cubes.View((col,)) for col in DAILY_BY.values()),
    cubes.View(tuple(CUSTOMER_ORG), grain=cubes.PERIOD),
    *usage.VIEWS,
    cubes.SIDE_VIEW,
)


def analyze(df: pd.DataFrame, ctx: AnalysisContext) -> AnalysisResult:
    return analyze_usage(usage.from_frame(df), ctx)


def analyze_usage(u: usage.Usage, ctx: AnalysisContext) -> AnalysisResult:
    """The analysis of call rows or usage-cube cells (``analyzers.usage``)."""
    res = AnalysisResult(NAME, TITLE)
    p = ctx.params.get(NAME, {})
    top_n = int(p.get("top_n", TOP_N))
    meas = u.meas
    n = int(meas["calls"].sum())
    unpriced = int(meas["unpriced_calls"].sum())
    priced_n = n - unpriced
    total = float(meas["cost_usd"].sum()) if n else 0.0
    inp_sum = int(meas["input_tokens"].sum())
    out_sum = int(meas["output_tokens"].sum())
    first, last = u.first, u.last
    as_of = as_of_ts(pd.DataFrame(), ctx.as_of) if ctx.as_of is not None else last
    days = days_between(first, last) if n else 0.0
    priced_tokens = int(meas["priced_tokens"].sum())
    m = res.metrics
    m["total_cost_usd"] = Metric(total, "USD", "Total cost", "sum of cost_usd over priced calls")
    m["calls"] = Metric(n, "calls", "Calls", "number of rows")
    m["priced_calls"] = Metric(priced_n, "calls", "Priced calls", "calls with a cost_usd")
    m["unpriced_calls"] = Metric(
        unpriced, "calls", "Unpriced calls", "calls whose model has no price (cost_usd empty)"
    )
    m["unpriced_pct"] = Metric(
        float(unpriced / n * 100) if n else 0.0,
        "%",
        "Unpriced share",
        "unpriced calls / calls x 100",
    )
    m["error_calls"] = Metric(
        int(meas["error_calls"].sum()), "calls", "Failed calls", "stop_reason in TIMEOUT, ERROR, CANCELLED"
    )
    m["error_cost_usd"] = Metric(
        float(meas["error_cost_usd"].sum()) if n else 0.0,
        "USD",
        "Cost of failed calls",
        "sum of cost_usd of failed calls",
    )
    m["cost_per_call_usd"] = Metric(
        total / priced_n if priced_n else None,
        "USD/call",
        "Cost per call",
        "total cost / priced calls",
    )
    m["input_tokens"] = Metric(inp_sum, "tokens", "Input tokens", "sum of input_tokens")
    m["output_tokens"] = Metric(out_sum, "tokens", "Output tokens", "sum of output_tokens")
    m["total_tokens"] = Metric(inp_sum + out_sum, "tokens", "Tokens", "input + output tokens")
    m["cost_per_1k_tokens_usd"] = Metric(
        total / priced_tokens * 1000 if priced_tokens else None,
        "USD/1K tokens",
        "Cost per 1K tokens",
        "total cost / (input + output tokens of priced calls) x 1000",
    )
    m["input_output_ratio"] = Metric(
        float(inp_sum / out_sum) if out_sum else None,
        "ratio",
        "Input/output ratio",
        "input tokens / output tokens",
    )
    for key, (col, label) in DISTINCT.items():
        m[key] = Metric(u.distinct(col), "count", label, f"distinct {col}")
    m["period_days"] = Metric(days, "days", "Days covered", PERIOD_METHOD)
    m["period_start"] = Metric(
        None if first is None else first.isoformat(), "timestamp", "First call", "min timestamp"
    )
    m["period_end"] = Metric(
        None if last is None else last.isoformat(), "timestamp", "Last call", "max timestamp"
    )
    m["avg_daily_cost_usd"] = Metric(
        total / days if days else None, "USD/day", "Average daily cost", "total / period_days"
    )
    res.methods["period"] = PERIOD_METHOD
    res.methods["monthly"] = MONTHLY_METHOD
    res.methods["unpriced"] = (
        "calls without cost_usd are counted in calls and unpriced_calls of every breakdown but add nothing "
        "to cost_usd (never counted as $0 spend); cost per call and per 1K tokens divide by priced calls/tokens"
    )

    # --- breakdowns -------------------------------------------------------------------------------
    for name, keys in BREAKDOWNS.items():
        p = u.part(*keys)
        res.tables[name] = cost_breakdown(p.keys, keys, total=total, measures=p.meas)
    cbc = res.tables["cost_by_customer"]
    cbc.insert(1, "subscription_tier", u.tiers().reindex(cbc["customer_id"]).to_numpy())
    p = u.part(*HIERARCHY)
    res.tables["hierarchy"] = cost_breakdown(p.keys, HIERARCHY, total=total, measures=p.meas).sort_values(
        HIERARCHY, kind="stable", ignore_index=True
    )
    res.methods["breakdowns"] = (
        "each call falls in exactly one row of each breakdown (missing keys as '(none)'); cost_usd sums "
        "to total_cost_usd and calls to calls; share_pct = cost_usd / total_cost_usd x 100"
    )
    res.tables["cost_per_1k_by_model"] = _per_model(u.part("provider", "model"), ctx)
    res.tables["io_ratio_by_task_type"] = _io_by(u.part("task_type"), "task_type")

    # --- time patterns ----------------------------------------------------------------------------
    res.tables.update(_patterns(u.day, meas, u.hourly()))
    for name, col in DAILY_BY.items():
        p = u.part(col, daily=True)
        dated = (
            p.keys.assign(date=pd.to_datetime(p.day * DAY_MS, unit="ms", utc=True))
            if n
            else p.keys.assign(date=pd.Series(dtype="datetime64[ms, UTC]"))
        )
        res.tables[name] = cost_breakdown(dated, ["date", col], measures=p.meas, tokens=False).sort_values(
            ["date", col], kind="stable", ignore_index=True
        )
    res.methods["weekday"] = (
        "avg_calls_per_day / avg_cost_per_day = totals on that weekday / number of such dates in the period"
    )
    res.methods["hourly"] = "hours are UTC; share_pct = calls in that hour / calls x 100"

    # --- run-rate and forecasts -----------------------------------------------------------------
    pat = res.tables["daily"]
    daily = (
        pd.Series(pat["cost_usd"].to_numpy(dtype="float64"), index=pd.DatetimeIndex(pat["date"]))
        if n
        else pd.Series(dtype="float64")
    )
    rr = run_rate(daily, first, as_of)
    m["run_rate_month_usd"] = Metric(rr.monthly_usd, "USD/month", "Monthly run-rate", rr.method)
    res.methods["run_rate"] = RUN_RATE_METHOD
    for h in (30, 90):
        fc = cost_forecast(daily, as_of, h)
        m[f"forecast_{h}d_usd"] = Metric(fc.total, "USD", f"{h}-day forecast", fc.method)
        m[f"forecast_{h}d_low_usd"] = Metric(
            fc.total_lo, "USD", f"{h}-day forecast, low", "10th percentile of backtested relative errors"
        )
        m[f"forecast_{h}d_high_usd"] = Metric(
            fc.total_hi, "USD", f"{h}-day forecast, high", "90th percentile of backtested relative errors"
        )
        if h == 30:
            res.tables["forecast"] = fc.daily
            m["forecast_trend_usd_per_day"] = Metric(
                fc.slope_per_day, "USD/day²", "Trend", "Theil-Sen slope of weekday-adjusted daily cost"
            )
            m["forecast_backtest_mape_pct"] = Metric(
                fc.backtest_mape_pct,
                "%",
                "Backtest error (MAPE)",
                f"mean |actual - forecast| / actual of {BACKTEST_BLOCK_DAYS}-day totals over "
                f"{fc.backtest_origins} rolling origins x 100",
            )
            res.methods["forecast"] = FORECAST_METHOD
            res.methods["forecast_now"] = fc.method

    # --- top spenders -----------------------------------------------------------------------------
    top = cbc.head(top_n).copy()
    if len(top):
        p = u.part(*CUSTOMER_ORG)
        org_of = _mode_by(p.keys, p.meas["calls"], *CUSTOMER_ORG)
        top.insert(2, "organization_id", org_of.reindex(top["customer_id"]).to_numpy())
        top["cost_per_call_usd"] = top["cost_usd"] / (top["calls"] - top["unpriced_calls"]).where(
            lambda s: s > 0
        )
        top["monthly_cost_usd"] = top["cost_usd"] * (monthly(1.0, days))
    res.tables["top_spenders"] = top.reset_index(drop=True)
    if len(cbc):
        m["top_customer_share_pct"] = Metric(
            float(cbc["share_pct"].iloc[0]), "%", "Top customer share", "largest customer cost / total x 100"
        )
        m["top10_customers_share_pct"] = Metric(
            float(cbc["share_pct"].head(10).sum()),
            "%",
            "Top-10 customers share",
            "sum of the ten largest shares",
        )
    res.recommendations = _recommendations(res, days, ctx)
    return res


def _per_model(u: usage.Usage, ctx: AnalysisContext) -> pd.DataFrame:
    """Cost per 1K tokens, cost per call and input/output ratio by model, with the catalog list price."""
    cols = ["provider", "model"]
    base = cost_breakdown(u.keys, cols, measures=u.meas, extra=("priced_tokens",))
    priced_calls = base["calls"] - base["unpriced_calls"]
    base["cost_per_1k_tokens_usd"] = (base["cost_usd"] / base["priced_tokens"] * 1000).where(
        base["priced_tokens"] > 0
    )
    base["cost_per_call_usd"] = (base["cost_usd"] / priced_calls).where(priced_calls > 0)
    base["input_output_ratio"] = (base["input_tokens"] / base["output_tokens"]).where(
        base["output_tokens"] > 0
    )
    list_in, list_out = [], []
    for prov, model in zip(base["provider"], base["model"], strict=True):
        price = ctx.catalog.current(prov, model)
        i, o = price.per_1k() if price is not None else (np.nan, np.nan)
        list_in.append(i)
        list_out.append(o)
    base["list_input_per_1k_usd"] = list_in
    base["list_output_per_1k_usd"] = list_out
    return base.sort_values("cost_per_1k_tokens_usd", ascending=False, na_position="last", ignore_index=True)


def _io_by(u: usage.Usage, col: str) -> pd.DataFrame:
    t = cost_breakdown(u.keys, col, measures=u.meas)
    t["input_output_ratio"] = (t["input_tokens"] / t["output_tokens"]).where(t["output_tokens"] > 0)
    t["avg_input_tokens"] = t["input_tokens"] / t["calls"]
    t["avg_output_tokens"] = t["output_tokens"] / t["calls"]
    return t[
        [
            col,
            "calls",
            "input_tokens",
            "output_tokens",
            "input_output_ratio",
            "avg_input_tokens",
            "avg_output_tokens",
        ]
    ]


def _patterns(day: np.ndarray, meas: dict, per_hour: dict[str, np.ndarray]) -> dict[str, pd.DataFrame]:
    """Daily series, hour-of-day and weekday profiles (``day``: UTC day of each row or cell; ``per_hour``:
    calls and cost per UTC hour, ``Usage.hourly``)."""
    if not len(day):
        empty_daily = pd.DataFrame(
            columns=["date", "calls", "cost_usd", "unpriced_calls", "error_calls", "tokens"]
        )
        return {
            "daily": empty_daily,
            "hourly": pd.DataFrame({"hour": range(24), "calls": 0, "cost_usd": 0.0, "share_pct": 0.0}),
            "weekday": pd.DataFrame(
                {
                    "weekday": list(WEEKDAYS),
                    "days": 0,
                    "calls": 0,
                    "cost_usd": 0.0,
                    "avg_calls_per_day": np.nan,
                    "avg_cost_per_day_usd": np.nan,
                }
            ),
        }
    work = pd.DataFrame(
        {
            "date": pd.to_datetime(day * DAY_MS, unit="ms", utc=True),
            "calls": meas["calls"],
            "cost_usd": meas["cost_usd"],
            "unpriced_calls": meas["unpriced_calls"],
            "error_calls": meas["error_calls"],
            "tokens": meas["input_tokens"] + meas["output_tokens"],
        }
    )
    daily = work.groupby("date").sum()
    daily.index = pd.DatetimeIndex(daily.index)
    idx = pd.date_range(daily.index.min(), daily.index.max(), freq="D")
    daily = daily.reindex(idx, fill_value=0).rename_axis("date").reset_index()
    hod = pd.DataFrame(
        {k: per_hour[k] for k in ("calls", "cost_usd")}, index=pd.Index(per_hour["hour"] % 24, name="hour")
    )
    hourly = hod.groupby("hour").sum().reindex(range(24), fill_value=0).reset_index()
    hourly["share_pct"] = hourly["calls"] / int(meas["calls"].sum()) * 100
    dcount = pd.Series(idx.day_of_week).value_counts().reindex(range(7), fill_value=0).to_numpy()
    wd = daily.assign(wd=pd.DatetimeIndex(daily["date"]).day_of_week)
    wk = wd.groupby("wd")[["calls", "cost_usd"]].sum().reindex(range(7), fill_value=0)
    weekday = pd.DataFrame(
        {
            "weekday": list(WEEKDAYS),
            "days": dcount,
            "calls": wk["calls"].to_numpy(),
            "cost_usd": wk["cost_usd"].to_numpy(),
        }
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        weekday["avg_calls_per_day"] = np.where(dcount > 0, weekday["calls"] / np.maximum(dcount, 1), np.nan)
        weekday["avg_cost_per_day_usd"] = np.where(
            dcount > 0, weekday["cost_usd"] / np.maximum(dcount, 1), np.nan
        )
    return {"daily": daily, "hourly": hourly, "weekday": weekday}


def _mode_by(df: pd.DataFrame, weights: np.ndarray, key: str, value: str) -> pd.Series:
    """For each ``key``, its most frequent ``value`` (calls = ``weights``; ties: the smallest value)."""
    gid, counts = key_groups(df, [key, value])  # on the category codes: no string per row
    counts["n"] = np.bincount(gid, weights=weights, minlength=len(counts))
    counts = counts.sort_values([key, value], kind="stable")
    counts = counts.sort_values("n", ascending=False, kind="stable").drop_duplicates(key)
    return pd.Series(counts[value].to_numpy(), index=counts[key].to_numpy())


def _recommendations(res: AnalysisResult, days: float, ctx: AnalysisContext) -> list[Recommendation]:
    """Findings with a monthly dollar figure; each states how the figure was estimated."""
    recs: list[Recommendation] = []
    m = res.metrics
    total = float(m["total_cost_usd"].value or 0.0)
    if not days or total <= 0 and not m["unpriced_calls"].value:
        return recs
    p = ctx.params.get(NAME, {})
    env = res.tables["cost_by_environment"]
    nonprod = float(env.loc[env["environment"] != "production", "cost_usd"].sum())
    cut = float(p.get("nonprod_reduction", 0.5))
    if nonprod > 0.05 * total:
        recs.append(
            Recommendation(
                "Cap non-production spend",
                f"Staging and development cost {fmt_usd(monthly(nonprod, days))}/month "
                f"({nonprod / total * 100:.1f}% of spend). Cheaper models or quotas outside production "
                f"could save about {cut:.0%} of it.",
                monthly(nonprod, days) * cut,
                "medium",
                "environment",
            )
        )
    err_cost = float(m["error_cost_usd"].value or 0.0)
    if err_cost > 0:
        recs.append(
            Recommendation(
                "Stop paying for failed calls",
                f"{m['error_calls'].value:,} failed calls (timeouts, errors, cancellations) cost "
                f"{fmt_usd(monthly(err_cost, days))}/month; retries with backoff, shorter prompts or fallbacks "
                "would recover that spend.",
                monthly(err_cost, days),
                "high" if err_cost > 0.05 * total else "low",
                "reliability",
            )
        )
    unpriced = int(m["unpriced_calls"].value or 0)
    if unpriced:
        per_call = float(m["cost_per_call_usd"].value or 0.0)
        est = unpriced * per_call
        size = (
            f"At the fleet's average cost per call they would add about {fmt_usd(monthly(est, days))}/month "
            "of unaccounted spend"
            if per_call
            else "Their spend cannot be estimated: no call is priced"
        )
        recs.append(
            Recommendation(
                "Price the unpriced models",
                f"{unpriced:,} calls have no price in the catalog and are excluded from every dollar figure. "
                f"{size}; add their prices to the catalog.",
                monthly(est, days),
                "high",
                "data quality",
            )
        )
    models = res.tables["cost_per_1k_by_model"]
    fleet = m["cost_per_1k_tokens_usd"].value
    if fleet and len(models):
        dear = models[(models["cost_per_1k_tokens_usd"] > 3 * fleet) & (models["share_pct"] > 10)]
        for _, row in dear.head(3).iterrows():
            saving = float(row["cost_usd"] - row["priced_tokens"] * fleet / 1000)
            recs.append(
                Recommendation(
                    f"Review use of {row['model']}",
                    f"{row['model']} costs {fmt_usd(row['cost_per_1k_tokens_usd'])} per 1K tokens, "
                    f"{row['cost_per_1k_tokens_usd'] / fleet:.1f}× the fleet average, and takes "
                    f"{fmt_pct(row['share_pct'])} of spend. Upper bound of the saving: its tokens priced at the "
                    "fleet average.",
                    monthly(saving, days),
                    "high",
                    "model mix",
                )
            )
    cbc = res.tables["cost_by_customer"]
    if len(cbc) > 1 and float(cbc["share_pct"].iloc[0]) > 20:
        top = cbc.iloc[0]
        recs.append(
            Recommendation(
                f"Concentration: {top['customer_id']} drives {top['share_pct']:.1f}% of spend",
                f"One customer costs {fmt_usd(monthly(float(top['cost_usd']), days))}/month. A usage cap or "
                "usage-based pricing for it protects margin; the figure is its monthly cost.",
                monthly(float(top["cost_usd"]), days),
                "medium",
                "concentration",
            )
        )
    f30, lo = m["forecast_30d_usd"].value, m["forecast_30d_low_usd"].value
    run = m["run_rate_month_usd"].value
    run30 = run * 30 / DAYS_PER_MONTH if run else None
    if f30 and run30 and lo is not None and run30 < lo:  # growth beyond the backtested interval only
        recs.append(
            Recommendation(
                "Budget for growth",
                f"The 30-day forecast ({fmt_usd(f30)}, interval {fmt_usd(lo)}-"
                f"{fmt_usd(m['forecast_30d_high_usd'].value)}) is above the current run-rate for 30 days "
                f"({fmt_usd(run30)}) even at its low end; assumes the trend of the complete days continues.",
                f30 - run30,
                "medium",
                "forecast",
            )
        )
    return sorted(recs, key=lambda r: -r.monthly_impact_usd)
