"""What every child process of a run does first: take its name, tie itself to the parent, keep memory."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os

from generator.plan import MB


def keep_freed_memory() -> None:
    """Let glibc keep freed blocks for reuse (per-task arrays of a few MB), instead of unmapping them
    and taking a page fault on every page of the next one: less system time, same peak memory."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None)
        libc.mallopt(-1, 256 * MB)  # M_TRIM_THRESHOLD
        libc.mallopt(-3, 32 * MB)  # M_MMAP_THRESHOLD


def become(title: str, parent_pid: int, death_signal: int) -> None:
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
