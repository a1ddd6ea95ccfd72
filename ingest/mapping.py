"""Revenium metering record (camelCase wire JSON) -> call record (schema columns), field by field.

The tables below are the single statement of the mapping: the code reads them, error messages use
them to name the wire field a client sent, and specs/integration.md reproduces them. Validation of
the mapped record is ``metering.schema.validate_record``; this module adds only the checks that exist
on the wire alone (types of wire-only fields, the subscriber object, durations).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from metering.schema import (
    BAD_TEXT_RE,
    BY_NAME,
    ENVIRONMENTS,
    MAX_INT,
    Problem,
    email_customer_id,
    format_timestamp,
    parse_timestamp,
    validate_record,
)

#: wire field -> column, for fields copied (after normalisation) into the call record
WIRE_TO_COLUMN: dict[str, str] = {
    "transactionId": "call_id",
    "requestTime": "timestamp",
    "provider": "provider",
    "model": "model",
    "inputTokenCount": "input_tokens",
    "outputTokenCount": "output_tokens",
    "totalCost": "cost_usd",
    "requestDuration": "latency_ms",
    "subscriber.id": "customer_id",
    "subscriptionTier": "subscription_tier",
    "organizationName": "organization_id",
    "productName": "product_id",
    "agent": "feature_id",
    "taskType": "task_type",
    "environment": "environment",
    "traceId": "trace_id",
    "sessionId": "session_id",
    "region": "region",
    "stopReason": "stop_reason",
    "cacheReadTokenCount": "cached_tokens",
    "cacheCreationTokenCount": "cache_creation_tokens",
    "reasoningTokenCount": "reasoning_tokens",
    "operationType": "operation_type",
    "isStreamed": "is_streamed",
    "timeToFirstToken": "time_to_first_token_ms",
    "transactionName": "transaction_name",
}
#: older SDK spellings accepted when the current one is absent
WIRE_ALIASES: dict[str, str] = {"organizationId": "organizationName", "productId": "productName"}
#: columns filled from somewhere other than one wire field, and where from (for docs and errors)
DERIVED_COLUMNS: dict[str, str] = {
    "request_id": "transactionId",
    "user_agent": "HTTP User-Agent header (unknown when absent)",
    "scenario": "always empty (metered rows belong to no simulator scenario)",
    "source": "'metered' for the REST routes, 'otlp' for /v1/traces",
    "api_key_id": "first 12 hex of sha256 of the API key that accepted the row (never the key)",
}
#: value used when an optional wire field is absent
DEFAULTS: dict[str, str] = {
    "customer_id": "unknown",
    "subscription_tier": "",  # no tier: the customer keeps its last known one (metering.subscriptions)
    "organization_id": "unknown",
    "product_id": "unknown",
    "feature_id": "unknown",
    "task_type": "unknown",
    "environment": "production",
    "region": "unknown",
    "stop_reason": "END",
    "user_agent": "unknown",
}
#: fields we require although the schema could default them; everything the record is built on
REQUIRED_WIRE = ("transactionId", "provider", "model", "inputTokenCount", "outputTokenCount", "requestTime")
#: SDK-required fields that carry nothing we store; checked for type when present
TIMESTAMP_WIRE = ("responseTime", "completionStartTime")
INT_WIRE = ("totalTokenCount", "cacheCreationTokenCount", "timeToFirstToken")
NUMBER_WIRE = ("inputTokenCost", "outputTokenCost")

COLUMN_TO_WIRE: dict[str, str] = {c: w for w, c in WIRE_TO_COLUMN.items()} | {"request_id": "transactionId"}

#: provider spellings seen in SDKs and in OTel ``gen_ai.provider.name`` / ``gen_ai.system`` -> ours
PROVIDER_ALIASES: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google": "google",
    "gemini": "google",
    "google_ai": "google",
    "vertex_ai": "google",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "bedrock": "bedrock",
    "aws_bedrock": "bedrock",
    "amazon_bedrock": "bedrock",
    "aws.bedrock": "bedrock",
    "azure": "azure",
    "azure_openai": "azure",
    "azure.ai.openai": "azure",
    "az.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "mistral": "mistral",
    "mistral_ai": "mistral",
    "cohere": "cohere",
}
ENVIRONMENT_ALIASES: dict[str, str] = {
    "prod": "production",
    "prd": "production",
    "stage": "staging",
    "stg": "staging",
    "dev": "development",
    "test": "development",
} | {e: e for e in ENVIRONMENTS}


@dataclass(frozen=True)
class Mapped:
    """A mapped call record, or the problems (wire field names) that kept it from being one."""

    record: dict[str, Any] | None
    problems: list[Problem]


def normalize_provider(value: Any) -> Any:
    """Our provider name for an SDK/OTel spelling; unknown names are lower-cased and kept (unpriced)."""
    if not isinstance(value, str):
        return value
    key = value.strip().lower()
    return PROVIDER_ALIASES.get(key, key)


def normalize_environment(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    key = value.strip().lower()
    return ENVIRONMENT_ALIASES.get(key, key)


def normalize_timestamp(value: Any) -> Any:
    """The store's timestamp text when ``value`` parses; otherwise the value unchanged (validation names it)."""
    dt = parse_timestamp(value) if isinstance(value, str) else None
    return value if dt is None else format_timestamp(dt)


def _int_like(value: Any) -> Any:
    """Whole-number floats (1200.0) become ints; anything else is left for validation to name."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


def _milliseconds(value: Any) -> Any:
    """Durations may carry fractions of a millisecond: rounded to whole milliseconds."""
    if isinstance(value, float) and math.isfinite(value) and value >= 0:
        return int(round(value))
    return value


def _clean_text(value: Any, limit: int) -> str:
    """A header value made storable: control characters and lone surrogates removed, trimmed, cut."""
    text = BAD_TEXT_RE.sub("", str(value)).strip()
    return text[:limit] or DEFAULTS["user_agent"]


def translate(problems: list[Problem], column_to_wire: dict[str, str], prefix: str = "") -> list[Problem]:
    """Problems on schema columns renamed to the wire fields a client sent; duplicates dropped."""
    seen: set[tuple[str, str]] = set()
    out: list[Problem] = []
    for p in problems:
        name = column_to_wire.get(p.field, p.field)
        reason = p.reason if name == p.field else f"{p.reason} (stored as {p.field})"
        key = (prefix + name, reason)
        if key not in seen:
            seen.add(key)
            out.append(Problem(prefix + name, reason))
    return out


def map_revenium(
    body: Any, *, user_agent: str | None = None, prefix: str = "", api_key_id: str = ""
) -> Mapped:
    """One Revenium metering record -> one call record (source 'metered'), or every problem with it."""
    if not isinstance(body, dict):
        where = prefix.rstrip(".") or "body"
        return Mapped(None, [Problem(where, f"expected a JSON object, got {_json_type(body)}")])
    problems: list[Problem] = []
    body = dict(body)
    for old, new in WIRE_ALIASES.items():
        if body.get(new) in (None, "") and body.get(old) not in (None, ""):
            body[new] = body[old]
    for name in REQUIRED_WIRE:
        if body.get(name) in (None, ""):
            problems.append(Problem(prefix + name, "missing required field"))
    subscriber = body.get("subscriber")
    customer: Any = None
    from_email = False
    if subscriber is not None:
        if not isinstance(subscriber, dict):
            problems.append(
                Problem(prefix + "subscriber", f"expected an object, got {_json_type(subscriber)}")
            )
        else:
            customer = subscriber.get("id")
            if customer in (None, ""):
                customer = subscriber.get("email")
                from_email = customer not in (None, "")
    for name in TIMESTAMP_WIRE:
        v = body.get(name)
        if v is not None and parse_timestamp(v) is None:
            problems.append(Problem(prefix + name, f"not an ISO 8601 timestamp: {str(v)[:40]!r}"))
    for name in INT_WIRE:
        v = _milliseconds(body.get(name)) if name == "timeToFirstToken" else _int_like(body.get(name))
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            problems.append(
                Problem(prefix + name, f"expected an integer >= 0, got {_json_type(v)} {str(v)[:40]!r}")
            )
        elif v is not None and v > MAX_INT:
            problems.append(Problem(prefix + name, f"must be <= {MAX_INT}, got {str(v)[:40]}"))
    for name in NUMBER_WIRE:
        v = body.get(name)
        if v is not None and not _non_negative_number(v):
            problems.append(
                Problem(prefix + name, f"expected a number >= 0, got {_json_type(v)} {str(v)[:40]!r}")
            )
    if body.get("isStreamed") is not None and not isinstance(body.get("isStreamed"), bool):
        problems.append(
            Problem(prefix + "isStreamed", f"expected true or false, got {_json_type(body['isStreamed'])}")
        )
    cost = body.get("totalCost")
    if cost is not None and not _non_negative_number(cost):
        problems.append(
            Problem(
                prefix + "totalCost", f"expected a number >= 0, got {_json_type(cost)} {str(cost)[:40]!r}"
            )
        )
        cost = None

    duration = _milliseconds(body.get("requestDuration"))
    if duration is None:
        start, end = parse_timestamp(body.get("requestTime")), parse_timestamp(body.get("responseTime"))
        if start is not None and end is not None and end >= start:
            duration = int(round((end - start).total_seconds() * 1000))
        else:
            problems.append(
                Problem(
                    prefix + "requestDuration",
                    "missing required field (and no responseTime to derive it from)",
                )
            )

    input_tokens = _int_like(body.get("inputTokenCount"))
    cached = _int_like(body.get("cacheReadTokenCount"))
    input_tokens = _cache_outside_input(body, input_tokens, cached)
    transaction = body.get("transactionId")
    trace = body.get("traceId")
    stop = body.get("stopReason")
    record: dict[str, Any] = {
        "timestamp": normalize_timestamp(body.get("requestTime")),
        "call_id": transaction,
        "provider": normalize_provider(body.get("provider")),
        "model": body.get("model"),
        "input_tokens": input_tokens,
        "output_tokens": _int_like(body.get("outputTokenCount")),
        "cost_usd": None if cost is None else float(cost),
        "latency_ms": duration,
        "customer_id": _or_default(customer, "customer_id"),
        "subscription_tier": _or_default(body.get("subscriptionTier"), "subscription_tier"),
        "organization_id": _or_default(body.get("organizationName"), "organization_id"),
        "product_id": _or_default(body.get("productName"), "product_id"),
        "feature_id": _or_default(body.get("agent"), "feature_id"),
        "task_type": _or_default(body.get("taskType"), "task_type"),
        "environment": normalize_environment(_or_default(body.get("environment"), "environment")),
        "request_id": transaction,
        "trace_id": trace if trace not in (None, "") else transaction,
        "session_id": _first(body.get("sessionId"), trace, transaction),
        "user_agent": _clean_text(user_agent or DEFAULTS["user_agent"], BY_NAME["user_agent"].max_len),
        "region": _or_default(body.get("region"), "region"),
        "stop_reason": stop.strip().upper()
        if isinstance(stop, str) and stop.strip()
        else _or_default(stop, "stop_reason"),
        "cached_tokens": 0 if cached is None or cached == "" else cached,
        "cache_creation_tokens": _int_like(_first(body.get("cacheCreationTokenCount"), 0)),
        "reasoning_tokens": _int_like(_first(body.get("reasoningTokenCount"), 0)),
        "scenario": "",
        "source": "metered",
        "operation_type": _first(body.get("operationType"), ""),
        "is_streamed": _streamed(body.get("isStreamed")),
        "time_to_first_token_ms": _ttft(body.get("timeToFirstToken")),
        "transaction_name": _first(body.get("transactionName"), ""),
        "api_key_id": api_key_id,
    }
    wire_names = {p.field for p in problems}  # already prefixed
    schema_problems = [
        p
        for p in validate_record(record)
        if not (p.field in _FROM_TRANSACTION and "transactionId" in body_problems(problems, prefix))
    ]
    checked = [p for p in translate(schema_problems, COLUMN_TO_WIRE, prefix) if p.field not in wire_names]
    problems.extend(checked)
    if problems:
        return Mapped(None, problems)
    if from_email:  # checked as the address was sent, stored as its pseudonymous id
        record["customer_id"] = email_customer_id(record["customer_id"])
    return Mapped(record, problems)


#: columns that fall back to transactionId: when it is missing, their own "missing" is the same problem
_FROM_TRANSACTION = ("request_id", "trace_id", "session_id")


def body_problems(problems: list[Problem], prefix: str) -> set[str]:
    """Wire field names (prefix removed) that already have a problem."""
    return {p.field[len(prefix) :] for p in problems if p.field.startswith(prefix)}


def _cache_outside_input(body: dict[str, Any], input_tokens: Any, cached: Any) -> Any:
    """Some SDKs (Anthropic's convention) count cache tokens outside ``inputTokenCount``.

    When ``totalTokenCount`` equals input + output + cache read + cache creation and the cache counts
    are not zero, the cache tokens are added to input so that cached tokens sit inside input tokens
    as the schema defines (and are not billed twice or dropped).
    """
    total = _int_like(body.get("totalTokenCount"))
    output = _int_like(body.get("outputTokenCount"))
    creation = _int_like(body.get("cacheCreationTokenCount")) or 0
    values = (total, input_tokens, output, cached or 0, creation)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return input_tokens
    extra = (cached or 0) + creation
    if extra and total == input_tokens + output + extra:
        return input_tokens + extra
    return input_tokens


def _streamed(value: Any) -> Any:
    """``isStreamed`` as stored: "true" / "false", "" when absent (other values are wire problems)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return ""


def _ttft(value: Any) -> float | None:
    """``timeToFirstToken`` in whole milliseconds as a float column value; None when absent or invalid."""
    v = _milliseconds(value)
    if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_INT:
        return float(v)
    return None


def _or_default(value: Any, column: str) -> Any:
    return DEFAULTS[column] if value is None or value == "" else value


def _first(*values: Any) -> Any:
    for v in values:
        if v is not None and v != "":
            return v
    return None


def _non_negative_number(v: Any) -> bool:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return False
    try:
        number = float(v)
    except OverflowError:  # an integer too large for a float
        return False
    return math.isfinite(number) and number >= 0


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__
