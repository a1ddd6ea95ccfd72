"""Ingest routes over real HTTP on loopback: auth, mapping, pricing, idempotency, validation, limits."""

from __future__ import annotations

import json
import math

import pytest
import requests

from ingest.auth import KEYS_ENV
from ingest.routes import Limits
from metering.prices import load_catalog
from metering.store import read_calls
from tests.ingest.ingest_helpers import BATCH, KEY, SINGLE, ingest_server, wire_record


@pytest.fixture()
def served(tmp_path):
    with ingest_server(tmp_path / "calls.csv") as (srv, state):
        yield srv, state


def post(srv, body, key: str | None = KEY, route: str = SINGLE, **headers):
    if key is not None:
        headers["x-api-key"] = key
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(srv.url + route, data=data, headers=headers, timeout=10)


def test_auth_missing_wrong_and_right_key(served):
    srv, state = served
    assert post(srv, wire_record(), key=None).status_code == 401
    assert post(srv, wire_record(), key="not-a-key").status_code == 403
    assert post(srv, wire_record()).status_code == 201
    assert len(read_calls(state.data_path)) == 1


def test_no_keys_configured_is_off_and_says_how(tmp_path, monkeypatch):
    monkeypatch.delenv(KEYS_ENV, raising=False)
    with ingest_server(tmp_path / "calls.csv", keys=[]) as (srv, _):
        answer = post(srv, wire_record())
        assert answer.status_code == 503
        assert KEYS_ENV in answer.json()["error"]
        status = requests.get(srv.url + "/meter/v2/status", timeout=10).json()
        assert status["enabled"] is False and KEYS_ENV in status["message"]


def test_single_record_lands_with_its_fields_mapped(served):
    srv, state = served
    record = wire_record()
    answer = post(srv, record)
    assert answer.status_code == 201, answer.text
    row = read_calls(state.data_path).iloc[0]
    assert row["call_id"] == record["transactionId"]
    assert row["customer_id"] == "cust_42"
    assert row["organization_id"] == "org_acme"
    assert row["product_id"] == "support_bot"
    assert row["feature_id"] == "chat"
    assert row["task_type"] == "qa"
    assert row["latency_ms"] == 850
    assert (row["input_tokens"], row["output_tokens"], row["cached_tokens"]) == (1200, 300, 200)
    assert row["trace_id"] == "trace-abc"
    assert row["region"] == "us-east-1"
    assert row["source"] == "metered"
    assert str(row["timestamp"]) == "2026-11-20 10:00:00+00:00"
    expected = load_catalog().price_calls(["openai"], ["gpt-4o"], [1200], [300], [200], [0])[0]
    assert row["cost_usd"] == pytest.approx(expected)
    assert answer.json()["costUsd"] == pytest.approx(expected)


def test_total_cost_wins_and_unknown_model_is_unpriced(served):
    srv, state = served
    sent = wire_record(totalCost=0.123456)
    unknown = wire_record(model="no-such-model-xyz")
    assert post(srv, sent).status_code == 201
    assert post(srv, unknown).status_code == 201
    frame = read_calls(state.data_path).set_index("call_id")
    assert frame.loc[sent["transactionId"], "cost_usd"] == pytest.approx(0.123456)
    assert math.isnan(frame.loc[unknown["transactionId"], "cost_usd"])


def test_idempotency_repeat_and_conflict(served):
    srv, state = served
    record = wire_record()
    first = post(srv, record, **{"Idempotency-Key": "k-1"})
    again = post(srv, record, **{"Idempotency-Key": "k-1"})
    assert first.status_code == 201
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    other = post(srv, wire_record(), **{"Idempotency-Key": "k-1"})
    assert other.status_code == 409
    assert len(read_calls(state.data_path)) == 1


def test_idempotency_keys_survive_a_restart(tmp_path):
    csv = tmp_path / "calls.csv"
    record = wire_record()
    with ingest_server(csv) as (srv, _):
        assert post(srv, record, **{"Idempotency-Key": "restart-1"}).status_code == 201
    with ingest_server(csv) as (srv, _):
        assert post(srv, record, **{"Idempotency-Key": "restart-1"}).status_code == 200
        assert post(srv, wire_record(), **{"Idempotency-Key": "restart-1"}).status_code == 409
    assert len(read_calls(csv)) == 1


def test_422_names_the_camelcase_field(served):
    srv, state = served
    record = wire_record(inputTokenCount=-5)
    del record["model"]
    answer = post(srv, record)
    assert answer.status_code == 422
    fields = {p["field"] for p in answer.json()["problems"]}
    assert {"inputTokenCount", "model"} <= fields
    assert not state.data_path.exists() or len(read_calls(state.data_path)) == 0


def test_malformed_json_is_400_and_oversized_is_413(tmp_path):
    with ingest_server(tmp_path / "calls.csv", limits=Limits(single_bytes=2048)) as (srv, state):
        assert post(srv, b'{"transactionId": ').status_code == 400
        big = wire_record(agent="x" * 4000)
        assert post(srv, big).status_code == 413
        assert not state.data_path.exists() or len(read_calls(state.data_path)) == 0


def test_batch_route_stores_all_or_none(served):
    srv, state = served
    records = [wire_record() for _ in range(50)]
    answer = post(srv, records, route=BATCH)
    assert answer.status_code == 201 and answer.json()["rows"] == 50
    bad = [wire_record(), wire_record(outputTokenCount="many")]
    answer = post(srv, bad, route=BATCH)
    assert answer.status_code == 422
    assert any(p["field"].startswith("[1].outputTokenCount") for p in answer.json()["problems"])
    frame = read_calls(state.data_path)
    assert sorted(frame["call_id"]) == sorted(r["transactionId"] for r in records)


def test_empty_optional_counts_are_defaults_and_batch_problems_are_named_once(served):
    srv, state = served
    record = wire_record(cacheReadTokenCount="", reasoningTokenCount="")
    answer = post(srv, record)
    assert answer.status_code == 201, answer.text  # "" means absent: stored as 0, never a 5xx
    row = read_calls(state.data_path).iloc[0]
    assert (row["cached_tokens"], row["reasoning_tokens"]) == (0, 0)
    bad = wire_record(totalTokenCount=2**63)
    del bad["model"]
    answer = post(srv, [wire_record(), bad], route=BATCH)
    assert answer.status_code == 422
    fields = [p["field"] for p in answer.json()["problems"]]
    assert sorted(fields) == ["[1].model", "[1].totalTokenCount"]  # each problem once
