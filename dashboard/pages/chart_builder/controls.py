"""Chart builder page: the pure decisions behind its callbacks, tested without a browser.

Controls <-> ``ChartConfig`` conversion, the saved-chart list view and the workspace actions (save,
duplicate, rename, delete) live here; ``dashboard/pages/chart_builder.py`` only wires them to Dash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from dashboard.pages.chart_builder.builder import MAX_LAST_DAYS, MAX_TOP_N, ChartConfig, ConfigError, describe
from dashboard.pages.chart_builder.workspace import ChartExists, Listing, Workspace, WorkspaceError

OPEN_TYPE = "cb-open"
DEFAULT_CONFIG = ChartConfig(title="Untitled chart")


#: control names in messages (the rest: the field name with spaces)
FIELD_LABELS = {"top_n": "top N"}


def _int_or_none(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None


def config_from_controls(
    title: str | None,
    chart_type: str | None,
    dimensions: list[str] | None,
    metric: str | None,
    bar_mode: str | None,
    time_grain: str | None,
    date_from: str | None,
    date_to: str | None,
    last_days: Any,
    top_n: Any,
    filters: dict[str, list[str]] | None,
) -> tuple[ChartConfig | None, list[str]]:
    """(config, []) when the controls describe a valid chart, else (None, one message per problem)."""
    doc = {
        "title": (title or "").strip(),
        "chart_type": chart_type or DEFAULT_CONFIG.chart_type,
        "dimensions": list(dimensions or []),
        "metric": metric or DEFAULT_CONFIG.metric,
        "bar_mode": bar_mode or DEFAULT_CONFIG.bar_mode,
        "time_grain": time_grain or DEFAULT_CONFIG.time_grain,
        "date_from": (date_from or "")[:10] or None,
        "date_to": (date_to or "")[:10] or None,
        "last_days": _int_or_none(last_days) if last_days not in (None, "") else None,
        "filters": {k: list(v) for k, v in (filters or {}).items() if v},
        "top_n": _int_or_none(top_n) if top_n not in (None, "") else None,
    }
    if last_days not in (None, "") and doc["last_days"] is None:
        return None, [f"last days: expected a whole number of days 1..{MAX_LAST_DAYS}, got {last_days!r}"]
    if top_n not in (None, "") and doc["top_n"] is None:
        return None, [f"top N: expected a whole number 1..{MAX_TOP_N}, got {top_n!r}"]
    try:
        return ChartConfig.from_dict(doc), []
    except ConfigError as exc:
        return None, [
            f"{FIELD_LABELS.get(field, field.replace('_', ' '))}: {reason}" for field, reason in exc.problems
        ]


@dataclass(frozen=True)
class Controls:
    """The builder's control values for one configuration (what Open puts back on the page)."""

    title: str
    chart_type: str
    dimensions: list[str]
    metric: str
    bar_mode: str
    time_grain: str
    date_from: str | None
    date_to: str | None
    last_days: int | None
    top_n: int | None
    filters: dict[str, list[str]]

    def as_tuple(self) -> tuple:
        return (
            self.title,
            self.chart_type,
            self.dimensions,
            self.metric,
            self.bar_mode,
            self.time_grain,
            self.date_from,
            self.date_to,
            self.last_days,
            self.top_n,
        )


def controls_from_config(config: ChartConfig) -> Controls:
    return Controls(
        title=config.title,
        chart_type=config.chart_type,
        dimensions=list(config.dimensions),
        metric=config.metric,
        bar_mode=config.bar_mode,
        time_grain=config.time_grain,
        date_from=config.date_from,
        date_to=config.date_to,
        last_days=config.last_days,
        top_n=config.top_n,
        filters={k: list(v) for k, v in config.filters.items()},
    )


def update_filters(
    filters: dict[str, list[str]] | None, dim: str | None, values: list[str] | None
) -> dict[str, list[str]]:
    """The chart's filters with ``dim`` set to ``values`` (removed when empty)."""
    out = {k: list(v) for k, v in (filters or {}).items() if v}
    if dim:
        if values:
            out[dim] = list(values)
        else:
            out.pop(dim, None)
    return out


def filters_text(filters: dict[str, list[str]] | None) -> str:
    from dashboard.pages.chart_builder.metrics import DIMENSION_LABELS

    active = [(d, v) for d, v in (filters or {}).items() if v]
    if not active:
        return "No chart filters: every call (within the global filters above)."
    return "Chart filters: " + "; ".join(f"{DIMENSION_LABELS.get(d, d)} = {', '.join(v)}" for d, v in active)


def saved_list(listing: Listing, opened: str | None) -> list[Any]:
    """One clickable item per saved chart (name, summary); the open one highlighted."""
    if not listing.charts:
        return [html.P("No saved charts yet: build one and press Save.", className="small text-muted")]
    return [
        dbc.ListGroup(
            [
                dbc.ListGroupItem(
                    [
                        html.Div(chart.name, className="fw-semibold cb-saved-name"),
                        html.Div(chart.config.title, className="small"),
                        html.Div(describe(chart.config), className="small text-muted"),
                    ],
                    id={"type": OPEN_TYPE, "name": chart.name},
                    action=True,
                    active=chart.name == opened,
                    n_clicks=0,
                )
                for chart in listing.charts
            ],
            className="cb-saved-list",
        )
    ]


def problems_view(listing: Listing) -> list[Any]:
    """A warning for every workspace file that was skipped (corrupt JSON, invalid configuration, bad name)."""
    if not listing.problems:
        return []
    return [
        dbc.Alert(
            [
                html.Div(
                    f"Skipped {len(listing.problems)} file(s) in the workspace:", className="fw-semibold"
                ),
                html.Ul([html.Li(str(p)) for p in listing.problems], className="mb-0"),
            ],
            color="warning",
            className="small py-2 mt-2",
        )
    ]


@dataclass(frozen=True)
class ActionResult:
    """What a workspace action did: the message (and its colour) and the chart now open."""

    message: str
    ok: bool
    opened: str | None


def run_action(
    ws: Workspace,
    action: str,
    name: str | None,
    opened: str | None,
    config: ChartConfig | None,
    problems: list[str],
) -> ActionResult:
    """Save / duplicate / rename / delete. ``name`` is the Name box, ``opened`` the chart currently open.

    Save overwrites only the chart that is open under that same name; any other taken name is refused.
    """
    name = (name or "").strip()
    try:
        if action == "save":
            if config is None:
                return ActionResult("Cannot save: " + "; ".join(problems), False, opened)
            ws.save(name, config, overwrite=name == opened)
            return ActionResult(f"Saved {name!r}.", True, name)
        if action == "delete":
            if not opened:
                return ActionResult("Open a saved chart first, then delete it.", False, opened)
            ws.delete(opened)
            return ActionResult(f"Deleted {opened!r}.", True, None)
        if action in ("duplicate", "rename"):
            if not opened:
                return ActionResult(f"Open a saved chart first, then {action} it.", False, opened)
            if name == opened:
                return ActionResult(f"Type a new name in the Name box to {action} {opened!r}.", False, opened)
            if action == "duplicate":
                ws.duplicate(opened, name)
                return ActionResult(f"Duplicated {opened!r} as {name!r}.", True, name)
            ws.rename(opened, name)
            return ActionResult(f"Renamed {opened!r} to {name!r}.", True, name)
    except ChartExists as exc:
        return ActionResult(f"{exc}: choose another name (or open it to change it).", False, opened)
    except WorkspaceError as exc:
        return ActionResult(str(exc), False, opened)
    except OSError as exc:
        return ActionResult(f"The workspace folder cannot be written: {exc.strerror or exc}", False, opened)
    raise ValueError(f"unknown action {action!r}")
