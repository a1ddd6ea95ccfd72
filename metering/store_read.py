"""Reading the call-record CSV: parsing (pyarrow's multithreaded CSV reader; a slow, line-by-line path
only when a chunk has malformed lines, to name them) and tailing (:class:`IncrementalReader`).

See :mod:`metering.store` for the guarantees.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from metering.schema import (
    BY_NAME,
    COLUMN_NAMES,
    COLUMNS,
    timestamps_to_utc,
)
from metering.store_format import (
    _CANONICAL_TS_RE,
    _NON_NEGATIVE,
    _REQUIRED_NUMERIC,
    StoreError,
    _arrow_type,
    parse_header,
)


@dataclass
class ReadResult:
    """What one read returned: new typed rows, whether earlier rows are void, and what was skipped."""

    frame: Any  # pandas DataFrame (typed, canonical column order); the Arrow table for ``arrow=True``
    reset: bool = False
    malformed: list[tuple[int, str]] = field(default_factory=list)
    rows_total: int = 0
    offset: int = 0
    columns_in_file: list[str] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)

    @property
    def malformed_count(self) -> int:
        return len(self.malformed)


def empty_frame() -> Any:
    """A typed, zero-row call frame."""
    return _table_to_frame(_empty_table())


def _empty_table() -> pa.Table:
    return pa.table({c.name: pa.array([], _arrow_type(c.kind)) for c in COLUMNS})


def _table_to_frame(table: pa.Table) -> Any:
    df = table.to_pandas()
    return df


def _convert_types(columns: list[str], all_strings: bool = False) -> dict[str, pa.DataType]:
    out = {}
    for c in columns:
        if c in BY_NAME:
            out[c] = pa.string() if all_strings else _arrow_type(BY_NAME[c].kind)
        else:
            out[c] = pa.string()
    return out


def _finish(table: pa.Table, columns: list[str]) -> pa.Table:
    """Canonical columns and order; defaults for columns the file lacks."""
    n = table.num_rows
    arrays = []
    for c in COLUMNS:
        if c.name in columns:
            arr = table.column(c.name)
            if c.kind == "str":
                arr = pc.fill_null(arr, "")
            elif c.kind == "category":
                if arr.null_count:
                    arr = pc.fill_null(arr.cast(pa.string()), "" if c.default is None else c.default)
                if not pa.types.is_dictionary(arr.type):
                    arr = pc.dictionary_encode(arr)
            elif c.kind == "int" and c.default is not None:
                arr = pc.fill_null(arr, c.default)
        else:
            if c.kind == "category":
                arr = pa.array(np.full(n, c.default, dtype=object), pa.string()).dictionary_encode()
            elif c.kind == "int":
                arr = pa.array(np.full(n, c.default, dtype=np.int64))
            else:
                arr = pa.array(np.full(n, c.default, dtype=object), _arrow_type(c.kind))
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, names=list(COLUMN_NAMES))


def _row_problems(table: pa.Table) -> np.ndarray:
    """Vectorized checks after typing: index of rows with a null required value or a negative count."""
    bad = np.zeros(table.num_rows, dtype=bool)
    if table.num_rows == 0:
        return bad
    bad |= table.column("timestamp").is_null().to_numpy(zero_copy_only=False)
    for c in _REQUIRED_NUMERIC:
        bad |= table.column(c).is_null().to_numpy(zero_copy_only=False)
    for c in _NON_NEGATIVE:
        v = table.column(c).to_numpy(zero_copy_only=False)
        with np.errstate(invalid="ignore"):
            bad |= np.nan_to_num(v.astype(np.float64), nan=0.0) < 0
    cost = table.column("cost_usd").to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):
        bad |= np.nan_to_num(cost.astype(np.float64), nan=0.0) < 0
    return bad


def _parse_fast(chunk: bytes, columns: list[str]) -> tuple[pa.Table, list[str]] | None:
    """Typed multithreaded parse; returns None when the chunk needs the slow path.

    The store's own timestamps (``...T..:..:..mmmZ``) are typed by the CSV reader itself; when a chunk
    holds another ISO 8601 spelling (the seed's naive ``isoformat()`` text with microseconds, offsets,
    a space, ...), it is read again with the timestamp as text and converted by
    ``metering.schema.timestamps_to_utc``, the rule every reader shares.
    """
    canonical = _first_stamp_canonical(chunk, columns)
    table = _read_typed(chunk, columns, text_timestamps=False) if canonical else None
    if table is None and "timestamp" in columns:
        table = _read_typed(chunk, columns, text_timestamps=True)
        if table is not None:
            text = table.column("timestamp")
            stamps = timestamps_to_utc(text)
            if pc.any(pc.and_(stamps.is_null(), pc.greater(pc.utf8_length(text), 0))).as_py():
                return None  # a value that is no timestamp: the slow path names its line
            table = table.set_column(table.schema.get_field_index("timestamp"), "timestamp", stamps)
    if table is None:
        return None
    table = _finish(table, columns)
    if _row_problems(table).any():
        return None
    return table, []


def _first_stamp_canonical(chunk: bytes, columns: list[str]) -> bool:
    """Whether the chunk's first timestamp is the store's own text (else the typed read would fail
    anyway: such a chunk, e.g. a whole seed-written file, goes straight to the text-timestamp read)."""
    if "timestamp" not in columns:
        return True
    nl = chunk.find(b"\n")
    line = (chunk if nl < 0 else chunk[:nl]).rstrip(b"\r").decode("utf-8", "replace")
    fields = next(csv.reader([line]), [])
    at = columns.index("timestamp")
    return at >= len(fields) or _CANONICAL_TS_RE.match(fields[at]) is not None


def _read_typed(chunk: bytes, columns: list[str], *, text_timestamps: bool) -> pa.Table | None:
    """pyarrow's typed CSV read of complete lines, or None when some line is not clean."""
    invalid: list[str] = []

    def handler(row: Any) -> str:
        invalid.append(row.text)
        return "skip"

    types = _convert_types(columns)
    if text_timestamps:
        types["timestamp"] = pa.string()
    try:
        table = pacsv.read_csv(
            io.BytesIO(chunk),
            read_options=pacsv.ReadOptions(column_names=columns, block_size=1 << 22),
            parse_options=pacsv.ParseOptions(invalid_row_handler=handler, newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types=types,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    return None if invalid else table


def _parse_slow(
    chunk: bytes, columns: list[str], first_line_no: int
) -> tuple[pa.Table, list[tuple[int, str]]]:
    """Line-by-line parse that names every malformed line: wrong field count, bad type, bad value."""
    malformed: list[tuple[int, str]] = []
    good_lines: list[bytes] = []
    good_no: list[int] = []
    ncol = len(columns)
    for i, raw in enumerate(chunk.split(b"\n")):
        line_no = first_line_no + i
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            malformed.append((line_no, "not valid UTF-8"))
            continue
        fields = next(csv.reader([text]), [])
        if len(fields) != ncol:
            malformed.append((line_no, f"expected {ncol} fields, found {len(fields)}"))
            continue
        good_lines.append(raw)
        good_no.append(line_no)
    if not good_lines:
        return _finish(_typed_empty(columns), columns), malformed
    text_table = pacsv.read_csv(
        io.BytesIO(b"\n".join(good_lines) + b"\n"),
        read_options=pacsv.ReadOptions(column_names=columns),
        convert_options=pacsv.ConvertOptions(
            column_types=_convert_types(columns, all_strings=True), strings_can_be_null=False
        ),
    )
    n = text_table.num_rows
    ok = np.ones(n, dtype=bool)
    reasons: dict[int, str] = {}
    typed: dict[str, pa.Array] = {}
    for c in columns:
        arr = text_table.column(c).combine_chunks()
        col = BY_NAME.get(c)
        if col is None or col.kind in ("str", "category"):
            typed[c] = arr
            continue
        empty = pc.equal(pc.utf8_length(arr), 0).to_numpy(zero_copy_only=False)
        target = _arrow_type(col.kind)
        values: list[Any] = []
        # per-value conversion only in this rare path, to name the failing line
        for j, s in enumerate(arr.to_pylist()):
            if not s:
                values.append(None)
                continue
            try:
                if col.kind == "int":
                    v = int(s)
                elif col.kind == "float":
                    v = float(s)
                    if not np.isfinite(v):
                        raise ValueError
                else:  # timestamp: any ISO 8601 spelling the schema accepts
                    v = timestamps_to_utc([s])[0].as_py()
                    if v is None:
                        raise ValueError
                values.append(v)
            except (ValueError, pa.ArrowInvalid, OverflowError):
                values.append(None)
                if ok[j]:
                    ok[j] = False
                    reasons[j] = f"column {c!r}: invalid {col.kind} value {s[:40]!r}"
        typed[c] = pa.array(values, target)
        if c in ("timestamp",) + _REQUIRED_NUMERIC:
            for j in np.flatnonzero(empty & ok):
                ok[j] = False
                reasons[j] = f"column {c!r}: missing value"
        if c in _NON_NEGATIVE or c == "cost_usd":
            vals = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
            for j in np.flatnonzero((np.nan_to_num(vals, nan=0.0) < 0) & ok):
                ok[j] = False
                reasons[j] = f"column {c!r}: negative value {values[j]}"
    for j in sorted(reasons):
        malformed.append((good_no[j], reasons[j]))
    malformed.sort()
    table = pa.table(typed).filter(pa.array(ok))
    return table, malformed


def _typed_empty(columns: list[str]) -> pa.Table:
    types = _convert_types(columns)
    return pa.table({c: pa.array([], types[c]) for c in columns})


def parse_chunk(
    chunk: bytes, columns: list[str], first_line_no: int
) -> tuple[pa.Table, list[tuple[int, str]]]:
    """Parse complete CSV lines (no header) into a canonical Arrow table plus the malformed lines."""
    if not chunk.strip():
        return _finish(_typed_empty(columns), columns), []
    fast = _parse_fast(chunk, columns)
    if fast is not None:
        return fast[0], []
    table, malformed = _parse_slow(chunk, columns, first_line_no)
    return _finish(table, columns), malformed


class IncrementalReader:
    """Tails a call-record CSV: each ``poll()`` returns only the complete rows appended since the last.

    A file that shrank, got a new inode, or whose bytes before our offset changed is treated as a new
    file: the result says ``reset=True`` and holds the whole new content.
    """

    _SAMPLE = 512  # bytes before the offset compared on each poll: spans whole lines (ids, timestamps)

    def __init__(
        self, path: str | os.PathLike[str], max_bytes: int | None = None, arrow: bool = False
    ) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes  # cap per poll (None = everything available)
        #: hand back the canonical Arrow table instead of the pandas frame (no conversion: the live
        #: session builds its cube straight from it)
        self.arrow = arrow
        self._clear()

    def _clear(self) -> None:
        self.offset = 0
        self.inode: int | None = None
        self.columns: list[str] | None = None
        self.line_no = 0  # lines consumed so far (header included)
        self.rows_total = 0
        self._sample = b""
        self.malformed_total = 0

    def _replaced(self, fd: int, st: os.stat_result) -> bool:
        if self.inode is None:
            return False
        if st.st_ino != self.inode or st.st_size < self.offset:
            return True
        if self._sample:
            start = self.offset - len(self._sample)
            return os.pread(fd, len(self._sample), start) != self._sample
        return False

    def poll(self) -> ReadResult:
        reset = False
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            if self.inode is not None:
                self._clear()
                reset = True
            return ReadResult(empty_frame(), reset=reset, rows_total=0, offset=0)
        try:
            st = os.fstat(fd)
            if self._replaced(fd, st):
                self._clear()
                reset = True
            size = st.st_size
            end = size if self.max_bytes is None else min(size, self.offset + self.max_bytes)
            data = os.pread(fd, end - self.offset, self.offset) if end > self.offset else b""
        finally:
            os.close(fd)
        if self.inode is None:
            self.inode = st.st_ino
        last_nl = data.rfind(b"\n")
        if last_nl < 0:
            return ReadResult(
                empty_frame(),
                reset=reset,
                rows_total=self.rows_total,
                offset=self.offset,
                columns_in_file=list(self.columns or []),
            )
        data = data[: last_nl + 1]
        start_line = self.line_no + 1
        if self.columns is None:
            nl = data.find(b"\n")
            self.columns = parse_header(data[: nl + 1], f"{self.path}: line 1 (header)")
            body = data[nl + 1 :]
            start_line = 2
        else:
            body = data
        table, malformed = parse_chunk(body, self.columns, start_line)
        self.offset += len(data)
        self.line_no += data.count(b"\n")
        self._sample = (
            data[-self._SAMPLE :] if len(data) >= self._SAMPLE else (self._sample + data)[-self._SAMPLE :]
        )
        self.rows_total += table.num_rows
        self.malformed_total += len(malformed)
        return ReadResult(
            table if self.arrow else _table_to_frame(table),
            reset=reset,
            malformed=malformed,
            rows_total=self.rows_total,
            offset=self.offset,
            columns_in_file=list(self.columns),
            extra_columns=[c for c in self.columns if c not in BY_NAME],
        )


def read_calls_report(path: str | os.PathLike[str]) -> ReadResult:
    """Read a whole file into the typed frame, with the malformed-line report."""
    p = Path(path)
    if not p.exists():
        raise StoreError(f"{p}: no such file")
    return IncrementalReader(p).poll()


def read_calls(path: str | os.PathLike[str]) -> Any:
    """The whole file as the typed call DataFrame (malformed lines skipped)."""
    return read_calls_report(path).frame


def last_timestamp(path: str | os.PathLike[str], tail_bytes: int = 1 << 16) -> Any:
    """Timestamp of the last complete row (pandas Timestamp, UTC) or None: reads only the file's tail."""
    import pandas as pd

    p = Path(path)
    try:
        size = p.stat().st_size
    except FileNotFoundError:
        return None
    with open(p, "rb") as f:
        header = f.readline()
        if not header.endswith(b"\n"):
            return None
        columns = parse_header(header, f"{p}: header")
        start = max(len(header), size - tail_bytes)
        f.seek(start)
        tail = f.read()
    if start > len(header):
        nl = tail.find(b"\n")
        tail = tail[nl + 1 :] if nl >= 0 else b""
    last_nl = tail.rfind(b"\n")
    if last_nl < 0:
        return None
    table, _ = parse_chunk(tail[: last_nl + 1], columns, 0)
    if table.num_rows == 0:
        return None
    ts = pc.max(table.column("timestamp")).as_py()
    return None if ts is None else pd.Timestamp(ts).tz_convert("UTC")


def concat_frames(frames: list[Any]) -> Any:
    """Concatenate typed call frames, unioning categoricals so categories never degrade to object."""
    import pandas as pd
    from pandas.api.types import union_categoricals

    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_frame()
    if len(frames) == 1:
        return frames[0]
    out = {}
    for c in COLUMNS:
        if c.kind == "category":
            out[c.name] = pd.Series(
                union_categoricals([f[c.name] for f in frames], ignore_order=True), name=c.name
            )
        else:
            out[c.name] = pd.concat([f[c.name] for f in frames], ignore_index=True)
    return pd.DataFrame(out)
