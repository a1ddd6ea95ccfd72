"""Dashboard benchmark at 50 MB: idle tick, tick with one new simulated day, first page load, memory.

Server times are measured through Flask's test client against the real Dash callback endpoint, so
they include Dash's request handling. The first page load is measured in headless Chromium (from
navigation start to the KPI cards on screen) against a waitress server. Baselines measured in the
same run: a no-op Dash request and a full re-read of the CSV (what the tail-reading session avoids).

    .venv/bin/python benchmarks/bench_dashboard.py [--mb 50] [--data PATH] [--repeat 30]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analyzers.registry import ANALYZER_NAMES  # noqa: E402
from dashboard.app import create_app  # noqa: E402
from dashboard.hub import hub_for  # noqa: E402
from metering.store import CallStore, read_calls  # noqa: E402

OVERVIEW_OUTPUTS = (
    "overview-kpis",
    "overview-daily-cost",
    "overview-treemap",
    "toast-alerts",
    "filter-tiers",
    "gen-progress",
    "empty-state",
)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


class Callbacks:
    """Builds and times POSTs to /_dash-update-component from the app's own dependency list."""

    def __init__(self, app) -> None:
        self.client = app.server.test_client()
        self.deps = self.client.get("/_dash-dependencies").get_json()

    def find(self, output_fragment: str) -> dict:
        for d in self.deps:  # the callback that owns the output (not one writing it with allow_duplicate)
            if any(output_fragment in o and "@" not in o for o in d["output"].strip(".").split("...")):
                return d
        raise KeyError(output_fragment)

    def call(self, dep: dict, values: dict[str, object]) -> tuple[float, int, dict | None]:
        def item(x):
            key = f"{x['id']}.{x['property']}"
            return {"id": x["id"], "property": x["property"], "value": values.get(key)}

        outs = [o for o in dep["output"].strip(".").split("...")]
        outputs = [{"id": o.rsplit(".", 1)[0], "property": o.rsplit(".", 1)[1]} for o in outs]
        body = {
            "output": dep["output"],
            "outputs": outputs if dep["output"].startswith("..") else outputs[0],
            "inputs": [item(x) for x in dep["inputs"]],
            "state": [item(x) for x in dep["state"]],
            "changedPropIds": [f"{x['id']}.{x['property']}" for x in dep["inputs"][:1]],
        }
        t0 = time.perf_counter()
        r = self.client.post("/_dash-update-component", json=body)
        dt = time.perf_counter() - t0
        if r.status_code not in (200, 204):
            raise RuntimeError(f"{dep['output']}: HTTP {r.status_code} {r.get_data(as_text=True)[:300]}")
        return dt, r.status_code, (r.get_json() if r.status_code == 200 else None)


def generate(path: Path, mb: float) -> None:
    cmd = [
        sys.executable,
        "-m",
        "cli",
        "generate",
        "--data",
        str(path),
        "--target-mb",
        str(mb),
        "--seed",
        "42",
        "--quiet",
    ]
    subprocess.run(cmd, check=True, cwd=ROOT)


def next_day(path: Path, day_index: int) -> pd.DataFrame:
    """The file's last simulated day, shifted ``day_index`` days later, with new call ids."""
    df = read_calls(path)
    last = df["timestamp"].max().floor("D")
    day = df[df["timestamp"] >= last].copy()
    day["timestamp"] = day["timestamp"] + pd.Timedelta(days=day_index)
    day["call_id"] = day["call_id"].astype(str) + f"_d{day_index}"
    return day


def tick_values(version: dict | None, manifest: dict | None, n: int, alerts_version: int = -1) -> dict:
    return {
        "tick.n_intervals": n,
        "store-version.data": version,
        "store-manifest.data": manifest,
        "store-alerts-version.data": alerts_version,
    }


def overview_round(cb: Callbacks, version: dict, parts: dict[str, list[float]] | None = None) -> float:
    """Server time of the callbacks the overview runs after a version change."""
    total = 0.0
    for frag in OVERVIEW_OUTPUTS:
        dep = cb.find(frag)
        values = {
            "store-version.data": version,
            "store-filters.data": {},
            "store-drill.data": [],
            "store-seen-alerts.data": [],
            "store-manifest.data": {},
        }
        dt, _, _ = cb.call(dep, values)
        total += dt
        if parts is not None:
            parts.setdefault(frag, []).append(dt)
    return total


def browser_load(app, repeat: int) -> list[float]:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait
    from waitress import create_server

    server = create_server(app.server, host="127.0.0.1", port=0, threads=8)
    port = server.effective_port
    threading.Thread(target=server.run, daemon=True).start()
    opts = Options()
    opts.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
    ):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    times: list[float] = []
    switches: list[float] = []
    by_url: list[float] = []

    def until(css: str) -> None:
        WebDriverWait(driver, 30).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))

    try:
        for _ in range(repeat):
            driver.delete_all_cookies()
            t0 = time.perf_counter()
            driver.get(f"http://127.0.0.1:{port}/")
            until("#kpi-total_cost_usd")
            times.append(time.perf_counter() - t0)
            driver.execute_script("window.sessionStorage.clear()")
        # page switches from the navbar: click -> the page's KPI cards on screen (each page twice: the
        # first visit computes that page's analyzer for this data version, the second is cached)
        for _ in range(2):
            for name in ANALYZER_NAMES:
                link = driver.find_element(By.ID, f"nav-pages.{name}")
                t0 = time.perf_counter()
                link.click()
                until(f"#{name}-kpis .kpi-card")
                switches.append(time.perf_counter() - t0)
        for name in ANALYZER_NAMES:  # opening a page by its URL (a full page load)
            t0 = time.perf_counter()
            driver.get(f"http://127.0.0.1:{port}/{name}")
            until(f"#{name}-kpis .kpi-card")
            by_url.append(time.perf_counter() - t0)
    finally:
        driver.quit()
        server.close()
    return times, switches, by_url


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=50.0)
    ap.add_argument("--data", type=Path, default=None, help="use this CSV instead of generating one")
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--days", type=int, default=5, help="new-day ticks to time")
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench_dashboard_"))
    data = tmp / "calls.csv"
    if args.data:
        data.write_bytes(Path(args.data).read_bytes())
    else:
        t0 = time.perf_counter()
        generate(data, args.mb)
        print(f"generated {data.stat().st_size / 2**20:.1f} MB in {time.perf_counter() - t0:.1f} s")
    proc = psutil.Process(os.getpid())

    # baselines
    size_mb = data.stat().st_size / 2**20
    t0 = time.perf_counter()
    rows = len(read_calls(data))
    reread = time.perf_counter() - t0
    app = create_app(data)
    cb = Callbacks(app)
    layout_times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        cb.client.get("/_dash-layout")
        layout_times.append(time.perf_counter() - t0)

    tick = cb.find("store-version")
    # first tick: cold read of the whole file by the session
    cold, _, resp = cb.call(tick, tick_values({"version": -1, "rows": 0}, None, 1))
    version = resp["response"]["store-version"]["data"]
    manifest = resp["response"]["store-manifest"]["data"]
    cold_overview = overview_round(cb, version)

    hub = hub_for(data)  # the app's own hub (one per data file)
    hub.refresh_alerts(wait=True)  # the background alert computation the first tick started
    alerts_version = hub.alerts_version()
    idle = []
    for i in range(args.repeat):
        dt, status, _ = cb.call(tick, tick_values(version, manifest, i + 2, alerts_version))
        assert status == 204, "an idle tick must not update anything"
        idle.append(dt)

    store = CallStore(data)
    new_day = []
    parts: dict[str, list[float]] = {}
    base = next_day(data, 1)
    day_rows = len(base)
    for d in range(1, args.days + 1):
        day = base.assign(
            timestamp=base["timestamp"] + pd.Timedelta(days=d - 1),
            call_id=base["call_id"].astype(str) + f"_{d}",
        )
        store.append(day)
        dt, status, resp = cb.call(tick, tick_values(version, manifest, 1000 + d, alerts_version))
        version = resp["response"]["store-version"]["data"]
        parts.setdefault("tick", []).append(dt)
        new_day.append(dt + overview_round(cb, version, parts))
        hub.refresh_alerts(wait=True)  # let the off-request alert work finish before the next day
        alerts_version = hub.alerts_version()

    # every analyzer page once (what a user visiting all nine pages makes the server hold)
    for name in ANALYZER_NAMES:
        cb.call(
            cb.find(f"{name}-kpis"),
            {"store-version.data": version, "store-filters.data": {}, "store-drill.data": []},
        )
    rss = proc.memory_info().rss / 2**20

    print(f"\ndata: {rows:,} rows, {size_mb:.1f} MB; one simulated day = {day_rows:,} rows")
    print("baselines (same run):")
    print(f"  full re-read of the CSV (read_calls)      {ms(reread)}")
    print(f"  GET /_dash-layout, median                 {ms(statistics.median(layout_times))}")
    print("dashboard:")
    print(
        f"  idle tick, median of {args.repeat:<3}                {ms(statistics.median(idle))}   (target <= 20 ms)"
    )
    print(
        f"  tick + overview redraw after one new day  {ms(statistics.median(new_day))}   (target <= 250 ms, "
        f"median of {args.days})"
    )
    print(
        "    per callback: " + ", ".join(f"{k} {statistics.median(v) * 1000:.0f}" for k, v in parts.items())
    )
    print(f"  cold: first tick (tail whole file)        {ms(cold)}")
    print(f"  cold: overview callbacks after it         {ms(cold_overview)}")
    print(f"  server memory (RSS, all pages computed)   {rss:8.0f} MB   (target <= 800 MB)")
    if not args.no_browser:
        loads, switches, by_url = browser_load(app, 6)
        print(
            f"  first page load in Chromium (warm server) {ms(statistics.median(loads[1:]))}   (target <= 1.5 s; "
            f"first {ms(loads[0]).strip()})"
        )
        first, again = switches[: len(ANALYZER_NAMES)], switches[len(ANALYZER_NAMES) :]
        print(
            f"  page switch to content, median            {ms(statistics.median(switches))}   (target <= 1.0 s; "
            f"first visit {ms(statistics.median(first)).strip()}, again {ms(statistics.median(again)).strip()}, "
            f"worst {ms(max(switches)).strip()})"
        )
        print(f"  page opened by URL to content, median     {ms(statistics.median(by_url))}")
        print(f"  load average                              {os.getloadavg()[0]:8.2f}")
    print(
        json.dumps(
            {
                "idle_tick_ms": statistics.median(idle) * 1000,
                "new_day_tick_ms": statistics.median(new_day) * 1000,
                "rss_mb": rss,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
