"""A small hand-built call frame covering every dimension, with known costs, latencies and errors."""

from __future__ import annotations

import pandas as pd
import pytest

from metering.schema import COLUMNS, pandas_dtypes

ROWS = [
    # timestamp, provider, model, cost, latency, customer, tier, org, product, feature, task, env, region, stop, scenario
    (
        "2026-11-02T09:00:00Z",
        "openai",
        "gpt-4o",
        0.50,
        1000,
        "cust_a",
        "starter",
        "org_1",
        "product_a",
        "chat",
        "chat",
        "production",
        "us-east",
        "END",
        "base_traffic",
    ),
    (
        "2026-11-02T10:30:00Z",
        "openai",
        "gpt-4o",
        0.30,
        2000,
        "cust_a",
        "starter",
        "org_1",
        "product_a",
        "chat",
        "qa",
        "production",
        "us-east",
        "ERROR",
        "base_traffic",
    ),
    (
        "2026-11-03T11:00:00Z",
        "anthropic",
        "claude-sonnet-4",
        1.20,
        3000,
        "cust_b",
        "pro",
        "org_1",
        "product_b",
        "code_generation",
        "code_generation",
        "staging",
        "eu-west",
        "END",
        "feature_launch",
    ),
    (
        "2026-11-09T12:00:00Z",
        "anthropic",
        "claude-sonnet-4",
        0.80,
        4000,
        "cust_b",
        "pro",
        "org_2",
        "product_c",
        "summarize",
        "summarization",
        "production",
        "eu-west",
        "TIMEOUT",
        "feature_launch",
    ),
    (
        "2026-11-10T08:00:00Z",
        "google",
        "gemini-pro",
        None,
        500,
        "cust_c",
        "enterprise",
        "org_2",
        "product_c",
        "chat",
        "chat",
        "development",
        "",
        "END",
        "",
    ),
    (
        "2026-11-16T23:59:59Z",
        "openai",
        "gpt-4o-mini",
        0.05,
        800,
        "cust_c",
        "enterprise",
        "org_2",
        "product_c",
        "chat",
        "translation",
        "production",
        "us-west",
        "END",
        "steady_growth",
    ),
]


def make_frame(rows=ROWS) -> pd.DataFrame:
    """Typed like the store's frames (categories, int64 tokens, float64 cost, UTC ms timestamps)."""
    records = []
    for i, (
        ts,
        prov,
        model,
        cost,
        lat,
        cust,
        tier,
        org,
        prod,
        feat,
        task,
        env,
        region,
        stop,
        scen,
    ) in enumerate(rows):
        records.append(
            {
                "timestamp": ts,
                "call_id": f"call_{i}",
                "provider": prov,
                "model": model,
                "input_tokens": 1000 * (i + 1),
                "output_tokens": 100 * (i + 1),
                "cost_usd": cost,
                "latency_ms": lat,
                "customer_id": cust,
                "subscription_tier": tier,
                "organization_id": org,
                "product_id": prod,
                "feature_id": feat,
                "task_type": task,
                "environment": env,
                "request_id": f"req_{i}",
                "trace_id": f"tr_{i}",
                "session_id": f"s_{i}",
                "user_agent": "test/1",
                "region": region,
                "stop_reason": stop,
                "cached_tokens": 0,
                "reasoning_tokens": 0,
                "scenario": scen,
                "source": "simulated",
                "cache_creation_tokens": 0,
            }
        )
    df = pd.DataFrame.from_records(records, columns=[c.name for c in COLUMNS])
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True).astype("datetime64[ms, UTC]")
    return df.astype(pandas_dtypes())


@pytest.fixture
def calls() -> pd.DataFrame:
    return make_frame()
