"""Random synthetic call traffic for analyzer tests and benchmarks, typed like the store's frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
from callframe import typed

MODELS = (
    ("openai", "gpt-4", 0.03, 0.06, 1.5),
    ("openai", "gpt-4o-mini", 0.00015, 0.0006, 0.5),
    ("anthropic", "claude-sonnet-4", 0.003, 0.015, 0.9),
    ("google", "gemini-1.5-flash", 0.000075, 0.0003, 0.4),
    ("mistral", "mistral-small", 0.0001, 0.0003, 0.5),
    ("acme", "mystery-1", np.nan, np.nan, 1.0),
)
TASKS = ("chat", "summarization", "code_generation", "translation", "analysis", "qa")
TIER_NAMES = ("starter", "pro", "enterprise")


def synthetic(
    n: int,
    *,
    days: int = 30,
    customers: int = 200,
    seed: int = 0,
    start: str = "2026-10-01",
    unpriced_share: float = 0.01,
    error_share: float = 0.03,
) -> pd.DataFrame:
    """Random but plausible traffic: ``n`` calls over ``days`` days (vectorized, for tests and benchmarks)."""
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp(start, tz="UTC").value // 10**6
    ms = np.sort(rng.integers(0, days * 86_400_000, n)) + t0
    cust = rng.integers(0, customers, n)
    probs = np.array([0.2, 0.3, 0.25, 0.15, 0.1 - unpriced_share, unpriced_share])
    mi = rng.choice(len(MODELS), n, p=probs / probs.sum())
    prov = np.array([m[0] for m in MODELS])[mi]
    model = np.array([m[1] for m in MODELS])[mi]
    pin = np.array([m[2] for m in MODELS])[mi]
    pout = np.array([m[3] for m in MODELS])[mi]
    speed = np.array([m[4] for m in MODELS])[mi]
    inp = rng.integers(100, 2000, n)
    out = rng.integers(50, 1500, n)
    cost = inp / 1000 * pin + out / 1000 * pout
    lat = ((inp + out) * 2 * speed * rng.uniform(0.7, 1.3, n)).astype("int64")
    stop = np.where(rng.random(n) < error_share, rng.choice(["TIMEOUT", "ERROR", "CANCELLED"], n), "END")
    tier = np.array(TIER_NAMES)[cust % 3]
    org = np.char.add("org_", (cust % 7).astype(str))
    df = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(ms, unit="ms", utc=True),
            "call_id": np.char.add("call_", np.arange(n).astype(str)),
            "provider": prov,
            "model": model,
            "input_tokens": inp,
            "output_tokens": out,
            "cost_usd": cost,
            "latency_ms": lat,
            "customer_id": np.char.add("cust_", cust.astype(str)),
            "subscription_tier": tier,
            "organization_id": org,
            "product_id": np.char.add(np.char.add(org, "_p"), (cust % 2).astype(str)),
            "feature_id": rng.choice(["chat", "search", "code", "summarize"], n),
            "task_type": rng.choice(TASKS, n),
            "environment": rng.choice(["production", "staging", "development"], n, p=[0.95, 0.04, 0.01]),
            "request_id": np.char.add("req_", np.arange(n).astype(str)),
            "trace_id": np.char.add("tr_", (np.arange(n) // 2).astype(str)),
            "session_id": np.char.add("s_", (cust * 100 + rng.integers(0, 5, n)).astype(str)),
            "user_agent": "synthetic/1.0",
            "region": "us-east-1",
            "stop_reason": stop,
            "cached_tokens": 0,
            "reasoning_tokens": 0,
            "scenario": "base_traffic",
            "source": rng.choice(["simulated", "metered"], n, p=[0.9, 0.1]),
        }
    )
    return typed(df)
