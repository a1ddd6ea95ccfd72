"""Shared test helpers: an ingest server on loopback over a tmp CSV, and a valid wire record."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask

from ingest.routes import Limits, register_ingest
from ingest.serving import BackgroundServer

KEY = "test-key-1"
SINGLE = "/meter/v2/ai/completions"
BATCH = "/meter/v2/ai/completions/batch"


def wire_record(**overrides: Any) -> dict[str, Any]:
    """A complete Revenium metering record as the SDK sends it (priced model, fresh transactionId)."""
    record: dict[str, Any] = {
        "transactionId": f"txn_{uuid.uuid4().hex}",
        "provider": "openai",
        "model": "gpt-4o",
        "inputTokenCount": 1200,
        "outputTokenCount": 300,
        "totalTokenCount": 1500,
        "cacheReadTokenCount": 200,
        "reasoningTokenCount": 0,
        "requestTime": "2026-11-20T10:00:00.000Z",
        "responseTime": "2026-11-20T10:00:00.850Z",
        "completionStartTime": "2026-11-20T10:00:00.200Z",
        "requestDuration": 850,
        "isStreamed": False,
        "costType": "AI",
        "stopReason": "END",
        "subscriber": {"id": "cust_42"},
        "organizationName": "org_acme",
        "productName": "support_bot",
        "agent": "chat",
        "taskType": "qa",
        "environment": "production",
        "region": "us-east-1",
        "traceId": "trace-abc",
    }
    record.update(overrides)
    return record


@contextmanager
def ingest_server(
    csv: Path,
    keys: list[str] | None = None,
    limits: Limits | None = None,
    middleware: Any = None,
    *,
    from_environment: bool = False,
):
    """Yield (server, state) for a Flask app with the ingest routes, served by waitress on loopback.

    Keys: ``keys``, else [KEY]; with ``from_environment`` none are given, so the routes read
    REVENIUM_FLOW_API_KEYS / REVENIUM_FLOW_API_KEYS_FILE as the dashboard does.
    """
    app = Flask("ingest-test")
    api_keys = None if from_environment else [KEY] if keys is None else keys
    state = register_ingest(app, csv, api_keys=api_keys, limits=limits)
    wsgi = middleware(app.wsgi_app) if middleware else app
    srv = BackgroundServer(wsgi).start()
    try:
        yield srv, state
    finally:
        srv.stop()
        state.close()
