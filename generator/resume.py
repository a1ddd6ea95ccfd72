"""An existing file before a run: the simulation's clock to continue from (``--append``), whether a
new run may skip reading it, and what runs killed outright left behind."""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np

from generator.calendar import iso_ms
from generator.plan import RunError
from metering.manifest import Manifest, manifest_path, pid_alive, read_manifest
from metering.schema import COLUMN_NAMES
from metering.store import header_line, parse_header


def ts_ms(text: bytes) -> int:
    """Epoch ms of a canonical timestamp text."""
    return int(np.datetime64(text.decode().rstrip("Z"), "ms").astype(np.int64))


#: the ``source`` column's position in canonical order (``--append`` requires that order)
_SOURCE_AT = COLUMN_NAMES.index("source")


def _simulated_stamp(buf: bytes, *, last: bool) -> int | None:
    """Epoch ms of the first (or last) complete line in ``buf`` whose ``source`` field is ``simulated``."""
    mark = b",simulated"
    hit = buf.rfind(mark) if last else buf.find(mark)
    while hit >= 0:
        line_start = buf.rfind(b"\n", 0, hit) + 1
        line_end = buf.find(b"\n", hit)
        if line_start > 0 and line_end >= 0:  # a complete line (callers start buffers with a newline)
            fields = buf[line_start:line_end].split(b",")
            # the field at the source position is checked, not merely the mark: a metered row may
            # carry ",simulated" in a text field
            if len(fields) > _SOURCE_AT and fields[_SOURCE_AT] == b"simulated":
                return ts_ms(fields[0])
        hit = buf.rfind(mark, 0, hit) if last else buf.find(mark, hit + 1)
    return None


def simulated_span(data: Path, block: int = 1 << 20) -> tuple[int | None, int | None]:
    """Epoch ms of the first and last *simulated* rows (the ``source`` field of canonical order).

    Reads forward until the first simulated row and backward from the end until the last one, so rows
    from real metering (dated anywhere) never count.
    """
    first = last = None
    with open(data, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(0)
        f.readline()  # header
        carry = b"\n"
        while (chunk := f.read(block)) and first is None:
            buf = carry + chunk
            first = _simulated_stamp(buf, last=False)
            carry = buf[buf.rfind(b"\n") :] if b"\n" in buf else buf
        if first is None:
            return None, None
        pos, tail = size, b""
        while pos > 0 and last is None:
            start = max(0, pos - block)
            f.seek(start)
            buf = f.read(pos - start) + tail
            last = _simulated_stamp(buf if start else b"\n" + buf, last=True)
            tail = buf[: buf.find(b"\n") + 1] if b"\n" in buf else buf
            pos = start
    return first, last


def count_rows(data: Path) -> int:
    """Data rows of a file (newlines after the header), read in 16 MB blocks."""
    lines = 0
    with open(data, "rb") as f:
        while block := f.read(1 << 24):
            lines += block.count(b"\n")
    return max(0, lines - 1)


def check_canonical(data: Path) -> None:
    with open(data, "rb") as f:
        head = f.readline()
    columns = parse_header(head, f"{data}: header")
    if tuple(columns) != COLUMN_NAMES:
        raise RunError(
            f"{data}: --append needs the canonical column order ({header_line().decode().strip()!r})"
        )


@dataclass
class Resume:
    """Where an ``--append`` run continues: the simulation's start, clock and the file's counts."""

    start: date | None = None
    skip_until: int | None = None  # epoch ms of the newest simulated row already in the file
    clock: str | None = None  # the same as text (carried into the manifest)
    rows: int = 0
    mix: dict[str, int] = field(default_factory=dict)


def resume_point(data: Path, start: date | None) -> Resume:
    """The clock of an existing file for ``--append`` (``start``: the one asked for, if any)."""
    check_canonical(data)
    size = data.stat().st_size
    old = read_manifest(data)
    until, clock = None, None
    if old is not None and old.state in ("done", "stopped") and old.sim_start and old.bytes <= size:
        # the manifest's clock is exact (written after the last append); metered rows never move it
        start = start or date.fromisoformat(old.sim_start)
        if old.simulated_until:
            until, clock = ts_ms(old.simulated_until.encode()), old.simulated_until
    else:  # no trustworthy clock: the file's first and newest simulated rows
        first, last = simulated_span(data)
        if first is not None and last is not None:
            start = start or datetime.fromtimestamp(first // 1000, UTC).date()
            until, clock = last, iso_ms(last)
    if old is not None and old.bytes == size:
        return Resume(start, until, clock, old.rows, dict(old.rows_by_scenario))
    return Resume(start, until, clock, count_rows(data))  # per-scenario mix unknown


def simulated_only_size(data: Path, old: Manifest | None) -> int | None:
    """The file's size when the previous run's manifest says it holds nothing but that run's rows."""
    if (
        old is not None
        and old.state in ("done", "stopped")
        and data.exists()
        and data.stat().st_size == old.bytes
        and sum(old.rows_by_scenario.values()) == old.rows
    ):
        return old.bytes
    return None


def clean_leftovers(data: Path) -> list[str]:
    """Remove shard directories and temporary files whose writer process is gone; returns their names."""
    removed = []
    patterns = (f".{data.name}.shards-*", f".{data.name}.*.tmp", f".{manifest_path(data).name}.*.tmp")
    for pattern in patterns:
        for p in data.parent.glob(pattern):
            tag = p.name.rsplit("-", 1)[1] if ".shards-" in p.name else p.name.rsplit(".", 2)[-2]
            with contextlib.suppress(ValueError):
                if not pid_alive(int(tag)):
                    if p.is_dir():
                        shutil.rmtree(p, ignore_errors=True)
                    else:
                        p.unlink(missing_ok=True)
                    removed.append(p.name)
    return removed
