"""The page every analyzer gets: KPI cards, its charts, extra grids, a table explorer, recommendations.

An analyzer's page is a :class:`PageSpec` (``dashboard/pages/<name>/page.py``'s ``SPEC``, or the generic
one); ``dashboard.pages.register_pages`` calls :func:`register_page`, which builds :func:`layout` and hands
:func:`register` (the page's callbacks) to the app. Ids are prefixed with the analyzer name, so no two
pages share a component id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from analyzers.base import AnalysisResult
from dashboard.components.blocks import (
    csv_export_params,
    grid,
    grid_payload,
    grid_style,
    kpi_row,
    recommendation_list,
)
from dashboard.components.charts import DATA_INPUTS, ReportFigure, compute, has_rows
from dashboard.hub import DataHub


@dataclass(frozen=True)
class ExtraGrid:
    """A grid always shown on the page (e.g. customers with margin at risk): its rows come from ``select``."""

    key: str
    title: str
    select: Callable[[AnalysisResult], pd.DataFrame | None]


@dataclass(frozen=True)
class PageSpec:
    name: str  # analyzer name in analyzers.registry (the page's path is /<name>)
    title: str
    description: str
    #: the page's name in the navbar (default: the analyzer name, capitalised)
    nav: str = ""
    charts: Sequence[Any] = ()  # chart modules with layout() and register(app, hub)
    extra_grids: Sequence[ExtraGrid] = field(default_factory=tuple)
    max_cards: int = 8
    #: the metrics shown as cards, in order (default: the analyzer's first ``max_cards`` scalar metrics)
    card_keys: Sequence[str] = ()
    #: components shown above the KPI cards (e.g. the real-time page's three counts), from the result
    headline: Callable[[AnalysisResult], Any] | None = None
    #: metrics the headline already shows (left out of the KPI cards)
    hidden_metrics: tuple[str, ...] = ()
    #: the report's figures besides the charts' own (``dashboard.reports``): result -> [(title, figure)]
    report_figures: Callable[[AnalysisResult], list[ReportFigure]] | None = None


def register_page(module: str, spec: PageSpec, *, order: int) -> None:
    """``dash.register_page`` for an analyzer page at ``/<analyzer name>``: its layout and its callbacks
    from ``spec``."""
    name = spec.nav or spec.name.replace("_", " ").capitalize()
    dash.register_page(
        module,
        path=f"/{spec.name}",
        name=name,
        title=f"revenium-flow · {name}",
        order=order,
        layout=layout(spec),
        register_callbacks=lambda app, hub: register(app, hub, spec),
    )


def ids(name: str) -> dict[str, str]:
    return {
        "kpis": f"{name}-kpis",
        "recs": f"{name}-recs",
        "methods": f"{name}-methods",
        "table_select": f"{name}-table-select",
        "grid": f"{name}-grid",
        "export": f"{name}-grid-export",
        "status": f"{name}-status",
        "headline": f"{name}-headline",
    }


def layout(spec: PageSpec) -> html.Div:
    i = ids(spec.name)
    chart_cols = [dbc.Col(c.layout(), lg=12 // max(1, min(2, len(spec.charts)))) for c in spec.charts]
    extras = [
        grid(f"{spec.name}-{g.key}-grid", f"{spec.name}-{g.key}-export", g.title, height="360px")
        for g in spec.extra_grids
    ]
    return html.Div(
        [
            html.H3(spec.title, className="mb-0"),
            html.P(spec.description, className="text-muted small"),
            html.Div(id=i["status"], className="small text-muted mb-1"),
            html.Div(id=i["headline"]),
            html.Div(id=i["kpis"], className="row g-2 mb-2"),
            dbc.Row(chart_cols, className="g-3 mb-1"),
            *extras,
            dbc.Row(
                [
                    dbc.Col(
                        [
                            html.H5("Recommendations", className="mt-2"),
                            html.Div(id=i["recs"], className="mb-3"),
                        ],
                        lg=5,
                    ),
                    dbc.Col(
                        [
                            html.Div(
                                [
                                    html.H5("Tables", className="mt-2 d-inline me-2"),
                                    dcc.Dropdown(
                                        id=i["table_select"],
                                        clearable=False,
                                        options=[],
                                        style={"minWidth": "16rem"},
                                        className="d-inline-block",
                                    ),
                                ],
                                className="mb-2",
                            ),
                            grid(i["grid"], i["export"], "", height="420px"),
                        ],
                        lg=7,
                    ),
                ]
            ),
            dbc.Accordion(
                dbc.AccordionItem(html.Div(id=i["methods"]), title="How these numbers are computed"),
                start_collapsed=True,
                className="mb-4",
            ),
        ]
    )


def methods_list(result: AnalysisResult) -> Any:
    if not result.methods:
        return html.P("No estimates or pro-rating in this analysis.", className="small text-muted")
    return html.Dl(
        [part for k, v in result.methods.items() for part in (html.Dt(k.replace("_", " ")), html.Dd(v))],
        className="small",
    )


def table_options(result: AnalysisResult) -> list[dict]:
    return [
        {"label": f"{name.replace('_', ' ')} ({len(df):,} rows)", "value": name}
        for name, df in result.tables.items()
        if isinstance(df, pd.DataFrame)
    ]


def scalar_metric_keys(result: AnalysisResult, limit: int, hidden: Sequence[str] = ()) -> list[str]:
    """Metrics that fit on a card (numbers or short text), in the analyzer's order."""
    keys = [
        k
        for k, m in result.metrics.items()
        if not isinstance(m.value, (list, dict, tuple)) and k not in hidden
    ]
    return keys[:limit]


def register(app, hub: DataHub, spec: PageSpec) -> None:
    i = ids(spec.name)

    @app.callback(
        Output(i["kpis"], "children"),
        Output(i["recs"], "children"),
        Output(i["methods"], "children"),
        Output(i["table_select"], "options"),
        Output(i["table_select"], "value"),
        Output(i["status"], "children"),
        Output(i["headline"], "children"),
        *DATA_INPUTS,
        State(i["table_select"], "value"),
    )
    def update_summary(version, filters, drill, selected):
        result = compute(hub, spec.name, version, filters, drill)
        if result is None:
            msg = "No data yet — press Generate above." if not has_rows(version) else no_update
            return [], [], [], [], None, msg, []
        options = table_options(result)
        values = [o["value"] for o in options]
        value = selected if selected in values else (values[0] if values else None)
        keys = [k for k in spec.card_keys if k in result.metrics] or scalar_metric_keys(
            result, spec.max_cards, spec.hidden_metrics
        )
        cards = kpi_row(result.metrics, None, keys)
        headline = spec.headline(result) if spec.headline is not None else []
        recs = recommendation_list(result.recommendations)
        return cards, recs, methods_list(result), options, value, "", headline

    @app.callback(
        Output(i["grid"], "rowData"),
        Output(i["grid"], "columnDefs"),
        Output(i["grid"], "csvExportParams"),
        Output(f"{i['grid']}-title", "children"),
        Output(i["grid"], "style"),
        Output(i["grid"], "columnSize"),
        Input(i["table_select"], "value"),
        *DATA_INPUTS,
    )
    def update_table(selected, version, filters, drill):
        result = compute(hub, spec.name, version, filters, drill)
        if result is None or not selected or selected not in result.tables:
            return [], [], no_update, "", grid_style(0), no_update
        rows, cols = grid_payload(result.tables[selected])
        export = csv_export_params(f"{spec.name}-{selected}.csv")
        return rows, cols, export, selected.replace("_", " "), grid_style(len(rows)), "autoSize"

    for g in spec.extra_grids:
        _register_extra(app, hub, spec.name, g)

    for chart in spec.charts:
        chart.register(app, hub)

    _register_exports(
        app,
        [i["export"], *[f"{spec.name}-{g.key}-export" for g in spec.extra_grids]],
        [i["grid"], *[f"{spec.name}-{g.key}-grid" for g in spec.extra_grids]],
    )


def _register_extra(app, hub: DataHub, name: str, g: ExtraGrid) -> None:
    grid_id = f"{name}-{g.key}-grid"

    @app.callback(
        Output(grid_id, "rowData"),
        Output(grid_id, "columnDefs"),
        Output(grid_id, "style"),
        Output(grid_id, "columnSize"),
        *DATA_INPUTS,
    )
    def update_extra(version, filters, drill):
        result = compute(hub, name, version, filters, drill)
        if result is None:
            return [], [], grid_style(0), no_update
        rows, cols = grid_payload(g.select(result))
        return rows, cols, grid_style(len(rows)), "autoSize"


def _register_exports(app, buttons: list[str], grids: list[str]) -> None:
    for button, grid_id in zip(buttons, grids, strict=True):

        @app.callback(
            Output(grid_id, "exportDataAsCsv"), Input(button, "n_clicks"), prevent_initial_call=True
        )
        def export_csv(n):
            if not n:
                raise PreventUpdate
            return True
