"""The merger: days strictly in order, each one merged from every scenario's rows in timestamp order
and handed to the ``Sink``. Its rows come from a source: ``PoolSource`` (shards announced by the
parent, in the ``rf-merger`` process) or ``InlineSource`` (one process: blocks synthesised when a day
is first needed). Both give the same bytes.
"""

from __future__ import annotations

import contextlib
import gc
import selectors
import signal
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Protocol

from generator.calendar import MS_PER_DAY, day_start_ms
from generator.plan import MAX_EMPTY_DAYS, Plan, block_end
from generator.procs import become
from generator.shards import Arena, Shard, merge, read_shard
from generator.sink import Sink
from generator.stopflag import StopFlag
from generator.synthesis import synthesize_block
from generator.world import World, WorldSpec, get_world

#: where a shard is: a file's path, or (worker, shard number, offset) in the shared arena
Where = str | tuple[int, int, int]


class DaySource(Protocol):
    """Where the merger's rows come from."""

    def day(self, day: int) -> list[Shard] | None: ...  # every scenario's rows of the day (None: stopped)

    def ready(self, day: int) -> bool: ...  # the day can be had at once

    def consumed(self, day: int) -> None: ...  # the day is appended: its inputs may go


def merge_days(plan: Plan, sink: Sink, source: DaySource, stop: StopFlag) -> tuple[str, str, int]:
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
            end = block_end(day, self.plan.last_day, left)
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
    """The merger process: shards announced by the parent (a block's at once), read when needed (in
    the arena, or files), released or deleted when consumed."""

    def __init__(
        self,
        plan: Plan,
        world: World,
        sink: Sink,
        conn: Connection,
        stop: StopFlag,
        arena: Arena | None = None,
    ) -> None:
        self.plan, self.sink, self.conn, self.stop, self.arena = plan, sink, conn, stop, arena
        self.n = len(world.scenarios)
        # where: a shard file's path, or (worker, shard number, offset) in the arena
        self.notices: list[list[tuple[int, int, Where]]] = [[] for _ in range(self.n)]
        self.loaded: dict[int, tuple[int, int, Where, Shard]] = {}
        self.selector = selectors.DefaultSelector()  # made once: ``conn.poll`` builds one per call
        self.selector.register(conn, selectors.EVENT_READ)

    def _drain(self, timeout: float) -> None:
        try:
            while self.selector.select(timeout):
                msg = self.conn.recv()
                if msg[0] == "shards":  # every scenario's shard of one block
                    for si, d0, d1, path, rows in msg[1]:
                        self.notices[si].append((d0, d1, path))
                        self.sink.synthesised(si, d1, rows)
                timeout = 0
        except (EOFError, OSError):  # the parent is gone: stop
            self.stop.signum = self.stop.signum or signal.SIGTERM

    def _covering(self, si: int, day: int) -> tuple[int, int, Where] | None:
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
                self.loaded[si] = (d0, d1, path, self._read(path))
            parts.append(self.loaded[si][3].between(lo, lo + MS_PER_DAY))
        if sum(p.rows > 0 for p in parts) == 1:  # merge hands a lone part on as it is: keep no view
            parts = [p.copy() if p.rows else p for p in parts]  # into arena space reused once released
        return parts

    def _read(self, where: Where) -> Shard:
        if isinstance(where, str):
            return read_shard(Path(where))
        return self.arena.shard(where[2])  # type: ignore[union-attr]

    def consumed(self, day: int) -> None:
        for si in range(self.n):
            keep = []
            for d0, d1, path in self.notices[si]:
                if d1 <= day + 1:
                    if isinstance(path, str):
                        Path(path).unlink(missing_ok=True)
                    else:  # the worker may reuse the space
                        self.arena.release(path[0], path[1])  # type: ignore[union-attr]
                    if si in self.loaded and self.loaded[si][2] == path:
                        del self.loaded[si]
                else:
                    keep.append((d0, d1, path))
            self.notices[si] = keep


def merger_main(plan: Plan, spec: WorldSpec, conn: Connection, arena: Arena | None = None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; it sends SIGTERM
    stop = StopFlag()
    signal.signal(signal.SIGTERM, stop._handle)
    become("rf-merger", plan.pid, signal.SIGTERM)
    gc.disable()

    def report(msg: dict) -> None:
        with contextlib.suppress(OSError):
            conn.send(("progress", msg))

    world = get_world(spec)
    sink = Sink(plan, world, stop, report)
    try:
        sink.begin()
        state, message, days = merge_days(plan, sink, PoolSource(plan, world, sink, conn, stop, arena), stop)
        sink.finish(state, message)
    except BaseException as exc:
        with contextlib.suppress(Exception):
            sink.finish("error", f"{type(exc).__name__}: {exc}")
        with contextlib.suppress(Exception):
            conn.send(("failed", exc, traceback.format_exc()))
        return
    with contextlib.suppress(OSError):
        conn.send(("end", state, message, days, sink.size, sink.totals))
