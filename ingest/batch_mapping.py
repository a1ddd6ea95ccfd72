"""Column-wise mapping of a batch of Revenium metering records, for the bulk ingest route.

``map_revenium`` costs about 27 µs per record, which is most of the time the batch route spends on a
large array. ``map_batch`` gives the same result for a whole list at once: it pulls each wire field out
as one list, decides per row with column-wise checks whether the row is the plain, common case, and
computes the columns of those rows with numpy / pyarrow. Every other row (a wrong type, a whole float
where an integer is expected, an alias spelling, an unusual timestamp, a value out of bounds, ...) is
mapped by ``map_revenium`` itself and merged back in place.

``map_revenium`` stays the single statement of the mapping. The fast path reproduces only what it does
for rows that cannot have a problem; tests/ingest/test_batch_mapping.py proves, property by property,
that the outcome equals the per-record loop (problems element for element, columns value for value).
When in doubt a row falls back: a row wrongly sent to the slow path costs time, never correctness.
"""

from __future__ import annotations

import operator
import sys
from collections.abc import Callable
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingest.mapping import (
    DEFAULTS,
    _clean_text,
    _or_default,
    map_revenium,
    normalize_environment,
    normalize_provider,
)
from metering.schema import (
    BY_NAME,
    COLUMNS,
    ENVIRONMENTS,
    ID_COLUMNS,
    MAX_COST_USD,
    MAX_INT,
    PLAIN_ID_PATTERN,
    STOP_REASONS,
    TIERS,
    Problem,
    email_customer_id,
    id_problem,
    text_problem,
)
from metering.store import records_to_columns

_NONE_TYPE = type(None)
_STR_OR_NONE = frozenset({str, _NONE_TYPE})
_INT_OR_NONE = frozenset({int, _NONE_TYPE})
_NUMBER_OR_NONE = frozenset({int, float, _NONE_TYPE})
_BOOL_OR_NONE = frozenset({bool, _NONE_TYPE})
_DICT_OR_NONE = frozenset({dict, _NONE_TYPE})
_EMPTY: dict[str, Any] = {}  # stands in for a non-object item while fields are pulled out (never mutated)
_TEXT_LIMIT = BY_NAME["model"].max_len  # every text column but user_agent
_BAD_CHARS = r"[\r\n\x00]"
_MAX_FLOAT = sys.float_info.max
_STREAMED = {True: "true", False: "false"}  # isStreamed -> is_streamed (absent: "")

#: the only timestamp forms taken column-wise: UTC ("Z" or "+00:00"), "T", whole seconds with 0..9
#: fraction digits, years 1970..2261 (inside the schema's bounds). Group 1 is the text up to the seconds,
#: group 2 the fraction; the store's text is group 1 + "." + the first 3 fraction digits (zero-padded) +
#: "Z", exactly what ``format_timestamp(parse_timestamp(v))`` gives (microseconds // 1000).
_TS_RE = (
    r"^((?:19[7-9][0-9]|2[01][0-9][0-9]|22[0-5][0-9]|226[01])-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9])(?:\.([0-9]{1,9}))?(?:Z|\+00:00)$"
)
_TS_HEAD = "%Y-%m-%dT%H:%M:%S"
#: the form JavaScript's toISOString() sends, which is already the store's text
_TS_CANONICAL_RE = _TS_RE.replace(r"(?:\.([0-9]{1,9}))?(?:Z|\+00:00)$", r"\.[0-9]{3}Z$")
_TS_PLACEHOLDER = pa.scalar("2000-01-01T00:00:00.000Z", pa.string())

#: the wire fields ``map_revenium`` reads; a test checks this against mapping.py's tables
WIRE_FIELDS = (
    "transactionId",
    "provider",
    "model",
    "inputTokenCount",
    "outputTokenCount",
    "totalTokenCount",
    "cacheReadTokenCount",
    "cacheCreationTokenCount",
    "reasoningTokenCount",
    "timeToFirstToken",
    "requestTime",
    "responseTime",
    "completionStartTime",
    "requestDuration",
    "isStreamed",
    "totalCost",
    "inputTokenCost",
    "outputTokenCost",
    "stopReason",
    "subscriber",
    "subscriptionTier",
    "organizationName",
    "organizationId",
    "productName",
    "productId",
    "agent",
    "taskType",
    "environment",
    "region",
    "traceId",
    "sessionId",
    "operationType",
    "transactionName",
)


@dataclass(frozen=True)
class BatchMapped:
    """The columns of a mapped batch, or every problem with it (then ``arrays`` is None).

    ``problems`` is exactly what ``map_revenium(item, prefix=f"[{i}].")`` gives item after item.
    ``fast_rows`` counts the rows mapped column-wise (the others went through ``map_revenium``).
    An empty batch has no problems and empty arrays of the right types (``records_to_columns([])``).
    """

    arrays: dict[str, pa.Array] | None
    problems: list[Problem]
    rows: int
    fast_rows: int = 0


def map_batch(items: list[Any], *, user_agent: str | None = None, api_key_id: str = "") -> BatchMapped:
    """Every item mapped as ``map_revenium`` maps it, as one pyarrow array per schema column."""
    n = len(items)
    if n == 0:
        return BatchMapped(records_to_columns([]), [], 0, 0)
    try:
        fast, columns = _fast_path(items, user_agent, api_key_id)
    except (ValueError, TypeError, ArithmeticError, pa.ArrowException):
        # a value pyarrow cannot hold (a lone surrogate, ...): let the reference mapping decide
        fast, columns = np.zeros(n, dtype=bool), None
    slow = np.flatnonzero(~fast)
    problems: list[Problem] = []
    records: list[dict[str, Any]] = []
    for i in slow.tolist():
        mapped = map_revenium(items[i], user_agent=user_agent, prefix=f"[{i}].", api_key_id=api_key_id)
        if mapped.problems:
            problems.extend(mapped.problems)
        elif mapped.record is not None:
            records.append(mapped.record)
    fast_rows = n - len(slow)
    if problems:
        return BatchMapped(None, problems, n, fast_rows)
    if columns is None or fast_rows == 0:
        return BatchMapped(records_to_columns(records), [], n, fast_rows)
    if fast_rows == n:
        return BatchMapped(columns, [], n, fast_rows)
    # fast rows first, then the slow ones, put back in item order by one take per column
    slow_arrays = records_to_columns(records)
    keep = pa.array(fast)
    position = np.empty(n, dtype=np.int64)
    position[np.concatenate([np.flatnonzero(fast), slow])] = np.arange(n, dtype=np.int64)
    order = pa.array(position)
    merged = {
        name: pa.concat_arrays([arr.filter(keep), slow_arrays[name]]).take(order)
        for name, arr in columns.items()
    }
    return BatchMapped(merged, [], n, fast_rows)


# --- the fast path ------------------------------------------------------------------------------
def _fast_path(
    items: list[Any], user_agent: str | None, api_key_id: str = ""
) -> tuple[np.ndarray, dict[str, pa.Array]]:
    """Which rows are plain (bool per row), and every column as the mapping gives it for those rows.

    Values at the other rows are placeholders; ``map_batch`` replaces them.
    """
    n = len(items)
    ok = np.ones(n, dtype=bool)
    if set(map(type, items)) != {dict}:
        ok &= np.fromiter(map(operator.is_, map(type, items), repeat(dict)), dtype=bool, count=n)
        items = [it if type(it) is dict else _EMPTY for it in items]
    get = dict.get
    w = {name: list(map(get, items, repeat(name))) for name in WIRE_FIELDS}

    # aliases (organizationId/productId) are left to map_revenium
    ok &= _is_none(w["organizationId"]) & _is_none(w["productId"])

    # SDK fields we only type-check
    for name in ("responseTime", "completionStartTime"):
        ok &= _timestamps(w[name], optional=True)[1]
    ttft, ttft_ok, ttft_none = _ints(w["timeToFirstToken"], optional=True, floats=True)
    ok &= ttft_ok & (ttft <= MAX_COST_USD)  # stored in a float column: the schema's bound for floats
    streamed_ok = _types_ok(w["isStreamed"], _BOOL_OR_NONE)
    streamed = list(map(_STREAMED.get, _blank(w["isStreamed"], streamed_ok), repeat("")))
    for name in ("inputTokenCost", "outputTokenCost"):
        ok &= _numbers(w[name], _MAX_FLOAT)[1]
    ok &= streamed_ok

    # tokens, with the Anthropic convention (cache tokens counted outside inputTokenCount)
    inp, inp_ok, _ = _ints(w["inputTokenCount"], optional=False)
    out, out_ok, _ = _ints(w["outputTokenCount"], optional=False)
    total, total_ok, total_none = _ints(w["totalTokenCount"], optional=True)
    cached, cached_ok, _ = _ints(w["cacheReadTokenCount"], optional=True)
    creation, creation_ok, _ = _ints(w["cacheCreationTokenCount"], optional=True)
    reasoning, reasoning_ok, _ = _ints(w["reasoningTokenCount"], optional=True)
    ok &= inp_ok & out_ok & total_ok & cached_ok & creation_ok & reasoning_ok
    extra = cached + creation  # None counts as 0 (placeholders of bad rows are 0 as well)
    outside = ~total_none & (extra != 0) & (total == inp + out + extra)
    inp = np.where(outside, inp + extra, inp)
    ok &= (inp <= MAX_INT) & (cached <= inp) & (cached + creation <= inp) & (reasoning <= out)

    cost, cost_ok = _numbers(w["totalCost"], MAX_COST_USD)
    latency, latency_ok, _ = _ints(w["requestDuration"], optional=False, floats=True)
    ok &= cost_ok & latency_ok  # a missing requestDuration (derived from responseTime) falls back

    timestamp, ts_ok = _timestamps(w["requestTime"], optional=False)
    ok &= ts_ok

    # ids: transactionId is call_id and request_id, and the fallback of trace_id and session_id
    txn, txn_types = _text(w["transactionId"])
    trace, trace_types = _text(w["traceId"])
    session, session_types = _text(w["sessionId"])
    trace_id = pc.coalesce(trace, txn)
    session_id = pc.coalesce(session, trace, txn)
    ok &= txn_types & trace_types & session_types
    ok &= _id_ok(txn) & _id_ok(trace_id) & _id_ok(session_id)

    # customer: subscriber.id, else subscriber.email, else the default
    subscribers = w["subscriber"]
    sub_types = _types_ok(subscribers, _DICT_OR_NONE)
    ok &= sub_types
    if set(map(type, subscribers)) == {dict}:
        sub_id, sub_email = (
            list(map(get, subscribers, repeat("id"))),
            list(map(get, subscribers, repeat("email"))),
        )
    else:
        subs = [s if type(s) is dict else _EMPTY for s in subscribers]
        sub_id, sub_email = list(map(get, subs, repeat("id"))), list(map(get, subs, repeat("email")))
    customer_id, id_types = _text(sub_id)
    customer_email, email_types = _text(sub_email)
    customer = pc.coalesce(customer_id, customer_email, pa.scalar(DEFAULTS["customer_id"], pa.string()))
    ok &= id_types & email_types & _id_ok(customer)
    from_email = pc.and_(pc.is_null(customer_id), pc.is_valid(customer_email))
    if pc.any(from_email).as_py():  # checked as sent, stored as the pseudonymous id (as map_revenium does)
        emails = pc.if_else(from_email, customer_email, pa.scalar(None, pa.string())).dictionary_encode()
        ids = pa.array([email_customer_id(e) for e in emails.dictionary.to_pylist()], pa.string())
        customer = pc.coalesce(pc.take(ids, emails.indices), customer)

    # low-cardinality text: one decision per distinct value
    def defaulted(column: str) -> Callable[[Any], tuple[Any, bool]]:
        def fn(v: Any) -> tuple[Any, bool]:
            stored = _or_default(v, column)
            return stored, _plain_text(stored, _TEXT_LIMIT, column in ID_COLUMNS)

        return fn

    def provider_fn(v: Any) -> tuple[Any, bool]:
        stored = normalize_provider(v)
        return stored, v not in (None, "") and _plain_text(stored, _TEXT_LIMIT)

    def model_fn(v: Any) -> tuple[Any, bool]:
        return v, _plain_text(v, _TEXT_LIMIT)

    def tier_fn(v: Any) -> tuple[Any, bool]:
        stored = _or_default(v, "subscription_tier")
        return stored, stored == "" or stored in TIERS

    def environment_fn(v: Any) -> tuple[Any, bool]:
        stored = normalize_environment(_or_default(v, "environment"))
        return stored, stored in ENVIRONMENTS

    def stop_fn(v: Any) -> tuple[Any, bool]:
        stored = v.strip().upper() if isinstance(v, str) and v.strip() else _or_default(v, "stop_reason")
        return stored, stored in STOP_REASONS

    text: dict[str, pa.Array] = {}
    for column, wire, fn in (
        ("provider", "provider", provider_fn),
        ("model", "model", model_fn),
        ("subscription_tier", "subscriptionTier", tier_fn),
        ("organization_id", "organizationName", defaulted("organization_id")),
        ("product_id", "productName", defaulted("product_id")),
        ("feature_id", "agent", defaulted("feature_id")),
        ("task_type", "taskType", defaulted("task_type")),
        ("environment", "environment", environment_fn),
        ("region", "region", defaulted("region")),
        ("stop_reason", "stopReason", stop_fn),
    ):
        values, valid = _by_value(w[wire], fn)
        text[column] = pa.array(values, pa.string())
        ok &= valid

    optional_text: dict[str, pa.Array] = {}
    for column, wire in (("operation_type", "operationType"), ("transaction_name", "transactionName")):
        values, valid = _by_value(w[wire], _optional_text)
        optional_text[column] = pa.array(values, pa.string())
        ok &= valid

    agent = _clean_text(user_agent or DEFAULTS["user_agent"], BY_NAME["user_agent"].max_len)
    if not _plain_text(agent, BY_NAME["user_agent"].max_len):  # cannot happen: _clean_text cleans
        ok[:] = False

    columns: dict[str, pa.Array] = {
        "timestamp": timestamp,
        "call_id": txn,
        "provider": text["provider"],
        "model": text["model"],
        "input_tokens": pa.array(inp, pa.int64()),
        "output_tokens": pa.array(out, pa.int64()),
        "cost_usd": pa.array(cost, pa.float64()),
        "latency_ms": pa.array(latency, pa.int64()),
        "customer_id": customer,
        "subscription_tier": text["subscription_tier"],
        "organization_id": text["organization_id"],
        "product_id": text["product_id"],
        "feature_id": text["feature_id"],
        "task_type": text["task_type"],
        "environment": text["environment"],
        "request_id": txn,
        "trace_id": trace_id,
        "session_id": session_id,
        "user_agent": _constant(agent, n),
        "region": text["region"],
        "stop_reason": text["stop_reason"],
        "cached_tokens": pa.array(cached, pa.int64()),
        "cache_creation_tokens": pa.array(creation, pa.int64()),
        "reasoning_tokens": pa.array(reasoning, pa.int64()),
        "scenario": _constant("", n),
        "source": _constant("metered", n),
        "operation_type": optional_text["operation_type"],
        "is_streamed": pa.array(streamed, pa.string()),
        "time_to_first_token_ms": pa.array(np.where(ttft_none, np.nan, ttft), pa.float64()),
        "transaction_name": optional_text["transaction_name"],
        "api_key_id": _constant(api_key_id, n),
    }
    return ok, {c.name: columns[c.name] for c in COLUMNS}


# --- column helpers (each returns a bool per row: True where the value is the plain case) ---------
def _types_ok(col: list[Any], allowed: frozenset[type]) -> np.ndarray:
    if set(map(type, col)) <= allowed:
        return np.ones(len(col), dtype=bool)
    return np.fromiter(map(allowed.__contains__, map(type, col)), dtype=bool, count=len(col))


def _is_none(col: list[Any]) -> np.ndarray:
    return np.fromiter(map(operator.is_, col, repeat(None)), dtype=bool, count=len(col))


def _blank(col: list[Any], keep: np.ndarray) -> list[Any]:
    """``col`` with None where ``keep`` is False (so that pyarrow and set() see only str/None)."""
    if keep.all():
        return col
    obj = np.fromiter(col, dtype=object, count=len(col))
    obj[~keep] = None
    return obj.tolist()


def _ints(
    col: list[Any], *, optional: bool, floats: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(int64 values, plain, is None) for an integer field: an int in 0..MAX_INT (None when optional).

    With ``floats``, a float is rounded to whole milliseconds as ``mapping._milliseconds`` does
    (round half to even, which ``np.rint`` also does). Values of rows that are not plain, and of None, are 0.
    """
    n = len(col)
    types = set(map(type, col))
    if types == {int}:
        try:
            values = np.array(col, dtype=np.int64)
        except OverflowError:  # beyond int64: decided per row below
            pass
        else:
            ok = (values >= 0) & (values <= MAX_INT)
            return (values if ok.all() else np.where(ok, values, 0)), ok, np.zeros(n, dtype=bool)
    if types == {_NONE_TYPE}:
        return np.zeros(n, dtype=np.int64), np.full(n, optional), np.ones(n, dtype=bool)
    none = _is_none(col)
    allowed = frozenset({int, float}) if floats else frozenset({int})
    ok = np.fromiter(map(allowed.__contains__, map(type, col)), dtype=bool, count=n)
    obj = np.fromiter(col, dtype=object, count=n)
    obj[~ok] = 0
    with np.errstate(invalid="ignore"):  # NaN compares False: not plain
        ok &= (obj >= 0) & (obj <= MAX_INT)
    obj[~ok] = 0
    values = np.rint(obj.astype(np.float64)).astype(np.int64) if floats else obj.astype(np.int64)
    return values, ok | (none & optional), none


def _numbers(col: list[Any], limit: float) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values, NaN for None; plain) for an optional number field: int or float in 0..limit."""
    n = len(col)
    types = set(map(type, col))
    if types == {_NONE_TYPE}:
        return np.full(n, np.nan), np.ones(n, dtype=bool)
    if types == {float}:
        values = np.array(col, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            return values, (values >= 0) & (values <= limit)
    none = _is_none(col)
    ok = np.fromiter(map(frozenset({int, float}).__contains__, map(type, col)), dtype=bool, count=n)
    obj = np.fromiter(col, dtype=object, count=n)
    obj[~ok] = 0
    with np.errstate(invalid="ignore"):
        ok &= (obj >= 0) & (obj <= limit)
    obj[~ok] = 0
    values = obj.astype(np.float64)
    values[none] = np.nan
    return values, ok | none


def _text(col: list[Any]) -> tuple[pa.Array, np.ndarray]:
    """(string array, null where the value is None, "" or not a string; str-or-None per row)."""
    types = _types_ok(col, _STR_OR_NONE)
    arr = pa.array(_blank(col, types), pa.string())
    empty = pc.equal(arr, "")
    if pc.any(empty).as_py():
        arr = pc.if_else(empty, pa.scalar(None, pa.string()), arr)
    return arr, types


def _text_ok(arr: pa.Array, limit: int) -> np.ndarray:
    """Per row: present, at most ``limit`` characters, no CR/LF/NUL (what validate_record requires)."""
    n = len(arr)
    ok = np.ones(n, dtype=bool) if arr.null_count == 0 else arr.is_valid().to_numpy(zero_copy_only=False)
    lengths = pc.utf8_length(arr)
    longest = pc.max(lengths).as_py()
    if longest is not None and longest > limit:
        ok &= pc.fill_null(pc.less_equal(lengths, limit), False).to_numpy(zero_copy_only=False)
    data = arr.buffers()[2]
    if data is not None:
        blob = data.to_pybytes()  # UTF-8: these bytes never occur inside a multi-byte character
        if b"\n" in blob or b"\r" in blob or b"\x00" in blob:
            bad = pc.fill_null(pc.match_substring_regex(arr, _BAD_CHARS), False)
            ok &= ~bad.to_numpy(zero_copy_only=False)
    return ok


def _id_ok(arr: pa.Array) -> np.ndarray:
    """Per row: present and a plain id (``PLAIN_ID_PATTERN``; others go through ``map_revenium``)."""
    ok = _text_ok(arr, _TEXT_LIMIT)
    plain = pc.fill_null(pc.match_substring_regex(arr, PLAIN_ID_PATTERN), False).to_numpy(
        zero_copy_only=False
    )
    return ok & plain


def _plain_text(v: Any, limit: int, is_id: bool = False) -> bool:
    """One distinct value: the text ``validate_record`` accepts (the id rule for id columns)."""
    if type(v) is not str or v == "" or len(v) > limit or any(ch in v for ch in "\r\n\x00"):
        return False
    return (id_problem(v) if is_id else text_problem(v)) is None


def _by_value(col: list[Any], fn: Callable[[Any], tuple[Any, bool]]) -> tuple[list[Any], np.ndarray]:
    """Stored value and plain-ness per row from one ``fn`` call per distinct value (str or None only)."""
    n = len(col)
    types = _types_ok(col, _STR_OR_NONE)
    values = _blank(col, types)
    decided = {v: fn(v) for v in set(values)}
    if all(stored is v for v, (stored, _) in decided.items()):
        stored_values = values
    else:
        stored_values = list(map({v: s for v, (s, _) in decided.items()}.__getitem__, values))
    if all(valid for _, valid in decided.values()):
        return stored_values, types
    valid = {v: ok for v, (_, ok) in decided.items()}
    return stored_values, types & np.fromiter(map(valid.__getitem__, values), dtype=bool, count=n)


def _timestamps(col: list[Any], *, optional: bool) -> tuple[pa.Array, np.ndarray]:
    """(the store's timestamp text, plain) for a timestamp field in one of the ``_TS_RE`` forms.

    The regex fixes the form; whether the date exists (no Feb 30) is left to pyarrow's ISO 8601 cast,
    which refuses such dates. When the cast refuses some row, a strptime/strftime round trip tells which
    (strptime normalises Feb 30 to Mar 2, so the text that comes back differs).
    """
    types = _types_ok(col, _STR_OR_NONE)
    arr = pa.array(_blank(col, types), pa.string())
    canonical = pc.fill_null(pc.match_substring_regex(arr, _TS_CANONICAL_RE), False)
    if pc.all(canonical).as_py():
        matched, text = canonical, arr  # already the store's text
    else:
        matched = pc.fill_null(pc.match_substring_regex(arr, _TS_RE), False)
        padded = pc.replace_substring_regex(arr, _TS_RE, r"\1.\2000")  # fraction digits, then zeros
        text = pc.binary_join_element_wise(pc.utf8_slice_codeunits(padded, 0, 23), "Z", "")
    try:
        pc.cast(pc.if_else(matched, arr, _TS_PLACEHOLDER), pa.timestamp("ns", "UTC"))
        exists = matched
    except pa.ArrowInvalid:  # a date that does not exist in some row: find which
        head = pc.utf8_slice_codeunits(arr, 0, 19)
        parsed = pc.strptime(head, format=_TS_HEAD, unit="s", error_is_null=True)
        same = pc.fill_null(pc.equal(pc.strftime(parsed, format=_TS_HEAD), head), False)
        exists = pc.and_(matched, same)
    ok = types & exists.to_numpy(zero_copy_only=False)
    if optional and arr.null_count:
        ok |= types & arr.is_null().to_numpy(zero_copy_only=False)
    return text, ok


def _optional_text(v: Any) -> tuple[Any, bool]:
    """An optional text field (operationType, transactionName): "" when absent, else plain text."""
    if v is None or v == "":
        return "", True
    return v, _plain_text(v, _TEXT_LIMIT)


def _constant(value: str, n: int) -> pa.Array:
    return pa.repeat(pa.scalar(value, pa.string()), n)
