"""Dashboard server memory over consecutive generation runs (each run replaces the data file).

Ten 50 MB runs (seeds 1..10) are written one after the other into the file a dashboard app is bound
to. While a run writes, the app ticks every 0.5 s from a pool of four threads (like waitress's
worker threads serving a tab): each tick tails the file and redraws the overview. After each run the
app takes a tick, computes the alerts, the overview and every analyzer page, as a user visiting all
pages would, and one more (quiet) tick, as the browser keeps ticking.
The server's RSS after each run is printed; the goal is RSS after run 10 within 1.3x of RSS after
run 1. Baseline in the same run: the RSS of this process before the app was created, and the peak
of a plain ``read_calls`` of the file in a fresh process.

    .venv/bin/python benchmarks/bench_dashboard_memory.py [--runs 10] [--mb 50]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# as `revenium-flow dashboard` does before importing pandas (cli.commands.dashboard.use_system_allocator)
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

from bench_dashboard import Callbacks, overview_round, tick_values  # noqa: E402

from analyzers.registry import ANALYZER_NAMES  # noqa: E402
from dashboard.app import create_app  # noqa: E402
from dashboard.hub import hub_for  # noqa: E402

GOAL_RATIO = 1.3


def generate_while_ticking(path: Path, mb: float, seed: int, live_tick) -> tuple[float, int]:
    """Run the generator; tick (in a pool of threads) every 0.5 s until it exits. (seconds, ticks)."""
    cmd = [sys.executable, "-m", "cli", "generate", "--data", str(path)]
    cmd += ["--target-mb", str(mb), "--seed", str(seed), "--quiet"]
    t0 = time.perf_counter()
    gen = subprocess.Popen(cmd, cwd=ROOT)
    ticks = 0
    with ThreadPoolExecutor(max_workers=4) as pool:
        while gen.poll() is None:
            pool.submit(live_tick).result()
            ticks += 1
            time.sleep(0.5)
    if gen.returncode:
        raise RuntimeError(f"generator exited with {gen.returncode}")
    return time.perf_counter() - t0, ticks


def read_baseline(path: Path) -> float:
    """Peak RSS (MB) of a fresh process that only reads the file into the typed frame."""
    code = (
        "import resource, sys; sys.path.insert(0, sys.argv[2]); from metering.store import read_calls; "
        "read_calls(sys.argv[1]); print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path), str(ROOT)], capture_output=True, text=True)
    return float(out.stdout.strip() or "nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--mb", type=float, default=50.0)
    args = ap.parse_args()

    proc = psutil.Process(os.getpid())
    tmp = Path(tempfile.mkdtemp(prefix="bench_dashboard_memory_"))
    data = tmp / "calls.csv"
    idle_rss = proc.memory_info().rss / 2**20
    app = create_app(data)
    cb = Callbacks(app)
    hub = hub_for(data)  # the app's own hub (one per data file)
    tick = cb.find("store-version")
    state = {"version": {"version": -1, "rows": 0}, "manifest": None, "n": 0}
    lock = threading.Lock()

    def one_tick() -> None:
        with lock:
            state["n"] += 1
            values = tick_values(state["version"], state["manifest"], state["n"])
        _, status, resp = cb.call(tick, values)
        if status == 200:
            out = resp["response"]
            with lock:
                state["version"] = out.get("store-version", {}).get("data", state["version"])
                state["manifest"] = out.get("store-manifest", {}).get("data", state["manifest"])
        if state["version"].get("rows"):
            overview_round(cb, state["version"])

    rss: list[float] = []
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    for run in range(1, args.runs + 1):
        gen_s, ticks = generate_while_ticking(data, args.mb, run, one_tick)
        t0 = time.perf_counter()
        one_tick()
        hub.refresh_alerts(wait=True)
        version = state["version"]
        for name in ANALYZER_NAMES:
            cb.call(
                cb.find(f"{name}-kpis"),
                {"store-version.data": version, "store-filters.data": {}, "store-drill.data": []},
            )
        one_tick()  # the browser keeps ticking: the first quiet tick releases the freed memory
        for thread in threading.enumerate():
            if thread.name == "release-memory":
                thread.join()
        rss.append(proc.memory_info().rss / 2**20)
        print(
            f"run {run:2d}: generated in {gen_s:5.1f} s with {ticks} live ticks, {version.get('rows', 0):,} rows; "
            f"all pages in {time.perf_counter() - t0:5.1f} s; server RSS {rss[-1]:6.0f} MB; "
            f"load {os.getloadavg()[0]:.2f}"
        )
    baseline = read_baseline(data)
    ratio = rss[-1] / rss[0]
    print("\nbaselines (same run):")
    print(f"  this process before the app               {idle_rss:6.0f} MB")
    print(f"  read_calls of the file, fresh process     {baseline:6.0f} MB peak")
    print(
        f"server RSS after run 1 {rss[0]:.0f} MB, after run {args.runs} {rss[-1]:.0f} MB, max {max(rss):.0f} MB"
    )
    verdict = "met" if ratio <= GOAL_RATIO else "NOT met"
    print(f"ratio after run {args.runs} / after run 1: {ratio:.2f}   (goal <= {GOAL_RATIO}: {verdict})")
    print(json.dumps({"rss_mb": rss, "ratio": ratio, "read_baseline_mb": baseline}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
