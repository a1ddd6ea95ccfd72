"""Understanding usage & cost on a five-call frame whose answers are worked out by hand below."""

from __future__ import annotations

import pytest
from callframe import calls, empty
from frames import synthetic
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzers.base import AnalysisContext
from analyzers.finops import understanding
from metering.tiers import DAYS_PER_MONTH

ROWS = [
    # day 1 (Mon 2 Nov): $1.00
    dict(timestamp="2026-11-02T10:00:00Z", provider="openai", model="gpt-4o", cost_usd=1.0, customer_id="A",
         subscription_tier="pro", organization_id="org_1", product_id="product_a", feature_id="chat",
         task_type="chat", input_tokens=1000, output_tokens=500, latency_ms=800),
    # day 2: $1.50 (staging) + $0.50 = $2.00
    dict(timestamp="2026-11-03T10:00:00Z", provider="anthropic", model="claude-sonnet-4", cost_usd=1.5, customer_id="B",
         subscription_tier="starter", organization_id="org_2", product_id="product_b", feature_id="search",
         task_type="summarization", environment="staging", input_tokens=2000, output_tokens=500, latency_ms=1200),
    dict(timestamp="2026-11-03T15:00:00Z", provider="anthropic", model="claude-sonnet-4", cost_usd=0.5, customer_id="B",
         subscription_tier="starter", organization_id="org_2", product_id="product_b", feature_id="search",
         task_type="summarization", input_tokens=500, output_tokens=500, latency_ms=2000),
    # day 3: $3.00 (a timeout) + one unpriced call
    dict(timestamp="2026-11-04T09:00:00Z", provider="openai", model="gpt-4o", cost_usd=3.0, customer_id="A",
         subscription_tier="pro", organization_id="org_1", product_id="product_a", feature_id="chat",
         task_type="chat", input_tokens=3000, output_tokens=1000, latency_ms=5000, stop_reason="TIMEOUT"),
    dict(timestamp="2026-11-04T23:30:00Z", provider="acme", model="mystery-1", cost_usd=None, customer_id="C",
         subscription_tier="enterprise", organization_id="org_1", product_id="product_c", feature_id="chat",
         task_type="qa", input_tokens=100, output_tokens=100, latency_ms=100),
]  # fmt: skip


@pytest.fixture(scope="module")
def res():
    return understanding.analyze(calls(ROWS), AnalysisContext())


def val(res, key):
    return res.metrics[key].value


def test_totals(res):
    assert val(res, "total_cost_usd") == pytest.approx(6.0)
    assert (val(res, "calls"), val(res, "priced_calls"), val(res, "unpriced_calls")) == (5, 4, 1)
    assert val(res, "cost_per_call_usd") == pytest.approx(1.5)  # $6 / 4 priced calls
    assert (val(res, "error_calls"), val(res, "error_cost_usd")) == (1, 3.0)
    assert (val(res, "input_tokens"), val(res, "output_tokens")) == (6600, 2600)
    assert val(res, "cost_per_1k_tokens_usd") == pytest.approx(6.0 / 9000 * 1000)  # unpriced tokens left out
    assert val(res, "input_output_ratio") == pytest.approx(6600 / 2600)
    assert (val(res, "customers"), val(res, "organizations"), val(res, "models")) == (3, 2, 3)
    assert val(res, "period_days") == pytest.approx(2 + 23.5 / 24)  # 00:00 Nov 2 to the last call
    # Nov 4 is complete (as_of 23:30 is in its last hour): 3 complete days, fewer than 7 -> their mean
    assert val(res, "run_rate_month_usd") == pytest.approx(6.0 * DAYS_PER_MONTH / 3)
    assert "only 3 complete days" in res.metrics["run_rate_month_usd"].formula
    assert set(res.methods) >= {"period", "monthly", "unpriced", "breakdowns", "forecast", "weekday"}


def test_breakdowns_and_hierarchy(res):
    prov = res.tables["cost_by_provider"].set_index("provider")
    assert prov.loc["openai", "cost_usd"] == 4.0 and prov.loc["anthropic", "cost_usd"] == 2.0
    assert (
        prov.loc["acme", "calls"] == 1
        and prov.loc["acme", "unpriced_calls"] == 1
        and prov.loc["acme", "cost_usd"] == 0
    )
    assert prov.loc["openai", "share_pct"] == pytest.approx(400 / 6)
    env = res.tables["cost_by_environment"].set_index("environment")
    assert (env.loc["production", "cost_usd"], env.loc["production", "calls"]) == (4.5, 4)
    assert env.loc["staging", "cost_usd"] == 1.5
    cust = res.tables["cost_by_customer"].set_index("customer_id")
    assert cust.loc["A", "subscription_tier"] == "pro" and cust.loc["A", "cost_usd"] == 4.0
    hier = res.tables["hierarchy"]
    assert hier[["organization_id", "product_id", "model", "cost_usd", "calls"]].values.tolist() == [
        ["org_1", "product_a", "gpt-4o", 4.0, 2],
        ["org_1", "product_c", "mystery-1", 0.0, 1],
        ["org_2", "product_b", "claude-sonnet-4", 2.0, 2],
    ]
    for name in understanding.BREAKDOWNS:
        t = res.tables[name]
        assert t["cost_usd"].sum() == pytest.approx(6.0) and t["calls"].sum() == 5


def test_per_model_cost_per_1k_and_list_price(res):
    m = res.tables["cost_per_1k_by_model"].set_index("model")
    assert m.loc["gpt-4o", "cost_per_1k_tokens_usd"] == pytest.approx(4.0 / 5500 * 1000)
    assert m.loc["claude-sonnet-4", "cost_per_1k_tokens_usd"] == pytest.approx(2.0 / 3500 * 1000)
    assert m.loc["gpt-4o", "cost_per_call_usd"] == pytest.approx(2.0)
    assert m.loc["gpt-4o", "list_input_per_1k_usd"] == pytest.approx(0.0025)
    assert m.loc["gpt-4o", "list_output_per_1k_usd"] == pytest.approx(0.01)
    assert m["cost_per_1k_tokens_usd"].isna().loc["mystery-1"]
    io = res.tables["io_ratio_by_task_type"].set_index("task_type")
    assert io.loc["summarization", "input_output_ratio"] == pytest.approx(2500 / 1000)


def test_time_patterns(res):
    daily = res.tables["daily"]
    assert daily["cost_usd"].tolist() == [1.0, 2.0, 3.0] and daily["calls"].tolist() == [1, 2, 2]
    hourly = res.tables["hourly"].set_index("hour")
    assert (hourly.loc[10, "calls"], hourly.loc[10, "cost_usd"]) == (2, 2.5)
    assert hourly["calls"].sum() == 5 and hourly.loc[10, "share_pct"] == pytest.approx(40.0)
    wd = res.tables["weekday"].set_index("weekday")
    assert wd.loc["Monday", "days"] == 1 and wd.loc["Monday", "avg_cost_per_day_usd"] == 1.0
    assert wd.loc["Wednesday", "cost_usd"] == 3.0 and wd.loc["Sunday", "days"] == 0


def test_forecast_with_under_seven_days_is_the_mean_and_says_so(res):
    # daily cost 1, 2, 3: fewer than 7 complete days -> flat at the mean ($2/day), no trend
    assert val(res, "forecast_30d_usd") == pytest.approx(60.0)
    assert val(res, "forecast_90d_usd") == pytest.approx(180.0)
    assert "mean daily cost" in res.metrics["forecast_30d_usd"].formula
    assert "fewer than 7" in res.metrics["forecast_30d_usd"].formula
    assert val(res, "forecast_trend_usd_per_day") == 0.0
    assert len(res.tables["forecast"]) == 30


def test_top_spenders_and_recommendations(res):
    top = res.tables["top_spenders"]
    assert top["customer_id"].tolist() == ["A", "B", "C"]
    assert top.loc[0, "organization_id"] == "org_1" and top.loc[0, "cost_per_call_usd"] == pytest.approx(2.0)
    recs = {r.title: r for r in res.recommendations}
    f = DAYS_PER_MONTH / (2 + 23.5 / 24)
    assert recs["Cap non-production spend"].monthly_impact_usd == pytest.approx(1.5 * f * 0.5)
    assert recs["Stop paying for failed calls"].monthly_impact_usd == pytest.approx(3.0 * f)
    assert recs["Stop paying for failed calls"].priority == "high"
    assert recs["Price the unpriced models"].monthly_impact_usd == pytest.approx(1 * 1.5 * f)
    assert "Budget for growth" not in recs  # no trend from 3 days: nothing outside an interval
    assert recs["Concentration: A drives 66.7% of spend"].monthly_impact_usd == pytest.approx(4.0 * f)
    impacts = [r.monthly_impact_usd for r in res.recommendations]
    assert impacts == sorted(impacts, reverse=True)


def test_edge_cases_header_only_one_customer_all_unpriced_all_errors():
    ctx = AnalysisContext()
    e = understanding.analyze(empty(), ctx)
    assert e.metrics["calls"].value == 0 and e.metrics["total_cost_usd"].value == 0
    assert e.metrics["forecast_30d_usd"].value is None and e.tables["forecast"].empty
    assert e.recommendations == []
    one = understanding.analyze(
        calls([{"cost_usd": 0.2}, {"cost_usd": 0.3, "timestamp": "2026-11-02T11:00:00Z"}]), ctx
    )
    assert one.metrics["period_days"].value == pytest.approx(11 / 24) and one.metrics["customers"].value == 1
    assert one.tables["cost_by_customer"]["share_pct"].tolist() == [100.0]
    unpriced = understanding.analyze(calls([{"cost_usd": None}, {"cost_usd": None}]), ctx)
    assert (
        unpriced.metrics["unpriced_calls"].value == 2 and unpriced.metrics["cost_per_call_usd"].value is None
    )
    assert any("cannot be estimated" in r.detail for r in unpriced.recommendations)
    errs = understanding.analyze(calls([{"stop_reason": "ERROR"}, {"stop_reason": "CANCELLED"}]), ctx)
    assert errs.metrics["error_calls"].value == 2 and errs.metrics["error_cost_usd"].value == pytest.approx(
        0.015
    )


@pytest.mark.slow
@settings(max_examples=15, deadline=None)
@given(st.integers(1, 400), st.integers(0, 10_000), st.integers(1, 12))
def test_every_breakdown_reconciles_on_random_traffic(n, seed, days):
    df = synthetic(n, days=days, customers=9, seed=seed, unpriced_share=0.05)
    res = understanding.analyze(df, AnalysisContext())
    total = float(df["cost_usd"].sum())
    assert abs(res.metrics["total_cost_usd"].value - total) <= 0.01
    for name in [*understanding.BREAKDOWNS, "hierarchy", "cost_per_1k_by_model", "daily"]:
        t = res.tables[name]
        assert abs(t["cost_usd"].sum() - total) <= 0.01, name
        assert t["calls"].sum() == n, name
    assert res.tables["cost_by_customer"]["unpriced_calls"].sum() == df["cost_usd"].isna().sum()
    assert res.tables["hourly"]["calls"].sum() == n and res.tables["weekday"]["calls"].sum() == n
