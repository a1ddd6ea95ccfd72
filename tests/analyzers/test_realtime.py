"""Real-time decisions on a hand-built November: every call at 10:00 UTC, as of 20 Nov 12:00.

* ``burst`` (enterprise, budget $150): $1 a day from 1 Nov, $20 on 15 Nov  -> critical anomaly
* ``over`` (starter, budget $10): $6 on 5 and 12 Nov                        -> budget exceeded, high risk
* ``spiky`` (pro, budget $40): $1 a day 13-19 Nov, $10 today                -> spike today
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
from callframe import calls, empty

from analyzers.base import AnalysisContext
from analyzers.finops import realtime

AS_OF = pd.Timestamp("2026-11-20T12:00:00Z")


def rows() -> list[dict]:
    out = []
    for d in range(1, 21):
        out.append(dict(timestamp=f"2026-11-{d:02d}T10:00:00Z", customer_id="burst", subscription_tier="enterprise",
                        cost_usd=20.0 if d == 15 else 1.0))  # fmt: skip
    for d in (5, 12):
        out.append(dict(timestamp=f"2026-11-{d:02d}T10:00:00Z", customer_id="over", subscription_tier="starter",
                        cost_usd=6.0))  # fmt: skip
    for d in range(13, 21):
        out.append(dict(timestamp=f"2026-11-{d:02d}T10:00:00Z", customer_id="spiky", subscription_tier="pro",
                        cost_usd=10.0 if d == 20 else 1.0))  # fmt: skip
    return out


def ctx(**kw) -> AnalysisContext:
    return AnalysisContext(as_of=AS_OF, sensitivity="low", min_anomaly_impact_usd=1.0, **kw)


@pytest.fixture(scope="module")
def res():
    return realtime.analyze(calls(rows()), ctx())


def test_anomalies_leave_one_out(res):
    a = res.tables["anomalies"]
    cust = a[a["dimension"] == "customer"]
    burst = cust[cust["entity"] == "burst"].iloc[0]
    assert pd.Timestamp(burst["bucket"]) == pd.Timestamp("2026-11-15", tz="UTC")
    assert burst["baseline"] == 1.0 and burst["sigma"] == pytest.approx(0.1)  # flat history: sigma floor
    assert burst["z"] == pytest.approx(190.0) and burst["impact_usd"] == pytest.approx(19.0)
    assert burst["severity"] == pytest.approx(190.0 * math.sqrt(19.0))
    over = cust[cust["entity"] == "over"].sort_values("bucket")
    # 16 days from 5 Nov; leave-one-out: mean 6/15 = 0.4, std sqrt(36/15 - 0.16)
    assert over["z"].tolist() == pytest.approx([(6 - 0.4) / math.sqrt(36 / 15 - 0.16)] * 2)
    model = a[(a["dimension"] == "model") & (a["entity"] == "gpt-4o")]
    assert pd.Timestamp("2026-11-15T10:00Z") in set(pd.to_datetime(model["bucket"]))


def test_alert_ids_severity_and_stability(res):
    ids = {a.id: a for a in res.alerts}
    burst = ids["anomaly:customer:burst:2026-11-15"]
    assert burst.severity == "critical" and burst.kind == "anomaly" and burst.entity == "customer:burst"
    assert burst.threshold == pytest.approx(1.0 + 3.0 * 0.1)
    spent = ids["budget:customer:over:2026-11:spent100"]
    assert spent.severity == "critical" and spent.value == 12.0 and spent.threshold == 10.0
    assert ids["spike:customer:spiky:2026-11-20"].severity == "critical"
    assert ids["portfolio:risk:2026-11"].severity == "warning"
    assert "anomaly:customer:over:2026-11-05" not in ids  # older than the 7-day alert window
    assert "anomaly:customer:over:2026-11-05" in {
        f"anomaly:customer:{e}:{pd.Timestamp(b):%Y-%m-%d}"
        for e, b in res.tables["anomalies"][["entity", "bucket"]].itertuples(index=False)
    }
    later = calls([*rows(), dict(timestamp="2026-11-20T11:00:00Z", customer_id="new", cost_usd=0.01)])
    again = realtime.analyze(later, ctx())
    assert {"anomaly:customer:burst:2026-11-15", "budget:customer:over:2026-11:spent100"} <= {
        a.id for a in again.alerts
    }


def test_budgets_projection_and_days_left(res):
    b = res.tables["budgets"].set_index("customer_id")
    elapsed = (AS_OF - pd.Timestamp("2026-11-01T10:00Z")) / pd.Timedelta(days=1)  # from the first call
    assert b.loc["over", "used_pct"] == pytest.approx(120.0) and b.loc["over", "status"] == "exceeded"
    assert b.loc["over", "days_left"] == 0
    burst = b.loc["burst"]
    assert burst["mtd_cost_usd"] == 39.0 and burst["budget_usd"] == 150.0
    # trailing rate: complete days Nov 1-19 (as_of is Nov 20 12:00): (18 x $1 + $20) / 19 = $2/day; the
    # weekday medians are all $1, so the profile is flat: rest of today (0.5) + Nov 21-30 (10 days)
    assert burst["daily_run_rate_usd"] == pytest.approx(2.0)
    assert burst["projected_month_usd"] == pytest.approx(39 + 2.0 * 10.5)
    assert burst["rolling_30d_usd"] == pytest.approx(39.0)  # Oct 22 - Nov 20: all of its spend
    assert burst["days_left"] == pytest.approx((150 - 39) / 2.0)
    assert burst["pace_pct"] == pytest.approx(39 / (150 * elapsed / 30) * 100)
    assert burst["status"] == "ok"
    cum = res.tables["cumulative"]
    assert cum["cumulative_usd"].iloc[-1] == pytest.approx(39 + 12 + 17)
    assert cum["expected_usd"].iloc[-1] == pytest.approx(200 * elapsed / 30)
    assert res.metrics["customers_over_budget"].value == 1


def test_spike_today_against_time_of_day_expectation(res):
    s = res.tables["spikes"]
    spiky = s[(s["dimension"] == "customer") & (s["entity"] == "spiky")].iloc[0]
    assert spiky["trailing_avg_usd"] == pytest.approx(1.0)
    assert spiky["expected_usd"] == pytest.approx(1.0)  # all trailing spend happens by 12:00
    assert spiky["ratio"] == pytest.approx(10.0) and spiky["excess_usd"] == pytest.approx(9.0)
    assert "burst" not in set(s["entity"])


def test_portfolio_risk_and_actions(res):
    risk = res.tables["customer_risk"].set_index("customer_id")
    assert risk.loc["over", "risk"] == "high" and risk.loc["spiky", "risk"] == "medium"
    assert risk.loc["burst", "risk"] == "low"
    m = res.metrics
    assert m["revenue_at_risk_usd"].value == 29.0
    assert m["revenue_at_risk_pct"].value == pytest.approx(29 / (29 + 99 + 299) * 100)
    assert m["portfolio_risk"].value == "medium"
    actions = res.tables["actions"]
    assert actions["priority"].iloc[0] == "high"
    first = actions[actions["entity"] == "customer:over"].iloc[0]
    assert first["title"] == "over: upgrade to pro or cap usage"
    assert res.recommendations and res.recommendations[0].priority == "high"
    assert set(res.methods) >= {"anomalies", "budgets", "spikes", "portfolio", "cumulative"}


def test_sensitivity_and_budget_override():
    high = realtime.analyze(calls(rows()), ctx().__class__(as_of=AS_OF, sensitivity="high"))
    low = realtime.analyze(calls(rows()), ctx())
    assert len(high.tables["anomalies"]) >= len(low.tables["anomalies"])
    custom = realtime.analyze(calls(rows()), ctx(budgets={"over": 100.0}))
    assert "budget:over:2026-11:100" not in {a.id for a in custom.alerts}


def test_edge_cases():
    e = realtime.analyze(empty(), AnalysisContext())
    assert e.alerts == [] and e.metrics["portfolio_risk"].value == "low" and e.tables["anomalies"].empty
    one = realtime.analyze(calls([{"cost_usd": None}]), AnalysisContext())
    assert one.tables["budgets"]["mtd_cost_usd"].tolist() == [0.0]
    assert one.tables["anomalies"].empty and one.tables["spikes"].empty
    errs = realtime.analyze(calls([{"stop_reason": "ERROR"}] * 3), AnalysisContext())
    assert errs.metrics["customers_over_budget"].value == 0


def _steady(days: pd.DatetimeIndex, cost, customer: str = "c", **kw) -> list[dict]:
    return [
        dict(timestamp=(d + pd.Timedelta(hours=10)).isoformat(), customer_id=customer, subscription_tier="pro",
             cost_usd=float(cost(d)), **kw)
        for d in days
    ]  # fmt: skip


def test_projection_on_the_third_uses_the_trailing_rate():
    # $1 a day in October, then $5 on Nov 1 and 2; as of Nov 3 12:00 (Tuesday)
    october = pd.date_range("2026-10-01", "2026-10-31", freq="D", tz="UTC")
    early = pd.date_range("2026-11-01", "2026-11-03", freq="D", tz="UTC")
    df = calls(_steady(october, lambda d: 1.0) + _steady(early, lambda d: 5.0))
    as_of = pd.Timestamp("2026-11-03T12:00Z")
    b = realtime.analyze(df, AnalysisContext(as_of=as_of)).tables["budgets"].set_index("customer_id").loc["c"]
    assert b["mtd_cost_usd"] == pytest.approx(15.0)
    # the last 28 complete days: Oct 6 - Nov 2 = 26 x $1 + 2 x $5; weekday medians are all $1: flat profile
    rate = (26 + 10) / 28
    assert b["daily_run_rate_usd"] == pytest.approx(rate)
    assert b["projected_month_usd"] == pytest.approx(15 + rate * (0.5 + 27))  # rest of Nov 3, Nov 4-30
    # month-to-date / elapsed days would have said 15 / 2.5 x 30 = $180
    assert b["projected_month_usd"] < 60
    assert b["rolling_30d_usd"] == pytest.approx(27 * 1.0 + 15)  # Oct 5 - Nov 3


@pytest.mark.slow
def test_each_threshold_alerts_once_per_scope_and_month(tmp_path):
    from metering.budgets import ScopeBudget

    days = pd.date_range("2026-11-01", "2026-11-30", freq="D", tz="UTC")
    df = calls(_steady(days, lambda d: d.day * 0.5, organization_id="org_x"))  # spend keeps rising
    budgets = (ScopeBudget("organization", "org_x", 150.0), ScopeBudget("customer", "c", 150.0, (50.0, 90.0)))
    seen: dict[str, int] = {}
    for d in days[1:]:
        res = realtime.analyze(df[df["timestamp"] <= d + pd.Timedelta(hours=12)], AnalysisContext(
            as_of=d + pd.Timedelta(hours=12), scope_budgets=budgets))  # fmt: skip
        ids = [a.id for a in res.alerts if a.kind == "budget"]
        assert len(ids) == len(set(ids))  # never twice in one result
        for i in ids:
            seen[i] = seen.get(i, 0) + 1
    org = {i for i in seen if i.startswith("budget:organization:org_x:2026-11:")}
    cust = {i for i in seen if i.startswith("budget:customer:c:2026-11:")}
    assert {
        "budget:organization:org_x:2026-11:projected80",
        "budget:organization:org_x:2026-11:projected100",
    } <= org
    assert {"budget:customer:c:2026-11:projected50", "budget:customer:c:2026-11:projected90"} <= cust
    scoped = res.tables["scope_budgets"].set_index("scope_id")
    assert scoped.loc["org_x", "mtd_cost_usd"] == pytest.approx(sum(d.day * 0.5 for d in days))
    assert scoped.loc["org_x", "status"] in {"exceeded", "projected_over"}


def test_budgets_file_and_api_key_scope_without_data(tmp_path):
    import json

    from metering.budgets import BudgetError, load_budgets

    path = tmp_path / "budgets.json"
    path.write_text(json.dumps({"budgets": [
        {"scope": "product", "id": "product_a", "monthly_usd": 5},
        {"scope": "api_key", "id": "key-1", "monthly_usd": 5, "thresholds": [50]},
    ]}), encoding="utf-8")  # fmt: skip
    budgets = load_budgets(path)
    res = realtime.analyze(calls(rows()), ctx(scope_budgets=budgets))
    t = res.tables["scope_budgets"].set_index("scope_id")
    assert t.loc["product_a", "mtd_cost_usd"] == pytest.approx(39 + 12 + 17)  # every call is product_a
    assert t.loc["key-1", "status"] == "no_data"  # calls carry no API key column
    assert any(a.entity == "product:product_a" for a in res.alerts)
    path.write_text('[{"scope": "team", "id": "x", "monthly_usd": 5}]', encoding="utf-8")
    with pytest.raises(BudgetError, match="entry 0: field 'scope'"):
        load_budgets(path)
    path.write_text('[{"scope": "product", "id": "x", "monthly_usd": -5}]', encoding="utf-8")
    with pytest.raises(BudgetError, match="entry 0: field 'monthly_usd'"):
        load_budgets(path)
