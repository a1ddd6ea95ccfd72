"""One record must never stop ingest: poison records get a named 4xx and the next record its 2xx at once;
a writer failure fails its own batch alone, leaves nothing half-written, and the writer keeps serving;
the status route needs a key, reports the writer's health and shows no file-system path."""

from __future__ import annotations

import errno
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

import metering.store_append as store_module
from ingest.idempotency import IdempotencyLedger, ledger_path
from ingest.mapping import map_revenium
from ingest.writer import GroupCommitWriter
from metering.prices import load_catalog
from metering.store import CallStore, read_calls, read_calls_report
from tests.ingest.ingest_helpers import BATCH, KEY, SINGLE, ingest_server, wire_record

STATUS = "/meter/v2/status"
HEADERS = {"x-api-key": KEY, "Content-Type": "application/json"}

#: (name, body bytes, the wire field the 4xx must name, or None for a body-level refusal)
POISON: list[tuple[str, bytes, str | None]] = []


def _poison(name: str, field: str | None, **overrides: Any) -> None:
    body = json.dumps(wire_record(**overrides)).encode()  # ensure_ascii: "\ud800" travels as an escape
    POISON.append((name, body, field))


_poison("lone high surrogate in organizationName", "organizationName", organizationName="\ud800")
_poison("lone low surrogate in transactionId", "transactionId", transactionId="txn_\udfff")
_poison("half an emoji in model", "model", model="gpt-4o\ud83d")
_poison("surrogate in subscriber.id", "subscriber.id", subscriber={"id": "\udc80cust"})
_poison("escape character in productName", "productName", productName="prod\x1b[31m")
_poison("bell in agent", "agent", agent="\x07chat")
_poison("DEL in taskType", "taskType", taskType="qa\x7f")
_poison("C1 next-line in region", "region", region="us\x85east")
_poison("NUL in organizationName", "organizationName", organizationName="org\x00")
_poison("line break in model", "model", model="gpt-4o\nmodel")
_poison("right-to-left override in transactionId", "transactionId", transactionId="txn\u202egpj.exe")
_poison("bidi isolate in traceId", "traceId", traceId="\u2066trace")
_poison("zero-width space in sessionId", "sessionId", sessionId="sess\u200b1")
_poison("lone space as transactionId", "transactionId", transactionId=" ")
_poison("markup as transactionId", "transactionId", transactionId="<script>alert(1)</script>")
_poison("leading whitespace in subscriber.id", "subscriber.id", subscriber={"id": "\tcust_1"})
_poison("line separator in organizationName", "organizationName", organizationName="org\u2028x")
_poison("1 MB organizationName", None, organizationName="x" * 1_000_000)
_poison("1 MB transactionId", None, transactionId="t" * 1_000_000)
POISON.append(("invalid UTF-8 bytes", json.dumps(wire_record()).encode()[:-2] + b'"\xff\xfe"}', None))
POISON.append(("overlong UTF-8 encoding", b'{"transactionId":"\xc0\xaf"}', None))
assert len(POISON) == 21


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with ingest_server(tmp_path_factory.mktemp("hostile") / "calls.csv") as (srv, state):
        yield srv, state


@pytest.mark.parametrize(("name", "body", "field"), POISON, ids=[p[0] for p in POISON])
def test_poison_record_gets_a_4xx_and_the_next_record_its_2xx_within_a_second(served, name, body, field):
    srv, state = served
    before = len(read_calls(state.data_path)) if state.data_path.exists() else 0
    answer = requests.post(srv.url + SINGLE, data=body, headers=HEADERS, timeout=30)
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])
    if field is not None:
        assert answer.status_code == 422
        assert field in {p["field"] for p in answer.json()["problems"]}, answer.json()
    batch = b"[" + body + b"]"
    assert 400 <= requests.post(srv.url + BATCH, data=batch, headers=HEADERS, timeout=30).status_code < 500
    started = time.monotonic()
    good = requests.post(srv.url + SINGLE, json=wire_record(), headers={"x-api-key": KEY}, timeout=30)
    assert good.status_code == 201, good.text
    assert time.monotonic() - started < 1.0
    report = read_calls_report(state.data_path)
    assert report.malformed == [] and len(report.frame) == before + 1
    assert state.writer.health()["alive"] and state.writer.restarts == 0


def test_surrogate_is_named_with_its_reason(served):
    srv, _ = served
    answer = requests.post(
        srv.url + SINGLE, data=POISON[0][1], headers=HEADERS, timeout=30
    )  # organizationName "\ud800": the record that used to kill the writer
    problem = next(p for p in answer.json()["problems"] if p["field"] == "organizationName")
    assert "lone UTF-16 surrogate (U+D800)" in problem["reason"]


def test_mapping_refuses_every_named_poison_without_touching_the_writer():
    for name, body, field in POISON:
        if field is None:
            continue
        mapped = map_revenium(json.loads(body))
        assert mapped.record is None and field in {p.field for p in mapped.problems}, name


# --- the writer: a failing batch fails alone ------------------------------------------------------
@pytest.fixture
def writer(tmp_path: Path):
    path = tmp_path / "calls.csv"
    ledger = IdempotencyLedger(ledger_path(path))
    w = GroupCommitWriter(CallStore(path), load_catalog(), ledger)
    yield w
    w.close()
    ledger.close()


def _records(n: int, **overrides: Any) -> list[dict[str, Any]]:
    out = []
    for _ in range(n):
        mapped = map_revenium(wire_record(**overrides))
        assert mapped.record is not None
        out.append(mapped.record)
    return out


def test_failure_in_the_middle_of_a_write_leaves_nothing_half_written(writer, monkeypatch):
    assert writer.submit(_records(3), []).error is None
    path = writer.store.path
    before = path.read_bytes()
    real = store_module._write_all

    def half_then_disk_full(fd: int, data: bytes) -> None:
        real(fd, data[: len(data) // 2])  # half of the batch reaches the file ...
        raise OSError(errno.ENOSPC, "No space left on device", str(path))  # ... then the disk is full

    monkeypatch.setattr(store_module, "_write_all", half_then_disk_full)
    failed = writer.submit(_records(50), [], timeout=10)
    assert failed.error is not None and failed.failed
    assert "No space left on device" in failed.error and str(path) not in failed.error
    assert path.read_bytes() == before  # the half-written rows were taken back

    monkeypatch.setattr(store_module, "_write_all", real)
    ok = writer.submit(_records(4), [], timeout=10)
    assert ok.error is None and len(ok.costs) == 4
    report = read_calls_report(path)
    assert report.malformed == [] and len(report.frame) == 7
    health = writer.health()
    assert health["alive"] and health["failed_batches"] == 1 and health["restarts"] == 0
    assert health["last_error"]["request_ids"] == [failed.request_id]
    assert health["last_error"]["error"] == "OSError: No space left on device"
    assert str(path) not in json.dumps(health)


def _write_as_one_group(
    writer: GroupCommitWriter, monkeypatch: pytest.MonkeyPatch, append: Any, groups: dict[str, list]
) -> dict[str, Any]:
    """Submit one record ("first"), hold its write until the jobs of ``groups`` (name -> records) are all
    queued, so the writer drains them as one group; ``append(real_append, call_number, build, rows)``
    stands for ``CallStore._append``. Returns each name's job."""
    gate, entered = threading.Event(), threading.Event()
    real_append = writer.store._append  # under both the Arrow path and the writer's fast path
    calls = {"n": 0}

    def held_append(build: Any, rows: int) -> int:
        calls["n"] += 1
        if not gate.is_set():  # hold the first write until the other requests are queued
            entered.set()
            gate.wait(10)
            return real_append(build, rows)
        return append(real_append, calls["n"], build, rows)

    monkeypatch.setattr(writer.store, "_append", held_append)
    results: dict[str, Any] = {}

    def send(name: str, records: list[dict[str, Any]]) -> None:
        results[name] = writer.submit(records, [], timeout=20)

    first = threading.Thread(target=send, args=("first", _records(1)))
    first.start()
    assert entered.wait(10)
    threads = [threading.Thread(target=send, args=item) for item in groups.items()]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while writer.health()["queue_depth"] < len(groups) and time.monotonic() < deadline:
        time.sleep(0.01)
    gate.set()
    for t in [first, *threads]:
        t.join(20)
    results["appends"] = calls["n"]
    return results


def test_a_poisoned_request_in_a_group_fails_alone(writer, monkeypatch):
    """Requests drained together are written as one group; when the group fails, each is retried
    alone, so only the request that caused the failure gets the error."""
    poisoned = _records(1)[0] | {"organization_id": "org_\ud800"}  # past validation: a bug upstream
    results = _write_as_one_group(
        writer,
        monkeypatch,
        lambda real, n, build, rows: real(build, rows),
        {"a": _records(2), "poisoned": [poisoned], "b": _records(3)},
    )
    assert results["first"].error is None and results["a"].error is None and results["b"].error is None
    assert results["poisoned"].failed and "UnicodeEncodeError" in results["poisoned"].error
    frame = read_calls(writer.store.path)
    assert len(frame) == 1 + 2 + 3 and set(frame["organization_id"]) == {"org_acme"}
    assert writer.submit(_records(1), []).error is None  # and the writer keeps serving


def test_a_group_whose_rows_stayed_after_a_failed_fsync_is_not_retried(writer, monkeypatch):
    """The store kept a group's rows after its fsync failed (another writer had appended behind them):
    every request of the group fails at once; none is retried alone, which would store its rows twice."""

    def append_then_fsync_fails(real: Any, n: int, build: Any, rows: int) -> int:
        real(build, rows)
        raise store_module.UnsyncedRowsKept(errno.EIO, "fsync failed; the rows stay in the file")

    results = _write_as_one_group(
        writer, monkeypatch, append_then_fsync_fails, {"a": _records(2), "b": _records(3)}
    )
    assert results["first"].error is None
    assert results["a"].failed and results["b"].failed and "fsync failed" in results["a"].error
    assert results["appends"] == 2  # the group of a and b was written once, not retried request by request
    assert len(read_calls(writer.store.path)) == 1 + 2 + 3  # their rows once each, never twice


class _Fatal(BaseException):
    """Stands for whatever could end a thread despite the writer's own error handling."""


def test_supervisor_restarts_a_writer_thread_that_died(writer, monkeypatch, caplog):
    real_write = writer._write
    calls = {"n": 0}

    def dying_write(jobs: list[Any]) -> bool:
        calls["n"] += 1
        if calls["n"] == 1:
            raise _Fatal("writer thread killed")
        return real_write(jobs)

    monkeypatch.setattr(writer, "_write", dying_write)
    caplog.set_level(logging.ERROR, logger="ingest.writer")
    started = time.monotonic()
    lost = writer.submit(_records(1), [], timeout=30)
    assert lost.failed and "stopped" in lost.error
    assert time.monotonic() - started < 5  # failed by the supervisor, not after the 30 s timeout
    ok = writer.submit(_records(2), [], timeout=10)
    assert ok.error is None
    health = writer.health()
    assert health["alive"] and health["restarts"] == 1
    assert "restarted" in caplog.text
    assert len(read_calls(writer.store.path)) == 2


# --- over HTTP: 500 with a request id, logged; the next request succeeds ----------------------------
def test_write_failure_answers_500_with_a_logged_request_id(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.ERROR)
    with ingest_server(tmp_path / "calls.csv") as (srv, state):
        real = state.writer.store._append  # under both the Arrow path and the writer's fast path
        monkeypatch.setattr(state.writer.store, "_append", lambda build, rows: 1 / 0)
        answer = requests.post(
            srv.url + SINGLE,
            json=wire_record(),
            headers={"x-api-key": KEY, "X-Request-Id": "req-42"},
            timeout=30,
        )
        assert answer.status_code == 500
        body = answer.json()
        assert body["requestId"] == "req-42" and "req-42" in body["error"]
        assert "ZeroDivisionError" in body["error"]
        assert "req-42" in caplog.text
        monkeypatch.setattr(state.writer.store, "_append", real)
        assert (
            requests.post(srv.url + SINGLE, json=wire_record(), headers={"x-api-key": KEY}).status_code == 201
        )
        generated = requests.post(srv.url + BATCH, data=b"[1]", headers=HEADERS, timeout=30)
        assert generated.status_code == 422


def test_status_needs_a_key_reports_writer_health_and_no_paths(tmp_path):
    with ingest_server(tmp_path / "calls.csv") as (srv, state):
        assert requests.get(srv.url + STATUS, timeout=10).status_code == 401
        assert requests.get(srv.url + STATUS, headers={"x-api-key": "nope"}, timeout=10).status_code == 403
        assert (
            requests.post(srv.url + SINGLE, json=wire_record(), headers={"x-api-key": KEY}).status_code == 201
        )
        answer = requests.get(srv.url + STATUS, headers={"x-api-key": KEY}, timeout=10)
        assert answer.status_code == 200
        status = answer.json()
        writer = status["writer"]
        assert writer["alive"] is True and writer["queue_depth"] == 0 and writer["rows_written"] == 1
        assert writer["last_error"] is None and writer["restarts"] == 0
        assert str(tmp_path) not in answer.text and "data_path" not in status
    with ingest_server(tmp_path / "off.csv", keys=[]) as (srv, _):
        off = requests.get(srv.url + STATUS, timeout=10)  # ingest off: no key exists to ask for
        assert off.status_code == 200 and off.json()["enabled"] is False
        assert set(off.json()) == {"enabled", "message"}


def test_otlp_member_name_with_a_lone_surrogate_is_a_400_naming_it(served):
    """Found by the volume fuzz: protobuf failed inside its C code on such a name (a 500)."""
    srv, _ = served
    export = {"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "chat", "x\udfff": 1}]}]}]}
    body = json.dumps(export).encode()  # the \udfff escape without its pair, as JSON carries it
    answer = requests.post(
        srv.url + "/v1/traces", data=body, headers=HEADERS | {"Content-Type": "application/json"}, timeout=30
    )
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert "$.resourceSpans[0].scopeSpans[0].spans[0]" in error and "U+DFFF" in error, error
