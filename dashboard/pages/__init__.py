"""The dashboard's pages, registered in nav order by :func:`register_pages`: the overview, one page per
analyzer in ``analyzers.registry`` order, the chart builder.

An analyzer's page lives in ``dashboard/pages/<analyzer name>/``: ``page.py`` defines ``SPEC`` (a
:class:`~dashboard.components.analyzer_page.PageSpec`) and the folder holds the page's chart modules.
An analyzer without a folder gets the generic page (KPI cards, tables, recommendations, methods) titled
from its module's ``TITLE`` and ``DESCRIPTION``. Nothing here lists the analyzers: a new registry line
is a new page.
"""

from __future__ import annotations

import functools
import importlib

import dash

from analyzers import registry
from dashboard.components import analyzer_page
from dashboard.components.analyzer_page import PageSpec
from dashboard.pages.chart_builder.workspace import Workspace


def analyzer_spec(name: str) -> PageSpec:
    """The page of analyzer ``name``: ``dashboard/pages/<name>/page.py``'s ``SPEC``, else the generic page."""
    module_name = f"{__name__}.{name}.page"
    try:
        return importlib.import_module(module_name).SPEC
    except ModuleNotFoundError as exc:
        if exc.name not in (module_name, f"{__name__}.{name}"):
            raise
    mod = registry.get(name)
    return PageSpec(name=name, title=mod.TITLE, description=mod.DESCRIPTION)


#: the key of a page in ``dash.page_registry`` is ``pages.<page>`` (the navbar link's id is ``nav-pages.<page>``)
KEY = "pages.{}"


def register_pages(workspace: Workspace | None = None) -> None:
    """``dash.register_page`` for every page (after the app is created; idempotent per key); the chart
    builder gets ``workspace`` (its saved charts), as every page gets the hub."""
    from dashboard.pages.chart_builder import page as chart_builder
    from dashboard.pages.overview import page as overview

    dash.register_page(
        KEY.format("overview"),
        path="/",
        name="Overview",
        title="revenium-flow · Overview",
        order=0,
        layout=overview.layout,
        register_callbacks=overview.register_callbacks,
    )
    for order, name in enumerate(registry.ANALYZER_NAMES, start=1):
        analyzer_page.register_page(KEY.format(name), analyzer_spec(name), order=order)
    dash.register_page(
        KEY.format("chart_builder"),
        path="/charts",
        name="Chart builder",
        title="revenium-flow · Chart builder",
        order=len(registry.ANALYZER_NAMES) + 1,
        layout=chart_builder.layout,
        register_callbacks=functools.partial(chart_builder.register_callbacks, workspace=workspace),
    )
