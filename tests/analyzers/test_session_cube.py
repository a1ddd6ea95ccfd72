"""The live session analyses its cube, never rows: every analyzer on the filtered session cube equals the
analyzer on the filtered rows (sums to the cent, percentiles within the sketch's error), and after a
refresh the session holds no call rows."""

from __future__ import annotations

import gc
from datetime import date

import pandas as pd
import pytest
from frames import synthetic
from test_cube_analyzers import _json, _with_streaming, assert_same

from analyzers import cube, cube_filter, registry
from analyzers.base import AnalysisContext
from analyzers.session import ANALYSIS_DIMS, ANALYSIS_SIDES, AnalysisSession, Filters, filter_frame
from metering.store import CallStore, read_calls

CTX = AnalysisContext()


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> tuple[AnalysisSession, pd.DataFrame]:
    """A session fed in three appends (so its cube is merged from parts) and the rows it read."""
    data = _with_streaming(synthetic(3000, days=20, customers=30, seed=11, start="2026-11-01"))
    path = tmp_path_factory.mktemp("live") / "calls.csv"
    store = CallStore(path)
    s = AnalysisSession(path, CTX)
    for lo, hi in ((0, 1200), (1200, 2500), (2500, 3000)):
        store.append(data.iloc[lo:hi])
        s.refresh()
    return s, read_calls(path)


def _filters(df: pd.DataFrame) -> list[Filters]:
    org = sorted(df["organization_id"].astype(str).unique())
    first = df[df["organization_id"].astype(str) == org[0]]
    product = str(first["product_id"].astype(str).iloc[0])
    customers = tuple(sorted(df["customer_id"].astype(str).unique())[:4])
    return [
        Filters(),
        Filters(tiers=("pro",)),
        Filters(start=date(2026, 11, 5), end=date(2026, 11, 12), organizations=tuple(org[:2])),
        Filters(drill=(org[0], product)),
        Filters(customers=customers, environments=("production",)),
        Filters(organizations=tuple(org[1:]), drill=(org[0],)),  # nothing: org[0] is not among them
    ]


CASES = range(6)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", [n for n in registry.ANALYZER_NAMES if n not in registry.SKETCHED])
def test_session_results_equal_the_analyzers_on_the_filtered_rows(live, name, case):
    s, df = live
    f = _filters(df)[case]
    rows = filter_frame(df, f)
    assert_same(_json(s.result(name, f)), _json(registry.run(name, rows, CTX)))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", registry.SKETCHED)
def test_sketched_results_equal_the_cube_of_the_filtered_rows(live, name, case):
    """Performance and optimization: exactly the cube analysis of the filtered rows (whose equality with
    the row-based analysis, percentiles within the sketch's error, ``test_cube_analyzers`` checks)."""
    s, df = live
    f = _filters(df)[case]
    rows = filter_frame(df, f)
    want = registry.run_cube(name, cube.build(rows), CTX)
    assert_same(_json(s.result(name, f)), _json(want))


@pytest.mark.parametrize("case", [1, 2, 4])
def test_session_percentiles_within_the_sketch_error_of_the_rows(live, case):
    s, df = live
    f = _filters(df)[case]
    rows = filter_frame(df, f)
    got, want = s.result("performance", f).metrics, registry.run("performance", rows, CTX).metrics
    assert got["calls"].value == want["calls"].value == len(rows) > 0
    for k in ("p50_ms", "p95_ms", "p99_ms", "tokens_per_s_p50", "ttft_p50_ms"):
        assert got[k].value == pytest.approx(want[k].value, rel=cube.SKETCH_ACCURACY), k


def test_filtered_cube_equals_the_cube_of_the_filtered_rows(live):
    s, df = live
    for f in _filters(df)[1:]:
        rows = filter_frame(df, f)
        built = cube.build(rows, "hour", ANALYSIS_DIMS, sides=ANALYSIS_SIDES)
        got = s.chart_cube(f)
        assert got.calls == len(rows)
        # labels differ (the session keeps every label seen): compare after canonical ordering
        assert cube.equal(_drop_empty(got), built), f


def _drop_empty(c: cube.Cube) -> cube.Cube:
    """``c`` without labels no cell uses, so that it compares with a cube built from its calls only."""
    return cube.canonical(c)


def test_project_derives_every_default_side_from_the_cells(live):
    s, df = live
    projected = s.analysis_cube()
    full = cube.build(df)
    for name, spec in cube.SIDES.items():
        a = cube.regroup_cols(projected.sides[name], spec.keys, spec.sums, spec.mins, spec.maxs)
        b = full.sides[name]
        assert int(a[spec.sums[0]].sum()) == int(b[spec.sums[0]].sum()), name
        assert len(a[spec.keys[0]]) == len(b[spec.keys[0]]), name
    with pytest.raises(ValueError, match="not a dimension"):
        cube_filter.select(projected, values={"call_id": ("x",)})


def _row_frames() -> list[pd.DataFrame]:
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, pd.DataFrame) and "call_id" in o.columns]


def test_the_session_holds_no_call_rows_after_refresh(tmp_path):
    before = {id(f) for f in _row_frames()}  # other tests' fixtures
    data = synthetic(1500, days=5, customers=10, seed=5)
    path = tmp_path / "calls.csv"
    store = CallStore(path)
    s = AnalysisSession(path, CTX)
    store.append(data.iloc[:700])
    s.refresh()
    store.append(data.iloc[700:])
    s.refresh()
    s.overview()
    s.result("understanding", Filters(tiers=("pro",)))
    s.chart_cube(Filters(tiers=("pro",)))
    del data
    alive = [f for f in _row_frames() if id(f) not in before and len(f) >= 700]
    assert not alive, "a frame of call rows is still alive"
    state = vars(s._state)
    assert not any(isinstance(v, pd.DataFrame) for v in state.values())
    assert s._state.parts and all(isinstance(p, cube.Cube) for p in s._state.parts)
    assert s.analysis_cube().calls == int(s._state.cube["calls"].sum()) == 1500


def test_many_appends_fold_the_parts_and_keep_every_call(tmp_path, monkeypatch):
    from analyzers import session as session_module

    monkeypatch.setattr(session_module, "MAX_PARTS", 3)
    data = synthetic(900, days=6, customers=8, seed=9)
    path = tmp_path / "calls.csv"
    store = CallStore(path)
    s = AnalysisSession(path, CTX)
    for lo in range(0, 900, 100):
        store.append(data.iloc[lo : lo + 100])
        s.refresh()
        assert len(s._state.parts) <= 3
    assert s.analysis_cube().calls == 900
    built = cube.build(read_calls(path), "hour", ANALYSIS_DIMS, sides=ANALYSIS_SIDES)
    assert cube.equal(s.chart_cube(), built)


def test_export_rows_reads_the_file_by_partitions_with_the_filters(live, monkeypatch):
    """The FOCUS download's rows: the filtered rows of the file, whatever the partition size."""
    import analyzers.engine as engine_module

    s, df = live
    f = _filters(df)[2]
    want = filter_frame(df, f)
    small = engine_module.partitions

    def tiny(path, partition_mb=64.0, workers=1):  # several partitions even for a small file
        from metering.partitions import csv_partitions

        return csv_partitions(path, 0.05)

    monkeypatch.setattr(engine_module, "partitions", tiny)
    got = s.export_rows(f)
    assert len(small(s.path)) == 1 < len(tiny(s.path))
    assert got["call_id"].tolist() == want["call_id"].tolist()
    assert got["cost_usd"].sum() == pytest.approx(want["cost_usd"].sum(), rel=1e-12)
