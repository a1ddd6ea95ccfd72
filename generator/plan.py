"""What every part of a run shares: its plan (picklable, handed to the merger process), the error for
impossible runs, and the sizes that shape the work (block of days, flush size, look-ahead)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path

MB = 2**20  # a "MB" of target size is a mebibyte (what ls -lh shows)
#: give up when this many consecutive days produce no call (e.g. only churned-out scenarios)
MAX_EMPTY_DAYS = 60
#: append buffered days once they reach this many bytes (fewer flock + fsync rounds)
FLUSH_BYTES = 8 * MB
#: below this target (MiB) one process does everything: starting processes would cost more than it saves
POOL_MIN_MB = 4.0
#: days per task (fewer near the target); the bytes never depend on it
BLOCK_DAYS = 4
#: bytes of shared memory per worker for handing shards to the merger (a shard that finds no room
#: there goes through a file); a lap of the ring reuses pages already mapped
RING_BYTES = 16 * MB
#: the pool's last block covers its estimate of the days still needed plus this much: a day's rows
#: past the target cost less than another round of one-day tasks (the estimate is within about a day)
SCHEDULE_MARGIN_DAYS = 0.5
#: the parent never schedules a day more than this many days ahead of the merger
LOOKAHEAD_DAYS = 3 * BLOCK_DAYS
#: seconds the parent gives the merger to finish its append and write ``stopped`` after a signal
STOP_GRACE_S = 1.5
#: manifest rewrites at most this often while running (always at the end)
MANIFEST_EVERY_S = 0.2


class RunError(ValueError):
    """Options or the existing file make the run impossible; the message says why."""


@dataclass
class Plan:
    """Everything the merger needs to know about the run (picklable)."""

    data: Path
    start: date
    first_day: int
    last_day: int | None  # exclusive
    skip_until: int | None  # epoch ms: rows at or before it are already in the file (--append)
    append: bool
    target_mb: float
    pace: str
    speed: float
    prev_rows: int
    prev_mix: dict[str, int]
    prev_until: str | None  # the clock carried over while this run has appended nothing
    simulated_only_size: int | None  # the file held only simulated rows at this size (no reset read)
    pid: int
    started_at: str
    message: str
    seed: int


def block_end(d0: int, last_day: int | None, days_left: float | None) -> int:
    """End (exclusive) of the block starting at ``d0``: BLOCK_DAYS, fewer when the target is near."""
    n = BLOCK_DAYS if days_left is None else max(1, min(BLOCK_DAYS, math.ceil(days_left)))
    return d0 + n if last_day is None else min(d0 + n, last_day)
