"""Meter every LLM call with a few lines: the Revenium REST wire format, sent off the hot path.

    tracker = ReveniumBasicTracker(api_key="...", base_url="http://127.0.0.1:8050")
    response = client.chat(...)                                  # your LLM call
    tracker.track_ai_call("openai", "gpt-4o", usage.prompt_tokens, usage.completion_tokens,
                          duration_ms=elapsed_ms, metadata=meta)  # returns at once
    tracker.close()                                              # flush and stop (also on exit)

How it behaves, and why:
* ``track_ai_call`` builds the camelCase record (fields as the official SDK sends them) and puts it on a
  bounded queue; one background thread posts it to ``{base_url}/meter/v2/ai/completions`` with the
  ``x-api-key`` header. Your request path never waits for the metering server.
* Every record gets its own ``Idempotency-Key`` (a UUID) that stays the same across retries, so a retry
  after a lost response is acknowledged by the server instead of counted twice.
* 408, 429, 5xx answers and connection errors are retried with exponential backoff and full jitter
  (``Retry-After`` is honoured, capped); other 4xx answers are the record's fault and are not retried
  (409 = the key was reused with a different body, a bug that retrying cannot fix). The retry policy is
  tenacity's (``Retrying`` with ``wait_random_exponential``, ``stop_after_attempt``): no hand-written loop.
* When the queue is full (the server is down for long), new records are dropped and counted rather
  than blocking or exhausting memory in your application.

This is the small, dependency-light example (requests + tenacity). The main client story is the official
SDK: ``showcase/instrumentation/revenium_sdk_openai.py``.

Run ``python -m showcase.instrumentation.revenium_basic`` against a dashboard started with
``REVENIUM_FLOW_API_KEYS=hak_demo_key_1`` for a demo around a stand-in LLM (no provider network).
"""

from __future__ import annotations

import atexit
import logging
import queue
import random
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    wait_random_exponential,
)

from showcase.metadata.metadata_builder import Metadata

log = logging.getLogger(__name__)

ROUTE = "/meter/v2/ai/completions"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_STOP = object()


def wire_time(dt: datetime) -> str:
    """UTC ``%Y-%m-%dT%H:%M:%S.mmmZ`` (the SDK's format, with milliseconds kept)."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


@dataclass
class TrackerStats:
    """What the tracker did: stored, acknowledged duplicates, retries, failed and dropped records."""

    sent: int = 0
    duplicates: int = 0
    retries: int = 0
    failed: int = 0
    dropped: int = 0


@dataclass(frozen=True)
class _Outgoing:
    idempotency_key: str
    record: dict[str, Any]


class ReveniumBasicTracker:
    """Background, retrying, idempotent sender of Revenium metering records."""

    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        max_queue: int = 10_000,
        max_attempts: int = 8,
        backoff_base: float = 0.25,
        backoff_max: float = 20.0,
        timeout: float = 10.0,
        session: requests.Session | None = None,
    ) -> None:
        if not api_key:
            raise ValueError(
                "api_key is required (the server's REVENIUM_FLOW_API_KEYS holds the accepted keys)"
            )
        self.api_key = api_key
        self.url = base_url.rstrip("/") + ROUTE
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.timeout = timeout
        self.stats = TrackerStats()
        self._session = session or requests.Session()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._closed = False
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="revenium-tracker", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    # --- producer side ---------------------------------------------------------------------
    def track_ai_call(
        self,
        provider: str,
        model: str,
        input_tokens: int,
        output_tokens: int,
        *,
        duration_ms: float,
        request_time: datetime | None = None,
        stop_reason: str = "END",
        cached_tokens: int = 0,
        reasoning_tokens: int = 0,
        is_streamed: bool = False,
        time_to_first_token_ms: float | None = None,
        total_cost: float | None = None,
        metadata: Metadata | dict[str, Any] | None = None,
        transaction_id: str | None = None,
    ) -> str | None:
        """Queue one call for metering; returns its transactionId (None when the queue was full)."""
        if self._closed:
            raise RuntimeError("tracker is closed")
        start = request_time or datetime.now(UTC) - timedelta(milliseconds=duration_ms)
        end = start + timedelta(milliseconds=duration_ms)
        first = start + timedelta(milliseconds=time_to_first_token_ms or duration_ms)
        txn = transaction_id or f"txn_{uuid.uuid4().hex}"
        record: dict[str, Any] = {
            "transactionId": txn,
            "provider": provider,
            "model": model,
            "inputTokenCount": int(input_tokens),
            "outputTokenCount": int(output_tokens),
            "totalTokenCount": int(input_tokens) + int(output_tokens),
            "cacheReadTokenCount": int(cached_tokens),
            "reasoningTokenCount": int(reasoning_tokens),
            "requestTime": wire_time(start),
            "responseTime": wire_time(end),
            "completionStartTime": wire_time(first),
            "requestDuration": round(duration_ms),
            "isStreamed": is_streamed,
            "costType": "AI",
            "stopReason": stop_reason,
        }
        if time_to_first_token_ms is not None:
            record["timeToFirstToken"] = round(time_to_first_token_ms)
        if total_cost is not None:
            record["totalCost"] = float(total_cost)
        if metadata is not None:
            record.update(metadata.to_wire() if isinstance(metadata, Metadata) else metadata)
        try:
            self._queue.put_nowait(_Outgoing(str(uuid.uuid4()), record))
        except queue.Full:
            self.stats.dropped += 1
            log.warning("metering queue full (%d records): call %s dropped", self._queue.maxsize, txn)
            return None
        return txn

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued record was sent (or given up); False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._queue.all_tasks_done.wait(remaining)
        return True

    def close(self, timeout: float | None = 30.0) -> None:
        """Send what is queued (up to ``timeout``), then stop the background thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.flush(timeout)
        self._stopping.set()
        self._queue.put(_STOP)
        self._thread.join(timeout)
        atexit.unregister(self.close)

    def __enter__(self) -> ReveniumBasicTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- sender side -----------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                self._send(item)
            except Exception:  # never let one record kill the sender
                self.stats.failed += 1
                log.exception("metering: unexpected error sending a record")
            finally:
                self._queue.task_done()

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Full-jitter exponential backoff (tenacity's ``wait_random_exponential``) before retry
        ``attempt`` + 1; a server's Retry-After is a floor (capped at backoff_max)."""
        state = RetryCallState(None, None, (), {})
        state.attempt_number = attempt + 1
        delay = wait_random_exponential(multiplier=self.backoff_base, max=self.backoff_max)(state)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max))
        return delay

    def _policy(self) -> Retrying:
        """tenacity's retry policy: retryable statuses and connection errors, ``max_attempts`` tries,
        ``backoff`` between them, a sleep that ``close`` interrupts."""

        def wait(state: RetryCallState) -> float:
            outcome = state.outcome
            resp = None if outcome is None or outcome.failed else outcome.result()
            retry_after = _seconds(resp.headers.get("Retry-After")) if resp is not None else None
            return self.backoff(state.attempt_number - 1, retry_after)

        def sleep(seconds: float) -> None:
            self.stats.retries += 1
            if self._stopping.wait(seconds):
                raise _Stopped

        return Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=wait,
            sleep=sleep,
            retry=retry_if_exception_type(requests.RequestException)
            | retry_if_result(lambda resp: resp.status_code in RETRY_STATUSES),
            retry_error_callback=lambda state: None,  # exhausted: the caller counts the failure
            reraise=False,
        )

    def _send(self, item: _Outgoing) -> None:
        headers = {
            "x-api-key": self.api_key,
            "Idempotency-Key": item.idempotency_key,
            "Content-Type": "application/json",
            "User-Agent": "revenium-flow-showcase/basic",
        }
        try:
            resp = self._policy()(
                self._session.post, self.url, json=item.record, headers=headers, timeout=self.timeout
            )
        except _Stopped:  # closing while waiting to retry
            resp = None
        if resp is not None and resp.status_code < 300:
            if resp.status_code == 200 and resp.headers.get("Idempotent-Replayed"):
                self.stats.duplicates += 1
            self.stats.sent += 1
            return
        if resp is not None and resp.status_code not in RETRY_STATUSES:
            self.stats.failed += 1
            log.error(
                "metering: %s rejected with %s: %s",
                item.record["transactionId"],
                resp.status_code,
                resp.text[:500],
            )
            return
        self.stats.failed += 1
        log.error(
            "metering: giving up on %s after %d attempts", item.record["transactionId"], self.max_attempts
        )


class _Stopped(Exception):
    """The tracker is closing: stop waiting to retry."""


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


# --- example ------------------------------------------------------------------------------------
def stand_in_llm(prompt: str) -> dict[str, Any]:
    """A fake chat completion (no network): token counts and a latency like a small model's."""
    time.sleep(random.uniform(0.01, 0.05))
    prompt_tokens = max(1, len(prompt.split()) * 4 // 3)
    completion_tokens = random.randint(40, 400)
    return {
        "text": "…",
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "cached_tokens": 0},
        "finish_reason": "stop",
    }


def tracked_completion(tracker: ReveniumBasicTracker, prompt: str, metadata: Metadata) -> dict[str, Any]:
    """Wrap an LLM call: time it, read its usage, hand the record to the tracker, return the answer."""
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    reply = stand_in_llm(prompt)
    elapsed_ms = (time.perf_counter() - t0) * 1000
    usage = reply["usage"]
    tracker.track_ai_call(
        "openai",
        "gpt-4o-mini",
        usage["prompt_tokens"],
        usage["completion_tokens"],
        cached_tokens=usage["cached_tokens"],
        duration_ms=elapsed_ms,
        request_time=started,
        stop_reason="END" if reply["finish_reason"] == "stop" else "TOKEN_LIMIT",
        metadata=metadata,
    )
    return reply


def main() -> int:
    import os

    from showcase.metadata.metadata_builder import MetadataBuilder

    logging.basicConfig(level=logging.INFO)
    base_url = os.environ.get("REVENIUM_FLOW_URL", "http://127.0.0.1:8050")
    api_key = os.environ.get("REVENIUM_FLOW_API_KEY", "hak_demo_key_1")
    meta = (
        MetadataBuilder()
        .customer("cust_demo")
        .organization("org_demo")
        .product("support_bot")
        .feature("chat")
        .tier("pro")
        .environment("development")
        .build()
    )
    with ReveniumBasicTracker(api_key, base_url) as tracker:
        for i in range(20):
            tracked_completion(tracker, f"question number {i}: how do I reset my password?", meta)
        tracker.flush(30)
        print(f"metered: {tracker.stats}")
    return 0 if tracker.stats.failed == 0 and tracker.stats.dropped == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
