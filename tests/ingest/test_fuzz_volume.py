"""10,000 fuzzed bodies over every ingest route against one server: zero 5xx, zero dead threads, and the
CSV valid afterwards holding exactly the acknowledged rows (issue 11). The strategies are those of
test_fuzz.py plus hostile text: lone surrogates, control characters, bidi overrides, huge strings."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from dashboard.ingest.mapping import WIRE_TO_COLUMN
from metering.schema import BY_NAME
from metering.store import read_calls_report
from tests.ingest.ingest_helpers import BATCH, KEY, SINGLE, ingest_server, wire_record
from tests.ingest.test_fuzz import (
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
hostile_chars = st.one_of(
    st.characters(),
    st.integers(0xD800, 0xDFFF).map(chr),  # lone surrogates (JSON \ud800 escapes)
    st.integers(0, 0x9F).map(chr),  # C0, DEL and C1 controls
    st.sampled_from(["\u202e", "\u202d", "\u2066", "\u2069", "\u200b", "\ufeff", "\u2028", "<", ">", " "]),
)
hostile_text = st.one_of(
    st.lists(hostile_chars, max_size=24).map("".join),
    st.sampled_from(['=HYPERLINK("http://x","y")', "@SUM(1)", "+1-1", "-2", "<script>x</script>", " "]),
    st.sampled_from(["x" * 60_000, "y" * 70_000]),  # around the single-route body limit
)


@st.composite
def hostile_records(draw: st.DrawFn) -> dict[str, Any]:
    record = wire_record(transactionId=f"txn_{draw(st.uuids()).hex}")
    for name in draw(st.lists(st.sampled_from(TEXT_WIRE), min_size=1, max_size=3, unique=True)):
        record[name] = draw(hostile_text)
    if draw(st.booleans()):
        record["subscriber"] = {"id": draw(hostile_text)}
    return record


@st.composite
def ingest_requests(draw: st.DrawFn) -> tuple[str, str, bytes, dict[str, str]]:
    """(method, route, body, headers): one fuzzed request to any ingest route."""
    kind = draw(st.integers(0, 9))
    ascii_only = draw(st.booleans())
    headers = {"x-api-key": KEY}
    if kind <= 2:
        return "POST", SINGLE, dumps(draw(hostile_records()), ascii_only), headers
    if kind == 3:
        return "POST", SINGLE, dumps(draw(single_bodies), ascii_only), headers
    if kind == 4:
        items = draw(st.lists(hostile_records() | records(), min_size=1, max_size=5))
        return "POST", BATCH, dumps(items, ascii_only), headers
    if kind == 5:
        return "POST", BATCH, dumps(draw(batch_bodies), ascii_only), headers
    if kind in (6, 7):
        body, extra = draw(encoded(dumps(draw(exports()), True)))
        return "POST", OTLP, body, headers | extra | {"Content-Type": "application/json"}
    if kind == 8:
        route = draw(st.sampled_from([SINGLE, BATCH, OTLP]))
        raw = draw(st.binary(max_size=600) | json_values.map(lambda v: dumps(v, False)))
        return "POST", route, raw, headers | {"Content-Type": "application/json"}
    return "GET", STATUS, b"", draw(st.sampled_from([headers, {}, {"x-api-key": "wrong"}]))


PER_EXAMPLE = 25  # requests drawn together and sent by several clients at once


@pytest.mark.slow
def test_ten_thousand_fuzzed_bodies_no_5xx_no_dead_thread_csv_valid(tmp_path):
    with ingest_server(tmp_path / "calls.csv") as (srv, state):
        clients = [Target(srv, state) for _ in range(4)]
        workers = [t for t in threading.enumerate() if t.name.startswith("waitress-")]
        assert len(workers) == len(srv.server.task_dispatcher.threads) > 0
        sent = {"n": 0}
        lock = threading.Lock()

        def one(target: Target, request: tuple[str, str, bytes, dict[str, str]]) -> None:
            method, route, body, headers = request
            if method == "GET":
                answer = target.http.get(srv.url + route, headers=headers, timeout=30)
                assert answer.status_code in (200, 401, 403), answer.status_code
            else:
                answer = target.send(route, body, headers)
                with lock:  # check_answer tallies acknowledged rows on the target
                    check_answer(target, answer, route, headers.get("Content-Type", ""))
            with lock:
                sent["n"] += 1

        @settings(
            max_examples=BODIES // PER_EXAMPLE,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(batch=st.lists(ingest_requests(), min_size=PER_EXAMPLE, max_size=PER_EXAMPLE))
        def fuzz(batch: list[tuple[str, str, bytes, dict[str, str]]]) -> None:
            with ThreadPoolExecutor(len(clients)) as pool:
                futures = [pool.submit(one, clients[i % len(clients)], r) for i, r in enumerate(batch)]
                for f in futures:
                    f.result()

        fuzz()
        for c in clients:
            c.http.close()
        statuses: dict[int, int] = {}
        for c in clients:
            for code, n in c.statuses.items():
                statuses[code] = statuses.get(code, 0) + n
        assert sent["n"] >= BODIES, sent
        assert not any(code >= 500 for code in statuses), statuses
        # zero dead threads: every waitress worker is still there, and the writer never had to restart
        assert all(t.is_alive() for t in workers)
        assert len(srv.server.task_dispatcher.threads) == len(workers)
        health = state.writer.health()
        assert health["alive"] and health["restarts"] == 0 and health["failed_batches"] == 0
        counters = state.status()["counters"]
        report = read_calls_report(state.data_path)
        assert report.malformed == []
        acked = sum(c.acked_rows for c in clients)
        assert len(report.frame) == acked + counters["otlp_rows"] == counters["rows_stored"]
