"""Filtering a usage cube and projecting its per-cell side tables (pure functions, numpy only).

A cube built with side tables per cell (``analyzers.cube.cell_sides``: every side keyed by the cell's
time key, its dimensions and ``bucket``) can be narrowed to any selection of time keys and dimension
values: ``select`` keeps the cells and the side rows whose keys match, so that sums, sketches and their
percentiles are those of exactly the selected calls. ``project`` then regroups the per-cell sides to the
keys of ``analyzers.cube.SIDES`` (and the latency sketch to ``SKETCH_DIMS``), which is what the cube
analyzers read: ``registry.run_cube(name, project(select(cube, ...)))`` equals ``registry.run`` on the
same selection of rows (sums to the last few ulps, percentiles within the sketch's error).

A value filter lists labels of a dimension (``analyzers.base.MISSING_KEY`` for a missing value); time
bounds are inclusive, in the cube's time key (``day_keys`` turns inclusive UTC days into them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from analyzers import cube as cubes


def day_keys(grain: str, first_day: int | None, last_day: int | None) -> tuple[int | None, int | None]:
    """Inclusive time keys of a cube of ``grain`` covering the inclusive UTC days (None = open)."""
    unit = cubes.GRAINS[grain]
    lo = None if first_day is None else first_day * cubes.DAY_MS // unit
    hi = None if last_day is None else (last_day + 1) * cubes.DAY_MS // unit - 1
    return lo, hi


def _codes(cube: cubes.Cube, dim: str, values: Sequence[str]) -> np.ndarray:
    wanted = set(values)
    return np.array([i for i, v in enumerate(cube.labels[dim]) if v in wanted], dtype="int32")


def _mask(
    rows: Mapping[str, np.ndarray],
    time_key: str,
    keys: tuple[int | None, int | None],
    codes: Mapping[str, np.ndarray],
) -> np.ndarray | None:
    mask: np.ndarray | None = None

    def both(m: np.ndarray) -> None:
        nonlocal mask
        mask = m if mask is None else mask & m

    lo, hi = keys
    if lo is not None:
        both(rows[time_key] >= lo)
    if hi is not None:
        both(rows[time_key] <= hi)
    for dim, allowed in codes.items():
        col = rows[dim]
        if len(allowed) == 1:
            both(col == allowed[0])
        else:
            both(np.isin(col, allowed))
    return mask


def _take(rows: dict[str, np.ndarray], mask: np.ndarray | None) -> dict[str, np.ndarray]:
    return rows if mask is None else {k: v[mask] for k, v in rows.items()}


def select(
    cube: cubes.Cube,
    keys: tuple[int | None, int | None] = (None, None),
    values: Mapping[str, Sequence[str]] | None = None,
) -> cubes.Cube:
    """The cube of the calls whose time key lies in ``keys`` (inclusive) and whose value of each
    dimension of ``values`` is one of the listed labels: cells, every side table keyed by those
    dimensions, and the latency sketch (rebuilt from the per-cell ``latency`` side when a filtered
    dimension is not a sketch dimension). Labels are kept as they are (codes do not change)."""
    values = {d: tuple(v) for d, v in (values or {}).items()}
    unknown = [d for d in values if d not in cube.dims]
    if unknown:
        raise ValueError(f"select: {unknown[0]!r} is not a dimension of the cube ({', '.join(cube.dims)})")
    if keys == (None, None) and not values:
        return cube
    codes = {d: _codes(cube, d, v) for d, v in values.items()}
    cols = _take(dict(cube.cols), _mask(cube.cols, cube.grain, keys, codes))
    sides = {}
    for name, rows in cube.sides.items():
        spec = cube.side_specs[name]
        need = [d for d in codes if d not in spec.keys]
        if need or (keys != (None, None) and cube.grain not in spec.keys):
            raise ValueError(f"select: side table {name!r} is not keyed by {need or [cube.grain]}")
        sides[name] = _take(rows, _mask(rows, cube.grain, keys, codes))
    if keys == (None, None) and set(codes) <= set(cubes.SKETCH_DIMS):
        sketch = _take(dict(cube.sketch), _mask(cube.sketch, "", (None, None), codes))
    elif "latency" in sides and cube.grain in cube.side_specs["latency"].keys:
        sketch = cubes.regroup_cols(sides["latency"], [*cubes.SKETCH_DIMS, "bucket"], ["count"])
        sketch = {k: sketch[k] for k in (*cubes.SKETCH_DIMS, "bucket", "count")}
    else:
        raise ValueError("select: the latency sketch cannot be filtered without a per-cell latency side")
    return cubes.Cube(cube.grain, cube.labels, cols, sketch, cube.dims, sides, cube.side_specs)


#: sides that another side holds when it is kept per cell: latency per day is the latency side's calls
DERIVED_SIDES: dict[str, str] = {"latency_day": "latency"}


def project(cube: cubes.Cube, specs: Mapping[str, cubes.Side] = cubes.SIDES) -> cubes.Cube:
    """The same cube with its side tables regrouped to the keys of ``specs`` (default ``SIDES``, what the
    cube analyzers read); ``day`` is derived from the time key, and a side of ``DERIVED_SIDES`` the cube
    does not keep comes from the side it is derived from. A side already keyed as ``specs`` says is kept
    as it is."""
    unit = cubes.GRAINS[cube.grain]
    sides: dict[str, dict[str, np.ndarray]] = {}
    for name, spec in specs.items():
        if name in cubes.CELL_DERIVED and name not in cube.sides:
            sides[name] = dict(cubes.hours(cube))  # the hour-grain cells hold it
            continue
        source = name if name in cube.sides else DERIVED_SIDES.get(name, name)
        if source not in cube.sides:
            raise ValueError(f"project: the cube has no side table {name!r}")
        own, rows = cube.side_specs[source], cube.sides[source]
        if own.keys == spec.keys:
            sides[name] = rows
            continue
        pool = dict(rows)
        if "day" in spec.keys and "day" not in pool:
            pool["day"] = rows[cube.grain] * unit // cubes.DAY_MS
        missing = [k for k in spec.keys if k not in pool]
        if missing:
            raise ValueError(f"project: side table {name!r} has no key {missing[0]!r}")
        if not len(pool[spec.keys[0]]):
            sides[name] = {k: pool[k] for k in (*spec.keys, *spec.sums, *spec.mins, *spec.maxs)}
            continue
        sides[name] = cubes.regroup_cols(pool, spec.keys, spec.sums, spec.mins, spec.maxs)
    return cubes.Cube(cube.grain, cube.labels, cube.cols, cube.sketch, cube.dims, sides, dict(specs))
