"""Browser: every page renders with data and without a console error; empty state on no data."""

from __future__ import annotations

import time

import pytest
from browser_helpers import severe, text

from dashboard.app import create_app

pytestmark = pytest.mark.browser

PAGES = (
    "/",
    "/understanding",
    "/performance",
    "/realtime",
    "/optimization",
    "/alignment",
    "/profitability",
    "/pricing",
    "/features",
)


def test_empty_directory_shows_empty_state(dash_duo, empty_path):
    dash_duo.start_server(create_app(empty_path, interval_ms=500))
    dash_duo.wait_for_text_to_equal("#empty-state h4", "No call data yet", timeout=10)
    assert "No data yet" in dash_duo.find_element("#gen-progress-text").text
    assert severe(dash_duo.get_logs()) == []


def test_all_pages_render_without_console_errors(dash_duo, data_file):
    dash_duo.start_server(create_app(data_file, interval_ms=700))
    dash_duo.wait_for_element("#kpi-total_cost_usd", timeout=15)
    assert text(dash_duo, "#kpi-total_cost_usd").startswith("$")
    for path in PAGES[1:]:
        name = path.strip("/")
        dash_duo.find_element(f"#nav-pages\\.{name}").click()
        dash_duo.wait_for_element(f"#{name}-kpis .kpi-card", timeout=20)
    dash_duo.find_element("#nav-pages\\.overview").click()
    dash_duo.wait_for_element("#kpi-total_cost_usd", timeout=10)
    assert severe(dash_duo.get_logs()) == []


def test_filters_apply_across_pages_and_do_not_leak_into_another_tab(dash_duo, data_file):
    dash_duo.start_server(create_app(data_file, interval_ms=700))
    dash_duo.wait_for_element("#kpi-calls", timeout=15)
    calls_all = text(dash_duo, "#kpi-calls")
    dash_duo.select_dcc_dropdown("#filter-tiers", value="pro")
    deadline = time.time() + 10
    while text(dash_duo, "#kpi-calls") == calls_all and time.time() < deadline:
        time.sleep(0.2)
    calls_pro = text(dash_duo, "#kpi-calls")
    assert calls_pro != calls_all
    dash_duo.find_element("#nav-pages\\.profitability").click()
    dash_duo.wait_for_element("#profitability-kpis .kpi-card", timeout=20)
    assert "pro" in text(dash_duo, "#filter-tiers")
    first = dash_duo.driver.current_window_handle
    dash_duo.driver.switch_to.new_window("tab")
    dash_duo.driver.get(dash_duo.server_url)
    dash_duo.wait_for_text_to_equal("#kpi-calls", calls_all, timeout=15)  # the other tab is unfiltered
    dash_duo.driver.close()
    dash_duo.driver.switch_to.window(first)
    dash_duo.find_element("#nav-pages\\.overview").click()
    dash_duo.wait_for_text_to_equal("#kpi-calls", calls_pro, timeout=15)
    assert severe(dash_duo.get_logs()) == []
