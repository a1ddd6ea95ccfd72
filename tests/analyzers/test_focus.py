"""FOCUS export: the official validator passes, sums equal the analyzers' totals, SKU rows price exactly."""

from __future__ import annotations

import json
import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from callframe import calls, empty

from analyzers.base import AnalysisContext
from analyzers.finops import alignment, understanding
from analyzers.focus import COLUMNS, VALIDATOR_COLUMNS, focus_columns, focus_frame
from cli import main
from cli.commands.export import write_focus
from metering.prices import load_catalog
from metering.store import CallStore, header_line

ROOT = Path(__file__).resolve().parents[2]
FOCUS_VENV = ROOT / ".venv-focus"
FOCUS_PYTHON = FOCUS_VENV / "bin" / "python"
CATALOG = load_catalog()


def frame() -> pd.DataFrame:
    """Calls over a month boundary: cached and reasoning tokens, marketplaces, a sent cost, unpriced."""
    return calls(
        [
            {"timestamp": "2026-10-31T23:59:59.000Z", "cached_tokens": 400, "cost_usd": None},
            {"timestamp": "2026-11-01T00:00:00.000Z", "reasoning_tokens": 200, "cost_usd": None},
            {"provider": "bedrock", "model": "claude-instant", "cost_usd": None, "organization_id": "org_2"},
            {"provider": "bedrock", "model": "titan-text-lite", "cost_usd": None, "region": "us-east-1"},
            {"provider": "azure", "model": "gpt-4-azure", "cost_usd": None, "customer_id": '=HYPERLINK("x")'},
            {"provider": "anthropic", "model": "claude-sonnet-4", "cost_usd": 0.0042},  # a sent cost
            {"model": "gpt-9-preview", "cost_usd": None},  # not in the catalog: unpriced
            {"model": "gpt-9-preview", "cost_usd": 0.5},  # not in the catalog, but the client sent a cost
            {"input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0, "api_key_id": "0123456789ab"},
        ]
    ).pipe(_priced)


def _priced(df: pd.DataFrame) -> pd.DataFrame:
    """Rows with an empty cost and a catalog price get the catalog price (as the store's writers do)."""
    df = df.copy()
    cost = CATALOG.price_frame(df)
    known = ~np.isnan(cost) & df["cost_usd"].isna() & (df["model"] != "gpt-9-preview")
    df.loc[known, "cost_usd"] = cost[known]
    return df


def test_columns_and_fixed_values():
    f = focus_frame(frame(), CATALOG)
    assert list(f.columns) == focus_columns()
    assert set(f["ServiceCategory"]) == {"AI and Machine Learning"}
    assert set(f["ServiceSubcategory"]) == {"Generative AI"}
    assert set(f["ChargeCategory"]) == {"Usage"}
    assert set(f["PricingUnit"]) == {"1000 Tokens"}
    assert set(f["BillingCurrency"]) == {"USD"}
    for legacy, current in VALIDATOR_COLUMNS.items():
        assert f[legacy].equals(f[current].rename(legacy))
    assert list(focus_frame(frame(), CATALOG, validator_columns=False).columns) == list(COLUMNS)


def test_costs_sum_to_the_analyzers_totals_to_the_cent():
    df = frame()
    f = focus_frame(df, CATALOG)
    total = understanding.analyze(df, AnalysisContext()).metrics["total_cost_usd"].value
    for col in ("BilledCost", "EffectiveCost", "ContractedCost"):
        assert round(f[col].sum(), 2) == round(total, 2)
        assert f[col].sum() == pytest.approx(total, rel=1e-12)
    orgs = alignment.analyze(df, AnalysisContext()).tables["organizations"].set_index("organization_id")
    by_org = f.groupby("BillingAccountId")["BilledCost"].sum()
    for org, row in orgs.iterrows():
        assert round(by_org[org], 2) == pytest.approx(row["cost_usd"], abs=0.005)


def test_sku_rows_price_exactly_and_split_tokens_by_type():
    df = frame()
    f = focus_frame(df, CATALOG)
    priced = f[f["ListUnitPrice"].notna()]
    assert np.allclose(priced["PricingQuantity"] * priced["ListUnitPrice"], priced["ListCost"], rtol=1e-12)
    assert np.allclose(priced["ConsumedQuantity"] / 1000.0, priced["PricingQuantity"])
    # token types add up to the calls' tokens, per model
    assert f["ConsumedQuantity"].sum() == (df["input_tokens"] + df["output_tokens"]).sum()
    first = f[f["ChargePeriodStart"] == "2026-10-31T00:00:00Z"].set_index("x_TokenType")
    assert first.loc["cached input", "ConsumedQuantity"] == 400
    assert first.loc["input", "ConsumedQuantity"] == 600
    price = CATALOG.current("openai", "gpt-4o")
    assert first.loc["cached input", "ListUnitPrice"] == pytest.approx(price.cache_read_rate * 1000)
    second = f[f["ChargePeriodStart"] == "2026-11-01T00:00:00Z"]
    reasoning = second[(second["x_TokenType"] == "reasoning") & (second["x_Model"] == "gpt-4o")]
    assert reasoning["ConsumedQuantity"].sum() == 200
    # a call with catalog prices: billed = list
    assert first["BilledCost"].sum() == pytest.approx(first["ListCost"].sum())


def test_periods_are_calendar_month_and_day():
    f = focus_frame(frame(), CATALOG)
    oct_rows = f[f["ChargePeriodStart"] == "2026-10-31T00:00:00Z"]
    assert set(oct_rows["ChargePeriodEnd"]) == {"2026-11-01T00:00:00Z"}
    assert set(oct_rows["BillingPeriodStart"]) == {"2026-10-01T00:00:00Z"}
    assert set(oct_rows["BillingPeriodEnd"]) == {"2026-11-01T00:00:00Z"}
    nov = f[f["BillingPeriodStart"] == "2026-11-01T00:00:00Z"]
    assert set(nov["BillingPeriodEnd"]) == {"2026-12-01T00:00:00Z"}
    only_oct = focus_frame(frame(), CATALOG, "2026-10")
    assert set(only_oct["BillingPeriodStart"]) == {"2026-10-01T00:00:00Z"}
    with pytest.raises(ValueError, match="YYYY-MM"):
        focus_frame(frame(), CATALOG, "2026-13")


def test_provider_service_publisher_and_invoice_issuer():
    f = focus_frame(frame(), CATALOG).drop_duplicates("x_Model").set_index("x_Model")
    assert f.loc[
        "gpt-4o", ["ServiceName", "ProviderName", "PublisherName", "InvoiceIssuerName"]
    ].tolist() == [
        "OpenAI API",
        "OpenAI",
        "OpenAI",
        "OpenAI",
    ]
    claude = f.loc["claude-instant"]
    assert (claude["ServiceName"], claude["ProviderName"], claude["InvoiceIssuerName"]) == (
        "Amazon Bedrock",
        "Amazon Web Services",
        "Amazon Web Services",
    )
    assert claude["PublisherName"] == "Anthropic"
    assert f.loc["titan-text-lite", "PublisherName"] == "Amazon"
    assert f.loc["gpt-4-azure", "PublisherName"] == "OpenAI"
    assert f.loc["gpt-4-azure", "ProviderName"] == "Microsoft"


def test_unpriced_rows_are_flagged_not_priced_at_zero():
    f = focus_frame(frame(), CATALOG)
    preview = f[f["x_Model"] == "gpt-9-preview"]
    unpriced = preview[preview["x_PricingStatus"] == "unpriced"]
    assert len(unpriced) and unpriced["ListUnitPrice"].isna().all()
    assert unpriced["ChargeDescription"].str.contains("unpriced").all()
    assert unpriced["SkuPriceId"].str.endswith("@no-list-price").all()
    listed = f["ListUnitPrice"].notna()
    assert not f.loc[listed, "SkuPriceId"].str.endswith("@no-list-price").any()
    sent = preview[preview["x_PricingStatus"] == "priced"]
    assert sent["BilledCost"].sum() == pytest.approx(0.5)  # a sent cost counts even without a catalog price
    assert sent["ListCost"].sum() == pytest.approx(0.5)


def test_tags_are_json_objects_of_the_allocation_dimensions():
    f = focus_frame(frame(), CATALOG)
    tags = [json.loads(t) for t in f["Tags"]]
    assert all(set(t) == {"customer", "tier", "product", "feature", "environment", "task_type"} for t in tags)
    assert {t["customer"] for t in tags} >= {'=HYPERLINK("x")', "cust_0001"}
    assert "0123456789ab" in set(f["x_ApiKeyId"])


def test_empty_frame_has_the_columns():
    f = focus_frame(empty(), CATALOG)
    assert f.empty and list(f.columns) == focus_columns()


def test_csv_is_formula_safe_and_parquet_round_trips(tmp_path):
    f = focus_frame(frame(), CATALOG)
    csv_path, parquet_path = write_focus(f, tmp_path)
    text = csv_path.read_text()
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text
    back = pq.read_table(parquet_path).to_pandas()
    assert back["BilledCost"].sum() == pytest.approx(f["BilledCost"].sum(), rel=1e-15)
    assert list(back.columns) == list(f.columns)


def test_export_command(tmp_path, capsys):
    data = tmp_path / "calls.csv"
    CallStore(data).append(frame())
    assert header_line().startswith(b"timestamp,")
    out = tmp_path / "out"
    assert main(["export", "--format", "focus", "--data", str(data), "--out", str(out)]) == 0
    assert (out / "focus.csv").exists() and (out / "focus.parquet").exists()
    assert "FOCUS export" in capsys.readouterr().out
    assert main(["export", "--data", str(data), "--out", str(out), "--period", "11-2026"]) == 2
    assert "YYYY-MM" in capsys.readouterr().err
    assert main(["export", "--data", str(tmp_path / "missing.csv"), "--out", str(out)]) == 2


@pytest.mark.slow
def test_official_focus_validator_passes(tmp_path):
    if not (FOCUS_VENV / ".installed").exists():
        pytest.skip(".venv-focus is absent: `make test` (or `make .venv-focus/.installed`) builds it")
    csv_path, _ = write_focus(focus_frame(frame(), CATALOG), tmp_path)
    report = tmp_path / "focus-validator.xml"
    site = subprocess.run(
        [str(FOCUS_PYTHON), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # the validator reads its currency-code list from a path relative to its package's parent folder
    done = subprocess.run(
        [
            str(FOCUS_PYTHON),
            "-m",
            "focus_validator.main",
            "--data-file",
            str(csv_path),
            "--output-type",
            "unittest",
            "--output-destination",
            str(report),
        ],
        cwd=site,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": ""},
    )
    assert report.exists(), done.stdout + done.stderr
    suites = ET.parse(report).getroot()
    assert int(suites.get("tests")) >= 100
    failed = [
        case.get("name")
        for case in suites.iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    ]
    assert failed == [], failed
    assert suites.get("failures") == "0" and suites.get("errors") == "0"
