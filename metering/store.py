"""The durable, append-only CSV store of call records.

Guarantees (see specs/data-schema.md):

* Writers append whole lines only, under an exclusive ``flock`` on the data file, and ``fsync`` once
  per batch; the header is written once, by whoever finds the file empty.
* A writer that died mid-batch leaves at most one incomplete last line. Readers never take it for
  data (they consume up to the last newline); the next writer truncates it before appending.
* ``IncrementalReader`` remembers its byte offset and returns only new complete rows; it notices a
  truncated or replaced file (a new generation run) and starts over. Malformed lines are skipped,
  counted and reported with their line numbers.
* Files in the seed's 19-column shape and files whose columns come in another order are read; missing
  extension columns get their defaults.

Parsing is pyarrow's multithreaded CSV reader; a slow, line-by-line path runs only when a chunk has
malformed lines, to name them.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import logging
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from metering.header_upgrade import add_columns
from metering.schema import (
    BY_NAME,
    COLUMN_NAMES,
    COLUMNS,
    EXTENSION_COLUMNS,
    SEED_COLUMN_NAMES,
    timestamps_to_utc,
)

log = logging.getLogger(__name__)

#: cost is stored rounded to this many decimals (1e-9 USD): exact enough, and short lines
COST_DECIMALS = 9
_NON_NEGATIVE = (
    "input_tokens",
    "output_tokens",
    "latency_ms",
    "cached_tokens",
    "reasoning_tokens",
    "cache_creation_tokens",
)
_REQUIRED_NUMERIC = ("input_tokens", "output_tokens", "latency_ms")


class StoreError(ValueError):
    """The file cannot be used as a call store; the message says which file, line or column and why."""


def header_line(columns: Iterable[str] = COLUMN_NAMES) -> bytes:
    return (",".join(columns) + "\n").encode()


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------
def _arrow_type(kind: str) -> pa.DataType:
    return {
        "timestamp": pa.timestamp("ms", tz="UTC"),
        "int": pa.int64(),
        "float": pa.float64(),
        "category": pa.dictionary(pa.int32(), pa.string()),
        "str": pa.string(),
    }[kind]


def numpy_to_arrow(values: np.ndarray) -> pa.Array:
    """A 1-D numeric numpy array as an Arrow array over the same memory.

    ``pa.array(ndarray)`` would import pandas to check for pandas objects (0.5 s on first use); the
    generator never needs pandas.
    """
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), len(values), [None, pa.py_buffer(values)])


def _column_for_csv(name: str, values: Any, n: int) -> pa.Array:
    """One column as an Arrow array ready for CSV text: timestamps as ISO strings, cost rounded."""
    col = BY_NAME[name]
    if values is None:  # a column the caller does not have: its default (no pandas on this path)
        if col.kind in ("str", "category"):
            text = str(col.default or "").encode()
            offsets = pa.py_buffer(np.array([0, len(text)], dtype=np.int32))
            dictionary = pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(text)])
            return pa.DictionaryArray.from_arrays(numpy_to_arrow(np.zeros(n, dtype=np.int32)), dictionary)
        values = (
            np.full(n, col.default)
            if col.default is not None
            else pa.nulls(n, pa.int64() if col.kind == "int" else pa.float64())
        )
    if hasattr(values, "to_numpy") and not isinstance(values, pa.Array | pa.ChunkedArray):
        # pandas Series: categoricals and str go through Arrow directly
        values = pa.array(values, from_pandas=True)
    if isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype.kind in "iuf":
        values = numpy_to_arrow(values)
    arr = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if col.kind == "timestamp":
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            if _canonical_timestamps(arr):
                return arr  # already the canonical text (e.g. the generator's): written verbatim
            arr = _iso_to_timestamps(arr, name)
        if not pa.types.is_timestamp(arr.type):
            raise StoreError(f"column {name!r}: expected timestamps, got {arr.type}")
        if arr.type.tz is None:
            arr = arr.cast(pa.timestamp(arr.type.unit, tz="UTC"))
        arr = arr.cast(pa.timestamp("ms", tz="UTC"), safe=False)
        return pc.strftime(arr, format="%Y-%m-%dT%H:%M:%SZ")
    if col.kind == "float":
        arr = arr.cast(pa.float64())
        arr = pc.if_else(pc.is_nan(arr), pa.nulls(1, pa.float64())[0], arr)  # (pa.scalar imports pandas)
        return pc.round(arr, COST_DECIMALS)
    if col.kind == "int":
        return arr.cast(pa.int64())
    if pa.types.is_dictionary(arr.type):  # the CSV writer decodes string dictionaries itself
        return arr if pa.types.is_string(arr.type.value_type) else arr.cast(pa.string())
    return arr if pa.types.is_string(arr.type) else arr.cast(pa.string())


#: the store's own timestamp text; other ISO 8601 spellings are normalized by ``_iso_to_timestamps``
_CANONICAL_TS = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"
_CANONICAL_TS_RE = re.compile(_CANONICAL_TS)

#: the same text as fixed-width bytes, for a vectorized check of whole columns
_TS_WIDTH = 24
_TS_SEPARATORS = {4: b"-", 7: b"-", 10: b"T", 13: b":", 16: b":", 19: b".", 23: b"Z"}
_TS_DIGITS = [i for i in range(_TS_WIDTH) if i not in _TS_SEPARATORS]


def _canonical_timestamps(arr: pa.Array) -> bool:
    """True when every value is the canonical timestamp text (one vectorized look at the bytes)."""
    if arr.null_count or not pa.types.is_string(arr.type):
        return False
    n = len(arr)
    if n == 0:
        return True
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=n + 1, offset=arr.offset * 4)
    if offsets[-1] - offsets[0] != n * _TS_WIDTH or not (np.diff(offsets) == _TS_WIDTH).all():
        return False
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8, count=n * _TS_WIDTH, offset=int(offsets[0]))
    data = data.reshape(n, _TS_WIDTH)
    seps = np.frombuffer(b"".join(_TS_SEPARATORS.values()), dtype=np.uint8)
    return bool((data[:, list(_TS_SEPARATORS)] == seps).all() and ((data[:, _TS_DIGITS] - 48) < 10).all())


def _iso_to_timestamps(arr: pa.Array, name: str) -> pa.Array:
    """ISO 8601 text in any accepted spelling (space, offset, naive, 0..9 fraction digits) -> UTC
    timestamps, with ``metering.schema.timestamps_to_utc`` (the one rule every reader uses).

    Written verbatim, such text would not be the store's canonical form; so it is normalized here
    (vectorized) or refused with the value.
    """
    ts = timestamps_to_utc(arr)
    bad = pc.and_(ts.is_null(), pc.invert(pc.fill_null(pc.equal(arr, ""), True)))
    if pc.any(bad).as_py():
        first = arr.filter(bad)[0].as_py()
        raise StoreError(f"column {name!r}: not an ISO 8601 timestamp: {str(first)[:40]!r}")
    return ts


def format_csv(data: Any, columns: Iterable[str] = COLUMN_NAMES) -> bytes:
    """Canonical CSV lines (no header) for ``data``: a DataFrame, a pyarrow Table or a dict of arrays.

    Columns missing from ``data`` get their schema default; the same data always gives the same bytes.
    """
    columns = tuple(columns)
    if isinstance(data, pa.Table):
        get = lambda c: data.column(c) if c in data.column_names else None  # noqa: E731
        n = data.num_rows
    elif isinstance(data, dict):
        get = lambda c: data.get(c)  # noqa: E731
        n = len(next(iter(data.values()))) if data else 0
    else:  # pandas DataFrame
        get = lambda c: data[c] if c in data.columns else None  # noqa: E731
        n = len(data)
    if n == 0:
        return b""
    unknown = [c for c in columns if c not in BY_NAME]
    if unknown:
        raise StoreError(f"unknown column(s) {unknown}")
    table = pa.table({c: _column_for_csv(c, get(c), n) for c in columns})
    buf = io.BytesIO()
    try:  # no value can hold a line break in this style: the bytes are final as written
        pacsv.write_csv(
            table, buf, write_options=pacsv.WriteOptions(include_header=False, quoting_style="none")
        )
        return buf.getvalue()
    except pa.ArrowInvalid:  # a value holds a comma, quote or line break: quote what needs it
        buf = io.BytesIO()
        pacsv.write_csv(
            table, buf, write_options=pacsv.WriteOptions(include_header=False, quoting_style="needed")
        )
    return buf.getvalue().replace(b"\r\n", b"\n")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[int]:
    """Open ``path`` for append under an exclusive lock, re-opening if it was replaced meanwhile."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                try:
                    yield fd
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                return
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _read_first_line(fd: int, limit: int = 1 << 16) -> bytes:
    head = os.pread(fd, limit, 0)
    nl = head.find(b"\n")
    return head if nl < 0 else head[: nl + 1]


def _repair_tail(fd: int, size: int) -> int:
    """Truncate an incomplete last line left by a writer that died; return the new size."""
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return size
    pos = size
    step = 1 << 16
    while pos > 0:
        start = max(0, pos - step)
        chunk = os.pread(fd, pos - start, start)
        nl = chunk.rfind(b"\n")
        if nl >= 0:
            new_size = start + nl + 1
            os.ftruncate(fd, new_size)
            return new_size
        pos = start
    os.ftruncate(fd, 0)  # not even a complete header line: start over
    return 0


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def parse_header(line: bytes, where: str = "header") -> list[str]:
    """Column names of a header line; errors name what is wrong (binary or non-UTF-8 text included)."""
    nul = line.find(b"\x00")
    if nul >= 0:
        raise StoreError(f"{where}: binary data (NUL byte at byte {nul + 1}), not a CSV file")
    try:
        text = line.decode("utf-8-sig").strip()
    except UnicodeDecodeError as exc:
        raise StoreError(f"{where}: not UTF-8 text (byte {exc.start + 1}), not a CSV file") from exc
    names = next(csv.reader([text])) if text else []
    names = [n.strip() for n in names]
    if not names:
        raise StoreError(f"{where}: empty header line")
    missing = [c for c in SEED_COLUMN_NAMES if c not in names]
    if missing:
        raise StoreError(f"{where}: required column(s) missing: {', '.join(missing)}")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise StoreError(f"{where}: duplicate column(s): {', '.join(dup)}")
    return names


class CallStore:
    """Appends call records to one CSV file; safe with several writer processes and live readers."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def _append(self, build: Any, rows: int) -> int:
        """``build(file_columns) -> bytes`` formats the rows in the file's own column order."""
        if rows == 0:
            return 0
        upgraded = False
        while True:
            with _locked(self.path) as fd:
                size = _repair_tail(fd, os.fstat(fd).st_size)
                if size == 0:
                    columns = list(COLUMN_NAMES)
                    payload = build(columns)
                    payload = (
                        [header_line(columns), *payload]
                        if isinstance(payload, list)
                        else header_line(columns) + payload
                    )
                else:
                    columns = parse_header(_read_first_line(fd), f"{self.path}: header")
                    known = [c for c in columns if c in BY_NAME]
                    if len(known) != len(columns):
                        raise StoreError(
                            f"{self.path}: header has column(s) this version does not know: "
                            f"{', '.join(c for c in columns if c not in BY_NAME)}; append refused"
                        )
                    missing = [c for c in COLUMN_NAMES if c not in columns]
                    if missing and not upgraded:
                        upgraded = True  # once: if it fails, append in the file's own columns
                        if self._add_columns(fd, size, missing):
                            continue  # the file was replaced: lock the new one
                    payload = build(columns)
                os.lseek(fd, 0, os.SEEK_END)
                try:
                    for part in payload if isinstance(payload, list) else [payload]:
                        _write_all(fd, part)
                    os.fsync(fd)
                except BaseException:  # disk full, I/O error: take back what this append wrote
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, size)
                    raise
            return rows

    def _add_columns(self, fd: int, size: int, missing: list[str]) -> bool:
        """The one-time header upgrade (``metering.header_upgrade``); False (logged) when it failed."""
        defaults = format_csv({"call_id": ["x"]}, missing).rstrip(b"\n")  # each column's default
        try:
            add_columns(self.path, fd, size, missing, defaults)
        except OSError as exc:
            log.error("%s: could not add column(s) %s (%s); appending without them", self.path, missing, exc)
            return False
        _fsync_dir(self.path.parent)
        return True

    def append(self, data: Any) -> int:
        """Append a DataFrame / pyarrow Table / dict of arrays of call records; returns rows written."""
        n = (
            data.num_rows
            if isinstance(data, pa.Table)
            else len(data)
            if not isinstance(data, dict)
            else (len(next(iter(data.values()))) if data else 0)
        )
        return self._append(lambda cols: format_csv(data, cols), n)

    def append_records(self, records: list[dict[str, Any]]) -> int:
        """Append a list of record dicts (schema column names); missing extension columns get defaults."""
        if not records:
            return 0
        cols: dict[str, list[Any]] = {c.name: [] for c in COLUMNS}
        for r in records:
            for c in COLUMNS:
                v = r.get(c.name)
                cols[c.name].append(c.default if v is None and c.default is not None else v)
        arrays: dict[str, Any] = {}
        for c in COLUMNS:
            vals = cols[c.name]
            if c.kind == "timestamp":
                arrays[c.name] = pa.array(
                    [v if isinstance(v, str) else _ts_text(v) for v in vals], pa.string()
                )
            elif c.kind == "int":
                arrays[c.name] = pa.array(
                    [None if v is None or v == "" else int(float(v)) for v in vals], pa.int64()
                )
            elif c.kind == "float":
                arrays[c.name] = pa.array(
                    [None if v is None or v == "" else float(v) for v in vals], pa.float64()
                )
            else:
                arrays[c.name] = pa.array(["" if v is None else str(v) for v in vals], pa.string())
        return self.append(arrays)

    def append_lines(self, data: bytes | list[Any], rows: int) -> int:
        """Append pre-formatted canonical lines (``format_csv`` output, canonical column order).

        ``data`` may be a list of byte buffers (written in order with no joining copy).
        """
        parts = [memoryview(b) for b in (data if isinstance(data, list) else [data]) if len(b)]
        if rows == 0 or not parts:
            return 0
        if parts[-1][-1:] != b"\n":
            raise StoreError("append_lines: data must end with a newline")

        def build(columns: list[str]) -> list[memoryview]:
            if tuple(columns) != COLUMN_NAMES:
                raise StoreError(
                    f"{self.path}: file columns differ from the canonical order; use append() instead"
                )
            return parts

        return self._append(build, rows)

    def reset(self, keep_metered: bool = True, simulated_only_size: int | None = None) -> int:
        """Atomically start a new run: a header-only file plus, by default, the rows that came from real
        metering (``source`` other than ``simulated``), so a new simulation never deletes real data.

        Done under the append lock, so a metered row appended concurrently is either kept or lands in
        the new file, never lost. Returns the number of rows kept; readers see a reset.
        ``simulated_only_size``: the caller knows (from the generator's manifest) that the file held
        only simulated rows when it had this many bytes; if it still has exactly that size under the
        lock, it is not read.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        if not self.path.exists():
            _write_new(tmp, header_line())
            os.replace(tmp, self.path)
            _fsync_dir(self.path.parent)
            return 0
        with _locked(self.path) as fd:
            unchanged = simulated_only_size is not None and os.fstat(fd).st_size == simulated_only_size
            kept = _metered_rows(fd, str(self.path)) if keep_metered and not unchanged else None
            payload = header_line() + (b"" if kept is None else format_csv(kept))
            _write_new(tmp, payload)
            os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)
        return 0 if kept is None else kept.num_rows


def _write_new(path: Path, payload: bytes) -> None:
    with open(path, "wb") as f:
        f.write(payload)
        f.flush()
        os.fsync(f.fileno())


def _metered_rows(fd: int, where: str) -> pa.Table | None:
    """The rows of an open call file whose source is not 'simulated' (None when there are none)."""
    size = _repair_tail(fd, os.fstat(fd).st_size)
    data = os.pread(fd, size, 0)
    if b"metered" not in data and b"otlp" not in data:  # cheap pre-check: skips parsing pure simulations
        return None
    nl = data.find(b"\n")
    if nl < 0:
        return None
    columns = parse_header(data[: nl + 1], f"{where}: header")
    if "source" not in columns:
        return None
    table, _ = parse_chunk(data[nl + 1 :], columns, 2)
    source = table.column("source").cast(pa.string())
    mask = pc.and_(pc.is_valid(source), pc.not_equal(source, "simulated"))
    kept = table.filter(mask)
    return kept if kept.num_rows else None


def _ts_text(v: Any) -> str | None:
    if v is None:
        return None
    from metering.schema import format_timestamp, parse_timestamp

    dt = parse_timestamp(v)
    return None if dt is None else format_timestamp(dt)


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------
@dataclass
class ReadResult:
    """What one read returned: new typed rows, whether earlier rows are void, and what was skipped."""

    frame: Any  # pandas DataFrame (typed, canonical column order)
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

    def __init__(self, path: str | os.PathLike[str], max_bytes: int | None = None) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes  # cap per poll (None = everything available)
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
            _table_to_frame(table),
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


__all__ = [
    "COST_DECIMALS",
    "CallStore",
    "EXTENSION_COLUMNS",
    "IncrementalReader",
    "ReadResult",
    "StoreError",
    "concat_frames",
    "empty_frame",
    "format_csv",
    "header_line",
    "numpy_to_arrow",
    "last_timestamp",
    "parse_chunk",
    "parse_header",
    "read_calls",
    "read_calls_report",
]
