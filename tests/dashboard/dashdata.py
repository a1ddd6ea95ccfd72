"""Small, seeded call frames for dashboard tests (the real generator is exercised in browser tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from metering.prices import load_catalog
from metering.store import CallStore

ORGS = ("org_001", "org_002", "org_003")
PRODUCTS = ("product_a", "product_b")
MODELS = (("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4"), ("openai", "gpt-4o-mini"))
TIERS = ("starter", "pro", "enterprise")


def calls(n: int = 600, days: int = 10, seed: int = 7, start: str = "2026-11-01", **fixed) -> pd.DataFrame:
    """``n`` priced calls spread evenly over ``days`` days; ``fixed`` overrides whole columns."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(MODELS), n)
    provider = np.array([m[0] for m in MODELS])[idx]
    model = np.array([m[1] for m in MODELS])[idx]
    cust = rng.integers(0, 30, n)
    inp = rng.integers(100, 2000, n)
    out = rng.integers(50, 1500, n)
    ts = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(np.sort(rng.uniform(0, days * 86400, n)), unit="s")
    df = pd.DataFrame(
        {
            "timestamp": ts.floor("ms"),
            "call_id": [f"call_{seed}_{i:07d}" for i in range(n)],
            "provider": provider,
            "model": model,
            "input_tokens": inp,
            "output_tokens": out,
            "cost_usd": 0.0,
            "latency_ms": rng.integers(200, 4000, n),
            "customer_id": [f"cust_{c:04d}" for c in cust],
            "subscription_tier": np.array(TIERS)[cust % 3],
            "organization_id": np.array(ORGS)[cust % len(ORGS)],
            "product_id": np.array(PRODUCTS)[(cust // 3) % len(PRODUCTS)],
            "feature_id": np.array(["chat", "search", "code"])[rng.integers(0, 3, n)],
            "task_type": np.array(["chat", "qa", "summarization"])[rng.integers(0, 3, n)],
            "environment": "production",
            "request_id": [f"req_{seed}_{i}" for i in range(n)],
            "trace_id": [f"tr_{seed}_{i // 2}" for i in range(n)],
            "session_id": [f"s_{c}" for c in cust],
            "user_agent": "tests/1.0",
            "source": "simulated",
        }
    )
    for k, v in fixed.items():
        df[k] = v
    return priced(df)


def priced(df: pd.DataFrame) -> pd.DataFrame:
    """Set ``cost_usd`` from the catalog price of each row's tokens."""
    df["cost_usd"] = load_catalog().price_calls(
        df["provider"].to_numpy(),
        df["model"].to_numpy(),
        df["input_tokens"].to_numpy(),
        df["output_tokens"].to_numpy(),
    )
    return df


def write(path: Path, df: pd.DataFrame) -> Path:
    CallStore(path).append(df)
    return path


def spike(n: int = 400, at: str = "2026-11-10T12:00:00", seed: int = 99) -> pd.DataFrame:
    """A burst of expensive calls by one customer within minutes: a real-time anomaly."""
    df = calls(
        n=n,
        days=1,
        seed=seed,
        start=at,
        customer_id="cust_0007",
        organization_id="org_002",
        subscription_tier="pro",
        provider="openai",
        model="gpt-4o",
    )
    df["timestamp"] = pd.Timestamp(at, tz="UTC") + pd.to_timedelta(np.arange(n) * 2, unit="s")
    df["input_tokens"] = 6000
    df["output_tokens"] = 3000
    return priced(df)
