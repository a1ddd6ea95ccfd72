"""The call store as Parquet partitioned by UTC day, for Spark, Trino, DuckDB or ClickHouse users.

``compact(csv, folder)`` writes the rows of the CSV store under ``folder/date=YYYY-MM-DD/part-0.parquet``
(hive layout, the store's schema, zstd). It is incremental: a state file in the folder
(``_compact.json``) remembers how many bytes (whole lines) of the CSV are already written, so a second
run reads only the lines appended since; each day those lines fall on is (re)written whole, existing
rows first, and every other day is left alone. The newest day, still filling, is therefore rewritten on
every run, and a day appended later is written once. A CSV that was replaced or shrank (another
inode, fewer bytes, or other bytes before the offset) is written again from scratch. Files are written
to a temporary name and renamed, the state last, so an interrupted run is redone by the next.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from metering.store import StoreError, parse_chunk, parse_header
from metering.store_read import _finish

STATE_FILE = "_compact.json"
PART_FILE = "part-0.parquet"
COMPRESSION = "zstd"
DAY_MS = 86_400_000
_SAMPLE = 512


@dataclass
class CompactResult:
    """What one ``compact`` did."""

    rows: int = 0  # rows read from the CSV this run
    days_written: list[str] = field(default_factory=list)  # YYYY-MM-DD, in order
    malformed: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason), skipped
    rebuilt: bool = False  # the folder was written from scratch


def is_parquet_folder(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder of day partitions (``date=*/`` with Parquet files)."""
    p = Path(path)
    return p.is_dir() and any(p.glob("date=*/*.parquet"))


def day_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The Parquet files of a day-partitioned folder, oldest day first."""
    return sorted(Path(folder).glob("date=*/*.parquet"))


def read_file(path: str | os.PathLike[str]) -> pa.Table:
    """One Parquet file as the store's canonical Arrow table (columns the file lacks get defaults)."""
    table = pq.ParquetFile(path).read()
    if "date" in table.column_names and "date" not in _canonical_names():
        table = table.drop_columns(["date"])
    return _finish(table, table.column_names)


def read_folder(folder: str | os.PathLike[str]) -> pa.Table:
    """Every row of a day-partitioned folder, oldest day first, as one canonical Arrow table."""
    tables = [read_file(f) for f in day_files(folder)]
    if not tables:
        return _finish(pa.table({}), [])
    return pa.concat_tables(tables).unify_dictionaries()


def _canonical_names() -> tuple[str, ...]:
    from metering.schema import COLUMN_NAMES

    return COLUMN_NAMES


def _day_name(day: int) -> str:
    return str(np.datetime64(int(day), "D"))


def _write_day(folder: Path, day: int, table: pa.Table) -> None:
    d = folder / f"date={_day_name(day)}"
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / f".{PART_FILE}.tmp"
    pq.write_table(table, tmp, compression=COMPRESSION)
    os.replace(tmp, d / PART_FILE)
    for other in d.glob("*.parquet"):
        if other.name != PART_FILE:
            other.unlink()


def _load_state(folder: Path) -> dict:
    try:
        return json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _unchanged(state: dict, csv: Path, st: os.stat_result) -> bool:
    """Whether the CSV is the one (and still holds the bytes) the state was written from."""
    if not state or state.get("inode") != st.st_ino or st.st_size < state.get("offset", 0):
        return False
    sample = bytes.fromhex(state.get("sample", ""))
    if sample:
        with open(csv, "rb") as f:
            f.seek(state["offset"] - len(sample))
            return f.read(len(sample)) == sample
    return True


def compact(csv: str | os.PathLike[str], folder: str | os.PathLike[str]) -> CompactResult:
    """Write the CSV store's rows not yet in ``folder`` as day partitions (module docstring)."""
    src, out = Path(csv), Path(folder)
    if not src.exists():
        raise StoreError(f"{src}: no such file")
    st = os.stat(src)
    out.mkdir(parents=True, exist_ok=True)
    state = _load_state(out)
    result = CompactResult()
    if not _unchanged(state, src, st):
        for d in out.glob("date=*"):
            shutil.rmtree(d)
        state = {}
        result.rebuilt = True
    with open(src, "rb") as f:
        header = f.readline()
        if not header.endswith(b"\n"):
            raise StoreError(f"{src}: line 1 (header): no complete header line")
        columns = parse_header(header, f"{src}: line 1 (header)")
        offset = int(state.get("offset", len(header)))
        line = int(state.get("line", 2))
        f.seek(offset)
        data = f.read(st.st_size - offset)
    data = data[: data.rfind(b"\n") + 1]  # a torn last line waits for the next run
    if data:
        table, malformed = parse_chunk(data, columns, line)
        result.malformed = malformed
        result.rows = table.num_rows
        if table.num_rows:
            ms = pc.cast(table.column("timestamp"), pa.int64()).to_numpy(zero_copy_only=False)
            days = ms // DAY_MS
            order = np.argsort(days, kind="stable")
            table, days = table.take(pa.array(order)), days[order]
            cuts = np.flatnonzero(np.diff(days)) + 1
            for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(days)], strict=True):
                day = int(days[lo])
                part = table.slice(int(lo), int(hi - lo))
                existing = out / f"date={_day_name(day)}" / PART_FILE
                if existing.exists():
                    part = pa.concat_tables([read_file(existing), part]).unify_dictionaries()
                _write_day(out, day, part)
                result.days_written.append(_day_name(day))
    new_offset = offset + len(data)
    with open(src, "rb") as f:
        f.seek(max(new_offset - _SAMPLE, 0))
        sample = f.read(min(_SAMPLE, new_offset))
    new_state = {
        "source": str(src.resolve()),
        "inode": st.st_ino,
        "offset": new_offset,
        "line": line + data.count(b"\n"),
        "sample": sample.hex(),
    }
    tmp = out / f".{STATE_FILE}.tmp"
    tmp.write_text(json.dumps(new_state, indent=1), encoding="utf-8")
    os.replace(tmp, out / STATE_FILE)
    return result
