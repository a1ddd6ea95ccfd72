"""Whole runs: the CSV, the manifest, pool/merger guarantees, the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from generator_testkit import START

from cli import main as cli_main
from generator.run import MB, RunError, RunOptions, run_generation
from generator.scenarios import NAMES
from metering.manifest import read_manifest
from metering.prices import load_catalog
from metering.schema import ERROR_STOP_REASONS, TIERS
from metering.store import CallStore, read_calls

REPO = Path(__file__).resolve().parents[2]


def shards_left(path: Path) -> list[Path]:
    return list(path.parent.glob(f".{path.name}.shards-*"))


def test_default_run_covers_a_month_with_every_model_scenario_and_tier(default_run):
    path, result = default_run
    size = path.stat().st_size
    assert result.state == "done"
    assert 0.99 * 50 * MB <= size <= 50 * MB  # within 1 % of the target, never above it
    assert path.read_bytes().endswith(b"\n")
    df = read_calls(path)
    assert len(df) == result.totals.rows
    days = (df["timestamp"].max() - df["timestamp"].min()).total_seconds() / 86400
    assert days >= 28
    assert df["timestamp"].is_monotonic_increasing
    assert df["call_id"].is_unique
    assert set(df["model"].unique()) == set(load_catalog().models())  # all 24
    assert len(df["model"].unique()) == 24
    assert set(df["scenario"].unique()) == set(NAMES)
    assert set(df["subscription_tier"].unique()) == set(TIERS)
    assert (df["source"] == "simulated").all()
    assert not shards_left(path)
    m = read_manifest(path)
    assert m.state == "done" and m.rows == len(df) and m.bytes == size and m.progress == 1.0
    assert sum(m.rows_by_scenario.values()) == len(df)
    assert m.simulated_until.startswith(str(df["timestamp"].max().date()))


def test_every_row_costs_the_catalog_price_of_its_tokens(default_run):
    path, _ = default_run
    df = read_calls(path)
    expected = load_catalog().price_frame(df)
    assert not np.isnan(df["cost_usd"]).any()
    assert np.allclose(df["cost_usd"].to_numpy(), expected, rtol=0, atol=6e-10)  # stored to 1e-9 USD
    failed = df["stop_reason"].isin(ERROR_STOP_REASONS)
    assert (df.loc[failed, "output_tokens"] == 0).all()
    assert (df["cached_tokens"] <= df["input_tokens"]).all()
    thinking = {
        m
        for m in df["model"].unique()
        if load_catalog()
        .current(*next((p, m) for (p, mm) in load_catalog().prices if mm == m))
        .supports_reasoning
    }
    assert set(df.loc[df["reasoning_tokens"] > 0, "model"].unique()) <= thinking
    env = df["environment"].value_counts(normalize=True)
    assert abs(env["production"] - 0.95) < 0.01


@pytest.mark.slow
def test_same_seed_same_bytes_with_one_two_or_four_workers(tmp_path):
    """One process, or a merger with 2 or 4 scenario workers: byte-identical files."""
    runs = {}
    for workers in (1, 2, 4):
        path = tmp_path / f"w{workers}.csv"
        res = run_generation(RunOptions(data=path, target_mb=3, seed=5, workers=workers, start=START))
        assert res.state == "done" and res.workers == workers
        runs[workers] = path.read_bytes()
    assert runs[1] == runs[2] == runs[4]
    c = tmp_path / "other.csv"
    run_generation(RunOptions(data=c, target_mb=1, seed=6, workers=2, start=START))
    assert c.read_bytes()[:200_000] != runs[1][:200_000]


@pytest.mark.slow
def test_append_continues_time_without_overlap(tmp_path):
    single, split = tmp_path / "single.csv", tmp_path / "split.csv"
    run_generation(RunOptions(data=split, target_mb=1, seed=9, workers=2, start=START))
    first = read_calls(split)
    res = run_generation(RunOptions(data=split, target_mb=1, seed=9, workers=2, append=True))
    assert res.state == "done"
    both = read_calls(split)
    new = both.iloc[len(first) :]
    assert len(new) > 0 and new["timestamp"].min() > first["timestamp"].max()
    assert both["timestamp"].is_monotonic_increasing and both["call_id"].is_unique
    # the continuation is exactly what one longer run would have written
    run_generation(RunOptions(data=single, target_mb=2.5, seed=9, workers=2, start=START))
    joined, whole = split.read_bytes(), single.read_bytes()
    assert whole.startswith(joined)
    m = read_manifest(split)
    assert m.rows == len(both) and sum(m.rows_by_scenario.values()) == len(both)


def test_days_limit_and_scenario_subset(tmp_path):
    path = tmp_path / "calls.csv"
    res = run_generation(
        RunOptions(
            data=path, target_mb=100, days=2, seed=1, start=START, scenarios=("base_traffic", "viral_spike")
        )
    )
    df = read_calls(path)
    assert res.state == "done" and res.days == 2
    assert set(df["scenario"].unique()) == {"base_traffic", "viral_spike"}
    assert df["timestamp"].dt.date.nunique() == 2


def _spawn(path: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "cli", "generate", "--data", str(path), "--target-mb", "50",
           "--seed", "3", "--start", "2026-01-05", "--quiet", *extra]  # fmt: skip
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_rows(path: Path, proc: subprocess.Popen, rows: int = 1, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = read_manifest(path)
        if m is not None and m.state == "generating" and m.rows >= rows:
            assert m.pid == proc.pid
            return
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.05)
    raise AssertionError("the run never reported rows")


# SIGTERM in the quick loop, SIGINT with the slow tests (the same path, another signal)
@pytest.mark.parametrize("sig", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)])
def test_signal_stops_cleanly(tmp_path, sig):
    path = tmp_path / "calls.csv"
    proc = _spawn(path, "--pace", "live", "--speed", "86400", "--workers", "2")
    _wait_rows(path, proc)
    children = psutil.Process(proc.pid).children(recursive=True)
    assert sorted(c.name() for c in children) == ["rf-merger", "rf-worker-0", "rf-worker-1"]
    proc.send_signal(sig)
    assert proc.wait(20) == 128 + sig
    data = path.read_bytes()
    assert data.endswith(b"\n")
    df = read_calls(path)
    assert len(df) > 0 and df["timestamp"].is_monotonic_increasing
    m = read_manifest(path)
    assert m.state == "stopped" and m.rows == len(df) and m.bytes == len(data) and m.pid == proc.pid
    assert not shards_left(path)
    time.sleep(0.2)
    assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)


def test_live_pace_follows_the_wall_clock(tmp_path):
    path = tmp_path / "calls.csv"
    t0 = time.monotonic()
    rc = cli_main(["generate", "--data", str(path), "--target-mb", "50", "--days", "1", "--pace", "live",
                   "--speed", "172800", "--start", "2026-01-05", "--quiet", "--workers", "1"])  # fmt: skip
    assert rc == 0
    assert time.monotonic() - t0 >= 0.45  # one simulated day at 2 days/s takes ~0.5 s


def test_cli_summary_and_bad_options(tmp_path, capsys):
    path = tmp_path / "calls.csv"
    assert cli_main(["generate", "--data", str(path), "--target-mb", "0.5", "--start", "2026-01-05"]) == 0
    out = capsys.readouterr().out
    for word in ("calls", "customers", "organizations", "providers", "models", "total cost", "tokens",
                 "cost per call", "date range", "mix by scenario", "base_traffic"):  # fmt: skip
        assert word in out
    assert cli_main(["generate", "--data", str(path), "--scenarios", "base_traffic,nope,zap"]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "zap" in err and "viral_spike" in err  # unknown ones and the known list
    assert cli_main(["generate", "--data", str(path), "--target-mb", "-5"]) == 2
    assert "--target-mb must be > 0" in capsys.readouterr().err
    assert cli_main(["generate", "--data", str(path), "--customers", "0"]) == 2
    assert cli_main(["generate", "--data", str(path), "--workers", "0"]) == 2
    with pytest.raises(RunError, match="speed"):
        RunOptions(data=path, pace="live", speed=0).validate()


def test_append_refuses_a_file_in_another_column_order(tmp_path):
    path = tmp_path / "calls.csv"
    path.write_text("call_id,timestamp\nx,2026-01-01T00:00:00.000Z\n")
    with pytest.raises(Exception, match="column"):
        run_generation(RunOptions(data=path, target_mb=1, append=True))
    assert path.read_text().startswith("call_id,timestamp")  # untouched


@pytest.mark.slow
def test_manifest_is_json_with_pid_while_generating(tmp_path):
    path = tmp_path / "calls.csv"
    proc = _spawn(path, "--pace", "live", "--speed", "86400", "--workers", "1")
    try:
        _wait_rows(path, proc)
        doc = json.loads(path.with_suffix(".manifest.json").read_text())
        assert doc["state"] == "generating" and doc["pid"] == proc.pid and 0 < doc["progress"] < 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    assert os.path.exists(path)


def test_refuses_to_write_while_another_run_generates(tmp_path):
    from metering.manifest import Manifest, write_manifest

    path = tmp_path / "calls.csv"
    run_generation(RunOptions(data=path, target_mb=0.2, start=START, workers=1))
    before = path.read_bytes()
    write_manifest(path, Manifest(state="generating", pid=os.getppid()))  # a live process that is not us
    with pytest.raises(RunError, match="another run"):
        run_generation(RunOptions(data=path, target_mb=0.2, start=START, workers=1))
    assert path.read_bytes() == before


def test_append_without_a_manifest_counts_the_existing_rows(tmp_path):
    path = tmp_path / "calls.csv"
    run_generation(RunOptions(data=path, target_mb=0.3, start=START, workers=1))
    rows = len(read_calls(path))
    path.with_suffix(".manifest.json").unlink()
    res = run_generation(RunOptions(data=path, target_mb=0.3, workers=1, append=True))
    assert read_manifest(path).rows == rows + res.totals.rows == len(read_calls(path))


def test_a_new_run_keeps_rows_from_real_metering(tmp_path):
    """Generate starts a new simulation, but metered rows already in the file are real data: kept."""
    path = tmp_path / "calls.csv"
    run_generation(RunOptions(data=path, target_mb=0.3, start=START, workers=1))
    first = read_calls(path)
    metered = first.head(4).assign(source="metered", call_id=[f"real_{i}" for i in range(4)])
    CallStore(path).append(metered)
    res = run_generation(RunOptions(data=path, target_mb=0.3, seed=9, start=START, workers=1))
    df = read_calls(path)
    assert (df["source"] == "metered").sum() == 4
    assert set(df.loc[df["source"] == "metered", "call_id"]) == {f"real_{i}" for i in range(4)}
    assert (df["source"] == "simulated").sum() == res.totals.rows
    assert read_manifest(path).rows == len(df)


@pytest.mark.slow
def test_generated_ids_follow_the_schema_id_rule(default_run):
    """The generator writes only ids the schema's one id rule accepts (the rule ingest and validate use)."""
    from metering.schema import ID_COLUMNS, ids_valid
    from metering.store import read_calls

    path, _ = default_run
    frame = read_calls(path)
    for column in ID_COLUMNS:
        assert ids_valid(frame[column]).all(), column


def test_default_workers_are_the_cpus_other_processes_leave_idle(monkeypatch):
    from generator import cpus

    monkeypatch.setattr(cpus, "available_cpus", lambda: 4)
    busy = (0.0, 0.4, 0.6, 1.0, 2.5, 3.6, 9.0)
    assert [cpus.idle_cpus(b, machine=4) for b in busy] == [4, 4, 3, 3, 2, 1, 1]
    # others' share = the machine's busy time less this process's own, over the interval
    assert cpus.others_busy((0.0, 10.0, 1.0), (0.5, 11.3, 1.3)) == pytest.approx(2.0)
    assert cpus.others_busy((0.0, 10.0, 1.0), (0.5, 10.2, 1.3)) == 0.0  # never negative
    assert cpus.others_busy((0.0, 10.0, 1.0), (0.01, 10.0, 1.0)) is None  # too short to tell
    first = cpus.sample()
    assert first is None or first[1] > 0  # Linux: /proc/stat read
    import generator.run as run_module

    monkeypatch.setattr(run_module, "idle_cpus", lambda: 2)
    assert RunOptions(data=Path("x.csv"), target_mb=50).worker_count() == 2
    assert RunOptions(data=Path("x.csv"), target_mb=50, workers=3).worker_count() == 3  # as asked
    assert RunOptions(data=Path("x.csv"), target_mb=1).worker_count() == 1  # small: one process
    assert RunOptions(data=Path("x.csv"), target_mb=50, pace="live").worker_count() == 1
