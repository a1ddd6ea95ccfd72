"""Performance tracking on the five hand-built calls of test_understanding (latencies 800, 1200,
2000, 5000 ms on priced calls and 100 ms on the unpriced one; one timeout)."""

from __future__ import annotations

import pytest
from callframe import calls, empty
from frames import synthetic
from hypothesis import given, settings
from hypothesis import strategies as st
from test_understanding import ROWS

from analyzers.base import AnalysisContext
from analyzers.common import period_days
from analyzers.finops import performance


@pytest.fixture(scope="module")
def res():
    return performance.analyze(calls(ROWS), AnalysisContext(sla_ms=3000))


def val(res, key):
    return res.metrics[key].value


def test_fleet_percentiles_sla_and_errors(res):
    # sorted latencies 100, 800, 1200, 2000, 5000 -> linear interpolation
    assert val(res, "p50_ms") == 1200
    assert val(res, "p95_ms") == pytest.approx(2000 + 0.8 * 3000)
    assert val(res, "p99_ms") == pytest.approx(2000 + 0.96 * 3000)
    assert val(res, "sla_compliance_pct") == pytest.approx(80.0)
    assert val(res, "error_rate_pct") == pytest.approx(20.0) and val(
        res, "timeout_rate_pct"
    ) == pytest.approx(20.0)
    # output tokens/s of successful calls: 625, 416.67, 250, 1000 -> median of the middle two
    assert val(res, "tokens_per_s_p50") == pytest.approx((500 / 1.2 + 625) / 2)


def test_latency_by_model(res):
    m = res.tables["latency_by_model"].set_index("model")
    gpt = m.loc["gpt-4o"]
    assert (gpt["calls"], gpt["p50_ms"], gpt["p95_ms"]) == (2, 2900, pytest.approx(800 + 0.95 * 4200))
    assert gpt["error_rate_pct"] == 50 and gpt["sla_compliance_pct"] == 50 and not gpt["meets_sla_target"]
    assert gpt["tokens_per_s_p50"] == pytest.approx(625.0)  # the timeout is not a throughput sample
    assert gpt["cost_per_call_usd"] == pytest.approx(2.0)
    prov = res.tables["latency_by_provider"].set_index("provider")
    assert prov.loc["anthropic", "p99_ms"] == pytest.approx(1200 + 0.99 * 800)
    sr = res.tables["errors_by_stop_reason"].set_index("stop_reason")
    assert sr.loc["TIMEOUT", "calls"] == 1 and sr.loc["TIMEOUT", "is_error"] and not sr.loc["END", "is_error"]


def test_efficiency_score_follows_the_stated_rule(res):
    m = res.tables["latency_by_model"].set_index("model")
    c_claude, c_gpt = 2.0 / 3500 * 1000, 4.0 / 5500 * 1000
    p_claude, p_gpt, p_myst = 1200 + 0.95 * 800, 800 + 0.95 * 4200, 100.0
    expect = {
        "claude-sonnet-4": 100 * (0.5 * 1 + 0.3 * p_myst / p_claude + 0.2 * 1.0),
        "gpt-4o": 100 * (0.5 * c_claude / c_gpt + 0.3 * p_myst / p_gpt + 0.2 * 0.5),
        "mystery-1": 100 * (0.5 * 0 + 0.3 * 1 + 0.2 * 1.0),  # unpriced: no cost credit
    }
    for model, score in expect.items():
        assert m.loc[model, "efficiency_score"] == pytest.approx(score)
    assert res.tables["efficiency_ranking"]["model"].iloc[0] == "claude-sonnet-4"
    assert val(res, "best_overall_model") == "claude-sonnet-4"


def test_best_model_per_task_and_recommendations():
    rows = [dict(r) for r in ROWS] + [
        # summarization also served by a cheaper, faster, reliable model
        dict(timestamp="2026-11-04T12:00:00Z", provider="google", model="gemini-1.5-flash", cost_usd=0.01,
             task_type="summarization", input_tokens=2000, output_tokens=500, latency_ms=600),
    ]  # fmt: skip
    ctx = AnalysisContext(params={"performance": {"min_calls": 1}})
    res = performance.analyze(calls(rows), ctx)
    best = res.tables["best_model_by_task"].set_index("task_type")
    assert best.loc["summarization", "best_model"] == "gemini-1.5-flash"
    assert best.loc["summarization", "most_used_model"] == "claude-sonnet-4"
    assert best.loc["chat", "best_model"] == "gpt-4o" and best.loc["chat", "qualified"] == False  # noqa: E712
    recs = {r.title: r for r in res.recommendations}
    switch = recs["summarization: try gemini-1.5-flash instead of claude-sonnet-4"]
    # (cost per call $1.00 - $0.01) x 2 calls over the period (00:00 of the first day to the last call)
    days = period_days(calls(rows))
    assert switch.monthly_impact_usd == pytest.approx((1.0 - 0.01) * 2 * 30.4375 / days)
    assert set(res.methods) >= {"latency", "sla", "efficiency_score", "best_model"}


def test_edge_cases():
    ctx = AnalysisContext()
    e = performance.analyze(empty(), ctx)
    assert (
        e.metrics["p95_ms"].value is None and e.tables["latency_by_model"].empty and e.recommendations == []
    )
    errs = performance.analyze(
        calls([{"stop_reason": "ERROR"}, {"stop_reason": "TIMEOUT", "latency_ms": 30000}]), ctx
    )
    assert errs.metrics["error_rate_pct"].value == 100 and errs.metrics["tokens_per_s_p50"].value is None
    assert errs.metrics["sla_compliance_pct"].value == 50
    unpriced = performance.analyze(calls([{"cost_usd": None}]), ctx)
    assert unpriced.tables["latency_by_model"]["cost_per_call_usd"].isna().all()


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 300), st.integers(0, 10_000))
def test_group_counts_match(n, seed):
    df = synthetic(n, days=5, customers=7, seed=seed)
    res = performance.analyze(df, AnalysisContext())
    for name in ("latency_by_model", "latency_by_provider"):
        t = res.tables[name]
        assert t["calls"].sum() == n
        assert abs(t["cost_usd"].sum() - df["cost_usd"].sum()) <= 0.01
    assert res.tables["best_model_by_task"]["task_calls"].sum() == n
    assert res.tables["errors_by_stop_reason"]["calls"].sum() == n
