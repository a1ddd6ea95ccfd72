"""Benchmark of ``revenium-flow generate`` against a row-at-a-time pure-Python writer (the seed's design).

Measures, in the same run:

* the whole ``revenium-flow generate --target-mb 50`` process (interpreter start included) with the
  default workers (as many as the load leaves idle CPUs), the pool at full width (``--workers`` = the
  CPUs) and ``--workers 1`` (one process), alternated: median wall time, CPU time of all processes
  (pool ÷ one process: what the pool costs), peak memory of the process tree; the speed-up is the
  default's;
* a 1 GB run (``--big-mb``): wall time and the process tree's memory (sum of RSS, and of PSS, which
  counts pages shared after fork once) sampled along the run (flat = does not grow with the file);
  then (``--big-one``, default on) the same size with ``--workers`` = the CPUs and with ``--workers 1``
  alternated ``--big-repeat`` times: the pool's CPU ÷ one process's at that size;
* the baseline: one Python loop iteration per call (random draws, catalog price, csv.writer), the
  same 25 columns, to ``--baseline-mb``; its throughput gives the speed-up ratio.

The machine's load average is printed with each figure: on a shared machine wall times are only
comparable within one run.

Bytecode: the runs use a cache of compiled modules (``PYTHONPYCACHEPREFIX`` in a temporary directory,
filled by one warm-up run), as an installed package or any second run from a checkout has; a
sandbox that sets ``PYTHONDONTWRITEBYTECODE`` would otherwise compile every module of ours at every
start (about 0.25 s of CPU). ``--no-bytecode-cache`` measures that way instead.

Usage: ``.venv/bin/python benchmarks/bench_generate.py [--repeat 5] [--big-mb 1024] [--baseline-mb 50]``
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
MB = 2**20


def _cli() -> list[str]:
    exe = Path(sys.executable).with_name("revenium-flow")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "cli"]


#: the environment of the generate processes (``main`` sets the bytecode cache)
ENV = dict(os.environ)


def run_generate(path: Path, target_mb: float, *extra: str) -> dict[str, float | list[float]]:
    """Wall s, CPU s of all processes, peak RSS/PSS sums of the process tree (MB), tree RSS/PSS samples."""
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [*_cli(), "generate", "--data", str(path), "--target-mb", str(target_mb), "--quiet", *extra],
        cwd=REPO,
        env=ENV,
    )
    rss_samples: list[float] = []
    pss_samples: list[float] = []
    ps = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            procs = [ps, *ps.children(recursive=True)]
            mem = [p.memory_full_info() for p in procs]
            rss_samples.append(sum(m.rss for m in mem) / MB)
            pss_samples.append(sum(m.pss for m in mem) / MB)
        except psutil.Error:
            pass
        time.sleep(0.05)
    rc = proc.wait()
    wall = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"generate exited with {rc}")
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
    return {
        "wall": wall,
        "cpu": cpu,
        "rss": max(rss_samples, default=float("nan")),
        "pss": max(pss_samples, default=float("nan")),
        "rss_samples": rss_samples,
        "pss_samples": pss_samples,
    }


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"


def baseline_writer(path: Path, target_mb: float) -> tuple[float, int]:
    """The seed's design: one Python iteration, one random draw set and one csv row per call."""
    sys.path.insert(0, str(REPO))
    from metering.prices import load_catalog
    from metering.schema import COLUMN_NAMES

    catalog = load_catalog()
    share = {
        "openai": 40,
        "anthropic": 25,
        "google": 15,
        "bedrock": 10,
        "azure": 5,
        "mistral": 3,
        "cohere": 2,
    }
    providers = list(share)
    weights = [share[p] for p in providers]
    models = {p: catalog.models(p) for p in providers}
    tasks = {
        "chat": (600, 400),
        "summarization": (1600, 180),
        "code_generation": (350, 900),
        "qa": (200, 120),
    }
    rng = random.Random(42)
    t = datetime(2026, 1, 1, tzinfo=UTC)
    target = target_mb * MB
    rows = 0
    t0 = time.perf_counter()
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMN_NAMES)
        while True:
            for _ in range(1000):
                t += timedelta(milliseconds=rng.randint(1, 20000))
                provider = rng.choices(providers, weights)[0]
                model = rng.choice(models[provider])
                task = rng.choice(list(tasks))
                inp = max(1, int(rng.lognormvariate(math.log(tasks[task][0]), 0.55)))
                out = max(1, int(rng.lognormvariate(math.log(tasks[task][1]), 0.55)))
                price = catalog.current(provider, model)
                cost = round(inp * price.input + out * price.output, 9)
                cust = rng.randrange(500)
                w.writerow(
                    [
                        t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z",
                        f"call_{rng.getrandbits(64):016x}",
                        provider,
                        model,
                        inp,
                        out,
                        cost,
                        int(2 * (inp + out) * rng.uniform(0.7, 1.3)),
                        f"cust_{cust:04d}",
                        rng.choice(("starter", "pro", "enterprise")),
                        f"org_{cust % 40:03d}",
                        f"product_{cust % 40:03d}a",
                        task,
                        task,
                        "production",
                        f"req_{rng.getrandbits(64):016x}",
                        f"{rng.getrandbits(128):032x}",
                        f"sess_{rng.getrandbits(64):016x}",
                        "openai-python/1.54.4",
                        "us-east-1",
                        "END",
                        0,
                        0,
                        "base_traffic",
                        "simulated",
                    ]
                )
                rows += 1
            if f.tell() >= target:
                break
    return time.perf_counter() - t0, rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="runs of the 50 MB process (median reported)")
    ap.add_argument("--target-mb", type=float, default=50.0)
    ap.add_argument("--big-mb", type=float, default=1024.0, help="size of the large run (0 = skip)")
    ap.add_argument(
        "--baseline-mb", type=float, default=50.0, help="size written by the pure-Python baseline"
    )
    ap.add_argument("--baseline-repeat", type=int, default=3)
    ap.add_argument("--no-bytecode-cache", action="store_true", help="compile our modules at every start")
    ap.add_argument(
        "--big-one",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also the large size with the full-width pool and with one process (CPU ratio at that size)",
    )
    ap.add_argument("--big-repeat", type=int, default=1, help="alternations of that pool / one-process pair")
    args = ap.parse_args()

    print(f"machine: {os.cpu_count()} CPUs, python {sys.version.split()[0]}, {load()}")
    with tempfile.TemporaryDirectory(prefix="bench-generate-") as tmp:
        path = Path(tmp) / "calls.csv"
        if not args.no_bytecode_cache:
            ENV.pop("PYTHONDONTWRITEBYTECODE", None)
            ENV["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
            run_generate(path, 1.0)  # warm-up: fills the bytecode cache
        print(f"bytecode cache: {'off (every module compiled at start)' if args.no_bytecode_cache else 'on'}")
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        sets = {
            "default": (),  # what `generate` does at this load (idle CPUs: a pool, or one process)
            "pool": ("--workers", str(cpus)),  # the pool at full width whatever the load
            "one": ("--workers", "1"),
        }
        runs: dict[str, list[dict]] = {name: [] for name in sets}
        for _ in range(args.repeat):  # alternated, so all see the same load
            for name, extra in sets.items():
                runs[name].append(run_generate(path, args.target_mb, *extra))
        size = path.stat().st_size
        med = {
            k: {f: statistics.median(r[f] for r in v) for f in ("wall", "cpu", "rss", "pss")}
            for k, v in runs.items()
        }
        labels = {
            "default": "default workers (idle CPUs)",
            "pool": f"--workers {cpus} (scenario workers + merger)",
            "one": "--workers 1 (one process)",
        }
        for name, label in labels.items():
            m = med[name]
            walls = [r["wall"] for r in runs[name]]
            print(
                f"revenium-flow generate --target-mb {args.target_mb:g}, {label}: median {m['wall']:.3f} s wall "
                f"(min {min(walls):.3f}, max {max(walls):.3f}) over {args.repeat} runs, CPU {m['cpu']:.3f} s, "
                f"process tree peak {m['rss']:.0f} MB RSS / {m['pss']:.0f} MB PSS; {size / MB:.1f} MB   "
                f"[goal <= 1.0 s on a quiet machine]"
            )
        print(
            f"CPU with the pool / one process: {med['pool']['cpu'] / med['one']['cpu']:.2f}   [goal <= 1.05]; "
            f"wall one / pool: {med['one']['wall'] / med['pool']['wall']:.2f}   ({load()})"
        )

        base_walls, base_rows = [], 0
        bpath = Path(tmp) / "baseline.csv"
        for _ in range(args.baseline_repeat):
            w, base_rows = baseline_writer(bpath, args.baseline_mb)
            base_walls.append(w)
        base = statistics.median(base_walls)
        base_rate = bpath.stat().st_size / MB / base
        our_rate = size / MB / med["default"]["wall"]
        print(
            f"row-at-a-time pure-Python writer, {args.baseline_mb:g} MB ({base_rows:,} rows): median {base:.3f} s "
            f"({base_rate:.1f} MB/s, loop only, no interpreter start)"
        )
        print(
            f"speed-up: {our_rate / base_rate:.1f}x the baseline's MB/s (whole process vs loop only)   "
            f"[goal >= 5x]   ({load()})"
        )
        bpath.unlink()

        if args.big_mb > 0:
            big = Path(tmp) / "big.csv"
            r = run_generate(big, args.big_mb)
            q = max(1, len(r["rss_samples"]) // 4)
            early = lambda xs: statistics.median(xs[q : 2 * q]) if len(xs) >= 4 else float("nan")  # noqa: E731
            late = lambda xs: statistics.median(xs[-q:]) if xs else float("nan")  # noqa: E731
            print(
                f"revenium-flow generate --target-mb {args.big_mb:g}: {r['wall']:.2f} s wall, "
                f"{big.stat().st_size / MB:.0f} MB, {r['cpu']:.1f} s CPU; process tree RSS "
                f"{early(r['rss_samples']):.0f} MB early vs {late(r['rss_samples']):.0f} MB late (peak {r['rss']:.0f}), "
                f"PSS {early(r['pss_samples']):.0f} vs {late(r['pss_samples']):.0f} MB (peak {r['pss']:.0f})   "
                f"[goal <= 15 s, <= 500 MB, flat]   ({load()})"
            )
            big_rate = big.stat().st_size / MB / r["wall"]
            print(
                f"speed-up at steady state: {big_rate / base_rate:.1f}x ({big_rate:.1f} vs {base_rate:.1f} MB/s)"
            )
            if args.big_one:
                big_cpu: dict[str, list[float]] = {"pool": [], "one": []}
                big_wall: dict[str, list[float]] = {"pool": [], "one": []}
                for _ in range(args.big_repeat):
                    for name in ("pool", "one"):
                        r = run_generate(big, args.big_mb, *sets[name])
                        big_cpu[name].append(r["cpu"])
                        big_wall[name].append(r["wall"])
                c = {k: statistics.median(v) for k, v in big_cpu.items()}
                w = {k: statistics.median(v) for k, v in big_wall.items()}
                print(
                    f"--target-mb {args.big_mb:g}, {labels['pool']}: {w['pool']:.2f} s wall, CPU {c['pool']:.1f} s; "
                    f"{labels['one']}: {w['one']:.2f} s wall, CPU {c['one']:.1f} s; medians of {args.big_repeat}"
                )
                print(
                    f"CPU with the pool / one process at {args.big_mb:g} MB: {c['pool'] / c['one']:.2f}   "
                    f"[goal <= 1.05]   ({load()})"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
