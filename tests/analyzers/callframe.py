"""Build typed call frames (the dtypes ``metering.store.read_calls`` returns) from a few fields per row."""

from __future__ import annotations

from typing import Any

import pandas as pd

from metering.schema import COLUMNS

_BASE: dict[str, Any] = {
    "timestamp": "2026-11-02T10:00:00.000Z",
    "provider": "openai",
    "model": "gpt-4o",
    "input_tokens": 1000,
    "output_tokens": 500,
    "cost_usd": 0.0075,
    "latency_ms": 800,
    "customer_id": "cust_0001",
    "subscription_tier": "starter",
    "organization_id": "org_001",
    "product_id": "product_a",
    "feature_id": "chat",
    "task_type": "chat",
    "environment": "production",
    "request_id": "req",
    "trace_id": "trace",
    "session_id": "sess",
    "user_agent": "test",
}


def calls(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A typed call frame; each row overrides the defaults above (call_id is generated)."""
    recs = []
    for i, r in enumerate(rows):
        rec = {**_BASE, "call_id": f"call_{i:06d}", **r}
        for c in COLUMNS:
            if c.name not in rec:
                rec[c.name] = c.default
        recs.append(rec)
    df = pd.DataFrame(recs, columns=[c.name for c in COLUMNS])
    return typed(df)


def typed(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in COLUMNS:  # columns a caller left out get the schema default (as the store's reader does)
        if c.name not in out:
            out[c.name] = c.default
    out = out[[c.name for c in COLUMNS]]
    out["timestamp"] = pd.to_datetime(out["timestamp"], utc=True, format="ISO8601").astype(
        "datetime64[ms, UTC]"
    )
    for c in COLUMNS:
        if c.name not in out.columns:  # an extension column the frame predates: its schema default
            out[c.name] = c.default
        if c.kind == "int":
            out[c.name] = out[c.name].astype("int64")
        elif c.kind == "float":
            out[c.name] = pd.to_numeric(out[c.name]).astype("float64")
        elif c.kind == "category":
            out[c.name] = out[c.name].astype("str").astype("category")
        elif c.kind == "str":
            out[c.name] = out[c.name].astype("str")
    return out


def empty() -> pd.DataFrame:
    return calls([]).iloc[0:0]
