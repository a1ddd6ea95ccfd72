"""The basic tracker's rules, one at a time, with a scripted session (no server): what is retried, with
which key, how long it waits, and what happens when the queue is full or the tracker is closed."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import requests

from showcase.instrumentation.revenium_basic import ReveniumBasicTracker, tracked_completion, wire_time
from showcase.metadata.metadata_builder import MetadataBuilder


class Answer:
    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.status_code, self.headers, self.text = status, headers or {}, "{}"


class ScriptedSession:
    """Plays back answers (an int status, a dict of headers, or an exception) and records each post."""

    def __init__(self, script: list, gate: threading.Event | None = None) -> None:
        self.script, self.gate, self.posts = list(script), gate, []

    def post(self, url, json, headers, timeout):
        if self.gate is not None:
            self.gate.wait(10)
        self.posts.append((url, json, dict(headers)))
        step = self.script.pop(0) if self.script else 201
        if isinstance(step, Exception):
            raise step
        status, extra = step if isinstance(step, tuple) else (step, None)
        return Answer(status, extra)


def tracker(session, **kw) -> ReveniumBasicTracker:
    return ReveniumBasicTracker("k", "http://meter.test/", session=session, backoff_base=0.001, **kw)


META = MetadataBuilder().customer("cust_1").organization("org_1").product("bot").build()


def test_retries_keep_the_same_idempotency_key_and_body():
    session = ScriptedSession([500, 429, requests.ConnectionError("reset"), 408, 503, 201])
    with tracker(session) as t:
        txn = t.track_ai_call("openai", "gpt-4o", 10, 5, duration_ms=120, metadata=META)
        assert t.flush(10)
    assert len(session.posts) == 6
    assert {p[2]["Idempotency-Key"] for p in session.posts} == {session.posts[0][2]["Idempotency-Key"]}
    assert all(p[1] == session.posts[0][1] for p in session.posts)
    url, body, headers = session.posts[0]
    assert url == "http://meter.test/meter/v2/ai/completions" and headers["x-api-key"] == "k"
    assert body["transactionId"] == txn and body["subscriber"] == {"id": "cust_1"}
    assert body["totalTokenCount"] == 15 and body["requestDuration"] == 120
    assert (t.stats.sent, t.stats.retries, t.stats.failed) == (1, 5, 0)


@pytest.mark.parametrize("status", [400, 401, 403, 409, 413, 422])
def test_client_errors_are_not_retried(status):
    session = ScriptedSession([status])
    with tracker(session) as t:
        t.track_ai_call("openai", "gpt-4o", 10, 5, duration_ms=1)
        assert t.flush(10)
    assert len(session.posts) == 1 and (t.stats.failed, t.stats.retries) == (1, 0)


def test_gives_up_after_max_attempts_and_counts_a_replay_as_duplicate():
    session = ScriptedSession([503, 503, 503, (200, {"Idempotent-Replayed": "true"})])
    with tracker(session, max_attempts=3) as t:
        t.track_ai_call("openai", "gpt-4o", 1, 1, duration_ms=1)
        t.track_ai_call("openai", "gpt-4o", 1, 1, duration_ms=1)
        assert t.flush(10)
    assert (t.stats.failed, t.stats.sent, t.stats.duplicates, t.stats.retries) == (1, 1, 1, 2)


def test_backoff_is_full_jitter_capped_and_honours_retry_after():
    t = ReveniumBasicTracker("k", "http://x", session=ScriptedSession([]), backoff_base=0.5, backoff_max=4.0)
    try:
        delays = [t.backoff(a) for a in range(10) for _ in range(50)]
        assert min(delays) >= 0 and max(delays) <= 4.0
        assert max(t.backoff(0) for _ in range(200)) <= 0.5
        assert t.backoff(0, retry_after=3) >= 3 and t.backoff(0, retry_after=60) == 4.0
    finally:
        t.close()


def test_full_queue_drops_and_counts_instead_of_blocking():
    gate = threading.Event()
    session = ScriptedSession([], gate=gate)
    t = tracker(session, max_queue=2)
    ids = [t.track_ai_call("openai", "gpt-4o", 1, 1, duration_ms=1) for _ in range(6)]
    gate.set()
    t.close(10)
    assert ids.count(None) >= 3 and t.stats.dropped == ids.count(None)
    assert t.stats.sent == 6 - t.stats.dropped
    with pytest.raises(RuntimeError, match="closed"):
        t.track_ai_call("openai", "gpt-4o", 1, 1, duration_ms=1)


def test_missing_api_key_is_refused():
    with pytest.raises(ValueError, match="api_key is required"):
        ReveniumBasicTracker("", "http://x")


def test_wire_times_and_the_wrapped_stand_in_call():
    assert wire_time(datetime(2026, 11, 20, 10, 0, 0, 850_999, tzinfo=UTC)) == "2026-11-20T10:00:00.850Z"
    session = ScriptedSession([])
    with tracker(session) as t:
        reply = tracked_completion(t, "how do I reset my password", META)
        assert t.flush(10)
    body = session.posts[0][1]
    assert body["model"] == "gpt-4o-mini" and body["outputTokenCount"] == reply["usage"]["completion_tokens"]
    assert body["requestTime"] <= body["completionStartTime"] <= body["responseTime"]
