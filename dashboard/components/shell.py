"""The frame around every page: navbar, progress and Generate/Stop strip, filters, breadcrumb, toasts.

Everything here sits outside ``dash.page_container`` so it (and the stores it holds) survives a page
switch. Ids are module constants so callbacks and tests share one spelling.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.components.format import megabytes, number
from dashboard.generation import MAX_SEED, MAX_TARGET_MB, MIN_TARGET_MB

# stores (per tab, never on the server)
VERSION_STORE = "store-version"  # {"version": int, "rows": int}
MANIFEST_STORE = "store-manifest"  # the generator manifest as JSON (or {})
FILTER_STORE = "store-filters"
DRILL_STORE = "store-drill"
SEEN_ALERTS_STORE = "store-seen-alerts"
ALERTS_VERSION_STORE = "store-alerts-version"  # data version of the newest alerts computed
TICK = "tick"

PROGRESS = "gen-progress"
PROGRESS_TEXT = "gen-progress-text"
STATE_BADGE = "gen-state"
SCENARIO_PROGRESS = "gen-scenario-progress"
TARGET_INPUT = "gen-target-mb"
PACE_INPUT = "gen-pace"
SEED_INPUT = "gen-seed"
GENERATE_BUTTON = "gen-start"
STOP_BUTTON = "gen-stop"
GEN_MESSAGE = "gen-message"
GEN_MESSAGE_STORE = "store-gen-message"  # {"kind": "run" | "form"}: a run's message clears when the run ends
PARAMS_STORE = "store-run-params"
DRILL_HISTORY = "store-drill-history"  # output of the clientside callback that records drill steps  # started_at of the run whose parameters the controls already show
INGEST_STATUS = "ingest-status"
CONFIRM_MODAL = "gen-confirm"
CONFIRM_TEXT = "gen-confirm-text"
CONFIRM_OK = "gen-confirm-ok"
CONFIRM_CANCEL = "gen-confirm-cancel"
BELL = "alert-bell"
BELL_COUNT = "alert-bell-count"
ALERT_LIST = "alert-list"
ALERT_LIST_BODY = "alert-list-body"
ALERT_LIST_OPEN_PAGE = "alert-list-open-realtime"

FILTER_DATES = "filter-dates"
#: filter key -> (its dropdown's id, its label): one line per filter
FILTERS: dict[str, tuple[str, str]] = {
    "tiers": ("filter-tiers", "Tier"),
    "environments": ("filter-environments", "Environment"),
    "organizations": ("filter-organizations", "Organization"),
    "sources": ("filter-sources", "Source"),
    "customers": ("filter-customers", "End user"),
    "api_keys": ("filter-api-keys", "API key"),
}
FILTER_DROPDOWNS: dict[str, str] = {key: ids for key, (ids, _) in FILTERS.items()}
FILTER_LABELS: dict[str, str] = {key: label for key, (_, label) in FILTERS.items()}
FILTER_RESET = "filter-reset"
BREADCRUMB = "breadcrumb"
CRUMB_TYPE = "crumb"
EMPTY_STATE = "empty-state"
PAGE_WRAPPER = "page-wrapper"
ALERT_TOASTS = "toast-alerts"
GENERATION_TOASTS = "toast-generation"

STATE_COLOURS: dict[str, str] = {
    "idle": "secondary",
    "starting": "info",
    "generating": "primary",
    "stopped": "warning",
    "done": "success",
    "error": "danger",
    "interrupted": "danger",
}


def navbar() -> dbc.Navbar:
    """Links built from ``dash.page_registry`` in its ``order`` — a new page appears by registering."""
    pages = sorted(dash.page_registry.values(), key=lambda p: (p.get("order") is None, p.get("order") or 0))
    links = [
        dbc.NavItem(dbc.NavLink(p["name"], href=p["relative_path"], active="exact", id=f"nav-{p['module']}"))
        for p in pages
    ]
    return dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand("revenium-flow", href="/", className="fw-semibold"),
                dbc.Nav(links, navbar=True, className="flex-wrap me-auto"),
                dbc.Button(
                    ["Alerts ", dbc.Badge("0", id=BELL_COUNT, color="secondary", pill=True)],
                    id=BELL,
                    color="dark",
                    size="sm",
                    n_clicks=0,
                    title="Alerts: open the list",
                    className="border-secondary",
                ),
            ],
            fluid=True,
        ),
        color="dark",
        dark=True,
        className="mb-2",
    )


def generation_strip(default_target_mb: float = 50.0, default_seed: int = 42) -> dbc.Card:
    """Progress bar (MB of target, rows, simulated date, state) and the Generate / Stop control."""
    progress = dbc.Col(
        [
            html.Div(
                [
                    dbc.Badge("idle", id=STATE_BADGE, color="secondary", className="me-2"),
                    html.Span("No data yet.", id=PROGRESS_TEXT, className="small text-muted"),
                ],
                className="mb-1",
            ),
            dbc.Progress(id=PROGRESS, value=0, label="", style={"height": "1.1rem"}),
            html.Div(id=SCENARIO_PROGRESS, className="small text-muted"),
        ],
        md=6,
    )
    controls = dbc.Col(
        dbc.InputGroup(
            [
                dbc.InputGroupText("Target MB"),
                # no min/max on the element: out-of-range input would reach the server as "no value";
                # the bounds are checked there and the message says them (generation.validate_request)
                dbc.Input(
                    id=TARGET_INPUT,
                    type="number",
                    step="any",
                    value=default_target_mb,
                    placeholder=f"{MIN_TARGET_MB:g}-{MAX_TARGET_MB:,.0f}",
                    style={"maxWidth": "6rem"},
                ),
                dbc.Select(
                    id=PACE_INPUT,
                    options=[{"label": "Fast", "value": "max"}, {"label": "Live", "value": "live"}],
                    value="max",
                    style={"maxWidth": "6rem"},
                ),
                dbc.InputGroupText("Seed"),
                dbc.Input(
                    id=SEED_INPUT,
                    type="number",
                    step="any",
                    value=default_seed,
                    placeholder=f"0-{MAX_SEED}",
                    style={"maxWidth": "5.5rem"},
                ),
                dbc.Button("Generate", id=GENERATE_BUTTON, color="primary", n_clicks=0),
                dbc.Button("Stop", id=STOP_BUTTON, color="outline-danger", n_clicks=0),
            ],
            size="sm",
        ),
        md=6,
    )
    return dbc.Card(
        dbc.CardBody(
            [
                dbc.Row([progress, controls], className="g-2 align-items-center"),
                html.Div(id=GEN_MESSAGE, className="small mt-1", role="status"),
                html.Div(id=INGEST_STATUS, className="small text-muted mt-1"),
            ],
            className="py-2",
        ),
        className="mb-2 shadow-sm",
    )


def filter_bar() -> dbc.Card:
    """Global filters; their values live in the tab's filter store and apply on every page."""
    dropdowns = [
        dbc.Col(
            dcc.Dropdown(
                id=cid,
                multi=True,
                placeholder=f"{FILTER_LABELS[name]}: all",
                options=[],
                persistence=True,
                persistence_type="session",
            ),
            md=2,
        )
        for name, cid in FILTER_DROPDOWNS.items()
    ]
    return dbc.Card(
        dbc.CardBody(
            [
                dbc.Row(
                    [
                        dbc.Col(
                            dcc.DatePickerRange(
                                id=FILTER_DATES,
                                clearable=True,
                                display_format="YYYY-MM-DD",
                                start_date_placeholder_text="From",
                                end_date_placeholder_text="To",
                                persistence=True,
                                persistence_type="session",
                            ),
                            md=3,
                        ),
                        *dropdowns,
                        dbc.Col(
                            dbc.Button("Reset", id=FILTER_RESET, color="link", size="sm", n_clicks=0), md=1
                        ),
                    ],
                    className="g-2 align-items-center",
                ),
                html.Nav(id=BREADCRUMB, className="mt-2 small", **{"aria-label": "drill-down path"}),
            ],
            className="py-2",
        ),
        className="mb-3 shadow-sm",
    )


def breadcrumb(drill: list[str] | tuple[str, ...] | None) -> list[Any]:
    """All › org › product › model; every level but the last is a button that goes back up to it."""
    levels = ("organization", "product", "model")
    path = list(drill or [])
    items: list[Any] = [html.Span("Scope: ", className="text-muted me-1")]
    names = ["All organizations", *path]
    for i, name in enumerate(names):
        if i:
            items.append(html.Span(" › ", className="text-muted mx-1"))
        last = i == len(names) - 1
        title = f"{levels[i - 1]} {name}" if i else name
        if last:
            items.append(html.Span(name, className="fw-semibold crumb-current", title=title))
        else:
            items.append(
                html.Button(
                    name,
                    id={"type": CRUMB_TYPE, "index": i},
                    className="btn btn-link btn-sm p-0 align-baseline crumb-link",
                    n_clicks=0,
                    title=f"back to {title}",
                )
            )
    return items


def organization_placeholder(drill: list[str] | tuple[str, ...] | None) -> str:
    """The Organization filter names the drill scope when it has no value of its own."""
    path = list(drill or [])
    return f"{path[0]} (drill-down)" if path else f"{FILTER_LABELS['organizations']}: all"


def empty_state() -> html.Div:
    return html.Div(
        dbc.Alert(
            [
                html.H4("No call data yet", className="alert-heading"),
                html.P(
                    "The data file is missing or empty. Press Generate above to simulate LLM traffic "
                    "(a few MB is enough to explore), or send metering data to the ingest endpoints."
                ),
            ],
            color="light",
            className="border text-center py-5",
        ),
        id=EMPTY_STATE,
        style={"display": "none"},
    )


def ingest_view(status: dict[str, Any] | None) -> list[Any]:
    """One line on real metering: on (keys, rows received, endpoints) or off (how to turn it on)."""
    if not status:
        return []
    if not status.get("enabled"):
        return [dbc.Badge("ingest off", color="light", text_color="secondary", className="me-2 border"),
                html.Span(status.get("message", ""))]  # fmt: skip
    counters = status.get("counters") or {}
    endpoints = status.get("endpoints") or {}
    received = int(counters.get("rows_stored") or 0)
    parts = [
        f"{number(received)} row(s) received since start"
        + (f" (last {counters['last_received_at']})" if counters.get("last_received_at") else ""),
        f"POST {endpoints.get('single', '')} · {endpoints.get('batch', '')} · OTLP {endpoints.get('otlp', '')}",
    ]
    if counters.get("duplicates"):
        parts.append(f"{number(int(counters['duplicates']))} duplicate(s) acknowledged")
    if counters.get("rejected_requests"):
        parts.append(f"{number(int(counters['rejected_requests']))} request(s) rejected")
    return [dbc.Badge("ingest on", color="info", className="me-2"), html.Span(" · ".join(parts))]


def run_outcome(state: str, message: str | None) -> str:
    """A run's end in plain words: "finished", "stopped by you", "failed: <reason>"."""
    msg = str(message or "")
    if state == "done":
        return "finished"
    if state == "stopped":
        # the dashboard's Stop sends SIGTERM, Ctrl-C in a terminal SIGINT: both are the user's doing
        return "stopped by you" if ("SIGTERM" in msg or "SIGINT" in msg or not msg) else f"stopped: {msg}"
    if state == "error":
        return f"failed: {msg}" if msg else "failed"
    if state == "interrupted":  # the generator process went away without a word (killed, crashed)
        return f"interrupted: {msg}" if msg else "interrupted"
    return ""


def progress_view(
    manifest: dict | None, running: bool, rows_fallback: int, run_pid: int | None = None
) -> dict[str, Any]:
    """Progress bar value/label, status text, state badge and colour from the manifest (pure).

    ``run_pid`` is the process the dashboard launched (alive): while the manifest still describes
    an earlier run (another pid), the new run is *starting* — never the old "done 100 %".
    """
    m = manifest or {}
    state = str(m.get("state") or ("generating" if running else "idle"))
    if running and run_pid is not None and m and m.get("pid") != run_pid:
        return {
            "value": 0.0,
            "label": "",
            "text": "Starting the generator…",
            "state": "starting",
            "colour": STATE_COLOURS["starting"],
            "animated": True,
        }
    if running and state not in ("generating", "stopped", "done", "error"):
        state = "generating"
    progress = float(m.get("progress") or 0.0)
    pct = 100.0 if state == "done" else max(0.0, min(100.0, progress * 100.0))
    rows = int(m.get("rows") or rows_fallback or 0)
    mb = m.get("mb")
    target = m.get("target_mb")
    parts = []
    if mb is not None and target:
        parts.append(f"{megabytes(mb)} of {megabytes(target)} MB")
    parts.append(f"{number(rows)} rows")
    if m.get("simulated_until"):
        parts.append(f"simulated to {str(m['simulated_until'])[:16].replace('T', ' ')}")
    if m.get("merger_day") and state == "generating":
        parts.append(f"merger at {m['merger_day']}")
    outcome = run_outcome(state, m.get("message"))
    if outcome and m:
        parts.append(outcome)
    text = "No data yet." if not m and not rows else " · ".join(parts)
    scenarios = [
        f"{name}: {number(int(p.get('rows') or 0))} rows synthesised"
        + (f" through {p['through']}" if p.get("through") else "")
        for name, p in (m.get("scenario_progress") or {}).items()
        if isinstance(p, dict) and state == "generating"
    ]
    return {
        "scenarios": scenarios,
        "value": pct,
        "label": f"{pct:.0f} %" if m else "",
        "text": text,
        "state": state,
        "colour": STATE_COLOURS.get(state, "secondary"),
        "animated": state == "generating",
    }


def scenario_progress(lines: list[str]) -> Any:
    """The workers' progress per scenario, folded under one line (empty when there is none)."""
    if not lines:
        return []
    return html.Details(
        [html.Summary("per scenario"), html.Ul([html.Li(line) for line in lines], className="mb-0")]
    )


def toast(header: str, body: list[Any] | str, colour: str, toast_id: str) -> dbc.Toast:
    """One dismissable toast; body parts are components or plain strings (rendered as text)."""
    return dbc.Toast(
        body,
        id=toast_id,
        header=header,
        icon=colour,
        dismissable=True,
        is_open=True,
        duration=12000,
        className="mb-2",
    )


def confirm_modal() -> dbc.Modal:
    """Asked before a Generate that would replace the simulated rows of the last run."""
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle("Replace the simulated data?")),
            dbc.ModalBody(id=CONFIRM_TEXT),
            dbc.ModalFooter(
                [
                    dbc.Button("Cancel", id=CONFIRM_CANCEL, color="secondary", n_clicks=0),
                    dbc.Button("Replace and generate", id=CONFIRM_OK, color="danger", n_clicks=0),
                ]
            ),
        ],
        id=CONFIRM_MODAL,
        is_open=False,
        backdrop="static",
    )


def confirm_text(by_source: dict[str, int] | None) -> str:
    """What a new run replaces (the simulated rows) and what it keeps (metered and OTLP rows)."""
    counts = dict(by_source or {})
    simulated = int(counts.pop("simulated", 0) or 0)
    kept = sum(int(v or 0) for v in counts.values())
    text = (
        f"Generate replaces the {number(simulated)} simulated rows of the last run in the data file. "
        "This cannot be undone."
    )
    if kept:
        parts = ", ".join(f"{number(int(v))} {k}" for k, v in counts.items() if v)
        text += f" The {number(kept)} rows from real metering ({parts}) are kept."
    else:
        text += " Rows from real metering (metered, OTLP) would be kept; there are none now."
    return text


def alert_list() -> dbc.Offcanvas:
    """The list the navbar bell opens: newest alerts, most severe first, and the way to the Real-time page."""
    return dbc.Offcanvas(
        [
            dbc.Button(
                "Open the Real-time page",
                id=ALERT_LIST_OPEN_PAGE,
                href="/realtime",
                size="sm",
                className="mb-3",
            ),
            html.Div(id=ALERT_LIST_BODY),
        ],
        id=ALERT_LIST,
        title="Alerts",
        placement="end",
        is_open=False,
    )


def stores() -> list[Any]:
    """The per-tab state. Session storage: a reload keeps the view, another tab has its own.

    Seen alerts are kept in the browser's local storage: an alert shown once is not shown again
    after a reload or in another tab of the same browser.

    The data version starts at -1: the tick's first (initial) call publishes the real one, and every
    callback that depends on it runs then (Dash runs a dependent callback only when its input changes).
    """
    return [
        dcc.Store(id=VERSION_STORE, data={"version": -1, "rows": 0}),
        dcc.Store(id=MANIFEST_STORE, data=None),
        dcc.Store(id=FILTER_STORE, data={}),
        dcc.Store(id=DRILL_STORE, storage_type="session", data=[]),
        dcc.Store(id=SEEN_ALERTS_STORE, storage_type="local", data=None),
        dcc.Store(id=ALERTS_VERSION_STORE, data=-1),
        dcc.Store(id=GEN_MESSAGE_STORE, data=None),
        dcc.Store(id=PARAMS_STORE, data=None),
        dcc.Store(id=DRILL_HISTORY, data=None),
    ]
