"""Idempotency-Key ledger: a repeated key with the same body is the same record, written once.

Committed keys live in a sqlite file beside the CSV (``<csv>.idempotency.sqlite``) so that they survive
a restart; they are kept for ``ttl_seconds`` (48 h by default, the contract asks for at least 24 h).
Keys whose request is still being written are *in flight*: a second request with the same key waits
for the first one's outcome instead of racing it. Keys are scoped by the API key that sent them.

Order of durability (at-least-once): the row is fsynced first, then the key is committed. A crash
between the two makes a retry write the row again; it can never acknowledge a row that was not stored.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

NEW, DUPLICATE, CONFLICT = "new", "duplicate", "conflict"
DEFAULT_TTL_SECONDS = 48 * 3600
PRUNE_EVERY_SECONDS = 600.0


class LedgerBusy(RuntimeError):
    """The request that holds the same key did not finish in time; the client should retry."""


def ledger_path(csv_path: Path) -> Path:
    return csv_path.with_name(csv_path.name + ".idempotency.sqlite")


#: the canonical text a body's digest is taken of: sorted keys, no spaces. ``check_circular=False``: a
#: parsed JSON document has no cycles, and the check cost a third of the encoding (same text either way)
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True, check_circular=False
)


def body_digest(body: Any) -> str:
    """Digest of a parsed JSON body: the same document with other spacing or key order is the same body."""
    return hashlib.sha256(_CANONICAL.encode(body).encode("utf-8", "surrogatepass")).hexdigest()


@functools.lru_cache(maxsize=256)
def scope_of(api_key: str) -> str:
    """Short, non-reversible scope name for an API key (keys of different clients never collide).

    Cached: it is asked on every request, only for keys that passed authentication."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Entry:
    """A key to commit once its rows are durable, with the response a replay gets."""

    key: str
    digest: str
    response: dict[str, Any]


class IdempotencyLedger:
    """Claim, commit and release idempotency keys; safe for many request threads and one writer."""

    def __init__(
        self,
        path: Path,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        wait_seconds: float = 30.0,
    ) -> None:
        self.path = Path(path)
        # Any number of processes may use the file (the dashboard's built-in ingest beside
        # ``revenium-flow ingest --workers N`` on the same CSV): keys in flight are also recorded in the
        # sqlite table ``inflight``, so two processes never both own one key.
        self.ttl_seconds = ttl_seconds
        self.wait_seconds = wait_seconds
        self._lock = threading.Lock()
        # one sqlite write transaction at a time per process: request threads queue here (cheap) instead
        # of in sqlite's busy handler (which sleeps in steps of milliseconds); processes still use sqlite's
        self._txn = threading.Lock()
        self._released = threading.Condition(self._lock)  # waiters on an in-flight key sleep here
        self._waiters = 0
        self._inflight: dict[str, str] = {}  # key -> digest of the request that owns it
        self._last_prune = 0.0
        self._write = self._connect()
        # one read connection per request thread: look-ups run in parallel, outside the lock
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []

    def _connect(self) -> sqlite3.Connection:
        """Open (creating if needed) the ledger. Processes open it one at a time (``<ledger>.lock``); a
        ledger that is only busy (another process holds a lock on it) is waited for, never replaced;
        only a file sqlite calls corrupt or not a database is moved aside (with its -wal and -shm)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _exclusive(self.path.with_name(self.path.name + ".lock")):
            try:
                return self._open_waiting()
            except sqlite3.DatabaseError as exc:
                if _error_code(exc) not in _UNREADABLE:
                    raise
                aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
                log.warning(
                    "idempotency ledger %s unreadable (%s); moved to %s, starting empty",
                    self.path,
                    exc,
                    aside,
                )
                for suffix in ("", "-wal", "-shm"):
                    with contextlib.suppress(FileNotFoundError):
                        Path(f"{self.path}{suffix}").rename(f"{aside}{suffix}")
                return self._open_waiting()

    def _open_waiting(self) -> sqlite3.Connection:
        """``_open``, retried while sqlite answers busy or locked (it does not always wait by itself,
        e.g. for the journal-mode switch), for up to ``wait_seconds``."""
        deadline = time.monotonic() + self.wait_seconds
        pause = 0.005
        while True:
            try:
                return self._open()
            except sqlite3.OperationalError as exc:
                if _error_code(exc) not in _BUSY or time.monotonic() >= deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.1)

    def _open(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0, isolation_level=None)
        try:
            self._set_up(con)
        except BaseException:
            con.close()
            raise
        return con

    @staticmethod
    def _set_up(con: sqlite3.Connection) -> None:
        if con.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute(
            "CREATE TABLE IF NOT EXISTS idempotency ("
            " key TEXT PRIMARY KEY, digest TEXT NOT NULL, response TEXT NOT NULL, created REAL NOT NULL)"
        )
        con.execute("CREATE INDEX IF NOT EXISTS idempotency_created ON idempotency(created)")
        con.execute(
            "CREATE TABLE IF NOT EXISTS inflight ("
            " key TEXT PRIMARY KEY, digest TEXT NOT NULL, pid INTEGER NOT NULL, claimed REAL NOT NULL)"
        )

    def _reader(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0, isolation_level=None)
            with self._lock:
                self._readers.append(con)
            self._local.con = con
        return con

    def claim(self, key: str, digest: str) -> tuple[str, dict[str, Any] | None]:
        """NEW (the caller now owns the key: commit or release it), DUPLICATE (+ original response) or CONFLICT.

        The key is taken in memory first (a second request with it waits here), then looked up in the
        ledger without holding the lock; a key found there is given back at once.
        """
        deadline = time.monotonic() + self.wait_seconds
        with self._lock:
            while (holder := self._inflight.get(key)) is not None:
                if holder != digest:
                    return CONFLICT, None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise LedgerBusy(f"another request with Idempotency-Key {key!r} is still being written")
                self._waiters += 1
                try:
                    self._released.wait(remaining)
                finally:
                    self._waiters -= 1
            self._inflight[key] = digest
        try:
            return self._claim_shared(key, digest, deadline)
        except BaseException:
            self.release([key])
            raise

    def _claim_shared(self, key: str, digest: str, deadline: float) -> tuple[str, dict[str, Any] | None]:
        """Across processes: in one sqlite write transaction, look the key up and mark it in flight.

        A key in flight in another (live) process is waited for by polling, as the in-process wait does;
        a mark left by a process that died is taken over.
        """
        con = self._reader()
        pause = 0.002
        while True:
            with self._transaction(con):
                row = con.execute(
                    "SELECT digest, response FROM idempotency WHERE key = ? AND created >= ?",
                    (key, time.time() - self.ttl_seconds),
                ).fetchone()
                held = (
                    None
                    if row
                    else con.execute(
                        "SELECT digest, pid, claimed FROM inflight WHERE key = ?", (key,)
                    ).fetchone()
                )
                if row is None and (held is None or _stale(held)):
                    con.execute(
                        "INSERT OR REPLACE INTO inflight(key, digest, pid, claimed) VALUES (?, ?, ?, ?)",
                        (key, digest, os.getpid(), time.time()),
                    )
            if row is not None:
                self._release_local([key])
                return (CONFLICT, None) if row[0] != digest else (DUPLICATE, json.loads(row[1]))
            if held is None or _stale(held):
                return NEW, None
            if held[0] != digest:
                self._release_local([key])
                return CONFLICT, None
            if time.monotonic() >= deadline:
                raise LedgerBusy(f"another request with Idempotency-Key {key!r} is still being written")
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def commit(self, entries: list[Entry]) -> None:
        """Record keys whose rows are durable (one transaction), then wake requests waiting on them."""
        if entries:
            now = time.time()
            keys = [e.key for e in entries]
            try:
                with self._transaction(self._write):
                    self._write.executemany(
                        "INSERT OR REPLACE INTO idempotency(key, digest, response, created)"
                        " VALUES (?, ?, ?, ?)",
                        [(e.key, e.digest, json.dumps(e.response), now) for e in entries],
                    )
                    self._write.executemany("DELETE FROM inflight WHERE key = ?", [(k,) for k in keys])
            except BaseException:
                self.release(keys)  # not committed: give the keys back everywhere
                raise
            self._release_local(keys)  # their marks went with the commit
        self._maybe_prune()

    def release(self, keys: list[str]) -> None:
        """Give keys back without committing (their write failed): waiters retry the claim."""
        if keys:
            con = self._reader()
            with self._transaction(con):
                con.executemany(
                    "DELETE FROM inflight WHERE key = ? AND pid = ?", [(k, os.getpid()) for k in keys]
                )
        self._release_local(keys)

    @contextlib.contextmanager
    def _transaction(self, con: sqlite3.Connection) -> Iterator[None]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT, ROLLBACK on error), one per process at a time."""
        with self._txn:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def _release_local(self, keys: list[str]) -> None:
        with self._lock:
            for k in keys:
                self._inflight.pop(k, None)
            if self._waiters:
                self._released.notify_all()

    def _maybe_prune(self) -> None:
        now = time.time()
        if now - self._last_prune < PRUNE_EVERY_SECONDS:
            return
        self._last_prune = now
        with self._txn:
            self._write.execute("DELETE FROM idempotency WHERE created < ?", (now - self.ttl_seconds,))

    def count(self) -> int:
        return int(self._reader().execute("SELECT COUNT(*) FROM idempotency").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            for con in (*self._readers, self._write):
                con.close()
            self._readers.clear()


#: sqlite primary result codes: busy or locked (wait), corrupt or not a database (move the file aside)
_BUSY = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED
_UNREADABLE = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB


def _error_code(exc: sqlite3.Error) -> int | None:
    """The primary sqlite result code of ``exc`` (extended codes carry it in their low byte)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on a small side file (never on the sqlite file: closing another descriptor
    of it would drop sqlite's own POSIX locks)."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the flock


#: a mark older than this is taken over even if its pid is alive (the pid may have been reused)
STALE_INFLIGHT_SECONDS = 600.0


def _stale(held: tuple[str, int, float]) -> bool:
    """Whether an in-flight mark no longer protects its key: its process is gone, or it is too old."""
    return not _alive(int(held[1])) or time.time() - float(held[2]) > STALE_INFLIGHT_SECONDS


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (a key it marked in flight is still being written)."""
    from metering.manifest import pid_alive  # the one liveness check (generator runs use it too)

    return pid == os.getpid() or pid_alive(pid)
