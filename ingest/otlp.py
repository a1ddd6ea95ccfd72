"""OTLP/HTTP traces -> call records: GenAI spans become rows, every other span is ignored and counted.

Bodies are decoded with ``opentelemetry-proto`` (``ExportTraceServiceRequest``), as protobuf
(``application/x-protobuf``) or JSON (``application/json``; trace and span ids in hex as the OTLP/JSON
encoding specifies). A span is a GenAI call when it names a provider (``gen_ai.provider.name`` or the
older ``gen_ai.system``), a model (``gen_ai.request.model`` or ``gen_ai.response.model``) and at least one
usage count. Resource attributes apply to all spans of the resource; span attributes win.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from ingest.mapping import (
    DEFAULTS,
    normalize_environment,
    normalize_provider,
    translate,
)
from metering.schema import BY_NAME, Problem, format_timestamp, validate_record

#: column <- attributes, first present wins (span attributes over resource attributes)
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "provider": ("gen_ai.provider.name", "gen_ai.system"),
    "model": ("gen_ai.request.model", "gen_ai.response.model"),
    "input_tokens": ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
    "output_tokens": ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
    "cached_tokens": ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens"),
    "reasoning_tokens": ("gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens"),
    "cost_usd": ("gen_ai.usage.cost.amount",),
    "request_id": ("gen_ai.response.id",),
    "customer_id": ("revenium.customer", "customer.id", "customer"),
    "subscription_tier": ("revenium.tier", "subscription.tier", "tier"),
    "organization_id": ("revenium.organization", "organization.id", "organization"),
    "product_id": ("revenium.product", "product.id", "product"),
    "feature_id": ("revenium.feature", "feature.id", "feature"),
    "task_type": ("revenium.task_type", "gen_ai.operation.name"),
    "environment": ("deployment.environment.name", "deployment.environment", "revenium.environment"),
    "session_id": ("session.id", "revenium.session"),
    "region": ("cloud.region", "revenium.region"),
    "stop_reason": ("revenium.stop_reason",),
    "user_agent": ("user_agent.original", "service.name"),
}
COST_CURRENCY = "gen_ai.usage.cost.currency"
FINISH_REASONS = "gen_ai.response.finish_reasons"
#: OTel/provider finish reasons -> our stop reasons (anything else: END)
FINISH_TO_STOP: dict[str, str] = {
    "stop": "END",
    "end_turn": "END",
    "stop_sequence": "END_SEQUENCE",
    "length": "TOKEN_LIMIT",
    "max_tokens": "TOKEN_LIMIT",
    "content_filter": "END_SEQUENCE",
    "timeout": "TIMEOUT",
    "error": "ERROR",
    "cancelled": "CANCELLED",
}
COLUMN_TO_ATTRIBUTE = {col: names[0] for col, names in ATTRIBUTES.items()} | {
    "timestamp": "startTimeUnixNano",
    "latency_ms": "endTimeUnixNano",
    "call_id": "spanId",
    "trace_id": "traceId",
}
_STATUS_ERROR = 2
_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


class OtlpDecodeError(ValueError):
    """The body is not an OTLP ExportTraceServiceRequest in the declared encoding."""


@dataclass
class SpanBatch:
    """GenAI call records found in one export (with the span keys used for de-duplication)."""

    records: list[dict[str, Any]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    spans: int = 0
    ignored: int = 0
    rejected: int = 0
    messages: list[str] = field(default_factory=list)


def decode(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    """Parse protobuf or OTLP/JSON into the proto message; errors say what is wrong."""
    msg = ExportTraceServiceRequest()
    if "json" in content_type:
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise OtlpDecodeError(f"body is not valid JSON: {exc}") from exc
        if not isinstance(doc, dict):
            raise OtlpDecodeError("body must be a JSON object with resourceSpans")
        _refuse_lone_surrogates(doc)
        _hex_ids_to_base64(doc)
        try:
            json_format.ParseDict(doc, msg, ignore_unknown_fields=True)
        except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
            raise OtlpDecodeError(f"not an OTLP/JSON trace export: {exc}") from exc
        return msg
    try:
        msg.ParseFromString(body)
    except (DecodeError, ValueError, RecursionError) as exc:
        raise OtlpDecodeError(f"not an OTLP protobuf trace export: {exc}") from exc
    return msg


def _refuse_lone_surrogates(doc: Any) -> None:
    """OTLP strings are UTF-8: a JSON ``\\udXXX`` escape without its pair has no UTF-8 form. protobuf
    names the field for such a value but fails inside its C code for such a member *name*: those are
    refused here, naming where they are (walked without recursion: any depth json.loads accepted)."""
    stack: list[tuple[Any, str]] = [(doc, "$")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                lone = next((ch for ch in key if "\ud800" <= ch <= "\udfff"), None)
                if lone is not None:
                    raise OtlpDecodeError(
                        f"not an OTLP/JSON trace export: the name of a member of {path} contains a lone "
                        f"UTF-16 surrogate (U+{ord(lone):04X}), which has no UTF-8 form"
                    )
                stack.append((value, f"{path}.{key}"))
        elif isinstance(node, list):
            stack.extend((value, f"{path}[{i}]") for i, value in enumerate(node))


def encode_response(rejected: int, message: str, content_type: str) -> tuple[bytes, str]:
    """ExportTraceServiceResponse (partial success when spans were rejected) in the request's encoding."""
    resp = ExportTraceServiceResponse()
    if rejected:
        resp.partial_success.rejected_spans = rejected
        resp.partial_success.error_message = message
    if "json" in content_type:
        return json_format.MessageToJson(resp, indent=None).encode(), "application/json"
    return resp.SerializeToString(), "application/x-protobuf"


def _hex_ids_to_base64(node: Any) -> None:
    """OTLP/JSON writes ids as hex; the protobuf JSON mapping expects base64 for bytes fields."""
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            for k, v in cur.items():
                if k in _ID_FIELDS and isinstance(v, str):
                    try:
                        cur[k] = base64.b64encode(bytes.fromhex(v)).decode() if v else ""
                    except ValueError as exc:
                        raise OtlpDecodeError(f"{k} {v[:40]!r} is not hex") from exc
                elif isinstance(v, dict | list):
                    stack.append(v)
        elif isinstance(cur, list):
            stack.extend(x for x in cur if isinstance(x, dict | list))


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in any_value.kvlist_value.values}
    if kind == "bytes_value":
        return binascii.hexlify(any_value.bytes_value).decode()
    return getattr(any_value, kind)


def _attributes(kvs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


def _pick(attrs: dict[str, Any], column: str) -> Any:
    for name in ATTRIBUTES[column]:
        v = attrs.get(name)
        if v is not None and v != "":
            return v
    return None


def _count(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def is_genai(attrs: dict[str, Any]) -> bool:
    usage = ("input_tokens", "output_tokens")
    return (
        _pick(attrs, "provider") is not None
        and _pick(attrs, "model") is not None
        and any(_pick(attrs, c) is not None for c in usage)
    )


def span_record(span: Any, attrs: dict[str, Any]) -> dict[str, Any]:
    """The call record of one GenAI span (not validated)."""
    trace_id = span.trace_id.hex()
    span_id = span.span_id.hex()
    start, end = int(span.start_time_unix_nano), int(span.end_time_unix_nano)
    cost = _pick(attrs, "cost_usd")
    currency = attrs.get(COST_CURRENCY)
    if currency not in (None, "", "USD", "usd"):
        cost = None  # a cost in another currency: the catalog prices the call in USD instead
    stop = _pick(attrs, "stop_reason")
    if span.status.code == _STATUS_ERROR:
        stop = "ERROR"
    elif stop is None:
        reasons = attrs.get(FINISH_REASONS)
        first = reasons[0] if isinstance(reasons, list) and reasons else reasons
        stop = FINISH_TO_STOP.get(str(first).lower(), "END") if first else "END"
    user_agent = _pick(attrs, "user_agent")
    return {
        "timestamp": format_timestamp(datetime.fromtimestamp(start / 1e9, UTC)),
        "call_id": span_id,
        "provider": normalize_provider(_pick(attrs, "provider")),
        "model": _pick(attrs, "model"),
        "input_tokens": _count(_pick(attrs, "input_tokens") or 0),
        "output_tokens": _count(_pick(attrs, "output_tokens") or 0),
        "cost_usd": cost,
        "latency_ms": max(0, round((end - start) / 1e6)) if end else 0,
        "customer_id": _pick(attrs, "customer_id") or DEFAULTS["customer_id"],
        "subscription_tier": _pick(attrs, "subscription_tier") or DEFAULTS["subscription_tier"],
        "organization_id": _pick(attrs, "organization_id") or DEFAULTS["organization_id"],
        "product_id": _pick(attrs, "product_id") or DEFAULTS["product_id"],
        "feature_id": _pick(attrs, "feature_id") or DEFAULTS["feature_id"],
        "task_type": _pick(attrs, "task_type") or DEFAULTS["task_type"],
        "environment": normalize_environment(_pick(attrs, "environment") or DEFAULTS["environment"]),
        "request_id": _pick(attrs, "request_id") or span_id,
        "trace_id": trace_id,
        "session_id": _pick(attrs, "session_id") or trace_id,
        "user_agent": str(user_agent)[: BY_NAME["user_agent"].max_len] if user_agent else "otlp",
        "region": _pick(attrs, "region") or DEFAULTS["region"],
        "stop_reason": stop,
        "cached_tokens": _count(_pick(attrs, "cached_tokens") or 0),
        "reasoning_tokens": _count(_pick(attrs, "reasoning_tokens") or 0),
        "scenario": "",
        "source": "otlp",
    }


def extract(request: ExportTraceServiceRequest, max_messages: int = 20) -> SpanBatch:
    """GenAI spans as validated call records; invalid GenAI spans are rejected with their problems."""
    out = SpanBatch()
    for rs in request.resource_spans:
        resource = _attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            for span in ss.spans:
                out.spans += 1
                attrs = resource | _attributes(span.attributes)
                if not is_genai(attrs):
                    out.ignored += 1
                    continue
                record = span_record(span, attrs)
                problems: list[Problem] = []
                if len(span.trace_id) != 16 or len(span.span_id) != 8:
                    problems.append(
                        Problem("traceId/spanId", "span has no valid trace id (16 bytes) and span id (8)")
                    )
                if not span.start_time_unix_nano:
                    problems.append(Problem("startTimeUnixNano", "missing"))
                cost = record["cost_usd"]
                if cost is not None and (isinstance(cost, bool) or not isinstance(cost, int | float)):
                    problems.append(Problem(COLUMN_TO_ATTRIBUTE["cost_usd"], "expected a number"))
                    record["cost_usd"] = None
                problems += translate(validate_record(record), COLUMN_TO_ATTRIBUTE)
                if problems:
                    out.rejected += 1
                    if len(out.messages) < max_messages:
                        out.messages.append(
                            f"span {span.span_id.hex() or '?'}: " + "; ".join(map(str, problems))
                        )
                    continue
                out.records.append(record)
                out.keys.append(f"span:{record['trace_id']}:{record['call_id']}")
    return out
