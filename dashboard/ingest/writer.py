"""Group commit: one writer thread appends the rows of many concurrent requests with one fsync.

A request hands its validated records (and the idempotency keys they settle) to ``GroupCommitWriter
.submit`` and blocks. The writer drains everything queued, prices the rows that came without a cost in
one vectorized ``Catalog.price_calls``, appends them through ``CallStore`` (flock + one fsync), commits
the idempotency keys, and only then releases every waiting request. So each 2xx still means "durable",
while the fsync and pricing costs are shared by the whole batch. When the previous batch held more
than one request (concurrent clients), the writer lingers ``commit_delay`` (2 ms) for more before it
writes: fewer, larger commits at the price of at most 2 ms of latency; a lone client never waits.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dashboard.ingest.idempotency import Entry, IdempotencyLedger
from metering.prices import Catalog
from metering.schema import COLUMNS
from metering.store import CallStore

log = logging.getLogger(__name__)

_STOP = object()


class WriteFailed(RuntimeError):
    """The rows could not be stored (disk full, file not writable, ...); nothing was acknowledged."""


@dataclass
class Job:
    """Rows of one request, the keys they settle, and the outcome the request waits for."""

    records: list[dict[str, Any]]
    entries: list[Entry]
    arrays: dict[str, pa.Array] | None = None  # the rows already as columns (bulk route) instead of records
    done: threading.Event = field(default_factory=threading.Event)
    costs: list[float | None] = field(default_factory=list)
    error: str | None = None

    @property
    def rows(self) -> int:
        return len(self.records) if self.arrays is None else len(self.arrays["call_id"])


def records_to_arrays(records: list[dict[str, Any]]) -> dict[str, pa.Array]:
    """Column arrays for ``CallStore.append`` from mapped records (already validated, defaults filled)."""
    arrays: dict[str, pa.Array] = {}
    for col in COLUMNS:
        values = [r.get(col.name) for r in records]
        if col.kind == "int":
            # a column a mapping does not fill (e.g. cache_creation_tokens from OTLP) takes its default
            arrays[col.name] = pa.array(
                [int(float(col.default if v is None or v == "" else v)) for v in values], pa.int64()
            )
        elif col.kind == "float":
            arrays[col.name] = pa.array(
                [np.nan if v is None or v == "" else float(v) for v in values], pa.float64()
            )
        else:  # timestamps are already the store's text form
            arrays[col.name] = pa.array(["" if v is None else str(v) for v in values], pa.string())
    return arrays


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
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.ledger = ledger
        self.max_batch_rows = max_batch_rows
        self.commit_delay = commit_delay
        self._concurrent = False
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
        self._closed = False
        self.batches = 0
        self.rows_written = 0
        self._thread.start()

    def submit(
        self,
        records: list[dict[str, Any]],
        entries: list[Entry],
        timeout: float = 60.0,
        *,
        arrays: dict[str, pa.Array] | None = None,
    ) -> Job:
        """Queue rows (mapped records, or ``arrays`` as ``records_to_arrays`` gives them) and wait until
        they are durable (``job.error`` is set when they are not)."""
        job = Job(records, entries, arrays)
        if self._closed:
            job.error = "the ingest writer is shut down"
            return job
        self._queue.put(job)
        if not job.done.wait(timeout):
            job.error = f"the rows were not written within {timeout:.0f} s"
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
            jobs = [item]
            rows = item.rows
            stop = False
            # under concurrent load, linger a moment for more requests: fewer, larger commits
            deadline = time.monotonic() + (self.commit_delay if self._concurrent else 0.0)
            while rows < self.max_batch_rows:
                try:
                    wait = deadline - time.monotonic()
                    more = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop = True
                    break
                jobs.append(more)
                rows += more.rows
            self._concurrent = len(jobs) > 1
            self._write(jobs)
            if stop:
                return

    def _write(self, jobs: list[Job]) -> None:
        # record jobs become columns together, then the column jobs follow: costs come back in this order
        ordered = [j for j in jobs if j.arrays is None] + [j for j in jobs if j.arrays is not None]
        records = [r for j in ordered if j.arrays is None for r in j.records]
        parts = ([records_to_arrays(records)] if records else []) + [
            j.arrays for j in ordered if j.arrays is not None
        ]
        rows = sum(j.rows for j in ordered)
        entries = [e for j in ordered for e in j.entries]
        try:
            costs: np.ndarray = np.zeros(0)
            if rows:
                arrays = parts[0] if len(parts) == 1 else _concat(parts)
                costs = price_missing(arrays, self.catalog)
                arrays["cost_usd"] = pa.array(costs, pa.float64())
                self.store.append(arrays)
            self.ledger.commit(entries)
        except Exception as exc:  # disk full, permissions, a replaced file with a foreign header, ...
            log.exception("ingest: writing %d row(s) failed", rows)
            self.ledger.release([e.key for e in entries])
            for j in jobs:
                j.error = f"{type(exc).__name__}: {exc}"
                j.done.set()
            return
        self.batches += 1
        self.rows_written += rows
        start = 0
        for j in ordered:
            n = j.rows
            part = costs[start : start + n]
            j.costs = np.where(np.isnan(part), None, part).tolist()
            start += n
            j.done.set()


def _concat(parts: list[dict[str, pa.Array]]) -> dict[str, pa.Array]:
    return {name: pa.concat_arrays([p[name] for p in parts]) for name in parts[0]}
