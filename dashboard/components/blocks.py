"""Cards, grids and recommendation lists built from analyzer outputs (text from data stays text)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
from dash import html

from analyzers.base import PRIORITY_ORDER, Metric, Recommendation
from analyzers.common import fmt_usd
from dashboard.components.format import change_text, format_value
from metering.csv_safety import FORMULA_PREFIXES, QUOTE

PRIORITY_COLOURS = {"high": "danger", "medium": "warning", "low": "secondary"}
SEVERITY_COLOURS = {"critical": "danger", "warning": "warning", "info": "info"}


def kpi_card(
    key: str,
    metric: Metric,
    change: float | None = None,
    show_change: bool = False,
    against: str = "vs previous period",
) -> dbc.Col:
    """One KPI: label, value by unit, optional change against the previous period (arrow coloured by
    whether the move is good for this KPI: ``analyzers.overview.KPI_DIRECTION``), formula as tooltip."""
    body: list[Any] = [
        html.Div(metric.label, className="kpi-label text-muted small"),
        html.Div(
            format_value(metric.value, metric.unit), className="kpi-value fs-4 fw-semibold", id=f"kpi-{key}"
        ),
    ]
    if show_change:
        from analyzers.overview import KPI_DIRECTION, POINT_CHANGE_KEYS

        text, colour = change_text(
            change, KPI_DIRECTION.get(key, 0), points=key in POINT_CHANGE_KEYS, against=against
        )
        body.append(html.Div(text, className=f"small text-{colour}"))
    return dbc.Col(
        html.Div(
            dbc.Card(dbc.CardBody(body, className="py-2"), className="h-100 shadow-sm"),
            className="h-100 kpi-card",
            title=metric.formula or metric.label,
        ),
        xs=6,
        md=3,
        xl=True,
        className="mb-2",
    )


def kpi_row(
    metrics: Mapping[str, Metric],
    changes: Mapping[str, float | None] | None = None,
    keys: Iterable[str] | None = None,
    against: str = "vs previous period",
) -> list[dbc.Col]:
    """Cards for ``keys`` (default: every metric) in order; changes shown when a mapping is given."""
    chosen = list(keys) if keys is not None else list(metrics)
    return [
        kpi_card(k, metrics[k], (changes or {}).get(k), show_change=changes is not None, against=against)
        for k in chosen
        if k in metrics
    ]


def sorted_recommendations(recs: Iterable[Recommendation]) -> list[Recommendation]:
    """Priority first (high → low), then the larger monthly $ impact."""
    return sorted(recs, key=lambda r: (PRIORITY_ORDER.get(r.priority, 9), -float(r.monthly_impact_usd or 0)))


def recommendation_list(recs: Iterable[Recommendation]) -> html.Div:
    items = sorted_recommendations(recs)
    if not items:
        return html.Div("No recommendations for the current data and filters.", className="text-muted small")
    return html.Div(
        [
            dbc.ListGroupItem(
                [
                    html.Div(
                        [
                            dbc.Badge(
                                r.priority,
                                color=PRIORITY_COLOURS.get(r.priority, "secondary"),
                                className="me-2 text-uppercase",
                            ),
                            html.Strong(r.title),
                            html.Span(
                                f"{fmt_usd(r.monthly_impact_usd)}/month", className="float-end fw-semibold"
                            ),
                        ]
                    ),
                    html.Div(r.detail, className="small text-muted mt-1"),
                ],
                className="recommendation",
            )
            for r in items
        ],
        className="list-group",
    )


def _json_safe(df: pd.DataFrame) -> list[dict]:
    """Rows for AG Grid: timestamps as ISO text, NaN as null, categories as plain strings."""
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(s):
            whole_days = bool((s.dropna() == s.dropna().dt.normalize()).all())
            out[col] = s.dt.strftime("%Y-%m-%d" if whole_days else "%Y-%m-%d %H:%M:%S").astype(object)
        elif (
            isinstance(s.dtype, pd.CategoricalDtype)
            or pd.api.types.is_string_dtype(s)
            or pd.api.types.is_bool_dtype(s)
        ):
            out[col] = s.astype(object)
        elif not pd.api.types.is_numeric_dtype(s):
            out[col] = s.astype(str)
    out = out.astype(object).where(pd.notna(out), None)
    records = out.to_dict("records")
    for row in records:
        for k, v in row.items():
            if isinstance(v, np.generic):
                row[k] = v.item()
    return records


#: column-name endings -> the unit shown in the header (longest first)
UNIT_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("_usd_month", "$/month"),
    ("_usd_per_call", "$/call"),
    ("_per_1k_usd", "$ per 1K tokens"),
    ("_usd_per_1k", "$ per 1K tokens"),
    ("_usd", "$"),
    ("_pct", "%"),
    ("_ms", "ms"),
    ("_s", "s"),
)
#: words spelled out in headers (abbreviations from column names)
HEADER_WORDS = {
    "id": "",
    "pct": "%",
    "usd": "$",
    "mtd": "month-to-date",
    "yhat": "forecast",
    "lo": "low",
    "hi": "high",
}
MONEY_JS = (
    "params.value == null ? '' : (Math.abs(params.value) < 1 && params.value != 0 "
    "? d3.format('$,.4f')(params.value) : d3.format('$,.2f')(params.value))"
)
PERCENT_JS = "params.value == null ? '' : d3.format(',.1f')(params.value) + ' %'"
INTEGER_JS = "params.value == null ? '' : d3.format(',')(params.value)"
FLOAT_JS = "params.value == null ? '' : d3.format(',.2f')(params.value)"
MS_JS = "params.value == null ? '' : d3.format(',.0f')(params.value) + ' ms'"


def column_unit(col: str) -> str | None:
    """The unit a column name carries (``cost_usd`` -> "$", ``margin_pct`` -> "%"), or None."""
    name = str(col)
    for suffix, unit in UNIT_SUFFIXES:
        if name.endswith(suffix) or name == suffix[1:]:
            return unit
    return "%" if name.startswith("pct_") or "_pct_" in name else None


def header_name(col: str) -> str:
    """A human header with its unit: ``cost_usd`` -> "Cost ($)", ``customer_id`` -> "Customer"."""
    name, unit = str(col), column_unit(col)
    for suffix, u in UNIT_SUFFIXES:
        if u == unit and name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    words = [HEADER_WORDS.get(w, w) for w in name.split("_")]
    text = " ".join(w for w in words if w) or str(col)
    text = text[0].upper() + text[1:]
    return f"{text} ({unit})" if unit and (unit != "%" or "%" not in text) else text


def column_defs(df: pd.DataFrame) -> list[dict]:
    """Sortable, filterable columns with human headers; money as $1,234.56, percentages as 12.3 %,
    counts with thousands separators; numbers right-aligned. The field stays the column name, so a
    CSV export keeps raw values under the header shown."""
    defs = []
    for col in df.columns:
        d: dict[str, Any] = {
            "field": str(col),
            "headerName": header_name(str(col)),
            "headerTooltip": str(col),
        }
        s = df[col]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            d["filter"] = "agNumberColumnFilter"
            d["type"] = "rightAligned"
            unit = column_unit(str(col))
            if unit is not None and unit.startswith("$"):
                fmt = MONEY_JS
            elif unit == "%":
                fmt = PERCENT_JS
            elif unit == "ms":
                fmt = MS_JS
            elif pd.api.types.is_integer_dtype(s):
                fmt = INTEGER_JS
            else:
                fmt = FLOAT_JS
            d["valueFormatter"] = {"function": fmt}
        else:
            d["filter"] = "agTextColumnFilter"
        defs.append(d)
    return defs


#: grid geometry (AG Grid's default theme): header and floating filter rows, one data row, pagination bar
GRID_CHROME_PX = 2 * 49 + 50
GRID_ROW_PX = 42
GRID_MAX_ROWS = 12


def grid_style(rows: int) -> dict:
    """Height that fits the rows (at least one, at most ``GRID_MAX_ROWS`` visible, then it scrolls)."""
    visible = max(1, min(int(rows), GRID_MAX_ROWS))
    return {"height": f"{GRID_CHROME_PX + visible * GRID_ROW_PX}px"}


def grid_payload(df: pd.DataFrame | None, max_rows: int = 5000) -> tuple[list[dict], list[dict]]:
    """(rowData, columnDefs) for a table, capped so a browser never receives a whole call log."""
    if df is None:
        return [], []
    frame = df.head(max_rows).reset_index(drop=not _has_named_index(df))
    return _json_safe(frame), column_defs(frame)


def _has_named_index(df: pd.DataFrame) -> bool:
    return any(n is not None for n in df.index.names)


def csv_export_params(file_name: str) -> dict[str, Any]:
    """AG Grid ``csvExportParams``: the file name, and ``metering.csv_safety``'s rule applied to every
    exported cell in the browser (``assets/csv_export.js``; the prefixes and the quote are passed from
    Python, so the rule keeps one home). What the grid shows is unchanged; numbers are never quoted."""
    rule = f"{json.dumps(list(FORMULA_PREFIXES))}, {json.dumps(QUOTE)}"
    return {"fileName": file_name, "processCellCallback": {"function": f"neutralizeCsvCell(params, {rule})"}}


def grid(grid_id: str, export_id: str, title: str = "", height: str = "420px") -> dbc.Card:
    """An AG Grid card with a CSV export button (sort and filter on every column)."""
    return dbc.Card(
        [
            dbc.CardHeader(
                [
                    html.Span(title, id=f"{grid_id}-title", className="fw-semibold"),
                    dbc.Button(
                        "Export CSV",
                        id=export_id,
                        size="sm",
                        color="outline-secondary",
                        className="float-end",
                        n_clicks=0,
                    ),
                ]
            ),
            dbc.CardBody(
                dag.AgGrid(
                    id=grid_id,
                    rowData=[],
                    columnDefs=[],
                    defaultColDef={
                        "sortable": True,
                        "filter": True,
                        "resizable": True,
                        "floatingFilter": True,
                    },
                    dashGridOptions={
                        "pagination": True,
                        "paginationPageSize": 100,
                        "paginationPageSizeSelector": False,
                        "animateRows": False,
                        "tooltipShowDelay": 300,
                        # every column rendered, so auto-size measures them all (tables have < 30 columns)
                        "suppressColumnVirtualisation": True,
                        # columns as wide as their content once the first rows arrive; the callbacks
                        # ask again (columnSize) whenever they send another table
                        "autoSizeStrategy": {"type": "fitCellContents"},
                    },
                    csvExportParams=csv_export_params(f"{grid_id}.csv"),
                    style={"height": height},
                ),
                className="p-1",
            ),
        ],
        className="mb-3 shadow-sm",
    )


def chart_card(title: str, graph_id: str, height: int = 360, note_id: str | None = None) -> dbc.Card:
    """The card every chart sits in: title, graph, optional note line (method or empty reason)."""
    from dash import dcc

    body: list[Any] = [
        dcc.Graph(
            id=graph_id, config={"displaylogo": False, "responsive": True}, style={"height": f"{height}px"}
        )
    ]
    if note_id:
        body.append(html.Div(id=note_id, className="small text-muted"))
    return dbc.Card(
        [dbc.CardHeader(title, className="fw-semibold"), dbc.CardBody(body, className="p-2")],
        className="mb-3 shadow-sm h-100",
    )
