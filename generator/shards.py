"""A shard: one simulated day, formatted, plus the per-row facts the merger needs.

Layout (little endian): ``RFS1`` magic, u64 rows, u64 CSV length, the CSV bytes, then the arrays
t_ms (i8), cost (f8), tokens (i8), cust (i4), model (i2), scenario (i2). The merger uses the arrays
to cut a day at the target size, to skip rows already in the file (``--append``) and for the summary.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_MAGIC = b"RFS1"
_HEAD = struct.Struct("<4sQQ")
_ARRAYS = (("t_ms", np.int64), ("cost", np.float64), ("tokens", np.int64), ("cust", np.int32),
           ("model", np.int16), ("scenario", np.int16))  # fmt: skip


@dataclass
class Shard:
    day: int
    csv: bytes
    t_ms: np.ndarray
    cost: np.ndarray
    tokens: np.ndarray
    cust: np.ndarray
    model: np.ndarray
    scenario: np.ndarray

    @property
    def rows(self) -> int:
        return len(self.t_ms)

    def line_ends(self) -> np.ndarray:
        """Byte offset just past each line's newline."""
        return np.flatnonzero(np.frombuffer(self.csv, dtype=np.uint8) == 10) + 1

    def slice(self, first: int, stop: int) -> Shard:
        """Rows ``[first, stop)`` (whole lines; rows are in time order)."""
        if first == 0 and stop == self.rows:
            return self
        ends = self.line_ends()
        lo = 0 if first == 0 else int(ends[first - 1])
        hi = 0 if stop == 0 else int(ends[stop - 1])
        return Shard(self.day, self.csv[lo:hi], *(getattr(self, name)[first:stop] for name, _ in _ARRAYS))


def write_shard(path: Path, shard: Shard) -> None:
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as f:
        f.write(_HEAD.pack(_MAGIC, shard.rows, len(shard.csv)))
        f.write(shard.csv)
        for name, dtype in _ARRAYS:
            f.write(np.ascontiguousarray(getattr(shard, name), dtype=dtype).tobytes())
    os.replace(tmp, path)


def read_shard(path: Path, day: int) -> Shard:
    buf = path.read_bytes()
    magic, rows, csv_len = _HEAD.unpack_from(buf, 0)
    if magic != _MAGIC:
        raise ValueError(f"{path}: not a shard file")
    pos = _HEAD.size
    csv = buf[pos : pos + csv_len]
    pos += csv_len
    arrays = []
    for _, dtype in _ARRAYS:
        size = rows * np.dtype(dtype).itemsize
        arrays.append(np.frombuffer(buf, dtype=dtype, count=rows, offset=pos))
        pos += size
    return Shard(day, csv, *arrays)
