"""The call-record CSV format: header, column types, line formatting (``format_csv``), header parsing.

Writers format rows here and append them with :mod:`metering.store_append`; readers parse them with
:mod:`metering.store_read`. :mod:`metering.store` is the public facade over the three.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from metering.csvtext import COST_DECIMALS  # one home: the formatter without Arrow's writer
from metering.schema import (
    BY_NAME,
    COLUMN_NAMES,
    COLUMNS,
    SEED_COLUMN_NAMES,
    timestamps_to_utc,
)

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


def records_to_columns(records: list[dict[str, Any]]) -> dict[str, pa.Array]:
    """Column arrays in canonical order from record dicts keyed by schema column names: the one records ->
    columns rule of every writer (``CallStore.append_records``, the ingest writer).

    A missing value (None; for numbers also "") takes the column's default; a column without a default
    stays missing: a null integer, a NaN float (both written as an empty field), empty text. Timestamps
    that are text are kept as they are (``format_csv`` checks and normalises them); others are formatted.
    """
    out: dict[str, pa.Array] = {}
    for col in COLUMNS:
        values = [r.get(col.name) for r in records]
        if col.kind in ("int", "float"):
            values = [col.default if v is None or v == "" else v for v in values]
            if col.kind == "int":
                out[col.name] = pa.array([None if v is None else int(float(v)) for v in values], pa.int64())
            else:
                out[col.name] = pa.array([np.nan if v is None else float(v) for v in values], pa.float64())
            continue
        if col.default is not None:
            values = [col.default if v is None else v for v in values]
        if col.kind == "timestamp":
            values = [v if isinstance(v, str) else _ts_text(v) for v in values]
        out[col.name] = pa.array(["" if v is None else str(v) for v in values], pa.string())
    return out


#: what Arrow's CSV writer refuses to write unquoted (``format_csv`` then quotes every text field)
_NEEDS_QUOTES_RE = re.compile(r'[,"\r\n]')


def format_record_lines(records: list[dict[str, Any]], floats: dict[str, Any] | None = None) -> bytes | None:
    """``format_csv(records_to_columns(records))`` without Arrow, byte for byte, or None.

    For the few records of one group commit, where Arrow's fixed cost per column (about 60 µs each,
    33 columns) outweighs the rows. ``floats`` gives whole float columns instead of the records' values
    (the ingest writer's costs). None when a record holds something written otherwise by Arrow — a
    text that needs quoting, a timestamp not already in the store's text, a value that is not a plain
    number: the caller then takes ``format_csv``, so both paths always write the same bytes (tested).
    """
    from metering.csvtext import float_text, round_cost  # Arrow's float text, Arrow's rounding

    n = len(records)
    fields: list[list[str]] = []
    for col in COLUMNS:
        given = (floats or {}).get(col.name)
        values = [r.get(col.name) for r in records] if given is None else list(given)
        out: list[str] = []
        if col.kind == "int":
            for v in values:
                v = col.default if v is None or v == "" else v
                if v is None:
                    out.append("")
                elif type(v) in (int, float) and abs(v) < 2**53:  # (NaN fails the test too)
                    out.append(str(int(float(v))))
                else:
                    return None
        elif col.kind == "float":
            numbers: list[float] = []
            for v in values:
                v = col.default if v is None or v == "" else v
                if type(v) not in (int, float, np.float64) and v is not None:
                    return None
                try:
                    numbers.append(math.nan if v is None else float(v))  # NaN: missing, an empty field
                except OverflowError:  # an int too large for a float: Arrow's path says so
                    return None
            out = [float_text(x).decode() for x in round_cost(np.array(numbers, dtype=np.float64)).tolist()]
        else:
            for v in values:
                v = col.default if v is None and col.default is not None else v
                text = "" if v is None else v if type(v) is str else None
                if text is None or _NEEDS_QUOTES_RE.search(text):
                    return None
                if col.kind == "timestamp" and not (text.isascii() and _CANONICAL_TS_RE.match(text)):
                    return None
                out.append(text)
        if len(out) != n:
            return None
        fields.append(out)
    try:
        return "".join(",".join(row) + "\n" for row in zip(*fields, strict=True)).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: Arrow refuses it, with its own message
        return None


def _ts_text(v: Any) -> str | None:
    if v is None:
        return None
    from metering.schema import format_timestamp, parse_timestamp

    dt = parse_timestamp(v)
    return None if dt is None else format_timestamp(dt)
