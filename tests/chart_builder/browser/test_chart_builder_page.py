"""Browser: build a chart, save it, reload the page, open the saved chart — it comes back exactly."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from selenium.common.exceptions import ElementClickInterceptedException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from dashboard.app import create_app
from dashboard.pages.chart_builder.workspace import ENV_VAR
from showcase.scenarios.customer_profitability_scenario import generate_sample

pytestmark = pytest.mark.browser


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "calls.csv"
    generate_sample(path, customers=15, days=4)
    return path


def click(dash_duo, element) -> None:
    """Scroll the element to the middle of the window first: the navbar or a toast may cover an edge."""
    element = dash_duo.find_element(element) if isinstance(element, str) else element
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    try:
        element.click()
    except ElementClickInterceptedException:  # a toast over the element: click it directly
        dash_duo.driver.execute_script("arguments[0].click();", element)


def click_label(dash_duo, container: str, text: str) -> None:
    click(
        dash_duo,
        dash_duo.find_element(container).find_element(By.XPATH, f".//label[normalize-space()='{text}']"),
    )


def open_saved(dash_duo, name: str) -> None:
    """Click the saved chart's entry (found afresh each try: the list may be redrawn by a tick)."""
    xpath = f".//*[contains(@class,'cb-saved-name') and normalize-space()='{name}']"
    for _ in range(5):
        try:
            click(dash_duo, dash_duo.find_element("#cb-saved").find_element(By.XPATH, xpath))
            return
        except StaleElementReferenceException:
            time.sleep(0.3)
    raise AssertionError(f"could not click the saved chart {name!r}")


def severe(logs):
    return [e for e in logs or [] if e.get("level") == "SEVERE"]


def test_build_save_reload_open(dash_duo, sample, tmp_path, monkeypatch):
    workspace = tmp_path / "charts"
    monkeypatch.setenv(ENV_VAR, str(workspace))
    (tmp_path / "charts").mkdir()
    (workspace / "corrupt.json").write_text("{not json", encoding="utf-8")
    dash_duo.start_server(create_app(sample, interval_ms=700))
    dash_duo.wait_for_page(url=f"{dash_duo.server_url}/charts")
    dash_duo.wait_for_contains_text("#cb-problems", "corrupt.json", timeout=30)
    dash_duo.wait_for_element("#cb-preview .main-svg", timeout=30)

    title = dash_duo.find_element("#cb-title")
    title.send_keys(Keys.CONTROL, "a")
    title.send_keys("Team cost sunburst", Keys.ENTER)
    click_label(dash_duo, "#cb-type", "Sunburst")
    dash_duo.wait_for_contains_text("#cb-preview .gtitle", "Team cost sunburst", timeout=25)
    dash_duo.wait_for_element("#cb-preview .sunburstlayer path", timeout=25)

    dash_duo.find_element("#cb-name").send_keys("team-sunburst")
    click(dash_duo, "#cb-save")
    dash_duo.wait_for_contains_text("#cb-message", "Saved 'team-sunburst'", timeout=25)
    dash_duo.wait_for_contains_text("#cb-saved", "team-sunburst", timeout=25)
    saved = json.loads((workspace / "team-sunburst.json").read_text(encoding="utf-8"))
    assert saved["title"] == "Team cost sunburst" and saved["chart_type"] == "sunburst"

    dash_duo.driver.refresh()
    dash_duo.wait_for_element("#cb-preview .main-svg", timeout=30)
    assert dash_duo.find_element("#cb-title").get_attribute("value") == "Untitled chart"
    dash_duo.wait_for_contains_text("#cb-saved", "team-sunburst", timeout=30)

    open_saved(dash_duo, "team-sunburst")
    dash_duo.wait_for_contains_text("#cb-message", "Opened 'team-sunburst'", timeout=25)
    dash_duo.wait_for_contains_text("#cb-preview .gtitle", "Team cost sunburst", timeout=25)
    dash_duo.wait_for_element("#cb-preview .sunburstlayer path", timeout=25)
    assert dash_duo.find_element("#cb-title").get_attribute("value") == "Team cost sunburst"
    assert dash_duo.find_element("#cb-name").get_attribute("value") == "team-sunburst"
    assert severe(dash_duo.get_logs()) == []


def test_open_chart_follows_new_data_and_teammates_saves(dash_duo, sample, tmp_path, monkeypatch):
    from metering.store import CallStore, read_calls

    workspace = tmp_path / "team"
    monkeypatch.setenv(ENV_VAR, str(workspace))
    dash_duo.start_server(create_app(sample, interval_ms=600))
    dash_duo.wait_for_page(url=f"{dash_duo.server_url}/charts")
    dash_duo.wait_for_contains_text("#cb-saved", "org-product-model-cost", timeout=30)
    open_saved(dash_duo, "org-product-model-cost")
    dash_duo.wait_for_contains_text("#cb-preview .gtitle", "Cost by organization", timeout=25)

    # new calls from a new organization arrive while the chart is open: the open chart redraws
    extra = read_calls(sample).head(200)
    extra["organization_id"] = "org_live"
    extra["call_id"] = "live_" + extra["call_id"].astype("str")
    extra["timestamp"] = extra["timestamp"] + (
        read_calls(sample)["timestamp"].max() - extra["timestamp"].min()
    )
    CallStore(sample).append(extra)
    dash_duo.wait_for_contains_text("#cb-preview", "org_live", timeout=30)

    # a teammate saves a chart into the shared folder: it shows up in the list without a reload
    doc = json.loads((workspace / "org-product-model-cost.json").read_text(encoding="utf-8"))
    doc["title"] = "From a teammate"
    (workspace / "teammate-chart.json").write_text(json.dumps(doc), encoding="utf-8")
    dash_duo.wait_for_contains_text("#cb-saved", "teammate-chart", timeout=30)
    assert severe(dash_duo.get_logs()) == []
