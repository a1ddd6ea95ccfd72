"""The profitability scenario lists exactly the customers whose cost exceeds 80 % of their revenue."""

from __future__ import annotations

import argparse
import io
import re
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from cli import main as cli_main
from metering.tiers import load_tiers
from showcase.scenarios import customer_profitability_scenario as scenario

SEED = 42


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scenario") / "calls.csv"
    rows = scenario.generate_sample(path, seed=SEED, customers=40, days=10)
    assert rows > 1000
    return path


def direct_at_risk(path: Path) -> set[str]:
    """cost > 80 % of revenue, computed straight from the CSV with plain pandas. The sample covers ten
    November days (30-day month), no customer is silent for 30 days and tiers never change, so a
    customer's revenue = tier price x (as_of - 00:00 of its first call's day) / 30."""
    df = pd.read_csv(path, usecols=["timestamp", "customer_id", "subscription_tier", "cost_usd"])
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    assert (df["timestamp"].dt.month == 11).all()
    as_of = df["timestamp"].max()
    price = {name: t.price_usd_month for name, t in load_tiers().items()}
    per = (
        df.sort_values("timestamp")
        .groupby("customer_id")
        .agg(cost=("cost_usd", "sum"), tier=("subscription_tier", "last"), first=("timestamp", "min"))
    )
    active = (as_of - per["first"].dt.normalize()) / pd.Timedelta(days=1)
    revenue = per["tier"].map(price) * active / 30
    return set(per.index[per["cost"] > 0.8 * revenue])


def listed_customers(text: str) -> list[str]:
    """Customer ids in the unprofitable-customer table of the report."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("customer ")) + 2
    out = []
    for line in lines[start:]:
        if not line.strip():
            break
        out.append(line.split()[0])
    return out


def run_scenario(**kw) -> str:
    args = argparse.Namespace(data=None, seed=SEED, customers=40, days=10, tiers=None)
    for k, v in kw.items():
        setattr(args, k, v)
    buf = io.StringIO()
    assert scenario.run(args, out=buf) == 0
    return buf.getvalue()


def test_lists_exactly_the_customers_whose_margin_is_at_risk(sample):
    text = run_scenario(data=sample)
    expected = direct_at_risk(sample)
    assert expected, "the seeded sample should contain customers with margin at risk"
    listed = listed_customers(text)
    assert sorted(listed) == sorted(expected)
    assert len(listed) == len(set(listed))
    assert f"Customers with margin at risk: {len(expected)} of 40 (loss-making: " in text


def test_report_shows_tier_revenue_cost_margin_impact_and_the_three_actions(sample):
    text = run_scenario(data=sample)
    assert re.search(r"^customer\s+tier\s+revenue\s+cost\s+margin\s+margin %", text, re.M)
    assert "Total financial impact" in text
    for action in ("Tier upgrade", "Usage cap", "Usage-based pricing"):
        assert re.search(rf"^{action}\s+\d+\s+[+-]?\$[\d,.]+", text, re.M), action
    assert re.search(r"Best action per customer, combined: \+?\$[\d,.]+ per month", text)


def test_without_data_it_generates_a_sample_in_a_temporary_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    text = run_scenario(customers=25, days=4)
    assert "generated sample:" in text and "25 customers, 4 days, seed 42" in text
    assert list(tmp_path.iterdir()) == []  # the temporary folder is gone afterwards
    assert text == run_scenario(customers=25, days=4)  # same seed, same story


def test_cli_command_and_no_margin_at_risk_message(sample, tmp_path, capsys):
    assert cli_main(["scenario", "profitability", "--data", str(sample)]) == 0
    out = capsys.readouterr().out
    assert sorted(listed_customers(out)) == sorted(direct_at_risk(sample))
    # one light customer: nowhere near the alarm line
    df = pd.read_csv(sample)
    small = df[df["customer_id"] == df.groupby("customer_id")["cost_usd"].sum().idxmin()]
    small.to_csv(tmp_path / "one.csv", index=False)
    assert cli_main(["scenario", "profitability", "--data", str(tmp_path / "one.csv")]) == 0
    assert "No customers with margin at risk: all 1 customers" in capsys.readouterr().out


def test_missing_file_is_a_clear_error(tmp_path, capsys):
    assert cli_main(["scenario", "profitability", "--data", str(tmp_path / "nope.csv")]) == 1
    assert "nope.csv" in capsys.readouterr().err
