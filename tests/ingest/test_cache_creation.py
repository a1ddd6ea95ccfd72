"""The SDK's cacheCreationTokenCount is stored (cache_creation_tokens) and priced at the cache-write rate."""

from __future__ import annotations

import pytest

from ingest.batch_mapping import map_batch
from ingest.mapping import map_revenium
from ingest.writer import price_missing
from metering.prices import load_catalog
from metering.schema import with_defaults
from metering.store import records_to_columns

BODY = {
    "transactionId": "t1",
    "provider": "anthropic",
    "model": "claude-sonnet-4",
    "inputTokenCount": 1000,
    "outputTokenCount": 0,
    "cacheReadTokenCount": 200,
    "cacheCreationTokenCount": 300,
    "requestTime": "2026-11-02T10:00:00Z",
    "requestDuration": 100,
}


def test_single_and_batch_store_cache_writes_and_price_them_once():
    mapped = map_revenium(BODY)
    assert mapped.problems == [] and mapped.record["cache_creation_tokens"] == 300
    batch = map_batch([BODY, {**BODY, "transactionId": "t2"}])
    assert batch.arrays["cache_creation_tokens"].to_pylist() == [300, 300]
    cost = price_missing(records_to_columns([with_defaults(mapped.record)]), load_catalog())
    assert cost[0] == pytest.approx(500 * 3e-6 + 200 * 3e-7 + 300 * 3.75e-6)
    # more cache tokens than input tokens (and no total saying they were counted outside): refused
    bad = map_revenium({**BODY, "cacheCreationTokenCount": 900})
    assert bad.record is None and any(p.field == "cacheCreationTokenCount" for p in bad.problems)
