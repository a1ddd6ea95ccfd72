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
INGEST_STATUS = "ingest-status"

FILTER_DATES = "filter-dates"
FILTER_DROPDOWNS: dict[str, str] = {
    "tiers": "filter-tiers",
    "environments": "filter-environments",
    "organizations": "filter-organizations",
    "sources": "filter-sources",
    "customers": "filter-customers",
    "api_keys": "filter-api-keys",
}
FILTER_LABELS: dict[str, str] = {
    "tiers": "Tier",
    "environments": "Environment",
    "organizations": "Organization",
    "sources": "Source",
    "customers": "End user",
    "api_keys": "API key",
}
FILTER_RESET = "filter-reset"
BREADCRUMB = "breadcrumb"
CRUMB_TYPE = "crumb"
EMPTY_STATE = "empty-state"
PAGE_WRAPPER = "page-wrapper"
ALERT_TOASTS = "toast-alerts"
GENERATION_TOASTS = "toast-generation"

STATE_COLOURS: dict[str, str] = {
    "idle": "secondary",
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
                dbc.Nav(links, navbar=True, className="flex-wrap"),
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
                dbc.Input(
                    id=TARGET_INPUT,
                    type="number",
                    min=0.1,
                    step=0.1,
                    value=default_target_mb,
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
                    min=0,
                    step=1,
                    value=default_seed,
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


def progress_view(manifest: dict | None, running: bool, rows_fallback: int) -> dict[str, Any]:
    """Progress bar value/label, status text, state badge and colour from the manifest (pure)."""
    m = manifest or {}
    state = str(m.get("state") or ("generating" if running else "idle"))
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
    if m.get("message") and state in ("error", "stopped", "interrupted"):
        parts.append(str(m["message"]))
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


def stores() -> list[Any]:
    """The per-tab state. Session storage: a reload keeps the view, another tab has its own.

    The data version starts at -1: the tick's first (initial) call publishes the real one, and every
    callback that depends on it runs then (Dash runs a dependent callback only when its input changes).
    """
    return [
        dcc.Store(id=VERSION_STORE, data={"version": -1, "rows": 0}),
        dcc.Store(id=MANIFEST_STORE, data=None),
        dcc.Store(id=FILTER_STORE, data={}),
        dcc.Store(id=DRILL_STORE, storage_type="session", data=[]),
        dcc.Store(id=SEEN_ALERTS_STORE, data=None),
        dcc.Store(id=ALERTS_VERSION_STORE, data=-1),
    ]
