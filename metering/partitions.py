"""Splitting a call store into partitions that separate processes (or machines) read on their own.

A CSV partition is a byte range of the file. It owns every line that *starts* inside its range: a
reader skips the tail of a line that began in the previous range and reads on past its end to finish
its own last line, so a cut in the middle of a line never loses or duplicates a row. A torn last line of
the file (no newline yet: a writer is appending) belongs to nobody, as for ``IncrementalReader``.
Lines are parsed by the store's own rules (``metering.store.parse_chunk``); a partition reports its
malformed lines relative to its first line and how many lines it holds, and ``number_lines`` turns
those into the file's line numbers once every earlier partition's count is known.

A Parquet partition is one file of a folder written by ``metering.parquet`` (hive layout).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from metering.store import StoreError, parse_chunk, parse_header

#: default size of a CSV partition: a worker building one peaks at ~220 MB resident (64 MB: ~350 MB),
#: no slower per byte, and the boundary days two partitions share add well under 1 % of the cells
DEFAULT_PARTITION_MB = 32.0
#: a file is not cut finer than this to give every worker a partition
MIN_SPLIT_BYTES = 4 << 20
_SCAN = 1 << 16


@dataclass(frozen=True)
class Partition:
    """One unit of work: ``kind`` "csv" (bytes ``start`` to ``end`` of ``path``) or "parquet" (a file)."""

    path: str
    index: int
    kind: str = "csv"
    start: int = 0
    end: int = 0
    columns: tuple[str, ...] = ()


@dataclass
class PartitionRead:
    """What reading one partition gave: the typed rows, the malformed lines (numbered from 1 within the
    partition) and how many lines (newlines) the partition owns."""

    table: pa.Table
    malformed: list[tuple[int, str]] = field(default_factory=list)
    lines: int = 0


def csv_partitions(
    path: str | os.PathLike[str], partition_mb: float = DEFAULT_PARTITION_MB, min_parts: int = 1
) -> list[Partition]:
    """Byte ranges of about ``partition_mb`` MB covering the body of the CSV at ``path`` (after its
    header); at least ``min_parts`` of them when the body holds ``MIN_SPLIT_BYTES`` per part."""
    if partition_mb <= 0:
        raise ValueError(f"partition size must be > 0 MB, not {partition_mb}")
    p = Path(path)
    with open(p, "rb") as f:
        header = f.readline(_SCAN * 16)
        if not header.endswith(b"\n"):
            raise StoreError(f"{p}: line 1 (header): no complete header line")
        columns = tuple(parse_header(header, f"{p}: line 1 (header)"))
        size = os.fstat(f.fileno()).st_size
    body = size - len(header)
    if body <= 0:
        return []
    target = max(int(partition_mb * (1 << 20)), 1)
    n = max(math.ceil(body / target), min(min_parts, max(body // MIN_SPLIT_BYTES, 1)))
    bounds = [len(header) + body * i // n for i in range(n + 1)]
    return [
        Partition(str(p), i, "csv", bounds[i], bounds[i + 1], columns)
        for i in range(n)
        if bounds[i + 1] > bounds[i]
    ]


def _line_start(f: Any, pos: int, header_end: int) -> int:
    """The first line start at or after ``pos`` (``pos`` itself when the byte before it is a newline)."""
    if pos <= header_end:
        return header_end
    f.seek(pos - 1)
    if f.read(1) == b"\n":
        return pos
    while True:
        block = f.read(_SCAN)
        if not block:
            return f.tell()
        nl = block.find(b"\n")
        if nl >= 0:
            return f.tell() - len(block) + nl + 1


def read_csv_bytes(part: Partition) -> bytes:
    """The complete lines ``part`` owns (see the module docstring)."""
    with open(part.path, "rb") as f:
        header_end = len(f.readline(_SCAN * 16))
        start = _line_start(f, part.start, header_end)
        if start >= part.end:
            return b""
        f.seek(start)
        data = f.read(part.end - start)
        if not data.endswith(b"\n"):
            tail = []
            while True:
                block = f.read(_SCAN)
                if not block:
                    tail = []  # the file's torn last line: nobody's
                    data = data[: data.rfind(b"\n") + 1]
                    break
                nl = block.find(b"\n")
                if nl >= 0:
                    tail.append(block[: nl + 1])
                    break
                tail.append(block)
            data += b"".join(tail)
    return data


def read_partition(part: Partition) -> PartitionRead:
    """The typed rows of one partition (Arrow table in the store's canonical columns)."""
    if part.kind == "parquet":
        from metering.parquet import read_file

        return PartitionRead(read_file(part.path))
    data = read_csv_bytes(part)
    table, malformed = parse_chunk(data, list(part.columns), 1)
    return PartitionRead(table, malformed, data.count(b"\n"))


def number_lines(
    reads: list[tuple[list[tuple[int, str]], int]], first_line: int = 2
) -> list[tuple[int, str]]:
    """The file's line numbers of every partition's malformed lines: ``reads`` holds (malformed lines
    numbered within the partition, lines in the partition) for the partitions in file order."""
    out: list[tuple[int, str]] = []
    base = first_line
    for malformed, lines in reads:
        out.extend((base + local - 1, why) for local, why in malformed)
        base += lines
    return out
