"""Group commit: one writer thread appends the rows of many concurrent requests with one fsync.

A request hands its validated records (and the idempotency keys they settle) to ``GroupCommitWriter
.submit`` and blocks. The writer drains everything queued, prices the rows that came without a cost in
one vectorized ``Catalog.price_calls``, appends them through ``CallStore`` (flock + one fsync), commits
the idempotency keys, and only then releases every waiting request. So each 2xx still means "durable",
while the fsync and pricing costs are shared by the whole batch. When the previous batch held more
than one request (concurrent clients), the writer lingers ``commit_delay`` (2 ms) for more before it
writes, and past that for as long as a request is still validating its body (``arriving``, up to
``max_linger`` = 6 ms): fewer, larger commits (less CPU per row) at the price of a few milliseconds of
latency; a lone client never waits. Up to ``FAST_PATH_ROWS`` single records are priced and formatted
without Arrow (``price_records``, ``format_record_lines``: the same costs and bytes as the Arrow path).

One request can never stop the writer: anything unexpected while a drained group is written fails
that group without writing a row (``CallStore`` truncates what a failed append had written), and when
the group held several requests each is then retried alone, so only the request that caused the
failure gets the error (naming its request id, logged). Should the thread die all the same, the next
``submit`` (or ``health``) restarts it, and the jobs it held are failed instead of waiting out their
timeout. ``health()`` reports all of this without file-system paths.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingest.idempotency import Entry, IdempotencyLedger
from metering.prices import Catalog
from metering.schema import BY_NAME
from metering.store import CallStore, records_to_columns
from metering.store_append import ColumnOrderError, UnsyncedRowsKept
from metering.store_format import format_record_lines

log = logging.getLogger(__name__)

_STOP = object()
_WAKE = object()  # a request stopped arriving without a job (a 4xx): a lingering writer looks again
#: a group of at most this many single records is priced and formatted without Arrow (its fixed cost
#: per column outweighs a few rows); larger groups and the bulk route's arrays go through Arrow
FAST_PATH_ROWS = 256
#: anything that looks like an absolute file-system path (kept out of answers and the status route)
_PATH_RE = re.compile(r"(?<![\w.<])/[^\s:'\",;)]+")


def new_request_id() -> str:
    """A fresh request id: 16 random hex digits (``os.urandom``; uuid4 cost several times as much)."""
    return os.urandom(8).hex()


@dataclass
class Job:
    """Rows of one request, the keys they settle, and the outcome the request waits for."""

    records: list[dict[str, Any]]
    entries: list[Entry]
    arrays: dict[str, pa.Array] | None = None  # the rows already as columns (bulk route) instead of records
    request_id: str = field(default_factory=new_request_id)
    done: threading.Event = field(default_factory=threading.Event)
    costs: list[float | None] = field(default_factory=list)
    error: str | None = None
    #: True when the writer itself failed (a 5xx); False for timeouts and shutdown (retry later)
    failed: bool = False

    @property
    def rows(self) -> int:
        return len(self.records) if self.arrays is None else len(self.arrays["call_id"])


def price_missing(arrays: dict[str, pa.Array], catalog: Catalog) -> np.ndarray:
    """Cost per row: the sent cost where there is one, else the catalog price at call time (NaN = unpriced)."""
    cost = arrays["cost_usd"].to_numpy(zero_copy_only=False).astype(np.float64)
    todo = np.flatnonzero(np.isnan(cost))
    if len(todo) == 0:
        return cost
    pick = None if len(todo) == len(cost) else pa.array(todo)  # usually every row: no gather needed

    def rows(name: str) -> pa.Array:
        return arrays[name] if pick is None else arrays[name].take(pick)

    def col(name: str) -> np.ndarray:
        return rows(name).to_numpy(zero_copy_only=False)

    cost[todo] = catalog.price_calls(
        col("provider"),
        col("model"),
        col("input_tokens"),
        col("output_tokens"),
        col("cached_tokens"),
        col("reasoning_tokens"),
        stamp_instants(rows("timestamp")),
        col("cache_creation_tokens") if "cache_creation_tokens" in arrays else None,
    )
    return cost


def price_records(records: list[dict[str, Any]], catalog: Catalog) -> np.ndarray | None:
    """``price_missing(records_to_columns(records), catalog)`` for a few records, without Arrow or pandas.

    None when a record holds a value that path would convert otherwise (a number that is not an int or
    float, a timestamp not in the store's text): the caller then takes ``price_missing`` (tested equal).
    """
    try:
        cost = np.array(
            [np.nan if (v := r.get("cost_usd")) is None or v == "" else float(v) for r in records],
            dtype=np.float64,
        )
    except (TypeError, ValueError, OverflowError):
        return None
    todo = np.flatnonzero(np.isnan(cost)).tolist()
    if not todo:
        return cost
    rows = [records[i] for i in todo]
    codes: dict[tuple[str, str], int] = {}
    code = [codes.setdefault((_text(r.get("provider")), _text(r.get("model"))), len(codes)) for r in rows]
    counts = {}
    for name in _PRICED_INTS:
        default = BY_NAME[name].default
        values = []
        for r in rows:
            v = r.get(name)
            v = default if v is None or v == "" else v
            if v is None:
                values.append(np.nan)
            elif type(v) in (int, float) and abs(v) < 2**53:
                values.append(float(int(float(v))))
            else:
                return None
        counts[name] = np.array(values, dtype=np.float64)
    stamps = [r.get("timestamp") for r in rows]
    if not all(type(t) is str and len(t) == 24 and t.isascii() and t[23] == "Z" for t in stamps):
        return None
    try:
        instants = np.array([t[:23] for t in stamps], dtype="datetime64[ms]")
    except ValueError:
        return None
    cost[todo] = catalog.price_keys(
        list(codes),
        np.array(code, dtype=np.int64),
        counts["input_tokens"],
        counts["output_tokens"],
        counts["cached_tokens"],
        counts["reasoning_tokens"],
        instants,
        cache_creation_tokens=counts["cache_creation_tokens"],
    )
    return cost


#: the token counts ``price_missing`` reads
_PRICED_INTS = ("input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "cache_creation_tokens")


def _text(v: Any) -> str:
    """A text column's value as ``records_to_columns`` stores it."""
    return "" if v is None else str(v)


def stamp_instants(text: pa.Array) -> np.ndarray:
    """The store's timestamp text (``YYYY-MM-DDTHH:MM:SS.mmmZ``, UTC) as numpy datetime64[ms], in C."""
    naive = pc.utf8_slice_codeunits(text, 0, 23)  # drop the trailing Z: every stamp here is UTC
    return pc.cast(naive, pa.timestamp("ms")).to_numpy(zero_copy_only=False)


class GroupCommitWriter:
    """The single thread that turns queued jobs into durable rows, one fsync per drained batch."""

    def __init__(
        self,
        store: CallStore,
        catalog: Catalog,
        ledger: IdempotencyLedger,
        *,
        max_batch_rows: int = 100_000,
        commit_delay: float = 0.002,
        max_linger: float = 0.006,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.ledger = ledger
        self.max_batch_rows = max_batch_rows
        self.commit_delay = commit_delay
        self.max_linger = max(max_linger, commit_delay)
        self._arriving = 0  # requests between ``arriving()`` and their ``submit`` (validating their body)
        self._arriving_lock = threading.Lock()
        self._concurrent = False
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        self._start_lock = threading.Lock()
        self._current: list[Job] = []  # the jobs the thread holds right now (failed if it dies)
        self.batches = 0
        self.fast_batches = 0  # of them, written by the fast path (``_append_records``)
        self.rows_written = 0
        self.failed_batches = 0
        self.restarts = 0
        self.last_error: dict[str, Any] | None = None
        self._thread = self._new_thread()

    def _new_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
        thread.start()
        return thread

    def ensure_running(self) -> bool:
        """The supervisor: restart the writer thread if it has stopped (False when it had to)."""
        if self._closed or self._thread.is_alive():
            return True
        with self._start_lock:
            if self._closed or self._thread.is_alive():
                return True
            held, self._current = self._current, []
            for job in held:  # what the dead thread held can no longer be written by it
                self._fail(job, "the ingest writer stopped while writing; nothing was stored", failed=True)
            self.restarts += 1
            log.error("ingest: the writer thread had stopped; restarted (restart %d)", self.restarts)
            self._thread = self._new_thread()
            return False

    def health(self) -> dict[str, Any]:
        """Writer state for the status route: alive, queue depth, counts, the last error (no paths)."""
        self.ensure_running()
        return {
            "alive": self._thread.is_alive(),
            "queue_depth": self._queue.qsize(),
            "batches": self.batches,
            "rows_written": self.rows_written,
            "failed_batches": self.failed_batches,
            "restarts": self.restarts,
            "last_error": self.last_error,
        }

    @contextlib.contextmanager
    def arriving(self) -> Iterator[Arrival]:
        """Around a request's work before ``submit`` (reading, parsing, validating its body): while such
        requests are under way, a lingering writer waits for them (up to ``max_linger``) so that they
        join the same commit. Pass the ``Arrival`` to ``submit``; leaving the block without (a 4xx)
        ends it too."""
        with self._arriving_lock:
            self._arriving += 1
        arrival = Arrival(self)
        try:
            yield arrival
        finally:
            arrival.end()

    def submit(
        self,
        records: list[dict[str, Any]],
        entries: list[Entry],
        timeout: float = 60.0,
        *,
        arrays: dict[str, pa.Array] | None = None,
        request_id: str | None = None,
        arrival: Arrival | None = None,
    ) -> Job:
        """Queue rows (mapped records, or ``arrays`` as ``records_to_columns`` gives them) and wait until
        they are durable (``job.error`` is set when they are not)."""
        job = Job(records, entries, arrays, request_id=request_id or new_request_id())
        if self._closed:
            job.error = "the ingest writer is shut down"
            return job
        self.ensure_running()
        self._queue.put(job)
        if arrival is not None:  # after the put: a writer that sees no request arriving finds this job
            arrival.end(submitted=True)
        deadline = time.monotonic() + timeout
        while not job.done.wait(min(1.0, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                job.error = f"the rows were not written within {timeout:.0f} s"
                break
            self.ensure_running()  # a writer that died fails the jobs it held: no 60 s wait
        return job

    def close(self, timeout: float = 10.0) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if item is _WAKE:
                continue
            jobs = [item]
            self._current = jobs
            rows = item.rows
            stop = False
            # under concurrent load, linger a moment for more requests: fewer, larger commits; past
            # commit_delay, only while requests are still validating their bodies (up to max_linger)
            start = time.monotonic()
            deadline = start + (self.commit_delay if self._concurrent else 0.0)
            last = start + (self.max_linger if self._concurrent else 0.0)
            while rows < self.max_batch_rows:
                now = time.monotonic()
                wait = (deadline if now < deadline or not self._arriving else last) - now
                try:
                    more = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    if self._arriving and time.monotonic() < last:
                        continue
                    break
                if more is _STOP:
                    stop = True
                    break
                if more is _WAKE:
                    continue
                jobs.append(more)
                rows += more.rows
            self._concurrent = len(jobs) > 1
            try:
                if not self._write(jobs) and not all(job.done.is_set() for job in jobs):
                    for job in jobs:  # find the request that failed the group: each alone
                        job.error, job.failed = None, False
                        self._write([job])
            except Exception as exc:  # a bug in the code above: fail what is held, keep serving
                log.exception("ingest: writer loop error")
                for job in jobs:
                    if not job.done.is_set():
                        self._fail(job, self._describe(exc), failed=True)
            self._current = []
            if stop:
                return

    def _write(self, jobs: list[Job]) -> bool:
        """Write the jobs as one group; True when stored. On failure nothing is written, every job
        carries the error, and a lone job is released (a group is retried job by job by ``_run``) -
        except after ``UnsyncedRowsKept`` (rows left in the file): then every job is released at once."""
        ordered = [j for j in jobs if j.arrays is None] + [j for j in jobs if j.arrays is not None]
        rows = sum(j.rows for j in ordered)
        entries = [e for j in ordered for e in j.entries]
        try:
            records = [r for j in ordered if j.arrays is None for r in j.records]
            costs = self._append_records(records) if 0 < rows == len(records) <= FAST_PATH_ROWS else None
            if costs is None and rows:
                parts = ([records_to_columns(records)] if records else []) + [
                    j.arrays for j in ordered if j.arrays is not None
                ]
                arrays = parts[0] if len(parts) == 1 else _concat(parts)
                costs = price_missing(arrays, self.catalog)
                arrays["cost_usd"] = pa.array(costs, pa.float64())
                self.store.append(arrays)
            if costs is None:
                costs = np.zeros(0)
            self.ledger.commit(entries)
        except Exception as exc:  # a value Arrow cannot hold, disk full, a foreign header, a bug, ...
            ids = [j.request_id for j in jobs]
            log.exception("ingest: writing %d row(s) of request(s) %s failed", rows, ", ".join(ids))
            # a group keeps its keys claimed: its jobs are retried one by one; not when its rows stayed
            # in the file (a retry would store them twice)
            final = len(jobs) == 1 or isinstance(exc, UnsyncedRowsKept)
            if final:
                self.ledger.release([e.key for e in entries])
            self.failed_batches += 1
            message = self._describe(exc)
            self.last_error = {
                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "request_ids": ids[:20],
                "rows": rows,
                "error": message,
            }
            for j in jobs:
                j.error, j.failed = message, True
                if final:
                    j.done.set()
            return False
        self.batches += 1
        self.rows_written += rows
        start = 0
        for j in ordered:
            n = j.rows
            part = costs[start : start + n]
            j.costs = np.where(np.isnan(part), None, part).tolist()
            start += n
            j.done.set()
        return True

    def _append_records(self, records: list[dict[str, Any]]) -> np.ndarray | None:
        """The fast path for a few single records: priced and formatted without Arrow (the same costs and
        bytes as the Arrow path, tested), appended as lines; None (nothing written) when it does not apply."""
        costs = price_records(records, self.catalog)
        lines = None if costs is None else format_record_lines(records, {"cost_usd": costs})
        if lines is None:
            return None
        try:
            self.store.append_lines(lines, len(records))
        except ColumnOrderError:  # a file in another column order: the Arrow path writes its order
            return None
        self.fast_batches += 1
        return costs

    def _fail(self, job: Job, message: str, *, failed: bool) -> None:
        job.error, job.failed = message, failed
        job.done.set()

    def _describe(self, exc: BaseException) -> str:
        """The error for clients and the status route: its type and reason, never a file-system path."""
        text = (exc.strerror or str(exc)) if isinstance(exc, OSError) else str(exc)
        path = os.path.abspath(self.store.path)
        text = text.replace(path, "<data file>").replace(str(self.store.path), "<data file>")
        text = _PATH_RE.sub("<path>", text)
        return f"{type(exc).__name__}: {text[:300]}"


class Arrival:
    """One request on its way to ``submit`` (see ``GroupCommitWriter.arriving``); ``end`` is idempotent."""

    __slots__ = ("_writer",)

    def __init__(self, writer: GroupCommitWriter) -> None:
        self._writer: GroupCommitWriter | None = writer

    def end(self, submitted: bool = False) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            with writer._arriving_lock:
                writer._arriving -= 1
            if not submitted:
                writer._queue.put(_WAKE)


def _concat(parts: list[dict[str, pa.Array]]) -> dict[str, pa.Array]:
    return {name: pa.concat_arrays([p[name] for p in parts]) for name in parts[0]}
