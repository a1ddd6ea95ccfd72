"""The pool's scheduling near the target, and the world its workers inherit (no process started here)."""

from __future__ import annotations

from pathlib import Path

from generator_testkit import START, world_of

from generator.plan import BLOCK_DAYS, Plan
from generator.pool import Scheduler
from generator.world import WorldSpec, get_world, share_world


def _plan(tmp_path: Path, last_day: int | None = None) -> Plan:
    return Plan(
        data=tmp_path / "calls.csv",
        start=START,
        first_day=0,
        last_day=last_day,
        skip_until=None,
        append=False,
        target_mb=1.0,
        pace="max",
        speed=1.0,
        prev_rows=0,
        prev_mix={},
        prev_until=None,
        simulated_only_size=None,
        pid=0,
        started_at="",
        message="",
        seed=1,
    )


def _simulate(
    tmp_path: Path, day_bytes: list[int], target: int, slots: int, last_day: int | None = None
) -> tuple[list, list]:
    """A pool of ``slots`` task slots finishing tasks oldest first and a merger that appends each day
    as soon as every scenario has it, up to ``target`` bytes; returns the tasks in the order they were
    scheduled and those scheduled after the merger had reached the target."""
    n = len(day_bytes)
    sched = Scheduler(_plan(tmp_path, last_day), n)
    sched.merger_at({"merged_bytes": 0, "target_bytes": target, "base_bytes": 0, "next_day": None})
    outstanding: list[tuple[int, int, int]] = []
    done: dict[int, set[int]] = {}  # day -> scenarios synthesised
    scheduled, late = [], []
    merged, day, reached = 0, 0, False
    while True:
        while len(outstanding) < slots and (task := sched.next_task()) is not None:
            scheduled.append(task)
            if reached:
                late.append(task)
            outstanding.append(task)
        if not outstanding:
            return scheduled, late
        si, d0, d1 = outstanding.pop(0)
        sched.finished(si, d0, d1, day_bytes[si] * (d1 - d0))
        for d in range(d0, d1):
            done.setdefault(d, set()).add(si)
        while not reached and len(done.get(day, ())) == n:
            merged = min(target, merged + sum(day_bytes))
            reached = merged >= target
            day += 1
        msg = {
            "merged_bytes": merged,
            "target_bytes": target,
            "base_bytes": 0,
            "next_day": day,
            "reached": reached,
        }
        sched.merger_at(msg)


def test_the_last_block_is_cut_once_to_the_days_still_needed(tmp_path):
    for days_needed in (7, 10, 11, 13, 22, 30):
        rates = [100, 250, 40, 610, 5, 90]  # bytes per day of each scenario
        target = sum(rates) * (days_needed - 1) + 1  # the last needed day brings the target in
        for slots in (2, 4, 6):  # at most a block's tasks at once (the pool: two per worker, 12 scenarios)
            scheduled, late = _simulate(tmp_path, rates, target, slots)
            last = max(d1 for _, _, d1 in scheduled)
            short = {(d0, d1) for _, d0, d1 in scheduled if d1 - d0 < BLOCK_DAYS}
            assert days_needed <= last <= days_needed + 1, (days_needed, slots, sorted(set(scheduled)))
            assert len(short) <= 1, (days_needed, slots, sorted(short))  # no rounds of one-day tasks
            assert not late  # nothing scheduled once the merger has reached the target


def test_scenarios_without_calls_leave_the_blocks_whole(tmp_path):
    scheduled, _ = _simulate(tmp_path, [0, 0], target=10, slots=2, last_day=6 * BLOCK_DAYS)  # --days
    assert {d1 - d0 for _, d0, d1 in scheduled} == {BLOCK_DAYS} and len(scheduled) == 2 * 6


def test_the_pool_shares_its_world_with_tables_built(tmp_path):
    world = world_of("base_traffic", customers=50)
    share_world(world)
    assert get_world(world.spec) is world  # what a forked worker's get_world returns
    assert "text_tables" in world.__dict__  # built before the fork, not once per worker
    assert get_world(WorldSpec(seed=99, start=START, customers=50)) is not world
