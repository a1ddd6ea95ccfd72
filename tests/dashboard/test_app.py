"""The app object: pages in nav order, local assets only, callbacks wired, data cache per file, CLI."""

from __future__ import annotations

import argparse

import dash
import dashdata
import pytest

from dashboard.app import ASSETS_DIR, create_app
from dashboard.callbacks.hub import DataHub, filters_from_store, hub_for
from dashboard.commands import dashboard as dashboard_cmd

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


@pytest.mark.parametrize("interval", [100])
def test_dashboard_command_rejects_a_too_fast_interval(interval):
    parser = argparse.ArgumentParser()
    dashboard_cmd.add_parser(parser.add_subparsers())
    assert dashboard_cmd.run(parser.parse_args(["dashboard", "--interval-ms", str(interval)])) == 2
