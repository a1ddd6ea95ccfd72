"""Browser: Generate → progress and cards; refusal while running; Stop; drill-down; one toast per anomaly."""

from __future__ import annotations

import time

import dashdata
import pandas as pd
import pytest
from browser_helpers import click_treemap_node, severe, text

from dashboard.app import create_app
from dashboard.generation import GenerationControl
from metering.manifest import read_manifest
from metering.store import read_calls_report

pytestmark = pytest.mark.browser


def kpi(dash_duo, key: str) -> str:
    return text(dash_duo, f"#kpi-{key}")


def test_generate_reaches_100_percent_and_fills_cards(dash_duo, empty_path):
    control = GenerationControl()
    dash_duo.start_server(create_app(empty_path, interval_ms=500, control=control, default_target_mb=3))
    dash_duo.wait_for_text_to_equal("#empty-state h4", "No call data yet", timeout=10)
    dash_duo.find_element("#gen-start").click()
    dash_duo.wait_for_text_to_equal("#gen-progress .progress-bar", "100 %", timeout=60)
    dash_duo.wait_for_text_to_equal("#gen-state", "done", timeout=10)
    dash_duo.wait_for_element("#kpi-total_cost_usd", timeout=15)
    assert kpi(dash_duo, "total_cost_usd") not in ("$0.00", "—")
    assert int(kpi(dash_duo, "calls").replace(",", "")) > 0
    dash_duo.wait_for_contains_text("#toast-generation", "Generation finished", timeout=10)
    assert len(dash_duo.find_elements("#toast-generation .toast")) == 1
    assert severe(dash_duo.get_logs()) == []


def test_second_generate_is_refused_and_stop_leaves_a_valid_csv(dash_duo, empty_path):
    control = GenerationControl()
    dash_duo.start_server(create_app(empty_path, interval_ms=500, control=control, default_target_mb=40))
    dash_duo.wait_for_text_to_equal("#empty-state h4", "No call data yet", timeout=10)
    dash_duo.find_element("#gen-pace option[value='live']").click()
    dash_duo.find_element("#gen-start").click()
    dash_duo.wait_for_contains_text("#gen-message", "Generating", timeout=10)
    dash_duo.wait_for_text_to_equal("#gen-state", "generating", timeout=20)
    dash_duo.find_element("#gen-start").click()
    dash_duo.wait_for_contains_text("#gen-message", "Refused", timeout=10)
    assert control.running(empty_path)
    dash_duo.find_element("#gen-stop").click()
    assert control.wait(empty_path, timeout=30) is not None
    dash_duo.wait_for_text_to_equal("#gen-state", "stopped", timeout=15)
    dash_duo.wait_for_contains_text("#gen-progress-text", "stopped by you", timeout=10)
    # the run's messages ("Refused…", "Stopping…") belong to it and are gone once it ended
    dash_duo.wait_for_text_to_equal("#gen-message", "", timeout=10)
    assert read_manifest(empty_path).state == "stopped"
    report = read_calls_report(empty_path)
    assert report.malformed == []
    assert empty_path.read_bytes().endswith(b"\n")
    assert severe(dash_duo.get_logs()) == []


def test_treemap_click_drills_down_and_breadcrumb_goes_back(dash_duo, data_file):
    dash_duo.start_server(create_app(data_file, interval_ms=700))
    dash_duo.wait_for_element("#kpi-total_cost_usd", timeout=15)
    total_all = kpi(dash_duo, "total_cost_usd")
    calls_all = kpi(dash_duo, "calls")
    click_treemap_node(dash_duo, "org_002")
    dash_duo.wait_for_text_to_equal("#breadcrumb .crumb-current", "org_002", timeout=10)
    deadline = time.time() + 10
    while kpi(dash_duo, "calls") == calls_all and time.time() < deadline:
        time.sleep(0.2)
    assert kpi(dash_duo, "calls") != calls_all
    assert kpi(dash_duo, "total_cost_usd") != total_all
    # the selection survives a page switch
    dash_duo.find_element("#nav-pages\\.profitability").click()
    dash_duo.wait_for_element("#profitability-kpis .kpi-card", timeout=20)
    assert "org_002" in text(dash_duo, "#breadcrumb")
    dash_duo.find_element("#nav-pages\\.overview").click()
    dash_duo.wait_for_contains_text("#breadcrumb", "org_002", timeout=10)
    # back up with the breadcrumb
    dash_duo.find_element("#breadcrumb .crumb-link").click()
    dash_duo.wait_for_text_to_equal("#breadcrumb .crumb-current", "All organizations", timeout=10)
    dash_duo.wait_for_text_to_equal("#kpi-calls", calls_all, timeout=10)
    assert severe(dash_duo.get_logs()) == []


def test_planted_anomaly_raises_exactly_one_toast(dash_duo, data_file):
    dash_duo.start_server(create_app(data_file, interval_ms=500))
    dash_duo.wait_for_element("#kpi-total_cost_usd", timeout=15)
    time.sleep(1.5)  # a few idle ticks: nothing to announce
    assert dash_duo.find_elements("#toast-alerts .toast") == []
    dashdata.write(data_file, dashdata.spike(at="2026-11-10T12:00:00"))
    dash_duo.wait_for_contains_text("#toast-alerts", "alert", timeout=15)
    time.sleep(2.5)  # more ticks must not repeat it
    toasts = dash_duo.find_elements("#toast-alerts .toast")
    assert len(toasts) == 1
    assert "cust_0007" in toasts[0].text or "gpt-4o" in toasts[0].text or "openai" in toasts[0].text
    assert severe(dash_duo.get_logs()) == []


def test_metered_rows_appear_live_and_filter_by_source(dash_duo, data_file, monkeypatch):
    """Records POSTed to the dashboard's own server show on the next tick; the Source filter splits them."""
    import requests

    from tests.ingest.ingest_helpers import BATCH, wire_record

    monkeypatch.setenv("REVENIUM_FLOW_API_KEYS", "live-key")
    dash_duo.start_server(create_app(data_file, interval_ms=500))
    dash_duo.wait_for_contains_text("#ingest-status", "ingest on", timeout=15)
    dash_duo.wait_for_element("#kpi-calls", timeout=15)
    calls_before = int(kpi(dash_duo, "calls").replace(",", ""))
    last = read_calls_report(data_file).frame["timestamp"].max()
    stamp = (last - pd.Timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    records = [wire_record(requestTime=stamp, responseTime=stamp) for _ in range(7)]
    resp = requests.post(
        dash_duo.server_url + BATCH, json=records, headers={"x-api-key": "live-key"}, timeout=10
    )
    assert resp.status_code == 201, resp.text
    dash_duo.wait_for_text_to_equal("#kpi-calls", f"{calls_before + 7:,}", timeout=15)
    dash_duo.wait_for_contains_text("#ingest-status", "7 row(s) received", timeout=15)
    dash_duo.select_dcc_dropdown("#filter-sources", value="metered")
    dash_duo.wait_for_text_to_equal("#kpi-calls", "7", timeout=15)
    assert severe(dash_duo.get_logs()) == []


def test_ingest_off_says_how_to_turn_it_on(dash_duo, empty_path, monkeypatch):
    monkeypatch.delenv("REVENIUM_FLOW_API_KEYS", raising=False)
    monkeypatch.delenv("REVENIUM_FLOW_API_KEYS_FILE", raising=False)
    dash_duo.start_server(create_app(empty_path, interval_ms=500))
    dash_duo.wait_for_contains_text("#ingest-status", "REVENIUM_FLOW_API_KEYS=", timeout=15)
    assert "ingest off" in text(dash_duo, "#ingest-status")
