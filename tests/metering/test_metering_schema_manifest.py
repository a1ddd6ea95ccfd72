"""The single-record validator (one clear message per kind of problem) and the manifest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from metering.manifest import STATE_LABELS, Manifest, manifest_path, read_manifest, write_manifest
from metering.prices import load_catalog
from metering.schema import (
    COLUMN_NAMES,
    SEED_COLUMN_NAMES,
    format_timestamp,
    parse_timestamp,
    validate_record,
    with_defaults,
)

GOOD = {
    "timestamp": "2026-11-19T08:00:03.794Z",
    "call_id": "call_1",
    "provider": "openai",
    "model": "gpt-4o",
    "input_tokens": 1200,
    "output_tokens": 300,
    "cost_usd": 0.006,
    "latency_ms": 850,
    "customer_id": "cust_0075",
    "subscription_tier": "pro",
    "organization_id": "org_008",
    "product_id": "product_a",
    "feature_id": "chat",
    "task_type": "chat",
    "environment": "production",
    "request_id": "req_1",
    "trace_id": "tr_1",
    "session_id": "sess_1",
    "user_agent": "sdk/1.0",
    "cached_tokens": 200,
}


def test_schema_order_starts_with_the_seed_columns() -> None:
    assert len(SEED_COLUMN_NAMES) == 19
    assert COLUMN_NAMES[:19] == SEED_COLUMN_NAMES
    assert COLUMN_NAMES[19:] == (
        "region",
        "stop_reason",
        "cached_tokens",
        "reasoning_tokens",
        "scenario",
        "source",
        "cache_creation_tokens",
        "operation_type",
        "is_streamed",
        "time_to_first_token_ms",
        "transaction_name",
        "api_key_id",
    )


def test_good_record_has_no_problem() -> None:
    assert validate_record(GOOD, known_models=load_catalog().model_provider()) == []
    assert validate_record({**GOOD, "cost_usd": ""}) == []  # unpriced is allowed
    assert validate_record({**GOOD, "model": "brand-new"}, known_models=load_catalog().model_provider()) == []


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"call_id": None}, "call_id", "missing required field"),
        ({"input_tokens": "many"}, "input_tokens", "expected an integer, got str 'many'"),
        ({"latency_ms": 1.5}, "latency_ms", "expected an integer"),
        ({"cost_usd": "free"}, "cost_usd", "expected a number"),
        ({"provider": 7}, "provider", "expected a string, got int"),
        ({"output_tokens": -3}, "output_tokens", "must be >= 0, got -3"),
        ({"cached_tokens": 5000}, "cached_tokens", "cached tokens (5000) exceed input tokens (1200)"),
        ({"reasoning_tokens": 301}, "reasoning_tokens", "reasoning tokens (301) exceed output tokens (300)"),
        ({"subscription_tier": "gold"}, "subscription_tier", "unknown tier 'gold'"),
        ({"environment": "prod"}, "environment", "unknown environment 'prod'"),
        ({"stop_reason": "DONE"}, "stop_reason", "unknown stop reason 'DONE'"),
        ({"timestamp": "19/11/2026 08:00"}, "timestamp", "not an ISO 8601 timestamp"),
        ({"customer_id": "c" * 129}, "customer_id", "longer than 128 characters (129)"),
        ({"feature_id": "chat\ninjected"}, "feature_id", "contains a line break"),
        ({"model": "claude-sonnet-4"}, "model", "belongs to provider 'anthropic', not 'openai'"),
        ({"colour": "red"}, "colour", "unknown field"),
    ],
)
def test_each_bad_record_gets_its_own_clear_message(change, field, reason) -> None:
    problems = validate_record({**GOOD, **change}, known_models=load_catalog().model_provider())
    assert len(problems) == 1, problems
    assert problems[0].field == field
    assert reason in problems[0].reason
    assert str(problems[0]).startswith(f"{field}: ")


def test_several_problems_are_all_reported() -> None:
    problems = validate_record({**GOOD, "input_tokens": -1, "subscription_tier": "gold", "timestamp": "x"})
    assert {p.field for p in problems} == {"input_tokens", "subscription_tier", "timestamp"}
    assert validate_record(["not", "a", "dict"])[0].field == "record"
    assert validate_record({**GOOD, "cost_usd": None}, require_cost=True)[0].field == "cost_usd"


def test_timestamps_and_defaults() -> None:
    dt = parse_timestamp("2026-11-19T08:00:03.794Z")
    assert dt == datetime(2026, 11, 19, 8, 0, 3, 794000, tzinfo=UTC)
    assert format_timestamp(dt) == "2026-11-19T08:00:03.794Z"
    assert parse_timestamp("2026-11-19T10:00:00+02:00") == datetime(2026, 11, 19, 8, tzinfo=UTC)
    assert parse_timestamp("2026-11-19T08:00:03.123456789Z").microsecond == 123456
    assert parse_timestamp("tomorrow") is None
    full = with_defaults(GOOD)
    assert full["region"] == "unknown" and full["source"] == "simulated" and full["cached_tokens"] == 200


def test_manifest_atomic_round_trip(tmp_path) -> None:
    csv_path = tmp_path / "calls.csv"
    m = Manifest(
        rows=10,
        bytes=2048,
        mb=0.002,
        target_mb=50.0,
        progress=0.5,
        state="generating",
        rows_by_scenario={"baseline": 10},
        pid=os.getpid(),  # a live writer: read back as written
        simulated_until="2026-11-19T08:00:03.794Z",
    )
    target = write_manifest(csv_path, m)
    assert target == manifest_path(csv_path) == tmp_path / "calls.manifest.json"
    assert [p.name for p in tmp_path.iterdir()] == ["calls.manifest.json"]  # no temporary file left
    back = read_manifest(csv_path)
    assert back == m
    assert back.updated_at.endswith("Z") and back.data_file == str(csv_path)
    assert json.loads(target.read_text())["state"] == "generating"
    assert manifest_path(tmp_path / "calls.txt").name == "calls.txt.manifest.json"


def test_generating_manifest_of_a_dead_writer_reads_as_interrupted(tmp_path) -> None:
    csv_path = tmp_path / "calls.csv"
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(gone.stdout)  # exited and reaped
    write_manifest(csv_path, Manifest(state="generating", pid=dead_pid, rows=5, sim_start="2026-01-05"))
    back = read_manifest(csv_path)
    assert back.state == "interrupted" and str(dead_pid) in back.message and back.rows == 5
    assert STATE_LABELS["interrupted"].startswith("interrupted")
    assert json.loads(manifest_path(csv_path).read_text())["state"] == "generating"  # the file is left as is
    write_manifest(csv_path, Manifest(state="stopped", pid=dead_pid))
    assert read_manifest(csv_path).state == "stopped"  # a closed run stays what it was


def test_manifest_bad_state_and_unreadable(tmp_path) -> None:
    csv_path = tmp_path / "calls.csv"
    with pytest.raises(ValueError, match="state 'running'"):
        write_manifest(csv_path, Manifest(state="running"))
    assert read_manifest(csv_path) is None
    manifest_path(csv_path).write_text("{half")
    assert read_manifest(csv_path) is None
    manifest_path(csv_path).write_text('{"rows": 3, "future_field": 1}')
    assert read_manifest(csv_path).rows == 3
