"""The FinOps analyzers on generated traffic: scenarios show up where they should."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analyzers.base import AnalysisContext
from analyzers.finops import performance, realtime, understanding
from analyzers.session import AnalysisSession
from metering.store import read_calls

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gen") / "calls.csv"
    exe = Path(sys.executable).parent / "revenium-flow"
    cmd = [str(exe), "generate", "--customers", "80", "--days", "30", "--target-mb", "100", "--seed", "3",
           "--start", "2026-10-01", "--quiet", "--data", str(path)]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    return path


@pytest.fixture(scope="module")
def df(generated) -> pd.DataFrame:
    return read_calls(generated)


def test_burst_hours_are_flagged_as_anomalies(df):
    burst = df[df["scenario"] == "burst_traffic"]
    busiest = burst.groupby(burst["timestamp"].dt.floor("h")).size().idxmax()
    res = realtime.analyze(df, AnalysisContext())
    flagged = set(pd.to_datetime(res.tables["anomalies"]["bucket"]))
    assert busiest in flagged


def test_model_migration_shows_in_the_model_mix(df):
    res = understanding.analyze(df, AnalysisContext())
    mix = res.tables["daily_by_model"].pivot_table(
        index="date", columns="model", values="calls", aggfunc="sum"
    )
    share = mix["gpt-4"] / (mix["gpt-4"] + mix["claude-sonnet-4"])
    assert share.iloc[-5:].mean() < share.iloc[:5].mean() - 0.1


def test_weekend_effect_shows_in_the_weekday_profile(df):
    wd = understanding.analyze(df, AnalysisContext()).tables["weekday"].set_index("weekday")
    weekday_avg = wd.loc[["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"], "avg_calls_per_day"].mean()
    assert wd.loc["Saturday", "avg_calls_per_day"] < weekday_avg
    assert wd.loc["Sunday", "avg_calls_per_day"] < weekday_avg


def test_totals_reconcile_and_session_agrees(df, generated):
    u = understanding.analyze(df, AnalysisContext())
    p = performance.analyze(df, AnalysisContext())
    total = float(df["cost_usd"].sum())
    assert abs(u.metrics["total_cost_usd"].value - total) <= 0.01
    assert p.tables["latency_by_model"]["calls"].sum() == len(df)
    s = AnalysisSession(generated)
    s.refresh()
    ov = s.overview()
    assert ov.metrics["calls"].value == len(df)
    assert ov.metrics["total_cost_usd"].value == pytest.approx(total)
    assert ov.metrics["forecast_30d_usd"].value == pytest.approx(u.metrics["forecast_30d_usd"].value)
