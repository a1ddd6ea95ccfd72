"""The usage cube: the sums every analysis needs, per UTC hour or day x the usage dimensions.

One cube cell is one combination of (UTC hour or day: the cube's ``grain``, customer, tier, organization, product, feature, task
type, model, provider, environment, source, region, API key id); it holds the sums over the calls in
it (``SUMS``) and the first and last call time. Beside the cells the cube keeps a latency sketch per
(provider, model): counts of calls per fixed log-spaced latency bucket (``SKETCH_METHOD``), from which
percentiles come back within ``SKETCH_ACCURACY`` relative error. A full cube (every dimension) also
keeps side tables (``SIDES``), among them the cost and calls per (UTC hour, provider, model), so that a
day-grain cube (what the engines build: hours multiply the cells without telling an analyzer more)
still answers the hourly questions (``hours``).

``build`` (a batch of rows -> cube) and ``merge`` (cubes -> cube) are pure functions and merging is
associative and commutative up to the order of float additions: any split of the rows, built and merged
in any grouping, gives the same cells, the same integer sums and the same sketch, and float sums equal
to the last few ulps (``canonical`` puts labels and cells in one order for comparison and output).
Labels are per cube (code i of a dimension is ``labels[dim][i]``); ``merge`` keeps the first cube's
codes and appends labels it lacks, so a cube grown by merging (the live session) never recodes.

Views (``View``, ``project``, ``Views``): the engines project each partition's cube onto the narrow
views the analyses declare (fewer dimensions, day or whole-period grain, the side tables in one of them,
fewer sums where a view is large) and merge those, never the cube over every dimension; projecting
commutes with merging, so a view of the merged cube equals the merged views.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzers.base import MISSING_KEY
from metering.schema import ERROR_STOP_REASONS

HOUR_MS = 3_600_000
DAY_MS = 86_400_000

#: the cube's dimensions (record columns), in key order after the time key
DIMS: tuple[str, ...] = (
    "customer_id",
    "subscription_tier",
    "organization_id",
    "product_id",
    "feature_id",
    "task_type",
    "model",
    "provider",
    "environment",
    "source",
    "region",
    "api_key_id",
    "operation_type",
    "transaction_name",
    "stop_reason",
)
#: sums per cell: calls, priced cost (unpriced calls add 0), unpriced and failed calls, tokens, latency,
#: the priced cost of failed calls and the input + output tokens of priced calls
SUMS: tuple[str, ...] = (
    "calls",
    "cost_usd",
    "unpriced_calls",
    "error_calls",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cache_creation_tokens",
    "reasoning_tokens",
    "latency_ms_sum",
    "error_cost_usd",
    "priced_tokens",
)
#: the time key of a cube: "hour" (ms // HOUR_MS) or "day" (ms // DAY_MS)
GRAINS: dict[str, int] = {"hour": HOUR_MS, "day": DAY_MS}
#: the time key of a view over the whole period: one value (0) for every call (``View``)
PERIOD = "period"
#: the latency sketch is kept per combination of these dimensions
SKETCH_DIMS: tuple[str, ...] = ("provider", "model")

#: relative accuracy of the latency sketch
SKETCH_ACCURACY = 0.01
GAMMA = (1 + SKETCH_ACCURACY) / (1 - SKETCH_ACCURACY)
_LOG_GAMMA = math.log(GAMMA)
#: bucket of latencies <= 0 ms (estimated as 0)
ZERO_BUCKET = -(2**15)
SKETCH_METHOD = (
    f"latency percentiles from a mergeable sketch: each call's latency v > 0 counts in bucket "
    f"i = ceil(log(v) / log(gamma)), gamma = (1 + a) / (1 - a), a = {SKETCH_ACCURACY:.0%} (v <= 0 in a "
    "bucket of its own, read as 0); bucket i stands for 2 gamma^i / (gamma + 1), within a of every value "
    "in it. A percentile takes the two order statistics numpy's linear interpolation uses, each read from "
    f"its bucket, and interpolates them the same way: within {SKETCH_ACCURACY:.0%} relative error of the "
    "exact percentile"
)


@dataclass(frozen=True)
class Side:
    """A mergeable side table of the cube: integer ``keys`` (a name of ``DIMS`` holds that dimension's
    codes, ``day`` the UTC day, ``bucket`` a sketch bucket), the ``sums``, ``mins`` and ``maxs`` of the
    calls that share the keys. Merging concatenates and regroups, like the cells."""

    keys: tuple[str, ...]
    sums: tuple[str, ...]
    mins: tuple[str, ...] = ()
    maxs: tuple[str, ...] = ()


#: the side tables of a full cube (``build`` with every dimension): per-call distributions the cells'
#: sums cannot carry, each a log-bucket sketch (``SKETCH_METHOD``) of a value per key combination:
#: latency per task type x provider x model and per UTC day (every call); output tokens per second per
#: task type x provider x model (successful calls with latency > 0; ``sum`` = the values' sum); time to
#: first token per provider x model (streamed calls that reported it); input tokens per task type x
#: provider x model (priced calls, with their cost and token sums and the bucket's smallest and largest
#: input, so that context-window matching is exact unless calls lie on both sides of a window within one
#: bucket)
SIDES: dict[str, Side] = {
    "latency": Side(("task_type", "provider", "model", "bucket"), ("count",)),
    "latency_day": Side(("day", "bucket"), ("count",)),
    "tps": Side(("task_type", "provider", "model", "bucket"), ("count", "sum")),
    "ttft": Side(("provider", "model", "bucket"), ("count", "sum")),
    "input": Side(
        ("task_type", "provider", "model", "bucket"),
        ("calls", "cost", "input", "cached", "creation", "output", "reasoning"),
        ("min",),
        ("max",),
    ),
    "hourly": Side(("hour", "provider", "model"), ("cost_usd", "calls")),
}
#: integer keys of side tables that are times (int64), not dimension codes or buckets (int32)
_TIME_KEYS = ("day", "hour")


#: ``SIDES`` tables that an hour-grain cube's cells already hold (``hours``): per-cell cubes omit them
CELL_DERIVED: tuple[str, ...] = ("hourly",)


def cell_sides(grain: str, dims: Sequence[str]) -> dict[str, Side]:
    """``SIDES`` per cube cell: each side keyed by the cell's time key and ``dims`` (instead of its own
    keys) plus ``bucket``, with the same sums, minima and maxima. A cube built with these (``build(...,
    sides=cell_sides(grain, dims))``) can be filtered on any of its dimensions and still yield every
    ``SIDES`` table (``analyzers.cube_filter.project``); sparse: one row per (cell, bucket) with calls."""
    return {
        n: Side((grain, *dims, "bucket"), s.sums, s.mins, s.maxs)
        for n, s in SIDES.items()
        if n not in CELL_DERIVED
    }


def _gid_dtype(n: int) -> str:
    return "int32" if n < 2**31 else "int64"


@dataclass(frozen=True)
class Cube:
    """Cells (``cols``: time key, dimension codes, ``SUMS``, ``first_ms``, ``last_ms``), the labels of
    every dimension's codes and the latency sketch (``sketch``: SKETCH_DIMS codes, ``bucket``,
    ``count``). All arrays of ``cols`` have one length, all of ``sketch`` another."""

    grain: str
    labels: dict[str, tuple[str, ...]]
    cols: dict[str, np.ndarray]
    sketch: dict[str, np.ndarray]
    dims: tuple[str, ...] = DIMS
    sides: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    #: the key, sum, min and max columns of each side table (``SIDES`` unless built with ``sides=``)
    side_specs: dict[str, Side] = field(default_factory=lambda: SIDES)

    @property
    def key(self) -> str:
        return self.grain

    def __len__(self) -> int:
        return len(self.cols["calls"])

    @property
    def calls(self) -> int:
        return int(self.cols["calls"].sum())

    def label_array(self, dim: str) -> np.ndarray:
        return np.asarray(self.labels[dim], dtype=object)

    def decode(self, dim: str, codes: np.ndarray | None = None) -> np.ndarray:
        """Labels (str array) of ``codes`` of dimension ``dim`` (default: every cell's)."""
        labels = self.labels[dim]
        c = self.cols[dim] if codes is None else codes
        if not labels:
            return np.zeros(len(c), dtype=object).astype(str)
        return np.asarray(labels, dtype=object)[c].astype(str)


# --- building ------------------------------------------------------------------------------------


def _codes_labels(col: Any, n: int) -> tuple[np.ndarray, list[str]]:
    """(int32 codes, labels) of a category/string column of pandas or Arrow; missing -> "(none)"."""
    if col is None:
        return np.zeros(n, dtype="int32"), [MISSING_KEY]
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if isinstance(col, pa.Array):
        if not pa.types.is_dictionary(col.type):
            col = pc.dictionary_encode(col)
        codes = col.indices.to_numpy(zero_copy_only=False)
        if col.null_count:
            codes = np.where(col.is_null().to_numpy(zero_copy_only=False), -1, codes)
        labels = [str(v) for v in col.dictionary.to_pylist()]
    else:
        s = col if isinstance(col.dtype, pd.CategoricalDtype) else col.astype("category")
        codes = s.cat.codes.to_numpy()
        labels = [str(v) for v in s.cat.categories]
    codes = np.asarray(codes, dtype="int32")
    # missing values read "(none)" (the session's and the analyzers' convention); "" stays ""
    missing = len(labels)
    labels.append(MISSING_KEY)
    codes = np.where(codes < 0, missing, codes)
    return codes, labels


def _column(data: Any, name: str) -> Any:
    if isinstance(data, pa.Table):
        return data.column(name) if name in data.column_names else None
    return data[name] if name in data.columns else None


def _numbers(data: Any, name: str, n: int, dtype: str) -> np.ndarray:
    col = _column(data, name)
    if col is None:
        return np.zeros(n, dtype=dtype)
    if isinstance(col, pa.ChunkedArray | pa.Array):
        out = col.to_numpy(zero_copy_only=False)
    else:
        out = col.to_numpy(dtype="float64" if dtype == "float64" else None, na_value=np.nan)
    if dtype == "int64":
        f = np.asarray(out, dtype="float64")
        return np.nan_to_num(f, nan=0.0).astype("int64") if np.isnan(f).any() else np.asarray(out, "int64")
    return np.asarray(out, dtype="float64")


def timestamps_ms(data: Any) -> np.ndarray:
    """Call times as int64 ms since the epoch, from a pandas frame or an Arrow table."""
    col = _column(data, "timestamp")
    if isinstance(col, pa.ChunkedArray | pa.Array):
        return pc.cast(col, pa.timestamp("ms", tz="UTC")).cast(pa.int64()).to_numpy(zero_copy_only=False)
    return col.dt.tz_localize(None).to_numpy().astype("datetime64[ms]").astype("int64")


def measures(data: Any) -> dict[str, np.ndarray]:
    """Per-call arrays of every sum in ``SUMS`` (pandas frame or Arrow table)."""
    n = len(data) if not isinstance(data, pa.Table) else data.num_rows
    cost = _numbers(data, "cost_usd", n, "float64")
    unpriced = np.isnan(cost)
    stop, stop_labels = _codes_labels(_column(data, "stop_reason"), n)
    failed = np.isin(np.asarray(stop_labels, dtype=object), ERROR_STOP_REASONS)[stop]
    priced_cost = np.where(unpriced, 0.0, cost)
    inp = _numbers(data, "input_tokens", n, "int64")
    out = _numbers(data, "output_tokens", n, "int64")
    return {
        "calls": np.ones(n, dtype="int64"),
        "cost_usd": priced_cost,
        "unpriced_calls": unpriced.astype("int64"),
        "error_calls": failed.astype("int64"),
        "input_tokens": inp,
        "output_tokens": out,
        "cached_tokens": _numbers(data, "cached_tokens", n, "int64"),
        "cache_creation_tokens": _numbers(data, "cache_creation_tokens", n, "int64"),
        "reasoning_tokens": _numbers(data, "reasoning_tokens", n, "int64"),
        "latency_ms_sum": _numbers(data, "latency_ms", n, "int64"),
        "error_cost_usd": np.where(failed, priced_cost, 0.0),
        "priced_tokens": np.where(unpriced, 0, inp + out),
    }


def latency_buckets(latency_ms: np.ndarray) -> np.ndarray:
    """Sketch bucket of each latency (``SKETCH_METHOD``), int32."""
    v = np.asarray(latency_ms, dtype="float64")
    out = np.full(len(v), ZERO_BUCKET, dtype="int32")
    pos = v > 0
    out[pos] = np.ceil(np.log(v[pos]) / _LOG_GAMMA).astype("int32")
    return out


def bucket_values(buckets: np.ndarray) -> np.ndarray:
    """The value each bucket stands for (0 for the zero bucket)."""
    b = np.asarray(buckets, dtype="float64")
    return np.where(b == ZERO_BUCKET, 0.0, 2.0 * np.power(GAMMA, b) / (GAMMA + 1.0))


def build(
    data: Any, grain: str = "hour", dims: tuple[str, ...] = DIMS, sides: dict[str, Side] | None = None
) -> Cube:
    """The cube of a batch of rows (a typed call frame or the store's Arrow table).

    ``dims`` (default ``DIMS``; must include ``SKETCH_DIMS``) lets a caller keep another set of
    dimensions. ``sides`` (default: ``SIDES`` when ``dims`` is ``DIMS``, none otherwise) names the side
    tables to keep and their keys: the ``SIDES`` names, each keyed by any of the time key, ``day``,
    ``dims`` and ``bucket`` (e.g. ``cell_sides``, as the live session keeps them)."""
    if grain not in GRAINS:
        raise ValueError(f"grain must be one of {', '.join(GRAINS)}, not {grain!r}")
    n = len(data) if not isinstance(data, pa.Table) else data.num_rows
    ms = timestamps_ms(data) if n else np.zeros(0, dtype="int64")
    labels: dict[str, tuple[str, ...]] = {}
    raw: dict[str, np.ndarray] = {grain: ms // GRAINS[grain]}
    for d in dims:
        codes, lab = _codes_labels(_column(data, d), n)
        raw[d] = codes
        labels[d] = tuple(lab)
    raw.update(measures(data))
    raw["first_ms"] = ms
    raw["last_ms"] = ms
    lat = _numbers(data, "latency_ms", n, "int64")
    sketch = {d: raw[d] for d in SKETCH_DIMS}
    sketch["bucket"] = latency_buckets(lat)
    sketch["count"] = np.ones(n, dtype="int64")
    specs = (SIDES if tuple(dims) == DIMS else {}) if sides is None else sides
    unknown = set(specs) - set(SIDES)
    if unknown:
        raise ValueError(f"unknown side tables {sorted(unknown)}; expected any of {', '.join(SIDES)}")
    side_rows = _side_rows(data, raw, ms, lat, sketch["bucket"], grain, specs) if specs else {}
    cube = Cube(grain, labels, raw, sketch, tuple(dims), side_rows, dict(specs))
    return _compact(_regroup(_dedupe_labels(cube)))


def _side_rows(
    data: Any,
    raw: dict[str, np.ndarray],
    ms: np.ndarray,
    lat: np.ndarray,
    lat_bucket: np.ndarray,
    grain: str,
    specs: dict[str, Side],
) -> dict[str, dict[str, np.ndarray]]:
    """One row per call of every side table of ``specs``, before grouping: each side's calls (a mask),
    its values, and its keys taken from the cells' keys, ``day`` and ``bucket``."""
    n = len(ms)
    ones = np.ones(n, dtype="int64")
    out = raw["output_tokens"]
    every = np.ones(n, dtype=bool)
    parts: dict[str, tuple[np.ndarray, dict[str, np.ndarray]]] = {}
    if "latency" in specs or "latency_day" in specs:
        parts["latency"] = parts["latency_day"] = (every, {"bucket": lat_bucket, "count": ones})
    if "hourly" in specs:
        parts["hourly"] = (every, {"cost_usd": raw["cost_usd"], "calls": ones})
    if "tps" in specs:
        ok = (raw["error_calls"] == 0) & (lat > 0)
        tps = out[ok] / (lat[ok] / 1000.0)
        parts["tps"] = (ok, {"bucket": latency_buckets(tps), "count": ones[ok], "sum": tps})
    if "ttft" in specs:
        ttft = _numbers(data, "time_to_first_token_ms", n, "float64")
        s_codes, s_labels = _codes_labels(_column(data, "is_streamed"), n)
        streamed = (np.asarray(s_labels, dtype=object) == "true")[s_codes] & ~np.isnan(ttft)
        t = ttft[streamed]
        parts["ttft"] = (streamed, {"bucket": latency_buckets(t), "count": ones[streamed], "sum": t})
    if "input" in specs:
        priced = raw["unpriced_calls"] == 0
        inp = raw["input_tokens"][priced]
        parts["input"] = (
            priced,
            {
                "bucket": latency_buckets(inp),
                "calls": ones[priced],
                "cost": raw["cost_usd"][priced],
                "input": inp,
                "cached": raw["cached_tokens"][priced],
                "creation": raw["cache_creation_tokens"][priced],
                "output": out[priced],
                "reasoning": raw["reasoning_tokens"][priced],
                "min": inp,
                "max": inp,
            },
        )
    pool = {**raw, "day": ms // DAY_MS, "hour": ms // HOUR_MS}
    sides: dict[str, dict[str, np.ndarray]] = {}
    for name, spec in specs.items():
        mask, values = parts[name]
        missing = [k for k in spec.keys if k not in values and k not in pool]
        if missing:
            raise ValueError(f"side table {name!r}: unknown keys {missing}")
        keys = {k: (pool[k] if mask is every else pool[k][mask]) for k in spec.keys if k not in values}
        sides[name] = {**keys, **values}
    return sides


def _dedupe_labels(cube: Cube) -> Cube:
    """Equal labels share one code (a dictionary may repeat a value, or hold "(none)" itself)."""
    labels = dict(cube.labels)
    cols, sketch, sides = dict(cube.cols), dict(cube.sketch), cube.sides
    for d, lab in cube.labels.items():
        if len(set(lab)) == len(lab):
            continue
        uniq, inverse = np.unique(np.asarray(lab, dtype=object).astype(str), return_inverse=True)
        remap = inverse.astype("int32")
        labels[d] = tuple(str(v) for v in uniq)
        cols[d] = remap[cols[d]]
        if d in sketch:
            sketch[d] = remap[sketch[d]]
        sides = _map_sides(sides, d, remap)
    return Cube(cube.grain, labels, cols, sketch, cube.dims, sides, cube.side_specs)


def code_dtype(labels: int) -> np.dtype:
    """The smallest signed integer type holding the codes of a dimension with ``labels`` labels."""
    for t in ("int8", "int16"):
        if labels <= np.iinfo(t).max:
            return np.dtype(t)
    return np.dtype("int32")


def _compact(cube: Cube) -> Cube:
    """The cells' dimension codes in the smallest type their labels need (``code_dtype``: one byte for
    most dimensions instead of four), in place of the int32 codes building and recoding give."""
    for d in cube.dims:
        cube.cols[d] = cube.cols[d].astype(code_dtype(len(cube.labels[d])), copy=False)
    return cube


def _map_sides(
    sides: dict[str, dict[str, np.ndarray]], dim: str, table: np.ndarray
) -> dict[str, dict[str, np.ndarray]]:
    """``sides`` with the codes of dimension ``dim`` translated through ``table``."""
    if not len(table):
        return sides
    return {name: {k: (table[v] if k == dim else v) for k, v in rows.items()} for name, rows in sides.items()}


# --- grouping ------------------------------------------------------------------------------------


def group_index(keys: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Dense group id per row for non-negative integer keys, and each group's first row.

    Keys are folded into one int64 by mixed radix while the product of their ranges stays below 2^62,
    then re-densified; no overflow however many keys.
    """
    n = len(keys[0]) if len(keys) else 0
    gid = np.zeros(n, dtype="int64")
    if not n:
        return gid, gid
    span = 1
    for k in keys:
        k = np.asarray(k, dtype="int64")
        lo = int(k.min())
        size = int(k.max()) - lo + 1
        if span * size >= 2**62:
            gid = pd.factorize(gid)[0].astype("int64")
            span = int(gid.max()) + 1
        gid = gid * size + (k - lo)
        span *= size
    gid = pd.factorize(gid)[0].astype("int64")
    rm = np.maximum.accumulate(gid)
    first = np.flatnonzero(np.r_[True, rm[1:] > rm[:-1]])
    return gid, first


def sums_by(cols: dict[str, np.ndarray], keys: Sequence[str], sums: Iterable[str]) -> dict[str, np.ndarray]:
    """Sums per combination of integer keys, numpy only: a dense index when the key grid is small (keys
    in ascending order), hashing otherwise (first-appearance order)."""
    sums = list(sums)
    if not len(cols[keys[0]]):
        return {k: np.array([], dtype="int64") for k in keys} | {
            c: np.array([], dtype="float64") for c in sums
        }
    arrays = [cols[k] for k in keys]
    lo = [int(c.min()) for c in arrays]
    sizes = [int(c.max()) - m + 1 for c, m in zip(arrays, lo, strict=True)]
    if np.prod(sizes, dtype="float64") <= 4_000_000:
        flat = np.ravel_multi_index([c - m for c, m in zip(arrays, lo, strict=True)], sizes)
        n = int(np.prod(sizes))
        present = np.flatnonzero(np.bincount(flat, minlength=n))
        parts = np.unravel_index(present, sizes)
        out = {k: parts[i] + lo[i] for i, k in enumerate(keys)}
        for c in sums:
            w = np.bincount(flat, weights=cols[c], minlength=n)[present]
            out[c] = w if cols[c].dtype.kind == "f" else np.rint(w).astype("int64")
        return out
    gid, first = group_index(arrays)
    out = {k: cols[k][first] for k in keys}
    for c in sums:
        w = np.bincount(gid, weights=cols[c], minlength=len(first))
        out[c] = w if cols[c].dtype.kind == "f" else np.rint(w).astype("int64")
    return out


def regroup_cols(
    raw: dict[str, np.ndarray],
    keys: Sequence[str],
    sums: Iterable[str],
    mins: Iterable[str] = (),
    maxs: Iterable[str] = (),
) -> dict[str, np.ndarray]:
    """Group rows by integer keys: sums, minima and maxima per group (numpy only)."""
    if not len(raw[keys[0]]):
        return raw
    gid, first = group_index([raw[k] for k in keys])
    n = len(first)
    out = {k: raw[k][first] for k in keys}
    for c in sums:
        w = np.bincount(gid, weights=raw[c], minlength=n)
        out[c] = w if raw[c].dtype.kind == "f" else np.rint(w).astype("int64")
    for c in mins:
        m = np.full(n, np.iinfo("int64").max)
        np.minimum.at(m, gid, raw[c])
        out[c] = m
    for c in maxs:
        m = np.full(n, np.iinfo("int64").min)
        np.maximum.at(m, gid, raw[c])
        out[c] = m
    return out


def regroup_cells(raw: dict[str, np.ndarray], grain: str, dims: Sequence[str]) -> dict[str, np.ndarray]:
    """Cells (time key, ``dims``, the ``SUMS`` they have, first/last ms) grouped to one per key combination."""
    return regroup_cols(raw, [grain, *dims], [s for s in SUMS if s in raw], ("first_ms",), ("last_ms",))


def _regroup(cube: Cube) -> Cube:
    """One cell per key combination, one sketch row per (SKETCH_DIMS, bucket)."""
    cols = regroup_cells(cube.cols, cube.grain, cube.dims)
    sketch = regroup_cols(cube.sketch, [*SKETCH_DIMS, "bucket"], ["count"])
    sides = _regroup_sides(cube.sides, cube.side_specs)
    return Cube(cube.grain, cube.labels, cols, sketch, cube.dims, sides, cube.side_specs)


def _regroup_sides(
    sides: dict[str, dict[str, np.ndarray]], specs: dict[str, Side] = SIDES
) -> dict[str, dict[str, np.ndarray]]:
    """One row per key combination of every side table (keys and sums of ``specs``)."""
    out = {}
    for name, rows in sides.items():
        spec = specs[name]
        out[name] = regroup_cols(rows, spec.keys, spec.sums, spec.mins, spec.maxs)
    return out


def empty_sides(specs: dict[str, Side] = SIDES) -> dict[str, dict[str, np.ndarray]]:
    """The side tables of ``specs`` (default ``SIDES``) without a row."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, spec in specs.items():
        rows = {k: np.zeros(0, dtype="int64" if k in _TIME_KEYS else "int32") for k in spec.keys}
        for c in (*spec.sums, *spec.mins, *spec.maxs):
            rows[c] = np.zeros(0, dtype="float64" if c in ("cost", "sum", "cost_usd") else "int64")
        out[name] = rows
    return out


def empty(grain: str = "hour", dims: tuple[str, ...] = DIMS, sides: dict[str, Side] | None = None) -> Cube:
    """A cube without calls (side tables as ``build`` keeps them for the same arguments)."""
    cols: dict[str, np.ndarray] = {grain: np.zeros(0, dtype="int64")}
    cols |= {d: np.zeros(0, dtype="int32") for d in dims}
    cols |= {s: np.zeros(0, dtype="float64" if s == "cost_usd" else "int64") for s in SUMS}
    cols |= {"first_ms": np.zeros(0, dtype="int64"), "last_ms": np.zeros(0, dtype="int64")}
    sketch = {d: np.zeros(0, dtype="int32") for d in SKETCH_DIMS}
    sketch |= {"bucket": np.zeros(0, dtype="int32"), "count": np.zeros(0, dtype="int64")}
    specs = (SIDES if tuple(dims) == DIMS else {}) if sides is None else sides
    return Cube(grain, {d: () for d in dims}, cols, sketch, dims, empty_sides(specs), dict(specs))


# --- merging -------------------------------------------------------------------------------------


def _recode(cube: Cube, labels: dict[str, tuple[str, ...]], index: dict[str, dict[str, int]]) -> Cube:
    """``cube`` with its codes translated into ``labels`` (which hold every label of ``cube``)."""
    cols, sketch, sides = dict(cube.cols), dict(cube.sketch), cube.sides
    for d in cube.dims:
        own = cube.labels[d]
        if own == labels[d][: len(own)]:
            continue  # a prefix: codes already agree
        table = np.array([index[d][v] for v in own], dtype=code_dtype(len(labels[d])))
        cols[d] = table[cols[d]] if len(table) else cols[d]
        if d in sketch:
            sketch[d] = table[sketch[d]] if len(table) else sketch[d]
        sides = _map_sides(sides, d, table)
    return Cube(cube.grain, labels, cols, sketch, cube.dims, sides, cube.side_specs)


def merge(*cubes: Cube) -> Cube:
    """One cube holding every call of ``cubes`` (same grain). The first cube's codes are kept."""
    return _merge([c for c in cubes if c is not None], consume=False)


def merge_all(cubes: list[Cube], release: Callable[[], None] | None = None) -> Cube:
    """``merge(*cubes)``, consuming the list: it is emptied, and each column of the inputs is let go as
    soon as it is copied (then ``release`` runs, e.g. to hand the freed heap back to the system), so the
    peak is about the merged cube plus one column instead of twice the cube (the engines' merge; the
    caller keeps no other reference to the inputs). Same result, bit for bit, as ``merge``."""
    items = [c for c in cubes if c is not None]
    cubes.clear()
    return _merge(items, consume=True, release=release)


def _merge(cubes: list[Cube], consume: bool, release: Callable[[], None] | None = None) -> Cube:
    if not cubes:
        return empty()
    grain, dims = cubes[0].grain, cubes[0].dims
    if any(c.grain != grain or c.dims != dims for c in cubes):
        raise ValueError("merge: cubes of different grains or dimensions")
    if len(cubes) == 1:
        return cubes[0]
    labels: dict[str, tuple[str, ...]] = {}
    index: dict[str, dict[str, int]] = {}
    for d in dims:
        seen: dict[str, int] = {}
        for c in cubes:
            for v in c.labels[d]:
                if v not in seen:
                    seen[v] = len(seen)
        labels[d] = tuple(seen)
        index[d] = seen
    parts = [_recode(c, labels, index) for c in cubes]
    if consume:
        cubes.clear()  # the recoded parts hold the only references left
    sketch = {k: np.concatenate([p.sketch[k] for p in parts]) for k in parts[0].sketch}
    sketch = regroup_cols(sketch, [*SKETCH_DIMS, "bucket"], ["count"])
    names, specs = set(parts[0].sides), parts[0].side_specs
    if any(set(p.sides) != names or (names and p.side_specs != specs) for p in parts):
        raise ValueError("merge: cubes with different side tables")
    sides = _regroup_sides(
        {n: {k: np.concatenate([p.sides[n][k] for p in parts]) for k in parts[0].sides[n]} for n in names},
        specs,
    )
    # each input has one cell per key already: only cells of a time key found in several inputs can
    # meet another (time-ordered partitions share at most their boundary days), so only those regroup;
    # the cells: every input's cells of unshared time keys in input order, then the regrouped shared ones
    seen_keys = np.concatenate([np.unique(p.cols[grain]) for p in parts])
    keys, counts = np.unique(seen_keys, return_counts=True)
    shared_keys = keys[counts > 1]
    masks = [np.isin(p.cols[grain], shared_keys) for p in parts] if len(shared_keys) else None
    met: dict[str, np.ndarray] = {}
    if masks is not None:
        met = regroup_cells(
            {
                k: np.concatenate([p.cols[k][m] for p, m in zip(parts, masks, strict=True)])
                for k in parts[0].cols
            },
            grain,
            dims,
        )
    cols: dict[str, np.ndarray] = {}
    for k in list(parts[0].cols):
        pieces = (
            [p.cols[k] for p in parts]
            if masks is None
            else [p.cols[k][~m] for p, m in zip(parts, masks, strict=True)]
        )
        cols[k] = np.concatenate([*pieces, met[k]] if met else pieces)
        del pieces
        if consume:
            for p in parts:
                del p.cols[k]
            if release is not None:
                release()
    return _compact(Cube(grain, labels, cols, sketch, dims, sides, specs))


def canonical(cube: Cube) -> Cube:
    """The same cube with labels in lexical order, unused labels dropped and cells sorted by key."""
    labels: dict[str, tuple[str, ...]] = {}
    cols, sketch, sides = dict(cube.cols), dict(cube.sketch), cube.sides
    for d in cube.dims:
        used = np.unique(np.concatenate([cube.cols[d], cube.sketch.get(d, np.zeros(0, "int32"))]))
        lab = np.asarray(cube.labels[d], dtype=object)[used].astype(str) if len(used) else np.array([], str)
        order = np.argsort(lab, kind="stable")
        table = np.zeros(len(cube.labels[d]), dtype="int32")
        table[used[order]] = np.arange(len(used), dtype="int32")
        labels[d] = tuple(str(v) for v in lab[order])
        cols[d] = table[cols[d]] if len(table) else cols[d]
        if d in sketch:
            sketch[d] = table[sketch[d]] if len(table) else sketch[d]
        sides = _map_sides(sides, d, table)
    keys = [cube.grain, *cube.dims]
    order = np.lexsort([cols[k] for k in reversed(keys)])
    cols = {k: v[order] for k, v in cols.items()}
    skeys = [*SKETCH_DIMS, "bucket"]
    sorder = np.lexsort([sketch[k] for k in reversed(skeys)])
    sketch = {k: v[sorder] for k, v in sketch.items()}
    ordered = {}
    for name, rows in sides.items():
        o = np.lexsort([rows[k] for k in reversed(cube.side_specs[name].keys)])
        ordered[name] = {k: v[o] for k, v in rows.items()}
    return Cube(cube.grain, labels, cols, sketch, cube.dims, ordered, cube.side_specs)


def coarsen(cube: Cube, grain: str) -> Cube:
    """The same calls at a coarser time grain ("hour" -> "day")."""
    if grain == cube.grain:
        return cube
    if (cube.grain, grain) != ("hour", "day"):
        raise ValueError(f"cannot coarsen a {cube.grain} cube to {grain}")
    cols = {(grain if k == cube.grain else k): v for k, v in cube.cols.items()}
    cols[grain] = cube.cols[cube.grain] // 24
    if any(cube.grain in s.keys for n, s in cube.side_specs.items() if n not in CELL_DERIVED):
        raise ValueError("coarsen: per-cell side tables (keyed by the time key) cannot be coarsened")
    return _regroup(Cube(grain, cube.labels, cols, cube.sketch, cube.dims, cube.sides, cube.side_specs))


# --- views ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class View:
    """A narrow projection of the cube that an analysis reads: the cells regrouped by (time key, ``dims``)
    and the side tables named in ``sides`` (their dimension keys must be among ``dims``; their own time
    keys are kept whatever the view's grain). ``grain`` is "day" (the engines' cube) or ``PERIOD``: one
    time key for the whole period, for groupings that need no dates (cells then grow with the
    combinations, not with the days). ``sums`` (default every one of ``SUMS``) keeps fewer sums per cell,
    for a large view read by one caller that names them (``Views.view(..., sums=)``): it is never handed
    to a caller that did not. Analyzer modules declare theirs in ``VIEWS``; ``analyzers.registry.views``
    collects them for the engines."""

    dims: tuple[str, ...]
    sides: tuple[str, ...] = ()
    grain: str = "day"
    sums: tuple[str, ...] = SUMS

    def __post_init__(self) -> None:
        if self.grain not in ("day", PERIOD):
            raise ValueError(f"view grain must be 'day' or {PERIOD!r}, not {self.grain!r}")
        if "calls" not in self.sums or set(self.sums) - set(SUMS):
            raise ValueError(f"view sums must include 'calls' and be among SUMS, not {self.sums}")
        object.__setattr__(self, "sums", tuple(s for s in SUMS if s in self.sums))
        unknown = [d for d in self.dims if d not in DIMS] + [s for s in self.sides if s not in SIDES]
        if unknown:
            raise ValueError(f"view {self.dims}: unknown dimensions or side tables {unknown}")
        # one spelling per view: dimensions in ``DIMS`` order, side tables in ``SIDES`` order
        object.__setattr__(self, "dims", tuple(d for d in DIMS if d in self.dims))
        object.__setattr__(self, "sides", tuple(s for s in SIDES if s in self.sides))
        for s in self.sides:
            outside = [k for k in SIDES[s].keys if k in DIMS and k not in self.dims]
            if outside:
                raise ValueError(f"view {self.dims}: side table {s!r} is keyed by {outside} too")

    def holds(self, dims: Iterable[str], sides: Iterable[str], sums: Iterable[str], daily: bool) -> bool:
        """Whether this view answers a grouping by ``dims`` with the side tables ``sides`` and the ``sums``
        (``daily``: by day too, so of day grain)."""
        return (
            set(dims) <= set(self.dims)
            and set(sides) <= set(self.sides)
            and set(sums) <= set(self.sums)
            and (self.grain == "day" or not daily)
        )


#: the view that keeps the side tables (``SIDES``, keyed by task type, provider and model, and the time),
#: with the cells per task type x provider x model x stop reason: the one home of the distributions
SIDE_VIEW = View(("task_type", "provider", "model", "stop_reason"), tuple(SIDES), PERIOD)
#: the customers' days: tiers, subscription spells and daily cost (calls, cost and unpriced calls only: it
#: is the largest day view; read by ``analyzers.usage`` and realtime)
CUSTOMER_VIEW = View(("customer_id", "subscription_tier"), sums=("calls", "cost_usd", "unpriced_calls"))
#: one cell per day: the totals and the daily series
DAYS_VIEW = View(())
#: every dimension and side table: the cube ``build`` makes (projecting onto it is the identity)
FULL = View(DIMS, tuple(SIDES))


def project(cube: Cube, view: View) -> Cube:
    """The same calls on the dimensions of ``view`` only (in ``DIMS`` order): cells regrouped by (time
    key, dims) with their sums, first and last call; the labels and codes of the kept dimensions as they
    are; the latency sketch when the view has ``SKETCH_DIMS`` (else none); the side tables of
    ``view.sides``. Pure, and it commutes with ``merge``: projecting merged cubes equals merging their
    projections. ``cube`` needs every dimension and side table of the view."""
    if view.dims == cube.dims and set(view.sides) == set(cube.sides) and view.grain == cube.grain:
        return cube
    dims = tuple(d for d in cube.dims if d in view.dims)
    if len(dims) != len(view.dims):
        raise ValueError(f"project: the cube lacks {sorted(set(view.dims) - set(dims))}")
    missing = [s for s in view.sides if s not in cube.sides]
    if missing:
        raise ValueError(f"project: the cube lacks the side tables {missing}")
    cols = {k: cube.cols[k] for k in (*dims, *view.sums, "first_ms", "last_ms")}
    if view.grain == cube.grain:
        cols[view.grain] = cube.cols[cube.grain]
    elif view.grain == PERIOD:
        cols[view.grain] = np.zeros(len(cube), dtype="int64")
    else:
        cols[view.grain] = days(cube)
    cols = regroup_cells(cols, view.grain, dims) if len(cube) else dict(cols)
    # the sketch goes with the distributions (SKETCH_DIMS are among the latency table's keys)
    sketch = cube.sketch if "latency" in view.sides else {k: v[:0] for k, v in cube.sketch.items()}
    specs = {n: cube.side_specs[n] for n in view.sides}
    sides = {n: cube.sides[n] for n in view.sides}
    labels = {d: cube.labels[d] for d in dims}
    return Cube(view.grain, labels, cols, sketch, dims, sides, specs)


@dataclass
class Views:
    """Merged views of one store (``View`` -> its cube): what the engines give the analyzers in place of
    the cube over every dimension. ``view`` answers each grouping from the narrowest one."""

    cubes: dict[View, Cube]

    def view(
        self, dims: Iterable[str], sides: Iterable[str] = (), daily: bool = False, sums: Iterable[str] = SUMS
    ) -> Cube:
        """The view with the fewest cells holding ``dims``, the side tables ``sides`` and the ``sums``
        (default all; ``daily``: of day grain)."""
        dims, sides, sums = set(dims), set(sides), set(sums)
        fits = [c for v, c in self.cubes.items() if v.holds(dims, sides, sums, daily)]
        if not fits:
            raise KeyError(
                f"no {'day-grain ' if daily else ''}view holds {sorted(dims)} with the side tables {sorted(sides)}"
            )
        return min(fits, key=len)


def view(
    source: Cube | Views,
    dims: Iterable[str],
    sides: Iterable[str] = (),
    daily: bool = False,
    sums: Iterable[str] = SUMS,
) -> Cube:
    """The cube to read ``dims`` (and the side tables ``sides``, the ``sums``) from: the narrowest of
    ``Views`` (of day grain when ``daily``), or a full cube itself (it answers every view: the live
    session's)."""
    if isinstance(source, Views):
        return source.view(dims, sides, daily, sums)
    lacking = sorted((set(dims) - set(source.dims)) | (set(sides) - set(source.sides)))
    if lacking:
        raise KeyError(f"the cube lacks {lacking}")
    return source


def project_all(cube: Cube, views: Iterable[View]) -> dict[View, Cube]:
    """``project`` of ``cube`` onto every view, each from the narrowest projection already made that
    holds it (widest views first), so that most regroup a few cells instead of the whole cube."""
    done: dict[View, Cube] = {}
    for v in sorted(set(views), key=lambda v: (-len(v.dims), v.grain == PERIOD, -len(v.sums))):
        fits = [c for w, c in done.items() if w.holds(v.dims, v.sides, v.sums, daily=v.grain == "day")]
        done[v] = project(min(fits, key=len) if fits else cube, v)
    return done


def merge_views(parts: list[dict[View, Cube]], release: Callable[[], None] | None = None) -> Views:
    """Every view merged across ``parts`` (``merge_all`` per view, consuming the list)."""
    if not parts:
        return Views({})
    names = list(parts[0])
    per = {v: [p.pop(v) for p in parts] for v in names}
    parts.clear()
    return Views({v: merge_all(per.pop(v), release=release) for v in names})


# --- reading -------------------------------------------------------------------------------------


def days(cube: Cube) -> np.ndarray:
    """The UTC day (ms // DAY_MS) of every cell, whatever the cube's grain (but ``PERIOD``)."""
    if cube.grain == PERIOD:
        raise ValueError("a view over the whole period has no days: read them from a day-grain view")
    t = cube.cols[cube.grain]
    return t if cube.grain == "day" else t // (DAY_MS // GRAINS[cube.grain])


def hours(cube: Cube) -> dict[str, np.ndarray]:
    """Cost and calls per (UTC hour, provider, model): the ``hourly`` side table, or, for an hour-grain
    cube without it, the same sums from the cells. A day-grain cube without it cannot tell hours."""
    if "hourly" in cube.sides:
        return cube.sides["hourly"]
    if cube.grain != "hour":
        raise ValueError(f"a {cube.grain}-grain cube without its hourly side table cannot give hours")
    return sums_by(cube.cols, ["hour", "provider", "model"], ["cost_usd", "calls"])


def quantiles(cube: Cube, by: Sequence[str], qs: Sequence[float]) -> pd.DataFrame:
    """Latency quantiles per combination of ``by`` (a subset of SKETCH_DIMS) from the sketch.

    Columns: ``by`` (labels), ``calls`` and ``q<q>`` for each quantile, the same order statistics and
    interpolation as numpy's default (SKETCH_METHOD).
    """
    return side_quantiles(cube, cube.sketch, by, qs)


def side_quantiles(
    cube: Cube, rows: dict[str, np.ndarray], by: Sequence[str], qs: Sequence[float]
) -> pd.DataFrame:
    """Quantiles of a sketch (``rows``: ``by`` keys, ``bucket``, ``count``, e.g. ``cube.sketch`` or a side
    table) per combination of ``by``: columns ``by`` (labels of dimensions, the integer key otherwise),
    ``calls`` and ``q<q>`` per quantile (SKETCH_METHOD)."""
    if not len(rows["count"]):
        return pd.DataFrame({**{b: [] for b in by}, "calls": [], **{f"q{q}": [] for q in qs}})
    gid, first = group_index([rows[b] for b in by]) if by else (np.zeros(len(rows["count"]), "int64"), [0])
    ng = len(first)
    order = np.lexsort((rows["bucket"], gid))
    g, b, c = gid[order], rows["bucket"][order], rows["count"][order]
    totals = np.bincount(g, weights=c, minlength=ng).astype("int64")
    cum = np.cumsum(c)
    starts = np.concatenate([[0], np.cumsum(totals)[:-1]])
    vals = bucket_values(b)
    out = {bb: (cube.decode(bb, rows[bb][first]) if bb in cube.labels else rows[bb][first]) for bb in by}
    out["calls"] = totals
    for q in qs:
        pos = q * (totals - 1)
        lo = np.floor(pos).astype("int64")
        frac = pos - lo
        hi = np.minimum(lo + 1, totals - 1)

        def at(rank: np.ndarray) -> np.ndarray:
            # first sketch row of the group whose cumulative count exceeds start + rank
            target = starts + rank
            idx = np.searchsorted(cum, target, side="right")
            return vals[idx]

        a, bv = at(lo), at(hi)
        out[f"q{q}"] = np.where(frac >= 0.5, bv - (bv - a) * (1 - frac), a + (bv - a) * frac)
    return pd.DataFrame(out)


def frame(cube: Cube, sums: bool = True) -> pd.DataFrame:
    """The cells as a DataFrame: the time key as UTC timestamps (``hour`` or ``date``), dimensions as
    categoricals with "(none)" for missing, then (``sums``) the sums and first/last call times (ms)."""
    g = cube.grain
    out: dict[str, Any] = {}
    if g != PERIOD:
        out["date" if g == "day" else "hour"] = pd.to_datetime(cube.cols[g] * GRAINS[g], unit="ms", utc=True)
    for d in cube.dims:
        labels = list(cube.labels[d])
        out[d] = pd.Categorical.from_codes(cube.cols[d], labels) if labels else pd.Categorical([])
    for c in (*SUMS, "first_ms", "last_ms") if sums else ():
        if c in cube.cols:
            out[c] = cube.cols[c]
    return pd.DataFrame(out, index=pd.RangeIndex(len(cube)))


def equal(a: Cube, b: Cube, rtol: float = 1e-9) -> bool:
    """Same cells, labels, integer sums and sketch; float sums equal within ``rtol``."""
    a, b = canonical(a), canonical(b)
    if a.grain != b.grain or a.dims != b.dims or a.labels != b.labels or len(a) != len(b):
        return False
    for k, v in a.cols.items():
        w = b.cols[k]
        ok = np.allclose(v, w, rtol=rtol, atol=1e-12) if v.dtype.kind == "f" else np.array_equal(v, w)
        if not ok:
            return False
    if not all(np.array_equal(a.sketch[k], b.sketch[k]) for k in a.sketch) or set(a.sides) != set(b.sides):
        return False
    if a.side_specs != b.side_specs:
        return False
    for name, rows in a.sides.items():
        other = b.sides[name]
        if len(rows[a.side_specs[name].keys[0]]) != len(other[a.side_specs[name].keys[0]]):
            return False
        for k, v in rows.items():
            w = other[k]
            ok = np.allclose(v, w, rtol=rtol, atol=1e-12) if v.dtype.kind == "f" else np.array_equal(v, w)
            if not ok:
                return False
    return True
