"""The merged days' way into the CSV: buffered appends through the store, the cut at the target,
live pacing, and the manifest (rewritten at most every ``MANIFEST_EVERY_S`` and at the end).

The merger process owns a ``Sink`` (in a one-process run, the run itself does).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import numpy as np

from generator.calendar import MS_PER_DAY, day_start_ms, iso_ms
from generator.plan import FLUSH_BYTES, MANIFEST_EVERY_S, MB, Plan
from generator.shards import Shard
from generator.stopflag import StopFlag
from generator.summary import Totals
from generator.world import World
from metering.manifest import Manifest, write_manifest
from metering.store import CallStore


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
        self.reached = False  # the target is in (appended or buffered)
        self.synth_rows = np.zeros(len(world.scenarios), dtype=np.int64)
        self.synth_through = np.full(len(world.scenarios), -1, dtype=np.int64)
        self.t0 = time.perf_counter()
        self.prev_rows, self.prev_mix = plan.prev_rows, dict(plan.prev_mix)
        self.size = self.base_bytes = self.target_bytes = 0
        self.live_wall0, self.live_sim0 = 0.0, 0  # live pace: wall and simulated time at the start
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
                "reached": self.reached,
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
        self.reached = reached
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
