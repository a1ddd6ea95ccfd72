"""Overview chart: organization → product → model cost treemap; a click drills down.

Node ids are the escaped path (``org_1/product_a``) so a click maps back to a drill path
whatever characters the names contain.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, State
from dash.exceptions import PreventUpdate

from dashboard.components.blocks import chart_card
from dashboard.components.charts import TEMPLATE_DICT, empty_figure, plot_text, register_overview_chart
from dashboard.components.shell import DRILL_STORE
from dashboard.hub import DataHub

GRAPH_ID = "overview-treemap"
LEVELS = ("organization_id", "product_id", "model")
#: levels drawn below the current drill path (all three at once is thousands of nodes: slow to draw)
SHOWN_LEVELS = 2


def layout() -> dbc.Card:
    return chart_card("Cost by organization → product → model (click to drill down)", GRAPH_ID, height=420)


def encode_level(values: pd.Series) -> pd.Series:
    """Escape ``%`` and ``/`` so ``/`` can join levels into a node id (vectorized)."""
    return values.astype(str).str.replace("%", "%25", regex=False).str.replace("/", "%2F", regex=False)


def decode_id(node_id: str) -> list[str]:
    """A node id back to its path: ``"org%2F1/product_a"`` -> ``["org/1", "product_a"]``."""
    return [part.replace("%2F", "/").replace("%25", "%") for part in node_id.split("/")]


def process_data(hierarchy: pd.DataFrame | None, drill: list[str] | tuple[str, ...] = ()) -> pd.DataFrame:
    """Treemap nodes (id, parent, label, cost_usd, calls, depth): two levels below the drill path.

    Ids are the escaped path joined by ``/`` so a click maps back to a drill path whatever the
    names contain.
    """
    cols = ["id", "parent", "label", "cost_usd", "calls", "depth"]
    empty = pd.DataFrame({c: [] for c in cols})
    if hierarchy is None or hierarchy.empty:
        return empty
    h = pd.DataFrame({c: hierarchy[c].astype(str) for c in LEVELS})
    h["cost_usd"] = hierarchy["cost_usd"].to_numpy()
    h["calls"] = hierarchy["calls"].to_numpy()
    drill = tuple(str(d) for d in drill)[: len(LEVELS)]
    for level, value in zip(LEVELS, drill, strict=False):
        h = h[h[level] == value]
    if h.empty:
        return empty
    keys = {c: encode_level(h[c]) for c in LEVELS}
    frames = []
    if drill:
        root = "/".join(encode_level(pd.Series(list(drill))))
        frames.append(
            pd.DataFrame(
                {
                    "id": [root],
                    "parent": [""],
                    "label": [drill[-1]],
                    "cost_usd": [h["cost_usd"].sum()],
                    "calls": [h["calls"].sum()],
                    "depth": [len(drill)],
                }
            )
        )
    prefix = "/".join(encode_level(pd.Series(list(drill)))) if drill else ""
    parent = pd.Series(prefix, index=h.index)
    for depth in range(len(drill) + 1, min(len(drill) + SHOWN_LEVELS, len(LEVELS)) + 1):
        level = keys[LEVELS[depth - 1]]
        level_ids = level if depth == 1 else parent + "/" + level
        g = pd.DataFrame(
            {
                "id": level_ids,
                "parent": parent,
                "label": h[LEVELS[depth - 1]],
                "cost_usd": h["cost_usd"],
                "calls": h["calls"],
            }
        )
        g = g.groupby(["id", "parent", "label"], sort=True)[["cost_usd", "calls"]].sum().reset_index()
        g["depth"] = depth
        frames.append(g)
        parent = level_ids
    return pd.concat(frames, ignore_index=True)[cols]


def create_figure(nodes: pd.DataFrame) -> go.Figure:
    if nodes.empty:
        return empty_figure()
    trace = {
        "type": "treemap",
        "ids": nodes["id"].tolist(),
        "parents": nodes["parent"].tolist(),
        "labels": plot_text(nodes["label"]),
        "values": nodes["cost_usd"].clip(lower=0).tolist(),
        "customdata": nodes[["calls"]].to_numpy().tolist(),
        "branchvalues": "total",
        "hovertemplate": "%{label}<br>$%{value:,.2f}<br>%{customdata[0]:,} calls<extra></extra>",
        "texttemplate": "%{label}<br>$%{value:,.2f}",
        # the levels drawn (two below the drill path, plus its root): a click can only land one level down
        "maxdepth": int(nodes["depth"].nunique()),
        "pathbar": {"visible": False},
    }
    # plain dicts without plotly's per-property validation: this figure is redrawn on every new data version
    return go.Figure(
        {"data": [trace], "layout": {"template": TEMPLATE_DICT, "margin": {"l": 0, "r": 0, "t": 0, "b": 0}}},
        _validate=False,
    )


def drill_from_click(current: list[str] | None, click: dict | None) -> list[str] | None:
    """New drill path from a treemap click: exactly one level below the current path, towards the
    clicked node (a click on a product box inside an organization drills into the organization),
    or one level up when the click is on the current root.

    Returns None when the click carries no usable node id.
    """
    try:
        node_id = (click or {})["points"][0]["id"]
    except (KeyError, IndexError, TypeError):
        return None
    if not isinstance(node_id, str) or not node_id:
        return None
    path = decode_id(node_id)
    if len(path) > len(LEVELS):
        return None
    current = list(current or [])
    if path == current:
        return current[:-1]
    if path[: len(current)] != current:  # a node outside the current scope (a stale figure)
        return None
    return path[: len(current) + 1]


def register(app, hub: DataHub) -> None:
    register_overview_chart(
        app, hub, GRAPH_ID, lambda ov, drill: create_figure(process_data(ov.hierarchy, drill))
    )

    @app.callback(
        Output(DRILL_STORE, "data", allow_duplicate=True),
        Input(GRAPH_ID, "clickData"),
        State(DRILL_STORE, "data"),
        prevent_initial_call=True,
    )
    def drill_down(click, drill):
        new = drill_from_click(drill, click)
        if new is None or new == list(drill or []):
            raise PreventUpdate
        return new
