"""Rate optimization on hand-built frames (prices from the shipped catalog, computed by hand)."""

from __future__ import annotations

import pandas as pd
import pytest
from callframe import calls, empty

from analyzers.base import AnalysisContext
from analyzers.finops import optimization as opt

M = 30.4375


def test_quality_tiers_from_price_rank():
    qt = opt.quality_tiers(AnalysisContext().catalog).set_index("model")
    assert len(qt) == 24
    assert qt["quality_tier"].value_counts().to_dict() == {1: 8, 2: 8, 3: 8}
    assert qt.loc["gpt-4", "quality"] == "premium"
    assert qt.loc["gemini-1.5-flash", "quality"] == "economy"
    assert qt.loc["gpt-4o", "quality"] == "standard"


def test_switch_matrix_by_hand():
    df = calls(
        [
            # qa needs economy: cheapest model for 1000 in / 500 out is gemini-1.5-flash
            # 1000 x 0.075e-6 + 500 x 0.3e-6 = 0.000225; gpt-4 list cost 0.03 + 0.03 = 0.06
            {"task_type": "qa", "provider": "openai", "model": "gpt-4", "cost_usd": 0.06},
            # code_generation needs premium: cheapest premium is mistral-large 0.004 + 0.006 = 0.01
            {"task_type": "code_generation", "provider": "openai", "model": "gpt-4", "cost_usd": 0.06},
        ]
    )
    sw = opt.switch_matrix(df, AnalysisContext().catalog).set_index("task_type")
    assert sw.loc["qa", "to_model"] == "gemini-1.5-flash"
    assert sw.loc["qa", "savings_usd"] == pytest.approx(0.06 - 0.000225)
    assert sw.loc["qa", "tradeoff"].startswith("quality premium -> economy")
    assert sw.loc["code_generation", "to_model"] == "mistral-large"
    assert sw.loc["code_generation", "switched_cost_usd"] == pytest.approx(0.01)
    assert sw.loc["code_generation", "savings_pct"] == pytest.approx(0.05 / 0.06 * 100)
    # adoption scales the saving; a task-tier override changes the target
    half = opt.switch_matrix(df, AnalysisContext().catalog, adoption=0.5).set_index("task_type")
    assert half.loc["qa", "savings_usd"] == pytest.approx((0.06 - 0.000225) / 2)
    strict = opt.switch_matrix(df, AnalysisContext().catalog, task_min_tier={"qa": 3}).set_index("task_type")
    assert strict.loc["qa", "to_model"] == "mistral-large"


def test_cheapest_model_is_not_switched():
    df = calls([{"task_type": "qa", "provider": "google", "model": "gemini-1.5-flash", "cost_usd": 0.000225}])
    assert opt.switch_matrix(df, AnalysisContext().catalog).empty


def test_commitments_by_hand():
    daily = pd.Series([10.0] * 10, index=pd.date_range("2026-11-01", periods=10, freq="D", tz="UTC"))
    c = opt.commitments(daily)
    row = c[(c["level"].str.startswith("baseline")) & (c["discount_pct"] == 20)].iloc[0]
    assert row["utilisation_pct"] == pytest.approx(100)
    assert row["break_even_utilisation_pct"] == pytest.approx(80)
    assert row["savings_usd_month"] == pytest.approx((10 - 10 * 0.8) * M)  # $2/day saved
    # spend 0 on half the days: utilisation 50 % is below break-even for every discount
    half = pd.Series([10.0, 0.0] * 5, index=daily.index)
    c2 = opt.commitments(half)
    med = c2[c2["level"] == "median daily spend"]
    assert (med["commit_usd_day"] == 5.0).all()
    assert med["utilisation_pct"].iloc[0] == pytest.approx(50)
    assert not med["worthwhile"].any()


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
    # 10 hours of data (00:00 to the call at 10:00): monthly = period x 30.4375 / (10/24)
    assert r.metrics["switch_savings_usd_month"].value == pytest.approx((0.06 - 0.000225) * M * 24 / 10)
    assert r.metrics["total_potential_usd_month"].value <= r.metrics["monthly_cost_usd"].value + 1e-9
    assert r.recommendations and r.recommendations[0].monthly_impact_usd > 0
    e = opt.analyze(empty(), ctx)
    assert e.metrics["total_potential_usd_month"].value == 0 and e.tables["switch_matrix"].empty
    unpriced = opt.analyze(calls([{"model": "mystery", "cost_usd": float("nan")}]), ctx)
    assert unpriced.tables["switch_matrix"].empty and unpriced.metrics["unpriced_calls"].value == 1
    errors = opt.analyze(calls([{"stop_reason": "ERROR", "model": "gpt-4", "cost_usd": 0.06}] * 2), ctx)
    assert errors.tables["switch_matrix"]["calls"].sum() == 2
