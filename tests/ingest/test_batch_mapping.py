"""map_batch (column-wise) equals the per-record map_revenium loop: problems, columns, and errors.

The property test draws batches of wire records with unusual, wrong and missing values in every field
the mapping reads; for each batch the problems must be the loop's, element for element, and when there
are none the columns must be ``records_to_columns`` of the loop's records, value for value and type for
type. Deterministic tests pin down that plain records really take the fast path.
"""

from __future__ import annotations

import math
import random
from datetime import datetime
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from ingest import mapping
from ingest.batch_mapping import WIRE_FIELDS, BatchMapped, map_batch
from ingest.mapping import map_revenium
from metering.schema import COLUMN_NAMES, MAX_INT
from metering.store import records_to_columns
from tests.ingest.ingest_helpers import wire_record

MODELS = (("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4"))


# --- the reference and the comparison -------------------------------------------------------------
def loop_problems(items: list[Any], user_agent: str | None) -> list[Any]:
    return [
        p
        for i, it in enumerate(items)
        for p in map_revenium(it, user_agent=user_agent, prefix=f"[{i}].").problems
    ]


def same_values(a: list[Any], b: list[Any]) -> bool:
    def same(x: Any, y: Any) -> bool:
        if isinstance(x, float) and isinstance(y, float):
            if math.isnan(x) or math.isnan(y):
                return math.isnan(x) and math.isnan(y)
            return x == y and math.copysign(1, x) == math.copysign(1, y)
        return type(x) is type(y) and x == y

    return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))


def assert_same_arrays(got: dict[str, pa.Array], want: dict[str, pa.Array]) -> None:
    assert list(got) == list(want) == list(COLUMN_NAMES)
    for name in COLUMN_NAMES:
        g, w = got[name], want[name]
        assert isinstance(g, pa.Array), name
        assert g.type == w.type, (name, g.type, w.type)
        assert g.null_count == w.null_count == 0, name
        assert same_values(g.to_pylist(), w.to_pylist()), (name, g.to_pylist()[:5], w.to_pylist()[:5])


def check(items: list[Any], user_agent: str | None = None) -> BatchMapped:
    """Contract 1 and 2 for one batch (and: when the loop's conversion raises, map_batch raises too)."""
    want_problems = loop_problems(items, user_agent)
    if want_problems:
        got = map_batch(items, user_agent=user_agent)
        assert got.problems == want_problems
        assert got.arrays is None
        assert got.rows == len(items)
        return got
    records = [map_revenium(it, user_agent=user_agent).record for it in items]
    try:
        want = records_to_columns(records)
    except Exception as exc:  # a record map_revenium accepts but the writer cannot convert
        with pytest.raises(type(exc)):
            map_batch(items, user_agent=user_agent)
        return BatchMapped(None, [], len(items))
    got = map_batch(items, user_agent=user_agent)
    assert got.problems == []
    assert got.rows == len(items)
    assert 0 <= got.fast_rows <= got.rows
    assert got.arrays is not None
    assert_same_arrays(got.arrays, want)
    return got


def typical(n: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        provider, model = rng.choice(MODELS)
        inp, outp = rng.randint(10, 8000), rng.randint(1, 3000)
        cached = rng.randint(0, inp)
        out.append(
            wire_record(
                transactionId=f"txn_{seed}_{i}",
                provider=provider,
                model=model,
                inputTokenCount=inp,
                outputTokenCount=outp,
                totalTokenCount=inp + outp,
                cacheReadTokenCount=cached,
                reasoningTokenCount=rng.randint(0, outp),
                totalCost=rng.choice([None, round(rng.random(), 6)]),
                requestDuration=rng.randint(50, 30_000),
                requestTime=f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T"
                f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}."
                f"{rng.randint(0, 999):03d}Z",
            )
        )
    return out


# --- deterministic --------------------------------------------------------------------------------
def test_the_fast_path_reads_every_field_map_revenium_reads():
    read = (
        {w for w in mapping.WIRE_TO_COLUMN if w != "subscriber.id"}
        | {"subscriber"}
        | set(mapping.WIRE_ALIASES)
        | set(mapping.REQUIRED_WIRE)
        | set(mapping.TIMESTAMP_WIRE)
        | set(mapping.INT_WIRE)
        | set(mapping.NUMBER_WIRE)
        | {"isStreamed"}
    )
    assert set(WIRE_FIELDS) == read
    assert len(WIRE_FIELDS) == len(set(WIRE_FIELDS))


def test_5000_plain_records_all_take_the_fast_path():
    items = typical(5000)
    got = check(items, "curl/8")
    assert got.rows == got.fast_rows == 5000


def test_one_bad_row_among_1000_gives_exactly_the_loops_problems():
    items = typical(1000)
    items[617]["inputTokenCount"] = -5
    items[617]["model"] = ""
    got = check(items, "curl/8")
    assert got.arrays is None
    assert got.fast_rows == 999
    # the loop's own list, duplicates included: with a prefix, map_revenium reports a missing required
    # field both as itself and again from validate_record (its wire_names filter doubles the prefix)
    assert {p.field for p in got.problems} == {"[617].model", "[617].inputTokenCount"}


def test_empty_batch_gives_empty_typed_arrays():
    got = map_batch([])
    assert (got.rows, got.fast_rows, got.problems) == (0, 0, [])
    assert got.arrays is not None
    assert_same_arrays(got.arrays, records_to_columns([]))
    assert all(len(a) == 0 for a in got.arrays.values())


def test_unusual_but_valid_rows_are_mapped_by_map_revenium_and_merged_in_place():
    items = typical(300)
    items[0]["inputTokenCount"] = 1200.0  # whole float
    items[5]["outputTokenCount"] = "300"  # digit string
    items[9]["organizationId"] = items[9].pop("organizationName")  # alias
    items[42]["requestTime"] = "2026-11-20T12:00:00+02:00"  # an offset
    items[77].pop("requestDuration")  # derived from responseTime
    items[299]["subscriber"] = None
    got = check(items)
    assert got.fast_rows == 300 - 5  # subscriber None is plain


@pytest.mark.parametrize(
    "stamp",
    [
        "2026-11-20T10:00:00Z",
        "2026-11-20T10:00:00.5Z",
        "2026-11-20T10:00:00.12Z",
        "2026-11-20T10:00:00.123456+00:00",
        "2026-11-20T10:00:00.123456789Z",
        "2024-02-29T23:59:59.999Z",
        "1970-01-01T00:00:00.000Z",
        "2261-12-31T23:59:59.999999Z",
    ],
)
def test_plain_timestamp_forms_take_the_fast_path(stamp):
    items = typical(20)
    items[3]["requestTime"] = stamp
    items[4]["responseTime"] = stamp
    got = check(items)
    assert got.fast_rows == 20
    assert got.arrays is not None
    assert got.arrays["timestamp"][3].as_py() == mapping.normalize_timestamp(stamp)


@pytest.mark.parametrize(
    "stamp",
    [
        "2026-02-29T10:00:00.000Z",  # no such day
        "2026-04-31T10:00:00Z",
        "2100-02-29T10:00:00Z",
        "2026-11-20 10:00:00",
        "2026-11-20T10:00:00",
        "1969-12-31T23:59:59.999Z",
        "2262-01-01T00:00:00.000Z",
        "2026-11-20T24:00:00Z",
        "2026-11-20T10:00:60Z",
        "2026-11-20T10:00:00.1234567890Z",
        " 2026-11-20T10:00:00.000Z",
        "yesterday",
    ],
)
def test_odd_timestamps_fall_back(stamp):
    items = typical(10)
    items[2]["requestTime"] = stamp
    got = check(items)
    assert got.fast_rows == 9
    items = typical(10)
    items[2]["completionStartTime"] = stamp
    got = check(items)
    assert got.fast_rows == 9


def test_huge_and_wrong_typed_integers_fall_back_without_overflow():
    items = typical(50)
    items[1]["inputTokenCount"] = 2**63
    items[2]["totalTokenCount"] = 2**70
    items[3]["cacheReadTokenCount"] = -(2**64)
    items[4]["requestDuration"] = True
    items[5]["totalCost"] = 10**400
    got = check(items)
    assert got.fast_rows == 45


def test_anthropic_convention_and_fractional_durations_on_the_fast_path():
    items = typical(40)
    for i, it in enumerate(items):
        it["cacheCreationTokenCount"] = i % 3 * 10
        total = it["inputTokenCount"] + it["outputTokenCount"] + it["cacheReadTokenCount"]
        it["totalTokenCount"] = total + it["cacheCreationTokenCount"]
        it["requestDuration"] = [0.5, 1.5, 2.5, 850.4999, 850.5000001, 0.0, 7][i % 7]
    items[0]["cacheReadTokenCount"] = 0
    items[0]["cacheCreationTokenCount"] = 0  # not both 0: nothing added
    items[0]["totalTokenCount"] = items[0]["inputTokenCount"] + items[0]["outputTokenCount"]
    got = check(items)
    assert got.fast_rows == 40


def test_an_empty_cache_count_is_the_default_zero_on_both_paths():
    items = typical(5)
    items[1]["cacheReadTokenCount"] = ""  # "" means absent, as for every optional field
    assert map_revenium(items[1]).problems == []
    assert map_revenium(items[1]).record["cached_tokens"] == 0
    got = check(items)
    assert got.arrays["cached_tokens"][1].as_py() == 0


def test_values_pyarrow_cannot_hold_fall_back_to_the_loop():
    items = typical(5)
    items[2]["subscriber"] = {"id": "cust_1", "email": "\ud800"}  # ignored by the mapping
    got = check(items)
    assert got.fast_rows == 0  # the whole batch went through map_revenium


# --- values: unusual but accepted, and wrong ------------------------------------------------------
#: wrong values of every kind, tried in every field
WEIRD: list[Any] = [
    None,
    "",
    " ",
    "12",
    " 7 ",
    "-3",
    "１２",
    "1e3",
    1.5,
    1200.0,
    -1,
    -0.0,
    0,
    2**53,
    MAX_INT,
    2**63,
    -(2**63) - 1,
    10**400,
    True,
    False,
    float("nan"),
    float("inf"),
    -float("inf"),
    "a\nb",
    "x\x00",
    "x\r",
    "x" * 129,
    "é" * 129,
    [],
    [1],
    {},
    {"id": "c"},
    "2026-11-20T10:00:00Z",
    "\ud800",  # a lone surrogate: valid JSON, not UTF-8
]
BAD_TEXT: list[Any] = ["a\nb", "\rx", "x\x00", "t" * 129, "é" * 129, "😀" * 129, 5, 1.5, True, [], {}]
BAD_STAMPS: list[Any] = [
    "2262-01-01T00:00:00Z",
    "1677-12-31T23:59:59Z",
    "2026-02-29T10:00:00Z",
    "2026-04-31T10:00:00.000Z",
    "2100-02-29T10:00:00.000Z",
    "2026-11-20T24:00:00Z",
    "2026-11-20T10:00:60Z",
    "2026-11-20T10:00:00.1234567890Z",
    "2026-11-20T10:00:00.000z",
    "2026-13-01T10:00:00.000Z",
    "yesterday",
    "",
    1700000000,
]
BAD_NUMBERS: list[Any] = [1e12 + 1, 10**12 + 1, -1, -1e-9, float("nan"), float("inf"), "0.5", True, 10**400]
BAD_DURATIONS: list[Any] = [-1, -0.6, float("nan"), float("inf"), "850", True, 2.0**53, MAX_INT + 1, -(2**70)]
BAD_COUNTS: list[Any] = [-1, MAX_INT + 1, 2**63, 2**64, -(2**63) - 1, 1.5, float("nan"), "x", True, [3]]
#: field -> values that have a problem (in a record that is otherwise plain)
BAD: dict[str, list[Any]] = {
    "transactionId": ["", *BAD_TEXT],
    "provider": ["", "  ", "\n", "p" * 129, "a\x00b", 5],
    "model": ["", "m" * 129, "a\nb", 3, ["gpt-4o"]],
    "inputTokenCount": ["", *BAD_COUNTS],
    "outputTokenCount": ["", *BAD_COUNTS],
    "totalTokenCount": ["", "1500", *BAD_COUNTS],
    "cacheReadTokenCount": [1201, *BAD_COUNTS],
    "cacheCreationTokenCount": ["", "10", *BAD_COUNTS],
    "reasoningTokenCount": [301, *BAD_COUNTS],
    "requestTime": BAD_STAMPS,
    "responseTime": BAD_STAMPS,
    "completionStartTime": BAD_STAMPS,
    "requestDuration": BAD_DURATIONS,
    "timeToFirstToken": [-1, -0.6, float("nan"), float("inf"), "850", True, 2**63, 1e300],
    "totalCost": BAD_NUMBERS,
    "inputTokenCost": BAD_NUMBERS[2:],
    "outputTokenCost": BAD_NUMBERS[2:],
    "isStreamed": ["true", 1, 0],
    "stopReason": ["weird", "  ", "END_", 0],
    "subscriber": [
        "cust_1",
        {"id": 42},
        ["cust"],
        0,
        *({"id": v} for v in BAD_TEXT),
        {"id": "", "email": "\n"},
    ],
    "subscriptionTier": ["Pro", "gold", " pro", 1],
    "organizationName": BAD_TEXT,
    "organizationId": BAD_TEXT,
    "productName": BAD_TEXT,
    "productId": BAD_TEXT,
    "agent": BAD_TEXT,
    "taskType": BAD_TEXT,
    "environment": ["qa", "prod uction", 1],
    "region": BAD_TEXT,
    "traceId": BAD_TEXT,
    "sessionId": BAD_TEXT,
    "operationType": BAD_TEXT,
    "transactionName": BAD_TEXT,
}
#: values that map without a problem and take the fast path (in a record that is otherwise plain)
PLAIN: dict[str, list[Any]] = {
    "provider": [" Gemini ", "AZURE_OPENAI", "gcp.vertex_ai", "OpenAI\n", "x-ai", "İ"],
    "model": ["  ", "m" * 128, "a\tb", "😀"],
    "totalTokenCount": [None, 0, 1, MAX_INT],
    "cacheReadTokenCount": [None, 0, 1200],
    "cacheCreationTokenCount": [None, 0, 7],  # stored: cache writes sit inside input tokens
    "reasoningTokenCount": [None, 0, 300],
    "requestTime": ["2026-11-20T10:00:00Z", "2026-11-20T10:00:00.1+00:00", "2028-02-29T00:00:00.123456789Z"],
    "responseTime": [None, "2026-11-20T10:00:00Z", "1970-01-01T00:00:00.000Z"],
    "requestDuration": [0, 0.5, 1.5, 850.4999, -0.0, MAX_INT, float(MAX_INT)],
    "timeToFirstToken": [None, 0, 0.2, 200.0, 1e6],
    "totalCost": [None, 0, 0.0, -0.0, 1e12, 10**12, 5e-324],
    "inputTokenCost": [None, 0, 1.5, 1e300, 10**300],
    "isStreamed": [None, True, False],
    "stopReason": [None, "", " end ", "timeout", "\nERROR\n"],
    "subscriber": [None, {}, {"id": "c"}, {"email": "a@b"}, {"id": "", "email": "a@b"}, {"id": None}],
    "subscriptionTier": [None, "", "pro", "enterprise"],
    "organizationName": [None, "", "o" * 128, "é" * 128],
    "environment": [None, "", "PROD", " stg ", "dev", "Development", "production\n"],
    "region": [None, "", "eu-west-1"],
    "traceId": [None, "", "t" * 128],
    "sessionId": [None, "", "s"],
    "operationType": [None, "", "CHAT", "EMBED"],
    "transactionName": [None, "", "checkout-agent", "t" * 128],
}
#: values that map without a problem through map_revenium (the fast path leaves them to it)
UNUSUAL: dict[str, list[Any]] = {
    "inputTokenCount": [1200.0, "1200", " 1200 ", "+1200"],
    "totalTokenCount": [1500.0],
    "cacheReadTokenCount": [200.0, "200"],
    "reasoningTokenCount": ["", "0", 0.0],
    "requestTime": [
        "2026-11-20 10:00:00",
        "2026-11-20T12:00:00+02:00",
        "1969-07-20T20:17:00Z",
        " 2026-11-20T10:00Z",
    ],
    "responseTime": ["2026-11-20 10:00:01", "2262-01-01T00:00:00Z"],
    "organizationId": ["org_x"],
    "productId": [""],
    "subscriber": [{"id": "c", "email": 5}],
}


def plain(n: int) -> list[dict[str, Any]]:
    """``wire_record()`` n times (1200 input, 300 output, 200 cached tokens), distinct transactionIds."""
    return [wire_record(transactionId=f"txn_{i}") for i in range(n)]


def one_changed(field: str, value: Any, n: int = 4, row: int = 2) -> list[dict[str, Any]]:
    items = plain(n)
    items[row][field] = value
    return items


@pytest.mark.slow
def test_every_wrong_value_in_every_field_gives_the_loops_problems():
    for field in WIRE_FIELDS:
        for value in [*BAD.get(field, []), *WEIRD]:
            check(one_changed(field, value))
            check(one_changed(field, value, n=1, row=0))


def test_missing_fields_give_the_loops_problems():
    for field in WIRE_FIELDS:
        items = plain(4)
        items[2].pop(field, None)
        check(items)


def test_plain_variants_take_the_fast_path():
    for field, values in PLAIN.items():
        for value in values:
            got = check(one_changed(field, value))
            assert got.problems == [], (field, value)
            assert got.fast_rows == got.rows, (field, value)


def test_unusual_values_fall_back_and_are_merged():
    for field, values in UNUSUAL.items():
        for value in values:
            got = check(one_changed(field, value))
            assert got.problems == [], (field, value)
            assert got.fast_rows == got.rows - 1, (field, value)


def test_token_counts_that_only_fail_together():
    items = plain(6)
    items[0].update(inputTokenCount=10, cacheReadTokenCount=11, totalTokenCount=None)  # cached > input
    items[1].update(outputTokenCount=10, reasoningTokenCount=11)  # reasoning > output
    big = MAX_INT - 5  # the Anthropic convention pushes input past MAX_INT
    items[2].update(inputTokenCount=big, outputTokenCount=0, cacheReadTokenCount=6, cacheCreationTokenCount=0)
    items[2]["totalTokenCount"] = big + 6
    # fine: the convention makes input 10 + 11 >= 11 cached
    items[3].update(inputTokenCount=10, cacheReadTokenCount=11, totalTokenCount=10 + 300 + 11)
    got = check(items)
    assert {p.field.split(".")[0] for p in got.problems} == {"[0]", "[1]", "[2]"}
    assert got.fast_rows == 3  # the rows with a problem are, by construction, not fast


# --- the property ---------------------------------------------------------------------------------
CLEAN_CHARS = list("abcXYZ019_-.@ ") + ["é", "İ", "ß", "\t", "😀"]
IDS = st.one_of(
    st.text(st.sampled_from(CLEAN_CHARS), min_size=1, max_size=8),
    st.integers(120, 128).map(lambda n: "t" * n),
    st.integers(126, 128).map(lambda n: "é" * n),
    st.sampled_from(["txn_1", "trace-abc", "sess-9", "  padded  ", " "]),
)
BAD_IDS = st.one_of(
    st.tuples(IDS, st.sampled_from(["\n", "\r", "\x00"]), IDS).map("".join),
    st.integers(129, 132).map(lambda n: "t" * n),
    st.sampled_from(BAD_TEXT),
)
OPTIONAL_IDS = st.one_of(IDS, st.sampled_from(["", None]))
CATEGORY = st.one_of(OPTIONAL_IDS, st.sampled_from(["chat", "qa", "org_acme", "us-east-1"]))


def stamps() -> st.SearchStrategy[str]:
    """Timestamps parse_timestamp accepts, in the plain forms and in others (offsets, spaces, ...)."""
    forms = st.sampled_from(["{}Z", "{}.{}Z", "{}.{}+00:00", "{}+00:00", "{}.{}+02:00", "{}-0130", "{} "])
    moment = st.datetimes(min_value=datetime(1960, 1, 1), max_value=datetime(2261, 12, 30))
    fraction = st.text(st.sampled_from("0123456789"), min_size=1, max_size=9)
    built = st.builds(
        lambda m, form, frac, sep: form.format(m.strftime(f"%Y-%m-%d{sep}%H:%M:%S"), frac),
        moment,
        forms,
        fraction,
        st.sampled_from(["T", "T", "T", " "]),
    )
    return st.one_of(built, st.sampled_from(PLAIN["requestTime"] + UNUSUAL["requestTime"]))


NUMBERS = st.one_of(
    st.floats(min_value=0, max_value=1e12),
    st.integers(0, 10**12),
    st.sampled_from(PLAIN["totalCost"]),
)
DURATIONS = st.one_of(
    st.integers(0, 100_000), st.floats(min_value=0, max_value=1e6), st.sampled_from(PLAIN["requestDuration"])
)
SUBSCRIBERS = st.one_of(
    st.fixed_dictionaries({"id": IDS}),
    st.fixed_dictionaries({"email": IDS}),
    st.fixed_dictionaries({"id": st.sampled_from(["", None]), "email": OPTIONAL_IDS}),
    st.fixed_dictionaries({"id": IDS, "email": st.sampled_from(WEIRD)}),  # the email is not read
    st.sampled_from(PLAIN["subscriber"]),
)

#: field -> values that map without a problem, however unusual
GOOD: dict[str, st.SearchStrategy[Any]] = {
    "transactionId": IDS,
    "provider": st.sampled_from(["openai", "anthropic", *PLAIN["provider"]]),
    "model": st.sampled_from(["gpt-4o", "gpt-4o-mini", "claude-sonnet-4", *PLAIN["model"]]),
    "requestTime": stamps(),
    "responseTime": stamps(),
    "completionStartTime": stamps(),
    "requestDuration": DURATIONS,
    "timeToFirstToken": DURATIONS,
    "totalCost": NUMBERS,
    "inputTokenCost": st.one_of(NUMBERS, st.sampled_from([1e300, 10**300])),
    "outputTokenCost": NUMBERS,
    "isStreamed": st.sampled_from([True, False, None]),
    "stopReason": st.sampled_from(["END", "Token_Limit", *PLAIN["stopReason"]]),
    "subscriber": SUBSCRIBERS,
    "subscriptionTier": st.sampled_from(["starter", *PLAIN["subscriptionTier"]]),
    "organizationName": CATEGORY,
    "organizationId": CATEGORY,
    "productName": CATEGORY,
    "productId": CATEGORY,
    "agent": CATEGORY,
    "taskType": CATEGORY,
    "environment": st.sampled_from(["production", *PLAIN["environment"]]),
    "region": CATEGORY,
    "traceId": OPTIONAL_IDS,
    "sessionId": OPTIONAL_IDS,
}
TOKEN_FIELDS = (
    "inputTokenCount",
    "outputTokenCount",
    "totalTokenCount",
    "cacheReadTokenCount",
    "cacheCreationTokenCount",
    "reasoningTokenCount",
)
OPTIONAL = (set(GOOD) | set(TOKEN_FIELDS)) - set(mapping.REQUIRED_WIRE)


@st.composite
def tokens(draw: st.DrawFn, bad: bool) -> dict[str, Any]:
    """Consistent counts (cached <= input, reasoning <= output), sometimes in the Anthropic convention."""
    big = st.integers(0, MAX_INT // 4)
    inp = draw(st.one_of(st.integers(0, 10_000), big))
    out = draw(st.one_of(st.integers(0, 5_000), big))
    slack = 2 if bad else 0  # bad: cached may exceed input, reasoning output
    cached = draw(st.one_of(st.none(), st.integers(0, inp + slack)))
    creation = draw(st.one_of(st.none(), st.integers(0, 500)))
    reasoning = draw(st.one_of(st.none(), st.integers(0, out + slack)))
    extra = (cached or 0) + (creation or 0)
    total = draw(st.sampled_from([None, inp + out, inp + out + extra, inp + out + extra + 1]))
    values = dict(zip(TOKEN_FIELDS, (inp, out, total, cached, creation, reasoning), strict=True))
    for name in TOKEN_FIELDS:  # whole floats (and, for schema columns, digit strings) are the same integers
        if values[name] is not None and draw(st.integers(0, 9)) == 0:
            spellings = [float] if name in mapping.INT_WIRE else [float, str, lambda v: f" {v} "]
            values[name] = draw(st.sampled_from(spellings))(values[name])
    return values


@st.composite
def items(draw: st.DrawFn, bad: bool) -> Any:
    """A wire record with unusual values; when ``bad``, often one or two wrong or missing ones too."""
    if bad and draw(st.integers(0, 25)) == 0:
        return draw(st.sampled_from([None, 1, "x", [], [{}], True, 2.5]))
    record = wire_record(transactionId=draw(IDS))
    if draw(st.booleans()):
        record["provider"], record["model"] = draw(st.sampled_from(MODELS))
    record.update(draw(tokens(bad)))
    for name in (*GOOD, *TOKEN_FIELDS):
        roll = draw(st.integers(0, 99))
        if roll < 12 and name in GOOD:
            record[name] = draw(GOOD[name])
        elif roll < 15 and name in OPTIONAL:
            record.pop(name, None)
    if draw(st.integers(0, 9)) == 0:  # an alias in place of the current spelling
        record.pop("organizationName" if draw(st.booleans()) else "productName", None)
    # mostly one wrong value (a second one could hide a fast-path mistake: the row falls back anyway)
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 1, 1, 2])) if bad else 0):
        name = draw(st.sampled_from(WIRE_FIELDS))
        if draw(st.integers(0, 9)) == 0:
            record.pop(name, None)
        else:
            record[name] = draw(
                st.sampled_from(BAD[name]) if draw(st.integers(0, 3)) else st.sampled_from(WEIRD)
            )
    return record


@st.composite
def batches(draw: st.DrawFn) -> list[Any]:
    bad = draw(st.integers(0, 2)) == 0  # most batches: only values the mapping accepts
    return draw(st.lists(items(bad), min_size=1, max_size=30))


USER_AGENTS = st.sampled_from([None, "curl/8", "sdk\r\n/1.0", "u" * 300, "", "  x  "])


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=batches(), user_agent=USER_AGENTS)
@example(batch=[wire_record(transactionId="a")], user_agent=None)
@example(batch=[wire_record(transactionId="a", subscriber={"email": "x@y"}, traceId=None)], user_agent="")
def test_map_batch_equals_the_per_record_loop(batch, user_agent):
    got = check(batch, user_agent)
    if got.problems:
        event("problems")
    elif got.arrays is None:
        event("writer raises")
    else:
        event("stored, all fast" if got.fast_rows == got.rows else "stored, some rows fall back")
