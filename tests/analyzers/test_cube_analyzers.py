"""Cube-based analyses equal the row-based reference on several generated files, read from the engines'
views (what ``analyze`` gives the analyzers) and from the cube over every dimension (the live session's)."""

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
from analyzers.summary import VIEWS, cube_summary, frame_summary
from metering.store import format_csv, header_line, read_calls

FILES = [
    dict(n=4000, days=20, customers=60, seed=1),
    dict(n=2500, days=45, customers=15, seed=2, unpriced_share=0.05),
    dict(n=1200, days=3, customers=300, seed=3, error_share=0.2),
]


def _with_streaming(df: pd.DataFrame) -> pd.DataFrame:
    """Every third call streamed with a time to first token (a quarter of its latency), so the TTFT
    sketch has something to compare."""
    df = df.copy()
    streamed = np.arange(len(df)) % 3 == 0
    df["is_streamed"] = np.where(streamed, "true", "false")
    df["time_to_first_token_ms"] = np.where(streamed, np.round(df["latency_ms"].to_numpy() * 0.25), np.nan)
    return df


@pytest.fixture(
    params=[(i, src) for i in range(len(FILES)) for src in ("views", "full")],
    ids=lambda p: f"file{p[0]}-{p[1]}",
)
def store(request, tmp_path):
    """(rows, what the analyzers read): the views ``analyze_store`` builds, or the full cube."""
    i, src = request.param
    p = tmp_path / "calls.csv"
    p.write_bytes(header_line() + format_csv(_with_streaming(synthetic(**FILES[i]))))
    if src == "full":
        return read_calls(p), engine.build_cube(p, partition_mb=0.1, workers=2).cube
    views = (*registry.views(), *VIEWS)
    built = engine.build_cube(p, partition_mb=0.1, workers=2, views=views)
    assert cube.FULL not in built.views.cubes and set(built.views.cubes) == set(views)
    return read_calls(p), built.views


def _json(result) -> object:
    return json.loads(dumps(result_to_dict(result)))


def assert_same(a: object, b: object, where: str = "$", sketched: tuple[str, ...] = ()) -> None:
    """Equal JSON documents, floats equal to 1e-9 relative (sums added in another order), so every
    amount agrees far below a cent; values under a key of ``sketched`` (percentiles read from a sketch)
    within the sketch's relative error."""
    key = where.rsplit(".", 1)[-1]
    if key in sketched and (isinstance(a, float) or isinstance(b, float)):
        assert a == pytest.approx(b, rel=cube.SKETCH_ACCURACY), where
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-9), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), where
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}", sketched)
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]", sketched)
    else:
        assert a == b, where


def test_realtime_from_the_cube_equals_the_rows(store):
    df, c = store
    ctx = AnalysisContext()
    got, want = _json(realtime.analyze_cube(c, ctx)), _json(realtime.analyze(df, ctx))
    assert want["alerts"] or want["tables"]  # something to compare
    assert_same(got, want)


def test_realtime_scope_budgets_from_the_views_equal_the_rows(store):
    """Each budget scope's daily cost comes from its own day view (``realtime.VIEWS``)."""
    from metering.budgets import ScopeBudget

    df, src = store
    org, product = df["organization_id"].iloc[0], df["product_id"].iloc[-1]
    ctx = AnalysisContext(
        scope_budgets=(
            ScopeBudget("organization", str(org), 5.0),
            ScopeBudget("product", str(product), 1.0),
            ScopeBudget("api_key", "no-such-key", 1.0),
        )
    )
    got, want = _json(realtime.analyze_cube(src, ctx)), _json(realtime.analyze(df, ctx))
    assert len(want["scope_budgets"]) >= 2
    assert_same(got, want)


def test_every_analyzer_reads_the_cube():
    assert registry.CUBE_ANALYZERS == registry.ANALYZER_NAMES
    assert set(registry.SKETCHED) <= set(registry.CUBE_ANALYZERS)


@pytest.mark.parametrize("name", [n for n in registry.CUBE_ANALYZERS if n not in registry.SKETCHED])
def test_cube_analyzers_equal_the_rows(store, name):
    df, c = store
    ctx = AnalysisContext()
    assert_same(_json(registry.run_cube(name, c, ctx)), _json(registry.run(name, df, ctx)))


def test_summary_from_the_cube_equals_the_rows(store):
    df, c = store
    assert_same(cube_summary(c), frame_summary(df))


def test_latency_percentiles_by_model_within_the_sketch_error(store):
    df, src = store
    got = cube.quantiles(
        cube.view(src, cube.SKETCH_DIMS, ("latency",)), ["provider", "model"], (0.5, 0.95, 0.99)
    )
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


PERCENTILES = ("p50_ms", "p95_ms", "p99_ms", "tokens_per_s_p50", "ttft_p50_ms", "ttft_p95_ms")
#: performance columns that are sums or counts (or ratios of them): exact
PERF_EXACT = (
    "calls",
    "mean_ms",
    "tokens_per_s_mean",
    "errors",
    "timeouts",
    "priced",
    "cost_usd",
    "priced_tokens",
    "error_rate_pct",
    "timeout_rate_pct",
    "success_rate_pct",
    "cost_per_call_usd",
    "cost_per_1k_tokens_usd",
    "streamed_calls",
    "ttft_mean_ms",
)


def _rows(table: list[dict], keys: list[str]) -> dict[tuple, dict]:
    return {tuple(r[k] for k in keys): r for r in table}


def _near_sla(df: pd.DataFrame, sla: float) -> pd.Series:
    """Calls whose latency lies within the sketch bucket width of the SLA (the only ones the sketch may
    put on the wrong side of it)."""
    return (df["latency_ms"] - sla).abs() <= 2 * cube.SKETCH_ACCURACY * sla


def test_performance_from_the_cube_sums_exact_percentiles_within_the_sketch_error(store):
    df, c = store
    ctx = AnalysisContext()
    got, want = _json(registry.run_cube("performance", c, ctx)), _json(registry.run("performance", df, ctx))
    gm, wm = got["metrics"], want["metrics"]
    assert wm["streamed_calls"]["value"] > 0  # the TTFT sketch is exercised
    for k in ("calls", "mean_ms", "error_rate_pct", "timeout_rate_pct", "error_calls", "streamed_calls"):
        assert_same(gm[k]["value"], wm[k]["value"], k)
    for k in ("p50_ms", "p95_ms", "p99_ms", "tokens_per_s_p50", "ttft_p50_ms"):
        assert gm[k]["value"] == pytest.approx(wm[k]["value"], rel=cube.SKETCH_ACCURACY), k
    near = _near_sla(df, ctx.sla_ms)
    assert abs(gm["sla_compliance_pct"]["value"] - wm["sla_compliance_pct"]["value"]) <= near.mean() * 100
    for table, keys in (
        ("latency_by_model", ["provider", "model"]),
        ("latency_by_provider", ["provider"]),
        ("ttft_by_model", ["provider", "model"]),
        ("daily_latency", ["date"]),
    ):
        g, w = _rows(got[table], keys), _rows(want[table], keys)
        assert g.keys() == w.keys() and len(g) == len(got[table]), table
        for key, row in w.items():
            for col, value in row.items():
                where = f"{table}{list(key)}.{col}"
                if col in PERCENTILES:
                    assert g[key][col] == pytest.approx(value, rel=cube.SKETCH_ACCURACY), where
                elif col in PERF_EXACT or col in keys or col == "error_rate_pct":
                    assert_same(g[key][col], value, where)
            if "within_sla" in row:
                mine = near & np.logical_and.reduce(
                    [df[k].astype(str) == v for k, v in zip(keys, key, strict=True)]
                )
                assert abs(g[key]["within_sla"] - row["within_sla"]) <= int(mine.sum()), key
    assert_same(got["errors_by_stop_reason"], want["errors_by_stop_reason"])
    assert "within 1% relative error of the exact value" in got["methods"]["latency"]
    assert "percentage points" in got["methods"]["sla"]


def test_optimization_from_the_cube_equals_the_rows_to_the_cent(store):
    df, c = store
    ctx = AnalysisContext(params={"optimization": {"commitments": True}})
    got, want = _json(registry.run_cube("optimization", c, ctx)), _json(registry.run("optimization", df, ctx))
    assert want["switch_matrix"] and want["caching"]  # something to compare
    assert "input-token bucket" in got["methods"].pop("switching")
    want["methods"].pop("switching")
    # from_p50_ms / to_p50_ms come from the latency sketch; every amount is a sum
    assert_same(got, want, sketched=("from_p50_ms", "to_p50_ms"))


def test_optimization_context_windows_on_the_cube_buckets():
    """command-r's best switch is gemini-pro (32,760-token window): a call at the window qualifies and
    one 10 % above does not, on the cube as on the rows; calls on both sides of the window inside one
    sketch bucket (32,760 and 32,761) leave that bucket out on the cube (never overstating)."""
    ctx = AnalysisContext()
    rows = synthetic(n=200, days=2, customers=5, seed=4)
    rows["provider"], rows["model"], rows["task_type"] = "cohere", "command-r", "chat"
    rows["cost_usd"] = 0.02  # command-r list price of ~32K input tokens: cheaper only on gemini-pro
    w = 32_760
    even = np.arange(len(rows)) % 2 == 0
    rows["input_tokens"] = np.where(even, w, w + w // 10)
    got = registry.run_cube("optimization", cube.build(rows), ctx).tables["switch_matrix"]
    want = registry.run("optimization", rows, ctx).tables["switch_matrix"]
    assert list(want["to_model"]) == ["gemini-pro"] and want["qualifying_calls"].iloc[0] == even.sum()
    cols = ["from_model", "to_model", "qualifying_calls", "qualifying_cost_usd", "savings_usd"]
    pd.testing.assert_frame_equal(got[cols], want[cols], rtol=1e-9)
    rows["input_tokens"] = np.where(even, w, w + 1)
    assert len(set(cube.latency_buckets(np.array([w, w + 1])))) == 1  # one bucket, both sides
    got = registry.run_cube("optimization", cube.build(rows), ctx).tables["switch_matrix"]
    want = registry.run("optimization", rows, ctx).tables["switch_matrix"]
    assert want.set_index("to_model").loc["gemini-pro", "qualifying_calls"] == even.sum()
    assert "gemini-pro" not in set(got["to_model"])  # that bucket left out: the saving is not claimed
    assert got["savings_usd"].sum() <= want["savings_usd"].sum()


@pytest.mark.parametrize("grain", ["day", "hour"])
def test_realtime_and_understanding_from_a_day_or_hour_cube_equal_the_rows(grain):
    """The engines' day cube reads its hours (hourly anomalies, spikes, the hour-of-day profile) from the
    ``hourly`` side table; an hour cube from the same table: both equal the rows."""
    df = _with_streaming(synthetic(**FILES[0]))
    c = cube.build(df, grain=grain)
    ctx = AnalysisContext()
    for name in ("realtime", "understanding", "features"):
        assert_same(_json(registry.run_cube(name, c, ctx)), _json(registry.run(name, df, ctx)), name)


@pytest.mark.parametrize("name", registry.CUBE_ANALYZERS)
def test_each_analyzer_alone_reads_only_its_own_views(name):
    """``analyze --only NAME`` builds that analyzer's ``VIEWS`` (and the summary's) alone: they answer
    every grouping it makes (a missing view would raise ``KeyError``), with the rows' results."""
    df = _with_streaming(synthetic(**FILES[1]))
    views = cube.Views(cube.project_all(cube.build(df, grain="day"), (*registry.views([name]), *VIEWS)))
    assert cube.FULL not in views.cubes
    ctx = AnalysisContext()
    got, want = _json(registry.run_cube(name, views, ctx)), _json(registry.run(name, df, ctx))
    if name in registry.SKETCHED:  # percentiles: compared above; here the views must answer at all
        assert got.keys() == want.keys() and got["metrics"].keys() == want["metrics"].keys()
    else:
        assert_same(got, want)
    assert_same(cube_summary(views), frame_summary(df))
