"""Static HTML reports: one page per analyzer plus an index, with no network dependency.

Each page has KPI cards, charts (plotly), tables and recommendations. plotly.js is either copied
once into the output directory as ``plotly.min.js`` (default) or inlined once per page
(``inline=True``); never loaded from a CDN. Text from the data is HTML-escaped.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pandas as pd

from analyzers.base import AnalysisResult
from analyzers.common import fmt_usd
from dashboard.components.format import format_value
from dashboard.components.headline import CARD_KEYS
from dashboard.reports.figures import figures_for

PLOTLY_FILE = "plotly.min.js"
MAX_ROWS = 25
MAX_CARDS = 12

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;color:#222}
header{background:#1f2d3d;color:#fff;padding:14px 24px}header a{color:#9cc3ff;margin-right:12px;font-size:13px}
main{padding:16px 24px;max-width:1400px}h1{font-size:22px;margin:4px 0}h2{font-size:17px;margin:22px 0 8px}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{background:#fff;border-radius:6px;padding:10px 14px;
box-shadow:0 1px 2px rgba(0,0,0,.08);min-width:150px}.card .l{font-size:12px;color:#666}.card .v{font-size:20px;
font-weight:600}.chart{background:#fff;border-radius:6px;padding:6px;margin-bottom:12px}
table{border-collapse:collapse;background:#fff;font-size:12px;margin-bottom:8px}th,td{padding:4px 8px;
border-bottom:1px solid #e5e5e5;text-align:right}th{background:#eef1f5}td:first-child,th:first-child{text-align:left}
.rec{background:#fff;border-left:4px solid #6c757d;padding:8px 12px;margin-bottom:6px;border-radius:4px}
.rec.high{border-color:#dc3545}.rec.medium{border-color:#ffc107}.rec .imp{float:right;font-weight:600}
.note{color:#666;font-size:12px}dl.methods dt{font-weight:600;font-size:12px}dl.methods dd{font-size:12px;margin:0 0 6px 12px}
"""


def _esc(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _page(title: str, nav: str, body: str, script: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width,initial-scale=1'><title>{_esc(title)}</title>"
        f"<style>{CSS}</style>{script}</head><body><header><h1>{_esc(title)}</h1><nav>{nav}</nav></header>"
        f"<main>{body}</main></body></html>\n"
    )


def _nav(results: dict[str, AnalysisResult]) -> str:
    links = ["<a href='index.html'>Index</a>"]
    links += [f"<a href='{_esc(n)}.html'>{_esc(r.title)}</a>" for n, r in results.items()]
    return "".join(links)


def _cards(result: AnalysisResult) -> str:
    cards = []
    first = [k for k in CARD_KEYS.get(result.name, ()) if k in result.metrics]
    order = first + [k for k in result.metrics if k not in first]
    for key, m in ((k, result.metrics[k]) for k in order):
        if len(cards) >= MAX_CARDS:
            break
        if m.value is not None and not isinstance(m.value, int | float | str):
            continue
        cards.append(
            f"<div class='card' title='{_esc(m.formula or m.label)}'><div class='l'>{_esc(m.label)}</div>"
            f"<div class='v' id='kpi-{_esc(key)}'>{_esc(format_value(m.value, m.unit))}</div></div>"
        )
    return "<div class='cards'>" + "".join(cards) + "</div>"


def _table_html(name: str, df: pd.DataFrame) -> str:
    if df.empty:
        return f"<h2>{_esc(name)}</h2><p class='note'>No rows.</p>"
    shown = df.head(MAX_ROWS).copy()
    for c in shown.columns:
        if pd.api.types.is_float_dtype(shown[c].dtype):
            shown[c] = shown[c].map(
                lambda v: "—" if pd.isna(v) else f"{v:,.4f}" if abs(v) < 1 else f"{v:,.2f}"
            )
    note = f"<p class='note'>First {MAX_ROWS} of {len(df):,} rows.</p>" if len(df) > MAX_ROWS else ""
    return f"<h2>{_esc(name)}</h2>" + shown.to_html(index=False, escape=True, na_rep="—", border=0) + note


def _recs(result: AnalysisResult) -> str:
    recs = result.sorted_recommendations()
    if not recs:
        return "<h2>Recommendations</h2><p class='note'>No recommendation for this data.</p>"
    items = [
        f"<div class='rec {_esc(r.priority)}'><span class='imp'>{_esc(fmt_usd(r.monthly_impact_usd))}/month</span>"
        f"<b>{_esc(r.title)}</b> <span class='note'>({_esc(r.priority)})</span><div>{_esc(r.detail)}</div></div>"
        for r in recs
    ]
    return "<h2>Recommendations</h2>" + "".join(items)


def _alerts(result: AnalysisResult) -> str:
    if not result.alerts:
        return ""
    rows = pd.DataFrame(
        [
            {
                "severity": a.severity,
                "kind": a.kind,
                "entity": a.entity,
                "message": a.message,
                "value": a.value,
                "threshold": a.threshold,
                "time": a.time,
            }
            for a in result.alerts
        ]
    )
    return _table_html("Alerts", rows)


def _methods(result: AnalysisResult) -> str:
    if not result.methods:
        return ""
    items = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in result.methods.items())
    return f"<h2>Methods</h2><dl class='methods'>{items}</dl>"


def render_report(result: AnalysisResult, results: dict[str, AnalysisResult], script: str) -> str:
    """One analyzer's page; ``script`` is the tag that loads plotly.js (local file or inline)."""
    charts = []
    for i, (title, fig) in enumerate(figures_for(result)):
        div = fig.to_html(
            full_html=False, include_plotlyjs=False, div_id=f"chart-{i}", default_height="380px"
        )
        charts.append(f"<h2>{_esc(title)}</h2><div class='chart'>{div}</div>")
    tables = "".join(_table_html(name, df) for name, df in result.tables.items())
    body = _cards(result) + "".join(charts) + _recs(result) + _alerts(result) + tables + _methods(result)
    return _page(result.title, _nav(results), body, script)


def render_index(results: dict[str, AnalysisResult], summary: dict[str, Any]) -> str:
    """The index: the data summary as cards and one card per report with its top recommendation."""
    facts = [
        ("Calls", f"{summary.get('calls', 0):,}"),
        ("Total cost", fmt_usd(summary.get("total_cost_usd"))),
        ("Customers", f"{summary.get('customers', 0):,}"),
        ("Unpriced calls", f"{summary.get('unpriced_calls', 0):,}"),
        ("From", summary.get("period_start") or "—"),
        ("To", summary.get("period_end") or "—"),
    ]
    cards = "".join(
        f"<div class='card'><div class='l'>{_esc(k)}</div><div class='v'>{_esc(v)}</div></div>"
        for k, v in facts
    )
    items = []
    for name, r in results.items():
        recs = r.sorted_recommendations()
        top = (
            f"<div class='note'>{_esc(recs[0].title)} — {_esc(fmt_usd(recs[0].monthly_impact_usd))}/month</div>"
            if recs
            else ""
        )
        items.append(f"<div class='rec'><a href='{_esc(name)}.html'><b>{_esc(r.title)}</b></a>{top}</div>")
    body = f"<div class='cards'>{cards}</div><h2>Reports</h2>" + "".join(items)
    return _page("revenium-flow reports", _nav(results), body, "")


def write_reports(
    results: dict[str, AnalysisResult], summary: dict[str, Any], out: Path, *, inline: bool = False
) -> list[Path]:
    """Write ``<name>.html`` per analyzer and ``index.html`` into ``out``; returns the written paths."""
    import plotly.offline

    out.mkdir(parents=True, exist_ok=True)
    js = plotly.offline.get_plotlyjs()
    if inline:
        script = f"<script>{js}</script>"
    else:
        (out / PLOTLY_FILE).write_text(js, encoding="utf-8")
        script = f"<script src='{PLOTLY_FILE}'></script>"
    written = []
    for name, result in results.items():
        p = out / f"{name}.html"
        p.write_text(render_report(result, results, script), encoding="utf-8")
        written.append(p)
    idx = out / "index.html"
    idx.write_text(render_index(results, summary), encoding="utf-8")
    written.append(idx)
    return written
