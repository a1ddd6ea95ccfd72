"""Several writer processes and a live reader on one store: whole lines, every row once, in order."""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metering.schema import COLUMN_NAMES
from metering.store import CallStore, IncrementalReader, header_line, read_calls_report

CTX = mp.get_context("fork")  # children inherit the test's builders without pickling


def _writer(path: Path, make: Callable[..., pd.DataFrame], worker: int, rows: int, batch: int) -> None:
    store = CallStore(path)
    for start in range(0, rows, batch):
        store.append(make(min(batch, rows - start), start=start, prefix=f"w{worker}_"))


def _run(procs: list) -> None:
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0, f"writer {p.name} failed with exit code {p.exitcode}"


@pytest.mark.slow
def test_four_writer_processes_leave_exactly_all_rows_whole(tmp_path: Path, make_calls) -> None:
    path = tmp_path / "calls.csv"
    per_worker = 25_000
    procs = [
        CTX.Process(target=_writer, args=(path, make_calls, w, per_worker, 500), name=f"w{w}")
        for w in range(4)
    ]
    _run(procs)

    raw = path.read_bytes()
    assert raw.endswith(b"\n")
    lines = raw.split(b"\n")[:-1]
    assert lines[0] == header_line().rstrip(b"\n")
    assert sum(1 for line in lines if line.startswith(b"timestamp,")) == 1, "header written more than once"
    body = lines[1:]
    assert len(body) == 4 * per_worker
    commas = np.array([line.count(b",") for line in body])
    assert (commas == len(COLUMN_NAMES) - 1).all(), "an interleaved or torn line"

    report = read_calls_report(path)
    assert report.malformed == []
    ids = report.frame["call_id"]
    assert len(ids) == 4 * per_worker
    assert ids.is_unique
    expected = {f"w{w}_{i:08d}" for w in range(4) for i in range(per_worker)}
    assert set(ids) == expected
    # each writer's rows stay in that writer's order
    for w in range(4):
        mine = ids[ids.str.startswith(f"w{w}_")].to_numpy()
        assert (mine == np.array([f"w{w}_{i:08d}" for i in range(per_worker)])).all()


def _paced_writer(path: Path, make: Callable[..., pd.DataFrame], sizes: list[int]) -> None:
    store = CallStore(path)
    start = 0
    for size in sizes:
        store.append(make(size, start=start, prefix="live_"))
        start += size
        time.sleep(0.002)


@pytest.mark.slow
def test_reader_polling_during_appends_sees_every_row_once_in_order(tmp_path: Path, make_calls) -> None:
    path = tmp_path / "calls.csv"
    rng = np.random.default_rng(7)
    sizes = [int(s) for s in rng.integers(1, 2_500, size=60)]
    total = sum(sizes)
    CallStore(path).reset()
    reader = IncrementalReader(path)
    writer = CTX.Process(target=_paced_writer, args=(path, make_calls, sizes))
    writer.start()
    seen: list[np.ndarray] = []
    polls = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        alive = writer.is_alive()
        result = reader.poll()
        polls += 1
        assert not result.reset
        assert result.malformed == [], "the reader took a partial row for data"
        if len(result.frame):
            assert result.frame["call_id"].str.fullmatch(r"live_\d{8}").all()
            assert (result.frame["input_tokens"] >= 100).all()
            seen.append(result.frame["call_id"].to_numpy())
        if not alive:
            break
    writer.join(10)
    assert writer.exitcode == 0
    ids = np.concatenate(seen)
    assert len(ids) == total
    assert (ids == np.array([f"live_{i:08d}" for i in range(total)])).all()
    assert polls > 2
    assert reader.rows_total == total
