"""The OTel showcase against the real /v1/traces receiver: spans -> call rows over OTLP/HTTP on loopback."""

from __future__ import annotations

import json
import os

import pytest
import requests
from opentelemetry import trace

from metering.store import COST_DECIMALS, read_calls, read_calls_report
from showcase.instrumentation.revenium_otel import TICKET_TRIAGE_STEPS, ReveniumOTelIntegration
from showcase.metadata.metadata_builder import MetadataBuilder
from tests.ingest.ingest_helpers import KEY, ingest_server

OTLP = "/v1/traces"
STATUS = "/meter/v2/status"
#: the store keeps cost to COST_DECIMALS decimals: each stored cost is within half a unit of that
COST_STEP = 10.0**-COST_DECIMALS

STEPS = TICKET_TRIAGE_STEPS


@pytest.fixture()
def served(tmp_path):
    with ingest_server(tmp_path / "calls.csv") as (srv, state):
        yield srv, state


@pytest.fixture()
def otel(served):
    """The showcase exporting to the served receiver with the standard OTLP/HTTP exporter; shut down after."""
    srv, _ = served
    global_before = trace.get_tracer_provider()
    integration = ReveniumOTelIntegration(srv.url, KEY, service_name="otel-workflow-test")
    try:
        yield integration
    finally:
        integration.shutdown()
        # the showcase has its own TracerProvider: the process-wide one is never replaced
        assert trace.get_tracer_provider() is global_before
        assert trace.get_tracer_provider() is not integration.provider


def meta(customer: str = "cust_0042"):
    return (
        MetadataBuilder()
        .customer(customer)
        .organization("org_007")
        .product("support_bot")
        .feature("ticket_triage")
        .tier("enterprise")
        .build()
    )


def counters(srv) -> dict:
    answer = requests.get(srv.url + STATUS, headers={"x-api-key": KEY}, timeout=10)
    assert answer.status_code == 200
    return answer.json()["counters"]


def test_workflow_is_one_trace_of_three_rows_whose_costs_sum_to_the_reported_total(served, otel):
    srv, state = served
    flow = otel.track_workflow_cost("ticket-triage", STEPS, metadata=meta())
    assert otel.force_flush(10_000)
    assert len(flow.steps) == 3 and flow.unpriced_steps == 0  # priced catalog models only

    report = read_calls_report(state.data_path)
    assert report.malformed == []
    frame = report.frame
    assert len(frame) == 3  # the parent "workflow" span carries no GenAI attributes: not a call
    assert set(frame["trace_id"]) == {flow.trace_id}
    assert set(frame["source"]) == {"otlp"}
    assert sorted(frame["call_id"]) == sorted(s.span_id for s in flow.steps)
    by_span = frame.set_index("call_id")
    for step, sent in zip(flow.steps, STEPS, strict=True):
        row = by_span.loc[step.span_id]
        assert (row["provider"], row["model"]) == (sent["provider"], sent["model"])
        assert row["cost_usd"] == pytest.approx(step.cost, rel=1e-9, abs=COST_STEP / 2)
    assert frame["cost_usd"].sum() == pytest.approx(flow.total_cost, rel=1e-9, abs=3 * COST_STEP / 2)

    seen = counters(srv)
    assert seen["otlp_rows"] == 3 and seen["rows_stored"] == 3
    assert seen["otlp_spans_ignored"] == 1  # the workflow's parent span
    assert seen["otlp_spans_rejected"] == 0


def test_single_completion_lands_with_its_fields(served, otel):
    _, state = served
    sent = otel.track_ai_completion(
        "anthropic",
        "claude-sonnet-4",
        2400,
        350,
        cached_tokens=1000,
        duration_ms=900,
        metadata=meta("cust_0099"),
    )
    assert otel.force_flush(10_000)
    frame = read_calls(state.data_path)
    assert len(frame) == 1
    row = frame.iloc[0]
    assert row["call_id"] == sent.span_id and row["trace_id"] == sent.trace_id
    assert (row["provider"], row["model"]) == ("anthropic", "claude-sonnet-4")
    assert (row["input_tokens"], row["output_tokens"], row["cached_tokens"]) == (2400, 350, 1000)
    assert row["customer_id"] == "cust_0099"
    assert row["organization_id"] == "org_007"
    assert row["product_id"] == "support_bot"
    assert row["feature_id"] == "ticket_triage"
    assert row["subscription_tier"] == "enterprise"
    assert row["latency_ms"] == 900
    assert row["source"] == "otlp"
    assert sent.cost is not None and row["cost_usd"] == pytest.approx(sent.cost, abs=COST_STEP / 2)


def _attr(key: str, value: str | int) -> dict:
    kind = "intValue" if isinstance(value, int) else "stringValue"
    return {"key": key, "value": {kind: str(value) if kind == "intValue" else value}}


def otlp_json(trace_id: str, genai_span: str, other_span: str, start_ns: int) -> dict:
    """An OTLP/HTTP JSON export: one GenAI span and one plain HTTP span (hex ids, int64 as strings)."""
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [_attr("service.name", "json-client"), _attr("revenium.customer", "cust_7")]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "hand-written"},
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": genai_span,
                                "name": "chat gpt-4o",
                                "kind": 3,
                                "startTimeUnixNano": str(start_ns),
                                "endTimeUnixNano": str(start_ns + 750_000_000),
                                "attributes": [
                                    _attr("gen_ai.operation.name", "chat"),
                                    _attr("gen_ai.provider.name", "openai"),
                                    _attr("gen_ai.request.model", "gpt-4o"),
                                    _attr("gen_ai.usage.input_tokens", 1200),
                                    _attr("gen_ai.usage.output_tokens", 300),
                                    _attr("revenium.organization", "org_json"),
                                ],
                                "status": {},
                            },
                            {
                                "traceId": trace_id,
                                "spanId": other_span,
                                "parentSpanId": genai_span,
                                "name": "GET /health",
                                "kind": 2,
                                "startTimeUnixNano": str(start_ns),
                                "endTimeUnixNano": str(start_ns + 1_000_000),
                                "attributes": [_attr("http.request.method", "GET")],
                            },
                        ],
                    }
                ],
            }
        ]
    }


def test_hand_written_otlp_json_stores_the_genai_span_and_ignores_the_other(served):
    srv, state = served
    trace_id, genai_span, other_span = os.urandom(16).hex(), os.urandom(8).hex(), os.urandom(8).hex()
    body = json.dumps(otlp_json(trace_id, genai_span, other_span, 1_795_000_000_000_000_000))
    json_headers = {"Content-Type": "application/json"}

    assert requests.post(srv.url + OTLP, data=body, headers=json_headers, timeout=10).status_code == 401
    wrong = json_headers | {"x-api-key": "not-a-key"}
    assert requests.post(srv.url + OTLP, data=body, headers=wrong, timeout=10).status_code == 403
    assert not state.data_path.exists() or len(read_calls(state.data_path)) == 0

    answer = requests.post(srv.url + OTLP, data=body, headers=json_headers | {"x-api-key": KEY}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    assert "partialSuccess" not in answer.json()  # nothing rejected

    frame = read_calls(state.data_path)
    assert len(frame) == 1
    row = frame.iloc[0]
    assert (row["call_id"], row["trace_id"]) == (genai_span, trace_id)
    assert (row["provider"], row["model"], row["input_tokens"], row["output_tokens"]) == (
        "openai",
        "gpt-4o",
        1200,
        300,
    )
    assert (row["customer_id"], row["organization_id"]) == ("cust_7", "org_json")
    assert row["source"] == "otlp" and row["latency_ms"] == 750
    assert str(row["timestamp"]) == "2026-11-18 11:06:40+00:00"

    seen = counters(srv)
    assert seen["otlp_spans_ignored"] >= 1
    assert seen["otlp_rows"] == 1 and seen["rows_stored"] == 1
    assert seen["rejected_requests"] == 2  # the 401 and the 403
