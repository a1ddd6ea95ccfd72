"""Spreadsheet-safe CSV cells: the one rule every CSV *export* applies (the data log itself stays exact).

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as a formula
by Excel, LibreOffice and Google Sheets (CSV/formula injection, OWASP). Exports prefix such text cells
with a single quote, which spreadsheets show as plain text. Numbers are never touched: a negative
margin stays the number -12.5, only the *text* "-12.5" would be quoted.
"""

from __future__ import annotations

from typing import Any

#: first characters that make a spreadsheet evaluate a cell
FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
#: the character put in front of such a cell
QUOTE = "'"


def neutralize_cell(value: Any) -> Any:
    """Return ``value`` with a leading quote when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return QUOTE + value
    return value


def neutralize_frame(frame: Any) -> Any:
    """A copy of a pandas DataFrame whose text cells are neutralised (numeric columns unchanged)."""
    out = frame.copy()
    for name in out.columns:
        if out[name].dtype.kind not in "biufcmM":  # numbers, booleans, datetimes are never formulas
            out[name] = out[name].astype("object").map(neutralize_cell)
    return out


def neutralize_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same rule over records (e.g. AG Grid ``rowData``)."""
    return [{k: neutralize_cell(v) for k, v in row.items()} for row in rows]
