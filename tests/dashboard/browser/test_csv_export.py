"""Browser: a grid's CSV download neutralises formula-looking text (metering.csv_safety), the grid
itself still shows the exact ids, and numbers stay numbers (issue 11)."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import dashdata
import pytest

from dashboard.app import create_app

pytestmark = pytest.mark.browser

HOSTILE = {
    "cust_0000": '=HYPERLINK("http://x","y")',
    "cust_0001": "@SUM(1)",
    "cust_0002": "+1-1",
    "cust_0003": "-2",
}


def test_grid_csv_download_quotes_formula_cells(dash_duo, tmp_path: Path):
    frame = dashdata.calls()
    frame["customer_id"] = frame["customer_id"].replace(HOSTILE)
    data = dashdata.write(tmp_path / "calls.csv", frame)
    dash_duo.start_server(create_app(data, interval_ms=700))
    dash_duo.wait_for_element("#kpi-total_cost_usd", timeout=15)
    dash_duo.find_element("#nav-pages\\.profitability").click()
    dash_duo.wait_for_element("#profitability-grid .ag-row", timeout=20)
    shown = dash_duo.find_element("#profitability-grid").text
    assert "@SUM(1)" in shown and "'@SUM(1)" not in shown  # the grid shows the exact value

    download = Path(dash_duo.download_path)
    button = dash_duo.find_element("#profitability-grid-export")
    dash_duo.driver.execute_script("arguments[0].scrollIntoView(); arguments[0].click();", button)
    deadline = time.time() + 20
    files: list[Path] = []
    while time.time() < deadline and not files:
        files = [p for p in download.glob("*.csv") if p.stat().st_size > 0]
        time.sleep(0.2)
    assert files, "no CSV downloaded"
    time.sleep(0.5)  # let the browser finish writing
    rows = list(csv.DictReader(io.StringIO(files[0].read_text(encoding="utf-8-sig"))))
    key = next(k for k in rows[0] if "customer" in k.lower())
    exported = {row[key] for row in rows}
    for value in HOSTILE.values():
        assert "'" + value in exported and value not in exported, value
    assert "cust_0004" in exported  # plain ids untouched
    numeric = next(k for k in rows[0] if "margin" in k.lower())
    negatives = [row[numeric] for row in rows if row[numeric].startswith("-")]
    assert all(float(v) < 0 for v in negatives)  # a negative number is exported as a number
