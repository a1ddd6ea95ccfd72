"""Analyzer speed and memory on a generated 50 MB call file, with DuckDB as the outside yardstick.

Goals (issue 4): cold = read the file and run all eight analyzers <= 2 s median, peak RSS <= 700 MB;
warm = after appending one simulated day of rows, ``AnalysisSession.refresh()`` + ``overview()``
<= 60 ms median. Baselines measured in the same run: a from-scratch session on the same file (what
the overview would cost without the running cubes), and DuckDB answering cost by
organization/product/model and latency percentiles by model straight from the CSV (installed with
``pip install --target`` into a throw-away folder; skipped with a message when that fails).

Run: ``.venv/bin/python benchmarks/bench_analyzers.py [--mb 50] [--runs 5] [--data FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # runnable from a checkout without installing
    sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

DUCKDB_DIR = Path(tempfile.gettempdir()) / "revenium-flow-bench-duckdb"

COLD_CHILD = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
t0 = time.perf_counter()
from metering.store import read_calls
from analyzers import registry
from analyzers.base import AnalysisContext
ctx = AnalysisContext()
t1 = time.perf_counter()
df = read_calls({path!r})
t2 = time.perf_counter()
per = {{}}
for name in registry.ANALYZER_NAMES:
    s = time.perf_counter()
    registry.run(name, df, ctx)
    per[name] = time.perf_counter() - s
t3 = time.perf_counter()
print(json.dumps({{"rows": len(df), "import_s": t1 - t0, "read_s": t2 - t1, "analyze_s": t3 - t2,
                  "cold_s": t3 - t1, "per": per, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

DUCK_CHILD = """
import json, sys, time
sys.path.insert(0, {duck!r})
import duckdb
con = duckdb.connect()
q1 = ("SELECT organization_id, product_id, model, sum(cost_usd) AS cost_usd, count(*) AS calls "
      "FROM read_csv_auto('{path}') GROUP BY ALL")
q2 = ("SELECT model, quantile_cont(latency_ms, [0.5, 0.95, 0.99]) AS q, count(*) AS calls "
      "FROM read_csv_auto('{path}') GROUP BY model")
out = {{}}
for name, q in (("hierarchy", q1), ("latency", q2)):
    times = []
    for _ in range({runs}):
        s = time.perf_counter(); rows = con.execute(q).fetchall(); times.append(time.perf_counter() - s)
    out[name] = sorted(times)[len(times) // 2]
    out[name + "_rows"] = len(rows)
print(json.dumps(out))
"""


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def make_data(mb: float, folder: Path) -> Path:
    """Generate the file with the project's generator (falls back to the test-suite synthesizer)."""
    path = folder / "calls.csv"
    exe = Path(sys.executable).parent / "revenium-flow"
    cmd = [str(exe), "generate", "--target-mb", str(mb), "--data", str(path), "--seed", "1", "--quiet"]
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=900)
        return path
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"generator unavailable ({exc}); writing synthetic rows instead")
    sys.path.insert(0, str(ROOT / "tests" / "analyzers"))
    from frames import synthetic  # type: ignore[import-not-found]

    from metering.store import CallStore

    rows = int(mb * 1024 * 1024 / 330)
    CallStore(path).append(synthetic(rows, days=30, customers=500))
    return path


def split_last_day(path: Path, folder: Path) -> tuple[Path, bytes, int]:
    """A copy of the file without its last simulated day of rows, and those rows' CSV lines.

    "One simulated day" = the file's rows / the days it spans (the last calendar day may be partial).
    """
    data = path.read_bytes()
    lines = data.splitlines(keepends=True)
    first = pd.Timestamp(lines[1][:24].decode())
    last = pd.Timestamp(lines[-1][:24].decode())
    days = max((last - first) / pd.Timedelta(days=1), 1.0)
    n = max(1, round((len(lines) - 1) / days))
    base = folder / "base.csv"
    base.write_bytes(b"".join(lines[:-n]))
    return base, b"".join(lines[-n:]), n


def bench_cold(path: Path, runs: int) -> dict:
    res = []
    for _ in range(runs):
        code = COLD_CHILD.format(root=str(ROOT), path=str(path))
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
        res.append(json.loads(out.stdout.strip().splitlines()[-1]))
    per = {k: median([r["per"][k] for r in res]) for k in res[0]["per"]}
    return {
        "rows": res[0]["rows"],
        "read_s": median([r["read_s"] for r in res]),
        "analyze_s": median([r["analyze_s"] for r in res]),
        "cold_s": median([r["cold_s"] for r in res]),
        "peak_mb": max(r["peak_mb"] for r in res),
        "per": per,
    }


def bench_warm(path: Path, folder: Path, runs: int) -> dict:
    from analyzers.session import AnalysisSession
    from metering.store import CallStore

    base, day, day_rows = split_last_day(path, folder)
    warm, scratch, alerts = [], [], []
    for i in range(runs):
        work = folder / f"warm{i}.csv"
        shutil.copyfile(base, work)
        s = AnalysisSession(work)
        s.refresh()
        s.overview()  # first overview computes alerts inline; later ones reuse them while recomputing
        CallStore(work).append_lines(day, day_rows)
        t = time.perf_counter()
        info = s.refresh()
        s.overview()
        warm.append(time.perf_counter() - t)
        assert info.new_rows == day_rows, (info, day_rows)
        s.wait_alerts()
        t = time.perf_counter()
        s.alerts()
        alerts.append(time.perf_counter() - t)
        t = time.perf_counter()
        fresh = AnalysisSession(work)
        fresh.sync_alerts = True
        fresh.refresh()
        fresh.overview()
        scratch.append(time.perf_counter() - t)
        t = time.perf_counter()
        os.remove(work)
    # the background alert recompute, timed alone
    work = folder / "alerts.csv"
    shutil.copyfile(path, work)
    s = AnalysisSession(work)
    s.refresh()
    rt = []
    for _ in range(runs):
        s._results.clear()
        t = time.perf_counter()
        s.alerts()
        rt.append(time.perf_counter() - t)
    return {
        "day_rows": day_rows,
        "warm_s": median(warm),
        "scratch_s": median(scratch),
        "alerts_recompute_s": median(rt),
    }


def ensure_duckdb() -> bool:
    if (DUCKDB_DIR / "duckdb").exists():
        return True
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(DUCKDB_DIR), "duckdb>=1.0,<2"]
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=600)
        return True
    except (OSError, subprocess.SubprocessError) as exc:
        err = getattr(exc, "stderr", b"") or b""
        print(
            f"DuckDB comparison skipped: could not install duckdb ({exc}; {err.decode(errors='replace')[-200:]})"
        )
        return False


def bench_ours_queries(path: Path, runs: int) -> dict:
    """Our answer to the same two questions from the CSV: read + cost_breakdown / group_stats."""
    from analyzers.common import cost_breakdown, group_stats
    from metering.store import read_calls

    h, lat = [], []
    for _ in range(runs):
        t = time.perf_counter()
        df = read_calls(path)
        cost_breakdown(df, ["organization_id", "product_id", "model"])
        h.append(time.perf_counter() - t)
        t = time.perf_counter()
        df = read_calls(path)
        group_stats(df, "model", ["latency_ms"], ("count", "p50", "p95", "p99"))
        lat.append(time.perf_counter() - t)
    return {"hierarchy": median(h), "latency": median(lat)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=50)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--data", type=Path, help="use this call file instead of generating one")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-analyzers-") as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        path = args.data or make_data(args.mb, folder)
        print(
            f"data: {path} ({path.stat().st_size / 1e6:.1f} MB), prepared in {time.perf_counter() - t:.1f} s"
        )
        cold = bench_cold(path, args.runs)
        print(
            f"cold: {cold['rows']:,} rows; read {cold['read_s']:.3f} s + eight analyzers {cold['analyze_s']:.3f} s "
            f"= {cold['cold_s']:.3f} s median (goal <= 2 s); peak RSS {cold['peak_mb']:.0f} MB (goal <= 700 MB)"
        )
        print("      per analyzer: " + ", ".join(f"{k} {v:.3f}" for k, v in cold["per"].items()))
        warm = bench_warm(path, folder, args.runs)
        print(
            f"warm: +{warm['day_rows']:,} rows (one simulated day): refresh + overview {warm['warm_s'] * 1000:.1f} ms "
            f"median (goal <= 60 ms); from-scratch session {warm['scratch_s'] * 1000:.0f} ms "
            f"(x{warm['scratch_s'] / warm['warm_s']:.0f} slower); background alert recompute "
            f"{warm['alerts_recompute_s'] * 1000:.0f} ms"
        )
        ours = bench_ours_queries(path, args.runs)
        if ensure_duckdb():
            code = DUCK_CHILD.format(duck=str(DUCKDB_DIR), path=str(path), runs=args.runs)
            try:
                out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
                duck = json.loads(out.stdout.strip().splitlines()[-1])
                for q, label in (
                    ("hierarchy", "cost by org/product/model"),
                    ("latency", "latency p50/p95/p99 by model"),
                ):
                    print(
                        f"duckdb vs ours, {label}: duckdb {duck[q]:.3f} s, ours (read + compute) {ours[q]:.3f} s "
                        f"-> ours/duckdb = {ours[q] / duck[q]:.2f}; ours warm (session overview) "
                        f"{warm['warm_s']:.3f} s -> {warm['warm_s'] / duck[q]:.2f}"
                    )
            except subprocess.CalledProcessError as exc:
                print(f"DuckDB comparison skipped: {exc.stderr[-300:]}")
        else:
            print(
                f"ours alone: cost by org/product/model {ours['hierarchy']:.3f} s, latency percentiles {ours['latency']:.3f} s"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
