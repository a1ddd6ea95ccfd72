"""Take the QUICKSTART screenshots with headless Chromium against real dashboard servers.

Starts ``revenium-flow dashboard`` twice on local ports (one on an empty data folder for the first two
steps, one on a freshly generated file for the rest), drives the pages with Selenium and writes PNG files
into ``docs/``. Needs Debian's ``chromium`` and ``chromium-driver``.

Run: ``.venv/bin/python docs/make_screenshots.py [--mb 20]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
CLI = [sys.executable, "-m", "cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data: Path, workspace: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, REVENIUM_FLOW_API_KEYS="hak_demo_key_1")
    args = ["dashboard", "--data", str(data), "--port", str(port), "--workspace", str(workspace)]
    proc = subprocess.Popen(
        [*CLI, *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, url
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("the dashboard did not start")


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
    ):
        options.add_argument(flag)
    options.add_argument("--window-size=1440,1100")
    return webdriver.Chrome(
        service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options
    )


def wait_for(driver, css: str, timeout: float = 30.0):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def shot(driver, name: str, height: int = 1100) -> None:
    driver.set_window_size(1440, height)
    driver.execute_script("window.scrollTo(0, 0);")
    time.sleep(2.5)  # let charts finish their transitions
    driver.save_screenshot(str(DOCS / name))
    print(f"docs/{name}")


def click(driver, element) -> None:
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    driver.execute_script("arguments[0].click();", element)


def click_point(driver, css: str) -> None:
    """A real pointer click near the top-left corner of an SVG shape (SVG elements have no .click())."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    r = driver.execute_script(
        "const r = document.querySelector(arguments[0]).getBoundingClientRect(); return [r.left, r.top, r.width];",
        css,
    )
    actions = ActionBuilder(driver)
    actions.pointer_action.move_to_location(int(r[0] + min(20, r[2] / 2)), int(r[1] + 6))
    actions.pointer_action.click()
    actions.perform()


def main() -> int:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=20.0, help="size of the generated file for the explore shots")
    args = ap.parse_args()
    procs = []
    driver = browser()
    with tempfile.TemporaryDirectory(prefix="revenium-flow-shots-") as tmp:
        tmp = Path(tmp)
        try:
            # steps 1-2: an empty data folder, then Generate from the page
            proc, url = start_server(tmp / "empty" / "calls.csv", tmp / "charts")
            procs.append(proc)
            driver.get(url)
            wait_for(driver, "#empty-state h4")
            shot(driver, "quickstart-1-empty.png", 800)
            target = driver.find_element(By.ID, "gen-target-mb")
            target.send_keys(Keys.CONTROL, "a")
            target.send_keys("8")
            driver.find_element(By.CSS_SELECTOR, "#gen-pace option[value='live']").click()
            click(driver, driver.find_element(By.ID, "gen-start"))
            time.sleep(5)
            shot(driver, "quickstart-2-generating.png", 1100)
            click(driver, driver.find_element(By.ID, "gen-stop"))

            # step 3 and the page tour: a generated file
            data = tmp / "data" / "calls.csv"
            subprocess.run(
                [
                    *CLI,
                    "generate",
                    "--data",
                    str(data),
                    "--target-mb",
                    str(args.mb),
                    "--seed",
                    "42",
                    "--quiet",
                ],
                cwd=ROOT,
                check=True,
            )
            proc, url = start_server(data, tmp / "charts2")
            procs.append(proc)
            driver.get(url)
            wait_for(driver, "#kpi-total_cost_usd")
            wait_for(driver, "#overview-treemap g.slice")
            shot(driver, "quickstart-3-overview.png", 1250)
            click_point(
                driver, "#overview-treemap g.slice:nth-of-type(2) path.surface"
            )  # largest organization
            time.sleep(3)
            shot(driver, "quickstart-4-drill.png", 1250)
            # back to all organizations
            click(driver, driver.find_element(By.CSS_SELECTOR, "#breadcrumb button"))
            time.sleep(2)
            driver.get(url + "/profitability")
            wait_for(driver, "#profitability-kpis .kpi-card")
            shot(driver, "quickstart-5-profitability.png", 1500)
            driver.get(url + "/charts")
            wait_for(driver, "#cb-saved .cb-saved-name")
            item = driver.find_element(
                By.XPATH,
                "//*[contains(@class,'cb-saved-name') and normalize-space()='enterprise-weekly-cost-by-org']",
            )
            click(driver, item)
            wait_for(driver, "#cb-preview .scatterlayer")
            shot(driver, "quickstart-6-chart-builder.png", 1300)
        finally:
            driver.quit()
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
