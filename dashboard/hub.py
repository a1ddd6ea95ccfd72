"""The server-side data cache per data file: one AnalysisSession, shared by every tab.

Only data lives here (what the file says), never a user's state: filters, drill path, seen alerts
and the data version a tab has drawn are kept in that tab's ``dcc.Store``. The session is
thread-safe and caches per data version; the hub's own state is guarded by a lock.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from analyzers.base import AnalysisContext
from analyzers.session import AnalysisSession, Filters

FILTER_FIELDS: tuple[str, ...] = (
    "tiers",
    "environments",
    "organizations",
    "sources",
    "customers",
    "api_keys",
)

log = logging.getLogger(__name__)


def _malloc_trim() -> None:
    """Give freed heap pages back to the OS (glibc); a no-op elsewhere."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        if libc is not None and hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)
    except OSError:
        pass


def release_memory() -> None:
    """After a new run replaced the data: collect the old version's frames and caches and return the
    memory to the OS, so the server's footprint does not ratchet up run after run (glibc's per-thread
    malloc arenas and Arrow's pool would otherwise keep the freed pages)."""
    gc.collect()
    _malloc_trim()
    try:  # pandas' text columns live in Arrow's memory pool, which keeps freed pages too
        import pyarrow

        pyarrow.default_memory_pool().release_unused()
    except (ImportError, AttributeError):
        pass


def filters_from_store(stored: dict | None, drill: list | tuple | None = None) -> Filters:
    """A tab's filter store (JSON) and drill path -> the session's immutable Filters."""
    stored = stored or {}

    def _day(v: Any) -> date | None:
        if not v:
            return None
        return date.fromisoformat(str(v)[:10])

    kw = {name: tuple(str(x) for x in (stored.get(name) or ())) for name in FILTER_FIELDS}
    return Filters(
        start=_day(stored.get("start")),
        end=_day(stored.get("end")),
        drill=tuple(str(x) for x in (drill or ()))[:3],
        **kw,
    )


@dataclass(frozen=True)
class Tick:
    """What one refresh found: the data version to publish and the row count behind it."""

    version: int
    rows: int
    new_rows: int
    reset: bool


class DataHub:
    """Lazily opens the session (the file may not exist yet) and tails it on every tick."""

    def __init__(self, path: Path, ctx: AnalysisContext | None = None) -> None:
        self.path = Path(path)
        self.ctx = ctx  # analysis settings (subscriptions file, ...); None = the defaults
        self._lock = threading.Lock()
        self._session: AnalysisSession | None = None
        self._rows = 0
        self._active = False  # new rows arrived since the last quiet tick

    def session(self) -> AnalysisSession | None:
        with self._lock:
            if self._session is None and self.path.exists():
                self._session = AnalysisSession(self.path, self.ctx)
            return self._session

    def tick(self) -> Tick:
        """Tail the file (cheap when nothing was appended) and report the version."""
        session = self.session()
        if session is None:
            return Tick(version=0, rows=0, new_rows=0, reset=False)
        info = session.refresh()
        with self._lock:
            self._rows = info.new_rows if info.reset else self._rows + info.new_rows
            rows = self._rows
        with self._lock:  # the first quiet tick after new data (a run ended, a burst was ingested)
            quiet_again = self._active and not info.new_rows and not info.reset
            self._active = bool(info.new_rows or info.reset) or (self._active and not quiet_again)
        if info.reset:
            log.info("data file replaced (a new run): %s rows read", f"{rows:,}")
        if info.reset or quiet_again:  # off the request path: the tick stays cheap
            threading.Thread(target=release_memory, daemon=True, name="release-memory").start()
        return Tick(version=int(info.version), rows=rows, new_rows=int(info.new_rows), reset=bool(info.reset))

    def overview(self, filters: Filters):
        """The overview for these filters (the session caches it per data version and filters, and
        recomputes it once fresher alerts are ready), shared by the overview's charts."""
        session = self.session()
        if session is None:
            return None
        return session.overview(filters)

    def result(self, name: str, filters: Filters):
        session = self.session()
        if session is None:
            return None
        return session.result(name, filters)

    def alerts(self) -> list:
        """Alerts on all data for the current version (computed now if needed)."""
        session = self.session()
        return [] if session is None else list(session.alerts())

    def alerts_version(self) -> int:
        """Data version of the newest alerts computed in the background (see :meth:`refresh_alerts`)."""
        session = self.session()
        return 0 if session is None else session.latest_alerts()[0]

    def latest_alerts(self) -> list:
        session = self.session()
        return [] if session is None else list(session.latest_alerts()[1])

    def refresh_alerts(self, wait: bool = False) -> None:
        """Recompute alerts for the current data version in the background: the session's one alert
        refresher (``analyzers.live.AlertRefresher``), shared with the overview.

        A tick stays cheap: it only starts the work; the tick after it finishes publishes the new
        alerts version and the toast callback reads :meth:`latest_alerts`.
        """
        session = self.session()
        if session is not None:
            session.refresh_alerts(wait)

    def filter_options(self) -> dict:
        session = self.session()
        if session is None:
            return {}
        return session.filter_options()


_HUBS: dict[Path, DataHub] = {}
_HUBS_LOCK = threading.Lock()


def hub_for(path: Path, ctx: AnalysisContext | None = None) -> DataHub:
    """The one hub per resolved data path in this server process (``ctx`` applies when it is created)."""
    key = Path(path).expanduser().resolve()
    with _HUBS_LOCK:
        hub = _HUBS.get(key)
        if hub is None:
            hub = _HUBS[key] = DataHub(key, ctx)
        return hub
