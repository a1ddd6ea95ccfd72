"""Engines: build the usage cube of a call store partition by partition, then merge.

The store splits into partitions (``metering.partitions``: byte ranges of the CSV cut on line
boundaries, or the files of a Parquet day folder); an engine runs ``build_partition`` on each (the
partition's cube projected onto the views asked for: ``analyzers.cube.View``) and merges each view
across the partitions in partition order (``analyzers.cube.merge_views``), so every engine gives the
same views, bit for bit, for the same partitions:

* ``local`` (default): a process pool on this machine, one partition per worker at a time, so memory
  stays bounded by the workers x the partition size (a single partition runs in this process);
* ``dask``: the same function on a Dask distributed cluster (``scheduler`` = its address, e.g.
  ``tcp://host:8786``; without one a ``LocalCluster`` of worker processes on this machine).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import multiprocessing as mp
import os
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from analyzers import cube as cubes
from metering.partitions import (
    DEFAULT_PARTITION_MB,
    Partition,
    csv_partitions,
    number_lines,
    read_partition,
)
from metering.store import StoreError

ENGINES: tuple[str, ...] = ("local", "dask")
#: the time grain of the engines' cube: days (the ``hourly`` side table keeps the hours the analyses
#: read); an hour grain would hold ~1.3x the cells on generated traffic and tell the analyzers nothing more
GRAIN = "day"

#: progress callback: (partitions done, partitions in all)
Progress = Callable[[int, int], None]


@dataclass
class PartitionCube:
    """What one partition gave: its cube projected onto each view, rows, malformed lines (numbered within
    it) and lines."""

    index: int
    views: dict[cubes.View, cubes.Cube]
    rows: int
    malformed: list[tuple[int, str]] = field(default_factory=list)
    lines: int = 0


@dataclass
class CubeResult:
    """The merged views of a store, its row count and the malformed lines with the file's line numbers."""

    views: cubes.Views
    rows: int
    malformed: list[tuple[int, str]]
    partitions: int
    engine: str

    @property
    def cube(self) -> cubes.Cube:
        """The cube over every dimension (when it was asked for: ``views=(cubes.FULL,)``)."""
        return self.views.cubes[cubes.FULL]


#: glibc ``mallopt`` parameter: allocations of at least this many bytes get their own mapping
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_BYTES = 1 << 20


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library, found once (``find_library`` runs ``ldconfig``: ~7 ms a call)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def _bound_memory() -> None:
    """Give every allocation of 1 MB and more (the cube's and the partitions' arrays) its own mapping,
    returned to the system when freed. glibc otherwise raises that threshold after the first such free
    and serves the next arrays from the heap, which a process building and merging cubes then never
    gives back (measured: 445 vs 277 MB resident after building the cube of a 256 MB file)."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)
        # Arrow's own allocator (mimalloc / jemalloc) keeps freed partitions for reuse: the system
        # allocator under the threshold above gives them back (a worker's peak 350 -> 220 MB at 64 MB)
        pa.set_memory_pool(pa.system_memory_pool())


def _release_memory() -> None:
    """Hand freed heap memory back to the system (after the partition cubes are merged)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def build_partition(part: Partition, views: tuple[cubes.View, ...] = (cubes.FULL,)) -> PartitionCube:
    """Read one partition, build its cube (``GRAIN``, every dimension) and project it onto ``views``
    (``cubes.project_all``). Runs in a worker."""
    _bound_memory()  # in a Dask worker too (a forked local worker has it from the parent)
    read = read_partition(part)
    c = cubes.build(read.table, grain=GRAIN)
    out = PartitionCube(
        part.index, cubes.project_all(c, views), read.table.num_rows, read.malformed, read.lines
    )
    del read, c
    _release_memory()  # the worker idles at its base size until its next partition
    return out


def partitions(
    path: str | os.PathLike[str], partition_mb: float = DEFAULT_PARTITION_MB, workers: int = 1
) -> list[Partition]:
    """The partitions of a CSV store or of a Parquet day folder (``metering.parquet``)."""
    p = Path(path)
    if p.is_dir():
        return [Partition(str(f), i, "parquet") for i, f in enumerate(_day_files(p))]
    return csv_partitions(p, partition_mb, min_parts=workers)


def _day_files(folder: Path) -> list[Path]:
    from metering.parquet import day_files

    files = day_files(folder)
    if not files:
        raise StoreError(
            f"{folder}: no Parquet day partitions (date=YYYY-MM-DD/*.parquet) in this folder; "
            "write them with `revenium-flow compact`"
        )
    return files


#: partitions whose views the parent merges at a time, in partition order (``_Merger``)
MERGE_EVERY = 16


class _Merger:
    """Folds the partitions' views into one ``cubes.Views`` as they come back, in any order, so that the
    parent holds the merged views plus at most a few partitions' instead of every partition's (each
    carries its own side tables: ~5 MB per 32 MB partition). The folds are fixed by the partition
    indices alone — partitions [0, k), then [k, 2k), ... merged into the running views in index order —
    so every engine and every arrival order gives the same views, bit for bit."""

    def __init__(self, views: tuple[cubes.View, ...]) -> None:
        self.views = views
        self.merged: cubes.Views | None = None
        self.pending: dict[int, dict[cubes.View, cubes.Cube]] = {}
        self.next = 0
        self.done: list[PartitionCube] = []

    def add(self, r: PartitionCube) -> None:
        self.pending[r.index] = r.views
        r.views = {}  # the merge lets each column go once copied
        self.done.append(r)
        while all(i in self.pending for i in range(self.next, self.next + MERGE_EVERY)):
            self._fold(MERGE_EVERY)

    def _fold(self, k: int) -> None:
        batch = [self.pending.pop(i) for i in range(self.next, self.next + k)]
        self.next += k
        if self.merged is not None:
            batch.insert(0, self.merged.cubes)
            self.merged = None
        self.merged = cubes.merge_views(batch, release=_release_memory)

    def result(self, engine: str) -> CubeResult:
        """Every view merged across the partitions (``cubes.merge_views``) with the rows and malformed lines."""
        if self.pending:
            self._fold(len(self.pending))
        merged = self.merged
        if merged is None:
            merged = cubes.Views(cubes.project_all(cubes.empty(GRAIN), self.views))
        _release_memory()
        parts = sorted(self.done, key=lambda r: r.index)
        return CubeResult(
            views=merged,
            rows=sum(r.rows for r in parts),
            malformed=number_lines([(r.malformed, r.lines) for r in parts]),
            partitions=len(parts),
            engine=engine,
        )


def _run_local(parts: list[Partition], merger: _Merger, workers: int, progress: Progress | None) -> None:
    if len(parts) <= 1 or workers <= 1:
        for i, p in enumerate(parts):
            merger.add(build_partition(p, merger.views))
            if progress:
                progress(i + 1, len(parts))
        return
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(parts)), mp_context=ctx) as pool:
        futures = {pool.submit(build_partition, p, merger.views) for p in parts}
        for n, fut in enumerate(as_completed(futures), 1):
            futures.discard(fut)  # the future holds its result: let it go once merged
            merger.add(fut.result())
            if progress:
                progress(n, len(parts))


def _run_dask(
    parts: list[Partition],
    merger: _Merger,
    scheduler: str | None,
    workers: int,
    progress: Progress | None,
) -> None:
    from distributed import Client, LocalCluster
    from distributed import as_completed as dask_completed

    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
    try:
        futures = client.map(build_partition, parts, views=merger.views, pure=False)
        running = dask_completed(futures)
        del futures
        for n, fut in enumerate(running, 1):
            merger.add(fut.result())
            fut.release()  # the worker lets the partition's views go
            if progress:
                progress(n, len(parts))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def build_cube(
    path: str | os.PathLike[str],
    *,
    engine: str = "local",
    scheduler: str | None = None,
    partition_mb: float = DEFAULT_PARTITION_MB,
    workers: int | None = None,
    progress: Progress | None = None,
    views: tuple[cubes.View, ...] = (cubes.FULL,),
) -> CubeResult:
    """The usage cube of the store at ``path`` (CSV file or Parquet day folder), built by ``engine`` and
    projected onto ``views`` (default: the cube over every dimension) partition by partition: only the
    views are merged across partitions."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")
    n = workers if workers is not None else (os.cpu_count() or 1)
    _bound_memory()
    parts = partitions(path, partition_mb, n)
    merger = _Merger(tuple(dict.fromkeys(views)))
    if engine == "dask":
        _run_dask(parts, merger, scheduler, n, progress)
    else:
        _run_local(parts, merger, n, progress)
    return merger.result(engine)


@dataclass
class StoreAnalysis:
    """What ``analyze_store`` gives: results in registry order, seconds per analyzer, the summary
    figures (``analyzers.summary``), the malformed lines and how the cube was built."""

    results: dict
    timings: dict[str, float]
    figures: dict
    malformed: list[tuple[int, str]]
    partitions: int
    engine: str


def analyze_store(
    path: str | os.PathLike[str],
    ctx: object,
    names: list[str],
    *,
    engine: str = "local",
    scheduler: str | None = None,
    partition_mb: float = DEFAULT_PARTITION_MB,
    workers: int | None = None,
    progress: Progress | None = None,
) -> StoreAnalysis:
    """Run ``names`` on the store at ``path`` (CSV or Parquet day folder).

    Every analyzer reads the usage cube (``registry.CUBE_ANALYZERS``), built by ``engine`` partition by
    partition and projected onto the views the analyzers and the summary declare (``registry.views``):
    the rows are never held at once, nor the cube over every dimension of the whole store. Raises ``metering.store.StoreError`` for an unusable file and ``EmptyStore`` without a valid row.
    """
    import time

    from analyzers import registry
    from analyzers.summary import VIEWS, cube_summary

    built = build_cube(
        path,
        engine=engine,
        scheduler=scheduler,
        partition_mb=partition_mb,
        workers=workers,
        progress=progress,
        views=(*registry.views(names), *VIEWS),
    )
    if built.rows == 0:
        raise EmptyStore(built.malformed)
    results, timings = {}, {}
    for name in names:
        t0 = time.perf_counter()
        results[name] = registry.run_cube(name, built.views, ctx)
        timings[name] = time.perf_counter() - t0
    return StoreAnalysis(
        results, timings, cube_summary(built.views), built.malformed, built.partitions, engine
    )


class EmptyStore(ValueError):
    """The store holds no valid row; ``malformed`` says why when lines were skipped."""

    def __init__(self, malformed: list[tuple[int, str]]) -> None:
        self.malformed = malformed
        first = f" (first: line {malformed[0][0]}: {malformed[0][1]})" if malformed else ""
        why = (
            f"all {len(malformed):,} data lines are malformed{first}"
            if malformed
            else "the file holds no call rows"
        )
        super().__init__(f"no valid rows to analyze: {why}; check it with `revenium-flow validate`")
