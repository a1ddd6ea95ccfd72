"""Shared helpers: exact numbers on tiny frames, plus reconciliation properties on random ones."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from callframe import calls
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzers import common
from analyzers.base import AnalysisContext
from analyzers.registry import ANALYZER_NAMES, MODULES, get
from metering.tiers import DAYS_PER_MONTH


def test_group_stats_counts_sums_and_interpolated_percentiles():
    df = pd.DataFrame({"m": ["a", "a", "a", "a", "b"], "lat": [100.0, 200.0, 300.0, 400.0, 50.0]})
    out = common.group_stats(df, "m", ["lat"])
    a = out[out["m"] == "a"].iloc[0]
    assert a["calls"] == 4
    assert a["lat_sum"] == 1000
    assert a["lat_mean"] == 250
    assert a["lat_p50"] == pytest.approx(250.0)
    assert a["lat_p95"] == pytest.approx(385.0)  # 300 + 0.85 x 100
    assert a["lat_p99"] == pytest.approx(397.0)
    b = out[out["m"] == "b"].iloc[0]
    assert (b["calls"], b["lat_p99"]) == (1, 50.0)


def test_group_stats_keeps_missing_keys_and_rejects_unknown_stats():
    df = pd.DataFrame({"m": pd.Categorical(["a", None, None]), "v": [1.0, 2.0, 3.0]})
    out = common.group_stats(df, "m", ["v"], ("count", "sum"))
    assert out["calls"].sum() == 3
    assert out["v_sum"].sum() == 6
    with pytest.raises(ValueError, match="unknown statistic"):
        common.group_stats(df, "m", ["v"], ("p42",))
    empty = common.group_stats(df.iloc[:0], "m", ["v"])
    assert list(empty.columns)[:2] == ["m", "calls"] and empty.empty


def test_cost_breakdown_counts_unpriced_and_errors_without_adding_dollars():
    df = calls(
        [
            {"model": "a", "cost_usd": 1.0},
            {"model": "a", "cost_usd": None, "stop_reason": "ERROR"},
            {"model": "b", "cost_usd": 2.5, "stop_reason": "TIMEOUT"},
        ]
    )
    out = common.cost_breakdown(df, "model").set_index("model")
    assert out.loc["a", "calls"] == 2 and out.loc["a", "unpriced_calls"] == 1
    assert out.loc["a", "cost_usd"] == 1.0 and out.loc["b", "cost_usd"] == 2.5
    assert out.loc["a", "error_calls"] == 1 and out.loc["b", "error_calls"] == 1
    assert out.loc["b", "share_pct"] == pytest.approx(250 / 3.5)
    assert list(out.index) == ["b", "a"]  # by cost, descending


def test_bucket_week_month_and_hour():
    ts = pd.Series(pd.to_datetime(["2026-11-04T13:45:00Z", "2026-11-30T00:10:00Z"], utc=True))
    assert common.bucket(ts, "W").dt.strftime("%Y-%m-%d").tolist() == ["2026-11-02", "2026-11-30"]
    assert common.bucket(ts, "ME").dt.strftime("%Y-%m-%d").tolist() == ["2026-11-01", "2026-11-01"]
    assert common.bucket(ts, "h").dt.strftime("%H:%M").tolist() == ["13:00", "00:00"]


def test_period_days_counts_the_elapsed_fraction_of_the_last_day():
    one = calls([{"timestamp": "2026-11-02T12:00:00Z"}])
    assert common.period_days(one) == pytest.approx(0.5)  # from 00:00 of the first day to as_of
    two = calls([{"timestamp": "2026-11-02T23:59:00Z"}, {"timestamp": "2026-11-04T06:00:00Z"}])
    assert common.period_days(two) == pytest.approx(2.25)
    assert common.period_days(two, pd.Timestamp("2026-11-05T00:00Z")) == pytest.approx(3.0)
    assert common.period_days(one.iloc[:0]) == 0


def test_customer_economics_uses_subscription_days_and_both_flags():
    ctx = AnalysisContext()
    tiers = ctx.tiers
    df = calls(
        [
            {
                "timestamp": "2026-11-01T10:00:00Z",
                "customer_id": "c1",
                "subscription_tier": "starter",
                "cost_usd": 2.0,
            },
            {
                "timestamp": "2026-11-03T12:00:00Z",
                "customer_id": "c1",
                "subscription_tier": "pro",
                "cost_usd": 1.0,
            },
            {
                "timestamp": "2026-11-02T10:00:00Z",
                "customer_id": "c2",
                "subscription_tier": "starter",
                "cost_usd": None,
            },
        ]
    )
    econ = common.customer_economics(df, ctx).set_index("customer_id")
    # c1: starter on Nov 1-2, pro from Nov 3 to as_of (Nov 3 12:00: half a day); November has 30 days
    rev_c1 = 2 * tiers["starter"].price_usd_month / 30 + 0.5 * tiers["pro"].price_usd_month / 30
    assert econ.loc["c1", "tier"] == "pro"
    assert econ.loc["c1", "active_days"] == pytest.approx(2.5)
    assert econ.loc["c1", "revenue_usd"] == pytest.approx(rev_c1)
    assert econ.loc["c1", "margin_usd"] == pytest.approx(rev_c1 - 3.0)
    assert econ.loc["c1", "loss_making"] == (rev_c1 < 3.0)
    assert econ.loc["c1", "at_risk"] == (0.8 * rev_c1 < 3.0)
    # c2 starts on its first day (Nov 2): 1.5 days
    assert econ.loc["c2", "revenue_usd"] == pytest.approx(1.5 * 29 / 30)
    assert econ.loc["c2", "unpriced_calls"] == 1 and econ.loc["c2", "cost_usd"] == 0.0
    assert not econ.loc["c2", "loss_making"] and not econ.loc["c2", "at_risk"]
    assert common.gross_margin_pct(100.0, 30.0) == 70.0
    assert common.gross_margin_pct(0.0, 30.0) is None


def test_zscore_leave_one_out_with_sigma_floor():
    frame = pd.DataFrame(
        {
            "entity": ["x"] * 5 + ["y"] * 3,
            "bucket": list(range(5)) + list(range(3)),
            "cost_usd": [1, 1, 1, 1, 10, 5, 5, 50],
        }
    )
    out = common.zscore_anomalies(frame, z_threshold=3.0, min_impact=1.0, min_buckets=4)
    assert len(out) == 1  # y has only 3 buckets
    r = out.iloc[0]
    assert (r["entity"], r["bucket"]) == ("x", 4)
    assert r["baseline"] == 1.0 and r["sigma"] == pytest.approx(0.1)
    assert r["z"] == pytest.approx(90.0) and r["impact_usd"] == 9.0
    assert r["severity"] == pytest.approx(90.0 * 3.0)
    assert common.zscore_anomalies(frame, z_threshold=3.0, min_impact=10.0).empty


MONDAY = "2026-10-05"
WEEKLY = np.array([1.1, 1.1, 1.1, 1.1, 1.1, 0.75, 0.75])  # weekday factors, mean 1 (weekends -25 %)


def series(values, start=MONDAY):
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="D", tz="UTC"))


def test_forecast_keeps_a_linear_trend_and_the_weekly_pattern():
    days = pd.date_range(MONDAY, periods=28, freq="D", tz="UTC")
    y = (100 + 2 * np.arange(28)) * WEEKLY[days.day_of_week]
    fc = common.forecast(pd.Series(y, index=days), 14)
    t = np.arange(28, 42)
    future = pd.date_range(days[-1] + pd.Timedelta(days=1), periods=14, freq="D")
    expected = (100 + 2 * t) * WEEKLY[future.day_of_week]
    assert fc.daily["yhat"].to_numpy() == pytest.approx(expected, rel=0.02)
    assert fc.slope_per_day == pytest.approx(2.0, rel=0.05)
    yhat = fc.daily.set_index(future.day_of_week)["yhat"]
    assert yhat.loc[5].mean() < 0.8 * yhat.loc[0].mean()  # weekends stay low: the pattern is kept
    assert [fc.seasonal[w] for w in range(7)] == pytest.approx(WEEKLY, rel=0.02)
    assert fc.total_lo <= fc.total <= fc.total_hi and fc.backtest_mape_pct < 5
    assert "weekday" in fc.method


def test_forecast_is_not_dragged_by_one_spike_day():
    rng = np.random.default_rng(3)
    days = pd.date_range(MONDAY, periods=35, freq="D", tz="UTC")
    truth = 100 * WEEKLY[days.day_of_week] * rng.uniform(0.95, 1.05, 35)
    spiky = truth.copy()
    spiky[30] *= 10  # one viral day near the end
    clean = common.forecast(pd.Series(truth, index=days), 30).total
    fc = common.forecast(pd.Series(spiky, index=days), 30)
    assert fc.total == pytest.approx(clean, rel=0.15)
    assert fc.total == pytest.approx(30 * 100, rel=0.15)  # the spike-free truth: flat 100/day on average


def test_forecast_intervals_cover_backtests():
    """Roll an origin through a noisy, trending, weekly series: the 80 % interval of the next 7 days'
    total, made from earlier days only, contains the actual total at least 70 % of the time."""
    rng = np.random.default_rng(11)
    n = 120
    days = pd.date_range(MONDAY, periods=n, freq="D", tz="UTC")
    y = (200 + 1.5 * np.arange(n)) * WEEKLY[days.day_of_week] * rng.lognormal(0, 0.15, n)
    hits = tries = 0
    for o in range(35, n - 7, 2):
        fc = common.forecast(pd.Series(y[:o], index=days[:o]), 7)
        actual = y[o : o + 7].sum()
        tries += 1
        hits += fc.total_lo <= actual <= fc.total_hi
    assert tries >= 30 and hits / tries >= 0.70


def test_forecast_short_history_is_the_mean_and_never_zero():
    fc = common.forecast(series([2.0, 4.0]), 30)
    assert fc.total == pytest.approx(90.0) and "mean daily cost" in fc.method
    assert fc.total_lo is None and fc.backtest_mape_pct is None  # nothing to backtest: no interval
    assert common.forecast(pd.Series(dtype="float64"), 30).total is None


def test_forecast_after_a_day_and_a_half_is_neither_zero_nor_infinite():
    idx = pd.date_range("2026-11-01", periods=2, freq="D", tz="UTC")
    daily = pd.Series([24.0, 13.0], index=idx)  # day 2 is in progress at 12:00
    fc = common.cost_forecast(daily, pd.Timestamp("2026-11-02T12:00Z"), 30)
    assert fc.total == pytest.approx(24.0 * 30)  # one complete day: its cost, projected flat
    assert 0 < fc.total < math.inf
    early = common.cost_forecast(daily.iloc[:1], pd.Timestamp("2026-11-01T00:20Z"), 30)
    assert early.total is None and "no complete day" in early.method  # not $0: no forecast yet


def test_cost_forecast_leaves_out_partial_last_day():
    s = series([3.0, 3, 3, 3, 3, 3, 3, 3, 0.1], start="2026-11-01")
    fc = common.cost_forecast(s, pd.Timestamp("2026-11-09T08:00Z"), 2)
    assert fc.daily["yhat"].to_numpy() == pytest.approx([3.0, 3.0])
    full = common.cost_forecast(s.iloc[:8], pd.Timestamp("2026-11-08T23:30Z"), 1)
    assert full.total == pytest.approx(3.0) and full.history_days == 8


def test_run_rate_uses_the_last_seven_complete_days():
    s = series([1.0] * 7 + [2.0] * 7 + [50.0], start="2026-11-01")  # day 15 in progress
    rr = common.run_rate(s, pd.Timestamp("2026-11-01T00:00Z"), pd.Timestamp("2026-11-15T06:00Z"))
    assert rr.monthly_usd == pytest.approx(2.0 * 30.4375) and rr.complete_days == 7
    short = common.run_rate(s.iloc[:3], pd.Timestamp("2026-11-01T00:00Z"), pd.Timestamp("2026-11-03T12:00Z"))
    assert short.monthly_usd == pytest.approx(1.0 * 30.4375) and "only 2 complete days" in short.method
    first = common.run_rate(s.iloc[:1], pd.Timestamp("2026-11-01T06:00Z"), pd.Timestamp("2026-11-01T12:00Z"))
    assert first.monthly_usd == pytest.approx(1.0 / 0.25 * 30.4375) and "no complete day" in first.method


def test_formatting():
    assert common.fmt_usd(1234.5) == "$1,234.50"
    assert common.fmt_usd(0.00421) == "$0.0042"
    assert common.fmt_usd(-2.5e6) == "-$2,500,000.00"
    assert common.fmt_usd(float("nan")) == "n/a"
    assert common.fmt_pct(3.21, signed=True) == "+3.2 %"
    assert common.fmt_ms(850) == "850 ms" and common.fmt_ms(2350) == "2.35 s"
    assert common.fmt_tokens(1_234_567) == "1.23M" and common.fmt_int(12345.4) == "12,345"
    assert common.monthly(10.0, DAYS_PER_MONTH) == pytest.approx(10.0)


def test_registry_lists_eight_in_order_and_names_valid_ones():
    assert ANALYZER_NAMES[:3] == ("understanding", "performance", "realtime")
    assert set(MODULES) == set(ANALYZER_NAMES) and len(ANALYZER_NAMES) == 8
    assert get("performance").NAME == "performance"
    with pytest.raises(KeyError, match="understanding"):
        get("nope")


row = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["a", "b", "c"]),
        "customer_id": st.sampled_from(["c1", "c2", "c3", "c4"]),
        "environment": st.sampled_from(["production", "staging"]),
        "cost_usd": st.one_of(st.none(), st.floats(0, 100, allow_nan=False).map(lambda x: round(x, 6))),
        "stop_reason": st.sampled_from(["END", "ERROR", "TIMEOUT"]),
        "day": st.integers(0, 9),
    }
)


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(st.lists(row, min_size=1, max_size=40))
def test_breakdowns_reconcile_on_random_frames(rows):
    for r in rows:
        r["timestamp"] = (pd.Timestamp("2026-11-01T12:00Z") + pd.Timedelta(days=r.pop("day"))).isoformat()
    df = calls(rows)
    total = float(df["cost_usd"].sum())
    for by in ("model", ["customer_id", "environment"], ["model", "customer_id"]):
        out = common.cost_breakdown(df, by)
        assert abs(out["cost_usd"].sum() - total) <= 0.01
        assert out["calls"].sum() == len(df)
        assert out["unpriced_calls"].sum() == df["cost_usd"].isna().sum()
    econ = common.customer_economics(df, AnalysisContext())
    assert abs(econ["cost_usd"].sum() - total) <= 0.01 and econ["calls"].sum() == len(df)
    rev = common.customer_economics(df, AnalysisContext())["revenue_usd"]
    assert (rev >= 0).all() and np.isfinite(rev).all()
    daily = common.daily_totals(df)
    assert abs(daily.sum() - total) <= 0.01
