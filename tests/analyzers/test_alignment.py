"""Chargeback/showback: hand-computed allocations and reconciliation properties."""

from __future__ import annotations

import numpy as np
import pytest
from callframe import calls, empty
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzers.base import AnalysisContext
from analyzers.finops import alignment
from analyzers.finops.alignment import allocate_cents

NAN = float("nan")


def test_allocate_cents_by_hand():
    assert allocate_cents(np.array([0.333, 0.333, 0.334])).tolist() == [33, 33, 34]
    # equal remainders: ties go to the earlier position
    assert allocate_cents(np.array([0.125, 0.125, 0.125, 0.125])).tolist() == [13, 13, 12, 12]
    assert allocate_cents(np.array([])).tolist() == []
    assert allocate_cents(np.array([1.0, NAN])).tolist() == [100, 0]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1e4, allow_nan=False), min_size=1, max_size=60))
def test_allocate_cents_sums_exactly(amounts):
    a = np.array(amounts)
    cents = allocate_cents(a)
    assert int(cents.sum()) == int(np.floor(a.sum() * 100 + 0.5))
    assert np.all(np.abs(cents - a * 100) < 1.0 + 1e-6)


def frame():
    return calls(
        [
            {"organization_id": "org_1", "product_id": "p1", "feature_id": "chat", "cost_usd": 1.0},
            {
                "organization_id": "org_1",
                "product_id": "p1",
                "feature_id": "chat",
                "cost_usd": 2.0,
                "environment": "staging",
            },
            {"organization_id": "org_1", "product_id": "p2", "feature_id": "code", "cost_usd": 1 / 3},
            {"organization_id": "org_2", "product_id": "p1", "feature_id": "chat", "cost_usd": 1 / 3},
            {"organization_id": "org_2", "product_id": "p1", "feature_id": "chat", "cost_usd": 1 / 3},
            {
                "organization_id": "org_2",
                "product_id": "p3",
                "feature_id": "qa",
                "cost_usd": NAN,
                "model": "x",
            },
        ]
    )


def test_chargeback_by_hand():
    r = alignment.analyze(frame(), AnalysisContext())
    cb = r.tables["chargeback"]
    assert len(cb) == 5  # (org, product, feature, environment) leaves, the unpriced one included
    assert cb["calls"].sum() == 6
    total = 3 + 1 / 3 + 2 / 3
    assert r.metrics["total_cost_usd"].value == pytest.approx(total)
    assert r.metrics["allocated_total_usd"].value == pytest.approx(4.00)
    orgs = r.tables["organizations"].set_index("organization_id")
    assert orgs.loc["org_1", "allocated_usd"] == pytest.approx(3.33)
    assert orgs.loc["org_2", "allocated_usd"] == pytest.approx(0.67)  # 0.6666.. -> 67 cents
    assert orgs.loc["org_2", "unpriced_calls"] == 1
    assert r.metrics["nonprod_cost_usd"].value == pytest.approx(2.0)
    show = r.tables["showback"].set_index(["organization_id", "product_id", "feature_id"])
    assert show.loc[("org_1", "p1", "chat"), "production"] == pytest.approx(1.0)
    assert show.loc[("org_1", "p1", "chat"), "staging"] == pytest.approx(2.0)
    st_ = r.tables["statements"]
    assert st_.groupby("organization_id")["amount_usd"].sum().round(2).to_dict() == {
        "org_1": 3.33,
        "org_2": 0.67,
    }


def test_efficiency_by_hand():
    r = alignment.analyze(frame(), AnalysisContext())
    eff = r.tables["efficiency"].set_index("organization_id")
    # org_1: 3 priced calls, cost 3.3333, 4500 tokens; fleet: 5 priced calls, cost 4.0, 7500 tokens
    assert eff.loc["org_1", "cost_per_call_usd"] == pytest.approx((3 + 1 / 3) / 3)
    assert eff.loc["org_1", "cost_per_1k_tokens_usd"] == pytest.approx((3 + 1 / 3) / 4.5)
    assert eff.loc["org_1", "fleet_cost_per_1k_tokens_usd"] == pytest.approx(4.0 / 7.5)
    assert eff.loc["org_2", "cost_per_call_index"] == pytest.approx((1 / 3) / (4.0 / 5))
    assert eff.loc["org_1", "nonprod_share_pct"] == pytest.approx(2 / (3 + 1 / 3) * 100)


_rows = st.lists(
    st.tuples(
        st.sampled_from(["org_1", "org_2", "org_3"]),
        st.sampled_from(["p1", "p2"]),
        st.sampled_from(["chat", "code", "qa"]),
        st.sampled_from(["production", "staging", "development"]),
        st.one_of(st.floats(min_value=0, max_value=50, allow_nan=False), st.just(NAN)),
    ),
    min_size=1,
    max_size=40,
)


@pytest.mark.slow
@settings(max_examples=25, deadline=None)
@given(_rows)
def test_breakdowns_reconcile(rows):
    df = calls(
        [
            {"organization_id": o, "product_id": p, "feature_id": f, "environment": e, "cost_usd": c}
            for o, p, f, e, c in rows
        ]
    )
    r = alignment.analyze(df, AnalysisContext())
    total = float(np.nansum([c for *_, c in rows]))
    cents = int(np.floor(total * 100 + 0.5))
    for name in ("chargeback", "organizations", "products", "environments", "statements"):
        t = r.tables[name]
        col = "amount_usd" if name == "statements" else "allocated_usd"
        assert int(np.rint(t[col].sum() * 100)) == cents, name
        assert t["calls"].sum() == len(rows), name
    assert r.tables["chargeback"]["cost_usd"].sum() == pytest.approx(total)
    assert r.tables["showback"]["total_usd"].sum() == pytest.approx(total)
    assert r.metrics["unpriced_calls"].value == sum(1 for *_, c in rows if c != c)


def test_edge_cases():
    ctx = AnalysisContext()
    r = alignment.analyze(empty(), ctx)
    assert r.metrics["total_cost_usd"].value == 0 and r.tables["chargeback"].empty
    one = alignment.analyze(calls([{"cost_usd": 0.005}]), ctx)
    assert one.tables["chargeback"]["allocated_usd"].sum() == pytest.approx(0.01)  # 0.5 cent rounds to 1
    errors = alignment.analyze(calls([{"stop_reason": "ERROR", "cost_usd": 0.1}] * 2), ctx)
    assert errors.tables["chargeback"]["error_calls"].sum() == 2
    unpriced = alignment.analyze(calls([{"model": "x", "cost_usd": NAN}]), ctx)
    assert (
        unpriced.metrics["allocated_total_usd"].value == 0 and unpriced.metrics["unpriced_calls"].value == 1
    )
