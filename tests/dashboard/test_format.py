"""Number formatting used on cards and toasts."""

from __future__ import annotations

import math

from analyzers.common import fmt_usd
from dashboard.components.format import change_text, format_value, megabytes, number


def test_money_keeps_small_amounts_visible_and_every_digit():
    assert fmt_usd(1234.5) == "$1,234.50"
    assert fmt_usd(0.0042) == "$0.0042"
    assert fmt_usd(-3) == "-$3.00"
    assert fmt_usd(0) == "$0.00"
    assert fmt_usd(2.5e6) == "$2,500,000.00"  # a finance reader sees every digit, never "$2.5M"
    assert fmt_usd(None) == "n/a" and fmt_usd(math.nan) == "n/a"  # unknown, not zero (a dash reads as 0)


def test_format_value_by_unit():
    assert format_value(12.345, "%") == "12.3 %"
    assert format_value(0.0084, "USD/call") == "$0.0084/call"
    assert format_value(4270, "USD/month") == "$4,270.00/month"
    assert format_value(1500.4, "ms") == "1,500 ms"
    assert format_value(5000, "calls") == "5,000"
    assert format_value("gpt-4o", "") == "gpt-4o"
    assert format_value(None, "USD") == "—"  # an empty card, as every missing card value
    assert format_value(2.5e6, "USD") == "$2,500,000.00"


def test_number_and_megabytes():
    assert number(3.0) == "3" and number(2.5) == "2.50"
    assert megabytes(2.345) == "2.3" and megabytes(None) == "0.0"


def test_change_text_is_a_fraction_of_the_previous_period():
    assert change_text(0.125) == ("▲ 12.5 % vs previous period", "secondary")  # neither good nor bad
    assert change_text(-0.5)[0] == "▼ 50.0 % vs previous period"
    assert change_text(None) == ("no previous period", "secondary")


def test_change_arrows_are_coloured_good_or_bad_per_kpi():
    from analyzers.overview import KPI_DIRECTION

    assert change_text(0.1, KPI_DIRECTION["total_cost_usd"])[1] == "danger"  # cost up: bad
    assert change_text(-0.1, KPI_DIRECTION["total_cost_usd"])[1] == "success"
    assert change_text(0.1, KPI_DIRECTION["revenue_usd"])[1] == "success"
    assert change_text(0.1, KPI_DIRECTION["at_risk_customers"])[1] == "danger"
    assert change_text(0.1, KPI_DIRECTION["calls"])[1] == "secondary"
    assert change_text(-0.021, 1, points=True, against="vs the previous 7 days") == (
        "▼ 2.1 pp vs the previous 7 days",
        "danger",
    )


def test_timestamps_are_shown_in_full():
    from dashboard.components.format import timestamp

    assert timestamp("2026-12-01T22:32:05.123+00:00") == "2026-12-01 22:32:05 UTC"
    assert format_value("2026-12-01T22:32:05Z", "timestamp") == "2026-12-01 22:32:05 UTC"
    assert timestamp("not a time") == "not a time"


def test_grid_headers_are_human_with_units_and_values_formatted():
    import pandas as pd

    from dashboard.components.blocks import column_defs, grid_payload, grid_style, header_name

    assert header_name("cost_usd") == "Cost ($)"
    assert header_name("margin_pct") == "Margin (%)"
    assert header_name("savings_usd_month") == "Savings ($/month)"
    assert header_name("customer_id") == "Customer"
    assert header_name("p95_ms") == "P95 (ms)"
    df = pd.DataFrame({"customer_id": ["c"], "cost_usd": [1234.56], "margin_pct": [12.34], "calls": [1234]})
    defs = {d["field"]: d for d in column_defs(df)}
    assert "$,.2f" in defs["cost_usd"]["valueFormatter"]["function"]
    assert "' %'" in defs["margin_pct"]["valueFormatter"]["function"]
    assert "d3.format(',')" in defs["calls"]["valueFormatter"]["function"]
    rows, _ = grid_payload(df)
    assert rows == [
        {"customer_id": "c", "cost_usd": 1234.56, "margin_pct": 12.34, "calls": 1234}
    ]  # raw for CSV
    small, big = grid_style(4), grid_style(5000)
    assert int(small["height"][:-2]) < int(big["height"][:-2]) == int(grid_style(12)["height"][:-2])
