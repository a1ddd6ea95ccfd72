"""Performance page: time to first token of streamed calls, p50/p95 per model; a message without any."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analyzers.base import AnalysisResult
from analyzers.finops.performance import ttft_by_model
from dashboard.pages.performance import time_to_first_token


def _calls() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "provider": ["openai"] * 4 + ["anthropic"] * 3,
            "model": ["gpt-4o"] * 4 + ["claude-sonnet-4"] * 3,
            "is_streamed": ["true", "true", "true", "false", "true", "true", ""],
            "time_to_first_token_ms": [100.0, 200.0, 300.0, 50.0, 400.0, np.nan, 10.0],
        }
    )


def test_ttft_counts_only_streamed_calls_that_reported_it():
    t = ttft_by_model(_calls()).set_index("model")
    assert t.loc["gpt-4o", "streamed_calls"] == 3 and t.loc["gpt-4o", "ttft_p50_ms"] == 200.0
    assert t.loc["gpt-4o", "ttft_p95_ms"] == pytest.approx(290.0)
    assert (
        t.loc["claude-sonnet-4", "streamed_calls"] == 1 and t.loc["claude-sonnet-4", "ttft_p50_ms"] == 400.0
    )


def test_chart_draws_p50_and_p95_per_model_fastest_first():
    result = AnalysisResult(name="performance", title="t", tables={"ttft_by_model": ttft_by_model(_calls())})
    data = time_to_first_token.process_data(result)
    assert data["label"].tolist() == ["openai/gpt-4o", "anthropic/claude-sonnet-4"]
    fig = time_to_first_token.create_figure(data)
    assert [tr.name for tr in fig.data] == ["p50", "p95"]
    assert list(fig.data[0].y) == [200.0, 400.0]


def test_chart_without_streamed_calls_says_why():
    empty = AnalysisResult(
        name="performance", title="t", tables={"ttft_by_model": ttft_by_model(_calls()[:0])}
    )
    fig = time_to_first_token.create_figure(time_to_first_token.process_data(empty))
    assert len(fig.data) == 0 and "streamed" in fig.layout.annotations[0].text
