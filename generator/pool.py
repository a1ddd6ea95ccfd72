"""The pool: scenario workers (``rf-worker-<i>``) synthesising (scenario, block of days) tasks into
shards (in shared memory, or files when it is full), the merger process (``rf-merger``) appending
them, and the parent's scheduling between them (never far ahead of the merger, not past what the
target needs) and its relaying of shards (one message per block whose every scenario is done) and
of progress.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing as mp
import os
import selectors
import shutil
import signal
import time
import traceback
from collections import deque
from collections.abc import Callable
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from generator.merger import merger_main
from generator.plan import (
    LOOKAHEAD_DAYS,
    RING_BYTES,
    SCHEDULE_MARGIN_DAYS,
    STOP_GRACE_S,
    Plan,
    RunError,
    block_end,
)
from generator.procs import become
from generator.shards import Arena, Ring, write_shard
from generator.stopflag import StopFlag
from generator.summary import Totals
from generator.synthesis import synthesize_block
from generator.world import World, WorldSpec, get_world, share_world
from metering.manifest import Manifest, read_manifest, write_manifest


def worker_main(
    spec: WorldSpec, shard_dir: str, conn: Connection, index: int, parent_pid: int, arena: Arena | None = None
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    become(f"rf-worker-{index}", parent_pid, signal.SIGKILL)
    gc.disable()  # numpy work, no reference cycles: no collector passes over inherited pages
    try:
        world = get_world(spec)
        ring = None if arena is None else Ring(arena, index)
        while True:
            try:
                task = conn.recv()
            except (EOFError, OSError):
                return
            if task is None:
                return
            si, d0, d1 = task
            shard = synthesize_block(world, si, d0, d1)
            placed = None if ring is None else ring.put(shard)
            if placed is not None:  # in the shared arena: (worker, shard number, offset)
                where: str | tuple[int, int, int] = (index, *placed)
            else:  # no room in the ring (or no arena): a shard file
                where = str(Path(shard_dir) / f"s{si:02d}-d{d0:06d}.shard")
                write_shard(Path(where), shard)
            conn.send(("done", index, si, d0, d1, where, shard.rows, len(shard.csv)))
    except Exception:
        with contextlib.suppress(OSError):
            conn.send(("error", index, traceback.format_exc()))


class Scheduler:
    """The parent's task order: blocks of days, every scenario per block, bounded by the merger's position.

    Near the target a block gets only the days still needed: the bytes the merger has not reached yet
    are counted exactly for finished tasks and at each scenario's average bytes per day for the others,
    and the last block asks for ``SCHEDULE_MARGIN_DAYS`` more than that estimate: it is cut once, not
    in rounds of one-day tasks. Nothing is scheduled once the merger has reached the target.
    """

    def __init__(self, plan: Plan, n_scenarios: int) -> None:
        self.plan, self.n = plan, n_scenarios
        self.queue: deque[tuple[int, int, int]] = deque()
        self.next_day = plan.first_day
        self.merger_next = plan.first_day  # the day the merger needs next
        self.size = self.target = self.base = 0
        self.reached = False  # the merger has reached the target
        self.synth = [[0, 0] for _ in range(n_scenarios)]  # per scenario: bytes and days synthesised
        self.finished_tasks: list[tuple[int, int, int]] = []  # (d0, d1, bytes) not yet wholly merged
        self.running: dict[tuple[int, int], int] = {}  # (scenario, d0) -> d1 of tasks scheduled, not finished

    def finished(self, si: int, d0: int, d1: int, nbytes: int) -> None:
        self.running.pop((si, d0), None)
        self.synth[si][0] += nbytes
        self.synth[si][1] += d1 - d0
        self.finished_tasks.append((d0, d1, nbytes))

    def merger_at(self, msg: dict) -> None:
        self.size, self.target, self.base = msg["merged_bytes"], msg["target_bytes"], msg["base_bytes"]
        self.reached = self.reached or bool(msg.get("reached"))
        if msg["next_day"] is not None:
            self.merger_next = max(self.merger_next, msg["next_day"])
            self.finished_tasks = [t for t in self.finished_tasks if t[1] > self.merger_next]

    def _days_left(self) -> float | None:
        """Days still needed after those scheduled (None: not known yet)."""
        if not self.target or not all(days for _, days in self.synth):
            return None
        rate = [nbytes / days for nbytes, days in self.synth]  # bytes per day
        if not sum(rate):  # no calls so far (e.g. scenarios that have stopped): no estimate
            return None
        m = self.merger_next

        def unmerged(d0: int, d1: int) -> float:  # share of a task's days the merger has not reached
            return max(0, d1 - max(d0, m)) / (d1 - d0)

        ahead = sum(b * unmerged(d0, d1) for d0, d1, b in self.finished_tasks)
        ahead += sum(rate[si] * (d1 - d0) * unmerged(d0, d1) for (si, d0), d1 in self.running.items())
        return (self.target - self.size - ahead) / sum(rate)

    def next_task(self) -> tuple[int, int, int] | None:
        if not self.queue:
            d0, last = self.next_day, self.plan.last_day
            if self.reached or (last is not None and d0 >= last):
                return None
            if d0 > self.merger_next and d0 - self.merger_next >= LOOKAHEAD_DAYS:
                return None
            left = self._days_left()
            if left is not None and d0 > self.merger_next and left <= 0:
                return None  # the days already scheduled will most likely reach the target
            d1 = block_end(d0, last, None if left is None else left + SCHEDULE_MARGIN_DAYS)
            self.queue.extend((si, d0, d1) for si in range(self.n))
            self.next_day = d1
        task = self.queue.popleft()
        self.running[(task[0], task[1])] = task[2]
        return task


#: what a run ends with: (state, message, days merged, file size, totals appended)
Outcome = tuple[str, str, int, int, Totals | None]


class Pool:
    """The parent's side of a pooled run: start the merger and the workers, feed them tasks, relay
    each finished shard to the merger and the merger's position to the scheduler, stop them."""

    def __init__(
        self,
        plan: Plan,
        spec: WorldSpec,
        world: World,
        workers: int,
        stop: StopFlag,
        on_progress: Callable[[dict], None],
    ) -> None:
        self.plan, self.spec, self.workers, self.stop, self.on_progress = (
            plan,
            spec,
            workers,
            stop,
            on_progress,
        )
        fork = "fork" in mp.get_all_start_methods()
        self.ctx = mp.get_context("fork" if fork else "spawn")
        if fork:  # the children inherit this world with its tables built, instead of each building them
            share_world(world)
        self.arena = Arena(workers, RING_BYTES) if fork else None  # shared memory needs fork
        self.shard_dir = plan.data.parent / f".{plan.data.name}.shards-{os.getpid()}"
        self.names = world.scenario_names
        self.synth_rows = dict.fromkeys(self.names, 0)
        self.synth_through: dict[str, str] = {}
        self.sched = Scheduler(plan, len(self.names))
        self.outstanding = [0] * workers  # tasks sent to each worker and not finished
        #: finished shards of blocks still missing a scenario, by first day: relayed to the merger in one
        #: message per block (it waits for whole days; one wake-up per block, not per shard)
        self.blocks: dict[int, list[tuple[int, int, int, str | tuple[int, int, int], int]]] = {}
        self.merger_conn, self._merger_end = self.ctx.Pipe()
        self.merger = self.ctx.Process(
            target=merger_main, args=(plan, spec, self._merger_end, self.arena), name="rf-merger"
        )
        self.procs: list[Any] = []
        self.conns: list[Connection] = []
        self.outcome: Outcome | None = None
        self.last: dict = {}  # the merger's last progress message

    def run(self) -> Outcome:
        """Until the merger ends (or a stop); returns the outcome. Cleans up in every case."""
        self.shard_dir.mkdir(parents=True, exist_ok=True)
        error: BaseException | None = None
        gc.freeze()  # the children never run the collector over the parent's objects (no copy-on-write)
        try:
            self._start()
            self._loop()
            if self.outcome is None:  # stopped: the workers' work is void, the merger finishes its append
                self._stop_merger()
        except BaseException as exc:
            error = exc
        finally:
            self._teardown()
            gc.unfreeze()
        if error is not None:
            self._manifest_says("error", f"{type(error).__name__}: {error}", only_if_open=True)
            raise error
        if self.outcome is None:  # the merger did not answer in time: it was killed; say so in the manifest
            message = "stopped by " + signal.Signals(self.stop.signum or signal.SIGTERM).name
            self._manifest_says("stopped", message)
            return "stopped", message, 0, int(self.last.get("bytes") or 0), None
        return self.outcome

    # --- start, feed, relay -------------------------------------------------------------------------
    def _start(self) -> None:
        self.merger.start()
        self._merger_end.close()
        for i in range(self.workers):
            a, b = self.ctx.Pipe()
            p = self.ctx.Process(
                target=worker_main,
                args=(self.spec, str(self.shard_dir), b, i, os.getpid(), self.arena),
                name=f"rf-worker-{i}",
            )
            p.start()
            b.close()
            self.procs.append(p)
            self.conns.append(a)

    def _feed(self) -> None:
        for i in range(self.workers):
            while self.outstanding[i] < 2 and (task := self.sched.next_task()) is not None:
                self.conns[i].send(task)
                self.outstanding[i] += 1

    def _report(self) -> None:
        self.on_progress(
            {
                **self.last,
                "scenario_rows": dict(self.synth_rows),
                "scenario_through": dict(self.synth_through),
            }
        )

    def _loop(self) -> None:
        """Wait on every pipe and process at once (one epoll set made once, not one per wake-up)."""
        self._feed()
        with selectors.DefaultSelector() as sel:
            sel.register(self.merger_conn, selectors.EVENT_READ, "merger")
            sel.register(self.merger.sentinel, selectors.EVENT_READ, "merger died")
            for i, (conn, proc) in enumerate(zip(self.conns, self.procs, strict=True)):
                sel.register(conn, selectors.EVENT_READ, i)
                sel.register(proc.sentinel, selectors.EVENT_READ, ("died", i))
            while self.outcome is None and not self.stop:
                for key, _ in sel.select(timeout=0.05):  # the timeout bounds how long a stop waits
                    self._ready(key.data)
                if self.outcome is None:
                    self._feed()

    def _ready(self, what: object) -> None:
        if what == "merger":
            self._from_merger()
        elif what == "merger died":
            if self.outcome is None and not self.merger_conn.poll():
                raise RunError(f"the merger process died (exit code {self.merger.exitcode})")
        elif isinstance(what, tuple):
            raise RunError(f"worker {what[1]} died (exit code {self.procs[what[1]].exitcode})")
        else:
            self._from_worker(self.conns[what].recv())  # type: ignore[index]

    def _from_merger(self) -> None:
        try:
            msg = self.merger_conn.recv()
        except EOFError:
            return
        if msg[0] == "progress":
            self.last = msg[1]
            self.sched.merger_at(self.last)
            self._report()
        elif msg[0] == "end":
            self.outcome = msg[1:]
        else:  # failed
            raise msg[1]

    def _from_worker(self, msg: tuple) -> None:
        if msg[0] == "error":
            raise RunError(f"worker {msg[1]} failed: {msg[2].strip().splitlines()[-1]}")
        _, i, si, d0, d1, path, rows, nbytes = msg
        self.outstanding[i] -= 1
        self.sched.finished(si, d0, d1, nbytes)
        name = self.names[si]
        self.synth_rows[name] += rows
        through = (self.plan.start + timedelta(days=d1 - 1)).isoformat()
        self.synth_through[name] = max(self.synth_through.get(name, ""), through)
        block = self.blocks.setdefault(d0, [])
        block.append((si, d0, d1, path, rows))
        if len(block) == len(self.names):  # the merger can use a day only once it has every scenario's shard
            del self.blocks[d0]
            with contextlib.suppress(OSError):  # the merger has just ended: its "end" follows
                self.merger_conn.send(("shards", block))
        self._report()

    # --- stop and clean up --------------------------------------------------------------------------
    def _stop_merger(self) -> None:
        """Kill the workers, ask the merger to finish its append; wait up to STOP_GRACE_S for its end."""
        for p in self.procs:
            p.kill()
        if self.merger.is_alive():
            os.kill(self.merger.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        while self.outcome is None and time.monotonic() < deadline:
            if self.merger_conn.poll(0.05):
                try:
                    msg = self.merger_conn.recv()
                except EOFError:
                    break
                if msg[0] == "end":
                    self.outcome = msg[1:]
                elif msg[0] == "failed":
                    raise msg[1]
            elif not self.merger.is_alive():
                break

    def _teardown(self) -> None:
        for p in self.procs:
            if p.is_alive():
                p.kill()
        for c in self.conns:
            c.close()
        if self.outcome is None and self.merger.is_alive():  # an error: the merger ends on whole lines
            os.kill(self.merger.pid, signal.SIGTERM)
        self.merger.join(STOP_GRACE_S)
        if self.merger.is_alive():
            self.merger.kill()
            self.merger.join()
        for p in self.procs:
            p.join()
        self.merger_conn.close()
        shutil.rmtree(self.shard_dir, ignore_errors=True)

    def _manifest_says(self, state: str, message: str, *, only_if_open: bool = False) -> None:
        m = read_manifest(self.plan.data) or Manifest()
        if only_if_open and m.state not in ("generating", "stopped", "interrupted"):
            return
        m.state, m.pid, m.message = state, self.plan.pid, message
        write_manifest(self.plan.data, m)
