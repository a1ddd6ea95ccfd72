"""A generation run: scenario workers, one merger process, and a parent that schedules and reports.

Shape (specs/simulators.md, "Workers and merger"):

* A task is (scenario, block of days). A worker process synthesises that scenario's calls for those
  days (generators seeded by (seed, scenario, day)), prices and formats them once, and puts one
  shard in its ring of shared memory (``shards.Arena``, made before fork), or, when the ring has no
  room, in a shard file ``<shard dir>/s<scenario>-d<first day>.shard`` (``.part`` + rename).
* The merger process waits until every scenario's shard covering the next day exists, merges the
  day's rows in timestamp order (ties keep the scenario order), appends it through
  ``CallStore.append_lines``, releases (or deletes) the shards it has consumed and rewrites the manifest.
* The parent builds the world, schedules tasks (never far ahead of the merger, and not past what the
  target needs), relays each finished shard to the merger and reports progress. It writes nothing to
  the CSV.
* Small targets and live pace run all of it in one process: the same functions, the same bytes.
* SIGINT/SIGTERM set a flag. The parent kills the workers and asks the merger to stop; the merger
  finishes the append in progress (whole lines), writes state ``stopped`` and exits; the parent
  removes the shard directory.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from generator.calendar import day_of, default_start
from generator.cpus import available_cpus, idle_cpus
from generator.merger import InlineSource, merge_days
from generator.plan import MB, POOL_MIN_MB, Plan, RunError
from generator.pool import Pool
from generator.procs import keep_freed_memory
from generator.resume import Resume, clean_leftovers, resume_point, simulated_only_size
from generator.sink import Sink
from generator.stopflag import StopFlag
from generator.summary import Totals
from generator.world import World, WorldSpec, get_world
from metering.manifest import Manifest, now_iso, read_manifest, write_manifest
from metering.store import StoreError


@dataclass
class RunOptions:
    data: Path
    target_mb: float = 50.0
    seed: int = 42
    workers: int | None = None  # None = one process for small targets / live pace, else the idle CPUs
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
        """Worker processes: as asked, else 1 for small targets and live pace, else the CPUs other
        processes leave idle (``generator.cpus.idle_cpus``); 1 is one process, no pool."""
        if self.workers is not None:
            return self.workers
        if self.pace == "live" or self.target_mb < POOL_MIN_MB:
            return 1
        return idle_cpus()


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
        return _Run(opts, progress, world, stop).run()
    with StopFlag() as own:  # from the start, so a signal never leaves a stale "generating" manifest
        return _Run(opts, progress, world, own).run()


class _Run:
    """One run, step by step: check the file, plan, write the first manifest, then the pool or one process."""

    def __init__(
        self,
        opts: RunOptions,
        progress: Callable[[Progress], None] | None,
        world: World | None,
        stop: StopFlag,
    ) -> None:
        self.t0 = time.perf_counter()
        self.opts, self.progress, self.stop = opts, progress, stop
        self.data = Path(opts.data)
        self.workers = opts.worker_count()
        self.cleaned: list[str] = []
        self.data.parent.mkdir(parents=True, exist_ok=True)
        other = read_manifest(self.data)
        if other is not None and other.state == "generating" and other.pid not in (None, os.getpid()):
            raise RunError(
                f"{self.data}: another run (pid {other.pid}) is generating into this file; stop it first"
            )
        appending = opts.append and self.data.exists() and self.data.stat().st_size > 0
        resume = resume_point(self.data, opts.start) if appending else Resume(opts.start)
        start = resume.start or default_start()
        self.spec = WorldSpec(
            seed=opts.seed,
            start=start,
            customers=opts.customers,
            organizations=opts.organizations,
            scenarios=tuple(opts.scenarios) if opts.scenarios else None,
            prices=opts.prices,
        )
        try:
            self.world = world if world is not None and world.spec == self.spec else get_world(self.spec)
        except ValueError as exc:  # unknown scenario, bad catalog
            raise RunError(str(exc)) from exc
        self.plan = self._plan(resume, start, appending, simulated_only_size(self.data, other))

    def _plan(self, resume: Resume, start: date, appending: bool, simulated_only: int | None) -> Plan:
        opts = self.opts
        first_day = 0 if resume.skip_until is None else max(0, day_of(start, resume.skip_until))
        return Plan(
            data=self.data,
            start=start,
            first_day=first_day,
            last_day=None if opts.days is None else first_day + opts.days,
            skip_until=resume.skip_until,
            append=appending,
            target_mb=opts.target_mb,
            pace=opts.pace,
            speed=opts.speed,
            prev_rows=resume.rows,
            prev_mix=resume.mix,
            prev_until=resume.clock,
            simulated_only_size=simulated_only,
            pid=os.getpid(),
            started_at=now_iso(),
            message=f"seed {opts.seed}, {len(self.world.scenarios)} scenarios, from {start.isoformat()}",
            seed=int(opts.seed),
        )

    def run(self) -> RunResult:
        keep_freed_memory()
        self.stop.hold()  # from here on a signal stops the run on whole lines
        if self.stop:  # a signal before anything was written: the file and its manifest stay as they were
            return self._result("stopped", "stopped by " + signal.Signals(self.stop.signum).name, 0, 0, None)  # type: ignore[arg-type]
        self.cleaned = clean_leftovers(self.data)
        self._first_manifest()
        if self.workers > 1:
            pool = Pool(self.plan, self.spec, self.world, self.workers, self.stop, self._to_progress)
            return self._result(*pool.run())
        return self._inline()

    def _first_manifest(self) -> None:
        """ "generating", with our pid, before any row: readers see the run at once."""
        p = self.plan
        write_manifest(
            self.data,
            Manifest(
                rows=p.prev_rows,
                state="generating",
                started_at=p.started_at,
                pid=p.pid,
                message=p.message,
                target_mb=self.opts.target_mb,
                sim_start=p.start.isoformat(),
                simulated_until=p.prev_until,
                rows_by_scenario=dict(p.prev_mix),
                bytes=self.data.stat().st_size if self.data.exists() else 0,
                seed=p.seed,
                pace=p.pace,
            ),
        )

    def _inline(self) -> RunResult:
        """One process: the merger's loop over blocks synthesised when first needed."""
        sink = Sink(
            self.plan, self.world, self.stop, lambda msg: self._to_progress({**msg, **_inline_progress(sink)})
        )
        state, message, days = "error", "", 0
        try:
            sink.begin()
            state, message, days = merge_days(
                self.plan, sink, InlineSource(self.plan, self.world, sink), self.stop
            )
        except BaseException as exc:
            state, message = "error", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            sink.finish(state, message)
        return self._result(state, message, days, sink.size, sink.totals)

    def _to_progress(self, msg: dict) -> None:
        if self.progress is None or "bytes" not in msg:
            return
        self.progress(
            Progress(
                rows=msg["rows"],
                bytes=msg["bytes"],
                target_bytes=msg["target_bytes"],
                simulated_until=msg["last_ms"],
                elapsed=time.perf_counter() - self.t0,
                rows_run=msg["rows_run"],
                merger_day=msg["merger_day"],
                scenario_rows=msg.get("scenario_rows", {}),
                scenario_through=msg.get("scenario_through", {}),
            )
        )

    def _result(self, state: str, message: str, days: int, size: int, totals: Totals | None) -> RunResult:
        w = self.world
        totals = totals or Totals(w.pop.n_customers, len(w.models.models), len(w.scenarios))
        mix = {n: int(c) for n, c in zip(w.scenario_names, totals.by_scenario, strict=True)}
        return RunResult(state, w, totals, size, time.perf_counter() - self.t0, days, message, self.stop.signum,
                         mix, self.workers, self.cleaned)  # fmt: skip


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
    "idle_cpus",
    "clean_leftovers",
    "run_generation",
]
