"""Fluent, validated metadata for metering calls: who the call was for, and what it belongs to.

Run ``python -m showcase.metadata.metadata_builder`` to print what one builder sends over each transport.

    meta = (
        MetadataBuilder()
        .customer("cust_0075")
        .organization("org_008")
        .product("support_bot")
        .feature("chat")
        .tier("pro")
        .environment("production")
        .trace("trace-1234")
        .custom("transactionName", "answer-ticket")
        .build()
    )
    tracker.track_ai_call(..., metadata=meta)        # REST wire fields:  meta.to_wire()
    otel.track_ai_completion(..., metadata=meta)     # span attributes:   meta.to_otel_attributes()

Every setter checks its value at once and raises ``MetadataError`` naming the field and the reason, so
a mistake shows up where it is made, not as a 422 from the server later. Allowed tiers and
environments, and the length limit of ids, come from ``metering.schema`` (one home per fact).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from metering.schema import BY_NAME, ENVIRONMENTS, TIERS

#: builder field -> (call-record column, Revenium wire field, OTel span attribute)
FIELDS: dict[str, tuple[str, str, str]] = {
    "customer": ("customer_id", "subscriber.id", "revenium.customer"),
    "organization": ("organization_id", "organizationName", "revenium.organization"),
    "product": ("product_id", "productName", "revenium.product"),
    "feature": ("feature_id", "agent", "revenium.feature"),
    "tier": ("subscription_tier", "subscriptionTier", "revenium.tier"),
    "environment": ("environment", "environment", "deployment.environment.name"),
    "trace": ("trace_id", "traceId", ""),  # OTel carries the trace id natively
    "task_type": ("task_type", "taskType", "revenium.task_type"),
    "session": ("session_id", "sessionId", "session.id"),
    "region": ("region", "region", "cloud.region"),
}
#: wire fields set by the tracker itself; custom() may not shadow them
RESERVED_WIRE = frozenset(
    {
        "transactionId",
        "model",
        "provider",
        "inputTokenCount",
        "outputTokenCount",
        "totalTokenCount",
        "requestTime",
        "responseTime",
        "completionStartTime",
        "requestDuration",
        "isStreamed",
        "costType",
        "stopReason",
        "cacheReadTokenCount",
        "cacheCreationTokenCount",
        "reasoningTokenCount",
        "totalCost",
        "inputTokenCost",
        "outputTokenCost",
        "timeToFirstToken",
        "subscriber",
        "organizationId",
        "productId",
    }
    | {wire.split(".")[0] for _, wire, _ in FIELDS.values()}
)
_CUSTOM_KEY = re.compile(r"^[a-z][A-Za-z0-9]{0,63}$")


class MetadataError(ValueError):
    """A metadata value is wrong; ``field`` and ``reason`` say which and why."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"metadata {field_name}: {reason}")
        self.field = field_name
        self.reason = reason


def _check_id(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise MetadataError(name, f"expected a string, got {type(value).__name__}")
    text = value.strip()
    if not text:
        raise MetadataError(name, "must not be empty")
    limit = BY_NAME[FIELDS[name][0]].max_len
    if len(text) > limit:
        raise MetadataError(name, f"longer than {limit} characters ({len(text)})")
    if any(ch in text for ch in "\r\n\x00"):
        raise MetadataError(name, "contains a line break or NUL character")
    return text


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    text = _check_id(name, value).lower()
    if text not in choices:
        raise MetadataError(name, f"unknown value {value!r}; expected one of {', '.join(choices)}")
    return text


@dataclass(frozen=True)
class Metadata:
    """Validated metadata; renders itself as Revenium wire fields or OTel span attributes."""

    values: dict[str, str] = field(default_factory=dict)
    custom: dict[str, str | int | float | bool] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        """camelCase fields for the Revenium metering record (``subscriber`` as a nested object)."""
        out: dict[str, Any] = {}
        for name, value in self.values.items():
            wire = FIELDS[name][1]
            if wire == "subscriber.id":
                out["subscriber"] = {"id": value}
            else:
                out[wire] = value
        out.update(self.custom)
        return out

    def to_otel_attributes(self) -> dict[str, str | int | float | bool]:
        """Span attributes the OTLP receiver maps to call-record columns (custom ones as revenium.custom.*)."""
        out: dict[str, str | int | float | bool] = {}
        for name, value in self.values.items():
            attr = FIELDS[name][2]
            if attr:
                out[attr] = value
        out.update({f"revenium.custom.{k}": v for k, v in self.custom.items()})
        return out

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.values.get(name, default)


class MetadataBuilder:
    """Fluent builder: each setter validates and returns the builder; ``build()`` freezes the result."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        self._custom: dict[str, str | int | float | bool] = {}

    def _set(self, name: str, value: str) -> MetadataBuilder:
        self._values[name] = value
        return self

    def customer(self, customer_id: str) -> MetadataBuilder:
        """The paying customer (Revenium's subscriber id)."""
        return self._set("customer", _check_id("customer", customer_id))

    def organization(self, organization_id: str) -> MetadataBuilder:
        return self._set("organization", _check_id("organization", organization_id))

    def product(self, product_id: str) -> MetadataBuilder:
        return self._set("product", _check_id("product", product_id))

    def feature(self, feature_id: str) -> MetadataBuilder:
        """User-facing feature; sent as Revenium's ``agent``."""
        return self._set("feature", _check_id("feature", feature_id))

    def tier(self, tier: str) -> MetadataBuilder:
        return self._set("tier", _check_choice("tier", tier, TIERS))

    def environment(self, environment: str) -> MetadataBuilder:
        return self._set("environment", _check_choice("environment", environment, ENVIRONMENTS))

    def trace(self, trace_id: str) -> MetadataBuilder:
        """Distributed trace id shared by the calls of one workflow."""
        return self._set("trace", _check_id("trace", trace_id))

    def task_type(self, task_type: str) -> MetadataBuilder:
        return self._set("task_type", _check_id("task_type", task_type))

    def session(self, session_id: str) -> MetadataBuilder:
        return self._set("session", _check_id("session", session_id))

    def region(self, region: str) -> MetadataBuilder:
        return self._set("region", _check_id("region", region))

    def custom(self, key: str, value: str | int | float | bool) -> MetadataBuilder:
        """An extra camelCase field sent as is (e.g. ``transactionName``, ``subscriptionId``)."""
        if not isinstance(key, str) or not _CUSTOM_KEY.match(key):
            raise MetadataError(f"custom[{key!r}]", "key must be camelCase letters/digits, 1-64 characters")
        if key in RESERVED_WIRE:
            raise MetadataError(
                f"custom[{key!r}]", "is set by the tracker or a builder method; use that instead"
            )
        if not isinstance(value, str | int | float | bool) or isinstance(value, float) and value != value:
            raise MetadataError(
                f"custom[{key!r}]", f"value must be a string, number or boolean, got {value!r}"
            )
        if isinstance(value, str) and (len(value) > 256 or any(ch in value for ch in "\r\n\x00")):
            raise MetadataError(
                f"custom[{key!r}]", "string values hold at most 256 characters and no line breaks"
            )
        self._custom[key] = value
        return self

    def build(self, *, require: tuple[str, ...] = ("customer",)) -> Metadata:
        """The frozen metadata; ``require`` names builder fields that must have been set."""
        missing = [name for name in require if name not in self._values]
        if missing:
            raise MetadataError(missing[0], f"required but not set (call .{missing[0]}(...))")
        return Metadata(dict(self._values), dict(self._custom))


def main() -> int:
    """Show what one builder produces for each transport, and what a mistake looks like."""
    import json

    meta = (
        MetadataBuilder()
        .customer("cust_0075")
        .organization("org_008")
        .product("support_bot")
        .feature("chat")
        .tier("pro")
        .environment("production")
        .trace("trace-1234")
        .custom("transactionName", "answer-ticket")
        .build()
    )
    print("Revenium wire fields (ReveniumBasicTracker):")
    print(json.dumps(meta.to_wire(), indent=2))
    print("OpenTelemetry span attributes (revenium_otel):")
    print(json.dumps(meta.to_otel_attributes(), indent=2))
    try:
        MetadataBuilder().customer("cust_1").tier("platinum")
    except MetadataError as err:
        print(f"a mistake is caught where it is made: {err}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
