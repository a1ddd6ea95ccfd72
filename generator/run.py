"""A generation run: a pool of workers synthesises days into shard files; one merger appends them.

Protocol (see specs/simulators.md):

* A task is one simulated day; inside it every scenario's calls come from a generator seeded by
  (seed, scenario, day), so a shard's bytes do not depend on the worker that made it.
* Workers write ``<shard dir>/day-<n>.shard`` (atomic rename) and return its path. At most
  ``2 x workers`` days are in flight, so memory stays flat however large the target.
* The merger (this process) takes days strictly in order, appends their time-sorted lines through
  ``CallStore.append_lines`` (consecutive ready days in one write of up to 8 MB), deletes the shards,
  and rewrites the manifest. The day that crosses the target is cut to a time prefix of whole lines.
* SIGINT/SIGTERM only set a flag; the merger finishes the append in progress, terminates the pool,
  removes the shard directory and writes state ``stopped``.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np

from generator.calendar import MS_PER_DAY, day_of, day_start_ms, default_start, iso_ms
from generator.shards import Shard, read_shard, write_shard
from generator.summary import Totals
from generator.synthesis import format_day, synthesize_day
from generator.world import World, WorldSpec, get_world
from metering.manifest import Manifest, now_iso, read_manifest, write_manifest
from metering.schema import COLUMN_NAMES
from metering.store import CallStore, StoreError, header_line, parse_header

MB = 2**20  # a "MB" of target size is a mebibyte (what ls -lh shows)
#: give up when this many consecutive days produce no call (e.g. only churned-out scenarios)
MAX_EMPTY_DAYS = 60
#: append buffered days once they reach this many bytes (fewer flock + fsync rounds)
FLUSH_BYTES = 8 * MB


class RunError(ValueError):
    """Options or the existing file make the run impossible; the message says why."""


@dataclass
class RunOptions:
    data: Path
    target_mb: float = 50.0
    seed: int = 42
    workers: int | None = None  # None = os.cpu_count()
    customers: int = 500
    organizations: int | None = None
    start: date | None = None  # None = 30 days before today (or the file's first day with append)
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


@dataclass
class Progress:
    """What the merger reports after each append."""

    rows: int
    bytes: int
    target_bytes: int
    simulated_until: int | None  # epoch ms
    elapsed: float
    rows_run: int


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


# --- worker side ---------------------------------------------------------------------------------
_WORKER: dict = {}


def make_shard(world: World, day: int) -> Shard:
    """Synthesise, price and format one day."""
    batch = synthesize_day(world, day)
    c = batch.calls
    return Shard(
        day, format_day(world, batch), c.t_ms, batch.cost, c.input + c.output, c.cust, c.model, c.scenario
    )


def _init_worker(spec: WorldSpec, shard_dir: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the merger's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _WORKER["spec"], _WORKER["dir"] = spec, Path(shard_dir)


def _work(day: int) -> str:
    world = get_world(_WORKER["spec"])
    path = _WORKER["dir"] / f"day-{day:06d}.shard"
    write_shard(path, make_shard(world, day))
    return str(path)


# --- merger side ---------------------------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_stale_shards(data: Path) -> None:
    """Remove shard directories left by a run that was killed outright (SIGKILL)."""
    for d in data.parent.glob(f".{data.name}.shards-*"):
        with contextlib.suppress(ValueError):
            if not _pid_alive(int(d.name.rsplit("-", 1)[1])):
                shutil.rmtree(d, ignore_errors=True)


def _first_and_last(data: Path) -> tuple[int | None, int | None]:
    """Epoch ms of the first and last rows of an existing file (reads its head and tail only)."""
    from metering.store import last_timestamp

    with open(data, "rb") as f:
        head = f.read(1 << 16)
    lines = head.split(b"\n")
    if len(lines) < 3:  # header only (or less)
        return None, None
    columns = parse_header(lines[0] + b"\n", f"{data}: header")
    if tuple(columns) != COLUMN_NAMES:
        raise RunError(
            f"{data}: --append needs the canonical column order ({header_line().decode().strip()!r})"
        )
    first_text = lines[1].split(b",", 1)[0].decode()
    first = np.datetime64(first_text.rstrip("Z"), "ms").astype(np.int64)
    last = last_timestamp(data)
    return int(first), None if last is None else int(last.value // 1_000_000)


def _count_rows(data: Path) -> int:
    """Data rows of a file (newlines after the header), read in 16 MB blocks."""
    lines = 0
    with open(data, "rb") as f:
        while block := f.read(1 << 24):
            lines += block.count(b"\n")
    return max(0, lines - 1)


class _Stop:
    """SIGINT/SIGTERM set a flag; the merger checks it between appends."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, object] = {}

    def __enter__(self) -> _Stop:
        for s in (signal.SIGINT, signal.SIGTERM):
            self._old[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        self.signum = signum

    def __exit__(self, *exc: object) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)  # type: ignore[arg-type]

    def __bool__(self) -> bool:
        return self.signum is not None


def run_generation(
    opts: RunOptions, progress: Callable[[Progress], None] | None = None, *, world: World | None = None
) -> RunResult:
    """Run to the target size (or --days, or a stop signal); returns the final state and totals."""
    opts.validate()
    with _Stop() as stop:  # from the start, so a signal never leaves a stale "generating" manifest
        return _run(opts, progress, world, stop)


def _run(
    opts: RunOptions, progress: Callable[[Progress], None] | None, world: World | None, stop: _Stop
) -> RunResult:
    t0 = time.perf_counter()
    data = Path(opts.data)
    data.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale_shards(data)
    store = CallStore(data)
    start = opts.start
    skip_until: int | None = None  # append: rows at or before this time are already in the file
    prev_rows, prev_mix = 0, {}
    if opts.append and data.exists() and data.stat().st_size > 0:
        first, last = _first_and_last(data)
        if first is not None:
            start = start or datetime.fromtimestamp(first // 1000, UTC).date()
            skip_until = last
            old = read_manifest(data)
            if old is not None and old.bytes == data.stat().st_size:
                prev_rows, prev_mix = old.rows, dict(old.rows_by_scenario)
            else:  # no manifest for this file as it is: count its lines (per-scenario mix unknown)
                prev_rows = _count_rows(data)
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

    other = read_manifest(data)
    busy = other is not None and other.state == "generating" and other.pid not in (None, os.getpid())
    if busy and _pid_alive(int(other.pid)):
        raise RunError(f"{data}: another run (pid {other.pid}) is generating into this file; stop it first")
    if opts.append and data.exists() and data.stat().st_size > 0:
        base_bytes = data.stat().st_size
    else:  # a new run; rows from real metering stay (reset keeps them)
        prev_rows, prev_mix = store.reset(), {}
        base_bytes = data.stat().st_size
    target_bytes = base_bytes + int(opts.target_mb * MB) if opts.append else int(opts.target_mb * MB)
    first_day = 0 if skip_until is None else max(0, day_of(start, skip_until))
    last_day = None if opts.days is None else first_day + opts.days  # exclusive
    totals = Totals(world.pop.n_customers, len(world.models.models), len(world.scenarios))
    manifest = Manifest(
        rows=prev_rows,
        bytes=base_bytes,
        mb=round(base_bytes / MB, 3),
        target_mb=round(target_bytes / MB, 3),
        progress=0.0,
        state="generating",
        started_at=now_iso(),
        rows_by_scenario=dict(prev_mix),
        message=f"seed {opts.seed}, {len(world.scenarios)} scenarios, from {start.isoformat()}",
        pid=os.getpid(),
        seed=int(opts.seed),
        pace=opts.pace,
    )
    write_manifest(data, manifest)

    workers = opts.workers or os.cpu_count() or 1
    shard_dir = data.parent / f".{data.name}.shards-{os.getpid()}"
    size = base_bytes
    day = first_day
    empty_days = 0
    state, message = "done", ""
    pool = None
    last_manifest = 0.0
    live_wall0 = time.monotonic()
    live_sim0 = day_start_ms(start, first_day) if skip_until is None else skip_until

    def publish(force: bool = False) -> None:
        nonlocal last_manifest
        now = time.monotonic()
        if not force and now - last_manifest < 0.2:
            return
        last_manifest = now
        manifest.rows = prev_rows + totals.rows
        manifest.bytes = size
        manifest.mb = round(size / MB, 3)
        manifest.progress = round(min(1.0, (size - base_bytes) / max(1, target_bytes - base_bytes)), 4)
        manifest.simulated_until = None if totals.last_ms is None else iso_ms(totals.last_ms)
        mix = dict(prev_mix)
        for name, n in zip(world.scenario_names, totals.by_scenario, strict=True):
            mix[name] = mix.get(name, 0) + int(n)
        manifest.rows_by_scenario = mix
        write_manifest(data, manifest)

    buffered: list[Shard] = []  # whole days waiting to be appended together (one flock + fsync)
    pending_bytes = 0

    def flush() -> None:
        nonlocal size, pending_bytes
        if buffered:
            store.append_lines(b"".join(p.csv for p in buffered), sum(p.rows for p in buffered))
            size += pending_bytes
            for p in buffered:
                totals.add(p)
            buffered.clear()
            pending_bytes = 0
        if progress:
            progress(Progress(prev_rows + totals.rows, size, target_bytes, totals.last_ms,
                              time.perf_counter() - t0, totals.rows))  # fmt: skip
        publish()

    def append(part: Shard, now: bool) -> None:
        nonlocal pending_bytes
        if part.rows:
            buffered.append(part)
            pending_bytes += len(part.csv)
        if now or pending_bytes >= FLUSH_BYTES:
            flush()

    def sleep_until(wall: float) -> bool:
        while not stop:
            left = wall - time.monotonic()
            if left <= 0:
                return True
            time.sleep(min(left, 0.05))
        return False

    try:
        if workers > 1:
            shard_dir.mkdir(parents=True, exist_ok=True)
            ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
            pool = ctx.Pool(workers, initializer=_init_worker, initargs=(spec, str(shard_dir)))
        pending: dict[int, object] = {}
        next_submit = first_day
        while not stop:
            if last_day is not None and day >= last_day:
                break
            if pool is not None:
                while len(pending) < 2 * workers and (last_day is None or next_submit < last_day):
                    # near the target, do not start days that will most likely be thrown away
                    days_in, have = day - first_day, size + pending_bytes
                    if (
                        pending
                        and days_in
                        and have + (len(pending) + 1) * (have - base_bytes) / days_in > target_bytes
                    ):
                        break
                    pending[next_submit] = pool.apply_async(_work, (next_submit,))
                    next_submit += 1
                res = pending.pop(day)
                while not res.ready() and not stop:  # type: ignore[attr-defined]
                    res.wait(0.05)  # type: ignore[attr-defined]
                if stop:
                    break
                path = Path(res.get())  # type: ignore[attr-defined]
                shard = read_shard(path, day)
                path.unlink()
            else:
                shard = make_shard(world, day)
            if skip_until is not None and shard.rows and shard.t_ms[0] <= skip_until:
                shard = shard.slice(int(np.searchsorted(shard.t_ms, skip_until, side="right")), shard.rows)
            room = target_bytes - size - pending_bytes
            reached = len(shard.csv) >= room
            if reached:
                shard = shard.slice(0, int(np.searchsorted(shard.line_ends(), room, side="right")))
            if opts.pace == "live":
                # append in slices of ~0.2 s of wall time as the simulated clock reaches them
                step = max(1, int(0.2 * opts.speed * 1000))
                lo_ms = day_start_ms(start, day)
                cuts = list(range(lo_ms + step, lo_ms + MS_PER_DAY, step)) + [lo_ms + MS_PER_DAY]
                first_row = 0
                for cut in cuts:
                    if reached and first_row >= shard.rows:
                        break  # the target is in: no need to wait for the rest of the day
                    if not sleep_until(live_wall0 + (cut - live_sim0) / 1000 / opts.speed):
                        break
                    stop_row = (
                        int(np.searchsorted(shard.t_ms, cut, side="left")) if cut < cuts[-1] else shard.rows
                    )
                    append(shard.slice(first_row, stop_row), now=True)
                    first_row = stop_row
                if stop:
                    break
            else:
                # append now unless the next day is already waiting (then both go in one write)
                ready = pool is not None and day + 1 in pending and pending[day + 1].ready()  # type: ignore[attr-defined]
                append(shard, now=reached or (pool is not None and not ready))
            day += 1
            empty_days = 0 if shard.rows else empty_days + 1
            if reached:
                break
            if empty_days >= MAX_EMPTY_DAYS:
                message = f"no calls for {MAX_EMPTY_DAYS} simulated days: the selected scenarios have stopped"
                break
        if stop:
            state = "stopped"
            message = "stopped by " + signal.Signals(stop.signum).name  # type: ignore[arg-type]
    except BaseException as exc:
        state, message = "error", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        if state != "error":
            flush()  # whole days already synthesised: complete lines
        shutil.rmtree(shard_dir, ignore_errors=True)
        manifest.state = state
        manifest.message = message or manifest.message
        publish(force=True)

    mix = {n: int(c) for n, c in zip(world.scenario_names, totals.by_scenario, strict=True)}
    return RunResult(
        state=state,
        world=world,
        totals=totals,
        bytes=size,
        elapsed=time.perf_counter() - t0,
        days=day - first_day,
        message=message,
        signal=stop.signum,
        rows_by_scenario=mix,
    )


__all__ = [
    "MB",
    "Progress",
    "RunError",
    "RunOptions",
    "RunResult",
    "StoreError",
    "make_shard",
    "run_generation",
]
