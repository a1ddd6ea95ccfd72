"""Customer profitability on hand-built frames: every number computed by hand below."""

from __future__ import annotations

import pytest
from callframe import calls, empty

from analyzers.base import AnalysisContext
from analyzers.revenue import profitability

NAN = float("nan")
M = 30.4375  # days per month


#: as_of = the newest call, Nov 10 10:00 UTC; November has 30 days
A_DAYS = 9 + 10 / 24  # a: from Nov 1 (first call) to as_of
B_DAYS = 5 + 10 / 24  # b: from Nov 5
C_DAYS = 8 + 10 / 24  # c: from Nov 2 (its unpriced call's default timestamp)
REV_A, REV_B, REV_C = 29 * A_DAYS / 30, 99 * B_DAYS / 30, 299 * C_DAYS / 30


def frame():
    # period: 2026-11-01 00:00 .. 2026-11-10 10:00 = 9.42 days
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
    assert r.metrics["period_days"].value == pytest.approx(A_DAYS)
    assert cust.loc["a", "revenue_usd"] == pytest.approx(REV_A)
    assert cust.loc["a", "active_days"] == pytest.approx(A_DAYS)
    assert cust.loc["a", "tier"] == "starter"
    assert cust.loc["a", "cost_usd"] == pytest.approx(10.0)
    assert cust.loc["a", "margin_usd"] == pytest.approx(REV_A - 10)
    assert cust.loc["a", "band"] == "negative"
    assert bool(cust.loc["a", "loss_making"]) and bool(cust.loc["a", "at_risk"])
    b_pct = (REV_B - 1) / REV_B * 100
    assert cust.loc["b", "margin_pct"] == pytest.approx(b_pct)
    assert cust.loc["b", "band"] == ">50%"
    assert cust.loc["c", "cost_usd"] == pytest.approx(2.0)  # the unpriced call is not $0-added...
    assert cust.loc["c", "unpriced_calls"] == 1  # ...it is counted
    assert r.metrics["loss_making_count"].value == 1 and r.metrics["at_risk_count"].value == 1
    revenue = REV_A + REV_B + REV_C
    assert r.metrics["revenue_usd"].value == pytest.approx(revenue)
    assert cust["revenue_usd"].sum() == pytest.approx(revenue)
    assert r.metrics["gross_margin_pct"].value == pytest.approx((revenue - 13) / revenue * 100)
    assert r.metrics["unpriced_calls"].value == 1


def test_interventions_by_hand():
    r = profitability.analyze(frame(), AnalysisContext())
    fix = r.tables["interventions"]
    assert list(fix["customer_id"]) == ["a"]
    row = fix.iloc[0]
    monthly_cost = 10 * M / A_DAYS  # over a's active days
    monthly_rev = REV_A * M / A_DAYS
    assert row["monthly_cost_usd"] == pytest.approx(monthly_cost)
    assert row["upgrade_to"] == "pro"
    assert row["upgrade_usd_month"] == pytest.approx(99 - monthly_rev)  # cost 32.3 <= 80 % of 99
    assert row["cap_usd_month"] == pytest.approx(monthly_cost - 10)  # starter AI budget $10
    assert row["usage_pricing_usd_month"] == pytest.approx(monthly_cost - 0.8 * monthly_rev)
    assert row["best"] == "upgrade"
    assert r.metrics["intervention_potential_usd_month"].value == pytest.approx(99 - monthly_rev)
    assert any(rec.monthly_impact_usd == pytest.approx(99 - monthly_rev) for rec in r.recommendations)
    assert any("loss-making" in rec.title for rec in r.recommendations)


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

    # as_of = Nov 2 10:00: 10/24 of a day; starter revenue = 29 / 30 x 10/24. Margins 50 %, 21 % and 19 %.
    rev = customer_margins(calls([{"cost_usd": 0.0}]), AnalysisContext())["revenue_usd"].iloc[0]
    assert rev == pytest.approx(29 / 30 * 10 / 24)
    df = calls(
        [
            {"customer_id": "x", "cost_usd": rev * 0.5},
            {"customer_id": "y", "cost_usd": rev * 0.79},
            {"customer_id": "z", "cost_usd": rev * 0.81},
        ]
    )
    m = customer_margins(df, AnalysisContext()).set_index("customer_id")
    assert m.loc["x", "band"] == "20-50%"  # exactly 50 % is not "> 50 %"
    assert m.loc["y", "band"] == "20-50%" and not m.loc["y", "at_risk"]
    assert m.loc["z", "band"] == "0-20%" and m.loc["z", "at_risk"] and not m.loc["z", "loss_making"]
    strict = customer_margins(df, AnalysisContext(at_risk_share=0.7)).set_index("customer_id")
    assert strict.loc["y", "at_risk"]  # the threshold is configurable


def test_edge_cases():
    ctx = AnalysisContext()
    r = profitability.analyze(empty(), ctx)
    assert r.metrics["customer_count"].value == 0 and r.metrics["gross_margin_pct"].value is None
    one = profitability.analyze(calls([{"cost_usd": 0.5}]), ctx)
    assert one.metrics["period_days"].value == pytest.approx(10 / 24)
    assert one.tables["customers"]["revenue_usd"].iloc[0] == pytest.approx(29 / 30 * 10 / 24)
    unknown = profitability.analyze(calls([{"subscription_tier": "gold", "cost_usd": 1.0}]), ctx)
    row = unknown.tables["customers"].iloc[0]
    assert row["revenue_usd"] == 0 and row["tier"] == "unknown" and row["band"] == "unknown tier"
    assert not row["loss_making"] and not row["at_risk"]
    assert unknown.metrics["unknown_tier_customers"].value == 1
    errors = profitability.analyze(calls([{"stop_reason": "ERROR", "cost_usd": 0.2}] * 3), ctx)
    assert errors.metrics["cost_usd"].value == pytest.approx(0.6)
    unpriced = profitability.analyze(calls([{"model": "x", "cost_usd": NAN}]), ctx)
    assert unpriced.metrics["cost_usd"].value == 0 and unpriced.metrics["unpriced_calls"].value == 1
