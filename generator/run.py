"""A generation run: scenario workers, one merger process, and a parent that schedules and reports.

Shape (specs/simulators.md, "Workers and merger"):

* A task is (scenario, block of days). A worker process synthesises that scenario's calls for those
  days (generators seeded by (seed, scenario, day)), prices and formats them once, and writes one
  shard file ``<shard dir>/s<scenario>-d<first day>.shard`` (``.part`` + rename).
* The merger process waits until every scenario's shard covering the next day exists, merges the
  day's rows in timestamp order (ties keep the scenario order), appends it through
  ``CallStore.append_lines``, deletes the shards it has consumed and rewrites the manifest.
* The parent builds the world, schedules tasks (never far ahead of the merger, and not past what the
  target needs), relays each finished shard to the merger and reports progress. It writes nothing to
  the CSV.
* Small targets and live pace run all of it in one process: the same functions, the same bytes.
* SIGINT/SIGTERM set a flag. The parent kills the workers and asks the merger to stop; the merger
  finishes the append in progress (whole lines), writes state ``stopped`` and exits; the parent
  removes the shard directory.
"""

from __future__ import annotations

import contextlib
import gc
import math
import multiprocessing as mp
import os
import shutil
import signal
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import numpy as np

from generator.calendar import MS_PER_DAY, day_of, day_start_ms, default_start, iso_ms
from generator.shards import Shard, merge, read_shard, write_shard
from generator.stopflag import StopFlag
from generator.summary import Totals
from generator.synthesis import synthesize_block
from generator.world import World, WorldSpec, get_world
from metering.manifest import Manifest, manifest_path, now_iso, pid_alive, read_manifest, write_manifest
from metering.schema import COLUMN_NAMES
from metering.store import CallStore, StoreError, header_line, parse_header

MB = 2**20  # a "MB" of target size is a mebibyte (what ls -lh shows)
#: give up when this many consecutive days produce no call (e.g. only churned-out scenarios)
MAX_EMPTY_DAYS = 60
#: append buffered days once they reach this many bytes (fewer flock + fsync rounds)
FLUSH_BYTES = 8 * MB
#: below this target (MiB) one process does everything: starting processes would cost more than it saves
POOL_MIN_MB = 4.0
#: days per task (fewer near the target); the bytes never depend on it
BLOCK_DAYS = 4
#: the parent never schedules a day more than this many days ahead of the merger
LOOKAHEAD_DAYS = 3 * BLOCK_DAYS
#: seconds the parent gives the merger to finish its append and write ``stopped`` after a signal
STOP_GRACE_S = 1.5
#: manifest rewrites at most this often while running (always at the end)
MANIFEST_EVERY_S = 0.2


class RunError(ValueError):
    """Options or the existing file make the run impossible; the message says why."""


@dataclass
class RunOptions:
    data: Path
    target_mb: float = 50.0
    seed: int = 42
    workers: int | None = None  # None = one process for small targets / live pace, else every CPU
    customers: int = 500
    organizations: int | None = None
    start: date | None = None  # None = 30 days before today (with --append: the simulation's own)
    scenarios: tuple[str, ...] | None = None
    pace: str = "max"  # "max" or "live"
    speed: float = 43_200.0  # live pace: simulated seconds per wall second (43200 = a day every 2 s)
    append: bool = False
    days: int | None = None  # stop after this many simulated days (whichever comes first)
    prices: str | None = None

    def validate(self) -> None:
        if not self.target_mb > 0:
            raise RunError(f"--target-mb must be > 0, got {self.target_mb:g}")
        if self.workers is not None and self.workers < 1:
            raise RunError(f"--workers must be >= 1, got {self.workers}")
        if self.customers < 1:
            raise RunError(f"--customers must be >= 1, got {self.customers}")
        if self.organizations is not None and self.organizations < 1:
            raise RunError(f"--organizations must be >= 1, got {self.organizations}")
        if self.pace not in ("max", "live"):
            raise RunError(f"--pace must be 'max' or 'live', got {self.pace!r}")
        if not self.speed > 0:
            raise RunError(f"--speed must be > 0 simulated seconds per second, got {self.speed:g}")
        if self.days is not None and self.days < 1:
            raise RunError(f"--days must be >= 1, got {self.days}")

    def worker_count(self) -> int:
        """Worker processes: as asked, else 1 for small targets and live pace, else the CPUs we may use."""
        if self.workers is not None:
            return self.workers
        if self.pace == "live" or self.target_mb < POOL_MIN_MB:
            return 1
        return available_cpus()


def available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass
class Progress:
    """What the parent reports: the merger's position and each scenario's synthesis."""

    rows: int  # rows of the whole file (previous runs included)
    bytes: int
    target_bytes: int
    simulated_until: int | None  # epoch ms of the newest simulated call appended
    elapsed: float
    rows_run: int  # rows appended by this run
    merger_day: str | None = None  # YYYY-MM-DD of the last day appended
    scenario_rows: dict[str, int] = field(default_factory=dict)  # synthesised by this run
    scenario_through: dict[str, str] = field(default_factory=dict)  # YYYY-MM-DD synthesised through


@dataclass
class RunResult:
    state: str  # done | stopped | error
    world: World
    totals: Totals
    bytes: int
    elapsed: float
    days: int
    message: str = ""
    signal: int | None = None
    rows_by_scenario: dict[str, int] = field(default_factory=dict)
    workers: int = 1
    cleaned: list[str] = field(default_factory=list)  # leftovers of an earlier killed run, removed


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


# --- the simulation's clock in an existing file ----------------------------------------------------
def _ts_ms(text: bytes) -> int:
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
                return _ts_ms(fields[0])
        hit = buf.rfind(mark, 0, hit) if last else buf.find(mark, hit + 1)
    return None


def _simulated_span(data: Path, block: int = 1 << 20) -> tuple[int | None, int | None]:
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


def _count_rows(data: Path) -> int:
    """Data rows of a file (newlines after the header), read in 16 MB blocks."""
    lines = 0
    with open(data, "rb") as f:
        while block := f.read(1 << 24):
            lines += block.count(b"\n")
    return max(0, lines - 1)


def _check_canonical(data: Path) -> None:
    with open(data, "rb") as f:
        head = f.readline()
    columns = parse_header(head, f"{data}: header")
    if tuple(columns) != COLUMN_NAMES:
        raise RunError(
            f"{data}: --append needs the canonical column order ({header_line().decode().strip()!r})"
        )


# --- leftovers of runs that were killed outright ---------------------------------------------------
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


# --- appending days (the merger's half; in-process for small runs) ---------------------------------
class Sink:
    """Appends merged days to the CSV (buffered, cut at the target, paced when live) and keeps the manifest."""

    def __init__(self, plan: Plan, world: World, stop: StopFlag, report: Callable[[dict], None]) -> None:
        self.plan, self.world, self.stop, self.report = plan, world, stop, report
        self.store = CallStore(plan.data)
        self.totals = Totals(world.pop.n_customers, len(world.models.models), len(world.scenarios))
        self.buffered: list[Shard] = []
        self.pending_bytes = 0
        self.last_publish = 0.0
        self.merged_day: int | None = None
        self.synth_rows = np.zeros(len(world.scenarios), dtype=np.int64)
        self.synth_through = np.full(len(world.scenarios), -1, dtype=np.int64)
        self.t0 = time.perf_counter()
        self.prev_rows, self.prev_mix = plan.prev_rows, dict(plan.prev_mix)
        self.size = self.base_bytes = self.target_bytes = 0
        self.manifest = Manifest(
            target_mb=plan.target_mb,
            state="generating",
            started_at=plan.started_at,
            message=plan.message,
            pid=plan.pid,
            sim_start=plan.start.isoformat(),
            simulated_until=plan.prev_until,
            seed=plan.seed,
            pace=plan.pace,
        )

    def begin(self) -> None:
        """A new run starts the file over (rows from real metering stay); --append adds to it."""
        if not self.plan.append or not self.plan.data.exists():
            self.prev_rows = self.store.reset(simulated_only_size=self.plan.simulated_only_size)
            self.prev_mix = {}
        self.size = self.base_bytes = self.plan.data.stat().st_size
        target = int(self.plan.target_mb * MB)
        self.target_bytes = self.base_bytes + target if self.plan.append else target
        self.manifest.target_mb = round(self.target_bytes / MB, 3)
        self.live_wall0 = time.monotonic()
        p = self.plan
        self.live_sim0 = day_start_ms(p.start, p.first_day) if p.skip_until is None else p.skip_until
        self._report()
        self.publish(force=True)

    def synthesised(self, si: int, stop_day: int, rows: int) -> None:
        self.synth_rows[si] += rows
        self.synth_through[si] = max(self.synth_through[si], stop_day - 1)

    def _date(self, day: int) -> str:
        return (self.plan.start + timedelta(days=int(day))).isoformat()

    def scenario_progress(self) -> dict[str, dict[str, Any]]:
        return {
            name: {"rows": int(r), "through": self._date(d) if d >= 0 else None}
            for name, r, d in zip(self.world.scenario_names, self.synth_rows, self.synth_through, strict=True)
        }

    def publish(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_publish < MANIFEST_EVERY_S:
            return
        self.last_publish = now
        m, t = self.manifest, self.totals
        m.rows = self.prev_rows + t.rows
        m.bytes = self.size
        m.mb = round(self.size / MB, 3)
        span = max(1, self.target_bytes - self.base_bytes)
        m.progress = round(min(1.0, (self.size - self.base_bytes) / span), 4)
        if t.last_ms is not None:
            m.simulated_until = iso_ms(t.last_ms)
        m.merger_day = None if self.merged_day is None else self._date(self.merged_day)
        mix = dict(self.prev_mix)
        for name, n in zip(self.world.scenario_names, t.by_scenario, strict=True):
            mix[name] = mix.get(name, 0) + int(n)
        m.rows_by_scenario = mix
        m.scenario_progress = self.scenario_progress()
        write_manifest(self.plan.data, m)

    def flush(self) -> None:
        if self.buffered:
            rows = sum(p.rows for p in self.buffered)
            self.store.append_lines([p.csv for p in self.buffered], rows)
            self.size += self.pending_bytes
            for p in self.buffered:
                self.totals.add(p)
            self.buffered.clear()
            self.pending_bytes = 0
        self._report()
        self.publish()

    def _report(self) -> None:
        self.report(
            {
                "rows": self.prev_rows + self.totals.rows,
                "bytes": self.size,
                "merged_bytes": self.size + self.pending_bytes,  # appended or buffered for the next write
                "target_bytes": self.target_bytes,
                "base_bytes": self.base_bytes,
                "last_ms": self.totals.last_ms,
                "rows_run": self.totals.rows,
                "merger_day": None if self.merged_day is None else self._date(self.merged_day),
                "next_day": None if self.merged_day is None else self.merged_day + 1,
            }
        )

    def _append(self, part: Shard, now: bool) -> None:
        if part.rows:
            self.buffered.append(part)
            self.pending_bytes += len(part.csv)
        if now or self.pending_bytes >= FLUSH_BYTES:
            self.flush()

    def _sleep_until(self, wall: float) -> bool:
        while not self.stop:
            left = wall - time.monotonic()
            if left <= 0:
                return True
            time.sleep(min(left, 0.05))
        return False

    def add_day(self, day: int, shard: Shard, next_ready: bool) -> bool:
        """Append one merged day (cut at the target); True when the target is reached."""
        p = self.plan
        if p.skip_until is not None and shard.rows and shard.t_ms[0] <= p.skip_until:
            shard = shard.slice(int(np.searchsorted(shard.t_ms, p.skip_until, side="right")), shard.rows)
        room = self.target_bytes - self.size - self.pending_bytes
        reached = len(shard.csv) >= room
        if reached:
            shard = shard.slice(0, int(np.searchsorted(shard.ends, room, side="right")))
        self.merged_day = day
        if p.pace != "live":
            self._append(shard, now=reached or not next_ready)
            if self.buffered:  # not written yet: still tell the scheduler where the merger is
                self._report()
            return reached
        # live: append in slices of ~0.2 s of wall time as the simulated clock reaches them
        step = max(1, int(0.2 * p.speed * 1000))
        lo_ms = day_start_ms(p.start, day)
        cuts = [*range(lo_ms + step, lo_ms + MS_PER_DAY, step), lo_ms + MS_PER_DAY]
        first = 0
        for cut in cuts:
            if reached and first >= shard.rows:
                break  # the target is in: no need to wait for the rest of the day
            if not self._sleep_until(self.live_wall0 + (cut - self.live_sim0) / 1000 / p.speed):
                break
            stop_row = int(np.searchsorted(shard.t_ms, cut, side="left")) if cut < cuts[-1] else shard.rows
            self._append(shard.slice(first, stop_row), now=True)
            first = stop_row
        return reached

    def finish(self, state: str, message: str) -> None:
        if state != "error":
            self.flush()  # whole days already merged: complete lines
        self.manifest.state = state
        self.manifest.message = message or self.manifest.message
        self.publish(force=True)


def _merge_days(plan: Plan, sink: Sink, source: Any, stop: StopFlag) -> tuple[str, str, int]:
    """The merger's loop: days strictly in order until the target, --days, no more calls, or a stop."""
    day, empty, message = plan.first_day, 0, ""
    while not stop:
        if plan.last_day is not None and day >= plan.last_day:
            break
        parts = source.day(day)
        if parts is None:  # stopped while waiting
            break
        shard = merge(parts)
        reached = sink.add_day(day, shard, source.ready(day + 1))
        source.consumed(day)
        day += 1
        empty = 0 if shard.rows else empty + 1
        if reached:
            break
        if empty >= MAX_EMPTY_DAYS:
            message = f"no calls for {MAX_EMPTY_DAYS} simulated days: the selected scenarios have stopped"
            break
    if stop:
        return "stopped", "stopped by " + signal.Signals(stop.signum).name, day - plan.first_day  # type: ignore[arg-type]
    return "done", message, day - plan.first_day


def _block_end(d0: int, last_day: int | None, days_left: float | None) -> int:
    """End (exclusive) of the block starting at ``d0``: BLOCK_DAYS, fewer when the target is near."""
    n = BLOCK_DAYS if days_left is None else max(1, min(BLOCK_DAYS, math.ceil(days_left)))
    return d0 + n if last_day is None else min(d0 + n, last_day)


class InlineSource:
    """One process: synthesise each scenario's block when the merger first needs it."""

    def __init__(self, plan: Plan, world: World, sink: Sink) -> None:
        self.plan, self.world, self.sink = plan, world, sink
        self.blocks: list[Shard] = []
        self.span = (0, 0)

    def day(self, day: int) -> list[Shard]:
        if not self.span[0] <= day < self.span[1]:
            s = self.sink
            done_days = day - self.plan.first_day
            left = None
            if done_days > 0 and s.size + s.pending_bytes > s.base_bytes:
                per_day = (s.size + s.pending_bytes - s.base_bytes) / done_days
                left = (s.target_bytes - s.size - s.pending_bytes) / per_day
            end = _block_end(day, self.plan.last_day, left)
            self.blocks = [
                synthesize_block(self.world, si, day, end) for si in range(len(self.world.scenarios))
            ]
            for si, b in enumerate(self.blocks):
                s.synthesised(si, end, b.rows)
            self.span = (day, end)
        lo = day_start_ms(self.plan.start, day)
        return [b.between(lo, lo + MS_PER_DAY) for b in self.blocks]

    def ready(self, day: int) -> bool:
        return True  # can be made at once: buffer up to FLUSH_BYTES

    def consumed(self, day: int) -> None:
        pass


class PoolSource:
    """The merger process: shards announced by the parent, read when needed, deleted when consumed."""

    def __init__(self, plan: Plan, world: World, sink: Sink, conn: Connection, stop: StopFlag) -> None:
        self.plan, self.sink, self.conn, self.stop = plan, sink, conn, stop
        self.n = len(world.scenarios)
        self.notices: list[list[tuple[int, int, str]]] = [[] for _ in range(self.n)]
        self.loaded: dict[int, tuple[int, int, str, Shard]] = {}

    def _drain(self, timeout: float) -> None:
        try:
            while self.conn.poll(timeout):
                msg = self.conn.recv()
                if msg[0] == "shard":
                    _, si, d0, d1, path, rows = msg
                    self.notices[si].append((d0, d1, path))
                    self.sink.synthesised(si, d1, rows)
                timeout = 0
        except (EOFError, OSError):  # the parent is gone: stop
            self.stop.signum = self.stop.signum or signal.SIGTERM

    def _covering(self, si: int, day: int) -> tuple[int, int, str] | None:
        return next((n for n in self.notices[si] if n[0] <= day < n[1]), None)

    def ready(self, day: int) -> bool:
        self._drain(0)
        return all(self._covering(si, day) for si in range(self.n))

    def day(self, day: int) -> list[Shard] | None:
        while not self.ready(day):
            if self.stop:
                return None
            self._drain(0.05)
        lo = day_start_ms(self.plan.start, day)
        parts = []
        for si in range(self.n):
            d0, d1, path = self._covering(si, day)  # type: ignore[misc]
            if si not in self.loaded or self.loaded[si][2] != path:
                self.loaded[si] = (d0, d1, path, read_shard(Path(path)))
            parts.append(self.loaded[si][3].between(lo, lo + MS_PER_DAY))
        return parts

    def consumed(self, day: int) -> None:
        for si in range(self.n):
            keep = []
            for d0, d1, path in self.notices[si]:
                if d1 <= day + 1:
                    Path(path).unlink(missing_ok=True)
                    if si in self.loaded and self.loaded[si][2] == path:
                        del self.loaded[si]
                else:
                    keep.append((d0, d1, path))
            self.notices[si] = keep


# --- processes -------------------------------------------------------------------------------------
def keep_freed_memory() -> None:
    """Let glibc keep freed blocks for reuse (per-task arrays of a few MB), instead of unmapping them
    and taking a page fault on every page of the next one: less system time, same peak memory."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None)
        libc.mallopt(-1, 256 * MB)  # M_TRIM_THRESHOLD
        libc.mallopt(-3, 32 * MB)  # M_MMAP_THRESHOLD


def _become(title: str, parent_pid: int, death_signal: int) -> None:
    """Name this process (``multiprocessing`` name and the kernel's process name) and tie it to its parent."""
    mp.current_process().name = title
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(15, title.encode()[:15], 0, 0, 0)  # PR_SET_NAME: what ps / psutil show
        libc.prctl(1, death_signal, 0, 0, 0)  # PR_SET_PDEATHSIG: do not outlive a killed parent
    if os.getppid() != parent_pid:  # the parent died before we got here
        os.kill(os.getpid(), death_signal)
    keep_freed_memory()


def _worker_main(spec: WorldSpec, shard_dir: str, conn: Connection, index: int, parent_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _become(f"rf-worker-{index}", parent_pid, signal.SIGKILL)
    gc.disable()  # numpy work, no reference cycles: no collector passes over inherited pages
    try:
        world = get_world(spec)
        while True:
            try:
                task = conn.recv()
            except (EOFError, OSError):
                return
            if task is None:
                return
            si, d0, d1 = task
            shard = synthesize_block(world, si, d0, d1)
            path = Path(shard_dir) / f"s{si:02d}-d{d0:06d}.shard"
            write_shard(path, shard)
            conn.send(("done", index, si, d0, d1, str(path), shard.rows, len(shard.csv)))
    except Exception:
        with contextlib.suppress(OSError):
            conn.send(("error", index, traceback.format_exc()))


def _merger_main(plan: Plan, spec: WorldSpec, conn: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; it sends SIGTERM
    stop = StopFlag()
    signal.signal(signal.SIGTERM, stop._handle)
    _become("rf-merger", plan.pid, signal.SIGTERM)
    gc.disable()

    def report(msg: dict) -> None:
        with contextlib.suppress(OSError):
            conn.send(("progress", msg))

    world = get_world(spec)
    sink = Sink(plan, world, stop, report)
    try:
        sink.begin()
        state, message, days = _merge_days(plan, sink, PoolSource(plan, world, sink, conn, stop), stop)
        sink.finish(state, message)
    except BaseException as exc:
        with contextlib.suppress(Exception):
            sink.finish("error", f"{type(exc).__name__}: {exc}")
        with contextlib.suppress(Exception):
            conn.send(("failed", exc, traceback.format_exc()))
        return
    with contextlib.suppress(OSError):
        conn.send(("end", state, message, days, sink.size, sink.totals))


class _Scheduler:
    """The parent's task order: blocks of days, every scenario per block, bounded by the merger's position."""

    def __init__(self, plan: Plan, n_scenarios: int) -> None:
        self.plan, self.n = plan, n_scenarios
        self.queue: deque[tuple[int, int, int]] = deque()
        self.next_day = plan.first_day
        self.merger_next = plan.first_day  # the day the merger needs next
        self.size = self.target = self.base = 0
        self.block_bytes: dict[int, list[int]] = {}  # d0 -> [tasks done, bytes, days]
        self.day_bytes: float | None = None  # average bytes of a complete simulated day
        self._done_bytes = self._done_days = 0

    def finished(self, si: int, d0: int, d1: int, nbytes: int) -> None:
        acc = self.block_bytes.setdefault(d0, [0, 0, d1 - d0])
        acc[0] += 1
        acc[1] += nbytes
        if acc[0] == self.n:
            self._done_bytes += acc[1]
            self._done_days += acc[2]
            self.day_bytes = self._done_bytes / max(1, self._done_days)
            del self.block_bytes[d0]

    def merger_at(self, msg: dict) -> None:
        self.size, self.target, self.base = msg["merged_bytes"], msg["target_bytes"], msg["base_bytes"]
        if msg["next_day"] is not None:
            self.merger_next = max(self.merger_next, msg["next_day"])

    def next_task(self) -> tuple[int, int, int] | None:
        if not self.queue:
            d0, last = self.next_day, self.plan.last_day
            if last is not None and d0 >= last:
                return None
            if d0 > self.merger_next and d0 - self.merger_next >= LOOKAHEAD_DAYS:
                return None
            left = None
            if self.day_bytes and self.target:
                ahead = (d0 - self.merger_next) * self.day_bytes
                left = (self.target - self.size - ahead) / self.day_bytes
                if d0 > self.merger_next and left <= 0:
                    return None  # the days already scheduled will most likely reach the target
            d1 = _block_end(d0, last, left)
            self.queue.extend((si, d0, d1) for si in range(self.n))
            self.next_day = d1
        return self.queue.popleft()


def _run_pool(
    plan: Plan,
    spec: WorldSpec,
    world: World,
    workers: int,
    stop: StopFlag,
    on_progress: Callable[[dict], None],
) -> tuple[str, str, int, int, Totals | None]:
    """Start the merger and the workers, feed them, relay shards; returns (state, message, days, bytes, totals)."""
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    shard_dir = plan.data.parent / f".{plan.data.name}.shards-{os.getpid()}"
    shard_dir.mkdir(parents=True, exist_ok=True)
    names = world.scenario_names
    synth_rows = dict.fromkeys(names, 0)
    synth_through: dict[str, str] = {}
    merger_conn, child_conn = ctx.Pipe()
    merger = ctx.Process(target=_merger_main, args=(plan, spec, child_conn), name="rf-merger")
    procs: list[Any] = []
    conns: list[Connection] = []
    outcome: tuple | None = None
    last: dict = {}
    error: BaseException | None = None
    gc.freeze()  # the children never run the collector over the parent's objects (no copy-on-write)
    try:
        merger.start()
        child_conn.close()
        for i in range(workers):
            a, b = ctx.Pipe()
            p = ctx.Process(
                target=_worker_main, args=(spec, str(shard_dir), b, i, os.getpid()), name=f"rf-worker-{i}"
            )
            p.start()
            b.close()
            procs.append(p)
            conns.append(a)
        sched = _Scheduler(plan, len(names))
        outstanding = [0] * workers

        def feed() -> None:
            for i in range(workers):
                while outstanding[i] < 2 and (task := sched.next_task()) is not None:
                    conns[i].send(task)
                    outstanding[i] += 1

        def report() -> None:
            on_progress({**last, "scenario_rows": dict(synth_rows), "scenario_through": dict(synth_through)})

        feed()
        sentinels = {p.sentinel: f"worker {i}" for i, p in enumerate(procs)} | {merger.sentinel: "merger"}
        while outcome is None:
            if stop:
                break
            for r in wait([merger_conn, *conns, *sentinels], timeout=0.05):
                if r is merger_conn:
                    try:
                        msg = merger_conn.recv()
                    except EOFError:
                        continue
                    if msg[0] == "progress":
                        last = msg[1]
                        sched.merger_at(last)
                        report()
                    elif msg[0] == "end":
                        outcome = msg[1:]
                    else:  # failed
                        raise msg[1]
                elif r in sentinels:
                    if r == merger.sentinel and outcome is None and not merger_conn.poll():
                        raise RunError(f"the merger process died (exit code {merger.exitcode})")
                    if r != merger.sentinel:
                        raise RunError(
                            f"{sentinels[r]} died (exit code {procs[list(sentinels).index(r)].exitcode})"
                        )
                else:
                    msg = r.recv()
                    if msg[0] == "error":
                        raise RunError(f"worker {msg[1]} failed: {msg[2].strip().splitlines()[-1]}")
                    _, i, si, d0, d1, path, rows, nbytes = msg
                    outstanding[i] -= 1
                    sched.finished(si, d0, d1, nbytes)
                    synth_rows[names[si]] += rows
                    synth_through[names[si]] = max(
                        synth_through.get(names[si], ""), (plan.start + timedelta(days=d1 - 1)).isoformat()
                    )
                    with contextlib.suppress(OSError):  # the merger has just ended: its "end" follows
                        merger_conn.send(("shard", si, d0, d1, path, rows))
                    report()
            if outcome is None:
                feed()
        if outcome is None:  # stopped: the workers' work is void, the merger finishes its append
            for p in procs:
                p.kill()
            if merger.is_alive():
                os.kill(merger.pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_S
            while outcome is None and time.monotonic() < deadline:
                if merger_conn.poll(0.05):
                    try:
                        msg = merger_conn.recv()
                    except EOFError:
                        break
                    if msg[0] == "end":
                        outcome = msg[1:]
                    elif msg[0] == "failed":
                        raise msg[1]
                elif not merger.is_alive():
                    break
    except BaseException as exc:
        error = exc
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
        for c in conns:
            c.close()
        if outcome is None and merger.is_alive():  # an error: the merger ends on whole lines
            os.kill(merger.pid, signal.SIGTERM)
        merger.join(STOP_GRACE_S)
        if merger.is_alive():
            merger.kill()
            merger.join()
        for p in procs:
            p.join()
        merger_conn.close()
        shutil.rmtree(shard_dir, ignore_errors=True)
        gc.unfreeze()
    if error is not None:
        m = read_manifest(plan.data) or Manifest()
        if m.state in ("generating", "stopped", "interrupted"):
            m.state, m.pid = "error", plan.pid
            m.message = f"{type(error).__name__}: {error}"
            write_manifest(plan.data, m)
        raise error
    if outcome is None:  # the merger did not answer in time: it was killed; say so in the manifest
        m = read_manifest(plan.data) or Manifest()
        m.state = "stopped"
        m.pid = plan.pid
        m.message = "stopped by " + signal.Signals(stop.signum or signal.SIGTERM).name
        write_manifest(plan.data, m)
        return "stopped", m.message, 0, int(last.get("bytes") or 0), None
    state, message, days, size, totals = outcome
    return state, message, days, size, totals


# --- the run ---------------------------------------------------------------------------------------
def run_generation(
    opts: RunOptions,
    progress: Callable[[Progress], None] | None = None,
    *,
    world: World | None = None,
    stop: StopFlag | None = None,
) -> RunResult:
    """Run to the target size (or --days, or a stop signal); returns the final state and totals.

    ``stop``: a flag the caller installed earlier (the CLI does, before its imports); else one is
    installed for the duration of the run.
    """
    opts.validate()
    if stop is not None:
        return _run(opts, progress, world, stop)
    with StopFlag() as own:  # from the start, so a signal never leaves a stale "generating" manifest
        return _run(opts, progress, world, own)


def _clock(opts: RunOptions, data: Path) -> tuple[date | None, int | None, str | None, int, dict[str, int]]:
    """(start, skip_until, clock text, previous rows, previous mix) for --append on an existing file."""
    _check_canonical(data)
    size = data.stat().st_size
    old = read_manifest(data)
    start, until, clock = opts.start, None, None
    if old is not None and old.state in ("done", "stopped") and old.sim_start and old.bytes <= size:
        # the manifest's clock is exact (written after the last append); metered rows never move it
        start = start or date.fromisoformat(old.sim_start)
        if old.simulated_until:
            until, clock = _ts_ms(old.simulated_until.encode()), old.simulated_until
    else:  # no trustworthy clock: the file's first and newest simulated rows
        first, last = _simulated_span(data)
        if first is not None:
            start = start or datetime.fromtimestamp(first // 1000, UTC).date()
            until, clock = last, iso_ms(last)
    if old is not None and old.bytes == size:
        return start, until, clock, old.rows, dict(old.rows_by_scenario)
    return start, until, clock, _count_rows(data), {}  # per-scenario mix unknown


def _run(
    opts: RunOptions, progress: Callable[[Progress], None] | None, world: World | None, stop: StopFlag
) -> RunResult:
    t0 = time.perf_counter()
    data = Path(opts.data)
    data.parent.mkdir(parents=True, exist_ok=True)
    other = read_manifest(data)
    if other is not None and other.state == "generating" and other.pid not in (None, os.getpid()):
        raise RunError(f"{data}: another run (pid {other.pid}) is generating into this file; stop it first")
    simulated_only = None  # the previous run's manifest says the file holds nothing but its rows
    if (
        other is not None
        and other.state in ("done", "stopped")
        and data.exists()
        and data.stat().st_size == other.bytes
        and sum(other.rows_by_scenario.values()) == other.rows
    ):
        simulated_only = other.bytes
    start, skip_until, clock = opts.start, None, None
    prev_rows, prev_mix = 0, {}
    appending = opts.append and data.exists() and data.stat().st_size > 0
    if appending:
        start, skip_until, clock, prev_rows, prev_mix = _clock(opts, data)
    start = start or default_start()
    spec = WorldSpec(
        seed=opts.seed,
        start=start,
        customers=opts.customers,
        organizations=opts.organizations,
        scenarios=tuple(opts.scenarios) if opts.scenarios else None,
        prices=opts.prices,
    )
    try:
        world = world if world is not None and world.spec == spec else get_world(spec)
    except ValueError as exc:  # unknown scenario, bad catalog
        raise RunError(str(exc)) from exc
    first_day = 0 if skip_until is None else max(0, day_of(start, skip_until))
    plan = Plan(
        data=data,
        start=start,
        first_day=first_day,
        last_day=None if opts.days is None else first_day + opts.days,
        skip_until=skip_until,
        append=appending,
        target_mb=opts.target_mb,
        pace=opts.pace,
        speed=opts.speed,
        prev_rows=prev_rows,
        prev_mix=prev_mix,
        prev_until=clock,
        simulated_only_size=simulated_only,
        pid=os.getpid(),
        started_at=now_iso(),
        message=f"seed {opts.seed}, {len(world.scenarios)} scenarios, from {start.isoformat()}",
        seed=int(opts.seed),
    )
    workers = opts.worker_count()
    cleaned: list[str] = []
    keep_freed_memory()
    empty = Totals(world.pop.n_customers, len(world.models.models), len(world.scenarios))

    def result(state: str, message: str, days: int, size: int, totals: Totals | None) -> RunResult:
        totals = totals or empty
        mix = {n: int(c) for n, c in zip(world.scenario_names, totals.by_scenario, strict=True)}
        return RunResult(state, world, totals, size, time.perf_counter() - t0, days, message, stop.signum,
                         mix, workers, cleaned)  # fmt: skip

    stop.hold()  # from here on a signal stops the run on whole lines
    if stop:  # a signal before anything was written: the file and its manifest stay as they were
        return result("stopped", "stopped by " + signal.Signals(stop.signum).name, 0, 0, None)  # type: ignore[arg-type]
    cleaned[:] = clean_leftovers(data)

    def to_progress(msg: dict) -> None:
        if progress is None or "bytes" not in msg:
            return
        progress(
            Progress(
                rows=msg["rows"],
                bytes=msg["bytes"],
                target_bytes=msg["target_bytes"],
                simulated_until=msg["last_ms"],
                elapsed=time.perf_counter() - t0,
                rows_run=msg["rows_run"],
                merger_day=msg["merger_day"],
                scenario_rows=msg.get("scenario_rows", {}),
                scenario_through=msg.get("scenario_through", {}),
            )
        )

    # the first manifest ("generating", with our pid) before any row, so readers see the run at once
    write_manifest(
        data,
        Manifest(
            rows=prev_rows,
            state="generating",
            started_at=plan.started_at,
            pid=plan.pid,
            message=plan.message,
            target_mb=opts.target_mb,
            sim_start=start.isoformat(),
            simulated_until=clock,
            rows_by_scenario=dict(prev_mix),
            bytes=data.stat().st_size if data.exists() else 0,
            seed=plan.seed,
            pace=plan.pace,
        ),
    )
    if workers > 1:
        state, message, days, size, totals = _run_pool(plan, spec, world, workers, stop, to_progress)
        return result(state, message, days, size, totals)

    def report(msg: dict) -> None:
        to_progress({**msg, **_inline_progress(sink)})

    sink = Sink(plan, world, stop, report)
    state, message, days = "error", "", 0
    try:
        sink.begin()
        state, message, days = _merge_days(plan, sink, InlineSource(plan, world, sink), stop)
    except BaseException as exc:
        state, message = "error", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        sink.finish(state, message)
    return result(state, message, days, sink.size, sink.totals)


def _inline_progress(sink: Sink) -> dict:
    prog = sink.scenario_progress()
    return {
        "scenario_rows": {k: v["rows"] for k, v in prog.items()},
        "scenario_through": {k: v["through"] for k, v in prog.items() if v["through"]},
    }


__all__ = [
    "MB",
    "Progress",
    "RunError",
    "RunOptions",
    "RunResult",
    "StopFlag",
    "StoreError",
    "available_cpus",
    "clean_leftovers",
    "run_generation",
]
