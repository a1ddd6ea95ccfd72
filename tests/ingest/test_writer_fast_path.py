"""The writer's fast path for a few single records (pricing and CSV text without Arrow) writes the same
bytes and the same costs as the Arrow path, and hands over to it whenever it would write otherwise."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.idempotency import IdempotencyLedger
from ingest.mapping import map_revenium
from ingest.writer import GroupCommitWriter, price_missing, price_records
from metering.prices import load_catalog
from metering.schema import COLUMN_NAMES
from metering.store import CallStore, read_calls, records_to_columns
from metering.store_format import format_csv, format_record_lines
from tests.ingest.ingest_helpers import wire_record

CATALOG = load_catalog()


def _mapped(**overrides: Any) -> dict[str, Any]:
    mapped = map_revenium(wire_record(**overrides), user_agent="sdk/1.0", api_key_id="0123456789ab")
    assert mapped.record is not None, mapped.problems
    return mapped.record


def _records() -> list[dict[str, Any]]:
    return [
        _mapped(),
        _mapped(model="gpt-4o-mini", inputTokenCount=7, outputTokenCount=3, cacheReadTokenCount=0),
        _mapped(provider="anthropic", model="claude-sonnet-4", totalCost=0.125),
        _mapped(model="no-such-model"),  # unpriced: an empty cost field
        _mapped(requestTime="2026-11-20 11:00:00.123456+02:00", timeToFirstToken=12.6),
        _mapped(subscriber={"email": "Ann@Example.com"}, environment="stage", isStreamed=True),
        _mapped(totalCost=1e-7, reasoningTokenCount=40, cacheCreationTokenCount=100),
    ]


def test_fast_lines_and_costs_equal_the_arrow_path_for_mapped_records():
    records = _records()
    for group in (records, records[:1], records[2:5]):
        costs = price_records(group, CATALOG)
        arrow_costs = price_missing(records_to_columns(group), CATALOG)
        assert costs is not None and np.array_equal(costs, arrow_costs, equal_nan=True)
        assert math.isnan(costs[group.index(records[3])]) if records[3] in group else True
        arrays = records_to_columns(group)
        arrays["cost_usd"] = records_to_columns([{"cost_usd": c} for c in arrow_costs])["cost_usd"]
        lines = format_record_lines(group, {"cost_usd": costs})
        assert lines is not None and lines == format_csv(arrays)


_FORMAT_DECLINES = [
    {"organization_id": "org, with comma"},  # Arrow then quotes every text field of the group
    {"feature_id": 'say "hi"'},
    {"timestamp": "2026-11-20T10:00:00Z"},  # not the store's text: Arrow's path normalises it
    {"timestamp": "2026-11-2\u0661T10:00:00.000Z"},  # a non-ASCII digit
    {"input_tokens": "12"},  # a number as text: converted by Arrow's path only
    {"latency_ms": True},
    {"cost_usd": "0.5"},
    {"region": 5},
    {"input_tokens": 2**60},
]
_PRICE_DECLINES = [
    {"timestamp": "2026-11-20T10:00:00Z"},
    {"timestamp": "2026-11-2\u0661T10:00:00.000Z"},
    {"input_tokens": "12"},
    {"cached_tokens": False},
    {"input_tokens": 2**60},
]


@pytest.mark.parametrize("change", _FORMAT_DECLINES)
def test_fast_text_hands_over_what_arrow_writes_otherwise(change):
    assert format_record_lines([_mapped(), _mapped() | change]) is None


@pytest.mark.parametrize("change", _PRICE_DECLINES)
def test_fast_pricing_hands_over_what_arrow_reads_otherwise(change):
    assert price_records([_mapped(), _mapped() | change], CATALOG) is None


_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from(list(',"\r\n ')),
    max_size=12,
)
_value = st.one_of(
    st.none(),
    st.just(""),
    _text,
    st.integers(min_value=-(2**62), max_value=2**62),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    changes=st.lists(
        st.dictionaries(st.sampled_from(COLUMN_NAMES), _value, max_size=4), min_size=1, max_size=4
    )
)
def test_fast_lines_are_arrow_bytes_or_none_for_any_values(changes):
    """Whatever the records hold, the fast text is byte for byte Arrow's, or the fast path declines; where
    the text is taken, the fast costs are Arrow's too (pricing alone may accept what the text refuses)."""
    group = [_mapped() | change for change in changes]
    fast, fast_costs = format_record_lines(group), price_records(group, CATALOG)
    try:
        arrow: bytes | None = format_csv(records_to_columns(group))
    except Exception:  # Arrow refuses the values: then the fast path must not write them either
        arrow = None
    if fast is not None:
        assert fast == arrow
    try:
        arrow_costs = price_missing(records_to_columns(group), CATALOG)
    except Exception:
        arrow_costs = None
    if fast is not None and fast_costs is not None:  # what the writer's fast path then writes
        assert arrow_costs is not None and np.array_equal(fast_costs, arrow_costs, equal_nan=True)


def test_writer_takes_the_fast_path_for_single_records_and_arrow_for_arrays(tmp_path: Path):
    store = CallStore(tmp_path / "calls.csv")
    ledger = IdempotencyLedger(tmp_path / "ledger.sqlite")
    writer = GroupCommitWriter(store, CATALOG, ledger)
    try:
        records = _records()
        job = writer.submit(records, [])
        assert job.error is None and writer.fast_batches == 1
        expected = price_missing(records_to_columns(records), CATALOG)
        assert np.array_equal(np.array(job.costs, dtype=float), expected, equal_nan=True)
        bulk = writer.submit([], [], arrays=records_to_columns([_mapped() for _ in range(3)]))
        assert bulk.error is None and writer.fast_batches == 1 and writer.batches == 2
        comma = writer.submit([_mapped(organizationName="org, inc")], [])  # quoted: the Arrow path
        assert comma.error is None and writer.fast_batches == 1
        frame = read_calls(store.path)
        assert len(frame) == len(records) + 3 + 1
        assert "org, inc" in set(frame["organization_id"].astype(str))
    finally:
        writer.close()
        ledger.close()


def test_a_file_in_another_column_order_gets_rows_in_its_own_order(tmp_path: Path):
    """append_lines refuses a file whose header is not canonical; the writer then takes the Arrow path."""
    path = tmp_path / "calls.csv"
    columns = list(COLUMN_NAMES)
    columns[1], columns[2] = columns[2], columns[1]
    path.write_text(",".join(columns) + "\n")
    ledger = IdempotencyLedger(tmp_path / "ledger.sqlite")
    writer = GroupCommitWriter(CallStore(path), CATALOG, ledger)
    try:
        record = _mapped()
        job = writer.submit([record], [])
        assert job.error is None and writer.fast_batches == 0
        frame = read_calls(path)
        assert list(frame["call_id"]) == [record["call_id"]] and list(frame["provider"]) == ["openai"]
    finally:
        writer.close()
        ledger.close()
