"""The store's fsync runs after its lock is released: concurrent writers' fsyncs overlap, a failed
fsync takes its rows back unless another writer appended after them."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

from metering import store_append
from metering.store import CallStore, read_calls, read_calls_report


def _blocking_fsync(monkeypatch: pytest.MonkeyPatch, owner: str) -> tuple[threading.Event, threading.Event]:
    """os.fsync that holds the first call of the thread named ``owner`` until ``release`` is set
    (``entered`` tells)."""
    real = os.fsync
    entered, release = threading.Event(), threading.Event()

    def fsync(fd: int) -> None:
        if threading.current_thread().name == owner and not entered.is_set():
            entered.set()
            assert release.wait(10)
        real(fd)

    monkeypatch.setattr(store_append.os, "fsync", fsync)
    return entered, release


def test_another_writer_appends_while_an_fsync_is_under_way(tmp_path: Path, make_calls, monkeypatch) -> None:
    """Two processes' (here: two stores') appends: the second neither waits for the first one's fsync
    nor returns before its own rows are durable; every row is there once."""
    path = tmp_path / "c.csv"
    CallStore(path).append(make_calls(1))
    done: list[int] = []
    entered, release = _blocking_fsync(monkeypatch, "first")
    first = threading.Thread(
        target=lambda: done.append(CallStore(path).append(make_calls(3, start=1))), name="first"
    )
    first.start()
    try:
        assert entered.wait(10)  # the first append's rows are written, its fsync is held
        second = threading.Thread(target=lambda: done.append(CallStore(path).append(make_calls(2, start=4))))
        second.start()
        second.join(5)
        assert not second.is_alive(), "the second append waited for the first one's fsync (lock held)"
        assert done == [2] and first.is_alive()
    finally:
        release.set()
        first.join(10)
    assert sorted(done) == [2, 3]
    frame = read_calls(path)
    assert len(frame) == 6 and frame["call_id"].is_unique


def test_a_failed_fsync_takes_its_rows_back(tmp_path: Path, make_calls, monkeypatch) -> None:
    path = tmp_path / "c.csv"
    store = CallStore(path)
    store.append(make_calls(2))
    before = path.read_bytes()

    def fail(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(store_append.os, "fsync", fail)
    with pytest.raises(OSError, match="Input/output"):
        store.append(make_calls(5, start=2))
    assert path.read_bytes() == before


def test_a_failed_fsync_never_cuts_off_rows_appended_after_it(
    tmp_path: Path, make_calls, monkeypatch, caplog
):
    """Another writer appended (and fsynced) after the failed append's rows: those rows are not
    truncated away; the failed rows stay (logged) and the failing append still raises."""
    path = tmp_path / "c.csv"
    CallStore(path).append(make_calls(1))
    real = os.fsync
    entered, release = threading.Event(), threading.Event()
    failed: list[BaseException] = []

    def fsync(fd: int) -> None:
        if threading.current_thread().name == "failing":
            entered.set()
            assert release.wait(10)
            raise OSError(errno.EIO, "Input/output error")
        real(fd)

    def failing() -> None:
        try:
            CallStore(path).append(make_calls(3, start=1))
        except OSError as exc:
            failed.append(exc)

    monkeypatch.setattr(store_append.os, "fsync", fsync)
    thread = threading.Thread(target=failing, name="failing")
    thread.start()
    assert entered.wait(10)
    assert CallStore(path).append(make_calls(2, start=4)) == 2  # appended after the failing rows
    release.set()
    thread.join(10)
    assert (
        failed and isinstance(failed[0], store_append.UnsyncedRowsKept) and "Input/output" in str(failed[0])
    )
    report = read_calls_report(path)
    assert report.malformed == [] and len(report.frame) == 6  # the later rows are all there
    assert "after another writer appended" in caplog.text
