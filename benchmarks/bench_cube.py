"""The usage cube at scale: `analyze` on the engines against DuckDB, whole process tree, same run.

For each generated file (default 50 MB and 1 GB) this times, as separate processes from start to exit,
and samples the resident memory of each whole process tree (parent + workers, every 20 ms):

* ``cube local``: ``revenium-flow analyze --only A --only B ...`` with every analyzer of
  ``registry.CUBE_ANALYZERS`` (the usage cube built by the ``local`` engine's process pool, the summary and
  those analyzers from it: the analyses that read the cube today; the rows are never loaded);
* ``cube dask`` (1 GB and up): the same with ``--engine dask`` (a LocalCluster of 2 worker processes);
* ``rows``: ``revenium-flow analyze`` (all eight analyzers; the six that still read the rows load them);
* ``duckdb``: DuckDB answering the core questions from the same CSV in one process: cost and calls by
  organization/product/model, latency p50/p95/p99 by model, daily cost and calls by customer, hourly
  cost by provider/model (what the cube answers).

Ratios are ours / DuckDB of the same run; the load average is printed with the figures. DuckDB is
installed into a throw-away folder as in ``bench_analyzers.py``.

Run: ``.venv/bin/python benchmarks/bench_cube.py [--mb 50 1024] [--runs 3] [--skip-rows-above 2000]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "benchmarks"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import psutil  # noqa: E402
from bench_analyzers import DUCKDB_DIR, ensure_duckdb, make_data  # noqa: E402

from analyzers.registry import CUBE_ANALYZERS  # noqa: E402

DUCK_CORE = """
import sys
sys.path.insert(0, {duck!r})
import duckdb
con = duckdb.connect()
con.execute("CREATE TEMP VIEW calls AS SELECT * FROM read_csv_auto('{path}')")
for q in (
    "SELECT organization_id, product_id, model, sum(cost_usd), count(*) FROM calls GROUP BY ALL",
    "SELECT model, quantile_cont(latency_ms, [0.5, 0.95, 0.99]), count(*) FROM calls GROUP BY model",
    "SELECT epoch_ms(date_trunc('day', timestamp)), customer_id, sum(cost_usd), count(*) FROM calls GROUP BY ALL",
    "SELECT epoch_ms(date_trunc('hour', timestamp)), provider, model, sum(cost_usd), count(*) FROM calls GROUP BY ALL",
):
    con.execute(q).fetchall()
"""


def run_tree(cmd: list[str], env: dict | None = None) -> tuple[float, float]:
    """(wall seconds, peak MB of the summed RSS of the process and all its descendants)."""
    t0 = time.perf_counter()
    proc = psutil.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    peak = 0
    while proc.poll() is None:
        total = 0
        try:
            procs = [proc, *proc.children(recursive=True)]
        except psutil.NoSuchProcess:
            procs = []
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += p.memory_info().rss
        peak = max(peak, total)
        time.sleep(0.02)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])}... failed: {proc.stderr.read().decode()[-400:]}")
    return wall, peak / 2**20


def median_run(cmd: list[str], runs: int) -> tuple[float, float]:
    res = [run_tree(cmd) for _ in range(runs)]
    return statistics.median(r[0] for r in res), max(r[1] for r in res)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, nargs="+", default=[50, 1024])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--data", type=Path, nargs="*", help="use these files instead of generating")
    ap.add_argument("--skip-rows-above", type=float, default=2000, help="no full eight-analyzer run above MB")
    ap.add_argument("--dask-from", type=float, default=1000, help="run the dask engine from this size (MB)")
    args = ap.parse_args()
    exe = str(Path(sys.executable).parent / "revenium-flow")
    duck = ensure_duckdb()
    with tempfile.TemporaryDirectory(prefix="bench-cube-") as tmp:
        files = args.data or []
        if not files:
            for mb in args.mb:
                d = Path(tmp) / f"mb{mb:g}"
                d.mkdir()
                t = time.perf_counter()
                files.append(make_data(mb, d))
                print(f"generated {mb:g} MB in {time.perf_counter() - t:.1f} s")
        for path in files:
            size_mb = path.stat().st_size / 2**20
            out = Path(tmp) / "out"
            runs = args.runs if size_mb < 500 else 1
            print(f"== {path.name}: {size_mb:,.0f} MB, load average {os.getloadavg()[0]:.2f} (2 cores)")
            print(f"   cube analyzers: {', '.join(CUBE_ANALYZERS)}")
            local = median_run(
                [exe, "analyze", "--data", str(path), "--only", "realtime", "--out", str(out)], runs
            )
            figures = {"cube local": local}
            if size_mb >= args.dask_from:
                figures["cube dask"] = median_run(
                    [
                        exe,
                        "analyze",
                        "--data",
                        str(path),
                        "--only",
                        "realtime",
                        "--engine",
                        "dask",
                        "--out",
                        str(out),
                    ],
                    runs,
                )
            if size_mb <= args.skip_rows_above:
                figures["rows (eight analyzers)"] = median_run(
                    [exe, "analyze", "--data", str(path), "--out", str(out)], runs
                )
            if duck:
                code = DUCK_CORE.format(duck=str(DUCKDB_DIR), path=str(path))
                figures["duckdb core"] = median_run([sys.executable, "-c", code], runs)
            base = figures.get("duckdb core")
            for name, (wall, peak) in figures.items():
                ratio = f"  {wall / base[0]:.2f}x duckdb" if base and name != "duckdb core" else ""
                print(f"   {name:<24} {wall:7.2f} s  peak {peak:7.0f} MB{ratio}", flush=True)
            print(f"   load average after: {os.getloadavg()[0]:.2f}")
            summary = (
                json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
            )
            if summary:
                print(f"   {summary.get('calls', 0):,} calls, ${summary.get('total_cost_usd', 0):,.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
