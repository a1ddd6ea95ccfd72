"""Overview KPI cards with change against the previous period (follow filters and drill path)."""

from __future__ import annotations

from dash import Input, Output, html, no_update

from analyzers.base import Metric
from analyzers.overview import OVERVIEW_KEYS
from dashboard.components.blocks import kpi_row
from dashboard.components.charts import DATA_INPUTS, has_rows
from dashboard.components.shell import ALERTS_VERSION_STORE
from dashboard.hub import DataHub, filters_from_store

ROW_ID = "overview-kpis"
SCOPE_ID = "overview-scope"
#: the always-shown cards; "unpriced_calls" (last of the session's keys) only when there are some
KPI_KEYS: tuple[str, ...] = tuple(k for k in OVERVIEW_KEYS if k != "unpriced_calls")


def layout() -> html.Div:
    return html.Div(
        [
            html.Div(id=SCOPE_ID, className="small text-muted mb-1"),
            html.Div(id=ROW_ID, className="row g-2 mb-2"),
        ]
    )


def process_data(metrics: dict[str, Metric]) -> list[str]:
    """The card keys to show: the KPIs, plus unpriced calls when there are any."""
    keys = [k for k in KPI_KEYS if k in metrics]
    unpriced = metrics.get("unpriced_calls")
    if unpriced is not None and unpriced.value:
        keys.append("unpriced_calls")
    return keys


def scope_text(rows: int, start, end, by_source: dict[str, int] | None = None) -> str:
    """The line above the cards; says where the calls came from once any did not come from simulation."""
    if not rows:
        return "No calls in the current selection."
    span = f"{str(start)[:10]} → {str(end)[:10]}" if start is not None else ""
    text = f"{rows:,} calls in scope {span}".strip()
    by_source = by_source or {}
    if set(by_source) - {"simulated"}:
        text += " · by source: " + ", ".join(f"{n:,} {name}" for name, n in by_source.items())
    return text


def register(app, hub: DataHub) -> None:
    @app.callback(
        Output(ROW_ID, "children"),
        Output(SCOPE_ID, "children"),
        *DATA_INPUTS,
        Input(ALERTS_VERSION_STORE, "data"),  # the open-alerts card follows the background alert work
    )
    def update_overview_cards(version, filters, drill, _alerts_version):
        if not has_rows(version):
            return [], "No data yet."
        ov = hub.overview(filters_from_store(filters, drill))
        if ov is None:
            return no_update, no_update
        keys = process_data(ov.metrics)
        against = "" if ov.comparison.startswith("vs") else "· "
        return kpi_row(ov.metrics, ov.changes, keys, against=against + ov.comparison), scope_text(
            int(ov.rows), ov.period_start, ov.period_end, ov.calls_by_source
        )
