"""Helpers for the dash_duo tests: console errors, and reading elements that live updates redraw."""

from __future__ import annotations

import time

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.actions.action_builder import ActionBuilder


def severe(logs) -> list[dict]:
    """Console entries at SEVERE level (errors) from ``dash_duo.get_logs()``."""
    return [entry for entry in logs or [] if entry.get("level") == "SEVERE"]


def text(dash_duo, selector: str) -> str:
    """An element's text; cards are redrawn on new data or alerts, so a stale element is read again."""
    for _ in range(50):
        try:
            return dash_duo.find_element(selector).text
        except StaleElementReferenceException:
            time.sleep(0.1)
    raise AssertionError(f"{selector} kept being redrawn")


def click_treemap_node(dash_duo, label: str, centre: bool = False) -> None:
    """A real pointer click on the treemap node labelled ``label``: on its header strip, or with
    ``centre`` in the middle of its box (where its largest child is drawn)."""
    dash_duo.wait_for_contains_text("#overview-treemap", label, timeout=15)
    rect = dash_duo.driver.execute_script(
        """
        const want = arguments[0];
        for (const s of document.querySelectorAll('#overview-treemap g.slice')) {
          const t = s.querySelector('text');
          if (t && t.textContent.startsWith(want)) {
            // taller pages: bring the node's centre into the viewport before measuring it
            let r = s.querySelector('path.surface').getBoundingClientRect();
            // (instant: Bootstrap makes scrolling smooth, which would measure mid-animation)
            window.scrollBy({top: r.top + r.height / 2 - window.innerHeight / 2, behavior: 'instant'});
            r = s.querySelector('path.surface').getBoundingClientRect();
            return [r.left, r.top, r.width, r.height];
          }
        }
        return null;
        """,
        label,
    )
    assert rect, f"no treemap node {label}"
    if centre:
        x, y = rect[0] + rect[2] / 2, rect[1] + rect[3] / 2
    else:
        x, y = rect[0] + min(20, rect[2] / 2), rect[1] + 6
    actions = ActionBuilder(dash_duo.driver)
    actions.pointer_action.move_to_location(int(x), int(y))
    actions.pointer_action.click()
    actions.perform()
