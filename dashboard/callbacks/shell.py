"""Callbacks of the frame around the pages: tick, progress, Generate/Stop, filters, drill, toasts.

The decisions are pure functions (``tick_update``, ``finished_toast``, ``unseen_alerts``,
``drill_from_crumb``, ``filters_payload``) so they are unit-tested without a browser; the
callbacks only fetch data and call them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from dash import ALL, Input, Output, Patch, State, ctx, no_update
from dash.exceptions import PreventUpdate

from analyzers.base import Alert
from dashboard.auth import write_refusal
from dashboard.callbacks.hub import FILTER_FIELDS, DataHub, Tick
from dashboard.components import shell as ids
from dashboard.components.blocks import SEVERITY_COLOURS
from dashboard.components.charts.common import ticked
from dashboard.generation import GenerationControl
from metering.manifest import read_manifest

TERMINAL_STATES = ("done", "stopped", "error", "interrupted")
SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}


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


def unseen_alerts(seen: list[str] | None, alerts: list[Alert]) -> tuple[list[Alert], list[str]]:
    """(new alerts, most severe first; updated seen ids). First call (seen None) only sets the baseline."""
    current = [a.id for a in alerts]
    if seen is None:
        return [], current
    known = set(seen)
    new = [a for a in alerts if a.id not in known]
    new.sort(key=lambda a: (SEVERITY_RANK.get(a.severity, 9), -abs(float(a.value or 0))))
    merged = list(seen) + [i for i in current if i not in known]
    return new, merged


def alert_toast_content(new: list[Alert]) -> dict | None:
    """One toast per tick: the most severe new alert, and how many more arrived with it."""
    if not new:
        return None
    top = new[0]
    more = f" (+{len(new) - 1} more on the Real-time page)" if len(new) > 1 else ""
    return {
        "header": f"{top.severity.capitalize()} alert: {top.entity}",
        "body": f"{top.message}{more}",
        "colour": SEVERITY_COLOURS.get(top.severity, "secondary"),
        "key": top.id,
    }


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
    return [{"label": str(v) or "(none)", "value": str(v)} for v in values or []]


def _toast(content: dict) -> Patch:
    """Prepend one toast to its area (earlier ones stay, so a repeated toast would show as a second)."""
    toast_id = "toast-" + hashlib.sha1(str(content["key"]).encode()).hexdigest()[:12]
    patch = Patch()
    patch.prepend(ids.toast(content["header"], content["body"], content["colour"], toast_id))
    return patch


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
    )
    def tick(_n, prev_version, prev_manifest, prev_alerts_version):
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
        return version_out, manifest_out, (_toast(content) if content else no_update), alerts_out

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
        Input(ids.MANIFEST_STORE, "data"),
        Input(ids.VERSION_STORE, "data"),
    )
    def progress(manifest, version):
        v = ids.progress_view(manifest, control.running(data_path), int((version or {}).get("rows") or 0))
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
        )

    @app.callback(
        Output(ids.GEN_MESSAGE, "children"),
        Output(ids.GEN_MESSAGE, "className"),
        Input(ids.GENERATE_BUTTON, "n_clicks"),
        Input(ids.STOP_BUTTON, "n_clicks"),
        State(ids.TARGET_INPUT, "value"),
        State(ids.PACE_INPUT, "value"),
        State(ids.SEED_INPUT, "value"),
        State(ids.MANIFEST_STORE, "data"),
        prevent_initial_call=True,
    )
    def generate_or_stop(_g, _s, target_mb, pace, seed, manifest):
        if (refused := write_refusal()) is not None:  # a read-only login
            return refused, "small mt-1 text-danger"
        if ctx.triggered_id == ids.STOP_BUTTON:
            outcome = control.stop(data_path)
        else:
            m = manifest or {}
            external = m.get("pid") if m.get("state") == "generating" else None
            outcome = control.start(data_path, target_mb, pace, seed, external_pid=external)
        colour = "text-success" if outcome.ok else "text-danger"
        return outcome.message, f"small mt-1 {colour}"

    @app.callback(
        Output(ids.ALERT_TOASTS, "children"),
        Output(ids.SEEN_ALERTS_STORE, "data"),
        Input(ids.ALERTS_VERSION_STORE, "data"),
        State(ids.SEEN_ALERTS_STORE, "data"),
    )
    def alert_toasts(alerts_version, seen):
        if alerts_version is None or int(alerts_version) < 0:
            raise PreventUpdate
        new, seen_out = unseen_alerts(seen, hub.latest_alerts())
        content = alert_toast_content(new)
        if content is None and seen_out == seen:
            raise PreventUpdate
        return (_toast(content) if content else no_update), seen_out

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

    @app.callback(Output(ids.BREADCRUMB, "children"), Input(ids.DRILL_STORE, "data"))
    def breadcrumb(drill):
        return ids.breadcrumb(drill)

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
