"""Two jobs of the live analysis session, each in its own class: the result cache and the one alert
refresher (``analyzers.session.AnalysisSession`` keeps the cubes; ``analyzers.overview`` builds the overview).

``ResultCache``: values computed once per key (concurrent callers wait for the first), the newest few
kept; keys start with the data version, and only values of the current version are stored.

``AlertRefresher``: the newest real-time alerts and the data version they were computed on; at most one
background recompute at a time. The overview serves the newest alerts while the current version's are
recomputed, and the dashboard's toasts read the same (there is no second alert thread anywhere).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from analyzers.base import Alert


class ResultCache:
    """Compute-once, least-recently-used caches: a general one and a smaller one for large values."""

    def __init__(self, current_version: Callable[[], int], size: int = 16, large_size: int = 3) -> None:
        self._current = current_version
        self._lock = threading.RLock()
        self._small: OrderedDict[Hashable, Any] = OrderedDict()
        self._large: OrderedDict[Hashable, Any] = OrderedDict()
        self._sizes = (size, large_size)
        self._key_locks: dict[Hashable, threading.Lock] = {}

    def get(self, key: tuple, compute: Callable[[], Any], *, large: bool = False) -> Any:
        """``compute()`` once per key; ``key[0]`` is the data version the value belongs to."""
        cache, size = (self._large, self._sizes[1]) if large else (self._small, self._sizes[0])
        with self._lock:
            if key in cache:
                cache.move_to_end(key)
                return cache[key]
            klock = self._key_locks.setdefault(key, threading.Lock())
        with klock:
            with self._lock:
                if key in cache:
                    return cache[key]
            value = compute()
            with self._lock:
                if key[0] == self._current():
                    cache[key] = value
                    while len(cache) > size:
                        cache.popitem(last=False)
            return value

    def peek(self, key: tuple) -> Any | None:
        """The cached value of ``key`` or None (no compute)."""
        with self._lock:
            return self._small.get(key, self._large.get(key))

    def __contains__(self, key: tuple) -> bool:
        with self._lock:
            return key in self._small or key in self._large

    def drop(self, key: tuple) -> None:
        with self._lock:
            self._small.pop(key, None)
            self._large.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._small.clear()
            self._large.clear()
            self._key_locks.clear()


class AlertRefresher:
    """The newest alerts, and one background recompute at a time (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: tuple[int, list[Alert]] | None = None
        self._floor = 0  # alerts of versions before the last reset are never served
        self._thread: threading.Thread | None = None
        self._pending: Any = None  # the state to recompute next

    def latest(self) -> tuple[int, list[Alert]] | None:
        """(data version, alerts) of the newest computation, or None before the first (or a reset)."""
        with self._lock:
            return None if self._latest is None else (self._latest[0], list(self._latest[1]))

    def publish(self, version: int, alerts: list[Alert]) -> None:
        """Record alerts computed on ``version`` (kept only when newer and not from before a reset)."""
        with self._lock:
            fresh = self._latest is None or self._latest[0] <= version
            if fresh and version >= self._floor:
                self._latest = (version, list(alerts))

    def reset(self, first_version: int) -> None:
        """The data was replaced: forget the alerts; versions before ``first_version`` are stale."""
        with self._lock:
            self._latest = None
            self._floor = first_version

    def busy(self) -> bool:
        with self._lock:
            return self._thread is not None and self._thread.is_alive()

    def want(self, state: Any) -> None:
        """Ask for a recompute on ``state`` (started by ``start``), unless one is running."""
        with self._lock:
            if not (self._thread is not None and self._thread.is_alive()):
                self._pending = state

    def start(self, compute: Callable[[Any], Any]) -> None:
        """Start the requested recompute (``compute(state)`` publishes its alerts) on a thread."""
        with self._lock:
            state, self._pending = self._pending, None
            if state is None or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(target=compute, args=(state,), daemon=True, name="alerts")
            self._thread.start()

    def join(self) -> None:
        """Wait for a running recompute."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join()
