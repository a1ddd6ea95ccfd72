"""Cube-based analyses equal the row-based reference on several generated files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from frames import synthetic

from analyzers import cube, engine, registry
from analyzers.base import AnalysisContext
from analyzers.export import dumps, result_to_dict
from analyzers.finops import realtime
from analyzers.summary import cube_summary, frame_summary
from metering.store import format_csv, header_line, read_calls

FILES = [
    dict(n=4000, days=20, customers=60, seed=1),
    dict(n=2500, days=45, customers=15, seed=2, unpriced_share=0.05),
    dict(n=1200, days=3, customers=300, seed=3, error_share=0.2),
]


@pytest.fixture(params=range(len(FILES)), ids=lambda i: f"file{i}")
def store(request, tmp_path):
    p = tmp_path / "calls.csv"
    p.write_bytes(header_line() + format_csv(synthetic(**FILES[request.param])))
    built = engine.build_cube(p, partition_mb=0.1, workers=2)
    return read_calls(p), built.cube


def _json(result) -> object:
    return json.loads(dumps(result_to_dict(result)))


def assert_same(a: object, b: object, where: str = "$") -> None:
    """Equal JSON documents, floats equal to 1e-9 relative (sums added in another order), so every
    amount agrees far below a cent."""
    if isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-9), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), where
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def test_realtime_from_the_cube_equals_the_rows(store):
    df, c = store
    ctx = AnalysisContext()
    got, want = _json(realtime.analyze_cube(c, ctx)), _json(realtime.analyze(df, ctx))
    assert want["alerts"] or want["tables"]  # something to compare
    assert_same(got, want)


@pytest.mark.parametrize("name", registry.CUBE_ANALYZERS)
def test_cube_analyzers_equal_the_rows(store, name):
    df, c = store
    ctx = AnalysisContext()
    assert_same(_json(registry.run_cube(name, c, ctx)), _json(registry.run(name, df, ctx)))


def test_summary_from_the_cube_equals_the_rows(store):
    df, c = store
    assert_same(cube_summary(c), frame_summary(df))


def test_latency_percentiles_by_model_within_the_sketch_error(store):
    df, c = store
    got = cube.quantiles(c, ["provider", "model"], (0.5, 0.95, 0.99))
    for _, row in got.iterrows():
        lat = df.loc[(df["provider"] == row["provider"]) & (df["model"] == row["model"]), "latency_ms"]
        exact = np.percentile(lat.to_numpy(), [50, 95, 99])
        assert row["calls"] == len(lat)
        for q, want in zip((0.5, 0.95, 0.99), exact, strict=True):
            assert row[f"q{q}"] == pytest.approx(want, rel=cube.SKETCH_ACCURACY)


def test_empty_cube_summary():
    from metering.store import empty_frame

    assert_same(cube_summary(cube.empty()), frame_summary(empty_frame()))
    assert isinstance(cube.frame(cube.build(synthetic(10))), pd.DataFrame)
