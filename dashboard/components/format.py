"""Number formatting for cards, tables and toasts (pure; one place so every page reads the same). Money is
``analyzers.common.fmt_usd`` and percent ``analyzers.common.fmt_pct``: the one money and percent formats
of analyzers, pages and reports."""

from __future__ import annotations

import math
from typing import Any

from analyzers.common import fmt_pct, fmt_usd


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def number(value: Any) -> str:
    if is_missing(value):
        return "—"
    v = float(value)
    if v.is_integer() and abs(v) < 1e15:
        return f"{int(v):,}"
    return f"{v:,.2f}"


def format_value(value: Any, unit: str) -> str:
    """Render a metric value by its unit (USD, %, ms, calls, tokens, USD/call, ...)."""
    if is_missing(value):
        return "—"
    u = (unit or "").lower()
    if u == "timestamp":
        return timestamp(value)
    if isinstance(value, str):
        return value
    if u.startswith("usd"):
        text = fmt_usd(value)
        suffix = unit[3:].strip()
        return f"{text}{suffix}" if suffix else text
    if u == "%":
        return fmt_pct(value)
    if u == "ms":
        return f"{float(value):,.0f} ms"
    if u in ("s", "seconds"):
        return f"{float(value):,.2f} s"
    # counts (calls, customers, alerts, days, ...): the card label already names the unit
    return number(value)


def timestamp(value: Any) -> str:
    """A full UTC time to the second: ``2026-12-01 22:32:05 UTC`` (text that is not a time stays as is)."""
    import pandas as pd

    try:
        t = pd.Timestamp(value)
    except (TypeError, ValueError):
        return str(value)
    if t is pd.NaT:
        return "—"
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


def change_text(
    change: float | None, direction: int = 0, *, points: bool = False, against: str = "vs previous period"
) -> tuple[str, str]:
    """Change (a fraction: 0.12 = +12 %, or percentage points / 100 when ``points``) against the previous
    period as text and a Bootstrap colour: green when the move is good for the KPI (``direction`` +1: a
    rise is good, -1: a rise is bad), red when bad, grey when neither."""
    if is_missing(change):
        return "no previous period", "secondary"
    pct = float(change) * 100.0
    arrow = "▲" if pct > 0 else ("▼" if pct < 0 else "■")
    good = pct * direction
    colour = "success" if good > 0 else ("danger" if good < 0 else "secondary")
    unit = "pp" if points else "%"
    return f"{arrow} {abs(pct):.1f} {unit} {against}", colour


def megabytes(value: Any) -> str:
    if is_missing(value):
        return "0.0"
    return f"{float(value):,.1f}"
