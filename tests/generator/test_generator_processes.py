"""The run's process shape (scenario workers + one merger), its clock, and stops at any moment."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pyarrow.csv as pacsv
import pytest
from generator_testkit import START

from dashboard.components.shell import progress_view
from generator.run import RunOptions, run_generation
from metering.manifest import read_manifest
from metering.store import CallStore, read_calls

REPO = Path(__file__).resolve().parents[2]


def leftovers(path: Path) -> list[str]:
    """Shard directories, shard parts and temporary files beside the CSV."""
    return sorted(
        p.name for p in path.parent.iterdir() if ".shards-" in p.name or p.name.endswith((".tmp", ".part"))
    )


def test_workers_and_one_merger_run_and_the_parent_writes_nothing_to_the_csv(tmp_path, monkeypatch):
    path, log = tmp_path / "calls.csv", tmp_path / "writers.log"
    seen: list[list[str]] = []

    def recorded(method):
        def wrapper(self, *args, **kwargs):
            with open(log, "a") as f:  # forked processes inherit the patch: each logs its own pid
                f.write(f"{os.getpid()}\n")
            return method(self, *args, **kwargs)

        return wrapper

    monkeypatch.setattr(CallStore, "_append", recorded(CallStore._append))
    monkeypatch.setattr(CallStore, "reset", recorded(CallStore.reset))

    others = {c.pid for c in psutil.Process().children()}  # e.g. servers other tests left running

    def progress(p) -> None:
        if not seen:
            seen.append(sorted(c.name() for c in psutil.Process().children() if c.pid not in others))

    res = run_generation(RunOptions(data=path, target_mb=6, seed=2, workers=2, start=START), progress)
    assert res.state == "done" and res.workers == 2
    assert seen == [["rf-merger", "rf-worker-0", "rf-worker-1"]]  # names set for ps / psutil
    writers = set(log.read_text().split())
    assert len(writers) == 1 and str(os.getpid()) not in writers  # only the merger wrote the CSV
    assert not leftovers(path) and not [c for c in psutil.Process().children() if c.pid not in others]


@pytest.mark.slow
def test_shards_through_a_small_arena_and_files_give_the_bytes_of_one_process(tmp_path, monkeypatch):
    """A ring too small for the look-ahead: shards go through the shared arena (laps, reuse) and, when
    it is full, through files; the CSV is byte-identical to one process's and nothing is left."""
    import generator.pool as pool_module
    from generator.shards import Ring

    log = tmp_path / "ways.log"
    real_put, real_write = Ring.put, pool_module.write_shard

    def put(self, shard):
        placed = real_put(self, shard)
        with open(log, "a") as f:  # forked workers inherit the patch
            f.write("arena\n" if placed else "full\n")
        return placed

    def write(path, shard):
        with open(log, "a") as f:
            f.write("file\n")
        real_write(path, shard)

    monkeypatch.setattr(pool_module, "RING_BYTES", 3072 * 1024)
    monkeypatch.setattr(Ring, "put", put)
    monkeypatch.setattr(pool_module, "write_shard", write)
    one, pooled = tmp_path / "one.csv", tmp_path / "pooled.csv"
    run_generation(RunOptions(data=one, target_mb=4, seed=8, workers=1, start=START))
    res = run_generation(RunOptions(data=pooled, target_mb=4, seed=8, workers=2, start=START))
    assert res.state == "done"
    ways = log.read_text().split()
    assert ways.count("arena") >= 5 and ways.count("file") == ways.count("full") > 0
    assert pooled.read_bytes() == one.read_bytes()
    assert not leftovers(pooled)


def test_the_generation_path_never_imports_pandas(tmp_path):
    code = (
        "import sys\n"
        "from cli import main\n"
        "for w in ('1', '2'):\n"
        f"    rc = main(['generate', '--data', r'{tmp_path / 'calls.csv'}', '--target-mb', '2', '--quiet',\n"
        "               '--start', '2026-01-05', '--workers', w])\n"
        "    assert rc == 0, rc\n"
        "print('pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def _simulated(path: Path):
    df = read_calls(path)
    return df, df[df["source"] == "simulated"]


@pytest.mark.parametrize("manifest", ["kept", "deleted"])
def test_append_after_ingested_rows_in_the_far_future_continues_the_simulated_clock(tmp_path, manifest):
    path, whole = tmp_path / "calls.csv", tmp_path / "whole.csv"
    run_generation(RunOptions(data=path, target_mb=0.6, seed=4, start=START, workers=1))
    _, before = _simulated(path)
    future = before.head(3).assign(
        source="metered",
        call_id=[f"real_{i}" for i in range(3)],
        timestamp=pd.Timestamp("2200-01-01", tz="UTC"),
    )
    soon = before.tail(2).assign(source="otlp", call_id=["otlp_0", "otlp_1"])
    soon["timestamp"] = soon["timestamp"] + pd.Timedelta(days=5)  # a few days ahead of the simulation
    CallStore(path).append(future)
    CallStore(path).append(soon)
    if manifest == "deleted":
        path.with_suffix(".manifest.json").unlink()
    res = run_generation(RunOptions(data=path, target_mb=0.6, seed=4, workers=1, append=True))
    assert res.state == "done" and res.totals.rows > 0
    df, sim = _simulated(path)
    new = sim.iloc[len(before) :]
    assert new["timestamp"].min() > before["timestamp"].max()  # no overlap, no duplicate
    assert new["timestamp"].max().year < 2100  # not in year 2200
    gap = (new["timestamp"].min() - before["timestamp"].max()).total_seconds()
    assert gap < 3600  # no skipped simulated days
    assert sim["call_id"].is_unique and sim["timestamp"].is_monotonic_increasing
    assert (df["source"] != "simulated").sum() == 5  # the ingested rows stay
    # the simulated rows are exactly what one longer run would have written
    run_generation(RunOptions(data=whole, target_mb=1.3, seed=4, start=START, workers=1))
    longer = read_calls(whole)
    assert sim["call_id"].tolist() == longer["call_id"].iloc[: len(sim)].tolist()
    m = read_manifest(path)
    assert m.sim_start == START.isoformat() and m.simulated_until.startswith(str(new["timestamp"].max())[:10])


def _spawn(path: Path, *extra: str, **kw) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "cli", "generate", "--data", str(path), "--seed", "3",
           "--start", "2026-01-05", "--quiet", *extra]  # fmt: skip
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)


@pytest.mark.slow
def test_a_killed_run_reads_as_interrupted_and_the_next_run_cleans_up(tmp_path):
    path = tmp_path / "calls.csv"
    proc = _spawn(path, "--target-mb", "50", "--pace", "live", "--speed", "86400", "--workers", "2",
                  start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 30
    while not (path.exists() and (m := read_manifest(path)) and m.state == "generating" and m.rows > 0):
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the parent, the merger and the workers at once
    proc.wait(10)
    time.sleep(0.2)
    m = read_manifest(path)
    assert m.state == "interrupted" and str(proc.pid) in m.message
    assert progress_view(m.to_json(), False, 0)["state"] == "interrupted"
    assert leftovers(path)  # the shard directory of the killed run
    out = subprocess.run([sys.executable, "-m", "cli", "validate", str(path)], cwd=REPO,
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert "generation: interrupted" in out.stdout
    res = run_generation(RunOptions(data=path, target_mb=0.3, seed=3, workers=1, append=True))
    assert res.state == "done" and res.cleaned and not leftovers(path)
    df = read_calls(path)
    assert df["call_id"].is_unique and df["timestamp"].is_monotonic_increasing
    assert read_manifest(path).state == "done"


def test_progress_names_each_scenario_and_the_merger_day(tmp_path):
    path = tmp_path / "calls.csv"
    reports = []
    run_generation(RunOptions(data=path, target_mb=4, seed=1, workers=2, start=START), reports.append)
    last = reports[-1]
    assert last.merger_day and last.merger_day >= START.isoformat()
    assert len(last.scenario_rows) == 12 and all(n > 0 for n in last.scenario_rows.values())
    m = read_manifest(path)
    assert m.merger_day == last.merger_day and set(m.scenario_progress) == set(last.scenario_rows)
    view = progress_view({**m.to_json(), "state": "generating"}, True, 0)
    assert f"merger at {m.merger_day}" in view["text"] and len(view["scenarios"]) == 12
    assert progress_view(m.to_json(), False, 0)["scenarios"] == []  # shown while generating only


def _check_file(path: Path) -> int:
    """Complete lines; simulated rows strictly after each other with unique ids; returns the rows."""
    data = path.read_bytes()
    assert data.endswith(b"\n")
    t = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(include_columns=["timestamp", "call_id"]))
    ts = t.column("timestamp").to_numpy()
    ids = t.column("call_id").to_numpy(zero_copy_only=False)
    assert len(set(ids)) == len(ids), "duplicate call_id"
    assert (np.diff(ts.astype("datetime64[ms]").astype(np.int64)) >= 0).all()
    return len(ids)


@pytest.mark.slow
def test_sigterm_at_random_moments_stops_within_two_seconds_and_append_continues(tmp_path):
    """30 runs (each an --append of the last one) get SIGTERM at a random moment: start-up (the first
    300 ms), the pool running, the merge, teardown. Each exits within 2 s leaving whole lines, no
    shard or temporary file, no process; the next append continues without a duplicate."""
    path = tmp_path / "calls.csv"
    rng = random.Random(16)
    delays = [rng.uniform(0, 0.3) for _ in range(8)] + [rng.uniform(0.3, 1.6) for _ in range(22)]
    outcomes = []
    for delay in delays:
        before = path.read_bytes() if path.exists() else None
        state_before = read_manifest(path)
        proc = _spawn(path, "--append", "--target-mb", "1.5", "--workers", "2")
        time.sleep(delay)
        try:  # the run's processes at this moment
            family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            family = []
        proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        rc = proc.wait(timeout=10)
        assert time.monotonic() - t0 < 2.0, f"took {time.monotonic() - t0:.2f} s to stop (delay {delay:.2f})"
        time.sleep(0.05)
        assert not leftovers(path)
        assert not [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        untouched = (path.read_bytes() if path.exists() else None) == before
        m = read_manifest(path)
        if rc == -signal.SIGTERM:  # before the flag was installed (start-up) or after the run ended
            assert (untouched and m == state_before) or m.state == "done"
        elif rc == 128 + signal.SIGTERM:  # stopped: or stopped before it wrote anything
            assert (m is not None and m.state == "stopped") or (untouched and m == state_before), (
                m,
                state_before,
                untouched,
            )
        else:
            assert rc == 0 and m.state == "done", proc.stderr.read().decode()
        if m is not None and m.state in ("stopped", "done"):
            assert m.bytes == path.stat().st_size
        if path.exists():
            _check_file(path)
        outcomes.append(rc)
    res = run_generation(RunOptions(data=path, target_mb=0.5, seed=3, workers=1, append=True))
    assert res.state == "done"
    rows = _check_file(path)
    assert read_manifest(path).rows == rows
    assert (128 + signal.SIGTERM) in outcomes  # the loop did interrupt running runs


def test_a_failing_worker_ends_the_run_as_error_without_leftovers(tmp_path, monkeypatch):
    import generator.pool as pool_module

    real = pool_module.synthesize_block

    def failing(world, si, first_day, stop_day):
        if si == 3 and first_day > 0:
            raise RuntimeError("synthetic failure in a worker")
        return real(world, si, first_day, stop_day)

    monkeypatch.setattr(pool_module, "synthesize_block", failing)  # forked workers inherit it
    path = tmp_path / "calls.csv"
    others = {c.pid for c in psutil.Process().children()}
    t0 = time.monotonic()
    with pytest.raises(Exception, match="synthetic failure in a worker"):
        run_generation(RunOptions(data=path, target_mb=20, seed=2, workers=2, start=START))
    assert time.monotonic() - t0 < 30
    m = read_manifest(path)
    assert m.state == "error" and "synthetic failure" in m.message
    assert path.read_bytes().endswith(b"\n") and not leftovers(path)
    assert not [c for c in psutil.Process().children() if c.pid not in others]


def test_simulated_span_reads_the_source_field_across_block_boundaries(tmp_path):
    from generator.resume import simulated_span

    path = tmp_path / "calls.csv"
    run_generation(RunOptions(data=path, target_mb=0.2, seed=4, start=START, workers=1))
    df = read_calls(path)
    odd = df.head(2).assign(source="metered", call_id=["m_0", "m_1"], scenario=",simulated")
    odd["timestamp"] = odd["timestamp"] + pd.Timedelta(days=400)
    CallStore(path).append(odd)
    first_ms, last_ms = (int(df["timestamp"].iloc[i].value // 1_000_000) for i in (0, -1))
    for block in (97, 4096, 1 << 20):  # lines cut by block edges
        assert simulated_span(path, block=block) == (first_ms, last_ms)
