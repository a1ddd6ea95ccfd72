"""Generated data: each of the twelve scenarios shows up where an analyst would look for it.

One generated month (200 customers, 30 days, ~20 MB) is analysed as a whole and per scenario slice
(the dashboard's scenario filter does the same). Thresholds leave room for randomness but would fail
if a scenario's effect vanished.
"""

from __future__ import annotations

import pandas as pd
import pytest

from analyzers import registry
from analyzers.base import AnalysisContext
from cli import main
from metering.store import read_calls

pytestmark = pytest.mark.slow
START = "2026-10-01"


@pytest.fixture(scope="module")
def calls(tmp_path_factory):
    path = tmp_path_factory.mktemp("gen") / "calls.csv"
    argv = [
        "generate",
        "--data",
        str(path),
        "--target-mb",
        "40",
        "--customers",
        "200",
        "--days",
        "30",
        "--seed",
        "7",
        "--start",
        START,
        "--quiet",
        "--workers",
        "2",
    ]
    assert main(argv) == 0
    df = read_calls(path)
    assert df["timestamp"].min().floor("D") == pd.Timestamp(START, tz="UTC")
    return df


def _slice(df: pd.DataFrame, scenario: str) -> pd.DataFrame:
    out = df[df["scenario"] == scenario].reset_index(drop=True)
    assert len(out) > 500, scenario
    return out


def _run(name: str, df: pd.DataFrame):
    return registry.run(name, df, AnalysisContext())


def _day(df: pd.DataFrame) -> pd.Series:
    return (df["timestamp"].dt.floor("D") - pd.Timestamp(START, tz="UTC")).dt.days


def _weekend_ratio(df: pd.DataFrame) -> float:
    w = _run("understanding", df).tables["weekday"].set_index("weekday")["avg_calls_per_day"]
    return (
        w[["Saturday", "Sunday"]].mean() / w[["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]].mean()
    )


def test_all_twelve_scenarios_present(calls):
    assert calls["scenario"].nunique() == 12


def test_base_traffic_has_a_mild_weekend_dip(calls):
    assert 0.55 < _weekend_ratio(_slice(calls, "base_traffic")) < 0.95


def test_weekend_effect_is_deeper(calls):
    assert _weekend_ratio(_slice(calls, "weekend_effect")) < 0.6


def test_seasonal_pattern_varies_more_than_base(calls):
    def cv(df):
        d = _run("understanding", df).tables["daily"]["calls"]
        return d.std() / d.mean()

    assert cv(_slice(calls, "seasonal_pattern")) > 1.3 * cv(_slice(calls, "base_traffic"))


def test_timezone_pattern_spreads_over_the_day(calls):
    tz = _slice(calls, "timezone_pattern")
    hourly = _run("understanding", tz).tables["hourly"]
    assert (hourly["calls"] > 0).sum() >= 20
    regions = tz["region"].astype(str).value_counts(normalize=True)
    assert (regions >= 0.05).sum() >= 3


def test_burst_days_are_flagged_by_realtime(calls):
    burst = _slice(calls, "burst_traffic")
    hourly = burst.groupby(burst["timestamp"].dt.floor("h")).size()
    burst_days = set(hourly[hourly >= 5 * hourly.median()].index.floor("D"))
    assert burst_days
    anomalies = _run("realtime", calls).tables["anomalies"]
    flagged = set(pd.to_datetime(anomalies["bucket"], utc=True).dt.floor("D"))
    assert burst_days & flagged


def test_multi_tenant_volumes_differ_by_organization(calls):
    orgs = _run("alignment", _slice(calls, "multi_tenant")).tables["organizations"]
    assert orgs["cost_usd"].max() > 3 * orgs["cost_usd"].min()


def test_model_migration_in_model_mix_over_time(calls):
    mig = _slice(calls, "model_migration")
    daily = _run("understanding", mig).tables["daily_by_model"]
    day = (pd.to_datetime(daily["date"], utc=True) - pd.Timestamp(START, tz="UTC")).dt.days
    first = daily[day < 8].groupby("model")["calls"].sum()
    last = daily[day >= 24].groupby("model")["calls"].sum()
    share = lambda s, m: s.get(m, 0) / s.sum()  # noqa: E731
    assert share(first, "gpt-4") > 0.3 and share(last, "gpt-4") < 0.1
    assert share(last, "claude-sonnet-4") > share(first, "claude-sonnet-4") + 0.3


def test_feature_launch_in_feature_adoption(calls):
    res = _run("features", calls)
    table = res.tables["features"].set_index("feature_id")
    assert "code" in table.index
    first = table.loc["code", "first_seen"]
    assert (first - pd.Timestamp(START, tz="UTC")).days >= 9
    daily = res.tables["adoption_daily"]
    code = daily[daily["feature_id"] == "code"].set_index("date")["customers"]
    assert code.iloc[-7:].mean() > 0
    assert 2 <= table.loc["code", "customers"] <= 0.5 * calls["customer_id"].nunique()


def test_cost_optimization_lowers_cost_per_call(calls):
    co = _slice(calls, "cost_optimization")
    simple = co[co["task_type"].isin(["qa", "translation", "chat"])].reset_index(drop=True)
    d = _run("understanding", simple).tables["daily"]
    day = (pd.to_datetime(d["date"], utc=True) - pd.Timestamp(START, tz="UTC")).dt.days
    before = d[day < 10]
    after = d[day >= 22]
    assert (
        after["cost_usd"].sum() / after["calls"].sum()
        < 0.7 * before["cost_usd"].sum() / before["calls"].sum()
    )


def test_gradual_decline_shows_churn(calls):
    dec = _slice(calls, "gradual_decline")
    day = _day(dec)
    d = _run("understanding", dec).tables["daily"]["calls"]
    assert d.iloc[-7:].mean() < 0.75 * d.iloc[:7].mean()
    early = _run("profitability", dec[day < 7].reset_index(drop=True)).metrics["customer_count"].value
    late = _run("profitability", dec[day >= 23].reset_index(drop=True)).metrics["customer_count"].value
    assert late < early


def test_steady_growth_trends_up(calls):
    res = _run("understanding", _slice(calls, "steady_growth"))
    d = res.tables["daily"]["calls"]
    assert d.iloc[-7:].mean() > 1.4 * d.iloc[:7].mean()
    assert res.metrics["forecast_trend_usd_per_day"].value > 0


def test_viral_spike_is_a_spike(calls):
    viral = _slice(calls, "viral_spike")
    d = _run("understanding", viral).tables["daily"]["calls"]
    assert d.max() > 5 * d.median()
    rt = _run("realtime", viral)
    assert len(rt.tables["anomalies"]) > 0
