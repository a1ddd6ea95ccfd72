"""Appending to the call-record CSV: whole lines only, under an exclusive ``flock``, one ``fsync`` per
batch once the lock is released; a torn last line left by a dead writer is repaired (truncated) before
the next append.

See :mod:`metering.store` for the guarantees; :class:`CallStore` is the one writer class.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from metering.header_upgrade import add_columns
from metering.schema import (
    BY_NAME,
    COLUMN_NAMES,
)
from metering.store_format import (
    StoreError,
    format_csv,
    header_line,
    parse_header,
    records_to_columns,
)
from metering.store_read import parse_chunk

log = logging.getLogger(__name__)


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
    head = os.pread(fd, 4096, 0)  # a header is far shorter: one small read per append
    nl = head.find(b"\n")
    if nl < 0 and len(head) == 4096:
        head = os.pread(fd, limit, 0)
        nl = head.find(b"\n")
    return head if nl < 0 else head[: nl + 1]


@functools.lru_cache(maxsize=32)
def _header_columns(line: bytes, where: str) -> tuple[str, ...]:
    """``parse_header`` once per distinct header line (every append reads it; it rarely changes)."""
    return tuple(parse_header(line, where))


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


class ColumnOrderError(StoreError):
    """``append_lines`` refused: the file's columns are not in the canonical order (nothing written)."""


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


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
                    columns = list(_header_columns(_read_first_line(fd), f"{self.path}: header"))
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
                except BaseException:  # disk full, I/O error: take back what this append wrote
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, size)
                    raise
                end = os.lseek(fd, 0, os.SEEK_CUR)
                sync_fd = os.dup(fd)  # the same open file, still open once the lock is released
            try:  # fsync after the lock: other writers append meanwhile, their fsyncs overlap this one
                _sync_or_take_back(sync_fd, self.path, size, end)
            finally:
                os.close(sync_fd)
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
        """Append a list of record dicts (schema column names); missing values as ``records_to_columns``."""
        return self.append(records_to_columns(records)) if records else 0

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
                raise ColumnOrderError(
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


class UnsyncedRowsKept(OSError):
    """An append whose fsync failed after another writer had appended behind its rows: they stay in the
    file (not known to be durable) and the append failed; retrying it may store them twice."""


def _sync_or_take_back(fd: int, path: Path, start: int, end: int) -> None:
    """``fsync`` the bytes an append wrote at ``start:end`` (after its lock was released). If the fsync
    fails, take them back under the lock again, unless another writer has appended after them meanwhile
    (its rows must not be cut off): then they stay, and the failure is logged and raised all the same."""
    try:
        os.fsync(fd)
    except BaseException as exc:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            st = os.fstat(fd)
            try:
                same = st.st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            kept = not (same and st.st_size == end)
            if not kept:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, start)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
        if kept:
            message = (
                f"fsync failed ({exc}) after another writer appended (or the file was replaced); the "
                f"{end - start} bytes of this append stay in the file and a retry may store them again"
            )
            log.error("%s: %s", path, message)
            raise UnsyncedRowsKept(getattr(exc, "errno", None) or 5, message) from exc
        raise


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
