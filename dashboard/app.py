"""The Dash application: shell layout, pages from ``dashboard.pages``, callbacks, ingest routes.

``create_app(data_path)`` builds one app bound to one call-record CSV. All per-user state (filters,
drill path, seen alerts, data version drawn) lives in the browser's stores; the server keeps only
the shared data cache (:class:`~dashboard.hub.DataHub`) and the generator registry.
"""

from __future__ import annotations

import atexit
import functools
import os
from pathlib import Path

import dash
import dash_bootstrap_components as dbc
from dash import Dash, dcc, html

from analyzers.base import AnalysisContext
from dashboard.auth import DashboardLogin, User
from dashboard.components import shell, shell_callbacks
from dashboard.generation import GenerationControl
from dashboard.hub import hub_for
from dashboard.pages import register_pages
from dashboard.pages.chart_builder.workspace import Workspace
from ingest import register_ingest

PACKAGE_DIR = Path(__file__).resolve().parent
ASSETS_DIR = PACKAGE_DIR / "assets"  # package data: found from a checkout and from an installed wheel
DEFAULT_INTERVAL_MS = 1500


def _layout(interval_ms: int, default_target_mb: float) -> html.Div:
    """Built per page load (the navbar lists the pages registered by then)."""
    return html.Div(
        [
            shell.navbar(),
            dbc.Container(
                [
                    shell.generation_strip(default_target_mb=default_target_mb),
                    shell.filter_bar(),
                    shell.empty_state(),
                    html.Div(dash.page_container, id=shell.PAGE_WRAPPER),
                ],
                fluid=True,
            ),
            html.Div(
                [
                    html.Div(id=shell.GENERATION_TOASTS, children=[]),
                    html.Div(id=shell.ALERT_TOASTS, children=[]),
                ],
                className="toast-area",
                **{"aria-live": "polite"},
            ),
            shell.confirm_modal(),
            shell.alert_list(),
            *shell.stores(),
            dcc.Interval(id=shell.TICK, interval=interval_ms, n_intervals=0),
        ]
    )


def create_app(
    data_path: Path,
    *,
    interval_ms: int = DEFAULT_INTERVAL_MS,
    control: GenerationControl | None = None,
    default_target_mb: float = 50.0,
    users: dict[str, User] | None = None,
    context: AnalysisContext | None = None,
    workspace: str | os.PathLike[str] | None = None,
) -> Dash:
    """A dashboard bound to ``data_path`` (the file may not exist yet: the page then invites Generate).

    With ``users`` (``dashboard.auth.load_users``) every page and callback needs a login (the ingest
    routes keep their API keys); without, the app is open (the command allows that on loopback only).
    ``context`` carries analysis settings such as a subscriptions file and the price catalog and tiers
    (default: the built-in ones); it is loaded once and handed down: to the data hub, to the ingest writer
    (which prices rows sent without a cost) and to the chart builder. ``workspace`` is the chart builder's
    folder of saved charts (default: ``$REVENIUM_FLOW_WORKSPACE`` or ``workspace/charts``).
    """
    data_path = Path(data_path).expanduser().resolve()
    app = Dash(
        __name__,
        use_pages=True,
        pages_folder="",  # the pages register themselves below (dashboard.pages.register_pages)
        assets_folder=str(ASSETS_DIR),
        suppress_callback_exceptions=False,  # every callback id is in the layouts built at start-up
        title="revenium-flow",
        update_title=None,
        serve_locally=True,
    )
    context = context if context is not None else AnalysisContext()
    hub = hub_for(data_path, context)
    control = control or GenerationControl()
    register_pages(Workspace(workspace) if workspace is not None else Workspace())
    app.layout = functools.partial(_layout, interval_ms, default_target_mb)
    shell_callbacks.register(app, hub, control, data_path)
    for page in dash.page_registry.values():
        register = page.get("register_callbacks")
        if register is not None:
            register(app, hub)
    register_ingest(app.server, data_path, catalog=context.catalog)
    if users:
        DashboardLogin(app, users)
    atexit.register(control.shutdown)
    return app
