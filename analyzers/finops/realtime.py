"""Real-time decision making: anomalies, budget thresholds, spikes, portfolio risk and what to do now.

Works from three small aggregates (daily cost per customer, hourly cost per provider/model, each
customer's tier) so that the incremental session can feed it from its running cubes and get the
same alerts as a from-scratch run on the rows.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analyzers import cube as cubes
from analyzers.base import (
    MISSING_KEY,
    PRIORITY_ORDER,
    SEVERITY_RANK,
    Alert,
    AnalysisContext,
    AnalysisResult,
    Metric,
    Recommendation,
)
from analyzers.common import (
    call_measures,
    cost_breakdown,
    customer_tiers,
    fmt_pct,
    fmt_usd,
    last_complete_day,
    ts_ms,
    zscore_anomalies,
)
from metering.budgets import SCOPE_COLUMNS
from metering.subscriptions import UNKNOWN_TIER

NAME = "realtime"
#: the sums a scope's daily cost reads
SCOPE_SUMS = ("calls", "cost_usd")
#: the cube views it reads: day x customer x tier (daily cost, tiers), the hours (``cube.SIDE_VIEW``'s
#: ``hourly`` side table) and one per day and budget scope but the customer's (its daily cost)
VIEWS: tuple[cubes.View, ...] = (
    cubes.CUSTOMER_VIEW,
    cubes.SIDE_VIEW,
    *(cubes.View((col,), sums=SCOPE_SUMS) for s, col in SCOPE_COLUMNS.items() if s != "customer"),
)
TITLE = "Real-time decision making"
DESCRIPTION = (
    "Cost anomalies by z-score per customer, model and provider; customers against their tier's monthly "
    "AI allocation; cumulative spend against a linear expectation; spikes today; portfolio risk and "
    "revenue at risk; prioritised actions."
)

_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000

#: defaults of ctx.params["realtime"]
DEFAULTS = {
    "lookback_days": 35,  # anomaly baseline window before as_of
    "alert_window_days": 7,  # anomalies newer than this are open alerts
    "max_anomaly_alerts": 25,
    "min_buckets": 4,
    "spike_ratio": 3.0,  # today vs expected-so-far
    "trailing_days": 7,
    "warn_pct": 80.0,
    "limit_pct": 100.0,
    "portfolio_high_pct": 15.0,  # revenue at risk share that makes the portfolio high risk
    "portfolio_medium_pct": 5.0,
}


@dataclass
class RealtimeInputs:
    """The aggregates the analysis needs; built from rows or from the session's cubes."""

    daily_customer: pd.DataFrame  # date (UTC midnight), customer_id, cost_usd, calls, unpriced_calls
    hourly: pd.DataFrame  # hour (UTC), provider, model, cost_usd, calls
    customer_tier: pd.Series  # customer_id -> tier of the most recent call
    first: pd.Timestamp | None  # first call
    last: pd.Timestamp | None  # newest call
    #: budget scope (organization, product, api_key) -> date, entity, cost_usd; only scopes with a budget
    daily_scopes: dict[str, pd.DataFrame] = field(default_factory=dict)


def budget_scopes(ctx: AnalysisContext) -> tuple[str, ...]:
    """The non-customer scopes the budgets file names (their daily spend is aggregated)."""
    return tuple(sorted({b.scope for b in ctx.scope_budgets if b.scope != "customer"}))


def inputs_from_frame(df: pd.DataFrame, scopes: tuple[str, ...] = ()) -> RealtimeInputs:
    """Aggregate call rows into RealtimeInputs (NaN costs are skipped and counted as unpriced); daily cost
    per entity of each budget scope in ``scopes`` whose column the frame has."""
    if df.empty:
        return RealtimeInputs(
            pd.DataFrame(columns=["date", "customer_id", "cost_usd", "calls", "unpriced_calls"]),
            pd.DataFrame(columns=["hour", "provider", "model", "cost_usd", "calls"]),
            pd.Series(dtype="str"),
            None,
            None,
        )
    m = call_measures(df)
    ts = df["timestamp"]
    ms = ts_ms(ts)
    keyed = pd.DataFrame(
        {
            "day": ms // _DAY_MS,
            "hour": ms // _HOUR_MS,
            **{c: df[c] for c in ("customer_id", "provider", "model")},
        },
        index=df.index,
    )
    dc = cost_breakdown(keyed, ["day", "customer_id"], measures=m, tokens=False)
    dc.insert(0, "date", pd.to_datetime(dc["day"].to_numpy(dtype="int64") * _DAY_MS, unit="ms", utc=True))
    dc = dc[["date", "customer_id", "cost_usd", "calls", "unpriced_calls"]]
    dc = dc.sort_values(["date", "customer_id"], ignore_index=True)
    hr = cost_breakdown(keyed, ["hour", "provider", "model"], measures=m, tokens=False)
    hr["hour"] = pd.to_datetime(hr["hour"].to_numpy(dtype="int64") * _HOUR_MS, unit="ms", utc=True)
    hr = hr[["hour", "provider", "model", "cost_usd", "calls"]].sort_values(
        ["hour", "provider", "model"], ignore_index=True
    )
    scoped: dict[str, pd.DataFrame] = {}
    for scope in scopes:
        col = SCOPE_COLUMNS[scope]
        if col not in df.columns:
            continue
        g = cost_breakdown(keyed.assign(entity=df[col]), ["day", "entity"], measures=m, tokens=False)
        g.insert(0, "date", pd.to_datetime(g["day"].to_numpy(dtype="int64") * _DAY_MS, unit="ms", utc=True))
        scoped[scope] = g[["date", "entity", "cost_usd"]]
    return RealtimeInputs(dc, hr, customer_tiers(df), ts.min(), ts.max(), scoped)


def inputs_from_cube(
    day: cubes.Cube,
    hourly: dict[str, np.ndarray],
    scopes: tuple[str, ...] = (),
    *,
    hour_labels: cubes.Cube | None = None,
    scope_cubes: dict[str, cubes.Cube] | None = None,
) -> RealtimeInputs:
    """RealtimeInputs from a day-grain usage cube and its hourly (hour, provider, model) sums, coded with
    the labels of ``hour_labels`` (default the cube's): the same aggregates ``inputs_from_frame`` makes
    from the rows. A scope's daily cost comes from ``scope_cubes[column]`` when given, else the cube."""
    cols = day.cols
    names = day if hour_labels is None else hour_labels
    g = cubes.sums_by(cols, ["day", "customer_id"], ["cost_usd", "calls", "unpriced_calls"])
    dc = pd.DataFrame(
        {
            "date": pd.to_datetime(g["day"] * _DAY_MS, unit="ms", utc=True),
            "customer_id": day.decode("customer_id", g["customer_id"]),
            "cost_usd": g["cost_usd"],
            "calls": g["calls"],
            "unpriced_calls": g["unpriced_calls"],
        }
    ).sort_values(["date", "customer_id"], ignore_index=True)
    h = cubes.sums_by(hourly, ["hour", "provider", "model"], ["cost_usd", "calls"])
    hr = pd.DataFrame(
        {
            "hour": pd.to_datetime(h["hour"] * _HOUR_MS, unit="ms", utc=True),
            "provider": names.decode("provider", h["provider"]),
            "model": names.decode("model", h["model"]),
            "cost_usd": h["cost_usd"],
            "calls": h["calls"],
        }
    ).sort_values(["hour", "provider", "model"], ignore_index=True)
    scoped: dict[str, pd.DataFrame] = {}
    for scope in scopes:
        col = SCOPE_COLUMNS[scope]
        sc = day if scope_cubes is None else scope_cubes.get(col, day)
        if col not in sc.dims:
            continue  # not in the cube (nor in the stored record): reported as no data
        g = cubes.sums_by(
            {"day": cubes.days(sc), col: sc.cols[col], "cost_usd": sc.cols["cost_usd"]},
            ["day", col],
            ["cost_usd"],
        )
        scoped[scope] = pd.DataFrame(
            {
                "date": pd.to_datetime(g["day"] * _DAY_MS, unit="ms", utc=True),
                "entity": sc.decode(col, g[col]),
                "cost_usd": g["cost_usd"],
            }
        )

    def ts(ms: int) -> pd.Timestamp:
        return pd.Timestamp(int(ms), unit="ms", tz="UTC")

    return RealtimeInputs(
        dc, hr, cube_customer_tiers(day), ts(cols["first_ms"].min()), ts(cols["last_ms"].max()), scoped
    )


def cube_customer_tiers(c: cubes.Cube) -> pd.Series:
    """customer -> tier of its most recent call carrying one ("unknown" if none), as
    ``common.customer_tiers`` does from rows, using the cube's last-call times."""
    if not len(c):
        return pd.Series(dtype="str", name="subscription_tier")
    cust, last, tier = c.cols["customer_id"], c.cols["last_ms"], c.cols["subscription_tier"]
    n = len(c.labels["customer_id"])
    present = np.flatnonzero(np.bincount(cust, minlength=n) > 0)
    labels = c.label_array("subscription_tier")
    has = np.flatnonzero(labels[tier] != MISSING_KEY)
    newest = np.full(n, np.iinfo("int64").min)
    np.maximum.at(newest, cust[has], last[has])
    pick = has[last[has] == newest[cust[has]]]
    tier_of = np.full(n, -1, dtype="int64")
    tier_of[cust[pick][::-1]] = tier[pick][::-1]  # ties: the first such cube row
    names = np.where(
        tier_of[present] >= 0,
        labels[np.maximum(tier_of[present], 0)] if len(labels) else "",
        UNKNOWN_TIER,
    )
    return pd.Series(
        names.astype(str),
        index=pd.Index(c.decode("customer_id", present), name="customer_id"),
        name="subscription_tier",
    ).sort_index()


def analyze_cube(src: cubes.Cube | cubes.Views, ctx: AnalysisContext) -> AnalysisResult:
    """The analysis from a usage cube (an hour-grain cube is coarsened to days, its hours read from the
    side table or the cells) or from the engines' views (``VIEWS``)."""
    scopes = budget_scopes(ctx)
    if isinstance(src, cubes.Views):
        day = src.view(cubes.CUSTOMER_VIEW.dims, daily=True, sums=cubes.CUSTOMER_VIEW.sums)
        if not len(day):
            return analyze_inputs(inputs_from_frame(pd.DataFrame()), ctx)
        side = src.view((), ("hourly",))
        per_scope = {
            SCOPE_COLUMNS[s]: src.view((SCOPE_COLUMNS[s],), daily=True, sums=SCOPE_SUMS) for s in scopes
        }
        inputs = inputs_from_cube(day, cubes.hours(side), scopes, hour_labels=side, scope_cubes=per_scope)
        return analyze_inputs(inputs, ctx)
    if not len(src):
        return analyze_inputs(inputs_from_frame(pd.DataFrame()), ctx)
    hourly = cubes.hours(src)
    return analyze_inputs(inputs_from_cube(cubes.coarsen(src, "day"), hourly, scopes), ctx)


def analyze(df: pd.DataFrame, ctx: AnalysisContext) -> AnalysisResult:
    return analyze_inputs(inputs_from_frame(df, budget_scopes(ctx)), ctx)


def analyze_inputs(inp: RealtimeInputs, ctx: AnalysisContext) -> AnalysisResult:
    res = AnalysisResult(NAME, TITLE)
    p = {**DEFAULTS, **ctx.params.get(NAME, {})}
    m = res.metrics
    as_of = ctx.as_of if ctx.as_of is not None else inp.last
    _methods(res, ctx, p)
    if as_of is None or inp.first is None:
        _empty(res)
        return res
    as_of = pd.Timestamp(as_of)
    as_of = as_of.tz_localize("UTC") if as_of.tzinfo is None else as_of.tz_convert("UTC")
    today = as_of.normalize()
    dc = inp.daily_customer[inp.daily_customer["date"] <= today]
    hr = inp.hourly[inp.hourly["hour"] <= as_of.floor("h")]
    m["as_of"] = Metric(as_of.isoformat(), "timestamp", "As of", "AnalysisContext.as_of or the newest call")
    m["z_threshold"] = Metric(ctx.z_threshold, "sigma", "Anomaly threshold", f"sensitivity {ctx.sensitivity}")

    anomalies = _anomalies(dc, hr, as_of, ctx, p)
    res.tables["anomalies"] = anomalies
    budgets = _budgets(dc, inp.customer_tier, inp.first, as_of, ctx, p)
    res.tables["budgets"] = budgets
    scope_budgets = _scope_budgets(
        {k: v[v["date"] <= today] for k, v in inp.daily_scopes.items()}, as_of, ctx
    )
    res.tables["scope_budgets"] = scope_budgets
    res.tables["cumulative"] = _cumulative(dc, budgets, inp.first, as_of)
    spikes = _spikes(dc, hr, as_of, ctx, p)
    res.tables["spikes"] = spikes
    risk = _risk(budgets, spikes, ctx, p)
    res.tables["customer_risk"] = risk

    window = as_of - pd.Timedelta(days=float(p["alert_window_days"]))
    open_anoms = anomalies[anomalies["bucket"] >= window] if len(anomalies) else anomalies
    m["anomalies"] = Metric(
        len(anomalies), "count", "Anomalies", "buckets with z >= threshold and impact >= minimum"
    )
    m["open_anomalies"] = Metric(
        len(open_anoms), "count", "Recent anomalies", f"anomalies in the last {p['alert_window_days']} days"
    )
    exceeded = int((budgets["status"] == "exceeded").sum()) if len(budgets) else 0
    warned = int((budgets["status"] == "warning").sum()) if len(budgets) else 0
    m["customers_over_budget"] = Metric(
        exceeded, "customers", "Over budget", f"month-to-date >= {p['limit_pct']:g} %"
    )
    m["customers_near_budget"] = Metric(
        warned, "customers", "Near budget", f"month-to-date >= {p['warn_pct']:g} % and < {p['limit_pct']:g} %"
    )
    m["customers_projected_over"] = Metric(
        int((budgets["projected_pct"] >= p["limit_pct"]).sum()) if len(budgets) else 0,
        "customers",
        "Projected over budget",
        "month-end projection >= 100 % of allocation",
    )
    m["spikes_today"] = Metric(
        len(spikes), "count", "Spikes today", f"today >= {p['spike_ratio']:g}x expected so far"
    )
    mtd = float(budgets["mtd_cost_usd"].sum()) if len(budgets) else 0.0
    alloc = float(budgets["budget_usd"].sum()) if len(budgets) else 0.0
    m["mtd_cost_usd"] = Metric(mtd, "USD", "Month-to-date cost", "priced cost since the month began (UTC)")
    m["monthly_allocation_usd"] = Metric(alloc, "USD", "Monthly AI allocation", "sum of customer budgets")
    cum = res.tables["cumulative"]
    expected = float(cum["expected_usd"].iloc[-1]) if len(cum) else 0.0
    m["pace_pct"] = Metric(
        mtd / expected * 100 if expected > 0 else None,
        "%",
        "Spend vs linear expectation",
        "month-to-date cost / (allocation x elapsed share of the month) x 100",
    )
    level, at_risk, watch, share = _portfolio(risk, p)
    m["portfolio_risk"] = Metric(level, "level", "Portfolio risk", res.methods["portfolio"])
    m["revenue_at_risk_usd"] = Metric(
        at_risk, "USD/month", "Revenue at risk", "monthly tier price of high-risk customers"
    )
    m["revenue_watch_usd"] = Metric(
        watch, "USD/month", "Revenue to watch", "monthly tier price of medium-risk customers"
    )
    m["revenue_at_risk_pct"] = Metric(
        share, "%", "Share of revenue at risk", "revenue at risk / monthly revenue x 100"
    )
    for lv in ("high", "medium", "low"):
        m[f"{lv}_risk_customers"] = Metric(
            int((risk["risk"] == lv).sum()) if len(risk) else 0,
            "customers",
            f"{lv.title()}-risk customers",
            "see methods",
        )

    res.alerts = _alerts(open_anoms, budgets, scope_budgets, spikes, level, share, at_risk, as_of, ctx, p)
    m["open_alerts"] = Metric(len(res.alerts), "count", "Open alerts", "alerts emitted for the current state")
    actions = _actions(open_anoms, budgets, risk, spikes, ctx, p)
    res.tables["actions"] = actions
    res.recommendations = [
        Recommendation(r.title, r.detail, float(r.impact_usd), r.priority, r.kind)
        for r in actions.head(10).itertuples()
    ]
    return res


def _methods(res: AnalysisResult, ctx: AnalysisContext, p: dict) -> None:
    res.methods["anomalies"] = (
        f"z-score of each bucket against the entity's other buckets in the last {p['lookback_days']} days "
        "(leave-one-out mean and population standard deviation, sigma floored at 10 % of the mean); buckets: "
        "days per customer, hours per model and per provider (an hour is compared with the same hour of day on "
        "the other days); empty buckets count as $0 from the entity's first bucket on; flagged when z >= {ctx.z_threshold:g} (sensitivity {ctx.sensitivity}: low 3σ, medium 2σ, "
        f"high 1.5σ) and excess cost >= ${ctx.min_anomaly_impact_usd:g}; severity = z x sqrt(excess $); "
        "critical when z >= 2x threshold and excess >= 10x the minimum"
    )
    res.methods["budgets"] = (
        "per customer (budgets file, else AnalysisContext.budgets, else the tier's ai_budget_usd_month) and per "
        "organization / product / API key from the budgets file: month-to-date (UTC calendar month of as_of) "
        f"priced cost; daily rate = mean cost of the last {TRAILING_DAYS} complete days (from the scope's first "
        "call; the month's elapsed part when no day is complete); weekday factor = the median cost of that "
        "weekday in the window, normalised to mean 1 (with >= 14 days, else 1); projection = month-to-date + rate x (rest of today and "
        "each remaining day of the month x its weekday factor); rolling 30 days = cost of the last 30 UTC days "
        "(today included) against the monthly budget; days_left = (budget - month-to-date) / rate. Alerts: when "
        f"the projection reaches a threshold (default {p['warn_pct']:g} % and {p['limit_pct']:g} %; per budget "
        "in the file) one alert for the highest one crossed, and 'spent' once month-to-date reaches the budget; "
        "ids name scope, id, month and threshold, so each fires once per scope and month; a projection with no "
        "complete day behind it raises no status or alert (indicative only)"
    )
    res.methods["cumulative"] = (
        "cumulative month-to-date cost per day against allocation x elapsed share of the month (linear)"
    )
    res.methods["spikes"] = (
        f"today's cost so far vs expected so far = average daily cost over the previous {p['trailing_days']} days "
        "(days before the first call excluded) x the share of a day's fleet cost that the trailing days spent "
        f"by this hour (UTC, current hour included); spike when today >= {p['spike_ratio']:g}x expected and the "
        "excess is at least the minimum anomaly impact"
    )
    res.methods["portfolio"] = (
        "customer risk: high = month-to-date over budget or projected month cost > "
        f"{ctx.at_risk_share:.0%} of the monthly tier price (margin at risk); medium = over {p['warn_pct']:g} % of budget, "
        "projected over budget, or a spike today; low otherwise. Revenue at risk = monthly tier price of "
        f"high-risk customers; portfolio high when that is >= {p['portfolio_high_pct']:g} % of monthly "
        f"revenue, medium when >= {p['portfolio_medium_pct']:g} % or any customer is high risk"
    )


def _empty(res: AnalysisResult) -> None:
    res.tables["anomalies"] = _anom_columns(pd.DataFrame())
    res.tables["budgets"] = pd.DataFrame(columns=_BUDGET_COLS)
    res.tables["cumulative"] = pd.DataFrame(columns=["date", "cost_usd", "cumulative_usd", "expected_usd"])
    res.tables["spikes"] = pd.DataFrame(columns=_SPIKE_COLS)
    res.tables["customer_risk"] = pd.DataFrame(columns=["customer_id", "subscription_tier", "risk", "reason"])
    res.tables["actions"] = pd.DataFrame(columns=_ACTION_COLS)
    res.metrics["anomalies"] = Metric(0, "count", "Anomalies", "no data")
    res.metrics["portfolio_risk"] = Metric("low", "level", "Portfolio risk", "no data")
    res.metrics["revenue_at_risk_usd"] = Metric(0.0, "USD/month", "Revenue at risk", "no data")
    res.metrics["open_alerts"] = Metric(0, "count", "Open alerts", "no data")


_ANOM_COLS = [
    "dimension",
    "entity",
    "bucket",
    "freq",
    "value",
    "baseline",
    "sigma",
    "z",
    "impact_usd",
    "severity",
]


def _anom_columns(df: pd.DataFrame) -> pd.DataFrame:
    return df if len(df) else pd.DataFrame({c: pd.Series(dtype="float64") for c in _ANOM_COLS})


def _entity_grid(
    frame: pd.DataFrame, entity: str, bucket_col: str, freq: str, end: pd.Timestamp
) -> pd.DataFrame:
    """Cost per (entity, bucket) for every bucket from the entity's first one to ``end`` (missing = 0).

    Dense numpy matrix entities x buckets, so the cost is one pass over the aggregate.
    """
    if frame.empty:
        return pd.DataFrame(columns=["entity", "bucket", "cost_usd"])
    step = _DAY_MS if freq == "D" else _HOUR_MS
    bms = ts_ms(frame[bucket_col])
    start = int(bms.min())
    nb = int((ts_ms(pd.Series([end]))[0] - start) // step) + 1
    bi = (bms - start) // step
    keep = bi < nb
    codes, ents = pd.factorize(frame[entity].to_numpy()[keep])
    bi = bi[keep]
    mat = np.zeros((len(ents), nb))
    np.add.at(mat, (codes, bi), frame["cost_usd"].to_numpy(dtype="float64")[keep])
    first = np.full(len(ents), nb)
    np.minimum.at(first, codes, bi)
    valid = np.arange(nb)[None, :] >= first[:, None]
    e_idx, b_idx = np.nonzero(valid)
    return pd.DataFrame(
        {
            "entity": np.asarray(ents, dtype=object)[e_idx],
            "bucket": pd.to_datetime(start + b_idx * step, unit="ms", utc=True),
            "cost_usd": mat[valid],
        }
    )


def _anomalies(
    dc: pd.DataFrame, hr: pd.DataFrame, as_of: pd.Timestamp, ctx: AnalysisContext, p: dict
) -> pd.DataFrame:
    start = as_of.floor("h") - pd.Timedelta(days=float(p["lookback_days"]))
    parts = []
    specs = (
        ("customer", dc[dc["date"] >= start.normalize()], "customer_id", "date", "D", as_of.normalize()),
        ("model", hr[hr["hour"] >= start], "model", "hour", "h", as_of.floor("h")),
        ("provider", hr[hr["hour"] >= start], "provider", "hour", "h", as_of.floor("h")),
    )
    for dim, frame, ent, bcol, freq, end in specs:
        grid = _entity_grid(frame, ent, bcol, freq, end)
        keys = ["entity"]
        if freq == "h" and len(grid):  # compare an hour with the same hour of day on other days
            grid["slot"] = grid["bucket"].dt.hour
            keys = ["entity", "slot"]
        found = zscore_anomalies(
            grid,
            entity_col=keys,
            z_threshold=ctx.z_threshold,
            min_impact=ctx.min_anomaly_impact_usd,
            min_buckets=int(p["min_buckets"]),
        )
        if len(found):
            found = found.drop(columns=["slot"], errors="ignore")
            found.insert(0, "dimension", dim)
            found.insert(3, "freq", freq)
            parts.append(found)
    if not parts:
        return _anom_columns(pd.DataFrame())
    out = pd.concat(parts, ignore_index=True)[_ANOM_COLS]
    return out.sort_values(["severity", "bucket"], ascending=[False, True], kind="stable", ignore_index=True)


#: burn columns every budget table has (customers and the budgets file's other scopes)
_BURN_COLS = (
    "daily_run_rate_usd",
    "projected_month_usd",
    "projected_pct",
    "rolling_30d_usd",
    "rolling_30d_pct",
    "days_left",
    "status",
    "alert_threshold_pct",
)
_BUDGET_COLS = [
    "customer_id",
    "subscription_tier",
    "mtd_cost_usd",
    "budget_usd",
    "used_pct",
    "expected_to_date_usd",
    "pace_pct",
    *_BURN_COLS,
    "monthly_price_usd",
]
_SCOPE_COLS = ["scope", "scope_id", "mtd_cost_usd", "budget_usd", "used_pct", *_BURN_COLS]
#: the projection's trailing window of complete days
TRAILING_DAYS = 28
ROLLING_DAYS = 30


def _month(as_of: pd.Timestamp, first: pd.Timestamp) -> tuple[pd.Timestamp, float, float]:
    """Month start, days in month, and elapsed observed days (from the later of month start and first call)."""
    month_start = as_of.normalize() - pd.Timedelta(days=as_of.day - 1)
    days_in_month = float(as_of.days_in_month)
    begin = max(month_start, pd.Timestamp(first))
    elapsed = max((as_of - begin) / pd.Timedelta(days=1), 1.0 / 24.0)
    return month_start, days_in_month, elapsed


def burn(daily: pd.DataFrame, entity: str, as_of: pd.Timestamp) -> pd.DataFrame:
    """Month-to-date spend, trailing rate, month-end projection and rolling 30-day spend per entity.

    ``daily``: date (UTC midnight), ``entity``, cost_usd. Rate r = mean daily cost over the last
    TRAILING_DAYS complete days (from the entity's first day with calls; the elapsed part of the current
    month when no day is complete yet); weekday factor f_w = the median cost on weekday w in that window,
    normalised so the seven average 1, when the window holds >= 14 days, else 1. Projection = month-to-date + r x (rest of today x f_today + sum over the
    month's remaining days of f_w). Rolling = cost of the last 30 UTC days, today included.
    """
    cols = [
        "entity",
        "mtd_cost_usd",
        "daily_run_rate_usd",
        "projected_month_usd",
        "rolling_30d_usd",
        "trailing_days",
    ]
    if daily.empty:
        return pd.DataFrame({c: pd.Series(dtype="str" if c == "entity" else "float64") for c in cols})
    today = as_of.normalize()
    month_start = today - pd.Timedelta(days=as_of.day - 1)
    last_complete = last_complete_day(as_of)
    codes, ents = pd.factorize(daily[entity].astype("object").to_numpy())
    d0 = min(daily["date"].min(), last_complete - pd.Timedelta(days=TRAILING_DAYS - 1), month_start)
    d0 = min(d0, today - pd.Timedelta(days=ROLLING_DAYS - 1))
    span = int((today - d0) / pd.Timedelta(days=1)) + 1
    di = ((daily["date"] - d0) / pd.Timedelta(days=1)).to_numpy().astype("int64")
    keep = (di >= 0) & (di < span)
    mat = np.zeros((len(ents), span))
    np.add.at(mat, (codes[keep], di[keep]), daily["cost_usd"].to_numpy(dtype="float64")[keep])
    has = np.zeros((len(ents), span), dtype=bool)
    has[codes[keep], di[keep]] = True
    first = np.where(has.any(axis=1), has.argmax(axis=1), span)
    days = pd.date_range(d0, periods=span, freq="D")
    dow = days.day_of_week.to_numpy()
    idx = np.arange(span)
    lc = int((last_complete - d0) / pd.Timedelta(days=1))
    in_trail = (idx[None, :] <= lc) & (idx[None, :] > lc - TRAILING_DAYS) & (idx[None, :] >= first[:, None])
    n_trail = in_trail.sum(axis=1)
    month_cols = idx >= int((month_start - d0) / pd.Timedelta(days=1))
    mtd = mat[:, month_cols].sum(axis=1)
    frac_today = (as_of - today) / pd.Timedelta(days=1)
    elapsed = np.maximum(
        (as_of - np.maximum(days[np.minimum(first, span - 1)], month_start)) / pd.Timedelta(days=1), 1.0 / 24
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(n_trail > 0, (mat * in_trail).sum(axis=1) / np.maximum(n_trail, 1), mtd / elapsed)
        # weekday profile: the median cost of each weekday in the window (one spike cannot set it),
        # normalised to mean 1; with fewer than 14 days (or nothing spent) a flat profile
        med = np.ones((len(ents), 7))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a weekday absent from the window
            for w in range(7):
                med[:, w] = np.nanmedian(np.where(in_trail & (dow[None, :] == w), mat, np.nan), axis=1)
            scale = np.nanmean(med, axis=1, keepdims=True)
        ok = (n_trail >= 14)[:, None] & (scale > 0) & np.isfinite(med).all(axis=1, keepdims=True)
        factors = np.where(ok, med / np.where(scale > 0, scale, 1.0), 1.0)
    month_end = month_start + pd.Timedelta(days=as_of.days_in_month)
    rest = pd.date_range(today + pd.Timedelta(days=1), month_end - pd.Timedelta(days=1), freq="D")
    weight = np.bincount(rest.day_of_week.to_numpy(), minlength=7).astype("float64")
    weight[today.day_of_week] += 1.0 - frac_today
    projected = mtd + rate * (factors * weight[None, :]).sum(axis=1)
    rolling = mat[:, span - ROLLING_DAYS :].sum(axis=1)
    return pd.DataFrame(
        {
            "entity": np.asarray(ents, dtype=object).astype(str),
            "mtd_cost_usd": mtd,
            "daily_run_rate_usd": rate,
            "projected_month_usd": projected,
            "rolling_30d_usd": rolling,
            "trailing_days": n_trail.astype("float64"),
        }
    )


def _status(t: pd.DataFrame, thresholds: list[tuple[float, ...]]) -> pd.DataFrame:
    """used/projected/rolling percentages, days left, status and the highest threshold the projection
    crossed (``alert_threshold_pct``, NaN when none) for rows with budget_usd, in place."""
    b = t["budget_usd"].to_numpy(dtype="float64")
    spend = t["mtd_cost_usd"].to_numpy(dtype="float64")
    rate = t["daily_run_rate_usd"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        t["used_pct"] = np.where(b > 0, spend / b * 100, np.nan)
        t["projected_pct"] = np.where(
            b > 0, t["projected_month_usd"].to_numpy(dtype="float64") / b * 100, np.nan
        )
        t["rolling_30d_pct"] = np.where(
            b > 0, t["rolling_30d_usd"].to_numpy(dtype="float64") / b * 100, np.nan
        )
        t["days_left"] = np.where(
            spend >= b, 0.0, np.where(rate > 0, (b - spend) / np.where(rate > 0, rate, 1), np.nan)
        )
    # a projection without one complete day behind it is indicative only: it raises no status or alert
    proj = np.where(
        t["trailing_days"].to_numpy(dtype="float64") >= 1,
        t["projected_pct"].to_numpy(dtype="float64"),
        np.nan,
    )
    crossed = [
        max((x for x in th if pr >= x), default=np.nan) for pr, th in zip(proj, thresholds, strict=True)
    ]
    t["alert_threshold_pct"] = np.asarray(crossed, dtype="float64")
    used = t["used_pct"].to_numpy(dtype="float64")
    top = np.array([max(th) for th in thresholds], dtype="float64") if len(thresholds) else np.zeros(0)
    status = np.where(
        used >= 100.0,
        "exceeded",
        np.where(
            proj >= top, "projected_over", np.where(np.isfinite(t["alert_threshold_pct"]), "warning", "ok")
        ),
    )
    t["status"] = np.where(np.isnan(used), "no_budget", status)
    return t


def _budgets(
    dc: pd.DataFrame,
    tiers_of: pd.Series,
    first: pd.Timestamp,
    as_of: pd.Timestamp,
    ctx: AnalysisContext,
    p: dict,
) -> pd.DataFrame:
    if dc.empty:
        return pd.DataFrame(columns=_BUDGET_COLS)
    month_start, dim, elapsed = _month(as_of, first)
    t = burn(dc, "customer_id", as_of).rename(columns={"entity": "customer_id"})
    t = t.sort_values("customer_id", kind="stable").reset_index(drop=True)
    t["subscription_tier"] = tiers_of.reindex(t["customer_id"]).to_numpy()
    tier_budget = {n: tr.ai_budget_usd_month for n, tr in ctx.tiers.items()}
    tier_price = ctx.tier_prices()
    own = {b.id: b for b in ctx.scope_budgets if b.scope == "customer"}
    default = (float(p["warn_pct"]), float(p["limit_pct"]))
    t["budget_usd"] = [
        own[c].monthly_usd if c in own else ctx.budgets.get(c, tier_budget.get(tr, np.nan))
        for c, tr in zip(t["customer_id"], t["subscription_tier"], strict=True)
    ]
    t["monthly_price_usd"] = t["subscription_tier"].map(tier_price).astype("float64")
    b = t["budget_usd"].to_numpy(dtype="float64")
    spend = t["mtd_cost_usd"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        t["expected_to_date_usd"] = b * elapsed / dim
        t["pace_pct"] = np.where(b > 0, spend / (b * elapsed / dim) * 100, np.nan)
    _status(t, [own[c].thresholds if c in own else default for c in t["customer_id"]])
    return t[_BUDGET_COLS].sort_values(
        ["used_pct", "customer_id"], ascending=[False, True], ignore_index=True
    )


def _scope_budgets(
    daily_scopes: dict[str, pd.DataFrame], as_of: pd.Timestamp, ctx: AnalysisContext
) -> pd.DataFrame:
    """The budgets file's organization / product / API-key budgets against their scope's spend."""
    wanted = [b for b in ctx.scope_budgets if b.scope != "customer"]
    if not wanted:
        return pd.DataFrame(columns=_SCOPE_COLS)
    parts = []
    for scope in sorted({b.scope for b in wanted}):
        mine = [b for b in wanted if b.scope == scope]
        daily = daily_scopes.get(scope)
        got = burn(daily if daily is not None else pd.DataFrame(), "entity", as_of)
        t = pd.DataFrame(
            {"scope": scope, "scope_id": [b.id for b in mine], "budget_usd": [b.monthly_usd for b in mine]}
        )
        seen = t["scope_id"].isin(got["entity"]).to_numpy() if "entity" in got else np.zeros(len(t), bool)
        t = t.merge(got.rename(columns={"entity": "scope_id"}), on="scope_id", how="left")
        for c in (
            "mtd_cost_usd",
            "daily_run_rate_usd",
            "projected_month_usd",
            "rolling_30d_usd",
            "trailing_days",
        ):
            t[c] = t[c].astype("float64").fillna(0.0)
        _status(t, [b.thresholds for b in mine])
        # no column to measure this scope by, or no call carries this id (e.g. a typo in the file)
        t.loc[~seen, "status"] = "no_data"
        t.loc[~seen, "alert_threshold_pct"] = np.nan
        parts.append(t)
    return pd.concat(parts, ignore_index=True)[_SCOPE_COLS]


def _cumulative(
    dc: pd.DataFrame, budgets: pd.DataFrame, first: pd.Timestamp, as_of: pd.Timestamp
) -> pd.DataFrame:
    if dc.empty:
        return pd.DataFrame(columns=["date", "cost_usd", "cumulative_usd", "expected_usd"])
    month_start, dim, elapsed = _month(as_of, first)
    begin = max(month_start, pd.Timestamp(first))
    days = pd.date_range(begin.normalize(), as_of.normalize(), freq="D")
    daily = dc[dc["date"] >= month_start].groupby("date")["cost_usd"].sum().reindex(days, fill_value=0.0)
    alloc = float(np.nansum(budgets["budget_usd"].to_numpy(dtype="float64"))) if len(budgets) else 0.0
    ends = np.minimum(((days + pd.Timedelta(days=1)) - begin) / pd.Timedelta(days=1), elapsed)
    return pd.DataFrame(
        {
            "date": days,
            "cost_usd": daily.to_numpy(),
            "cumulative_usd": daily.cumsum().to_numpy(),
            "expected_usd": alloc * np.asarray(ends, dtype="float64") / dim,
        }
    )


_SPIKE_COLS = [
    "dimension",
    "entity",
    "date",
    "today_usd",
    "expected_usd",
    "trailing_avg_usd",
    "ratio",
    "excess_usd",
]


def _spikes(
    dc: pd.DataFrame, hr: pd.DataFrame, as_of: pd.Timestamp, ctx: AnalysisContext, p: dict
) -> pd.DataFrame:
    today = as_of.normalize()
    n = int(p["trailing_days"])
    lo = today - pd.Timedelta(days=n)
    trail_hr = hr[(hr["hour"] >= lo) & (hr["hour"] < today)]
    if trail_hr.empty:
        return pd.DataFrame(columns=_SPIKE_COLS)
    first_day = min(dc["date"].min(), hr["hour"].min().normalize())
    ndays = max((today - max(lo, first_day)) / pd.Timedelta(days=1), 0)
    if ndays < 1:
        return pd.DataFrame(columns=_SPIKE_COLS)
    hod = trail_hr["hour"].dt.hour.to_numpy()
    tot = float(trail_hr["cost_usd"].sum())
    frac = (
        float(trail_hr["cost_usd"].to_numpy()[hod <= as_of.hour].sum() / tot)
        if tot > 0
        else (as_of.hour + 1) / 24
    )
    hr_day = hr.assign(date=hr["hour"].dt.floor("D"))
    parts = []
    for dim, frame, ent in (("customer", dc, "customer_id"), ("model", hr_day, "model")):
        trail = frame[(frame["date"] >= lo) & (frame["date"] < today)].groupby(ent)["cost_usd"].sum() / ndays
        now = frame[frame["date"] == today].groupby(ent)["cost_usd"].sum()
        t = pd.DataFrame({"today_usd": now}).join(trail.rename("trailing_avg_usd"), how="left").fillna(0.0)
        t["expected_usd"] = t["trailing_avg_usd"] * frac
        with np.errstate(divide="ignore", invalid="ignore"):
            t["ratio"] = np.where(t["expected_usd"] > 0, t["today_usd"] / t["expected_usd"], np.inf)
        t["excess_usd"] = t["today_usd"] - t["expected_usd"]
        t = t[
            (t["trailing_avg_usd"] > 0)
            & (t["ratio"] >= p["spike_ratio"])
            & (t["excess_usd"] >= ctx.min_anomaly_impact_usd)
        ]
        if len(t):
            t = t.rename_axis("entity").reset_index()
            t.insert(0, "dimension", dim)
            t["date"] = today
            parts.append(t[_SPIKE_COLS])
    if not parts:
        return pd.DataFrame(columns=_SPIKE_COLS)
    return pd.concat(parts, ignore_index=True).sort_values("excess_usd", ascending=False, ignore_index=True)


def _risk(budgets: pd.DataFrame, spikes: pd.DataFrame, ctx: AnalysisContext, p: dict) -> pd.DataFrame:
    cols = [
        "customer_id",
        "subscription_tier",
        "risk",
        "reason",
        "monthly_price_usd",
        "projected_month_usd",
        "used_pct",
    ]
    if budgets.empty:
        return pd.DataFrame(columns=cols)
    b = budgets
    spiking = set(spikes.loc[spikes["dimension"] == "customer", "entity"]) if len(spikes) else set()
    over = (b["used_pct"] >= p["limit_pct"]).to_numpy()
    margin = (b["projected_month_usd"] > ctx.at_risk_share * b["monthly_price_usd"]).to_numpy()
    near = (b["used_pct"] >= p["warn_pct"]).to_numpy()
    proj = (b["projected_pct"] >= p["limit_pct"]).to_numpy()
    spike = b["customer_id"].isin(spiking).to_numpy()
    risk = np.where(over | margin, "high", np.where(near | proj | spike, "medium", "low"))
    reason = np.select(
        [over, margin, near, proj, spike],
        [
            "over budget",
            f"margin at risk: projected cost > {ctx.at_risk_share:.0%} of tier price",
            f"over {p['warn_pct']:g} % of budget",
            "projected over budget",
            "spike today",
        ],
        default="",
    )
    out = b.assign(risk=risk, reason=reason)[cols]
    order = out["risk"].map({"high": 0, "medium": 1, "low": 2})
    return (
        out.assign(_o=order)
        .sort_values(["_o", "projected_month_usd"], ascending=[True, False])
        .drop(columns="_o")
        .reset_index(drop=True)
    )


def _portfolio(risk: pd.DataFrame, p: dict) -> tuple[str, float, float, float]:
    if risk.empty:
        return "low", 0.0, 0.0, 0.0
    price = risk["monthly_price_usd"].fillna(0.0)
    revenue = float(price.sum())
    at_risk = float(price[risk["risk"] == "high"].sum())
    watch = float(price[risk["risk"] == "medium"].sum())
    share = at_risk / revenue * 100 if revenue > 0 else 0.0
    if share >= p["portfolio_high_pct"]:
        level = "high"
    elif share >= p["portfolio_medium_pct"] or (risk["risk"] == "high").any():
        level = "medium"
    else:
        level = "low"
    return level, at_risk, watch, share


def _alerts(
    anoms: pd.DataFrame,
    budgets: pd.DataFrame,
    scope_budgets: pd.DataFrame,
    spikes: pd.DataFrame,
    level: str,
    share: float,
    at_risk: float,
    as_of: pd.Timestamp,
    ctx: AnalysisContext,
    p: dict,
) -> list[Alert]:
    """Alerts whose ids name the condition (kind, entity, bucket or month), so they survive refreshes."""
    out: list[Alert] = []
    zt, mi = ctx.z_threshold, ctx.min_anomaly_impact_usd
    for r in anoms.head(int(p["max_anomaly_alerts"])).itertuples():
        fmt = "%Y-%m-%d" if r.freq == "D" else "%Y-%m-%dT%H"
        when = pd.Timestamp(r.bucket)
        crit = r.z >= 2 * zt and r.impact_usd >= 10 * mi
        span = "day" if r.freq == "D" else "hour"
        out.append(
            Alert(
                id=f"anomaly:{r.dimension}:{r.entity}:{when.strftime(fmt)}",
                severity="critical" if crit else "warning",
                kind="anomaly",
                entity=f"{r.dimension}:{r.entity}",
                message=f"{r.dimension} {r.entity} spent {fmt_usd(r.value)} in the {span} from "
                f"{when.strftime('%Y-%m-%d %H:%M')} UTC vs {fmt_usd(r.baseline)} usual (z = {r.z:.1f})",
                value=float(r.value),
                threshold=float(r.baseline + zt * r.sigma),
                time=when,
            )
        )
    month = as_of.strftime("%Y-%m")
    rows = [
        ("customer", r.customer_id, f"{r.customer_id} ({r.subscription_tier})", r)
        for r in (budgets.itertuples() if len(budgets) else ())
    ] + [
        (r.scope, r.scope_id, f"{r.scope} {r.scope_id}", r)
        for r in (scope_budgets.itertuples() if len(scope_budgets) else ())
    ]
    for scope, ident, name, r in rows:
        # one alert per scope, month and threshold: the id is stable, so it fires once a month; only the
        # highest threshold crossed (by the month-end projection) or "spent" (month-to-date >= budget)
        if r.status == "exceeded":
            kind, thr = "spent", 100.0
        elif np.isfinite(r.alert_threshold_pct):
            kind, thr = "projected", float(r.alert_threshold_pct)
        else:
            continue
        left = (
            ""
            if kind == "spent" or not np.isfinite(r.days_left)
            else f"; about {r.days_left:.1f} days left at the trailing rate"
        )
        what = (
            f"spent {fmt_pct(r.used_pct)} of"
            if kind == "spent"
            else f"is projected to reach {fmt_pct(r.projected_pct)} (threshold {thr:g} %) of"
        )
        out.append(
            Alert(
                id=f"budget:{scope}:{ident}:{month}:{kind}{thr:g}",
                severity="critical" if kind == "spent" or thr >= 100 else "warning",
                kind="budget",
                entity=f"{scope}:{ident}",
                message=f"{name} {what} its {fmt_usd(r.budget_usd)} monthly budget{left}",
                value=float(r.mtd_cost_usd if kind == "spent" else r.projected_month_usd),
                threshold=float(r.budget_usd * thr / 100),
                time=as_of,
            )
        )
    for r in spikes.itertuples():
        out.append(
            Alert(
                id=f"spike:{r.dimension}:{r.entity}:{pd.Timestamp(r.date).strftime('%Y-%m-%d')}",
                severity="critical" if r.ratio >= 2 * p["spike_ratio"] else "warning",
                kind="spike",
                entity=f"{r.dimension}:{r.entity}",
                message=f"{r.dimension} {r.entity} spent {fmt_usd(r.today_usd)} today, "
                f"{r.ratio:.1f}x the {fmt_usd(r.expected_usd)} expected by this hour",
                value=float(r.today_usd),
                threshold=float(r.expected_usd * p["spike_ratio"]),
                time=as_of,
            )
        )
    if level in ("medium", "high"):
        out.append(
            Alert(
                id=f"portfolio:risk:{month}",
                severity="critical" if level == "high" else "warning",
                kind="portfolio",
                entity="portfolio",
                message=f"Portfolio risk {level}: {fmt_usd(at_risk)}/month of subscription revenue "
                f"({fmt_pct(share)}) sits with high-risk customers",
                value=share,
                threshold=float(p["portfolio_high_pct"] if level == "high" else p["portfolio_medium_pct"]),
                time=as_of,
            )
        )
    return sorted(out, key=lambda a: (SEVERITY_RANK[a.severity], a.kind, a.id))


_ACTION_COLS = ["priority", "kind", "entity", "title", "detail", "impact_usd"]


def _actions(
    anoms: pd.DataFrame,
    budgets: pd.DataFrame,
    risk: pd.DataFrame,
    spikes: pd.DataFrame,
    ctx: AnalysisContext,
    p: dict,
) -> pd.DataFrame:
    """What to do now, most urgent and most valuable first; impact_usd is per month unless stated."""
    rows: list[tuple] = []
    names = sorted(ctx.tiers, key=lambda n: ctx.tiers[n].price_usd_month)
    upgrade = {n: names[i + 1] for i, n in enumerate(names[:-1])}
    flagged = risk[risk["risk"] != "low"] if len(risk) else risk
    if len(flagged):
        j = flagged.merge(budgets[["customer_id", "budget_usd"]], on="customer_id", how="left")
        over = np.maximum(np.nan_to_num(j["projected_month_usd"] - j["budget_usd"], nan=0.0), 0.0)
        loss = np.maximum(
            np.nan_to_num(j["projected_month_usd"] - ctx.at_risk_share * j["monthly_price_usd"].fillna(0.0)),
            0.0,
        )
        j = j.assign(over_usd=over, loss_usd=loss)
        for r in j.itertuples():
            if r.risk == "high":
                nxt = upgrade.get(r.subscription_tier)
                move = f"upgrade to {nxt} or cap usage" if nxt else "cap usage or move to usage-based pricing"
                rows.append(
                    (
                        "high",
                        "customer",
                        f"customer:{r.customer_id}",
                        f"{r.customer_id}: {move}",
                        f"{r.reason}; projected month cost {fmt_usd(r.projected_month_usd)} against a "
                        f"{fmt_usd(r.monthly_price_usd)} subscription. Impact = projected cost above the "
                        f"{ctx.at_risk_share:.0%} margin-at-risk line (or the budget overrun if larger).",
                        max(r.loss_usd, r.over_usd),
                    )
                )
            else:
                rows.append(
                    (
                        "medium",
                        "customer",
                        f"customer:{r.customer_id}",
                        f"{r.customer_id}: warn and watch",
                        f"{r.reason}; notify the account owner before the allocation runs out. Impact = projected "
                        "overrun of the monthly allocation.",
                        float(r.over_usd),
                    )
                )
    zt, mi = ctx.z_threshold, ctx.min_anomaly_impact_usd
    for r in anoms.head(int(p["max_anomaly_alerts"])).itertuples():
        crit = r.z >= 2 * zt and r.impact_usd >= 10 * mi
        rows.append(
            (
                "high" if crit else "medium",
                "anomaly",
                f"{r.dimension}:{r.entity}",
                f"Investigate {r.dimension} {r.entity} at {pd.Timestamp(r.bucket).strftime('%Y-%m-%d %H:%M')}",
                f"z = {r.z:.1f}; {fmt_usd(r.impact_usd)} above its usual level in that bucket (one-off excess).",
                float(r.impact_usd),
            )
        )
    for r in spikes.itertuples():
        rows.append(
            (
                "high" if r.ratio >= 2 * p["spike_ratio"] else "medium",
                "spike",
                f"{r.dimension}:{r.entity}",
                f"Check today's traffic of {r.dimension} {r.entity}",
                f"{r.ratio:.1f}x the expected spend so far today; excess {fmt_usd(r.excess_usd)} (today only).",
                float(r.excess_usd),
            )
        )
    out = pd.DataFrame(rows, columns=_ACTION_COLS)
    if out.empty:
        return out
    out["_o"] = out["priority"].map(PRIORITY_ORDER)
    return (
        out.sort_values(["_o", "impact_usd"], ascending=[True, False], kind="stable")
        .drop(columns="_o")
        .reset_index(drop=True)
    )
