"""OpenAPI 3.1 description of the ingest routes, generated from the tables the mapping itself reads.

Every wire field of the record schema comes from ``mapping.WIRE_TO_COLUMN`` (its type, bounds and
description from the schema column it is stored in), ``REQUIRED_WIRE``, ``TIMESTAMP_WIRE``, ``INT_WIRE``,
``NUMBER_WIRE`` and ``WIRE_ALIASES``; the route paths and their limits (``Limits``) live here. A field added to the mapping is
therefore described without touching this module, and a test checks that every field the mapping reads
is in the document. Served at ``GET /meter/openapi.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ingest.mapping import (
    DEFAULTS,
    ENVIRONMENT_ALIASES,
    INT_WIRE,
    NUMBER_WIRE,
    PROVIDER_ALIASES,
    REQUIRED_WIRE,
    TIMESTAMP_WIRE,
    WIRE_ALIASES,
    WIRE_TO_COLUMN,
)
from metering.schema import BY_NAME, MAX_COST_USD, MAX_INT, STOP_REASONS, TIERS

OPENAPI_ROUTE = "/meter/openapi.json"
SINGLE_ROUTE = "/meter/v2/ai/completions"
BATCH_ROUTE = "/meter/v2/ai/completions/batch"
OTLP_ROUTE = "/v1/traces"
STATUS_ROUTE = "/meter/v2/status"


@dataclass
class Limits:
    """Request size limits of the ingest routes (documented in the OpenAPI document)."""

    single_bytes: int = 64 * 1024
    batch_bytes: int = 32 * 1024 * 1024
    batch_records: int = 50_000
    otlp_bytes: int = 16 * 1024 * 1024


_NO_LINE_BREAKS = "^[^\\r\\n\\x00]*$"
#: integers may arrive as JSON integers, whole floats or digit strings (the schema accepts all three)
_DIGITS = {"type": "string", "pattern": "^\\s*[+]?[0-9]+\\s*$"}


def _integer(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "anyOf": [{"type": "integer", "minimum": 0, "maximum": MAX_INT}, _DIGITS],
    }


def _field(wire: str, column: str | None) -> dict[str, Any]:
    """The JSON Schema of one wire field."""
    col = BY_NAME.get(column) if column else None
    meaning = col.meaning if col else "checked for its type; not stored"
    stored = f" Stored as `{column}`." if column else ""
    default = f" Default when absent: `{DEFAULTS[column]}`." if column in DEFAULTS else ""
    text = meaning + stored + default
    if wire == "isStreamed":
        return {"type": "boolean", "description": text}
    if wire == "subscriber":
        return {
            "type": "object",
            "description": "the paying customer: `id` is stored as `customer_id`; without one, `email` is stored as `email-` + 16 hex digits of its SHA-256 (trimmed, lower-cased), never the address",
            "properties": {
                "id": {"type": "string", "maxLength": BY_NAME["customer_id"].max_len},
                "email": {"type": "string", "maxLength": BY_NAME["customer_id"].max_len},
            },
        }
    if wire in ("requestDuration", "timeToFirstToken"):
        return {"type": "number", "minimum": 0, "maximum": MAX_INT, "description": text + " Milliseconds."}
    if wire in TIMESTAMP_WIRE or (col is not None and col.kind == "timestamp"):
        return {"type": "string", "format": "date-time", "description": text + " ISO 8601, UTC."}
    if wire in NUMBER_WIRE or (col is not None and col.kind == "float"):
        return {"type": "number", "minimum": 0, "maximum": MAX_COST_USD, "description": text + " USD."}
    if wire in INT_WIRE or (col is not None and col.kind == "int"):
        return _integer(text)
    schema: dict[str, Any] = {
        "type": "string",
        "maxLength": col.max_len if col else 128,
        "pattern": _NO_LINE_BREAKS,
        "description": text,
    }
    if wire == "subscriptionTier":
        schema["enum"] = list(TIERS)
    elif wire == "stopReason":
        schema["description"] += f" One of {', '.join(STOP_REASONS)} (trimmed, case-insensitive)."
    elif wire == "environment":
        schema["description"] += f" Accepted spellings (case-insensitive): {', '.join(ENVIRONMENT_ALIASES)}."
    elif wire == "provider":
        schema["description"] += f" Known spellings (case-insensitive): {', '.join(PROVIDER_ALIASES)}."
    return schema


def record_schema() -> dict[str, Any]:
    """JSON Schema of one Revenium metering record as the single route accepts it."""
    properties: dict[str, Any] = {}
    for wire, column in WIRE_TO_COLUMN.items():
        top = wire.split(".", 1)[0]
        if top == "subscriber":
            properties["subscriber"] = _field("subscriber", None)
            continue
        properties[wire] = _field(wire, column)
    for wire in (*TIMESTAMP_WIRE, *INT_WIRE, *NUMBER_WIRE):
        properties.setdefault(wire, _field(wire, None))
    for old, new in WIRE_ALIASES.items():
        properties[old] = {
            **properties[new],
            "description": f"older spelling of `{new}` (used when it is absent)",
        }
    properties["costType"] = {"type": "string", "description": 'sent by the SDK ("AI"); not checked'}
    return {
        "type": "object",
        "required": list(REQUIRED_WIRE),
        "properties": properties,
        "additionalProperties": True,
        "description": (
            "A Revenium metering record (camelCase). Unknown fields are ignored. `requestDuration` may be "
            "left out when `responseTime` is sent."
        ),
    }


def build_openapi(limits: Any = None, server_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the ingest routes."""
    limits = limits or Limits()
    error = {"$ref": "#/components/schemas/Error"}

    def answers(ok: dict[str, Any]) -> dict[str, Any]:
        out = dict(ok)
        for status, why in (
            ("400", "body not JSON / not gzip / bad Idempotency-Key"),
            ("401", "no API key"),
            ("403", "unknown API key"),
            ("409", "Idempotency-Key reused with another body"),
            ("413", "body or record count over the limit"),
            ("415", "unsupported Content-Encoding"),
            ("422", "record problems; nothing was stored"),
            ("503", "ingest off (no key configured) or the write failed; retry later"),
        ):
            out[status] = {"description": why, "content": {"application/json": {"schema": error}}}
        return out

    idempotency = {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "1..255 printable ASCII characters; a repeat with the same body is acknowledged once",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    }
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "revenium-flow ingest",
            "version": _version(),
            "description": (
                "Revenium-compatible metering ingest and an OTLP/HTTP trace receiver. Generated from the "
                "field tables of ingest/mapping.py."
            ),
        },
        "security": [{"apiKey": []}, {"bearer": []}],
        "paths": {
            SINGLE_ROUTE: {
                "post": {
                    "summary": "store one metering record",
                    "parameters": [idempotency],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Record"}}},
                    },
                    "responses": answers(
                        {
                            "201": _ok("#/components/schemas/Stored", "stored (durable)"),
                            "200": _ok("#/components/schemas/Duplicate", "repeated Idempotency-Key"),
                        }
                    ),
                }
            },
            BATCH_ROUTE: {
                "post": {
                    "summary": "store an array of records, all or none",
                    "parameters": [idempotency],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "array",
                                    "minItems": 1,
                                    "maxItems": limits.batch_records,
                                    "items": {"$ref": "#/components/schemas/Record"},
                                }
                            }
                        },
                    },
                    "responses": answers(
                        {
                            "201": _ok("#/components/schemas/BatchStored", "stored (durable)"),
                            "200": _ok("#/components/schemas/Duplicate", "repeated Idempotency-Key"),
                        }
                    ),
                }
            },
            OTLP_ROUTE: {
                "post": {
                    "summary": "OTLP/HTTP trace export; GenAI spans become call records",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["resourceSpans"],
                                    "properties": {"resourceSpans": {"type": "array"}},
                                }
                            },
                        },
                    },
                    "responses": answers(
                        {"200": {"description": "ExportTraceServiceResponse in the request's encoding"}}
                    ),
                }
            },
            STATUS_ROUTE: {
                "get": {
                    "summary": "whether ingest is on, how to turn it on, counters",
                    "security": [],
                    "responses": {"200": _ok("#/components/schemas/Status", "status document")},
                }
            },
            OPENAPI_ROUTE: {
                "get": {
                    "summary": "this document",
                    "security": [],
                    "responses": {"200": {"description": "OpenAPI 3.1 JSON"}},
                }
            },
        },
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
            "schemas": {
                "Record": record_schema(),
                "Stored": {
                    "type": "object",
                    "required": ["status", "id", "rows"],
                    "properties": {
                        "status": {"const": "stored"},
                        "id": {"type": "string"},
                        "rows": {"type": "integer"},
                        "costUsd": {"type": ["number", "null"]},
                    },
                },
                "BatchStored": {
                    "type": "object",
                    "required": ["status", "rows"],
                    "properties": {
                        "status": {"const": "stored"},
                        "rows": {"type": "integer"},
                        "unpriced": {"type": "integer"},
                        "totalCostUsd": {"type": "number"},
                    },
                },
                "Duplicate": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {"status": {"const": "duplicate"}, "rows": {"type": "integer"}},
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {"type": "string"},
                        "problems": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
                            },
                        },
                        "problems_not_shown": {"type": "integer"},
                    },
                },
                "Status": {
                    "type": "object",
                    "required": ["enabled", "message", "endpoints", "counters"],
                    "properties": {
                        "enabled": {"type": "boolean"},
                        "message": {"type": "string"},
                        "endpoints": {"type": "object"},
                        "data_path": {"type": "string"},
                        "counters": {"type": "object"},
                    },
                },
            },
        },
    }
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc


def _ok(ref: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": ref}}}}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("revenium-flow")
    except PackageNotFoundError:
        return "0"
