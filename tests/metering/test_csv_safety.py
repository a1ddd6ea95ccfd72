"""CSV exports neutralise formula-looking text cells; numbers and ordinary text stay as they are."""

from __future__ import annotations

import pandas as pd

from metering.csv_safety import neutralize_cell, neutralize_frame, neutralize_rows


def test_formula_prefixes_are_quoted() -> None:
    for text in ('=HYPERLINK("http://x","y")', "@SUM(1)", "+1-1", "-2+3", "\tx", "\rx"):
        assert neutralize_cell(text) == "'" + text


def test_plain_text_and_numbers_unchanged() -> None:
    for value in ("cust_0075", "", "a=b", 12, -3.5, None):
        assert neutralize_cell(value) == value


def test_frame_quotes_text_cells_only() -> None:
    df = pd.DataFrame(
        {
            "customer_id": pd.Series(["=1+1", "cust_1"], dtype="str"),
            "tier": pd.Series(["@x", "pro"], dtype="category"),
            "margin_pct": [-12.5, 40.0],
        }
    )
    out = neutralize_frame(df)
    assert list(out["customer_id"]) == ["'=1+1", "cust_1"]
    assert list(out["tier"]) == ["'@x", "pro"]
    assert list(out["margin_pct"]) == [-12.5, 40.0]
    assert list(df["customer_id"]) == ["=1+1", "cust_1"]  # the input is not modified


def test_rows() -> None:
    assert neutralize_rows([{"a": "+x", "b": 1}]) == [{"a": "'+x", "b": 1}]
