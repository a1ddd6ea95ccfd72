"""The single-record route answered in front of Flask (``SingleRecordFastPath``) gives exactly the
answers of the Flask route for every kind of input, and stores the same rows."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.test import Client

from ingest.routes import SingleRecordFastPath, register_ingest
from metering.store import read_calls
from tests.ingest.ingest_helpers import KEY, SINGLE, wire_record


def _apps(tmp_path: Path) -> tuple[Client, Client, Any]:
    server = Flask("fast-path-test")
    state = register_ingest(server, tmp_path / "calls.csv", api_keys=[KEY])
    assert isinstance(server.wsgi_app, SingleRecordFastPath)
    return Client(server.wsgi_app), Client(server.wsgi_app.app), state  # fast path, Flask alone


def _cases() -> list[tuple[str, bytes, dict[str, str]]]:
    good = json.dumps(wire_record(transactionId="txn_same")).encode()
    other = json.dumps(wire_record(transactionId="txn_same", model="gpt-4o-mini")).encode()
    headers = {"x-api-key": KEY, "Content-Type": "application/json", "User-Agent": "sdk/1.0"}
    return [
        ("stored", good, headers),
        ("bearer", good, {"Authorization": f"Bearer {KEY}"}),
        ("idempotent", good, headers | {"Idempotency-Key": "k-1"}),
        ("replayed", good, headers | {"Idempotency-Key": "k-1"}),
        ("conflict", other, headers | {"Idempotency-Key": "k-1"}),
        ("bad key header", good, headers | {"Idempotency-Key": " "}),
        ("gzip", gzip.compress(good), headers | {"Content-Encoding": "gzip"}),
        ("unknown encoding", good, headers | {"Content-Encoding": "br"}),
        ("no key", good, {"Content-Type": "application/json"}),
        ("wrong key", good, {"x-api-key": "nope"}),
        ("not json", b"{nope", headers),
        ("array", b"[]", headers),
        ("missing fields", b'{"provider": "openai"}', headers),
        ("too large", b" " * (2 << 20), headers),
        ("request id", b"{}", headers | {"X-Request-Id": "req-7"}),
    ]


def test_fast_path_answers_exactly_as_the_flask_route(tmp_path: Path):
    fast, _, state = _apps(tmp_path / "fast")  # one server answered by the fast path
    _, flask_alone, other_state = _apps(tmp_path / "flask")  # another by the Flask route alone
    try:
        for name, body, headers in _cases():
            a = fast.post(SINGLE, data=body, headers=headers)
            b = flask_alone.post(SINGLE, data=body, headers=headers)
            assert a.status_code == b.status_code, name
            assert a.headers.get("Content-Type") == b.headers.get("Content-Type") == "application/json", name
            assert a.headers.get("Idempotent-Replayed") == b.headers.get("Idempotent-Replayed"), name
            assert json.loads(a.data) == json.loads(b.data), name
        assert state.counters.__dict__ | {"last_received_at": None} == other_state.counters.__dict__ | {
            "last_received_at": None
        }
        mine, theirs = (
            read_calls(tmp_path / "fast" / "calls.csv"),
            read_calls(tmp_path / "flask" / "calls.csv"),
        )
        assert len(mine) == len(theirs) == 4
        assert mine.equals(theirs)
    finally:
        state.close()
        other_state.close()


def test_other_routes_and_methods_go_to_flask(tmp_path: Path):
    fast, _, state = _apps(tmp_path)
    try:
        assert fast.get(SINGLE).status_code == 405  # Flask's answer: only POST is routed
        assert fast.get("/meter/v2/status", headers={"x-api-key": KEY}).status_code == 200
        assert fast.post("/nowhere", data=b"{}").status_code == 404
    finally:
        state.close()
