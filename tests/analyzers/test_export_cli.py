"""JSON export and the analyze/report commands: files, required keys, null for NaN, no CDN."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from callframe import calls

from analyzers.base import AnalysisResult, Metric, Recommendation
from analyzers.export import frame_records, json_value, result_to_dict
from cli import main
from metering.store import CallStore, header_line

REQUIRED = {
    "summary.json": [
        "calls",
        "total_cost_usd",
        "customers",
        "period_start",
        "period_end",
        "revenue_usd",
        "gross_margin_pct",
        "run_rate_month_usd",
        "forecast_30d_usd",
        "forecast_30d_low_usd",
        "forecast_30d_high_usd",
        "forecast_backtest_mape_pct",
        "optimization_potential_month_usd",
    ],
    "understanding.json": [
        "cost_by_provider",
        "cost_by_model",
        "cost_by_organization",
        "hierarchy",
        "forecast_30d_usd",
    ],
    "performance.json": ["latency_by_model"],
    "realtime.json": ["alerts"],
    "optimization.json": ["switch_matrix", "total_potential_usd_month"],
    "alignment.json": ["chargeback", "statements"],
    "profitability.json": ["customers", "loss_making_count", "at_risk_count"],
    "pricing.json": ["models"],
    "features.json": ["features"],
}


def test_json_value():
    ts = pd.Timestamp("2026-11-19T08:00:03.794Z")
    assert json_value(float("nan")) is None and json_value(np.float64("inf")) is None
    assert json_value(np.int64(3)) == 3 and isinstance(json_value(np.int64(3)), int)
    assert json_value(np.bool_(True)) is True
    assert json_value(ts) == "2026-11-19T08:00:03.794Z"
    assert json_value(pd.NaT) is None
    assert json_value({"a": [np.float32(1.5), None]}) == {"a": [1.5, None]}


def test_frame_records():
    df = pd.DataFrame(
        {
            "name": pd.Series(["x", "y"], dtype="category"),
            "n": [1, 2],
            "v": [0.5, float("nan")],
            "t": pd.to_datetime(["2026-11-01T00:00:00Z", None], utc=True),
            "ok": [True, False],
        }
    )
    assert frame_records(df) == [
        {"name": "x", "n": 1, "v": 0.5, "t": "2026-11-01T00:00:00.000Z", "ok": True},
        {"name": "y", "n": 2, "v": None, "t": None, "ok": False},
    ]
    assert frame_records(df.iloc[0:0]) == []


def test_result_to_dict_layout():
    r = AnalysisResult(
        name="x",
        title="X",
        metrics={"total": Metric(float("nan"), "USD", "Total"), "rows": Metric(2, "calls", "Rows")},
        tables={"rows": pd.DataFrame({"a": [1]})},
        recommendations=[Recommendation("t", "d", 5.0, "low"), Recommendation("u", "d", 1.0, "high")],
        methods={"m": "how"},
    )
    d = result_to_dict(r)
    assert d["total"] is None
    assert d["rows"] == [{"a": 1}]  # the table wins the top-level key ...
    assert d["metrics"]["rows"]["value"] == 2  # ... the metric stays under "metrics"
    assert [x["title"] for x in d["recommendations"]] == ["u", "t"]  # priority first
    assert d["methods"] == {"m": "how"} and d["alerts"] == [] and d["tables"] == ["rows"]
    json.dumps(d, allow_nan=False)


def _write(path, rows):
    CallStore(path).append(calls(rows))


def _rows():
    out = []
    for day in range(1, 15):
        for c in range(4):
            out.append(
                {
                    "timestamp": f"2026-11-{day:02d}T{8 + c}:00:00Z",
                    "customer_id": f"cust_{c}",
                    "subscription_tier": ["starter", "pro", "enterprise", "pro"][c],
                    "organization_id": f"org_{c % 2}",
                    "model": ["gpt-4", "gpt-4o", "claude-sonnet-4", "gpt-4o-mini"][c],
                    "provider": ["openai", "openai", "anthropic", "openai"][c],
                    "task_type": ["qa", "chat", "code_generation", "summarization"][c],
                    "cost_usd": 0.05 * (c + 1),
                }
            )
    out.append({"model": "mystery", "cost_usd": float("nan")})
    return out


def _reject_constant(token: str) -> None:
    pytest.fail(f"{token} is not JSON")


def test_analyze_writes_every_file(tmp_path):
    data = tmp_path / "calls.csv"
    _write(data, _rows())
    out = tmp_path / "out"
    assert main(["analyze", "--data", str(data), "--out", str(out)]) == 0
    for name, keys in REQUIRED.items():
        text = (out / name).read_text(encoding="utf-8")
        doc = json.loads(text, parse_constant=_reject_constant)
        for k in keys:
            assert k in doc, f"{name} lacks {k}"
    s = json.loads((out / "summary.json").read_text())
    assert s["calls"] == 57 and s["unpriced_calls"] == 1 and s["customers"] == 5
    assert s["total_cost_usd"] == pytest.approx(14 * 0.05 * (1 + 2 + 3 + 4))
    u = json.loads((out / "understanding.json").read_text())
    for table in ("cost_by_provider", "cost_by_model", "cost_by_organization"):
        assert {"cost_usd", "calls"} <= set(u[table][0]), table
        assert sum(r["calls"] for r in u[table]) == 57
    assert {"organization_id", "product_id", "model", "cost_usd", "calls"} <= set(u["hierarchy"][0])
    perf = json.loads((out / "performance.json").read_text())
    assert {"p50_ms", "p95_ms", "p99_ms"} <= set(perf["latency_by_model"][0])
    prof = json.loads((out / "profitability.json").read_text())
    assert {
        "customer_id",
        "revenue_usd",
        "cost_usd",
        "margin_usd",
        "margin_pct",
        "active_days",
        "tier",
    } <= set(prof["customers"][0])
    assert isinstance(prof["loss_making_count"], int) and isinstance(prof["at_risk_count"], int)
    assert s["revenue_usd"] == pytest.approx(prof["revenue_usd"])
    assert s["forecast_30d_usd"] > 0 and s["forecast_30d_low_usd"] <= s["forecast_30d_usd"]
    assert isinstance(json.loads((out / "realtime.json").read_text())["alerts"], list)


def test_analyze_header_only_and_missing(tmp_path, capsys):
    data = tmp_path / "calls.csv"
    data.write_bytes(header_line())
    out = tmp_path / "out"
    # zero valid rows: nothing to analyze, said so, non-zero exit (issue 11)
    assert main(["analyze", "--data", str(data), "--out", str(out)]) == 2
    assert "no valid rows to analyze: the file holds no call rows" in capsys.readouterr().err
    assert not (out / "summary.json").exists()
    assert main(["analyze", "--data", str(tmp_path / "nope.csv"), "--out", str(out)]) == 2
    assert main(["analyze", "--data", str(data), "--out", str(out), "--only", "bogus"]) == 2


SRC_RE = re.compile(r"<(script|link|img|iframe)\b[^>]*\b(src|href)\s*=\s*['\"]?\s*(https?:)?//", re.I)


@pytest.mark.slow
def test_report_is_self_contained(tmp_path):
    data = tmp_path / "calls.csv"
    _write(data, _rows())
    out = tmp_path / "rep"
    assert main(["report", "--data", str(data), "--out", str(out)]) == 0
    pages = sorted(p.name for p in out.glob("*.html"))
    assert pages == sorted(
        [
            "index.html",
            "understanding.html",
            "performance.html",
            "realtime.html",
            "optimization.html",
            "alignment.html",
            "profitability.html",
            "pricing.html",
            "features.html",
        ]
    )
    assert (out / "plotly.min.js").stat().st_size > 1_000_000
    for p in out.glob("*.html"):
        text = p.read_text(encoding="utf-8")
        assert not SRC_RE.search(text), p.name
        if p.name != "index.html":
            assert "Plotly.newPlot" in text, p.name  # at least one chart
            assert "Recommendations" in text and "<table" in text and "class='card'" in text, p.name
            assert text.count("plotly.min.js") == 1, p.name
    index = (out / "index.html").read_text(encoding="utf-8")
    assert all(f"href='{n}'" in index for n in pages if n != "index.html")


def test_report_inline_plotly_once(tmp_path):
    data = tmp_path / "calls.csv"
    _write(data, _rows()[:5])
    out = tmp_path / "rep"
    assert (
        main(["report", "--data", str(data), "--out", str(out), "--only", "pricing", "--inline-plotly"]) == 0
    )
    text = (out / "pricing.html").read_text(encoding="utf-8")
    assert not (out / "plotly.min.js").exists()
    assert text.count("<script>") >= 1 and not SRC_RE.search(text)


@pytest.mark.slow
def test_analyze_takes_subscriptions_and_budgets_files(tmp_path, capsys):
    data = tmp_path / "calls.csv"
    _write(data, _rows())
    subs = tmp_path / "subs.csv"
    subs.write_text("customer,tier,start,price\ncust_0,enterprise,2026-11-01,1000\n", encoding="utf-8")
    budgets = tmp_path / "budgets.json"
    budgets.write_text('[{"scope": "organization", "id": "org_0", "monthly_usd": 1}]', encoding="utf-8")
    out = tmp_path / "out"
    args = ["analyze", "--data", str(data), "--out", str(out)]
    assert main([*args, "--subscriptions", str(subs), "--budgets", str(budgets)]) == 0
    prof = {r["customer_id"]: r for r in json.loads((out / "profitability.json").read_text())["customers"]}
    assert prof["cust_0"]["tier"] == "enterprise" and prof["cust_0"]["revenue_usd"] > 100
    rt = json.loads((out / "realtime.json").read_text())
    assert [r["scope_id"] for r in rt["scope_budgets"]] == ["org_0"]
    subs.write_text("customer,tier,start\ncust_0,gold,2026-11-01\n", encoding="utf-8")
    assert main([*args, "--subscriptions", str(subs)]) == 2
    assert "line 2: field 'tier'" in capsys.readouterr().err
