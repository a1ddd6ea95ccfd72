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
from dashboard.components.format import change_text, format_value, money
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
    whether the move is good for this KPI: ``analyzers.session.KPI_DIRECTION``), formula as tooltip."""
    body: list[Any] = [
        html.Div(metric.label, className="kpi-label text-muted small"),
        html.Div(
            format_value(metric.value, metric.unit), className="kpi-value fs-4 fw-semibold", id=f"kpi-{key}"
        ),
    ]
    if show_change:
        from analyzers.session import KPI_DIRECTION, POINT_CHANGE_KEYS

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
                                f"{money(r.monthly_impact_usd)}/month", className="float-end fw-semibold"
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
            out[col] = s.dt.strftime("%Y-%m-%d %H:%M").astype(object)
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


def column_defs(df: pd.DataFrame) -> list[dict]:
    """Sortable, filterable columns; numbers right-aligned with a number filter and formatter."""
    defs = []
    for col in df.columns:
        d: dict[str, Any] = {"field": str(col), "headerName": str(col).replace("_", " ")}
        if pd.api.types.is_numeric_dtype(df[col]) and not pd.api.types.is_bool_dtype(df[col]):
            d["filter"] = "agNumberColumnFilter"
            d["type"] = "rightAligned"
            if str(col).endswith("_usd") or "usd" in str(col):
                d["valueFormatter"] = {
                    "function": "params.value == null ? '' : d3.format('$,.2f')(params.value)"
                }
            elif pd.api.types.is_float_dtype(df[col]):
                d["valueFormatter"] = {
                    "function": "params.value == null ? '' : d3.format(',.2f')(params.value)"
                }
        else:
            d["filter"] = "agTextColumnFilter"
        defs.append(d)
    return defs


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
                    dashGridOptions={"pagination": True, "paginationPageSize": 20, "animateRows": False},
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
