"""Customer profitability on hand-built frames: every number computed by hand below."""

from __future__ import annotations

import math

import pytest
from callframe import calls, empty

from analyzers.base import AnalysisContext
from analyzers.revenue import profitability

NAN = float("nan")
M = 30.4375  # days per month


def frame():
    # period: 2026-11-01 .. 2026-11-10 = 10 calendar days (inclusive)
    return calls(
        [
            {
                "customer_id": "a",
                "subscription_tier": "starter",
                "cost_usd": 5.0,
                "timestamp": "2026-11-01T10:00:00Z",
            },
            {
                "customer_id": "a",
                "subscription_tier": "starter",
                "cost_usd": 5.0,
                "timestamp": "2026-11-10T10:00:00Z",
            },
            {
                "customer_id": "b",
                "subscription_tier": "pro",
                "cost_usd": 1.0,
                "timestamp": "2026-11-05T10:00:00Z",
            },
            {
                "customer_id": "c",
                "subscription_tier": "enterprise",
                "cost_usd": 2.0,
                "timestamp": "2026-11-05T11:00:00Z",
            },
            {"customer_id": "c", "subscription_tier": "enterprise", "cost_usd": NAN, "model": "mystery"},
        ]
    )


def test_customer_margins_by_hand():
    r = profitability.analyze(frame(), AnalysisContext())
    cust = r.tables["customers"].set_index("customer_id")
    assert r.metrics["period_days"].value == 10
    assert cust.loc["a", "revenue_usd"] == pytest.approx(29 * 10 / M)
    assert cust.loc["a", "cost_usd"] == pytest.approx(10.0)
    assert cust.loc["a", "margin_usd"] == pytest.approx(29 * 10 / M - 10)
    assert cust.loc["a", "band"] == "negative"
    assert bool(cust.loc["a", "unprofitable"])
    b_pct = (99 * 10 / M - 1) / (99 * 10 / M) * 100
    assert cust.loc["b", "margin_pct"] == pytest.approx(b_pct)
    assert cust.loc["b", "band"] == ">50%"
    assert cust.loc["c", "cost_usd"] == pytest.approx(2.0)  # the unpriced call is not $0-added...
    assert cust.loc["c", "unpriced_calls"] == 1  # ...it is counted
    assert r.metrics["unprofitable_count"].value == 1
    revenue = (29 + 99 + 299) * 10 / M
    assert r.metrics["revenue_usd"].value == pytest.approx(revenue)
    assert r.metrics["gross_margin_pct"].value == pytest.approx((revenue - 13) / revenue * 100)
    assert r.metrics["unpriced_calls"].value == 1


def test_interventions_by_hand():
    r = profitability.analyze(frame(), AnalysisContext())
    fix = r.tables["interventions"]
    assert list(fix["customer_id"]) == ["a"]
    row = fix.iloc[0]
    monthly_cost = 10 * M / 10  # 30.4375
    assert row["monthly_cost_usd"] == pytest.approx(monthly_cost)
    assert row["upgrade_to"] == "pro"
    assert row["upgrade_usd_month"] == pytest.approx(99 - 29)  # cost 30.44 <= 80 % of 99
    assert row["cap_usd_month"] == pytest.approx(monthly_cost - 10)  # starter AI budget $10
    assert row["usage_pricing_usd_month"] == pytest.approx(monthly_cost - 0.8 * 29)
    assert row["best"] == "upgrade"
    assert r.metrics["intervention_potential_usd_month"].value == pytest.approx(70.0)
    assert any(rec.monthly_impact_usd == pytest.approx(70.0) for rec in r.recommendations)


def test_bands_and_tiers_reconcile():
    r = profitability.analyze(frame(), AnalysisContext())
    bands = r.tables["bands"].set_index("band")
    assert bands["customers"].sum() == 3
    assert bands.loc["negative", "customers"] == 1 and bands.loc[">50%", "customers"] == 2
    tiers = r.tables["tiers"]
    assert tiers["cost_usd"].sum() == pytest.approx(13.0)
    assert tiers["revenue_usd"].sum() == pytest.approx(r.metrics["revenue_usd"].value)


def test_band_boundaries():
    from analyzers.revenue.profitability import customer_margins

    # one day; starter revenue = 29 / M. Margins 50 %, 21 % and 19 %.
    rev = 29 / M
    df = calls(
        [
            {"customer_id": "x", "cost_usd": rev * 0.5},
            {"customer_id": "y", "cost_usd": rev * 0.79},
            {"customer_id": "z", "cost_usd": rev * 0.81},
        ]
    )
    m = customer_margins(df, AnalysisContext().tiers).set_index("customer_id")
    assert m.loc["x", "band"] == "20-50%"  # exactly 50 % is not "> 50 %"
    assert m.loc["y", "band"] == "20-50%" and not m.loc["y", "unprofitable"]
    assert m.loc["z", "band"] == "0-20%" and m.loc["z", "unprofitable"]


def test_edge_cases():
    ctx = AnalysisContext()
    r = profitability.analyze(empty(), ctx)
    assert r.metrics["customer_count"].value == 0 and r.metrics["gross_margin_pct"].value is None
    one = profitability.analyze(calls([{"cost_usd": 0.5}]), ctx)
    assert one.metrics["period_days"].value == 1
    assert one.tables["customers"]["revenue_usd"].iloc[0] == pytest.approx(29 / M)
    unknown = profitability.analyze(calls([{"subscription_tier": "gold", "cost_usd": 1.0}]), ctx)
    row = unknown.tables["customers"].iloc[0]
    assert math.isnan(row["revenue_usd"]) and row["band"] == "unknown tier" and not row["unprofitable"]
    assert unknown.metrics["unknown_tier_customers"].value == 1
    errors = profitability.analyze(calls([{"stop_reason": "ERROR", "cost_usd": 0.2}] * 3), ctx)
    assert errors.metrics["cost_usd"].value == pytest.approx(0.6)
    unpriced = profitability.analyze(calls([{"model": "x", "cost_usd": NAN}]), ctx)
    assert unpriced.metrics["cost_usd"].value == 0 and unpriced.metrics["unpriced_calls"].value == 1
