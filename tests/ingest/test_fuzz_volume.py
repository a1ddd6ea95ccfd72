"""10,000 fuzzed bodies over every ingest route against one server: zero 5xx, zero dead threads, and the
CSV valid afterwards holding exactly the acknowledged rows (issue 11). The strategies are those of
test_fuzz.py plus hostile text: lone surrogates, control characters, bidi overrides, huge strings."""

from __future__ import annotations

import multiprocessing as mp
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from requests.exceptions import InvalidHeader
from requests.utils import check_header_validity

from ingest.mapping import WIRE_TO_COLUMN
from metering.schema import BY_NAME
from metering.store import read_calls_report
from tests.ingest.ingest_helpers import BATCH, KEY, SINGLE, ingest_server, wire_record
from tests.ingest.test_fuzz import (
    BASE_GENAI,
    OTLP,
    STATUS,
    Target,
    batch_bodies,
    check_answer,
    dumps,
    encoded,
    exports,
    json_values,
    records,
    single_bodies,
)

BODIES = 10_000
#: every wire field stored as text (ids and vocabularies), from the mapping's own table
TEXT_WIRE = sorted(
    w for w, c in WIRE_TO_COLUMN.items() if "." not in w and BY_NAME[c].kind in ("str", "category")
)
#: printable ASCII, every C0/DEL/C1 control, lone surrogates (sent as JSON \ud800 escapes), bidi
#: overrides and isolates, zero-width and BOM, line/paragraph separators, markup, a few letters
HOSTILE_ALPHABET = (
    [chr(c) for c in range(0x00, 0xA0)]
    + [chr(c) for c in (0xD800, 0xD83D, 0xDBFF, 0xDC00, 0xDC80, 0xDFFF)]
    + list("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u200d\ufeff\u2028\u2029")
    + list("éİ😀中")
)
hostile_chars = st.text(alphabet=HOSTILE_ALPHABET, max_size=24)
hostile_text = st.integers(0, 19).flatmap(
    lambda roll: (
        st.sampled_from(["x" * 60_000, "y" * 70_000])  # around the single-route body limit
        if roll == 0
        else st.sampled_from(
            ['=HYPERLINK("http://x","y")', "@SUM(1)", "+1-1", "-2", "<script>x</script>", " "]
        )
        if roll == 1
        else hostile_chars
    )
)


@st.composite
def hostile_records(draw: st.DrawFn) -> dict[str, Any]:
    record = wire_record(transactionId=f"txn_{draw(st.uuids()).hex}")
    for name in draw(st.lists(st.sampled_from(TEXT_WIRE), min_size=1, max_size=3, unique=True)):
        record[name] = draw(hostile_text)
    if draw(st.booleans()):
        record["subscriber"] = {"id": draw(hostile_text)}
    return record


#: OTLP span attributes that become text columns
OTLP_TEXT_KEYS = [
    "gen_ai.request.model",
    "revenium.customer",
    "revenium.organization",
    "revenium.product",
    "revenium.feature",
    "gen_ai.operation.name",
    "session.id",
    "cloud.region",
    "service.name",
]


@st.composite
def hostile_exports(draw: st.DrawFn) -> dict[str, Any]:
    """An OTLP/JSON export of 1-2 GenAI spans whose text attributes carry hostile text."""
    spans = []
    for _ in range(draw(st.integers(1, 2))):
        attrs = dict(BASE_GENAI)
        for key in draw(st.lists(st.sampled_from(OTLP_TEXT_KEYS), min_size=1, max_size=2, unique=True)):
            attrs[key] = {"stringValue": draw(hostile_text)}
        spans.append(
            {
                "traceId": draw(st.binary(min_size=16, max_size=16)).hex(),
                "spanId": draw(st.binary(min_size=8, max_size=8)).hex(),
                "name": "chat",
                "startTimeUnixNano": "1795000000000000000",
                "endTimeUnixNano": "1795000000900000000",
                "attributes": [{"key": k, "value": v} for k, v in attrs.items()],
            }
        )
    return {"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": spans}]}]}


@st.composite
def ingest_requests(draw: st.DrawFn) -> tuple[str, str, bytes, dict[str, str]]:
    """(method, route, body, headers): one fuzzed request to any ingest route. Mostly hostile text (cheap
    to draw); test_fuzz.py's general strategies (dearer) for a quarter of the requests."""
    roll = draw(st.integers(0, 19))
    ascii_only = draw(st.booleans())
    headers = {"x-api-key": KEY}
    json_headers = headers | {"Content-Type": "application/json"}
    if roll <= 7:
        return "POST", SINGLE, dumps(draw(hostile_records()), ascii_only), headers
    if roll <= 9:
        return "POST", SINGLE, dumps(draw(single_bodies), ascii_only), headers
    if roll <= 11:
        items = draw(st.lists(hostile_records() | records(), min_size=1, max_size=3))
        return "POST", BATCH, dumps(items, ascii_only), headers
    if roll == 12:
        return "POST", BATCH, dumps(draw(batch_bodies), ascii_only), headers
    if roll <= 15:
        return "POST", OTLP, dumps(draw(hostile_exports()), ascii_only), json_headers
    if roll == 16:
        body, extra = draw(encoded(dumps(draw(exports()), True)))
        if not all(_sendable(name, value) for name, value in extra.items()):
            extra = {"Content-Encoding": "unknown"}  # a value the client library itself would refuse
        return "POST", OTLP, body, json_headers | extra
    if roll <= 18:
        route = draw(st.sampled_from([SINGLE, BATCH, OTLP]))
        raw = draw(st.binary(max_size=600) | json_values.map(lambda v: dumps(v, False)))
        return "POST", route, raw, json_headers
    return "GET", STATUS, b"", draw(st.sampled_from([headers, {}, {"x-api-key": "wrong"}]))


def _sendable(name: str, value: str) -> bool:
    try:
        check_header_validity((name, value))
        value.encode("latin-1")
    except (InvalidHeader, UnicodeEncodeError):
        return False
    return True


IN_FLIGHT = 4  # requests sent at once while hypothesis draws the next ones


def _serve(csv: Path, conn: Any) -> None:
    """The ingest server in its own process (the other core), as in production: sends its URL, waits
    for the end of the run, then answers with what only it can see (threads, writer health, counters)."""
    with ingest_server(csv) as (srv, state):
        workers = [t for t in threading.enumerate() if t.name.startswith("waitress-")]
        conn.send(srv.url)
        conn.recv()
        conn.send(
            {
                "workers": len(workers),
                "workers_alive": sum(t.is_alive() for t in workers),
                "dispatcher_threads": len(srv.server.task_dispatcher.threads),
                "writer": state.writer.health(),
                "counters": state.status()["counters"],
            }
        )


@pytest.mark.slow
def test_ten_thousand_fuzzed_bodies_no_5xx_no_dead_thread_csv_valid(tmp_path):
    csv = tmp_path / "calls.csv"
    parent, child = mp.get_context("fork").Pipe()
    server = mp.get_context("fork").Process(target=_serve, args=(csv, child), daemon=True)
    server.start()
    try:
        assert parent.poll(60), "the ingest server did not start"
        srv = SimpleNamespace(url=parent.recv())
        local = threading.local()
        clients: list[Target] = []
        sent = {"n": 0}
        lock = threading.Lock()
        slots = threading.BoundedSemaphore(IN_FLIGHT)

        def client() -> Target:
            target = getattr(local, "target", None)
            if target is None:  # one keep-alive session per sending thread
                target = local.target = Target(srv, None)
                with lock:
                    clients.append(target)
            return target

        def one(request: tuple[str, str, bytes, dict[str, str]]) -> None:
            try:
                method, route, body, headers = request
                target = client()
                if method == "GET":
                    answer = target.http.get(srv.url + route, headers=headers, timeout=30)
                    assert answer.status_code in (200, 401, 403), answer.status_code
                else:
                    answer = target.send(route, body, headers)
                    check_answer(target, answer, route, headers.get("Content-Type", ""))
                with lock:
                    sent["n"] += 1
            finally:
                slots.release()

        pool = ThreadPoolExecutor(IN_FLIGHT)
        futures = []

        @settings(
            max_examples=BODIES,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(request=ingest_requests())
        def fuzz(request: tuple[str, str, bytes, dict[str, str]]) -> None:
            slots.acquire()
            futures.append(pool.submit(one, request))

        fuzz()
        pool.shutdown(wait=True)
        for f in futures:
            f.result()  # an assertion failed in a sending thread fails the test here
        for c in clients:
            c.http.close()
        parent.send("done")
        assert parent.poll(60), "the ingest server did not answer"
        seen = parent.recv()
    finally:
        server.join(30)
        if server.is_alive():
            server.kill()
    statuses: dict[int, int] = {}
    for c in clients:
        for code, n in c.statuses.items():
            statuses[code] = statuses.get(code, 0) + n
    assert sent["n"] >= BODIES, sent
    assert not any(code >= 500 for code in statuses), statuses
    # zero dead threads: every waitress worker is still there, and the writer never had to restart
    assert seen["workers"] > 0 and seen["workers_alive"] == seen["workers"] == seen["dispatcher_threads"]
    health = seen["writer"]
    assert health["alive"] and health["restarts"] == 0 and health["failed_batches"] == 0
    counters = seen["counters"]
    report = read_calls_report(csv)
    assert report.malformed == []
    acked = sum(c.acked_rows for c in clients)  # each client tallies its own acknowledged rows
    assert len(report.frame) == acked + counters["otlp_rows"] == counters["rows_stored"]
