"""Chart builder speed: time to draw each shipped example and every chart type at a hard cut.

The Chart builder page redraws its preview whenever new data arrives, so ``build_figure`` must stay a
small multiple of the cheapest possible answer. Charts are drawn from what the dashboard hands them: the
live session's chart cube (``AnalysisSession.chart_cube``, built once here as the session does). Baseline
measured in the same run: one pandas groupby summing cost by organization/product/model on the rows of
the same file (the least any cost chart on rows must do).
Goal: every chart <= 500 ms median on the 50 MB file (171k rows), i.e. fast enough for a live tick.

Run: ``.venv/bin/python benchmarks/bench_chart_builder.py [--mb 50] [--runs 5] [--data FILE]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # runnable from a checkout without installing
    sys.path.insert(0, str(ROOT))

GOAL_MS = 500.0


def median_ms(fn, runs: int) -> float:
    fn()  # warm-up (imports, template, tier file)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="call CSV (default: generate --mb MB)")
    ap.add_argument("--mb", type=float, default=50.0)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    from analyzers.session import AnalysisSession
    from dashboard.pages.chart_builder.builder import CHART_TYPES, ChartConfig, build_figure
    from dashboard.pages.chart_builder.workspace import example_files
    from metering.store import read_calls

    with tempfile.TemporaryDirectory() as tmp:
        path = args.data
        if path is None:
            from generator.run import RunOptions, run_generation

            path = Path(tmp) / "calls.csv"
            print(f"generating {args.mb:g} MB ...", flush=True)
            run_generation(RunOptions(data=path, target_mb=args.mb, seed=42))
        df = read_calls(path)
        t0 = time.perf_counter()
        session = AnalysisSession(path)
        session.refresh()
        cube = session.chart_cube()
        built_s = time.perf_counter() - t0
    print(f"{len(df):,} rows; the session's chart cube: {len(cube):,} cells, built in {built_s:.2f} s")

    baseline = median_ms(
        lambda: df.groupby(["organization_id", "product_id", "model"], observed=True)["cost_usd"].sum(),
        args.runs,
    )
    print(f"baseline  groupby cost by org/product/model: {baseline:8.1f} ms")
    cases = [
        (p.stem, ChartConfig.from_dict(json.loads(p.read_text(encoding="utf-8")))) for p in example_files()
    ]
    for chart_type in CHART_TYPES:
        for metric in ("cost", "p95_latency", "margin"):
            dims = ("customer", "model") if chart_type != "line" else ("provider",)
            cfg = ChartConfig(title="bench", chart_type=chart_type, dimensions=dims, metric=metric)
            cases.append((f"{chart_type} {'/'.join(dims)} {metric}", cfg))
    worst = 0.0
    for name, cfg in cases:
        ms = median_ms(lambda cfg=cfg: build_figure(cfg, cube).to_json(), args.runs)
        worst = max(worst, ms)
        print(f"{name:40s} {ms:8.1f} ms  ({ms / baseline:5.1f}x baseline)")
    verdict = "OK" if worst <= GOAL_MS else "OVER GOAL"
    print(f"worst {worst:.1f} ms (goal <= {GOAL_MS:.0f} ms median): {verdict}")
    return 0 if worst <= GOAL_MS else 1


if __name__ == "__main__":
    sys.exit(main())
