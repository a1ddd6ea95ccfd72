"""Subscription revenue (``metering.subscriptions`` through ``common.customer_economics``), by hand.

Tiers: starter $29, pro $99, enterprise $299 a month; November has 30 days, December 31.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from callframe import calls
from frames import synthetic
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzers import common
from analyzers.base import AnalysisContext
from analyzers.revenue import profitability
from metering.subscriptions import SubscriptionError, load_subscriptions
from tests.revenue_reference import reference_revenue

PRICES = {"starter": 29.0, "pro": 99.0, "enterprise": 299.0}
CENT = 0.005


def rows():
    r = [
        # starts mid-month, stays active (gap Nov 16 -> Dec 15 is 29 days); its Dec 15 12:00 call is as_of
        {"customer_id": "mid", "timestamp": "2026-11-16T10:00:00Z"},
        {"customer_id": "mid", "timestamp": "2026-12-15T12:00:00Z"},
        # churns after Nov 1 (39 silent days > 30), resubscribes on Dec 10
        {"customer_id": "churn", "subscription_tier": "pro", "timestamp": "2026-11-01T08:00:00Z"},
        {"customer_id": "churn", "subscription_tier": "pro", "timestamp": "2026-12-10T08:00:00Z"},
        # upgrades from starter to pro on Nov 16
        {"customer_id": "upgrade", "timestamp": "2026-11-01T09:00:00Z"},
        {"customer_id": "upgrade", "subscription_tier": "pro", "timestamp": "2026-11-16T09:00:00Z"},
        # a later call without a tier keeps pro
        {"customer_id": "notier", "subscription_tier": "pro", "timestamp": "2026-11-01T09:00:00Z"},
        {"customer_id": "notier", "subscription_tier": None, "timestamp": "2026-11-20T09:00:00Z"},
        # never seen with a tier: unknown, priced $0
        {"customer_id": "ghost", "subscription_tier": None, "timestamp": "2026-11-05T09:00:00Z"},
        # the subscriptions file overrides what the calls say
        {"customer_id": "contract", "timestamp": "2026-11-02T09:00:00Z"},
        {"customer_id": "contract", "timestamp": "2026-12-14T09:00:00Z"},
    ]
    return calls(r)


def econ(df, **kw):
    return common.customer_economics(df, AnalysisContext(**kw)).set_index("customer_id")


def test_hand_computed_subscriptions_to_the_cent():
    e = econ(rows())
    dec = 14.5  # Dec 1-14 whole and Dec 15 to 12:00
    assert e.loc["mid", "revenue_usd"] == pytest.approx(15 * 29 / 30 + dec * 29 / 31, abs=CENT)
    assert e.loc["mid", "active_days"] == pytest.approx(15 + dec)
    # one day in November, then Dec 10 to as_of (5.5 days)
    assert e.loc["churn", "revenue_usd"] == pytest.approx(99 / 30 + 5.5 * 99 / 31, abs=CENT)
    assert e.loc["churn", "active_days"] == pytest.approx(6.5)
    # Nov 1-15 starter, Nov 16-30 pro, December pro
    assert e.loc["upgrade", "revenue_usd"] == pytest.approx(
        15 * 29 / 30 + 15 * 99 / 30 + dec * 99 / 31, abs=CENT
    )
    assert e.loc["upgrade", "tier"] == "pro"
    assert e.loc["notier", "revenue_usd"] == pytest.approx(99 + dec * 99 / 31, abs=CENT)
    assert e.loc["notier", "tier"] == "pro"
    assert e.loc["ghost", "revenue_usd"] == 0 and e.loc["ghost", "tier"] == "unknown"
    assert not e.loc["ghost", "loss_making"]  # unknown tier: listed, not flagged
    assert e["revenue_usd"].sum() == pytest.approx(sum(e.loc[c, "revenue_usd"] for c in e.index), abs=1e-9)


def test_a_missing_tier_never_becomes_starter():
    e = econ(calls([{"customer_id": "x", "subscription_tier": None, "cost_usd": 1.0}]))
    assert e.loc["x", "tier"] == "unknown" and e.loc["x", "revenue_usd"] == 0


def test_subscriptions_file_overrides_the_inference(tmp_path):
    path = tmp_path / "subs.csv"
    path.write_text(
        "customer,tier,start,end,price\n"
        "contract,enterprise,2026-11-10,2026-11-19,100\n"
        "nocalls,pro,2026-12-01,,\n",
        encoding="utf-8",
    )
    subs = load_subscriptions(path, PRICES)
    e = econ(rows(), subscriptions=subs)
    assert e.loc["contract", "revenue_usd"] == pytest.approx(10 * 100 / 30, abs=CENT)
    assert e.loc["contract", "tier"] == "enterprise" and e.loc["contract", "active_days"] == 10
    # listed only in the file: billed from Dec 1 to as_of, no calls
    assert e.loc["nocalls", "revenue_usd"] == pytest.approx(14.5 * 99 / 31, abs=CENT)
    assert e.loc["nocalls", "calls"] == 0
    same = econ(rows())
    assert e.loc["mid", "revenue_usd"] == same.loc["mid", "revenue_usd"]  # others untouched
    as_json = tmp_path / "subs.json"
    as_json.write_text(
        json.dumps({"subscriptions": [{"customer": "contract", "tier": "enterprise", "start": "2026-11-10",
                                       "end": "2026-11-19", "price": 100}]}),
        encoding="utf-8",
    )  # fmt: skip
    j = econ(rows(), subscriptions=load_subscriptions(as_json, PRICES))
    assert j.loc["contract", "revenue_usd"] == pytest.approx(e.loc["contract", "revenue_usd"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("customer,tier,start\nc,pro,2026-13-01\n", "line 2: field 'start' is not a date"),
        ("customer,tier,start\nc,gold,2026-11-01\n", "line 2: field 'tier': unknown tier 'gold'"),
        ("customer,tier,start,end\nc,pro,2026-11-05,2026-11-01\n", "line 2: field 'end' is before"),
        ("customer,tier,start,price\nc,pro,2026-11-01,-3\n", "line 2: field 'price' must be"),
        ("customer,tier\nc,pro\n", "line 2: field 'start' is missing"),
        ("[1]", "entry 0: expected an object"),
    ],
)
def test_bad_subscriptions_file_names_line_and_field(tmp_path, text, message):
    path = tmp_path / ("s.json" if text.startswith("[") else "s.csv")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SubscriptionError, match=message.replace("(", r"\(")):
        load_subscriptions(path, PRICES)


def test_far_future_rows_do_not_bill_everyone_for_the_gap():
    month = synthetic(6000, days=30, customers=20, seed=5, start="2026-11-01", unpriced_share=0.0)
    end_of_month = pd.Timestamp("2026-12-01T00:00Z")
    assert (month.groupby("customer_id", observed=True)["timestamp"].max() >= "2026-11-30").all()
    before = econ(month, as_of=end_of_month)
    late = calls(
        [
            {"customer_id": c, "subscription_tier": t, "timestamp": "2027-09-27T10:00:00Z", "cost_usd": 0.01}
            for c, t in (("cust_1", "pro"), ("cust_2", "enterprise"), ("cust_3", "starter"))
        ]
    )
    after_df = pd.concat([month, late], ignore_index=True)
    for c in ("customer_id", "subscription_tier", "model", "provider"):
        after_df[c] = after_df[c].astype("category")
    after = econ(after_df)
    movers = ["cust_1", "cust_2", "cust_3"]
    others = before.index.difference(movers)
    assert after.loc[others, "revenue_usd"].to_numpy() == pytest.approx(
        before.loc[others, "revenue_usd"].to_numpy()
    )
    new_days = 10 / 24  # Sep 27 2027 from 00:00 to as_of (10:00)
    for c in movers:
        grown = after.loc[c, "revenue_usd"] - before.loc[c, "revenue_usd"]
        assert 0 <= grown <= new_days * 299 / 30 + 1e-9
        assert after.loc[c, "active_days"] == pytest.approx(before.loc[c, "active_days"] + new_days)
    r = profitability.analyze(after_df, AnalysisContext())
    assert r.metrics["revenue_usd"].value == pytest.approx(after["revenue_usd"].sum())
    assert r.tables["customers"]["revenue_usd"].sum() == pytest.approx(r.metrics["revenue_usd"].value)


_row = st.fixed_dictionaries(
    {
        "customer_id": st.sampled_from(["a", "b", "c"]),
        "subscription_tier": st.sampled_from(["starter", "pro", "enterprise", None]),
        "day": st.integers(0, 90),
        "hour": st.integers(0, 23),
    }
)


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(st.lists(_row, min_size=1, max_size=25))
def test_matches_the_day_by_day_reference(rs):
    for r in rs:
        ts = pd.Timestamp("2026-10-20T00:00Z") + pd.Timedelta(days=r.pop("day"), hours=r.pop("hour"))
        r["timestamp"] = ts.isoformat()
    df = calls(rs)
    e = econ(df)
    for cust in e.index:
        rev, active = reference_revenue(df, cust, PRICES)
        assert e.loc[cust, "revenue_usd"] == pytest.approx(rev, abs=1e-9), cust
        assert e.loc[cust, "active_days"] == pytest.approx(active, abs=1e-9), cust
    assert np.isfinite(e["revenue_usd"]).all()


def test_a_metered_record_without_a_tier_is_stored_without_one():
    from ingest.mapping import map_revenium

    body = {
        "transactionId": "t1",
        "provider": "openai",
        "model": "gpt-4o",
        "inputTokenCount": 10,
        "outputTokenCount": 5,
        "requestTime": "2026-11-02T10:00:00Z",
        "requestDuration": 100,
    }
    mapped = map_revenium(body)
    assert mapped.problems == [] and mapped.record["subscription_tier"] == ""
