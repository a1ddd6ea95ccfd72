"""Property-based fuzzing of the ingest routes over real HTTP against one server started for the module.

Properties, for every request however wrong: the answer is 2xx or 4xx (never 5xx); every 4xx body is
JSON with an "error" text (OTLP errors too: the receiver answers errors in JSON whatever the request's
encoding; only its 200 answers follow the request's encoding). After the run, the CSV has no malformed
line and holds exactly the rows the server acknowledged as new: a REST 201 adds 1 (single) or
``rows`` (batch), a replayed 200 adds none, and OTLP rows are counted from the status route.

Header values are drawn from what HTTP can carry and waitress passes on (VCHAR, space, obs-text
0x80-0xFF); control characters are refused by waitress itself before the app sees the request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, example, given, reject, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from ingest.otlp import OtlpDecodeError, decode
from metering.store import read_calls_report
from tests.ingest.ingest_helpers import BATCH, KEY, SINGLE, ingest_server, wire_record

OTLP = "/v1/traces"
STATUS = "/meter/v2/status"

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# --- the server and what it acknowledged -----------------------------------------------------------
@dataclass(repr=False)  # hypothesis prints the arguments of a failing example: keep this one short
class Target:
    srv: Any
    state: Any
    http: requests.Session = field(default_factory=requests.Session)
    acked_rows: int = 0  # new rows acknowledged by the REST routes (201)
    statuses: dict[int, int] = field(default_factory=dict)

    def send(self, route: str, body: bytes, headers: dict[str, str]) -> requests.Response:
        try:
            answer = self.http.post(self.srv.url + route, data=body, headers=headers, timeout=30)
        except (requests.exceptions.InvalidHeader, UnicodeEncodeError):
            reject()  # a value the client library itself refuses to send: not a request to the server
        self.statuses[answer.status_code] = self.statuses.get(answer.status_code, 0) + 1
        return answer


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    csv = tmp_path_factory.mktemp("fuzz") / "calls.csv"
    with ingest_server(csv) as (srv, state):
        t = Target(srv, state)
        yield t
        t.http.close()


def check_answer(t: Target, answer: requests.Response, route: str, request_type: str = "") -> None:
    """The property every answer must have, and the REST tally of acknowledged new rows."""
    status = answer.status_code
    assert status < 500, f"{route} answered {status}: {answer.text[:500]}"
    assert 200 <= status < 300 or 400 <= status < 500, f"{route} answered {status}"
    if status >= 400:
        assert answer.headers.get("Content-Type", "").startswith("application/json"), answer.headers
        body = answer.json()
        assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"], body
        return
    if route == OTLP:
        assert status == 200
        if "json" in request_type.lower():
            assert answer.headers["Content-Type"].startswith("application/json")
            assert isinstance(answer.json(), dict)
        else:
            assert answer.headers["Content-Type"].startswith("application/x-protobuf")
            ExportTraceServiceResponse().ParseFromString(answer.content)
        return
    body = answer.json()
    if status == 201:
        assert body["status"] == "stored"
        rows = body["rows"]
        assert rows == 1 if route == SINGLE else rows >= 1
        t.acked_rows += rows
    else:
        assert status == 200, status
        assert answer.headers.get("Idempotent-Replayed") == "true" and body["status"] == "duplicate"


# --- strategies ------------------------------------------------------------------------------------
SPECIAL_STRINGS = [
    "",
    " ",
    "NaN",
    "nan",
    "Infinity",
    "-Infinity",
    "1e400",
    "-0",
    "-1",
    "0x10",
    "1_000",
    "١٢٣",
    "12.5",
    "9223372036854775807",
    "9223372036854775808",
    "99999999999999999999999",
    "\x00",
    "a\nb",
    "\r",
    "\u2028",
    "é",
    "😀" * 40,
    "x" * 300,
    ",",
    '"',
    'a,"b"',
    "2026-11-20T10:00:00Z",
    "2026-11-20 10:00",
    "2026-02-30T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "0001-01-01T00:00:00Z",
    "1677-09-21T00:12:43Z",
    "2262-04-12T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-01:00",
    "true",
    "null",
    "{}",
    "END",
    "error",
    "gpt-4o",
    "OpenAI",
    "production",
    "enterprise",
]
HUGE_INTS = [2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63), -(2**63) - 1, 10**30, 10**400]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(HUGE_INTS),
    st.floats(),  # NaN and Infinity go out as the NaN/Infinity tokens Python's json reads back
    st.sampled_from([1e308, -0.0, 5e-324, 1e-12, 0.5, 1e19]),
    st.text(max_size=40),
    st.sampled_from(SPECIAL_STRINGS),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
WIRE_FIELDS = sorted(
    set(wire_record())
    | {
        "totalCost",
        "subscriptionTier",
        "sessionId",
        "organizationId",
        "productId",
        "cacheCreationTokenCount",
        "timeToFirstToken",
        "inputTokenCost",
        "outputTokenCost",
    }
)
DELETE = "<delete>"
mutations = st.dictionaries(
    st.sampled_from(WIRE_FIELDS) | st.text(max_size=12),
    st.just(DELETE) | json_values | st.fixed_dictionaries({"id": json_values}),
    max_size=4,
)


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """A valid wire record with a few fields deleted or replaced by arbitrary JSON."""
    record = wire_record(transactionId=f"txn_{draw(st.uuids()).hex}")
    for name, value in draw(mutations).items():
        if value == DELETE:
            record.pop(name, None)
        else:
            record[name] = value
    return record


def deep(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


single_bodies = records() | json_values
batch_bodies = st.lists(records(), min_size=1, max_size=6) | json_values
header_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
    max_size=300,
).map(str.strip)
idempotency_keys = st.one_of(
    st.none(),
    st.sampled_from(["k-1", "k-2", "k-3"]),  # a small pool: replays and conflicts happen
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=300),
    header_text,
    st.sampled_from(["", " ", "x" * 255, "y" * 256, "é-key", "k\tv"]),
)
content_types = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=latin-1",
            "text/plain",
            "application/x-protobuf",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=zzz",
            "",
        ]
    ),
    header_text,
)


@st.composite
def api_keys(draw: st.DrawFn) -> dict[str, str]:
    """Mostly the right key (so requests get past auth); sometimes none, a wrong one, or a Bearer."""
    roll = draw(st.integers(0, 9))
    if roll < 6:
        return {"x-api-key": KEY}
    if roll == 6:
        return {}
    if roll == 7:
        return {"Authorization": draw(st.sampled_from([f"Bearer {KEY}", "Bearer ", "Basic abc", KEY]))}
    return {"x-api-key": draw(header_text)}


@st.composite
def encoded(draw: st.DrawFn, body: bytes) -> tuple[bytes, dict[str, str]]:
    """The body as sent, with a Content-Encoding that fits it, lies about it, or is unknown."""
    from tests.ingest.fuzz_random import ENCODINGS, encode_as

    kind = draw(st.sampled_from(ENCODINGS))
    header = draw(st.sampled_from(["gzip", "GZIP", " gzip "]) if kind == "gzip" else header_text)
    return encode_as(kind, body, header)


def dumps(value: Any, ascii_only: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


# --- REST routes -----------------------------------------------------------------------------------
@FUZZ
@given(body=single_bodies, ascii_only=st.booleans(), idem=idempotency_keys, repeat=st.booleans())
def test_single_route_answers_every_json_value(target, body, ascii_only, idem, repeat):
    headers = {"x-api-key": KEY} | ({} if idem is None else {"Idempotency-Key": idem})
    data = dumps(body, ascii_only)
    first = target.send(SINGLE, data, headers)
    check_answer(target, first, SINGLE)
    if repeat:
        again = target.send(SINGLE, data, headers)
        check_answer(target, again, SINGLE)
        if first.status_code == 201 and idem is not None:
            assert again.status_code == 200 and again.json()["id"] == first.json()["id"]


@FUZZ
@given(body=batch_bodies, ascii_only=st.booleans(), idem=idempotency_keys, repeat=st.booleans())
def test_batch_route_answers_every_json_value(target, body, ascii_only, idem, repeat):
    headers = {"x-api-key": KEY} | ({} if idem is None else {"Idempotency-Key": idem})
    data = dumps(body, ascii_only)
    first = target.send(BATCH, data, headers)
    check_answer(target, first, BATCH)
    if repeat:
        again = target.send(BATCH, data, headers)
        check_answer(target, again, BATCH)
        if first.status_code == 201 and idem is not None:
            assert again.status_code == 200 and again.json()["rows"] == first.json()["rows"]


@FUZZ
@given(
    route=st.sampled_from([SINGLE, BATCH]),
    body=st.one_of(
        st.binary(max_size=2000),
        st.integers(1, 3000).map(deep),
        st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),
        st.sampled_from([b"", b"NaN", b"[]", b"{}", b"null", b"\xef\xbb\xbf{}", b'{"a":1}{"b":2}']),
    ),
    content_type=content_types,
)
def test_rest_routes_answer_raw_bytes_and_any_content_type(target, route, body, content_type):
    headers = {"x-api-key": KEY} | ({} if content_type is None else {"Content-Type": content_type})
    check_answer(target, target.send(route, body, headers), route)


NUMERIC_WIRE = [
    "inputTokenCount",
    "outputTokenCount",
    "totalTokenCount",
    "cacheReadTokenCount",
    "reasoningTokenCount",
    "cacheCreationTokenCount",
    "requestDuration",
    "timeToFirstToken",
    "totalCost",
    "inputTokenCost",
    "outputTokenCost",
]
TIME_WIRE = ["requestTime", "responseTime", "completionStartTime"]
boundary_values = st.one_of(
    st.sampled_from(HUGE_INTS + [0, 1, -1, 1e308, 1e19, 1e15, -0.0, 0.5, float("nan"), float("inf")]),
    st.integers(),
    st.floats(),
    st.sampled_from(SPECIAL_STRINGS),
)


@st.composite
def boundary_records(draw: st.DrawFn) -> dict[str, Any]:
    """A valid record with one or two numbers or timestamps at or past the edge of what can be stored."""
    record = wire_record(transactionId=f"txn_{draw(st.uuids()).hex}")
    for name in draw(
        st.lists(st.sampled_from(NUMERIC_WIRE + TIME_WIRE), min_size=1, max_size=2, unique=True)
    ):
        record[name] = draw(boundary_values)
    return record


@FUZZ
@example(record=wire_record(inputTokenCount=10**30, totalTokenCount=None))
@example(record=wire_record(outputTokenCount="99999999999999999999999", totalTokenCount=None))
@example(record=wire_record(requestDuration=2**63 - 1))
@example(record=wire_record(requestDuration=1e30))
@example(record=wire_record(totalCost=1e308))
@example(record=wire_record(requestTime="0001-01-01T00:00:00+01:00"))
@example(record=wire_record(requestTime="9999-12-31T23:59:59Z"))
@example(record=wire_record(requestTime="1677-09-21T00:12:43Z"))
@given(record=boundary_records())
def test_rest_routes_answer_numbers_and_times_at_the_edges(target, record):
    check_answer(target, target.send(SINGLE, dumps(record, True), {"x-api-key": KEY}), SINGLE)
    other = record | {"transactionId": record["transactionId"] + "-b"}
    batch = [wire_record(), other]  # a bad record must not take a good one down with it
    answer = target.send(BATCH, dumps(batch, True), {"x-api-key": KEY})
    check_answer(target, answer, BATCH)


@st.composite
def rest_requests(draw: st.DrawFn) -> tuple[str, bytes, dict[str, str]]:
    route = draw(st.sampled_from([SINGLE, BATCH]))
    value = draw(records()) if draw(st.booleans()) else wire_record()
    payload = dumps(value if route == SINGLE else [value], True)
    data, headers = draw(encoded(payload))
    headers |= draw(api_keys())
    idem = draw(idempotency_keys)
    if idem is not None:
        headers["Idempotency-Key"] = idem
    return route, data, headers


@FUZZ
@given(request=rest_requests())
def test_rest_routes_answer_any_headers(target, request):
    route, data, headers = request
    check_answer(target, target.send(route, data, headers), route)


# --- OTLP ------------------------------------------------------------------------------------------
GENAI_KEYS = [
    "gen_ai.provider.name",
    "gen_ai.system",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.cost.amount",
    "gen_ai.usage.cost.currency",
    "gen_ai.response.finish_reasons",
    "gen_ai.response.id",
    "revenium.customer",
    "revenium.tier",
    "revenium.stop_reason",
    "deployment.environment.name",
    "service.name",
    "cloud.region",
]
any_values = st.recursive(
    st.one_of(
        st.builds(lambda v: {"stringValue": v}, st.text(max_size=30) | st.sampled_from(SPECIAL_STRINGS)),
        st.builds(lambda v: {"intValue": v}, st.integers(-(2**63), 2**63 - 1) | st.sampled_from(HUGE_INTS)),
        st.builds(lambda v: {"intValue": str(v)}, st.integers(-(2**63), 2**63 - 1)),
        st.builds(lambda v: {"doubleValue": v}, st.floats(allow_nan=False, allow_infinity=False)),
        st.builds(lambda v: {"doubleValue": v}, st.sampled_from(["NaN", "Infinity", "-Infinity", "1e308"])),
        st.builds(lambda v: {"boolValue": v}, st.booleans()),
        st.just({}),
    ),
    lambda inner: st.builds(lambda vs: {"arrayValue": {"values": vs}}, st.lists(inner, max_size=3)),
    max_leaves=6,
)
BASE_GENAI = {
    "gen_ai.provider.name": {"stringValue": "openai"},
    "gen_ai.request.model": {"stringValue": "gpt-4o"},
    "gen_ai.usage.input_tokens": {"intValue": "120"},
    "gen_ai.usage.output_tokens": {"intValue": "30"},
}


def mostly(good: st.SearchStrategy, bad: st.SearchStrategy, one_in: int = 15) -> st.SearchStrategy:
    """``bad`` once in ``one_in`` draws: a wrong value reaches deep code only if the rest is right."""
    return st.integers(1, one_in).flatmap(lambda roll: bad if roll == 1 else good)


def hex_ids(n: int) -> st.SearchStrategy:
    wrong = st.one_of(
        st.binary(max_size=2 * n).map(bytes.hex),
        st.sampled_from(["", "zz", "0" * (2 * n), "abc"]),
        st.text(max_size=40),
    )
    return mostly(st.binary(min_size=n, max_size=n).map(bytes.hex), wrong)


nanos = mostly(
    st.integers(1_600_000_000 * 10**9, 1_900_000_000 * 10**9).map(str),
    st.one_of(
        st.integers(0, 2**64 - 1).map(str),
        st.integers(0, 2**64 - 1),
        st.sampled_from([0, "0", -1, "-1", 2**64, "1e18", "abc", None, 1.5e18, "18446744073709551615"]),
    ),
)
attribute_values = mostly(any_values, json_values)  # now and then not an AnyValue at all


@st.composite
def spans(draw: st.DrawFn) -> dict[str, Any]:
    attrs: dict[str, Any] = dict(BASE_GENAI) if draw(st.integers(0, 3)) else {}
    changes = st.dictionaries(
        st.sampled_from(GENAI_KEYS) | st.text(max_size=10), attribute_values | st.just(DELETE), max_size=4
    )
    for key, value in draw(changes).items():
        if value == DELETE:
            attrs.pop(key, None)
        else:
            attrs[key] = value
    span: dict[str, Any] = {
        "traceId": draw(hex_ids(16)),
        "spanId": draw(hex_ids(8)),
        "name": draw(st.text(max_size=20)),
        "startTimeUnixNano": draw(nanos),
        "endTimeUnixNano": draw(nanos),
        "attributes": [{"key": k, "value": v} for k, v in attrs.items()],
    }
    if draw(st.booleans()):
        codes = mostly(st.sampled_from([0, 1, 2, "STATUS_CODE_ERROR"]), st.sampled_from([3, -1, "x", 2**40]))
        span["status"] = {"code": draw(codes)}
    if draw(st.booleans()):
        span["parentSpanId"] = draw(hex_ids(8))
    if not draw(st.integers(0, 15)):  # now and then one field of any JSON type
        span[draw(st.sampled_from(sorted(span)))] = draw(json_values)
    return span


@st.composite
def exports(draw: st.DrawFn) -> dict[str, Any]:
    resources = []
    for _ in range(draw(st.integers(1, 2))):
        resource_attrs = draw(st.dictionaries(st.sampled_from(GENAI_KEYS), attribute_values, max_size=2))
        spans_here = draw(st.lists(spans(), min_size=1, max_size=3))
        if len(spans_here) > 1 and not draw(st.integers(0, 4)):  # the same span twice in one export
            spans_here[1] = spans_here[1] | {k: spans_here[0][k] for k in ("traceId", "spanId")}
        resources.append(
            {
                "resource": {"attributes": [{"key": k, "value": v} for k, v in resource_attrs.items()]},
                "scopeSpans": [{"scope": {"name": "fuzz"}, "spans": spans_here}],
            }
        )
    return {"resourceSpans": resources}


def export_of(*span_attrs: dict[str, Any], start: int | str = "1795000000000000000") -> dict[str, Any]:
    """A one-resource export whose spans share one trace and span id (for the explicit examples)."""
    spans_here = [
        {
            "traceId": "ab" * 16,
            "spanId": "cd" * 8,
            "name": "chat",
            "startTimeUnixNano": start,
            "endTimeUnixNano": start,
            "attributes": [{"key": k, "value": v} for k, v in (BASE_GENAI | attrs).items()],
        }
        for attrs in span_attrs
    ]
    return {"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": spans_here}]}]}


@FUZZ
@given(
    body=st.one_of(st.binary(max_size=3000), json_values.map(lambda v: dumps(v, True))),
    content_type=st.one_of(
        st.sampled_from(["application/x-protobuf", "application/json", "application/protobuf"]),
        content_types,
    ),
    auth=api_keys(),
)
def test_otlp_answers_random_bytes_and_json(target, body, content_type, auth):
    headers = dict(auth)
    if content_type is not None:
        headers["Content-Type"] = content_type
    answer = target.send(OTLP, body, headers)
    check_answer(target, answer, OTLP, content_type or "application/x-protobuf")


@pytest.mark.slow
@FUZZ
@example(export=export_of({}, {}), twice=False)  # one span twice in an export (once waited 30 s, then 503)
@example(export=export_of({}, {"gen_ai.request.model": {"stringValue": "gpt-4o-mini"}}), twice=False)
@example(export=export_of({}, start="18446744073709551615"), twice=True)  # year 2554
@example(export=export_of({"gen_ai.usage.input_tokens": {"doubleValue": 1e300}}), twice=False)
@example(export=export_of({"gen_ai.usage.cost.amount": {"doubleValue": 1e300}}), twice=False)
@given(export=exports(), twice=st.booleans())
def test_otlp_answers_structured_exports_in_both_encodings(target, export, twice):
    body = dumps(export, True)
    json_headers = {"x-api-key": KEY, "Content-Type": "application/json"}
    check_answer(target, target.send(OTLP, body, json_headers), OTLP, "application/json")
    try:
        message = decode(body, "application/json")
    except OtlpDecodeError:
        return
    proto_headers = {"x-api-key": KEY, "Content-Type": "application/x-protobuf"}
    for _ in range(1 + twice):  # the same spans again: duplicates, not new rows
        check_answer(target, target.send(OTLP, message.SerializeToString(), proto_headers), OTLP)


# --- afterwards ----------------------------------------------------------------------------------
def test_csv_is_whole_and_holds_exactly_the_acknowledged_rows(target):
    """Runs last in this module: the file after all the fuzzing above."""
    counters = target.http.get(target.srv.url + STATUS, headers={"x-api-key": KEY}, timeout=10).json()[
        "counters"
    ]
    path = target.state.data_path
    if not path.exists():
        assert target.acked_rows == 0 and counters["rows_stored"] == 0
        return
    report = read_calls_report(path)
    assert report.malformed == []
    rows = len(report.frame)
    assert counters["metered_rows"] == target.acked_rows
    assert rows == target.acked_rows + counters["otlp_rows"] == counters["rows_stored"]
    assert (report.frame["source"] == "metered").sum() == target.acked_rows
    assert (report.frame["source"] == "otlp").sum() == counters["otlp_rows"]
    assert not any(code >= 500 for code in target.statuses), target.statuses
