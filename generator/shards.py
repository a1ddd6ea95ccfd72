"""A shard: formatted CSV lines plus the per-row facts the merger needs; the k-way merge of shards.

A worker writes one shard per task (one scenario, a block of days), rows in time order. The merger
takes each day's rows from every scenario's shard and merges them in timestamp order (ties keep the
scenario order), moving whole lines: the CSV bytes are formatted once, by the worker.

File layout (little endian): ``RFS2`` magic, u64 rows, u64 CSV length, the CSV bytes, then the arrays
t_ms (i8), cost (f8), tokens (i8), cust (i4), model (i2), scenario (i2), ends (i8: the byte offset just
past each line). Files are written to ``<name>.part`` and renamed, so a shard that exists is whole.
The same layout goes into a worker's ring of the shared ``Arena`` (no file) when it has room.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from metering.store import numpy_to_arrow

_MAGIC = b"RFS2"
_POPULATE = getattr(mmap, "MAP_POPULATE", 0)  # Linux
_HEAD = struct.Struct("<4sQQ")
_ARRAYS = (("t_ms", np.int64), ("cost", np.float64), ("tokens", np.int64), ("cust", np.int32),
           ("model", np.int16), ("scenario", np.int16), ("ends", np.int64))  # fmt: skip


@dataclass
class Shard:
    csv: bytes | memoryview  # complete lines, rows in time order
    t_ms: np.ndarray
    cost: np.ndarray
    tokens: np.ndarray
    cust: np.ndarray
    model: np.ndarray
    scenario: np.ndarray
    ends: np.ndarray  # byte offset just past each line's newline

    @property
    def rows(self) -> int:
        return len(self.t_ms)

    def slice(self, first: int, stop: int) -> Shard:
        """Rows ``[first, stop)`` (whole lines)."""
        if first == 0 and stop == self.rows:
            return self
        lo = 0 if first == 0 else int(self.ends[first - 1])
        hi = 0 if stop == 0 else int(self.ends[stop - 1])
        return Shard(
            memoryview(self.csv)[lo:hi],
            *(getattr(self, name)[first:stop] for name, _ in _ARRAYS[:-1]),
            self.ends[first:stop] - lo,
        )

    def copy(self) -> Shard:
        """The same rows in memory of their own (not views into a file or the arena)."""
        return Shard(bytes(self.csv), *(np.array(getattr(self, name)) for name, _ in _ARRAYS))

    def lines(self) -> pa.LargeStringArray:
        """The lines as an Arrow string array over the same bytes."""
        offsets = np.zeros(self.rows + 1, dtype=np.int64)
        offsets[1:] = self.ends
        return pa.LargeStringArray.from_buffers(self.rows, pa.py_buffer(offsets), pa.py_buffer(self.csv))

    def between(self, lo_ms: int, hi_ms: int) -> Shard:
        """The rows with ``lo_ms <= t_ms < hi_ms`` (e.g. one day of a block)."""
        a, b = np.searchsorted(self.t_ms, (lo_ms, hi_ms), side="left")
        return self.slice(int(a), int(b))


def empty_shard() -> Shard:
    return Shard(b"", *(np.zeros(0, dtype=dtype) for _, dtype in _ARRAYS))


def line_ends(csv: bytes | memoryview) -> np.ndarray:
    """Byte offset just past each newline of ``csv``."""
    return np.flatnonzero(np.frombuffer(csv, dtype=np.uint8) == 10) + 1


def merge(parts: list[Shard]) -> Shard:
    """One shard of all ``parts``' rows in timestamp order; equal timestamps keep the parts' order.

    Each part must be in time order (a stable sort of the concatenation is then a k-way merge of runs).
    Lines move as whole byte strings (an Arrow ``take`` over the concatenated lines), never re-formatted.
    """
    parts = [p for p in parts if p.rows]
    if not parts:
        return empty_shard()
    if len(parts) == 1:
        return parts[0]
    t = np.concatenate([p.t_ms for p in parts])
    order = np.argsort(t, kind="stable")
    n = len(t)
    lines = pa.concat_arrays([p.lines() for p in parts])  # Arrow's pool: no fresh pages per day
    taken = lines.take(numpy_to_arrow(order))
    new_offsets = np.frombuffer(taken.buffers()[1], dtype=np.int64, count=n + 1)
    csv = memoryview(taken.buffers()[2])[int(new_offsets[0]) : int(new_offsets[-1])]
    cat = lambda name: np.concatenate([getattr(p, name) for p in parts])[order]  # noqa: E731
    return Shard(
        csv,
        t[order],
        cat("cost"),
        cat("tokens"),
        cat("cust"),
        cat("model"),
        cat("scenario"),
        new_offsets[1:] - new_offsets[0],
    )


def concat(parts: list[Shard]) -> Shard:
    """Shards that follow each other in time, as one (their lines joined)."""
    parts = [p for p in parts if p.rows]
    if not parts:
        return empty_shard()
    if len(parts) == 1:
        return parts[0]
    bases = np.cumsum([0] + [len(p.csv) for p in parts[:-1]])
    cat = lambda name: np.concatenate([getattr(p, name) for p in parts])  # noqa: E731
    return Shard(
        b"".join(p.csv for p in parts),
        *(cat(name) for name, _ in _ARRAYS[:-1]),
        np.concatenate([p.ends + b for p, b in zip(parts, bases, strict=True)]),
    )


def _pieces(shard: Shard) -> list[memoryview]:
    """The shard's bytes in the file layout: header, lines, arrays."""
    parts = [_HEAD.pack(_MAGIC, shard.rows, len(shard.csv)), shard.csv]
    parts += [np.ascontiguousarray(getattr(shard, name), dtype=dtype) for name, dtype in _ARRAYS]
    return [memoryview(p).cast("B") for p in parts if len(p)]


def write_shard(path: Path, shard: Shard) -> None:
    """``path`` written whole (``.part`` then renamed), in one ``writev`` of the header, the lines and the arrays."""
    tmp = path.with_name(path.name + ".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        views = _pieces(shard)
        while views:  # a short write (rare for a regular file) continues where it stopped
            done = os.writev(fd, views)
            while views and done >= len(views[0]):
                done -= len(views.pop(0))
            if views:
                views[0] = views[0][done:]
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _parse(buf: mmap.mmap | memoryview, where: object) -> Shard:
    """The shard laid out at the start of ``buf`` (views, not copies)."""
    magic, rows, csv_len = _HEAD.unpack_from(buf, 0)
    if magic != _MAGIC:
        raise ValueError(f"{where}: not a shard")
    pos = _HEAD.size
    csv = memoryview(buf)[pos : pos + csv_len]
    pos += csv_len
    arrays = []
    for _, dtype in _ARRAYS:
        arrays.append(np.frombuffer(buf, dtype=dtype, count=rows, offset=pos))
        pos += rows * np.dtype(dtype).itemsize
    return Shard(csv, *arrays)


def read_shard(path: Path) -> Shard:
    """The shard in ``path``, mapped (not copied): the file may be deleted while it is in use."""
    with open(path, "rb") as f:  # mapped with its pages at once: one call, not a page fault per 4 KiB
        buf = mmap.mmap(f.fileno(), 0, flags=mmap.MAP_SHARED | _POPULATE, prot=mmap.PROT_READ)
    return _parse(buf, path)


class Arena:
    """Shared memory for handing shards from the workers to the merger without files.

    Made by the parent before it forks (anonymous, ``MAP_SHARED``: the children see the same pages);
    one ring of ``ring_bytes`` per worker, reused as the merger consumes, so after the first lap a
    shard costs one copy into pages already mapped and the merger reads it in place. ``freed``: per
    worker, the last shard number the merger has consumed (a worker reuses that space).
    """

    def __init__(self, workers: int, ring_bytes: int) -> None:
        self.ring_bytes = ring_bytes
        self.buf = mmap.mmap(-1, workers * ring_bytes)
        self.freed = np.frombuffer(mmap.mmap(-1, 8 * workers), dtype=np.int64)

    def shard(self, offset: int) -> Shard:
        """The shard a worker put at ``offset`` (views into the arena: valid until released)."""
        return _parse(memoryview(self.buf)[offset:], f"arena offset {offset}")

    def release(self, worker: int, seq: int) -> None:
        """The merger is done with ``worker``'s shards up to number ``seq``."""
        self.freed[worker] = max(int(self.freed[worker]), seq)


class Ring:
    """One worker's ring in the ``Arena``: each shard at the lowest free offset, freed oldest first."""

    def __init__(self, arena: Arena, worker: int) -> None:
        self.arena, self.worker = arena, worker
        self.lo = worker * arena.ring_bytes
        self.hi = self.lo + arena.ring_bytes
        self.live: deque[tuple[int, int, int]] = deque()  # (number, start, end) not yet consumed
        self.seq = 0

    def put(self, shard: Shard) -> tuple[int, int] | None:
        """(shard number, offset) of ``shard`` copied into the ring; None when it has no room."""
        views = _pieces(shard)
        n = sum(len(v) for v in views)
        freed = int(self.arena.freed[self.worker])
        while self.live and self.live[0][0] <= freed:
            self.live.popleft()
        start = self._place(n)
        if start is None:
            return None
        pos = start
        for v in views:
            self.arena.buf[pos : pos + len(v)] = v
            pos += len(v)
        self.seq += 1
        self.live.append((self.seq, start, pos))
        return self.seq, start

    def _place(self, n: int) -> int | None:
        """The lowest free offset with room for ``n`` bytes (first fit between the live shards): the
        ring's pages in use stay near what is in flight, and are mapped already after the first shards."""
        pos = self.lo
        for _, start, end in sorted(self.live, key=lambda e: e[1]):
            if pos + n <= start:
                return pos
            pos = max(pos, end)
        return pos if pos + n <= self.hi else None
