"""Store speed and memory on a 50 MB call file, against pandas' C-engine read_csv in the same run.

Goals (issue 2): incremental read of 1 MB appended at the end of a 50 MB file <= 30 ms median;
full read of 50 MB into the typed frame <= 0.6 s median with peak RSS <= 400 MB.
Run: ``.venv/bin/python benchmarks/bench_store.py [--mb 50] [--runs 7]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # runnable from a checkout without installing
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from metering.prices import load_catalog  # noqa: E402
from metering.schema import BY_NAME, COLUMN_NAMES, SEED_COLUMN_NAMES  # noqa: E402
from metering.store import IncrementalReader, format_csv, header_line, read_calls  # noqa: E402


def synthetic_calls(n: int, start: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` plausible calls (all 24 catalog models, 500 customers), built with numpy only."""
    catalog = load_catalog()
    pairs = [(p, m) for (p, m) in catalog.prices]
    pick = rng.integers(0, len(pairs), n)
    provider = np.array([p for p, _ in pairs], dtype=object)[pick]
    model = np.array([m for _, m in pairs], dtype=object)[pick]
    inp = rng.integers(50, 8000, n)
    out = rng.integers(10, 2000, n)
    cached = (inp * rng.random(n) * 0.5).astype(np.int64)
    cust = rng.integers(0, 500, n)
    idx = np.arange(start, start + n)
    ids = pd.Series(idx.astype(str), dtype=str).str.zfill(10)
    frame = pd.DataFrame(
        {
            "timestamp": pd.Timestamp("2026-11-01T00:00:00Z") + pd.to_timedelta(idx * 250, unit="ms"),
            "call_id": ids.radd("call_"),
            "provider": provider,
            "model": model,
            "input_tokens": inp,
            "output_tokens": out,
            "latency_ms": rng.integers(150, 9000, n),
            "customer_id": pd.Series(cust).map("cust_{:04d}".format),
            "subscription_tier": np.array(["starter", "pro", "enterprise"], dtype=object)[cust % 3],
            "organization_id": pd.Series(cust // 10).map("org_{:03d}".format),
            "product_id": np.array(["product_a", "product_b", "product_c"], dtype=object)[cust % 3],
            "feature_id": np.array(["chat", "code_generation", "search", "summarize"], dtype=object)[idx % 4],
            "task_type": np.array(["chat", "summarization", "qa", "classification"], dtype=object)[idx % 4],
            "environment": np.array(["production"] * 19 + ["staging"], dtype=object)[idx % 20],
            "request_id": ids.radd("req_"),
            "trace_id": pd.Series((idx // 3).astype(str), dtype=str).radd("tr_"),
            "session_id": pd.Series((cust * 1000 + idx // 50).astype(str), dtype=str).radd("sess_"),
            "user_agent": np.array(["openai-python/1.51.0", "anthropic-sdk/0.39", "curl/8.5"], dtype=object)[
                idx % 3
            ],
            "region": np.array(["us-east-1", "eu-west-1"], dtype=object)[idx % 2],
            "stop_reason": "END",
            "cached_tokens": cached,
            "reasoning_tokens": 0,
            "scenario": "baseline",
            "source": "simulated",
        }
    )
    frame["cost_usd"] = catalog.price_calls(provider, model, inp, out, cached)
    return frame


def build_file(path: Path, target_bytes: int, rng: np.random.Generator) -> int:
    """Write header + canonical rows up to ``target_bytes`` (whole lines); returns the row count."""
    rows = 0
    with open(path, "wb") as f:
        f.write(header_line())
        while f.tell() < target_bytes:
            chunk = format_csv(synthetic_calls(20_000, rows, rng))
            room = target_bytes - f.tell()
            if len(chunk) > room:
                chunk = chunk[: chunk.rfind(b"\n", 0, room) + 1]
                if not chunk:
                    break
            f.write(chunk)
            rows += chunk.count(b"\n")
    return rows


def one_mb_of_lines(start: int, rng: np.random.Generator) -> bytes:
    data = format_csv(synthetic_calls(6000, start, rng))
    cut = data.rfind(b"\n", 0, 1 << 20)
    return data[: cut + 1]


def median_time(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def pandas_baseline(path: Path) -> pd.DataFrame:
    """pandas' C engine with the same dtypes: the yardstick."""
    dtypes = {c: ("string" if BY_NAME[c].kind == "str" else k) for c, k in _pandas_dtypes().items()}
    df = pd.read_csv(path, engine="c", dtype=dtypes)
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True, format="ISO8601").dt.as_unit("ms")
    return df


def _pandas_dtypes() -> dict[str, str]:
    from metering.schema import pandas_dtypes

    return {c: t for c, t in pandas_dtypes().items() if c in COLUMN_NAMES}


def peak_rss_mb(path: Path, what: str) -> float:
    """RSS high-water (MB) of a fresh interpreter that imports numpy/pandas/pyarrow, then reads ``path``.

    Linux keeps ``ru_maxrss`` across exec (a child would report this big parent's peak), so the
    child reads its own address space's high-water mark, VmHWM, from /proc when it exists.
    """
    code = (
        "import resource, sys, numpy, pandas, pyarrow.csv\n"
        "from metering.store import read_calls\n"
        "import bench_store\n"
        "df = read_calls(sys.argv[1]) if sys.argv[2] == 'store' else bench_store.pandas_baseline(sys.argv[1])\n"
        "try:\n"
        "    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
        "except OSError:\n"
        "    hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(int(hwm) / 1024, len(df))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(Path(__file__).parent)])}
    out = subprocess.run(
        [sys.executable, "-c", code, str(path), what], capture_output=True, text=True, env=env, check=True
    ).stdout.split()
    return float(out[0])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mb", type=float, default=50.0)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    rng = np.random.default_rng(42)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "calls.csv"
        t0 = time.perf_counter()
        rows = build_file(path, int(args.mb * 1e6), rng)
        size_mb = path.stat().st_size / 1e6
        print(f"built {size_mb:.1f} MB, {rows:,} rows in {time.perf_counter() - t0:.1f} s")

        full = median_time(lambda: read_calls(path), args.runs)
        base = median_time(lambda: pandas_baseline(path), max(3, args.runs // 2))
        # the same rows as the original program writes them: 19 columns, csv module, naive
        # microsecond isoformat() timestamps (read through metering.schema.timestamps_to_utc)
        # baseline: the same 19-column file with the store's own timestamp text
        seed, seed_canon = Path(tmp) / "seed.csv", Path(tmp) / "seed-canonical.csv"
        frame = read_calls(path)[list(SEED_COLUMN_NAMES)]
        stamps = frame["timestamp"]
        frame["timestamp"] = stamps.dt.strftime("%Y-%m-%dT%H:%M:%S.%f")
        frame.to_csv(seed, index=False, lineterminator="\r\n")
        frame["timestamp"] = stamps.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:23] + "Z"
        frame.to_csv(seed_canon, index=False, lineterminator="\r\n")
        del frame, stamps
        assert read_calls(seed)["timestamp"].equals(read_calls(seed_canon)["timestamp"])
        seed_read = median_time(lambda: read_calls(seed), max(3, args.runs // 2))
        seed_canon_read = median_time(lambda: read_calls(seed_canon), max(3, args.runs // 2))
        rss_store = peak_rss_mb(path, "store")
        rss_base = peak_rss_mb(path, "pandas")

        # incremental: the reader is at the end of the 50 MB file; 1 MB of rows is appended; poll
        reader = IncrementalReader(path)
        reader.poll()
        inc_times, appended = [], rows
        for _ in range(args.runs):
            lines = one_mb_of_lines(appended, rng)
            with open(path, "ab") as f:
                f.write(lines)
            t = time.perf_counter()
            got = reader.poll()
            inc_times.append(time.perf_counter() - t)
            n_new = lines.count(b"\n")
            assert len(got.frame) == n_new and not got.malformed and not got.reset
            appended += n_new
        inc = statistics.median(inc_times)

        # baseline for the incremental read: pandas reading the same 1 MB of lines
        import io

        names = list(COLUMN_NAMES)
        dtypes = {c: ("string" if BY_NAME[c].kind == "str" else k) for c, k in _pandas_dtypes().items()}
        inc_base = median_time(
            lambda: pd.read_csv(io.BytesIO(lines), engine="c", names=names, header=None, dtype=dtypes),
            args.runs,
        )

    results = {
        "file_mb": round(size_mb, 1),
        "incremental_1mb_ms": round(inc * 1000, 1),
        "incremental_1mb_pandas_ms": round(inc_base * 1000, 1),
        "full_read_s": round(full, 3),
        "full_read_pandas_c_s": round(base, 3),
        "full_read_seed_format_s": round(seed_read, 3),
        "full_read_seed_columns_canonical_stamps_s": round(seed_canon_read, 3),
        "peak_rss_store_mb": round(rss_store, 1),
        "peak_rss_pandas_mb": round(rss_base, 1),
    }
    print(
        f"incremental read of 1 MB at the end: {inc * 1000:7.1f} ms  (goal <= 30 ms)   "
        f"pandas C engine: {inc_base * 1000:.1f} ms  ratio {inc / inc_base:.2f}x"
    )
    print(
        f"full read of {size_mb:.0f} MB, typed:     {full:7.3f} s   (goal <= 0.6 s)   "
        f"pandas C engine: {base:.3f} s  ratio {full / base:.2f}x"
    )
    print(
        f"full read, seed-written file:   {seed_read:7.3f} s   (19 columns, CRLF, naive µs isoformat)  "
        f"same file with .mmmZ stamps: {seed_canon_read:.3f} s  ratio {seed_read / seed_canon_read:.2f}x"
    )
    print(
        f"peak RSS, fresh process:        {rss_store:7.1f} MB  (goal <= 400 MB)  "
        f"pandas C engine: {rss_base:.1f} MB  ratio {rss_store / rss_base:.2f}x"
    )
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
