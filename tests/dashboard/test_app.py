"""The app object: pages in nav order, local assets only, callbacks wired, data cache per file, CLI."""

from __future__ import annotations

import argparse

import dash
import dashdata
import pytest

from cli.commands import dashboard as dashboard_cmd
from dashboard.app import ASSETS_DIR, create_app
from dashboard.hub import DataHub, filters_from_store, hub_for

NAV = [
    "Overview",
    "Understanding",
    "Performance",
    "Real-time",
    "Optimization",
    "Alignment",
    "Profitability",
    "Pricing",
    "Features",
]


def test_pages_register_in_nav_order(empty_path):
    create_app(empty_path)
    pages = sorted(
        dash.page_registry.values(), key=lambda p: p["order"] if p.get("order") is not None else 99
    )
    assert [p["name"] for p in pages][: len(NAV)] == NAV


def test_a_new_analyzer_is_one_module_and_one_registry_line(empty_path, monkeypatch):
    """No page folder, no nav order, no report entry: the registry line alone gives it a page and a report."""
    import sys
    import types

    from analyzers import registry
    from analyzers.base import AnalysisResult, Metric
    from dashboard.reports.figures import figures_for

    mod = types.ModuleType("unit_costs_analyzer")
    mod.NAME, mod.TITLE, mod.DESCRIPTION = "unit_costs", "Unit costs", "Cost per unit of work."
    mod.analyze = lambda df, ctx: AnalysisResult(
        name="unit_costs", title="Unit costs", metrics={"calls": Metric(len(df), "calls", "Calls", "rows")}
    )
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.setattr(registry, "MODULES", {**registry.MODULES, "unit_costs": mod.__name__})
    monkeypatch.setattr(registry, "ANALYZER_NAMES", (*registry.ANALYZER_NAMES, "unit_costs"))
    saved = dict(dash.page_registry)
    try:
        app = create_app(empty_path)
        page = dash.page_registry["pages.unit_costs"]
        assert (page["path"], page["name"], page["order"]) == ("/unit_costs", "Unit costs", 9)
        assert dash.page_registry["pages.chart_builder"]["order"] == 10
        assert "Cost per unit of work." in str(page["layout"])
        assert app.server.test_client().get("/unit_costs").status_code == 200
        assert figures_for(mod.analyze([], None)) == []  # a report without charts still renders
    finally:
        dash.page_registry.clear()
        dash.page_registry.update(saved)


def test_index_loads_only_local_css_and_js(empty_path):
    app = create_app(empty_path)
    html = app.server.test_client().get("/").get_data(as_text=True)
    assert "00-bootstrap.min.css" in html
    assert "cdn" not in html.lower() and "https://" not in html
    assert (ASSETS_DIR / "00-bootstrap.min.css").stat().st_size > 100_000


def test_layout_and_dependencies_are_served(data_file):
    client = create_app(data_file).server.test_client()
    assert client.get("/_dash-layout").status_code == 200
    deps = client.get("/_dash-dependencies").get_json()
    outputs = " ".join(d["output"] for d in deps)
    for cid in ("store-version", "overview-treemap", "profitability-kpis", "realtime-alerts-grid"):
        assert cid in outputs


def test_hub_on_a_missing_file_then_data(tmp_path):
    path = tmp_path / "later.csv"
    hub = DataHub(path)
    assert hub.tick().rows == 0 and hub.session() is None and hub.overview(filters_from_store({})) is None
    dashdata.write(path, dashdata.calls(100, 2))
    t = hub.tick()
    assert t.rows == 100 and t.new_rows == 100 and t.version > 0
    assert hub.tick().new_rows == 0
    ov1 = hub.overview(filters_from_store({}))
    assert int(ov1.metrics["calls"].value) == 100
    hub.refresh_alerts(wait=True)
    assert hub.alerts_version() == t.version
    assert [a.id for a in hub.latest_alerts()] == [a.id for a in hub.alerts()]
    org = hub.overview(filters_from_store({}, ["org_001"]))
    assert 0 < int(org.metrics["calls"].value) < 100


def test_hub_is_shared_per_resolved_path(tmp_path):
    assert hub_for(tmp_path / "a.csv") is hub_for(tmp_path / "." / "a.csv")


def test_filters_from_store():
    f = filters_from_store({"start": "2026-11-01", "tiers": ["pro"], "sources": []}, ["o", "p", "m", "x"])
    assert str(f.start) == "2026-11-01" and f.end is None
    assert f.tiers == ("pro",) and f.sources == () and f.drill == ("o", "p", "m")


def test_dashboard_command_parses_and_rejects_a_bad_port():
    parser = argparse.ArgumentParser()
    dashboard_cmd.add_parser(parser.add_subparsers())
    args = parser.parse_args(["dashboard"])
    assert (args.host, args.port, args.data) == ("127.0.0.1", 8050, None)
    bad = parser.parse_args(["dashboard", "--port", "70000"])
    assert dashboard_cmd.run(bad) == 2


def test_dashboard_command_takes_prices_and_tiers_and_names_a_bad_file(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    dashboard_cmd.add_parser(parser.add_subparsers())
    args = parser.parse_args(["dashboard", "--prices", "p.json", "--tiers", "t.json"])
    assert (str(args.prices), str(args.tiers)) == ("p.json", "t.json")
    bad = tmp_path / "prices.json"
    bad.write_text("{not json", encoding="utf-8")
    assert (
        dashboard_cmd.run(
            parser.parse_args(["dashboard", "--data", str(tmp_path / "c.csv"), "--prices", str(bad)])
        )
        == 2
    )
    assert "prices.json" in capsys.readouterr().out


def test_the_apps_catalog_prices_ingested_rows(tmp_path):
    """create_app loads the catalog once (its analysis context) and hands it to the ingest writer."""
    from analyzers.base import AnalysisContext

    ctx = AnalysisContext()
    app = create_app(tmp_path / "calls.csv", context=ctx)
    assert app.server.extensions["revenium_ingest"].writer.catalog is ctx.catalog


@pytest.mark.parametrize("interval", [100])
def test_dashboard_command_rejects_a_too_fast_interval(interval):
    parser = argparse.ArgumentParser()
    dashboard_cmd.add_parser(parser.add_subparsers())
    assert dashboard_cmd.run(parser.parse_args(["dashboard", "--interval-ms", str(interval)])) == 2


def test_ingest_log_line_only_when_something_arrived():
    from cli.commands.dashboard import ingest_log_line

    assert ingest_log_line({}, {"rows_stored": 0}) is None
    line = ingest_log_line({"rows_stored": 5}, {"rows_stored": 12, "metered_rows": 7, "rejected_requests": 1})
    assert line.startswith("ingest: +7 rows (7 metered, 0 otlp)") and "1 requests rejected" in line
    assert line.endswith("12 rows since start")


@pytest.mark.slow
def test_generation_start_and_end_are_logged(tmp_path, caplog):
    import logging
    import time

    from dashboard.generation import GenerationControl

    control = GenerationControl()
    data = tmp_path / "calls.csv"
    with caplog.at_level(logging.INFO, logger="dashboard.generation"):
        assert control.start(data, 0.1, "max", 1).ok
        assert control.params(data) == {"target_mb": 0.1, "pace": "max", "seed": 1}
        assert control.wait(data, timeout=60) == 0
        for _ in range(50):  # the watcher thread logs right after the exit
            if "generation done" in caplog.text:
                break
            time.sleep(0.1)
    assert "generation started: 0.1 MB, pace max, seed 1" in caplog.text
    assert "generation done" in caplog.text and "rows" in caplog.text


def test_make_run_takes_port_and_host():
    import subprocess

    out = subprocess.run(
        ["make", "-n", "run", "PORT=8060", "HOST=0.0.0.0"],
        cwd=dashdata.Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "dashboard --host 0.0.0.0 --port 8060" in out


def test_hub_releases_memory_on_a_new_run_and_when_data_goes_quiet(tmp_path, monkeypatch):
    import threading

    from dashboard import hub as hub_module

    def join_release_threads() -> None:
        for thread in threading.enumerate():
            if thread.name == "release-memory":
                thread.join()

    released = []
    monkeypatch.setattr(hub_module, "release_memory", lambda: released.append(1))
    path = tmp_path / "calls.csv"
    dashdata.write(path, dashdata.calls(100, 2))
    hub = DataHub(path)
    hub.tick()  # first read
    hub.tick()  # quiet again: release once
    hub.tick()  # still quiet: nothing more
    join_release_threads()
    assert len(released) == 1
    path.unlink()
    dashdata.write(path, dashdata.calls(50, 1, seed=3))  # a new run replaces the file
    assert hub.tick().reset
    join_release_threads()
    assert len(released) == 2


def _layout_ids(component) -> set[str]:
    ids = set()
    stack = [component]
    while stack:
        node = stack.pop()
        if isinstance(node, (list, tuple)):
            stack.extend(node)
            continue
        if not hasattr(node, "to_plotly_json"):
            continue
        cid = getattr(node, "id", None)
        if isinstance(cid, str):
            ids.add(cid)
        for prop in getattr(node, "_prop_names", ()):
            value = getattr(node, prop, None)
            if hasattr(value, "to_plotly_json") or isinstance(value, (list, tuple)):
                stack.append(value)
    return ids


def test_every_callback_id_is_in_the_layouts_built_at_start_up(empty_path):
    """suppress_callback_exceptions is off: a typo in a callback id is an error, and every page's layout
    is complete when the app starts (the validation layout holds the shell and every page)."""
    app = create_app(empty_path)
    assert app.config.suppress_callback_exceptions is False
    app.server.test_client().get(
        "/"
    )  # the pages' router and the validation layout are set up on the first request
    known = _layout_ids(app.validation_layout)
    assert {
        "store-version",
        "cb-preview",
        "understanding-kpis",
        "realtime-alerts-grid",
    } <= known  # shell + pages
    missing = set()
    for key, callback in app.callback_map.items():
        deps = [*callback["inputs"], *callback.get("state", [])]
        outputs = [o.rsplit(".", 1)[0] for o in key.strip(".").split("...")]
        for cid in [d["id"] for d in deps] + outputs:
            if isinstance(cid, str) and not cid.startswith("{") and cid not in known:
                missing.add(cid)
    assert not missing, f"callback ids not in any layout: {sorted(missing)}"
