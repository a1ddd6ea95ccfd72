"""Shared builders for the metering tests: vectorized synthetic call frames and catalog files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

PAIRS = (("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4"), ("google", "gemini-1.5-flash"))


def build_calls(n: int, start: int = 0, prefix: str = "call_", pairs: tuple = PAIRS) -> pd.DataFrame:
    """``n`` well-formed call rows with ids ``prefix`` + zero-padded ``start..start+n-1``, one per second."""
    idx = np.arange(start, start + n)
    pick = idx % len(pairs)
    provider = np.array([p for p, _ in pairs], dtype=object)[pick]
    model = np.array([m for _, m in pairs], dtype=object)[pick]
    inp = 100 + idx % 900
    cached = (inp // 4) * (idx % 2)
    return pd.DataFrame(
        {
            "timestamp": pd.Timestamp("2026-11-19T08:00:00.123Z") + pd.to_timedelta(idx, unit="s"),
            "call_id": pd.Series(idx.astype(str), dtype=str).str.zfill(8).radd(prefix),
            "provider": provider,
            "model": model,
            "input_tokens": inp,
            "output_tokens": 50 + idx % 300,
            "cost_usd": np.round((inp + 3) * 1e-6, 9),
            "latency_ms": 200 + idx % 1000,
            "customer_id": pd.Series(idx % 50).map("cust_{:04d}".format),
            "subscription_tier": np.array(["starter", "pro", "enterprise"], dtype=object)[idx % 3],
            "organization_id": "org_001",
            "product_id": "product_a",
            "feature_id": "chat",
            "task_type": "qa",
            "environment": "production",
            "request_id": pd.Series(idx.astype(str), dtype=str).radd("req_"),
            "trace_id": pd.Series((idx // 3).astype(str), dtype=str).radd("tr_"),
            "session_id": "sess_1",
            "user_agent": "revenium-flow-test/1.0",
            "region": "us-east-1",
            "stop_reason": "END",
            "cached_tokens": cached,
            "reasoning_tokens": 0,
            "scenario": "baseline",
            "source": "simulated",
            "cache_creation_tokens": 0,
        }
    )


@pytest.fixture
def make_calls() -> Callable[..., pd.DataFrame]:
    return build_calls


@pytest.fixture
def write_catalog(tmp_path: Path) -> Callable[[Any, str], Path]:
    """Write a JSON document as a catalog file and return its path."""

    def write(doc: Any, name: str = "prices.json") -> Path:
        p = tmp_path / name
        p.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
        return p

    return write
