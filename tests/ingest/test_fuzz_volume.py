"""10,000 fuzzed bodies over every ingest route against one server: zero 5xx, zero dead threads, and the
CSV valid afterwards holding exactly the acknowledged rows (issue 11). The bodies are those of
test_fuzz.py's strategies (their seeded twins in ``fuzz_random``: drawn through the hypothesis engine they
cost ~15 ms a body) plus hostile text: lone surrogates, control characters, bidi overrides, huge strings.
A run is reproduced from its seed: ``FUZZ_SEED=<n>`` (printed when the test fails)."""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from random import Random
from types import SimpleNamespace
from typing import Any

import pytest
from requests.exceptions import InvalidHeader
from requests.utils import check_header_validity

from ingest.mapping import WIRE_TO_COLUMN
from metering.schema import BY_NAME
from metering.store import read_calls_report
from tests.ingest import fuzz_random as fuzz
from tests.ingest.ingest_helpers import BATCH, KEY, SINGLE, ingest_server, wire_record
from tests.ingest.test_fuzz import BASE_GENAI, OTLP, STATUS, Target, check_answer, dumps

BODIES = 10_000
#: the seed of the bodies (a failing run prints it: rerun with FUZZ_SEED=<n>)
SEED = int(os.environ.get("FUZZ_SEED", "20261202"))
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


def hostile_text(rng: Random) -> str:
    roll = rng.randrange(20)
    if roll == 0:
        return rng.choice(["x" * 60_000, "y" * 70_000])  # around the single-route body limit
    if roll == 1:
        return rng.choice(['=HYPERLINK("http://x","y")', "@SUM(1)", "+1-1", "-2", "<script>x</script>", " "])
    return fuzz.text(rng, 24, HOSTILE_ALPHABET)


def hostile_record(rng: Random) -> dict[str, Any]:
    record = wire_record(transactionId=f"txn_{rng.getrandbits(128):032x}")
    for name in rng.sample(TEXT_WIRE, rng.randint(1, 3)):
        record[name] = hostile_text(rng)
    if rng.random() < 0.5:
        record["subscriber"] = {"id": hostile_text(rng)}
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


def hostile_export(rng: Random) -> dict[str, Any]:
    """An OTLP/JSON export of 1-2 GenAI spans whose text attributes carry hostile text."""
    spans = []
    for _ in range(rng.randint(1, 2)):
        attrs = dict(BASE_GENAI)
        for key in rng.sample(OTLP_TEXT_KEYS, rng.randint(1, 2)):
            attrs[key] = {"stringValue": hostile_text(rng)}
        spans.append(
            {
                "traceId": rng.randbytes(16).hex(),
                "spanId": rng.randbytes(8).hex(),
                "name": "chat",
                "startTimeUnixNano": "1795000000000000000",
                "endTimeUnixNano": "1795000000900000000",
                "attributes": [{"key": k, "value": v} for k, v in attrs.items()],
            }
        )
    return {"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": spans}]}]}


def ingest_request(rng: Random) -> tuple[str, str, bytes, dict[str, str]]:
    """(method, route, body, headers): one fuzzed request to any ingest route. Mostly hostile text;
    test_fuzz.py's general values (``fuzz_random``'s twins of its strategies) for a quarter."""
    roll = rng.randrange(20)
    ascii_only = rng.random() < 0.5
    headers = {"x-api-key": KEY}
    json_headers = headers | {"Content-Type": "application/json"}
    if roll <= 7:
        return "POST", SINGLE, dumps(hostile_record(rng), ascii_only), headers
    if roll <= 9:
        return "POST", SINGLE, dumps(fuzz.single_body(rng), ascii_only), headers
    if roll <= 11:
        items = [
            hostile_record(rng) if rng.random() < 0.5 else fuzz.record(rng) for _ in range(rng.randint(1, 3))
        ]
        return "POST", BATCH, dumps(items, ascii_only), headers
    if roll == 12:
        return "POST", BATCH, dumps(fuzz.batch_body(rng), ascii_only), headers
    if roll <= 15:
        return "POST", OTLP, dumps(hostile_export(rng), ascii_only), json_headers
    if roll == 16:
        body, extra = fuzz.encoded(rng, dumps(fuzz.export(rng), True))
        if not all(_sendable(name, value) for name, value in extra.items()):
            extra = {"Content-Encoding": "unknown"}  # a value the client library itself would refuse
        return "POST", OTLP, body, json_headers | extra
    if roll <= 18:
        route = rng.choice([SINGLE, BATCH, OTLP])
        raw = rng.randbytes(rng.randint(0, 600)) if rng.random() < 0.5 else dumps(fuzz.json_value(rng), False)
        return "POST", route, raw, json_headers
    return "GET", STATUS, b"", rng.choice([headers, {}, {"x-api-key": "wrong"}])


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
    print(f"bodies drawn with FUZZ_SEED={SEED}")  # shown when the test fails
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
        rng = Random(SEED)
        for _ in range(BODIES):
            request = ingest_request(rng)
            slots.acquire()
            futures.append(pool.submit(one, request))
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
