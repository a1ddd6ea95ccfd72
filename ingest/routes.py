"""The ingest routes on the dashboard's Flask server, and the state they share.

``register_ingest(server, data_path)`` adds:

* ``POST /meter/v2/ai/completions``        one Revenium metering record (JSON, camelCase)
* ``POST /meter/v2/ai/completions/batch``  a JSON array of such records (all stored or none)
* ``POST /v1/traces``                      OTLP/HTTP traces, protobuf or JSON (GenAI spans -> rows)
* ``GET  /meter/v2/status``                whether ingest is on, how to turn it on; with a key: counters
                                           and the writer's health (never file-system paths)

The single-record POST is answered in front of Flask by ``SingleRecordFastPath`` (WSGI middleware on
``server.wsgi_app``; the same handler, the same answers). Every answer is JSON (OTLP answers in the
request's encoding). Bad input gets a 4xx naming the field
and reason; a 2xx is sent only after the rows are durable in the CSV (see writer.py). A failure while
writing gets a 500 naming a ``requestId`` that the server log names too; the writer keeps serving.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pyarrow as pa
from flask import Flask, Response, request

from ingest.auth import HOW_TO_ENABLE, ApiKeys
from ingest.batch_mapping import map_batch
from ingest.idempotency import (
    CONFLICT,
    DEFAULT_TTL_SECONDS,
    DUPLICATE,
    NEW,
    Entry,
    IdempotencyLedger,
    LedgerBusy,
    body_digest,
    ledger_path,
    scope_of,
)
from ingest.mapping import map_revenium
from ingest.openapi import (
    BATCH_ROUTE,
    OPENAPI_ROUTE,
    OTLP_ROUTE,
    SINGLE_ROUTE,
    STATUS_ROUTE,
    Limits,
    build_openapi,
)
from ingest.otlp import OtlpDecodeError, decode, encode_response, extract
from ingest.writer import Arrival, GroupCommitWriter, new_request_id
from metering.prices import Catalog, load_catalog
from metering.schema import Problem
from metering.store import CallStore

log = logging.getLogger(__name__)

MAX_PROBLEMS = 200
MAX_IDEMPOTENCY_KEY = 255


class HttpError(Exception):
    """An answer other than success: status, message and optional details (problems)."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


@dataclass
class Counters:
    """What ingest did since start (shown by the status route and the dashboard)."""

    rows_stored: int = 0
    metered_rows: int = 0
    otlp_rows: int = 0
    duplicates: int = 0
    rejected_requests: int = 0
    otlp_spans_ignored: int = 0
    otlp_spans_rejected: int = 0
    last_received_at: str | None = None


@dataclass
class IngestState:
    """Everything the ingest routes share; ``close()`` stops the writer thread and the ledger."""

    data_path: Path
    keys: ApiKeys
    ledger: IdempotencyLedger
    writer: GroupCommitWriter
    limits: Limits = field(default_factory=Limits)
    counters: Counters = field(default_factory=Counters)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def enabled(self) -> bool:
        return self.keys.enabled

    def status(self) -> dict[str, Any]:
        """Everything the status route shows a caller with a key (the dashboard shows it too)."""
        enabled = self.enabled
        with self._lock:
            counters = dict(self.counters.__dict__)
        return {
            "enabled": enabled,
            "message": (
                f"Metering ingest is on ({len(self.keys.keys)} API key(s)); send records to {SINGLE_ROUTE}, "
                f"{BATCH_ROUTE} or OTLP spans to {OTLP_ROUTE} with the x-api-key header."
                if enabled
                else HOW_TO_ENABLE
            ),
            "endpoints": {"single": SINGLE_ROUTE, "batch": BATCH_ROUTE, "otlp": OTLP_ROUTE},
            "counters": counters,
            "writer": self.writer.health(),
        }

    def count(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self.counters, name, getattr(self.counters, name) + delta)
            if deltas.get("rows_stored"):
                self.counters.last_received_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def close(self) -> None:
        self.writer.close()
        self.ledger.close()


def register_ingest(
    server: Flask,
    data_path: Path,
    *,
    api_keys: list[str] | None = None,
    keys_file: Path | None = None,
    catalog: Catalog | None = None,
    limits: Limits | None = None,
    ttl_seconds: float = DEFAULT_TTL_SECONDS,
) -> IngestState:
    """Add the ingest routes to ``server`` (the Dash app's Flask server) writing to ``data_path``."""
    data_path = Path(data_path)
    state = IngestState(
        data_path=data_path,
        keys=ApiKeys.from_environment(api_keys, keys_file),
        ledger=(ledger := IdempotencyLedger(ledger_path(data_path), ttl_seconds=ttl_seconds)),
        writer=GroupCommitWriter(CallStore(data_path), catalog or load_catalog(), ledger),
        limits=limits or Limits(),
    )
    server.extensions["revenium_ingest"] = state

    def guarded(handler: Callable[[IngestState], Response]) -> Callable[[], Response]:
        def view() -> Response:
            try:
                return handler(state)
            except Exception as exc:  # noqa: BLE001 - _error_answer tells bad input from bugs
                return _json(*_error_answer(state, exc))

        view.__name__ = f"revenium_ingest_{handler.__name__}"
        return view

    server.wsgi_app = SingleRecordFastPath(server.wsgi_app, state)  # type: ignore[method-assign]
    server.add_url_rule(SINGLE_ROUTE, view_func=guarded(_single), methods=["POST"])
    server.add_url_rule(BATCH_ROUTE, view_func=guarded(_batch), methods=["POST"])
    server.add_url_rule(OTLP_ROUTE, view_func=guarded(_otlp), methods=["POST"])
    server.add_url_rule(STATUS_ROUTE, view_func=guarded(_status), methods=["GET"])
    server.add_url_rule(OPENAPI_ROUTE, view_func=guarded(_openapi), methods=["GET"])
    return state


def _error_answer(state: IngestState, exc: Exception) -> tuple[dict[str, Any], int, dict[str, str] | None]:
    """(payload, status, headers) of the answer to a handler that raised: its 4xx/5xx for bad input
    (``HttpError``), else a 500 naming a request id that the log names too (a bug: no internals shown)."""
    if isinstance(exc, HttpError):
        state.count(rejected_requests=1)
        return {"error": exc.message, **exc.extra}, exc.status, _retry_after(exc.status)
    rid = _request_id()
    log.exception("ingest: unexpected error on %s (request id %s)", _request().path, rid, exc_info=exc)
    message = f"internal error while ingesting; nothing was stored (request id {rid})"
    return {"error": message, "requestId": rid}, 500, None


# --- the single-record route without Flask ------------------------------------------------------
_current = threading.local()


def _request() -> Any:
    """The request being answered: the fast path's view of the WSGI environ, else Flask's request."""
    return getattr(_current, "request", None) or request


class _EnvironHeaders:
    """``headers.get`` over a WSGI environ (case-insensitive, as Flask's)."""

    __slots__ = ("_environ",)

    def __init__(self, environ: dict[str, Any]) -> None:
        self._environ = environ

    def get(self, name: str, default: Any = None) -> Any:
        key = name.upper().replace("-", "_")
        return self._environ.get(key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}", default)


class _BoundedInput:
    """``wsgi.input`` read no further than Content-Length (as Flask's request stream)."""

    __slots__ = ("_input", "_left")

    def __init__(self, stream: Any, length: int) -> None:
        self._input, self._left = stream, length

    def read(self, size: int) -> bytes:
        data = self._input.read(min(size, self._left)) if self._left > 0 else b""
        self._left -= len(data)
        return data


class _EnvironRequest:
    """What the single-record route reads of a request, straight from the WSGI environ."""

    __slots__ = ("headers", "content_length", "stream", "path")

    def __init__(self, environ: dict[str, Any], length: int) -> None:
        self.headers = _EnvironHeaders(environ)
        self.content_length = length
        self.stream = _BoundedInput(environ["wsgi.input"], length)
        self.path = environ.get("PATH_INFO", "")


class SingleRecordFastPath:
    """WSGI middleware in front of the Flask app: ``POST`` to the single-record route with a
    Content-Length is answered here, by the same code as the Flask route (``_single_answer``, the same
    errors, the same JSON), without Flask's request and response machinery, which cost as much CPU
    as the route's own work. Everything else (and a body without Content-Length) goes to Flask."""

    def __init__(self, app: Callable[..., Any], state: IngestState) -> None:
        self.app, self.state = app, state

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        length = environ.get("CONTENT_LENGTH") or ""
        if (
            environ.get("PATH_INFO") != SINGLE_ROUTE
            or environ.get("REQUEST_METHOD") != "POST"
            or not (length.isascii() and length.isdigit())
        ):
            return self.app(environ, start_response)
        _current.request = _EnvironRequest(environ, int(length))
        try:
            try:
                payload, status, headers = _single_answer(self.state)
            except Exception as exc:  # noqa: BLE001 - _error_answer tells bad input from bugs
                payload, status, headers = _error_answer(self.state, exc)
        finally:
            _current.request = None
        body = json.dumps(payload).encode()
        response_headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        start_response(
            f"{status} {HTTPStatus(status).phrase}", response_headers + list((headers or {}).items())
        )
        return [body]


# --- helpers ------------------------------------------------------------------------------------
def _json(payload: Any, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json", headers=headers)


def _retry_after(status: int) -> dict[str, str] | None:
    return {"Retry-After": "1"} if status in (429, 503) else None


def _authenticate(state: IngestState) -> str:
    key = _request().headers.get("x-api-key")
    if not key:
        auth = _request().headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            key = auth[7:].strip()
    denied = state.keys.check(key)
    if denied is not None:
        raise HttpError(*denied)
    return key or ""


def _read_body(limit: int) -> bytes:
    """The request body, refused with 413 past ``limit`` bytes (also after gzip/deflate decoding)."""
    length = _request().content_length
    if length is not None and length > limit:
        raise HttpError(413, f"body of {length} bytes exceeds the limit of {limit} bytes")
    data = _request().stream.read(limit + 1)
    if len(data) > limit:
        raise HttpError(413, f"body exceeds the limit of {limit} bytes")
    encoding = (_request().headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding in ("identity", ""):
        return data
    if encoding not in ("gzip", "deflate"):
        raise HttpError(415, f"unsupported Content-Encoding {encoding!r}; use gzip, deflate or none")
    try:
        inflater = zlib.decompressobj(zlib.MAX_WBITS | (16 if encoding == "gzip" else 0))
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise HttpError(400, f"body is not valid {encoding} data: {exc}") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise HttpError(413, f"decompressed body exceeds the limit of {limit} bytes")
    return out


def _parse_json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise HttpError(400, f"body is not valid JSON: {exc}") from exc


def _idempotency_key() -> str | None:
    key = _request().headers.get("Idempotency-Key")
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isascii() or not key.isprintable():
        raise HttpError(400, f"Idempotency-Key must be 1..{MAX_IDEMPOTENCY_KEY} printable ASCII characters")
    return key


def _unprocessable(problems: list[Problem]) -> HttpError:
    shown = [p.as_dict() for p in problems[:MAX_PROBLEMS]]
    extra: dict[str, Any] = {"problems": shown}
    if len(problems) > MAX_PROBLEMS:
        extra["problems_not_shown"] = len(problems) - MAX_PROBLEMS
    return HttpError(422, f"{len(problems)} problem(s) in the record(s); nothing was stored", **extra)


def _store(
    state: IngestState,
    records: list[dict[str, Any]],
    entries: list[Entry],
    arrays: dict[str, pa.Array] | None = None,
    arrival: Arrival | None = None,
) -> list[float | None]:
    job = state.writer.submit(records, entries, arrays=arrays, request_id=_request_id(), arrival=arrival)
    if job.error is None:
        return job.costs
    if job.failed:  # the writer failed on these rows: logged under the same request id
        raise HttpError(
            500,
            f"the record(s) could not be stored: {job.error}; nothing was stored "
            f"(request id {job.request_id}, logged by the server)",
            requestId=job.request_id,
        )
    raise HttpError(
        503, f"the record(s) could not be stored: {job.error}; retry later", requestId=job.request_id
    )


def _request_id() -> str:
    """The caller's X-Request-Id when it is a short printable token, else a fresh one."""
    given = (_request().headers.get("X-Request-Id") or "").strip()
    if 0 < len(given) <= 64 and given.isascii() and given.isprintable() and " " not in given:
        return given
    return new_request_id()


def _store_idempotent(
    state: IngestState,
    api_key: str,
    body: Any,
    records: list[dict[str, Any]],
    response: dict[str, Any],
    arrays: dict[str, pa.Array] | None = None,
    arrival: Arrival | None = None,
) -> tuple[int, dict[str, Any], dict[str, str] | None]:
    """Store ``records`` (or ``arrays``) once per Idempotency-Key: (status, payload, headers) of the answer."""
    idem = _idempotency_key()
    if idem is None:
        return 201, response | {"costs": _store(state, records, [], arrays, arrival)}, None
    key = f"{scope_of(api_key)}:{idem}"
    digest = body_digest(body)
    try:
        outcome, original = state.ledger.claim(key, digest)
    except LedgerBusy as exc:
        raise HttpError(503, str(exc)) from exc
    if outcome == CONFLICT:
        raise HttpError(409, f"Idempotency-Key {idem!r} was already used with a different body")
    if outcome == DUPLICATE:
        state.count(duplicates=int(response["rows"]))
        return 200, (original or {}) | {"status": "duplicate"}, {"Idempotent-Replayed": "true"}
    assert outcome == NEW
    costs = _store(state, records, [Entry(key, digest, response)], arrays, arrival)
    return 201, response | {"costs": costs}, None


# --- handlers -----------------------------------------------------------------------------------
def _status(state: IngestState) -> Response:
    """Off: how to turn ingest on (no key exists to ask for). On: needs a key, then the full status."""
    if not state.enabled:
        return _json({"enabled": False, "message": HOW_TO_ENABLE}, 200)
    _authenticate(state)
    return _json(state.status(), 200)


def _single(state: IngestState) -> Response:
    return _json(*_single_answer(state))


def _single_answer(state: IngestState) -> tuple[dict[str, Any], int, dict[str, str] | None]:
    """One record stored (or its 4xx): (payload, status, headers), for the Flask route and the fast path."""
    api_key = _authenticate(state)
    with state.writer.arriving() as arrival:  # a lingering writer waits for this record to join its commit
        body = _parse_json(_read_body(state.limits.single_bytes))
        if isinstance(body, list):
            raise HttpError(422, f"this route takes one record (a JSON object); send arrays to {BATCH_ROUTE}")
        mapped = map_revenium(
            body, user_agent=_request().headers.get("User-Agent"), api_key_id=scope_of(api_key)
        )
        if mapped.problems:
            raise _unprocessable(mapped.problems)
        record = mapped.record
        assert record is not None
        response = {"status": "stored", "id": record["call_id"], "rows": 1}
        status, payload, headers = _store_idempotent(
            state, api_key, body, [record], response, arrival=arrival
        )
    costs = payload.pop("costs", None)
    if costs is not None:
        payload["costUsd"] = costs[0]
    if status == 201:
        state.count(rows_stored=1, metered_rows=1)
    return payload, status, headers


def _batch(state: IngestState) -> Response:
    api_key = _authenticate(state)
    body = _parse_json(_read_body(state.limits.batch_bytes))
    if not isinstance(body, list):
        raise HttpError(
            422,
            "this route takes a JSON array of records",
            problems=[{"field": "body", "reason": "expected a JSON array"}],
        )
    if not body:
        raise HttpError(
            422, "empty array: nothing to store", problems=[{"field": "body", "reason": "empty array"}]
        )
    if len(body) > state.limits.batch_records:
        raise HttpError(
            413, f"{len(body)} records exceed the limit of {state.limits.batch_records} per request"
        )
    mapped = map_batch(  # = map_revenium per item
        body, user_agent=_request().headers.get("User-Agent"), api_key_id=scope_of(api_key)
    )
    if mapped.problems:
        raise _unprocessable(mapped.problems)
    assert mapped.arrays is not None
    response = {"status": "stored", "rows": mapped.rows}
    status, payload, headers = _store_idempotent(state, api_key, body, [], response, arrays=mapped.arrays)
    costs = payload.pop("costs", None)
    if costs is not None:
        payload["unpriced"] = sum(c is None for c in costs)
        payload["totalCostUsd"] = sum(c for c in costs if c is not None)
    if status == 201:
        state.count(rows_stored=mapped.rows, metered_rows=mapped.rows)
    return _json(payload, status, headers)


def _openapi(state: IngestState) -> Response:
    return _json(build_openapi(state.limits, request.host_url.rstrip("/")), 200)


def _otlp(state: IngestState) -> Response:
    api_key = _authenticate(state)
    content_type = (_request().headers.get("Content-Type") or "application/x-protobuf").lower()
    if "json" not in content_type and "protobuf" not in content_type:
        raise HttpError(
            415, f"Content-Type {content_type!r}: send application/x-protobuf or application/json"
        )
    data = _read_body(state.limits.otlp_bytes)
    try:
        export = decode(data, content_type)
    except OtlpDecodeError as exc:
        raise HttpError(400, str(exc)) from exc
    found = extract(export)
    scope = scope_of(api_key)
    claimed: list[Entry] = []
    claimed_here: dict[str, str] = {}  # key -> digest of spans this request claimed (ledger: in flight)
    records: list[dict[str, Any]] = []
    rejected, messages = found.rejected, list(found.messages)
    try:
        for span_key, record in sorted(zip(found.keys, found.records, strict=True), key=lambda kr: kr[0]):
            key = f"{scope}:{span_key}"
            record["api_key_id"] = scope
            digest = body_digest(record | {"user_agent": ""})
            if key in claimed_here:  # the same span twice in one export: do not wait on our own claim
                outcome = DUPLICATE if claimed_here[key] == digest else CONFLICT
            else:
                outcome, _ = state.ledger.claim(key, digest)
            if outcome == NEW:
                claimed_here[key] = digest
                claimed.append(Entry(key, digest, {"status": "stored", "id": record["call_id"]}))
                records.append(record)
            elif outcome == CONFLICT:
                rejected += 1
                messages.append(
                    f"span {record['call_id']}: re-sent with different content; first version kept"
                )
            else:
                state.count(duplicates=1)
    except LedgerBusy as exc:
        state.ledger.release([e.key for e in claimed])
        raise HttpError(503, str(exc)) from exc
    if records:
        _store(state, records, claimed)
        state.count(rows_stored=len(records), otlp_rows=len(records))
    state.count(otlp_spans_ignored=found.ignored, otlp_spans_rejected=rejected)
    message = "; ".join(messages)[:2000]
    payload, mimetype = encode_response(rejected, message, content_type)
    return Response(payload, status=200, mimetype=mimetype)
