"""Callbacks of the frame around the pages: tick, progress, Generate/Stop, filters, drill, toasts.

The decisions are pure functions (``tick_update``, ``finished_toast``, ``unseen_alerts``,
``drill_from_crumb``, ``filters_payload``) so they are unit-tested without a browser; the
callbacks only fetch data and call them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, ClientsideFunction, Input, Output, State, ctx, html, no_update
from dash.exceptions import PreventUpdate

from analyzers.base import SEVERITY_ORDER, SEVERITY_RANK, Alert
from analyzers.common import MISSING_KEY
from dashboard.auth import write_refusal
from dashboard.components import shell as ids
from dashboard.components.blocks import SEVERITY_COLOURS
from dashboard.components.charts import ticked
from dashboard.generation import GenerationControl, other_process_alive, validate_request
from dashboard.hub import FILTER_FIELDS, DataHub, Tick, filters_from_store
from metering.manifest import read_manifest

TERMINAL_STATES = ("done", "stopped", "error", "interrupted")
#: toasts visible at once: one generation toast and two alert toasts (3 in all, newest first)
MAX_GENERATION_TOASTS = 1
MAX_ALERT_TOASTS = 2
#: seen alert ids remembered in the browser (the newest ones; the store must stay small)
MAX_SEEN_ALERTS = 5000
#: alerts listed in the bell's panel
ALERT_LIST_LIMIT = 20


# ---- pure decisions -------------------------------------------------------------------------------


def tick_update(prev_version: dict | None, tick: Tick, prev_manifest: dict | None, manifest: dict | None):
    """(version payload or no_update, manifest payload or no_update) — no_update when unchanged."""
    payload = {"version": tick.version, "rows": tick.rows}
    version_out = no_update if prev_version == payload else payload
    manifest_payload = manifest or {}
    manifest_out = no_update if prev_manifest == manifest_payload else manifest_payload
    return version_out, manifest_out


def finished_toast(prev: dict | None, new: dict | None) -> dict | None:
    """Toast content when a generation run ended since the tab's last tick, else None.

    The tab's first tick (``prev`` is None) only sets the baseline: a run that ended before the
    tab was opened is not announced.
    """
    if prev is None or not new:
        return None
    state = new.get("state")
    if state not in TERMINAL_STATES:
        return None
    same_run = prev.get("started_at") == new.get("started_at")
    if same_run and prev.get("state") == state:
        return None
    if same_run and prev.get("state") in TERMINAL_STATES:
        return None
    colour = {"done": "success", "stopped": "warning", "error": "danger", "interrupted": "danger"}[state]
    header = {
        "done": "Generation finished",
        "stopped": "Generation stopped",
        "error": "Generation failed",
        "interrupted": "Generation interrupted",
    }[state]
    body = f"{int(new.get('rows') or 0):,} rows, {float(new.get('mb') or 0):.1f} MB written."
    if new.get("message") and state != "done":
        body = f"{body} {new['message']}"
    return {"header": header, "body": body, "colour": colour, "key": f"{new.get('started_at')}-{state}"}


def by_severity(alerts: list[Alert]) -> list[Alert]:
    """Most severe first (critical > warning > info), then the larger value."""
    return sorted(alerts, key=lambda a: (SEVERITY_RANK.get(a.severity, 9), -abs(float(a.value or 0))))


def unseen_alerts(seen: list[str] | None, alerts: list[Alert]) -> tuple[list[Alert], list[str]]:
    """(new alerts, most severe first; updated seen ids). First call (seen None) only sets the baseline.

    The seen list keeps the newest ``MAX_SEEN_ALERTS`` ids (it lives in the browser's local storage).
    """
    current = [a.id for a in alerts]
    if seen is None:
        return [], current[-MAX_SEEN_ALERTS:]
    known = set(seen)
    new = by_severity([a for a in alerts if a.id not in known])
    merged = list(seen) + [i for i in current if i not in known]
    return new, merged[-MAX_SEEN_ALERTS:]


def alert_toast_contents(new: list[Alert], limit: int = MAX_ALERT_TOASTS) -> list[dict]:
    """Toasts for the alerts one tick brought, newest tick first.

    One toast per entity (its most severe alert; the others folded into "+N more"); when more
    entities than ``limit`` have new alerts, a single summary toast for the whole burst.
    """
    if not new:
        return []
    ordered = by_severity(new)
    groups: dict[str, list[Alert]] = {}
    for a in ordered:
        groups.setdefault(a.entity, []).append(a)
    if len(groups) > limit:
        top = ordered[0]
        return [
            {
                "header": f"{len(new):,} new alerts — open Real-time",
                "body": f"{len(groups):,} customers, models or providers. Most severe: "
                f"{top.severity} on {top.entity}: {top.message}",
                "colour": SEVERITY_COLOURS.get(top.severity, "secondary"),
                "key": "alert-summary",
                "link": True,
            }
        ]
    out = []
    for entity, items in groups.items():
        top = items[0]
        more = f" (+{len(items) - 1} more for this {entity.split(':', 1)[0]})" if len(items) > 1 else ""
        out.append(
            {
                "header": f"{top.severity.capitalize()} alert: {entity}",
                "body": f"{top.message}{more}",
                "colour": SEVERITY_COLOURS.get(top.severity, "secondary"),
                "key": f"alert-{entity}",
                "link": False,
            }
        )
    return out


def alert_toast_content(new: list[Alert]) -> dict | None:
    """The first toast :func:`alert_toast_contents` would raise (None when nothing is new)."""
    contents = alert_toast_contents(new)
    return contents[0] if contents else None


def _prop(component: Any, name: str) -> Any:
    """A prop of a child as the browser sends it back (a dict) or as built on the server (a component)."""
    if isinstance(component, dict):
        return (component.get("props") or {}).get(name)
    return getattr(component, name, None)


def merge_toasts(existing: list | None, new: list, limit: int) -> list:
    """New toasts first, then the still-open older ones that the new ones do not replace (same id);
    at most ``limit`` in all, so the toast area can never grow over the page."""
    new_ids = {_prop(t, "id") for t in new}
    kept = [t for t in (existing or []) if _prop(t, "is_open") is not False and _prop(t, "id") not in new_ids]
    return (list(new) + kept)[:limit]


def toast_component(content: dict) -> Any:
    toast_id = "toast-" + hashlib.sha1(str(content["key"]).encode()).hexdigest()[:12]
    body: list[Any] = [content["body"]]
    if content.get("link"):
        body += [
            " ",
            dbc.Button("Open Real-time", href="/realtime", size="sm", color="link", className="p-0"),
        ]
    return ids.toast(content["header"], body, content["colour"], toast_id)


def message_belongs_to_ended_run(manifest: dict | None, running: bool, run_pid: int | None) -> bool:
    """True when the manifest says the run a message was about has ended (done, stopped, failed)."""
    m = manifest or {}
    if m.get("state") not in TERMINAL_STATES:
        return False
    return not running or (run_pid is not None and m.get("pid") == run_pid)


def run_params(manifest: dict | None, launched: dict | None) -> dict | None:
    """Target MB, pace and seed of the run in progress (what we launched, else what its manifest says)."""
    m = manifest or {}
    if m.get("state") != "generating":
        return None
    if launched:
        return launched
    seed = m.get("seed")
    if seed is None:  # manifests written before seed/pace were recorded: "seed 42, 12 scenarios, ..."
        head = str(m.get("message") or "").split(",", 1)[0]
        seed = int(head[5:]) if head.startswith("seed ") and head[5:].isdigit() else None
    return {"target_mb": m.get("target_mb"), "pace": m.get("pace"), "seed": seed}


def alert_list_items(alerts: list[Alert], limit: int = ALERT_LIST_LIMIT) -> list[Any]:
    """The bell's panel: the most severe alerts, then a way to the full list."""
    if not alerts:
        return [html.P("No open alerts: spend is within its expected range.", className="text-muted")]
    items: list[Any] = []
    for a in by_severity(alerts)[:limit]:
        when = "" if a.time is None else str(a.time)[:16].replace("T", " ") + " UTC"
        items.append(
            dbc.ListGroupItem(
                [
                    dbc.Badge(
                        a.severity, color=SEVERITY_COLOURS.get(a.severity, "secondary"), className="me-2"
                    ),
                    html.Strong(a.entity),
                    html.Div(a.message, className="small"),
                    html.Div(when, className="small text-muted"),
                ]
            )
        )
    shown = f"The {min(limit, len(alerts))} most severe of {len(alerts):,} open alerts."
    return [html.P(shown, className="small text-muted"), dbc.ListGroup(items, flush=True, className="mb-3")]


def drill_from_crumb(drill: list[str] | None, index: int) -> list[str]:
    """Crumb ``index`` 0 is "All organizations"; ``i`` keeps the first ``i`` levels."""
    return list(drill or [])[: max(0, int(index))]


def filters_payload(start: str | None, end: str | None, values: dict[str, list | None]) -> dict[str, Any]:
    """The tab's filter store: ISO dates and the selected values per dimension (empty = all)."""
    out: dict[str, Any] = {"start": start[:10] if start else None, "end": end[:10] if end else None}
    for name in FILTER_FIELDS:
        out[name] = sorted(str(v) for v in (values.get(name) or []))
    return out


def option_list(values) -> list[dict]:
    """Dropdown options; labels are plain text (Dash renders them as text, never HTML)."""
    return [{"label": str(v) or MISSING_KEY, "value": str(v)} for v in values or []]


def simulated_rows(hub: DataHub) -> dict[str, int]:
    """Calls per source in the whole file (what a new run would replace: the simulated ones)."""
    ov = hub.overview(filters_from_store({}))
    return dict(ov.calls_by_source) if ov is not None else {}


# ---- registration ---------------------------------------------------------------------------------


def register(app, hub: DataHub, control: GenerationControl, data_path: Path) -> None:
    @app.callback(
        Output(ids.VERSION_STORE, "data"),
        Output(ids.MANIFEST_STORE, "data"),
        Output(ids.GENERATION_TOASTS, "children"),
        Output(ids.ALERTS_VERSION_STORE, "data"),
        Input(ids.TICK, "n_intervals"),
        State(ids.VERSION_STORE, "data"),
        State(ids.MANIFEST_STORE, "data"),
        State(ids.ALERTS_VERSION_STORE, "data"),
        State(ids.GENERATION_TOASTS, "children"),
    )
    def tick(_n, prev_version, prev_manifest, prev_alerts_version, shown):
        t = hub.tick()
        hub.refresh_alerts()
        alerts_version = hub.alerts_version()
        m = read_manifest(data_path)
        manifest = m.to_json() if m is not None else {}
        version_out, manifest_out = tick_update(prev_version, t, prev_manifest, manifest)
        # publish once the alerts describe the data (a tab's first published version is its baseline)
        ready = alerts_version > 0 or t.rows == 0
        alerts_out = alerts_version if ready and alerts_version != prev_alerts_version else no_update
        if version_out is no_update and manifest_out is no_update and alerts_out is no_update:
            raise PreventUpdate
        content = finished_toast(prev_manifest, manifest) if manifest_out is not no_update else None
        toasts = (
            merge_toasts(shown, [toast_component(content)], MAX_GENERATION_TOASTS) if content else no_update
        )
        return version_out, manifest_out, toasts, alerts_out

    @app.callback(
        Output(ids.PROGRESS, "value"),
        Output(ids.PROGRESS, "label"),
        Output(ids.PROGRESS, "animated"),
        Output(ids.PROGRESS, "striped"),
        Output(ids.PROGRESS, "color"),
        Output(ids.PROGRESS_TEXT, "children"),
        Output(ids.STATE_BADGE, "children"),
        Output(ids.STATE_BADGE, "color"),
        Output(ids.SCENARIO_PROGRESS, "children"),
        Output(ids.GEN_MESSAGE, "children", allow_duplicate=True),
        Output(ids.GEN_MESSAGE_STORE, "data", allow_duplicate=True),
        Input(ids.MANIFEST_STORE, "data"),
        Input(ids.VERSION_STORE, "data"),
        State(ids.GEN_MESSAGE_STORE, "data"),
        prevent_initial_call="initial_duplicate",
    )
    def progress(manifest, version, message_meta):
        running, pid = control.running(data_path), control.pid(data_path)
        v = ids.progress_view(manifest, running, int((version or {}).get("rows") or 0), pid)
        clear = (message_meta or {}).get("kind") == "run" and message_belongs_to_ended_run(
            manifest, running, pid
        )
        return (
            v["value"],
            v["label"],
            v["animated"],
            v["animated"],
            v["colour"],
            v["text"],
            v["state"],
            v["colour"],
            ids.scenario_progress(v["scenarios"]),
            "" if clear else no_update,
            None if clear else no_update,
        )

    # the badge says "starting" the moment Generate (or the confirmation) is clicked, in the browser
    app.clientside_callback(
        ClientsideFunction(namespace="revenium", function_name="startingBadge"),
        Output(ids.STATE_BADGE, "children", allow_duplicate=True),
        Output(ids.STATE_BADGE, "color", allow_duplicate=True),
        Input(ids.GENERATE_BUTTON, "n_clicks"),
        Input(ids.CONFIRM_OK, "n_clicks"),
        State(ids.VERSION_STORE, "data"),
        State(ids.STATE_BADGE, "children"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output(ids.GEN_MESSAGE, "children", allow_duplicate=True),
        Output(ids.GEN_MESSAGE, "className"),
        Output(ids.GEN_MESSAGE_STORE, "data", allow_duplicate=True),
        Output(ids.CONFIRM_MODAL, "is_open"),
        Output(ids.CONFIRM_TEXT, "children"),
        Output(ids.STATE_BADGE, "children", allow_duplicate=True),
        Output(ids.STATE_BADGE, "color", allow_duplicate=True),
        Input(ids.GENERATE_BUTTON, "n_clicks"),
        Input(ids.STOP_BUTTON, "n_clicks"),
        Input(ids.CONFIRM_OK, "n_clicks"),
        Input(ids.CONFIRM_CANCEL, "n_clicks"),
        State(ids.TARGET_INPUT, "value"),
        State(ids.PACE_INPUT, "value"),
        State(ids.SEED_INPUT, "value"),
        State(ids.MANIFEST_STORE, "data"),
        State(ids.VERSION_STORE, "data"),
        prevent_initial_call=True,
    )
    def generate_or_stop(_g, _s, _ok, _cancel, target_mb, pace, seed, manifest, version):
        trig = ctx.triggered_id
        m = manifest or {}

        def badge() -> tuple[str, str]:
            running, pid = control.running(data_path), control.pid(data_path)
            v = ids.progress_view(manifest, running, int((version or {}).get("rows") or 0), pid)
            return v["state"], v["colour"]

        def answer(message: str, ok: bool, kind: str, modal: bool = False, text: Any = no_update):
            colour = "text-success" if ok else "text-danger"
            state = ("starting", ids.STATE_COLOURS["starting"]) if ok and trig != ids.STOP_BUTTON else badge()
            return (message, f"small mt-1 {colour}", {"kind": kind}, modal, text, *state)

        if (refused := write_refusal()) is not None:  # a read-only login
            return answer(refused, False, "form")
        if trig == ids.CONFIRM_CANCEL:
            return answer("Cancelled: the data file was not changed.", False, "form")
        if trig == ids.STOP_BUTTON:
            outcome = control.stop(data_path)
            return answer(outcome.message, outcome.ok, "run")
        problem = validate_request(target_mb, pace, seed)
        if isinstance(problem, str):
            return answer(f"Not started — {problem}.", False, "form")
        external = m.get("pid") if m.get("state") == "generating" else None
        busy = control.running(data_path) or (external is not None and other_process_alive(external))
        if trig == ids.GENERATE_BUTTON and not busy:
            simulated = simulated_rows(hub) if int((version or {}).get("rows") or 0) else {}
            if int(simulated.get("simulated", 0) or 0) > 0:
                state = badge()
                return ("", "small mt-1", None, True, ids.confirm_text(simulated), *state)
        outcome = control.start(data_path, target_mb, pace, seed, external_pid=external)
        return answer(outcome.message, outcome.ok, "run")

    @app.callback(
        Output(ids.TARGET_INPUT, "value"),
        Output(ids.PACE_INPUT, "value"),
        Output(ids.SEED_INPUT, "value"),
        Output(ids.PARAMS_STORE, "data"),
        Input(ids.MANIFEST_STORE, "data"),
        State(ids.PARAMS_STORE, "data"),
    )
    def show_running_params(manifest, applied):
        """A tab opened (or reloaded) during a run shows that run's target, pace and seed once."""
        m = manifest or {}
        params = run_params(manifest, control.params(data_path))
        if params is None or m.get("started_at") == applied:
            raise PreventUpdate
        return (
            params.get("target_mb") if params.get("target_mb") is not None else no_update,
            params.get("pace") or no_update,
            params.get("seed") if params.get("seed") is not None else no_update,
            m.get("started_at"),
        )

    @app.callback(
        Output(ids.ALERT_TOASTS, "children"),
        Output(ids.SEEN_ALERTS_STORE, "data"),
        Input(ids.ALERTS_VERSION_STORE, "data"),
        State(ids.SEEN_ALERTS_STORE, "data"),
        State(ids.ALERT_TOASTS, "children"),
    )
    def alert_toasts(alerts_version, seen, shown):
        if alerts_version is None or int(alerts_version) < 0:
            raise PreventUpdate
        new, seen_out = unseen_alerts(seen, hub.latest_alerts())
        contents = alert_toast_contents(new)
        if not contents and seen_out == seen:
            raise PreventUpdate
        toasts = [toast_component(c) for c in contents]
        return (merge_toasts(shown, toasts, MAX_ALERT_TOASTS) if toasts else no_update), seen_out

    @app.callback(
        Output(ids.BELL_COUNT, "children"),
        Output(ids.BELL_COUNT, "color"),
        Input(ids.ALERTS_VERSION_STORE, "data"),
    )
    def bell(_alerts_version):
        alerts = hub.latest_alerts()
        severities = {a.severity for a in alerts}
        colour = next((SEVERITY_COLOURS[s] for s in SEVERITY_ORDER if s in severities), "secondary")
        return f"{len(alerts):,}", colour

    @app.callback(
        Output(ids.ALERT_LIST, "is_open"),
        Input(ids.BELL, "n_clicks"),
        Input(ids.ALERT_LIST_OPEN_PAGE, "n_clicks"),
        State(ids.ALERT_LIST, "is_open"),
        prevent_initial_call=True,
    )
    def toggle_alert_list(_bell, _open_page, is_open):
        if ctx.triggered_id == ids.BELL:
            return not is_open
        return False

    @app.callback(
        Output(ids.ALERT_LIST_BODY, "children"),
        Input(ids.ALERT_LIST, "is_open"),
        Input(ids.ALERTS_VERSION_STORE, "data"),
    )
    def alert_list(is_open, _alerts_version):
        if not is_open:
            raise PreventUpdate
        return alert_list_items(hub.latest_alerts())

    dropdown_inputs = [Input(cid, "value") for cid in ids.FILTER_DROPDOWNS.values()]

    @app.callback(
        Output(ids.FILTER_STORE, "data"),
        Input(ids.FILTER_DATES, "start_date"),
        Input(ids.FILTER_DATES, "end_date"),
        *dropdown_inputs,
    )
    def filters(start, end, *values):
        return filters_payload(start, end, dict(zip(ids.FILTER_DROPDOWNS, values, strict=True)))

    @app.callback(
        *[Output(cid, "options") for cid in ids.FILTER_DROPDOWNS.values()],
        Output(ids.FILTER_DATES, "min_date_allowed"),
        Output(ids.FILTER_DATES, "max_date_allowed"),
        Input(ids.VERSION_STORE, "data"),
    )
    def filter_options(version):
        if not ticked(version):
            raise PreventUpdate
        opts = hub.filter_options() if int(version.get("rows") or 0) else {}
        lists = [option_list(opts.get(name)) for name in ids.FILTER_DROPDOWNS]
        start, end = opts.get("start"), opts.get("end")
        return (*lists, str(start)[:10] if start else None, str(end)[:10] if end else None)

    @app.callback(
        *[Output(cid, "value") for cid in ids.FILTER_DROPDOWNS.values()],
        Output(ids.FILTER_DATES, "start_date"),
        Output(ids.FILTER_DATES, "end_date"),
        Input(ids.FILTER_RESET, "n_clicks"),
        prevent_initial_call=True,
    )
    def reset_filters(_n):
        return (*([[]] * len(ids.FILTER_DROPDOWNS)), None, None)

    @app.callback(
        Output(ids.DRILL_STORE, "data", allow_duplicate=True),
        Input({"type": ids.CRUMB_TYPE, "index": ALL}, "n_clicks"),
        State(ids.DRILL_STORE, "data"),
        prevent_initial_call=True,
    )
    def crumb_click(_clicks, drill):
        trig = ctx.triggered_id
        if not trig or not ctx.triggered or not ctx.triggered[0].get("value"):
            raise PreventUpdate
        return drill_from_crumb(drill, trig["index"])

    @app.callback(Output(ids.INGEST_STATUS, "children"), Input(ids.VERSION_STORE, "data"))
    def ingest_status(_version):
        state = app.server.extensions.get("revenium_ingest")
        return ids.ingest_view(None if state is None else state.status())

    @app.callback(
        Output(ids.BREADCRUMB, "children"),
        Output(ids.FILTER_DROPDOWNS["organizations"], "placeholder"),
        Input(ids.DRILL_STORE, "data"),
    )
    def breadcrumb(drill):
        return ids.breadcrumb(drill), ids.organization_placeholder(drill)

    # every drill step becomes a browser history entry: Back goes up one level
    app.clientside_callback(
        ClientsideFunction(namespace="revenium", function_name="drillHistory"),
        Output(ids.DRILL_HISTORY, "data"),
        Input(ids.DRILL_STORE, "data"),
    )

    @app.callback(
        Output(ids.EMPTY_STATE, "style"),
        Output(ids.PAGE_WRAPPER, "style"),
        Input(ids.VERSION_STORE, "data"),
    )
    def empty_state(version):
        if not ticked(version):
            raise PreventUpdate
        empty = int(version.get("rows") or 0) == 0
        return (
            ({"display": "block"}, {"display": "none"})
            if empty
            else ({"display": "none"}, {"display": "block"})
        )
