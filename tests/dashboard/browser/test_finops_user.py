"""Browser: the dashboard as a FinOps user lives in it — calm toasts, true status, confirmation before
replacing data, one-level drill-down, formatted tables, input bounds (issue 15)."""

from __future__ import annotations

import re
import time

import pytest
from browser_helpers import click_treemap_node, severe, text
from selenium.webdriver.common.keys import Keys

from dashboard.app import create_app
from dashboard.generation import GenerationControl
from dashboard.hub import hub_for

pytestmark = pytest.mark.browser

VISIBLE_TOASTS_JS = """
return Array.from(document.querySelectorAll('.toast-area .toast')).filter(t => {
  const r = t.getBoundingClientRect(); return r.width > 0 && r.height > 0 && getComputedStyle(t).display !== 'none';
}).length;
"""

# the element at the centre of each control must be the control itself (or inside it), not a toast
HIT_TEST_JS = """
const out = [];
const controls = [document.getElementById('gen-start'), document.getElementById('gen-stop'),
  ...document.querySelectorAll('.navbar .nav-link'), document.getElementById('filter-dates'),
  ...['filter-tiers', 'filter-environments', 'filter-organizations', 'filter-sources']
    .map(id => document.getElementById(id))];
for (const c of controls) {
  if (!c) { out.push('missing control'); continue; }
  const r = c.getBoundingClientRect();
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  if (!hit || !(c === hit || c.contains(hit))) {
    out.push((c.id || c.textContent) + ' covered by ' + (hit ? (hit.className || hit.tagName) : 'nothing'));
  }
}
return out;
"""


def visible_toasts(dash_duo) -> int:
    return int(dash_duo.driver.execute_script(VISIBLE_TOASTS_JS))


def test_live_run_with_many_alerts_keeps_toasts_calm_and_controls_clickable(dash_duo, empty_path):
    control = GenerationControl()
    app = create_app(empty_path, interval_ms=500, control=control, default_target_mb=40)
    hub = hub_for(empty_path)
    dash_duo.start_server(app)
    dash_duo.wait_for_text_to_equal("#empty-state h4", "No call data yet", timeout=10)
    dash_duo.find_element("#gen-pace option[value='live']").click()
    dash_duo.find_element("#gen-start").click()
    dash_duo.wait_for_text_to_equal("#gen-state", "generating", timeout=30)
    most = 0
    deadline = time.time() + 120
    while len(hub.latest_alerts()) < 10 and time.time() < deadline:
        most = max(most, visible_toasts(dash_duo))
        assert most <= 3
        time.sleep(0.5)
    assert len(hub.latest_alerts()) >= 10, "the live run raised fewer than 10 alerts in 2 minutes"
    for _ in range(4):  # a few more ticks with alerts
        most = max(most, visible_toasts(dash_duo))
        time.sleep(0.5)
    assert 1 <= most <= 3  # alert toasts were shown, never more than three at once
    assert dash_duo.driver.execute_script(HIT_TEST_JS) == []
    assert int(text(dash_duo, "#alert-bell-count").replace(",", "")) >= 10
    dash_duo.find_element("#gen-stop").click()  # a real click: nothing lies over Stop
    assert control.wait(empty_path, timeout=30) is not None
    dash_duo.wait_for_text_to_equal("#gen-state", "stopped", timeout=15)
    time.sleep(1.5)  # the alerts of the last ticks are toasted and recorded as seen
    assert visible_toasts(dash_duo) <= 3
    # a reload does not show the alerts this browser has already seen
    dash_duo.driver.refresh()
    dash_duo.wait_for_element("#kpi-total_cost_usd", timeout=30)
    time.sleep(3)
    assert visible_toasts(dash_duo) == 0
    # the bell opens the list
    dash_duo.find_element("#alert-bell").click()
    dash_duo.wait_for_contains_text("#alert-list-body", "most severe", timeout=10)
    assert severe(dash_duo.get_logs()) == []


STARTING_JS = """
const done = arguments[arguments.length - 1];
const t0 = performance.now();
document.getElementById('gen-start').click();
(function check() {
  const badge = document.getElementById('gen-state');
  const dt = performance.now() - t0;
  if (badge && badge.textContent.trim() === 'starting') { done(dt); }
  else if (dt > 5000) { done(-1); }
  else { requestAnimationFrame(check); }
})();
"""


def test_badge_is_starting_at_once_and_no_refusal_outlives_the_run(dash_duo, empty_path):
    control = GenerationControl()
    dash_duo.start_server(create_app(empty_path, interval_ms=500, control=control, default_target_mb=3))
    dash_duo.wait_for_text_to_equal("#empty-state h4", "No call data yet", timeout=10)
    set_value(dash_duo, "#gen-target-mb", "12")
    dash_duo.find_element(
        "#gen-pace option[value='live']"
    ).click()  # about 15 s: time to be refused and reload
    elapsed = dash_duo.driver.execute_async_script(STARTING_JS)
    assert 0 <= elapsed <= 300, f"badge said 'starting' after {elapsed} ms"
    dash_duo.wait_for_contains_text("#gen-message", "Generating 12 MB", timeout=10)
    dash_duo.find_element("#gen-start").click()  # while the run goes: refused
    dash_duo.wait_for_contains_text("#gen-message", "Refused", timeout=10)
    # a reload during the run shows the run's parameters, not the defaults (3 MB, Fast)
    dash_duo.driver.refresh()
    dash_duo.wait_for_text_to_equal("#gen-state", "generating", timeout=15)
    deadline = time.time() + 10
    while dash_duo.find_element("#gen-target-mb").get_attribute("value") != "12" and time.time() < deadline:
        time.sleep(0.2)
    assert dash_duo.find_element("#gen-target-mb").get_attribute("value") == "12"
    assert dash_duo.find_element("#gen-pace").get_attribute("value") == "live"
    assert control.wait(empty_path, timeout=120) == 0
    dash_duo.wait_for_text_to_equal("#gen-state", "done", timeout=15)
    dash_duo.wait_for_text_to_equal("#gen-message", "", timeout=10)
    assert "finished" in text(dash_duo, "#gen-progress-text")
    assert severe(dash_duo.get_logs()) == []


def test_generate_over_existing_data_asks_first_and_cancel_changes_nothing(dash_duo, data_file):
    before = data_file.read_bytes()
    control = GenerationControl()
    dash_duo.start_server(create_app(data_file, interval_ms=500, control=control))
    dash_duo.wait_for_element("#kpi-calls", timeout=15)
    dash_duo.find_element("#gen-start").click()
    dash_duo.wait_for_contains_text("#gen-confirm-text", "600 simulated rows", timeout=10)
    assert "kept" in text(dash_duo, "#gen-confirm-text")
    assert text(dash_duo, "#gen-state") != "starting"
    dash_duo.find_element("#gen-confirm-cancel").click()
    dash_duo.wait_for_contains_text("#gen-message", "Cancelled", timeout=10)
    time.sleep(1.5)
    assert not control.running(data_file)
    assert data_file.read_bytes() == before
    assert severe(dash_duo.get_logs()) == []


def test_one_click_drills_one_level_and_back_goes_up(dash_duo, data_file):
    dash_duo.start_server(create_app(data_file, interval_ms=700))
    dash_duo.wait_for_element("#kpi-calls", timeout=15)
    calls_all = text(dash_duo, "#kpi-calls")
    click_treemap_node(dash_duo, "org_002", centre=True)
    dash_duo.wait_for_text_to_equal("#breadcrumb .crumb-current", "org_002", timeout=10)
    time.sleep(1)
    assert text(dash_duo, "#breadcrumb .crumb-current") == "org_002"  # not its product: one level only
    assert "org_002" in text(dash_duo, "#filter-organizations")  # the filter names the scope
    dash_duo.driver.back()  # the browser's Back goes up one level
    dash_duo.wait_for_text_to_equal("#breadcrumb .crumb-current", "All organizations", timeout=10)
    dash_duo.wait_for_text_to_equal("#kpi-calls", calls_all, timeout=10)
    click_treemap_node(dash_duo, "org_002", centre=True)
    dash_duo.wait_for_text_to_equal("#breadcrumb .crumb-current", "org_002", timeout=10)
    dash_duo.find_element("#breadcrumb .crumb-link").click()
    dash_duo.wait_for_text_to_equal("#breadcrumb .crumb-current", "All organizations", timeout=10)
    assert severe(dash_duo.get_logs()) == []


def cells(dash_duo, grid: str, col: str) -> list[str]:
    return dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map(c => c.textContent.trim());",
        f"#{grid} .ag-cell[col-id='{col}']",
    )


def test_tables_show_money_and_percent_formatted(dash_duo, data_file):
    dash_duo.start_server(create_app(data_file, interval_ms=700))
    dash_duo.wait_for_element("#kpi-calls", timeout=15)
    dash_duo.find_element("#nav-pages\\.profitability").click()
    dash_duo.wait_for_element("#profitability-grid .ag-cell[col-id='cost_usd']", timeout=20)
    header = dash_duo.driver.execute_script(
        "return document.querySelector(\"#profitability-grid .ag-header-cell[col-id='cost_usd']\").textContent;"
    )
    assert "Cost ($)" in header
    money = cells(dash_duo, "profitability-grid", "cost_usd")
    assert money and all(re.fullmatch(r"-?\$\d{1,3}(,\d{3})*\.\d{2,4}", m) for m in money), money[:5]
    pct = cells(dash_duo, "profitability-grid", "margin_pct")
    assert pct and all(re.fullmatch(r"-?\d{1,3}(,\d{3})*\.\d %", p) for p in pct), pct[:5]
    calls = cells(dash_duo, "profitability-grid", "calls")
    assert any("," in c for c in calls) or all(len(c) <= 3 for c in calls)
    assert severe(dash_duo.get_logs()) == []


def set_value(dash_duo, selector: str, value: str) -> None:
    el = dash_duo.find_element(selector)
    el.send_keys(Keys.CONTROL, "a")
    el.send_keys(Keys.DELETE)
    el.send_keys(value)
    el.send_keys(Keys.TAB)


BOUNDS_CASES = (
    ("#gen-target-mb", "0", "target MB: must be between 0.1 and 2,000 (got 0)"),
    ("#gen-target-mb", "-5", "target MB: must be between 0.1 and 2,000 (got -5)"),
    ("#gen-target-mb", "0.01", "target MB: must be between 0.1 and 2,000 (got 0.01)"),
    ("#gen-seed", "-1", "seed: must be a whole number from 0 to 4,294,967,295 (got -1)"),
)


def test_generate_inputs_say_their_bounds(dash_duo, empty_path):
    control = GenerationControl()
    dash_duo.start_server(create_app(empty_path, interval_ms=700, control=control))
    dash_duo.wait_for_text_to_equal("#empty-state h4", "No call data yet", timeout=10)
    for field, value, message in BOUNDS_CASES:
        set_value(dash_duo, "#gen-target-mb", "50")
        set_value(dash_duo, "#gen-seed", "42")
        set_value(dash_duo, field, value)
        dash_duo.find_element("#gen-start").click()
        dash_duo.wait_for_contains_text("#gen-message", message, timeout=10)
        assert not control.running(empty_path)
        dash_duo.wait_for_text_to_equal("#gen-state", "idle", timeout=10)
    assert severe(dash_duo.get_logs()) == []


def test_chart_builder_inputs_say_their_bounds(dash_duo, data_file, tmp_path, monkeypatch):
    monkeypatch.setenv("REVENIUM_FLOW_WORKSPACE", str(tmp_path / "charts"))
    dash_duo.start_server(create_app(data_file, interval_ms=700))
    dash_duo.wait_for_element("#kpi-calls", timeout=15)
    dash_duo.driver.get(dash_duo.server_url + "/charts")
    for selector, value, message in (
        ("#cb-last-days", "0", "last days: expected a whole number of days 1..3660 or null, got 0"),
        ("#cb-last-days", "-3", "last days: expected a whole number of days 1..3660 or null, got -3"),
    ):
        dash_duo.wait_for_element(selector, timeout=20)
        set_value(dash_duo, selector, value)
        dash_duo.wait_for_contains_text("#cb-errors", message, timeout=10)
    set_value(dash_duo, "#cb-last-days", "")
    for value in ("0", "99999"):
        set_value(dash_duo, "#cb-top-n", value)
        dash_duo.wait_for_contains_text("#cb-errors", "top N: expected a whole number 1..500", timeout=10)
    assert severe(dash_duo.get_logs()) == []
