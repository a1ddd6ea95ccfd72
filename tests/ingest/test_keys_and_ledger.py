"""API keys from the environment and a keys file (rotated without restart), and the ledger's 24 h promise."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import requests
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.auth import KEYS_ENV, KEYS_FILE_ENV, ApiKeys, parse_keys
from ingest.idempotency import (
    CONFLICT,
    DEFAULT_TTL_SECONDS,
    DUPLICATE,
    NEW,
    Entry,
    IdempotencyLedger,
    LedgerBusy,
    body_digest,
)
from ingest.routes import register_ingest
from ingest.serving import BackgroundServer
from ingest.writer import stamp_instants
from metering.prices import load_catalog
from metering.store import read_calls
from tests.ingest.ingest_helpers import BATCH, SINGLE, ingest_server, wire_record

OTLP = "/v1/traces"
HOUR = 3600.0


def post(url: str, headers: dict[str, str]) -> int:
    return requests.post(url + SINGLE, json=wire_record(), headers=headers, timeout=10).status_code


def test_keys_come_from_the_comma_separated_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(KEYS_ENV, " alpha , ,beta,alpha ")
    monkeypatch.delenv(KEYS_FILE_ENV, raising=False)
    with ingest_server(tmp_path / "calls.csv", from_environment=True) as (srv, state):
        assert state.keys.keys == ["alpha", "beta"]  # blanks dropped, duplicates once
        assert post(srv.url, {"x-api-key": "alpha"}) == 201
        assert post(srv.url, {"Authorization": "Bearer beta"}) == 201
        assert post(srv.url, {"x-api-key": "gamma"}) == 403
        assert post(srv.url, {}) == 401
    assert len(read_calls(tmp_path / "calls.csv")) == 2


def test_keys_file_turns_ingest_on_rotates_and_revokes_without_restart(tmp_path, monkeypatch):
    keys_file = tmp_path / "keys.txt"
    monkeypatch.delenv(KEYS_ENV, raising=False)
    monkeypatch.setenv(KEYS_FILE_ENV, str(keys_file))
    with ingest_server(tmp_path / "calls.csv", from_environment=True) as (srv, state):
        assert post(srv.url, {"x-api-key": "team-a"}) == 503  # no file yet: ingest is off
        status = requests.get(srv.url + "/meter/v2/status", timeout=10).json()
        assert status["enabled"] is False and KEYS_FILE_ENV in status["message"]

        keys_file.write_text("# ingest keys\nteam-a\n\nteam-b  # the billing service\n")
        assert post(srv.url, {"x-api-key": "team-a"}) == 201
        assert post(srv.url, {"x-api-key": "team-b"}) == 201
        status = requests.get(srv.url + "/meter/v2/status", headers={"x-api-key": "team-a"}, timeout=10)
        assert status.json()["enabled"] is True

        keys_file.write_text("team-b\nteam-c\n")  # team-a revoked, team-c added
        st = keys_file.stat()
        os.utime(keys_file, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # a visible change
        assert post(srv.url, {"x-api-key": "team-a"}) == 403
        assert post(srv.url, {"x-api-key": "team-c"}) == 201
    assert len(read_calls(tmp_path / "calls.csv")) == 3


def test_otlp_route_uses_the_same_authentication(tmp_path, monkeypatch):
    monkeypatch.setenv(KEYS_ENV, "otlp-key")
    monkeypatch.delenv(KEYS_FILE_ENV, raising=False)
    body = json.dumps({"resourceSpans": []})
    headers = {"Content-Type": "application/json"}
    with ingest_server(tmp_path / "calls.csv", from_environment=True) as (srv, _):
        assert requests.post(srv.url + OTLP, data=body, headers=headers, timeout=10).status_code == 401
        wrong = headers | {"x-api-key": "nope"}
        assert requests.post(srv.url + OTLP, data=body, headers=wrong, timeout=10).status_code == 403
        right = headers | {"x-api-key": "otlp-key"}
        assert requests.post(srv.url + OTLP, data=body, headers=right, timeout=10).status_code == 200


def test_parse_keys_file_layout():
    assert parse_keys("a\n# comment\n b # trailing\n\na\n", "\n") == ["a", "b"]
    assert ApiKeys([]).enabled is False and ApiKeys(["k"]).enabled is True


def age_key(path, key: str, seconds: float) -> None:
    """Make a committed key look ``seconds`` old, as if the server had been down that long."""
    with sqlite3.connect(path) as con:
        con.execute("UPDATE idempotency SET created = ? WHERE key = ?", (time.time() - seconds, key))


@pytest.mark.parametrize("age_hours", [1, 23, 24, 47])
def test_a_key_is_kept_for_at_least_24_hours_across_restarts(tmp_path, age_hours):
    assert DEFAULT_TTL_SECONDS >= 24 * HOUR
    path = tmp_path / "ledger.sqlite"
    first = IdempotencyLedger(path)
    assert first.claim("s:k", "digest-1")[0] == NEW
    first.commit([Entry("s:k", "digest-1", {"status": "stored", "id": "txn-1"})])
    first.close()
    age_key(path, "s:k", age_hours * HOUR)

    again = IdempotencyLedger(path)  # a restarted server
    outcome, response = again.claim("s:k", "digest-1")
    assert outcome == DUPLICATE and response == {"status": "stored", "id": "txn-1"}
    assert again.claim("s:k", "digest-2")[0] == CONFLICT
    again.close()


def test_a_key_older_than_the_ttl_counts_as_new(tmp_path):
    path = tmp_path / "ledger.sqlite"
    ledger = IdempotencyLedger(path)
    ledger.claim("s:old", "d")
    ledger.commit([Entry("s:old", "d", {"status": "stored"})])
    age_key(path, "s:old", DEFAULT_TTL_SECONDS + HOUR)
    assert ledger.claim("s:old", "other digest")[0] == NEW  # expired: no conflict, a new record
    ledger.release(["s:old"])
    ledger.close()


def test_an_unreadable_ledger_is_moved_aside_and_a_new_one_started(tmp_path):
    path = tmp_path / "ledger.sqlite"
    path.write_bytes(b"this is not a sqlite database" * 100)
    ledger = IdempotencyLedger(path)
    assert ledger.claim("s:k", "d")[0] == NEW
    ledger.release(["s:k"])
    ledger.close()
    assert [p.name for p in tmp_path.glob("ledger.sqlite.corrupt-*")]


_HOLD_WRITE_LOCK = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN IMMEDIATE")
con.execute("INSERT INTO inflight VALUES ('s:other', 'd', 1, 0)")
print("held", flush=True)
time.sleep(float(sys.argv[2]))
con.execute("COMMIT")
"""


def test_a_ledger_another_process_is_writing_is_waited_for_not_moved_aside(tmp_path, caplog):
    """Another process in a write transaction on a ledger still in rollback-journal mode (as a
    ledger is while its first opener switches it to WAL): sqlite answers the journal-mode switch
    "database is locked" at once, without waiting. That is not corruption: the ledger waits, opens the
    same file and keeps its keys (it used to move the file aside, losing the other process' keys)."""
    import subprocess
    import sys

    path = tmp_path / "ledger.sqlite"
    first = IdempotencyLedger(path)
    assert first.claim("s:kept", "d")[0] == NEW
    first.commit([Entry("s:kept", "d", {"status": "stored"})])
    first.close()
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=DELETE")
    con.close()
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_WRITE_LOCK, str(path), "0.5"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        ledger = IdempotencyLedger(path)
        waited = time.monotonic() - started
    finally:
        assert holder.wait(10) == 0
    assert waited >= 0.2  # it waited for the other process' transaction
    assert not list(tmp_path.glob("*.corrupt-*"))
    assert "unreadable" not in caplog.text
    assert ledger.claim("s:kept", "d")[0] == DUPLICATE
    assert ledger.count() == 1
    ledger.close()


def _open_and_commit(path: str, barrier, index: int) -> None:
    barrier.wait()
    ledger = IdempotencyLedger(Path(path))
    key = f"s:p{index}"
    assert ledger.claim(key, "d")[0] == NEW
    ledger.commit([Entry(key, "d", {"status": "stored"})])
    ledger.close()


@pytest.mark.parametrize("processes", [2, 4])
def test_processes_opening_one_new_ledger_at_once_never_move_it_aside_or_lose_a_key(tmp_path, processes):
    """``revenium-flow ingest --workers N`` starts N processes that open one new ledger at the same
    moment: none may take the others' lock for corruption (the ledger moved aside, their keys lost)."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    for trial in range(8):
        path = tmp_path / f"trial-{trial}" / "ledger.sqlite"
        barrier = ctx.Barrier(processes)
        procs = [ctx.Process(target=_open_and_commit, args=(str(path), barrier, i)) for i in range(processes)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(60)
        assert [proc.exitcode for proc in procs] == [0] * processes
        assert not list(path.parent.glob("*.corrupt-*"))
        ledger = IdempotencyLedger(path)
        assert ledger.count() == processes  # every process' key is there
        ledger.close()


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(value=_json_values)
def test_body_digest_is_the_sha256_of_the_documented_canonical_text(value):
    """The digest's encoder (no circular check, reused) gives the documented text: ledgers written by
    earlier versions keep matching; another spacing or key order is the same body."""
    import hashlib

    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True)
    assert body_digest(value) == hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    reordered = json.loads(json.dumps(_reversed_keys(value), indent=1))
    assert body_digest(reordered) == body_digest(json.loads(json.dumps(value)))


def _reversed_keys(value):
    if isinstance(value, dict):
        return {k: _reversed_keys(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reversed_keys(v) for v in value]
    return value


def test_ingest_prices_each_row_at_its_own_time(tmp_path):
    """A price change on a date: metered rows before and after it get the price in force at their time."""
    base = {"model": "m1", "litellm_provider": "acme", "output_cost_per_token": 0.0}
    catalog_file = tmp_path / "prices.json"
    catalog_file.write_text(
        json.dumps(
            {
                "models": [
                    {**base, "effective_from": "2026-01-01", "input_cost_per_token": 1e-6},
                    {**base, "effective_from": "2026-06-01", "input_cost_per_token": 2e-6},
                ]
            }
        )
    )
    catalog = load_catalog(catalog_file)
    stamps = ["2025-12-31T23:59:59.999Z", "2026-05-31T23:59:59.999Z", "2026-06-01T00:00:00.000Z"]
    # the writer's fast form (numpy datetime64 from the store's text) prices like the pandas form
    fast = stamp_instants(pa.array(stamps))
    slow = pd.Series(pd.to_datetime(stamps, utc=True))
    args = (["acme"] * 3, ["m1"] * 3, [1000] * 3, [0] * 3)
    assert np.array_equal(
        catalog.price_calls(*args, timestamp=fast), catalog.price_calls(*args, timestamp=slow), equal_nan=True
    )

    app = Flask("pricing-test")
    state = register_ingest(app, tmp_path / "calls.csv", api_keys=["k"], catalog=catalog)
    records = [
        wire_record(provider="acme", model="m1", inputTokenCount=1000, outputTokenCount=0, requestTime=t)
        | {"cacheReadTokenCount": 0}
        for t in stamps
    ]
    with BackgroundServer(app) as srv:
        answer = requests.post(srv.url + BATCH, json=records, headers={"x-api-key": "k"}, timeout=10)
    state.close()
    assert answer.status_code == 201 and answer.json()["unpriced"] == 1
    cost = read_calls(tmp_path / "calls.csv")["cost_usd"].to_numpy()
    assert np.isnan(cost[0]) and cost[1] == pytest.approx(1e-3) and cost[2] == pytest.approx(2e-3)


def claim_in_thread(ledger: IdempotencyLedger, key: str, digest: str) -> tuple[threading.Thread, list]:
    out: list = []

    def run() -> None:
        try:
            out.append(ledger.claim(key, digest)[0])
        except LedgerBusy as exc:
            out.append(exc)

    t = threading.Thread(target=run)
    t.start()
    return t, out


def test_a_second_request_with_an_in_flight_key_waits_for_the_first(tmp_path):
    ledger = IdempotencyLedger(tmp_path / "ledger.sqlite", wait_seconds=10)
    assert ledger.claim("s:a", "d")[0] == NEW
    assert ledger.claim("s:a", "other")[0] == CONFLICT  # another body never waits
    waiter, out = claim_in_thread(ledger, "s:a", "d")
    time.sleep(0.1)
    assert out == []  # still waiting for the first request's rows
    ledger.commit([Entry("s:a", "d", {"status": "stored"})])
    waiter.join(5)
    assert out == [DUPLICATE]

    assert ledger.claim("s:b", "d")[0] == NEW
    waiter, out = claim_in_thread(ledger, "s:b", "d")
    time.sleep(0.1)
    ledger.release(["s:b"])  # the first write failed: the waiter takes the key over
    waiter.join(5)
    assert out == [NEW]
    ledger.release(["s:b"])
    ledger.close()


def test_a_key_held_too_long_answers_busy(tmp_path):
    ledger = IdempotencyLedger(tmp_path / "ledger.sqlite", wait_seconds=0.2)
    assert ledger.claim("s:k", "d")[0] == NEW
    waiter, out = claim_in_thread(ledger, "s:k", "d")
    waiter.join(5)
    assert len(out) == 1 and isinstance(out[0], LedgerBusy)
    ledger.release(["s:k"])
    ledger.close()


def test_two_servers_on_one_csv_share_their_keys_in_flight(tmp_path):
    """The dashboard's built-in ingest beside ``revenium-flow ingest`` on the same file: every ledger
    records keys in flight in sqlite, so the same key sent to both is written once."""
    path = tmp_path / "ledger.sqlite"
    dashboard, standalone = IdempotencyLedger(path, wait_seconds=10), IdempotencyLedger(path, wait_seconds=10)
    assert dashboard.claim("s:k", "d")[0] == NEW
    assert standalone.claim("s:k", "other")[0] == CONFLICT
    waiter, out = claim_in_thread(standalone, "s:k", "d")
    time.sleep(0.2)
    assert out == []  # waits for the other server's write
    dashboard.commit([Entry("s:k", "d", {"status": "stored"})])
    waiter.join(5)
    assert out == [DUPLICATE]
    dashboard.close()
    standalone.close()


def test_a_mark_left_by_a_dead_or_ancient_claim_is_taken_over(tmp_path, monkeypatch):
    from ingest import idempotency

    path = tmp_path / "ledger.sqlite"
    ledger = IdempotencyLedger(path, wait_seconds=0.5)
    con = sqlite3.connect(path)
    con.execute("INSERT INTO inflight VALUES ('s:dead', 'd', 999999999, ?)", (time.time(),))
    con.execute("INSERT INTO inflight VALUES ('s:old', 'd', ?, ?)", (os.getppid(), time.time() - 3600))
    con.commit()
    con.close()
    monkeypatch.setattr(idempotency, "_alive", lambda pid: pid != 999999999)
    assert ledger.claim("s:dead", "d")[0] == NEW  # its process is gone
    assert ledger.claim("s:old", "d")[0] == NEW  # alive pid, but older than STALE_INFLIGHT_SECONDS
    ledger.release(["s:dead", "s:old"])
    ledger.close()
