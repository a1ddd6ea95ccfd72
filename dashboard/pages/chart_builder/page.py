"""Chart builder: pick a chart type, an ordered hierarchy of dimensions, a metric and filters; see it live;
save it under a name in the shared workspace; open, duplicate, rename and delete saved charts.

The preview follows new data (the shell's data-version store) and the global filters like every other
page; the saved list follows the workspace folder, so a teammate's save shows up within a tick. The
decisions live in ``dashboard.pages.chart_builder.controls``; drawing is ``dashboard.pages.chart_builder.builder``.
"""

from __future__ import annotations

import hashlib

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from analyzers.base import AnalysisContext
from dashboard.auth import write_refusal
from dashboard.components.charts import DATA_INPUTS, empty_figure, has_rows
from dashboard.components.shell import TICK, VERSION_STORE
from dashboard.hub import DataHub, filters_from_store
from dashboard.pages.chart_builder import controls as logic
from dashboard.pages.chart_builder.builder import BAR_MODES, CHART_TYPES, TIME_GRAINS, build_figure, describe
from dashboard.pages.chart_builder.metrics import DIMENSION_LABELS, METRIC_FORMULAS, METRICS, dimension_values
from dashboard.pages.chart_builder.workspace import Workspace

TITLE = "cb-title"
TYPE = "cb-type"
DIMS = "cb-dims"
METRIC = "cb-metric"
BAR_MODE = "cb-bar-mode"
GRAIN = "cb-grain"
DATES = "cb-dates"
LAST_DAYS = "cb-last-days"
TOP_N = "cb-top-n"
FILTER_DIM = "cb-filter-dim"
FILTER_VALUES = "cb-filter-values"
FILTERS = "cb-filters"
FILTERS_TEXT = "cb-filters-text"
FILTERS_CLEAR = "cb-filters-clear"
LOADED = "cb-loaded"
NAME = "cb-name"
SAVE = "cb-save"
DUPLICATE = "cb-duplicate"
RENAME = "cb-rename"
DELETE = "cb-delete"
DELETE_CONFIRM = "cb-delete-confirm"
MESSAGE = "cb-message"
OPENED = "cb-opened"
WS_VERSION = "cb-ws-version"
WS_SIGNATURE = "cb-ws-signature"
SAVED = "cb-saved"
PROBLEMS = "cb-problems"
PREVIEW = "cb-preview"
SUMMARY = "cb-summary"
ERRORS = "cb-errors"
WORKSPACE_PATH = "cb-workspace-path"

CONTROL_IDS = (TITLE, TYPE, DIMS, METRIC, BAR_MODE, GRAIN, DATES, LAST_DAYS, TOP_N)
CONTROL_STATES = [
    State(TITLE, "value"),
    State(TYPE, "value"),
    State(DIMS, "value"),
    State(METRIC, "value"),
    State(BAR_MODE, "value"),
    State(GRAIN, "value"),
    State(DATES, "start_date"),
    State(DATES, "end_date"),
    State(LAST_DAYS, "value"),
    State(TOP_N, "value"),
    State(FILTERS, "data"),
]
CONTROL_OUTPUTS = [
    Output(TITLE, "value"),
    Output(TYPE, "value"),
    Output(DIMS, "value"),
    Output(METRIC, "value"),
    Output(BAR_MODE, "value"),
    Output(GRAIN, "value"),
    Output(DATES, "start_date"),
    Output(DATES, "end_date"),
    Output(LAST_DAYS, "value"),
    Output(TOP_N, "value"),
]


def _labelled(label: str, control, width: int = 12) -> dbc.Col:
    return dbc.Col(
        [dbc.Label(label, className="small fw-semibold mb-0"), control], md=width, className="mb-2"
    )


def _radios(cid: str, choices: dict[str, str], value: str) -> dbc.RadioItems:
    return dbc.RadioItems(
        id=cid,
        options=[{"label": label, "value": key} for key, label in choices.items()],
        value=value,
        inline=True,
    )


def _builder(defaults: logic.Controls) -> dbc.Card:
    dims = [{"label": DIMENSION_LABELS[d], "value": d} for d in DIMENSION_LABELS]
    body = dbc.Row(
        [
            _labelled("Title", dbc.Input(id=TITLE, value=defaults.title, maxLength=120, debounce=True)),
            _labelled("Chart type", _radios(TYPE, CHART_TYPES, defaults.chart_type)),
            _labelled(
                "Dimensions (in order: outermost first)",
                dcc.Dropdown(
                    id=DIMS, options=dims, value=defaults.dimensions, multi=True, placeholder="none"
                ),
            ),
            _labelled(
                "Metric",
                dcc.Dropdown(
                    id=METRIC,
                    options=[{"label": f"{v[0]} ({v[1]})", "value": k} for k, v in METRICS.items()],
                    value=defaults.metric,
                    clearable=False,
                ),
                6,
            ),
            _labelled(
                "Top N per dimension",
                # no min/max/step on the element: an out-of-range value must reach the check (which
                # names the bound) instead of arriving as "no value"
                dbc.Input(id=TOP_N, type="number", value=defaults.top_n, debounce=True),
                6,
            ),
            _labelled(
                "Bars", _radios(BAR_MODE, {m: m.capitalize() + "ed" for m in BAR_MODES}, defaults.bar_mode), 6
            ),
            _labelled("Time grain (lines)", _radios(GRAIN, TIME_GRAINS, defaults.time_grain), 6),
            _labelled(
                "Date range",
                dcc.DatePickerRange(
                    id=DATES,
                    clearable=True,
                    display_format="YYYY-MM-DD",
                    start_date_placeholder_text="From",
                    end_date_placeholder_text="To",
                ),
                8,
            ),
            _labelled(
                "or last N days",
                dbc.Input(id=LAST_DAYS, type="number", value=defaults.last_days, debounce=True),
                4,
            ),
            _labelled(
                "Filter",
                dbc.Row(
                    [
                        dbc.Col(
                            dcc.Dropdown(
                                id=FILTER_DIM, options=dims, placeholder="dimension", clearable=True
                            ),
                            md=5,
                        ),
                        dbc.Col(
                            dcc.Dropdown(id=FILTER_VALUES, options=[], multi=True, placeholder="values"), md=7
                        ),
                    ],
                    className="g-1",
                ),
            ),
            dbc.Col(
                [
                    html.Span(id=FILTERS_TEXT, className="small text-muted me-2"),
                    dbc.Button("Clear filters", id=FILTERS_CLEAR, color="link", size="sm", n_clicks=0),
                ],
                md=12,
                className="mb-2",
            ),
        ],
        className="g-2",
    )
    return dbc.Card(
        [dbc.CardHeader("Build", className="fw-semibold"), dbc.CardBody(body)], className="shadow-sm mb-3"
    )


def _saving() -> dbc.Card:
    return dbc.Card(
        [
            dbc.CardHeader("Saved charts", className="fw-semibold"),
            dbc.CardBody(
                [
                    dbc.InputGroup(
                        [
                            dbc.InputGroupText("Name"),
                            dbc.Input(id=NAME, placeholder="e.g. enterprise-weekly-cost", maxLength=64),
                            dbc.Button("Save", id=SAVE, color="primary", n_clicks=0),
                        ],
                        size="sm",
                        className="mb-2",
                    ),
                    html.Div(
                        [
                            *(
                                dbc.Button(
                                    label,
                                    id=cid,
                                    color="secondary",
                                    outline=True,
                                    size="sm",
                                    n_clicks=0,
                                    className="me-1",
                                )  # fmt: skip
                                for label, cid in (("Duplicate", DUPLICATE), ("Rename", RENAME))
                            ),
                            dcc.ConfirmDialogProvider(
                                dbc.Button("Delete", id=DELETE, color="danger", outline=True, size="sm"),
                                id=DELETE_CONFIRM,
                                message="Delete the open chart from the shared workspace?",
                            ),
                        ],
                        className="mb-2",
                    ),
                    html.Div(
                        "Duplicate and Rename act on the open chart and use the name typed above.",
                        className="small text-muted mb-2",
                    ),
                    html.Div(id=MESSAGE, className="small mb-2", role="status"),
                    html.Div(id=SAVED),
                    html.Div(id=PROBLEMS),
                    html.Div(id=WORKSPACE_PATH, className="small text-muted mt-2"),
                ]
            ),
        ],
        className="shadow-sm mb-3",
    )


def layout(**_query) -> html.Div:
    defaults = logic.controls_from_config(logic.DEFAULT_CONFIG)
    return html.Div(
        [
            html.H3("Chart builder", className="mb-0"),
            html.P(
                "Build a chart from any cut of the calls, see it live, save it for your team. Saved charts are "
                "JSON files in the shared workspace folder and redraw with every new batch of data.",
                className="text-muted small",
            ),
            dbc.Row(
                [
                    dbc.Col([_builder(defaults), _saving()], lg=4),
                    dbc.Col(
                        dbc.Card(
                            dbc.CardBody(
                                [
                                    html.Div(id=ERRORS),
                                    dcc.Graph(
                                        id=PREVIEW,
                                        config={"displaylogo": False, "responsive": True},
                                        style={"height": "640px"},
                                    ),
                                    html.Div(id=SUMMARY, className="small text-muted"),
                                ],
                                className="p-2",
                            ),
                            className="shadow-sm",
                        ),
                        lg=8,
                    ),
                ],
                className="g-3",
            ),
            dcc.Store(id=FILTERS, data={}),
            dcc.Store(id=LOADED, data=None),
            dcc.Store(id=OPENED, data=None),
            dcc.Store(id=WS_VERSION, data=0),
            dcc.Store(id=WS_SIGNATURE, data=None),
        ]
    )


def register_callbacks(app, hub: DataHub, workspace: Workspace | None = None) -> None:
    """The page's callbacks on ``hub``'s data and ``workspace`` (handed over by ``create_app``; default:
    ``$REVENIUM_FLOW_WORKSPACE`` or ``workspace/charts``); margins use the hub's analysis context (tiers, subscriptions file), as the analyzers do."""
    workspace = workspace if workspace is not None else Workspace()
    analysis = hub.ctx if hub.ctx is not None else AnalysisContext()

    def frame(version, filters, drill):
        session = hub.session() if has_rows(version) else None
        return None if session is None else session.chart_cube(filters_from_store(filters, drill))

    @app.callback(
        Output(PREVIEW, "figure"),
        Output(SUMMARY, "children"),
        Output(ERRORS, "children"),
        *[Input(s.component_id, s.component_property) for s in CONTROL_STATES],
        *DATA_INPUTS,
    )
    def preview(title, chart_type, dims, metric, bar_mode, grain, start, end, last_days, top_n, chart_filters,
                version, filters, drill):  # fmt: skip
        config, problems = logic.config_from_controls(
            title, chart_type, dims, metric, bar_mode, grain, start, end, last_days, top_n, chart_filters
        )
        if config is None:
            alert = dbc.Alert([html.Div(p) for p in problems], color="warning", className="small py-2")
            return no_update, "", alert
        df = frame(version, filters, drill)
        if df is None:
            return empty_figure("No data yet — press Generate above."), describe(config), ""
        summary = f"{describe(config)} · {METRICS[config.metric][0]} = {METRIC_FORMULAS[config.metric]}"
        return build_figure(config, df, context=analysis), summary, ""

    @app.callback(Output(FILTER_VALUES, "options"), Input(FILTER_DIM, "value"), Input(VERSION_STORE, "data"))
    def filter_options(dim, version):
        if not dim:
            return []
        df = frame(version, None, None)
        values = [] if df is None else dimension_values(df, dim)
        return [{"label": v, "value": v} for v in values]

    @app.callback(
        Output(FILTERS, "data"),
        Output(FILTER_VALUES, "value"),
        Output(FILTERS_TEXT, "children"),
        Input(FILTER_DIM, "value"),
        Input(FILTER_VALUES, "value"),
        Input(FILTERS_CLEAR, "n_clicks"),
        Input(LOADED, "data"),
        State(FILTERS, "data"),
    )
    def edit_filters(dim, values, _clear, loaded, current):
        trigger = ctx.triggered_id
        if trigger == FILTERS_CLEAR:
            return {}, [], logic.filters_text({})
        if trigger == LOADED and loaded is not None:
            filters = loaded.get("filters") or {}
            return filters, filters.get(dim, []) if dim else [], logic.filters_text(filters)
        if trigger == FILTER_VALUES:
            filters = logic.update_filters(current, dim, values)
            return filters, no_update, logic.filters_text(filters)
        current = current or {}
        return no_update, (current.get(dim, []) if dim else []), logic.filters_text(current)

    @app.callback(
        *CONTROL_OUTPUTS,
        Output(LOADED, "data"),
        Output(NAME, "value"),
        Output(OPENED, "data"),
        Output(MESSAGE, "children"),
        Input({"type": logic.OPEN_TYPE, "name": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )
    def open_chart(clicks):
        trigger = ctx.triggered_id
        if not trigger or not any(c for c in clicks or []) or not ctx.triggered[0].get("value"):
            raise PreventUpdate  # the list was redrawn, nobody clicked
        name = trigger["name"]
        try:
            saved = workspace.get(name)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is reported, never fatal
            return (*[no_update] * len(CONTROL_OUTPUTS), no_update, no_update, no_update,
                    dbc.Alert(str(exc), color="danger", className="py-1 mb-0"))  # fmt: skip
        controls = logic.controls_from_config(saved.config)
        loaded = {"filters": controls.filters, "name": name, "at": saved.modified_ns}
        message = html.Span(f"Opened {name!r}.", className="text-success")
        return (*controls.as_tuple(), loaded, name, name, message)

    @app.callback(
        Output(MESSAGE, "children", allow_duplicate=True),
        Output(OPENED, "data", allow_duplicate=True),
        Output(WS_VERSION, "data"),
        Input(SAVE, "n_clicks"),
        Input(DUPLICATE, "n_clicks"),
        Input(RENAME, "n_clicks"),
        Input(DELETE_CONFIRM, "submit_n_clicks"),
        State(NAME, "value"),
        State(OPENED, "data"),
        State(WS_VERSION, "data"),
        *CONTROL_STATES,
        prevent_initial_call=True,
    )
    def act(_save, _dup, _rename, _delete, name, opened, ws_version, *controls):
        action = {SAVE: "save", DUPLICATE: "duplicate", RENAME: "rename", DELETE_CONFIRM: "delete"}.get(
            ctx.triggered_id
        )
        if action is None or not ctx.triggered[0].get("value"):
            raise PreventUpdate
        if (refused := write_refusal()) is not None:  # a read-only login
            return html.Span(refused, className="text-danger"), no_update, no_update
        config, problems = logic.config_from_controls(*controls)
        result = logic.run_action(workspace, action, name, opened, config, problems)
        colour = "text-success" if result.ok else "text-danger"
        return html.Span(result.message, className=colour), result.opened, (ws_version or 0) + 1

    @app.callback(
        Output(SAVED, "children"),
        Output(PROBLEMS, "children"),
        Output(WS_SIGNATURE, "data"),
        Output(WORKSPACE_PATH, "children"),
        Input(TICK, "n_intervals"),
        Input(WS_VERSION, "data"),
        Input(OPENED, "data"),
        State(WS_SIGNATURE, "data"),
    )
    def saved_charts(_tick, _version, opened, signature):
        ws = workspace
        try:
            ws.ensure()
        except OSError as exc:  # e.g. a read-only or unmounted shared folder: say so, keep the page working
            alert = dbc.Alert(f"Workspace {ws.root} is not usable: {exc.strerror or exc}", color="danger")
            return [], [alert], None, ""
        # a digest, not the raw tuple: nanosecond mtimes exceed what a browser's JSON numbers hold exactly
        current = hashlib.sha1(repr(ws.signature()).encode()).hexdigest()
        if ctx.triggered_id == TICK and signature is not None and current == signature:
            raise PreventUpdate  # nobody saved, renamed or deleted anything
        listing = ws.list()
        where = f"Workspace: {ws.root.resolve()} — everyone using this folder shares these charts."
        return logic.saved_list(listing, opened), logic.problems_view(listing), current, where
