"""Group commit under concurrent load: past ``commit_delay`` the writer lingers only while a request is
still on its way to ``submit`` (``arriving``), never past ``max_linger``, and never for a lone client."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from ingest.idempotency import IdempotencyLedger
from ingest.mapping import map_revenium
from ingest.writer import GroupCommitWriter, Job
from metering.prices import load_catalog
from metering.store import CallStore, read_calls
from tests.ingest.ingest_helpers import wire_record


def _record() -> dict[str, Any]:
    mapped = map_revenium(wire_record(), user_agent="sdk/1.0")
    assert mapped.record is not None
    return mapped.record


@pytest.fixture
def make_writer(tmp_path: Path):
    made: list[tuple[GroupCommitWriter, IdempotencyLedger]] = []

    def make(**options: Any) -> GroupCommitWriter:
        ledger = IdempotencyLedger(tmp_path / "ledger.sqlite")
        writer = GroupCommitWriter(CallStore(tmp_path / "calls.csv"), load_catalog(), ledger, **options)
        made.append((writer, ledger))
        return writer

    yield make
    for writer, ledger in made:
        writer.close()
        ledger.close()


def _concurrent(writer: GroupCommitWriter) -> None:
    """Two requests drained together: from now on the writer lingers (as under concurrent load)."""
    gate = threading.Event()
    real = writer.store._append

    def held(build: Any, rows: int) -> int:
        gate.wait(10)
        return real(build, rows)

    writer.store._append = held  # type: ignore[method-assign]
    first = threading.Thread(target=writer.submit, args=([_record()], []))
    first.start()
    while writer.health()["queue_depth"] or not writer._current:
        time.sleep(0.005)
    pair = [threading.Thread(target=writer.submit, args=([_record()], [])) for _ in range(2)]
    for t in pair:
        t.start()
    while writer.health()["queue_depth"] < 2:
        time.sleep(0.005)
    gate.set()
    for t in [first, *pair]:
        t.join(10)
    writer.store._append = real  # type: ignore[method-assign]
    assert writer._concurrent


def test_a_request_still_validating_joins_the_commit_past_commit_delay(make_writer):
    writer = make_writer(commit_delay=0.01, max_linger=30.0)
    _concurrent(writer)
    batches = writer.batches
    results: dict[str, Job] = {}
    with writer.arriving() as arrival:
        early = threading.Thread(target=lambda: results.update(early=writer.submit([_record()], [])))
        early.start()
        time.sleep(0.3)  # far past commit_delay: the writer is still waiting for the arriving request
        assert "early" not in results
        results["late"] = writer.submit([_record()], [], arrival=arrival)
    early.join(10)
    assert results["early"].error is None and results["late"].error is None
    assert writer.batches == batches + 1  # one commit for both
    assert len(read_calls(writer.store.path)) == 3 + 2


def test_a_request_that_never_submits_does_not_hold_the_commit(make_writer):
    writer = make_writer(commit_delay=0.01, max_linger=30.0)
    _concurrent(writer)
    results: dict[str, Job] = {}
    with writer.arriving():  # e.g. a body answered with a 422: it leaves without submitting
        waiting = threading.Thread(target=lambda: results.update(job=writer.submit([_record()], [])))
        waiting.start()
        time.sleep(0.1)
    waiting.join(10)  # released once nothing is arriving, long before max_linger
    assert not waiting.is_alive() and results["job"].error is None


def test_max_linger_bounds_the_wait(make_writer):
    writer = make_writer(commit_delay=0.01, max_linger=0.2)
    _concurrent(writer)
    with writer.arriving():  # stays open: only max_linger ends the wait
        job = writer.submit([_record()], [], timeout=10)
        assert job.error is None


def test_a_lone_client_is_written_at_once(make_writer):
    writer = make_writer(commit_delay=30.0, max_linger=30.0)
    with writer.arriving() as other:  # another request arriving does not delay a lone client's commit
        job = writer.submit([_record()], [], timeout=10)
        assert job.error is None and not writer._concurrent
        other.end()
