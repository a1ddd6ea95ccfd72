"""Feature economics on a hand-built frame: attribution, adoption, quadrant and co-usage by hand."""

from __future__ import annotations

import pytest
from callframe import calls, empty
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzers.base import AnalysisContext
from analyzers.revenue import features, profitability

R = 29 / 30 * 10 / 24  # a starter subscription from 00:00 to as_of (10:00) of a November day


def frame():
    return calls(
        [
            {"customer_id": "a", "feature_id": "chat", "cost_usd": 1.0},
            {"customer_id": "a", "feature_id": "code", "cost_usd": 3.0},
            {"customer_id": "b", "feature_id": "chat", "cost_usd": 2.0},
            {"customer_id": "b", "feature_id": "search", "cost_usd": 2.0},
            {"customer_id": "c", "feature_id": "chat", "cost_usd": 1.0},
        ]
    )


def test_feature_table_by_hand():
    r = features.analyze(frame(), AnalysisContext())
    t = r.tables["features"].set_index("feature_id")
    assert t.loc["chat", "customers"] == 3 and t.loc["chat", "adoption_pct"] == pytest.approx(100)
    assert t.loc["code", "adoption_pct"] == pytest.approx(100 / 3)
    assert t.loc["chat", "cost_per_customer_usd"] == pytest.approx(4 / 3)
    # by call share: a: chat 1/2, code 1/2 of R; b: chat 1/2, search 1/2; c: chat all of R
    assert t.loc["chat", "attributed_revenue_usd"] == pytest.approx(2 * R)
    assert t.loc["code", "attributed_revenue_usd"] == pytest.approx(0.5 * R)
    assert t.loc["search", "attributed_revenue_usd"] == pytest.approx(0.5 * R)
    assert t["attributed_revenue_usd"].sum() == pytest.approx(3 * R)
    assert t.loc["code", "roi_pct"] == pytest.approx((0.5 * R - 3) / 3 * 100)
    # cost is actual: code ($3 on half a customer's revenue) is far more cost-intensive than chat
    assert t.loc["code", "margin_pct"] < t.loc["search", "margin_pct"] < t.loc["chat", "margin_pct"]
    # median adoption 33 %: all high; portfolio margin (3R - 9) / 3R: chat above it, code/search below
    assert t.loc["chat", "quadrant"] == "invest"
    assert t.loc["code", "quadrant"] == "optimize" and t.loc["search", "quadrant"] == "optimize"


@pytest.mark.parametrize(
    ("method", "chat", "code"),
    [("calls", 2.0, 0.5), ("equal", 2.0, 0.5), ("tokens", 2.0, 0.5)],
)
def test_attribution_methods_sum_to_revenue(method, chat, code):
    ctx = AnalysisContext(params={"features": {"attribution": method}})
    r = features.analyze(frame(), ctx)
    t = r.tables["features"].set_index("feature_id")
    assert t.loc["chat", "attributed_revenue_usd"] == pytest.approx(chat * R)
    assert t.loc["code", "attributed_revenue_usd"] == pytest.approx(code * R)
    assert t["attributed_revenue_usd"].sum() == pytest.approx(3 * R)
    assert method in r.methods["attribution"]


def test_token_share_attribution_differs_from_call_share():
    df = calls(
        [
            {"customer_id": "a", "feature_id": "chat", "input_tokens": 100, "output_tokens": 0},
            {"customer_id": "a", "feature_id": "code", "input_tokens": 300, "output_tokens": 0},
        ]
    )
    ctx = AnalysisContext(params={"features": {"attribution": "tokens"}})
    t = features.analyze(df, ctx).tables["features"].set_index("feature_id")
    assert t.loc["code", "attributed_revenue_usd"] == pytest.approx(
        3 * t.loc["chat", "attributed_revenue_usd"]
    )
    with pytest.raises(ValueError, match="attribution"):
        features.analyze(df, AnalysisContext(params={"features": {"attribution": "cost"}}))


def test_co_usage_by_hand():
    pairs = features.analyze(frame(), AnalysisContext()).tables["co_usage"]
    got = {(a, b): (n, j, lift) for a, b, n, j, lift in pairs.itertuples(index=False)}
    assert set(got) == {("chat", "code"), ("chat", "search")}  # code+search never share a customer
    n, j, lift = got[("chat", "code")]
    assert n == 1 and j == pytest.approx(1 / 3) and lift == pytest.approx(1.0)


def test_adoption_daily_and_first_seen():
    df = calls(
        [
            {"customer_id": "a", "feature_id": "chat", "timestamp": "2026-11-01T09:00:00Z"},
            {"customer_id": "b", "feature_id": "chat", "timestamp": "2026-11-01T10:00:00Z"},
            {"customer_id": "a", "feature_id": "code", "timestamp": "2026-11-03T10:00:00Z"},
        ]
    )
    r = features.analyze(df, AnalysisContext())
    daily = r.tables["adoption_daily"]
    assert daily["calls"].sum() == 3
    assert daily[daily["feature_id"] == "chat"]["customers"].tolist() == [2]
    first = r.tables["features"].set_index("feature_id")["first_seen"]
    assert str(first["code"].date()) == "2026-11-03"


def test_edge_cases():
    ctx = AnalysisContext()
    e = features.analyze(empty(), ctx)
    assert e.tables["features"].empty and e.tables["co_usage"].empty
    one = features.analyze(calls([{"cost_usd": 0.0}]), ctx)  # cost 0: attribution by calls
    assert one.tables["features"]["attributed_revenue_usd"].iloc[0] == pytest.approx(R)
    unpriced = features.analyze(calls([{"model": "x", "cost_usd": float("nan")}]), ctx)
    assert unpriced.tables["features"]["unpriced_calls"].iloc[0] == 1


_rows = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "d"]),
        st.sampled_from(["starter", "pro", "enterprise"]),
        st.sampled_from(["chat", "code", "search"]),
        st.one_of(st.floats(min_value=0, max_value=20, allow_nan=False), st.just(float("nan"))),
        st.integers(min_value=1, max_value=20),
    ),
    min_size=1,
    max_size=30,
)


@pytest.mark.slow
@settings(max_examples=20, deadline=None)
@given(_rows)
def test_attribution_and_counts_reconcile(rows):
    df = calls(
        [
            {
                "customer_id": c,
                "subscription_tier": t,
                "feature_id": f,
                "cost_usd": cost,
                "timestamp": f"2026-11-{day:02d}T12:00:00Z",
                "stop_reason": "ERROR" if day % 5 == 0 else "END",
            }
            for c, t, f, cost, day in rows
        ]
    )
    ctx = AnalysisContext()
    r = features.analyze(df, ctx)
    t = r.tables["features"]
    revenue = profitability.analyze(df, ctx).metrics["revenue_usd"].value
    assert t["attributed_revenue_usd"].sum() == pytest.approx(revenue)
    assert t["calls"].sum() == len(rows)
    assert t["unpriced_calls"].sum() == sum(1 for row in rows if row[3] != row[3])
    assert r.tables["adoption_daily"]["calls"].sum() == len(rows)
