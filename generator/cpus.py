"""How many CPUs a run may use: the CPUs this process may run on, less what other processes keep busy.

Importing ``generator`` (the CLI does it first thing) takes a first sample of the machine's CPU
counters; ``idle_cpus`` takes a second one when a run decides its workers. Over that interval (the
run's start-up: imports, reading the file, the world) the machine's busy CPU time less this process's
own is what other processes used. A 1-minute load average would also count this run's own recent
processes (a previous run, a benchmark's last pool) and history that no longer holds.
"""

from __future__ import annotations

import os
import time

#: (monotonic seconds, busy CPU-seconds of the whole machine, this process's CPU seconds)
Sample = tuple[float, float, float]


def sample() -> Sample | None:
    """The machine's busy CPU time so far (``/proc/stat``: all but idle and I/O wait), or None off Linux."""
    try:
        with open("/proc/stat", "rb") as f:
            fields = f.readline().split()
        ticks = [int(x) for x in fields[1:9]]  # user nice system idle iowait irq softirq steal
    except (OSError, ValueError):
        return None
    if len(ticks) < 8 or fields[0] != b"cpu":
        return None
    busy = ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6] + ticks[7]
    own = os.times()
    return time.monotonic(), busy / os.sysconf("SC_CLK_TCK"), own.user + own.system


FIRST = sample()


def available_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def others_busy(first: Sample, second: Sample) -> float | None:
    """CPUs kept busy by other processes between two samples (None: too short to tell)."""
    wall = second[0] - first[0]
    if wall < 0.05:
        return None
    return max(0.0, (second[1] - first[1]) - (second[2] - first[2])) / wall


def idle_cpus(busy: float | None = None, machine: int | None = None) -> int:
    """The CPUs we may use that other processes leave idle (rounded; at least 1).

    ``busy``: CPUs other processes keep busy (default: measured since ``FIRST``); ``machine``: the
    machine's CPUs (default ``os.cpu_count()``).
    """
    cpus = available_cpus()
    if busy is None:
        now = sample()
        busy = None if FIRST is None or now is None else others_busy(FIRST, now)
        if busy is None:
            return cpus
    machine = machine or os.cpu_count() or cpus
    return max(1, min(cpus, int(machine - busy + 0.5)))
