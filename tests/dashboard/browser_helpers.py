"""Helpers for the dash_duo tests: console errors, and reading elements that live updates redraw."""

from __future__ import annotations

import time

from selenium.common.exceptions import StaleElementReferenceException


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
