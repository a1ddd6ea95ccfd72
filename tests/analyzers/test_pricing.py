"""Four pricing models of the same usage, computed by hand for one customer on one day."""

from __future__ import annotations

import pytest
from callframe import calls, empty

from analyzers.base import AnalysisContext
from analyzers.revenue import pricing

M = 30.4375
D = 10 / 24  # the default call is at 10:00 UTC: as_of, so the window is 10 hours of a 30-day month


def one_customer():
    # 2,000,000 tokens, $3 cost, one day, starter (29/month, 2M tokens included, $0.01 per 1K overage)
    return calls([{"input_tokens": 1_500_000, "output_tokens": 500_000, "cost_usd": 3.0}])


def test_four_models_by_hand():
    r = pricing.analyze(one_customer(), AnalysisContext())
    models = r.tables["models"].set_index("model")
    flat = 29 / 30 * D
    assert models.loc["flat", "revenue_usd"] == pytest.approx(flat)
    included = 2_000_000 * D / M  # pro-rated to the customer's active days
    assert models.loc["tiered", "revenue_usd"] == pytest.approx(flat + (2_000_000 - included) / 1000 * 0.01)
    # usage: fleet cost per 1K tokens = 3 / 2000 = 0.0015, x (1 + 1.0) markup = 0.003 -> 2000 x 0.003
    assert r.metrics["usage_price_per_1k_usd"].value == pytest.approx(0.003)
    assert models.loc["usage", "revenue_usd"] == pytest.approx(6.0)
    assert models.loc["hybrid", "revenue_usd"] == pytest.approx(0.5 * flat + 3.0 * 1.3)
    assert models.loc["usage", "margin_usd"] == pytest.approx(3.0)
    # usage raises the bill by > 20 %: churn risk, 30 % of the new revenue at risk
    assert models.loc["usage", "churn_risk_customers"] == 1
    assert models.loc["usage", "revenue_at_risk_usd"] == pytest.approx(6.0 * 0.3)
    assert models.loc["usage", "risk_adjusted_margin_usd"] == pytest.approx(3.0 - 1.8)
    assert models.loc["flat", "churn_risk_customers"] == 0


def test_parameters_override_defaults():
    ctx = AnalysisContext(params={"usage_markup": 0.5, "hybrid_base_share": 0.0, "hybrid_markup": 0.0})
    models = pricing.analyze(one_customer(), ctx).tables["models"].set_index("model")
    assert models.loc["usage", "revenue_usd"] == pytest.approx(4.5)
    assert models.loc["hybrid", "revenue_usd"] == pytest.approx(3.0)
    fixed = pricing.analyze(one_customer(), AnalysisContext(params={"usage_price_per_1k": 0.001}))
    assert fixed.tables["models"].set_index("model").loc["usage", "revenue_usd"] == pytest.approx(2.0)


def test_segments_and_winners():
    rows = [
        {
            "customer_id": f"c{i}",
            "input_tokens": 1000 * (i + 1),
            "output_tokens": 0,
            "cost_usd": 0.01 * (i + 1),
        }
        for i in range(10)
    ]
    r = pricing.analyze(calls(rows), AnalysisContext())
    seg = r.tables["segments"]
    flat = seg[seg["model"] == "flat"].set_index("segment")
    assert flat["customers"].to_dict() == {"light": 5, "regular": 4, "heavy": 1}
    for m, g in seg.groupby("model"):
        assert g["customers"].sum() == 10, m
        models = r.tables["models"].set_index("model")
        assert g["revenue_usd"].sum() == pytest.approx(models.loc[m, "revenue_usd"])
        assert g["paying_more"].sum() == models.loc[m, "customers_paying_more"]


def test_edge_cases():
    ctx = AnalysisContext()
    e = pricing.analyze(empty(), ctx)
    assert e.tables["models"]["revenue_usd"].sum() == 0 and e.tables["customers"].empty
    unpriced = pricing.analyze(calls([{"model": "x", "cost_usd": float("nan")}]), ctx)
    assert unpriced.tables["models"]["cost_usd"].iloc[0] == 0
    errors = pricing.analyze(calls([{"stop_reason": "ERROR", "cost_usd": 0.5}]), ctx)
    assert errors.tables["models"].set_index("model").loc["hybrid", "revenue_usd"] == pytest.approx(
        0.5 * 29 / 30 * D + 0.5 * 1.3
    )
