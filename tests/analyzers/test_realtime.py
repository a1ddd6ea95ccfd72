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
    assert ids["budget:over:2026-11:100"].severity == "critical"
    assert ids["budget:over:2026-11:100"].value == 12.0 and ids["budget:over:2026-11:100"].threshold == 10.0
    assert ids["spike:customer:spiky:2026-11-20"].severity == "critical"
    assert ids["portfolio:risk:2026-11"].severity == "warning"
    assert "anomaly:customer:over:2026-11-05" not in ids  # older than the 7-day alert window
    assert "anomaly:customer:over:2026-11-05" in {
        f"anomaly:customer:{e}:{pd.Timestamp(b):%Y-%m-%d}"
        for e, b in res.tables["anomalies"][["entity", "bucket"]].itertuples(index=False)
    }
    later = calls([*rows(), dict(timestamp="2026-11-20T11:00:00Z", customer_id="new", cost_usd=0.01)])
    again = realtime.analyze(later, ctx())
    assert {"anomaly:customer:burst:2026-11-15", "budget:over:2026-11:100"} <= {a.id for a in again.alerts}


def test_budgets_projection_and_days_left(res):
    b = res.tables["budgets"].set_index("customer_id")
    elapsed = (AS_OF - pd.Timestamp("2026-11-01T10:00Z")) / pd.Timedelta(days=1)  # from the first call
    assert b.loc["over", "used_pct"] == pytest.approx(120.0) and b.loc["over", "status"] == "exceeded"
    assert b.loc["over", "days_left"] == 0
    burst = b.loc["burst"]
    assert burst["mtd_cost_usd"] == 39.0 and burst["budget_usd"] == 150.0
    assert burst["daily_run_rate_usd"] == pytest.approx(39 / elapsed)
    assert burst["projected_month_usd"] == pytest.approx(39 / elapsed * 30)
    assert burst["days_left"] == pytest.approx((150 - 39) / (39 / elapsed))
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
