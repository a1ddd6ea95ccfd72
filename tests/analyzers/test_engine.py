"""Partitions and engines: cuts on line boundaries, malformed lines by file line number, local == dask."""

from __future__ import annotations

import numpy as np
import pytest
from frames import synthetic
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzers import cube, engine
from metering.partitions import Partition, csv_partitions, number_lines, read_partition
from metering.store import format_csv, header_line, read_calls_report

ROWS = synthetic(1500, days=3, customers=30, seed=11)
BODY = format_csv(ROWS)


@pytest.fixture
def csv_file(tmp_path):
    p = tmp_path / "calls.csv"
    p.write_bytes(header_line() + BODY)
    return p


def _ids(parts):
    out = []
    for p in parts:
        out.extend(read_partition(p).table.column("call_id").to_pylist())
    return out


def test_partitions_cover_every_row_once(csv_file):
    want = ROWS["call_id"].tolist()
    for mb in (0.001, 0.0173, 0.05, 64):
        parts = csv_partitions(csv_file, mb)
        assert _ids(parts) == want, mb
    assert len(csv_partitions(csv_file, 0.001)) > 100


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(BODY)), max_size=8))
def test_a_cut_anywhere_in_a_line_never_loses_or_duplicates_a_row(tmp_path_factory, cuts):
    path = tmp_path_factory.mktemp("cut") / "calls.csv"
    head = header_line()
    path.write_bytes(head + BODY)
    columns = tuple(head.decode().strip().split(","))
    bounds = sorted({len(head), len(head) + len(BODY), *(len(head) + c for c in cuts)})
    parts = [
        Partition(str(path), i, "csv", a, b, columns)
        for i, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False))
    ]
    assert _ids(parts) == ROWS["call_id"].tolist()
    assert sum(read_partition(p).lines for p in parts) == len(ROWS)


def test_a_torn_last_line_belongs_to_nobody(csv_file):
    with open(csv_file, "ab") as f:
        f.write(b"2026-10-04T00:00:00.000Z,call_torn,openai")
    for mb in (0.001, 64):
        assert _ids(csv_partitions(csv_file, mb)) == ROWS["call_id"].tolist()


@pytest.mark.slow
def test_a_malformed_line_is_reported_with_its_file_line_number(csv_file):
    lines = csv_file.read_bytes().split(b"\n")
    bad_at = 1234  # 1-based line number in the file (line 1 is the header)
    lines[bad_at - 1] = b"this,is,not,a,call"
    lines[40 - 1] += b",one field too many"
    csv_file.write_bytes(b"\n".join(lines))
    whole = read_calls_report(csv_file)
    res = engine.build_cube(csv_file, partition_mb=0.01, workers=1)
    assert res.partitions > 10
    assert res.malformed == whole.malformed
    assert [n for n, _ in res.malformed] == [40, bad_at]
    assert "expected" in res.malformed[-1][1] and "fields" in res.malformed[-1][1]
    assert res.rows == len(whole.frame)


def test_number_lines_adds_the_earlier_partitions_lines():
    assert number_lines([([(2, "a")], 10), ([], 5), ([(1, "b"), (5, "c")], 7)]) == [
        (3, "a"),
        (17, "b"),
        (21, "c"),
    ]


def test_local_engine_equals_the_cube_of_all_rows(csv_file):
    rows = read_calls_report(csv_file).frame
    whole = cube.build(rows, grain=engine.GRAIN)
    assert engine.GRAIN == "day" and cube.equal(cube.coarsen(cube.build(rows), "day"), whole)
    one = engine.build_cube(csv_file, workers=1)
    pool = engine.build_cube(csv_file, partition_mb=0.05, workers=2)
    assert pool.partitions > 2 and one.partitions == 1
    assert cube.equal(one.cube, whole) and cube.equal(pool.cube, whole)
    assert pool.rows == one.rows == len(ROWS)
    seen = []
    engine.build_cube(csv_file, partition_mb=0.05, workers=2, progress=lambda d, n: seen.append((d, n)))
    assert seen[-1][0] == seen[-1][1] == pool.partitions and len(seen) == pool.partitions


def test_bad_engine_and_partition_size(csv_file):
    with pytest.raises(ValueError, match="engine"):
        engine.build_cube(csv_file, engine="spark")
    with pytest.raises(ValueError, match="partition size"):
        engine.build_cube(csv_file, partition_mb=0)


def _same_bits(a: cube.Cube, b: cube.Cube) -> bool:
    return (
        a.labels == b.labels
        and all(np.array_equal(a.cols[k], b.cols[k]) for k in a.cols)
        and all(np.array_equal(a.sketch[k], b.sketch[k]) for k in a.sketch)
    )


@pytest.mark.slow
def test_dask_local_cluster_equals_local_bit_for_bit(csv_file):
    local = engine.build_cube(csv_file, partition_mb=0.05, workers=2)
    dask = engine.build_cube(csv_file, engine="dask", partition_mb=0.05, workers=2)
    assert dask.partitions == local.partitions and dask.engine == "dask"
    assert _same_bits(dask.cube, local.cube)
    assert dask.rows == local.rows


@pytest.mark.slow
def test_dask_on_a_scheduler_address(csv_file):
    from distributed import LocalCluster

    local = engine.build_cube(csv_file, partition_mb=0.05, workers=2)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        remote = engine.build_cube(
            csv_file, engine="dask", scheduler=cluster.scheduler_address, partition_mb=0.05
        )
    assert cluster.scheduler_address.startswith("tcp://127.0.0.1")
    assert _same_bits(remote.cube, local.cube) and remote.rows == local.rows


def test_the_parent_folds_partitions_in_index_order_whatever_order_they_arrive(monkeypatch, csv_file):
    """``_Merger`` merges every ``MERGE_EVERY`` partitions as they come back, by index: any arrival order
    gives the same views bit for bit, equal to the views of all rows, and it holds at most a batch."""
    monkeypatch.setattr(engine, "MERGE_EVERY", 3)
    views = (cube.SIDE_VIEW, cube.View(("customer_id", "subscription_tier")), cube.DAYS_VIEW)
    parts = csv_partitions(csv_file, 0.02)
    assert len(parts) >= 10 and len(parts) % 3  # several folds and a partial last batch
    results = {}
    for order in ("in order", "reversed", "shuffled"):
        idx = list(range(len(parts)))
        if order == "reversed":
            idx.reverse()
        elif order == "shuffled":
            idx = list(np.random.default_rng(5).permutation(idx))
        merger = engine._Merger(views)
        for i in idx:
            merger.add(engine.build_partition(parts[i], views))
            assert len(merger.pending) <= len(parts) - merger.next
            if order == "in order":
                assert len(merger.pending) < 3
        results[order] = merger.result("local")
    want = {v: cube.project(cube.build(ROWS, grain="day"), v) for v in views}
    first = results["in order"]
    assert first.rows == len(ROWS) and first.partitions == len(parts)
    for v in views:
        assert cube.equal(first.views.cubes[v], want[v]), v
        for other in ("reversed", "shuffled"):
            assert _same_bits(results[other].views.cubes[v], first.views.cubes[v]), (other, v)
