"""Suite-wide test configuration: headless Chromium for dash_duo, a clean environment per test."""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM_OPTIONS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)


def pytest_setup_options():
    """dash[testing] hook: options for the Chrome webdriver (Debian's chromium + chromedriver)."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium:
        options.binary_location = chromium
    for flag in CHROMIUM_OPTIONS:
        options.add_argument(flag)
    return options


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read a developer's own data file, catalog or API keys from the environment."""
    for var in (
        "REVENIUM_FLOW_DATA",
        "REVENIUM_FLOW_PRICES",
        "REVENIUM_FLOW_TIERS",
        "REVENIUM_FLOW_API_KEYS",
        "REVENIUM_FLOW_API_KEYS_FILE",
        "REVENIUM_FLOW_WORKSPACE",
        "REVENIUM_FLOW_SUBSCRIPTIONS",
        "REVENIUM_FLOW_BUDGETS",
    ):
        monkeypatch.delenv(var, raising=False)


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("PYTHONHASHSEED", "0")


#: the xdist group of every browser test: with ``--dist loadgroup`` (``make test``) they all run one after
#: another on one pytest-xdist worker (one Chromium at a time, dash_duo's fixed port 8050) while the other
#: workers take the rest of the suite
BROWSER_GROUP = "browser"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("browser") is not None:
            item.add_marker(pytest.mark.xdist_group(BROWSER_GROUP))
