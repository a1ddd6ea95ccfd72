"""Rate optimization on hand-built frames (prices from the shipped catalog, computed by hand)."""

from __future__ import annotations

import pandas as pd
import pytest
from callframe import calls, empty

from analyzers.base import AnalysisContext
from analyzers.finops import optimization as opt

M = 30.4375


def test_capabilities_from_the_catalog():
    caps = opt.capabilities(AnalysisContext().catalog).set_index("model")
    assert len(caps) == 24
    assert caps["capability"].value_counts().to_dict() == {"frontier": 9, "balanced": 8, "small": 7}
    assert caps.loc["gpt-4", "capability"] == "frontier" and caps.loc["gpt-4", "context_window"] == 8192
    assert caps.loc["gpt-35-turbo-azure", "capability"] == "balanced"
    assert caps.loc["gemini-1.5-flash", "capability"] == "small"


def test_switch_stays_in_class_one_per_source_model():
    df = calls(
        [
            # 1000 in / 500 out on gpt-4 (frontier): $0.06 each. Cheapest frontier model for these tokens:
            # gemini-1.5-pro 1000 x 1.25e-6 + 500 x 3.75e-6 = $0.003125 (gpt-4o $0.0075, mistral-large $0.01).
            # The qa call could go one class down (gemini-pro, $0.0005) but then the code call could not:
            # $0.0595 saved < $0.11375 for both calls on gemini-1.5-pro, so that is the one switch.
            {"task_type": "qa", "provider": "openai", "model": "gpt-4", "cost_usd": 0.06},
            {"task_type": "code_generation", "provider": "openai", "model": "gpt-4", "cost_usd": 0.06},
        ]
    )
    sw = opt.switch_matrix(df, AnalysisContext().catalog)
    assert len(sw) == 1  # one switch per source model, never a sum of alternatives
    row = sw.iloc[0]
    assert (row["from_model"], row["to_model"], row["to_class"]) == ("gpt-4", "gemini-1.5-pro", "frontier")
    assert not row["quality_tradeoff"] and row["qualifying_calls"] == 2
    assert row["switched_cost_usd"] == pytest.approx(2 * 0.003125)
    assert row["savings_usd"] == pytest.approx(0.12 - 0.00625)
    assert row["savings_pct"] == pytest.approx((0.12 - 0.00625) / 0.12 * 100)
    assert "gemini-1.5-pro" in row["assumption"] and row["assumption"].endswith(".")
    half = opt.switch_matrix(df, AnalysisContext().catalog, adoption=0.5).iloc[0]
    assert half["savings_usd"] == pytest.approx((0.12 - 0.00625) / 2)


def test_simple_tasks_go_one_class_down_only_within_the_context_window():
    opus = {"provider": "anthropic", "model": "claude-opus-4", "task_type": "qa", "output_tokens": 500}
    df = calls(
        [
            # 50,000 input tokens: gemini-pro (balanced, cheapest, 32,760-token window) cannot take it;
            # command-r (balanced, 128k) can: 50,000 x 0.5e-6 + 500 x 1.5e-6 = $0.02575 vs opus $0.7875
            {**opus, "input_tokens": 50_000, "cost_usd": 0.7875},
            {**opus, "input_tokens": 1_000, "cost_usd": 0.0525},
        ]
    )
    row = opt.switch_matrix(df, AnalysisContext().catalog).iloc[0]
    assert (row["to_model"], row["to_class"], bool(row["quality_tradeoff"])) == (
        "command-r",
        "balanced",
        True,
    )
    assert row["qualifying_calls"] == 2
    assert row["switched_cost_usd"] == pytest.approx(0.02575 + (1000 * 0.5e-6 + 500 * 1.5e-6))
    assert "quality trade-off" in row["assumption"]
    # not a simple task: it stays in its class
    chat = opt.switch_matrix(calls([{**opus, "task_type": "chat", "input_tokens": 50_000, "cost_usd": 0.7875}]),
                             AnalysisContext().catalog).iloc[0]  # fmt: skip
    assert chat["to_class"] == "frontier" and not chat["quality_tradeoff"]
    # only the calls that fit a window count: gpt-4o (128k) takes the small call, not a 150k one
    big = {"provider": "openai", "model": "gpt-4-turbo", "task_type": "chat", "output_tokens": 0}
    sw = opt.switch_matrix(
        calls(
            [
                {**big, "input_tokens": 150_000, "cost_usd": 1.5},
                {**big, "input_tokens": 1000, "cost_usd": 0.01},
            ]
        ),
        AnalysisContext().catalog,
    ).iloc[0]
    assert sw["to_model"] == "gemini-1.5-pro" and sw["qualifying_calls"] == 2  # 2M window: both fit
    assert sw["savings_usd"] <= sw["qualifying_cost_usd"]


def test_cheapest_model_is_not_switched():
    df = calls([{"task_type": "qa", "provider": "google", "model": "gemini-1.5-flash", "cost_usd": 0.000225}])
    assert opt.switch_matrix(df, AnalysisContext().catalog).empty


def test_synthetic_fleet_switches_are_honest():
    from frames import synthetic

    df = synthetic(20_000, days=14, customers=60, seed=9)
    r = opt.analyze(df, AnalysisContext())
    sw = r.tables["switch_matrix"]
    assert len(sw) and sw["from_model"].is_unique
    rank = {"frontier": 0, "balanced": 1, "small": 2}
    for row in sw.itertuples():
        step = rank[row.to_class] - rank[row.from_class]
        assert step == 0 or (step == 1 and row.quality_tradeoff), row  # no cross-class switch
        assert 0 < row.savings_usd <= row.qualifying_cost_usd <= row.current_cost_usd + 1e-12
    for rec in r.recommendations:
        if rec.category == "model switch":
            row = sw[sw["savings_usd_month"] == rec.monthly_impact_usd].iloc[0]
            assert rec.monthly_impact_usd <= row["qualifying_cost_usd_month"]
    m = {k: v.value for k, v in r.metrics.items()}
    assert m["switch_savings_usd_month"] <= m["qualifying_spend_usd_month"] <= m["monthly_cost_usd"] + 1e-9
    assert m["total_potential_usd_month"] <= m["monthly_cost_usd"]
    assert m["commitment_savings_usd_month"] == 0 and r.tables["commitments"].empty  # off by default


def test_commitments_per_provider_when_asked():
    days = pd.date_range("2026-11-01", periods=10, freq="D", tz="UTC")
    rows = [
        {"timestamp": d.isoformat(), "provider": "bedrock", "model": "claude-v2", "cost_usd": 10.0}
        for d in days
    ]
    rows += [{"timestamp": d.isoformat(), "provider": "openai", "model": "gpt-4o", "cost_usd": 10.0 * (i % 2)}
             for i, d in enumerate(days)]  # fmt: skip
    df = calls(rows)
    c = opt.commitments(df, AnalysisContext().catalog)
    assert set(c["provider"]) == {"bedrock", "openai"}
    b = c[
        (c["provider"] == "bedrock") & c["level"].str.startswith("baseline") & (c["discount_pct"] == 20)
    ].iloc[0]
    assert b["utilisation_pct"] == pytest.approx(100) and b["break_even_utilisation_pct"] == pytest.approx(80)
    assert b["savings_usd_month"] == pytest.approx((10 - 10 * 0.8) * M)  # $2/day saved
    o = c[(c["provider"] == "openai") & (c["level"] == "median daily spend")]
    assert o["utilisation_pct"].iloc[0] == pytest.approx(50) and not o["worthwhile"].any()
    r = opt.analyze(df, AnalysisContext(params={"commitments": True}))
    best = opt.best_commitments(r.tables["commitments"])
    assert list(best["provider"]) == ["bedrock"]  # one option per provider, openai's spend too uneven
    assert r.metrics["commitment_savings_usd_month"].value == pytest.approx(best["savings_usd_month"].sum())
    assert any(rec.category == "commitment" and "Assumes" in rec.detail for rec in r.recommendations)


def test_volume_and_caching_by_hand():
    df = calls(
        [
            {
                "provider": "openai",
                "model": "gpt-4o",
                "input_tokens": 1000,
                "cached_tokens": 200,
                "cost_usd": 40.0,
            }
        ]
    )
    vol = opt.volume_discounts(df, factor=30.0)  # 1,200 USD/month with openai
    row = vol.iloc[0]
    assert row["monthly_spend_usd"] == pytest.approx(1200)
    assert row["discount_pct"] == pytest.approx(3) and row["savings_usd_month"] == pytest.approx(36)
    assert row["next_threshold_usd"] == 5000 and row["gap_usd_month"] == pytest.approx(3800)
    cache = opt.caching(df, AnalysisContext().catalog, factor=2.0).iloc[0]
    delta = 2.5e-6 - 2.5e-7  # gpt-4o input - cache-read price per token
    assert cache["hit_rate_pct"] == pytest.approx(20)
    assert cache["realised_savings_usd"] == pytest.approx(200 * delta)
    assert cache["potential_savings_usd_month"] == pytest.approx((300 - 200) * delta * 2.0)


def test_analyze_totals_and_edges():
    ctx = AnalysisContext()
    df = calls([{"task_type": "qa", "provider": "openai", "model": "gpt-4", "cost_usd": 0.06}])
    r = opt.analyze(df, ctx)
    # 10 hours of data (00:00 to the call at 10:00): monthly = period x 30.4375 / (10/24); a qa call may go
    # one class down: gemini-pro 1000 x 0.25e-6 + 500 x 0.5e-6 = $0.0005
    assert r.metrics["switch_savings_usd_month"].value == pytest.approx((0.06 - 0.0005) * M * 24 / 10)
    assert r.metrics["total_potential_usd_month"].value <= r.metrics["monthly_cost_usd"].value + 1e-9
    assert r.recommendations and r.recommendations[0].monthly_impact_usd > 0
    e = opt.analyze(empty(), ctx)
    assert e.metrics["total_potential_usd_month"].value == 0 and e.tables["switch_matrix"].empty
    unpriced = opt.analyze(calls([{"model": "mystery", "cost_usd": float("nan")}]), ctx)
    assert unpriced.tables["switch_matrix"].empty and unpriced.metrics["unpriced_calls"].value == 1
    errors = opt.analyze(calls([{"stop_reason": "ERROR", "model": "gpt-4", "cost_usd": 0.06}] * 2), ctx)
    assert errors.tables["switch_matrix"]["calls"].sum() == 2
