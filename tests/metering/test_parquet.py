"""Parquet day partitions: compact is incremental and idempotent; the folder reads like the CSV."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analyzers"))

from frames import synthetic  # noqa: E402

from metering import parquet  # noqa: E402
from metering.store import format_csv, header_line, read_calls  # noqa: E402

ROWS = synthetic(2000, days=4, customers=25, seed=5, start="2026-10-01")


def _files(folder: Path) -> dict[str, float]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in parquet.day_files(folder)}


def _write(path: Path, df: pd.DataFrame, header: bool = True) -> None:
    with open(path, "ab" if not header else "wb") as f:
        if header:
            f.write(header_line())
        f.write(format_csv(df))


def test_compact_writes_hive_day_partitions_with_the_store_schema(tmp_path):
    csv, out = tmp_path / "calls.csv", tmp_path / "pq"
    _write(csv, ROWS)
    res = parquet.compact(csv, out)
    assert res.rebuilt and res.rows == len(ROWS)
    assert res.days_written == ["2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04"]
    assert sorted(p.name for p in out.glob("date=*")) == [f"date={d}" for d in res.days_written]
    f = pq.ParquetFile(next(out.glob("date=2026-10-02/*.parquet")))
    assert f.metadata.row_group(0).column(0).compression.lower() == "zstd"
    assert f.schema_arrow.field("timestamp").type.tz == "UTC"
    back = parquet.read_folder(out).to_pandas()
    pd.testing.assert_frame_equal(
        back.astype({c: "object" for c in back.columns if isinstance(back[c].dtype, pd.CategoricalDtype)}),
        read_calls(csv).astype(
            {c: "object" for c in back.columns if isinstance(back[c].dtype, pd.CategoricalDtype)}
        ),
    )


def test_compact_twice_is_idempotent(tmp_path):
    csv, out = tmp_path / "calls.csv", tmp_path / "pq"
    _write(csv, ROWS)
    parquet.compact(csv, out)
    before = _files(out)
    again = parquet.compact(csv, out)
    assert again.rows == 0 and again.days_written == [] and not again.rebuilt
    assert _files(out) == before


def test_appending_a_day_then_compacting_adds_exactly_that_day(tmp_path):
    csv, out = tmp_path / "calls.csv", tmp_path / "pq"
    _write(csv, ROWS)
    parquet.compact(csv, out)
    before = _files(out)
    extra = synthetic(300, days=1, customers=25, seed=9, start="2026-10-05")
    extra["call_id"] = "late_" + extra["call_id"].astype(str)
    _write(csv, extra, header=False)
    res = parquet.compact(csv, out)
    assert res.days_written == ["2026-10-05"] and res.rows == 300
    after = _files(out)
    assert {k: v for k, v in after.items() if k in before} == before  # earlier days untouched
    assert set(after) - set(before) == {"date=2026-10-05/part-0.parquet"}
    assert parquet.read_folder(out).num_rows == len(ROWS) + 300


def test_the_current_day_is_rewritten_with_its_new_rows(tmp_path):
    csv, out = tmp_path / "calls.csv", tmp_path / "pq"
    _write(csv, ROWS)
    parquet.compact(csv, out)
    more = synthetic(50, days=1, customers=5, seed=2, start="2026-10-04")
    more["call_id"] = "more_" + more["call_id"].astype(str)
    _write(csv, more, header=False)
    res = parquet.compact(csv, out)
    assert res.days_written == ["2026-10-04"]
    day = parquet.read_file(out / "date=2026-10-04" / "part-0.parquet")
    assert day.num_rows == int((ROWS["timestamp"].dt.day == 4).sum()) + 50


def test_a_replaced_csv_is_written_again(tmp_path):
    csv, out = tmp_path / "calls.csv", tmp_path / "pq"
    _write(csv, ROWS)
    parquet.compact(csv, out)
    _write(csv, ROWS.head(100))  # a new, shorter file
    res = parquet.compact(csv, out)
    assert res.rebuilt and parquet.read_folder(out).num_rows == 100


def test_malformed_lines_are_skipped_and_reported(tmp_path):
    csv, out = tmp_path / "calls.csv", tmp_path / "pq"
    _write(csv, ROWS.head(10))
    with open(csv, "ab") as f:
        f.write(b"not,a,row\n")
    res = parquet.compact(csv, out)
    assert res.rows == 10 and [n for n, _ in res.malformed] == [12]


def test_generate_parquet_writes_both(tmp_path):
    from cli import main

    csv = tmp_path / "gen.csv"
    args = ["generate", "--data", str(csv), "--target-mb", "0.5", "--seed", "2", "--quiet", "--parquet"]
    assert main(args) == 0
    folder = tmp_path / "gen.parquet"
    assert parquet.is_parquet_folder(folder)
    assert parquet.read_folder(folder).num_rows == len(read_calls(csv)) > 0
