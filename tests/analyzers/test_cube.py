"""The usage cube: build/merge over any split equals the cube of all rows; the latency sketch's error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from frames import synthetic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzers import cube
from metering.store import parse_chunk

ROWS = synthetic(3000, days=5, customers=40, seed=3)
_STREAMED = np.arange(len(ROWS)) % 4 == 0
ROWS["is_streamed"] = np.where(_STREAMED, "true", "false")
ROWS["time_to_first_token_ms"] = np.where(_STREAMED, ROWS["latency_ms"] // 5, np.nan)


def _split(df: pd.DataFrame, cuts: list[int]) -> list[pd.DataFrame]:
    bounds = [0, *sorted(set(cuts)), len(df)]
    return [df.iloc[a:b].reset_index(drop=True) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cuts=st.lists(st.integers(min_value=1, max_value=len(ROWS) - 1), max_size=6),
    shuffle=st.integers(min_value=0, max_value=2**16),
    nest=st.booleans(),
    interleave=st.booleans(),
)
def test_build_then_merge_over_any_split_equals_the_cube_of_all_rows(cuts, shuffle, nest, interleave):
    whole = cube.build(ROWS)
    rows = ROWS.sample(frac=1.0, random_state=shuffle).reset_index(drop=True) if interleave else ROWS
    parts = [cube.build(p) for p in _split(rows, cuts)]
    order = np.random.default_rng(shuffle).permutation(len(parts))
    parts = [parts[i] for i in order]
    if nest and len(parts) > 2:  # associativity: (a + b) + (c + ...) == a + b + c + ...
        merged = cube.merge(cube.merge(*parts[:2]), cube.merge(*parts[2:]))
    else:
        merged = cube.merge(*parts)
    assert cube.equal(merged, whole)
    assert merged.calls == len(ROWS)


def test_cube_sums_match_the_rows():
    c = cube.build(ROWS)
    cost = ROWS["cost_usd"]
    assert c.calls == len(ROWS)
    assert c.cols["cost_usd"].sum() == pytest.approx(cost.sum(skipna=True), rel=1e-12)
    assert int(c.cols["unpriced_calls"].sum()) == int(cost.isna().sum())
    assert int(c.cols["error_calls"].sum()) == int(
        ROWS["stop_reason"].isin(["TIMEOUT", "ERROR", "CANCELLED"]).sum()
    )
    assert int(c.cols["latency_ms_sum"].sum()) == int(ROWS["latency_ms"].sum())
    assert int(c.cols["input_tokens"].sum()) == int(ROWS["input_tokens"].sum())
    # one cell per distinct (hour, dimensions) combination
    hours = ROWS["timestamp"].dt.floor("h")
    keys = pd.DataFrame({"h": hours, **{d: ROWS[d].astype(str) for d in cube.DIMS}})
    assert len(c) == len(keys.drop_duplicates())
    day = cube.coarsen(c, "day")
    assert day.calls == len(ROWS)
    assert len(day) == len(keys.assign(h=hours.dt.floor("D")).drop_duplicates())


def test_arrow_table_and_frame_give_the_same_cube():
    from metering.schema import COLUMN_NAMES
    from metering.store import format_csv

    table, malformed = parse_chunk(format_csv(ROWS), list(COLUMN_NAMES), 2)
    assert not malformed
    assert cube.equal(cube.build(table), cube.build(ROWS))


def test_missing_labels_read_none():
    df = ROWS.head(10).copy()
    df["api_key_id"] = pd.Categorical(["(none)"] * 3 + [""] * 2 + [None] * 5)
    c = cube.build(df)
    assert set(c.decode("api_key_id")) == {"(none)", ""}
    assert len(c.labels["api_key_id"]) == 2  # "(none)" written and missing share one code


def test_empty_and_single_merges():
    e = cube.empty()
    c = cube.build(ROWS.head(50))
    assert cube.equal(cube.merge(e, c), c)
    assert cube.merge(c) is c
    with pytest.raises(ValueError, match="grain"):
        cube.build(ROWS.head(5), grain="minute")


def test_sketch_percentiles_within_one_percent_on_skewed_data():
    rng = np.random.default_rng(7)
    n = 60_000
    models = rng.choice(["a", "b", "c"], n, p=[0.7, 0.25, 0.05])
    # heavy-tailed latencies: lognormal with a long tail, a few zeros and huge outliers
    lat = np.exp(rng.normal(6.5, 1.4, n)).astype("int64")
    lat[rng.random(n) < 0.001] = 0
    lat[rng.random(n) < 0.002] *= 200
    df = ROWS.sample(n, replace=True, random_state=1).reset_index(drop=True)
    df["model"] = pd.Categorical(models)
    df["latency_ms"] = lat
    halves = [cube.build(df.iloc[: n // 3]), cube.build(df.iloc[n // 3 :])]
    merged = cube.merge(*halves)
    qs = (0.5, 0.95, 0.99)
    got = cube.quantiles(merged, ["model"], qs).set_index("model")
    for m in ("a", "b", "c"):
        exact = np.percentile(lat[models == m], [q * 100 for q in qs])
        for q, want in zip(qs, exact, strict=True):
            assert got.loc[m, f"q{q}"] == pytest.approx(want, rel=cube.SKETCH_ACCURACY), (m, q)
        assert got.loc[m, "calls"] == int((models == m).sum())


def test_sketch_buckets_bound_every_value():
    v = np.unique(np.geomspace(1, 1e8, 5000).astype("int64"))
    est = cube.bucket_values(cube.latency_buckets(v))
    assert np.all(np.abs(est - v) <= cube.SKETCH_ACCURACY * v + 1e-9)
    assert cube.bucket_values(cube.latency_buckets(np.array([0])))[0] == 0.0


def test_side_tables_hold_every_call_they_describe():
    c = cube.build(ROWS)
    sides = c.sides
    assert set(sides) == set(cube.SIDES)
    assert int(sides["latency"]["count"].sum()) == int(sides["latency_day"]["count"].sum()) == len(ROWS)
    failed = ROWS["stop_reason"].isin(["TIMEOUT", "ERROR", "CANCELLED"]).to_numpy()
    ok = ~failed & (ROWS["latency_ms"].to_numpy() > 0)
    tps = ROWS["output_tokens"].to_numpy()[ok] / (ROWS["latency_ms"].to_numpy()[ok] / 1000)
    assert int(sides["tps"]["count"].sum()) == int(ok.sum())
    assert sides["tps"]["sum"].sum() == pytest.approx(tps.sum(), rel=1e-12)
    assert int(sides["ttft"]["count"].sum()) == int(_STREAMED.sum())
    assert sides["ttft"]["sum"].sum() == pytest.approx(ROWS["time_to_first_token_ms"].sum(), rel=1e-12)
    priced = ROWS["cost_usd"].notna().to_numpy()
    inp = sides["input"]
    assert int(inp["calls"].sum()) == int(priced.sum())
    assert inp["cost"].sum() == pytest.approx(ROWS["cost_usd"].sum(skipna=True), rel=1e-12)
    assert int(inp["input"].sum()) == int(ROWS["input_tokens"].to_numpy()[priced].sum())
    # each input bucket's smallest and largest input lie in the bucket
    assert (cube.latency_buckets(inp["min"]) == inp["bucket"]).all()
    assert (cube.latency_buckets(inp["max"]) == inp["bucket"]).all()
    # a smaller cube (the live session's dimensions) keeps no side tables
    assert cube.build(ROWS, dims=("provider", "model")).sides == {}


def test_a_day_cube_equals_the_coarsened_hour_cube_and_merges_the_same():
    day = cube.build(ROWS, grain="day")
    assert day.grain == "day" and cube.equal(day, cube.coarsen(cube.build(ROWS), "day"))
    parts = [cube.build(p, grain="day") for p in _split(ROWS, [700, 1900, 2400])]
    assert cube.equal(cube.merge(*parts[::-1]), day)
    assert len(day) < len(cube.build(ROWS))  # fewer cells: hours no longer split them
    ms = ROWS["timestamp"].dt.tz_localize(None).to_numpy().astype("datetime64[ms]").astype("int64")
    assert np.array_equal(np.sort(np.unique(cube.days(day))), np.unique(ms // cube.DAY_MS))


def test_the_hourly_side_table_holds_cost_and_calls_per_hour_provider_and_model():
    day = cube.build(ROWS, grain="day")
    side = cube.hours(day)
    got = pd.DataFrame(
        {
            "hour": side["hour"],
            "provider": day.decode("provider", side["provider"]),
            "model": day.decode("model", side["model"]),
            "cost_usd": side["cost_usd"],
            "calls": side["calls"],
        }
    ).sort_values(["hour", "provider", "model"], ignore_index=True)
    rows = ROWS.assign(
        hour=ROWS["timestamp"].dt.tz_localize(None).to_numpy().astype("datetime64[h]").astype("int64"),
        provider=ROWS["provider"].astype(str),
        model=ROWS["model"].astype(str),
    )
    want = (
        rows.groupby(["hour", "provider", "model"])
        .agg(cost_usd=("cost_usd", "sum"), calls=("cost_usd", "size"))
        .reset_index()
    )
    pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=1e-12)
    # an hour cube gives the same hours from its side table or, without one, from its cells
    hour = cube.build(ROWS)
    bare = cube.Cube("hour", hour.labels, hour.cols, hour.sketch, hour.dims, {})
    for c in (hour, bare):
        h2 = cube.hours(c)
        assert int(h2["calls"].sum()) == len(ROWS) and len(h2["hour"]) == len(want)
    with pytest.raises(ValueError, match="hourly side table"):
        cube.hours(cube.Cube("day", day.labels, day.cols, day.sketch, day.dims, {}))


def test_merge_all_consumes_its_inputs_and_equals_merge_bit_for_bit():
    parts = [cube.build(p, grain="day") for p in _split(ROWS, [500, 1500, 1501, 2900])]
    want = cube.merge(*parts)
    assert all(len(p) for p in parts)  # merge left its inputs whole
    inputs = list(parts)
    got = cube.merge_all(inputs)
    assert inputs == []
    assert got.labels == want.labels
    assert all(np.array_equal(got.cols[k], want.cols[k]) for k in want.cols)
    assert all(np.array_equal(got.sketch[k], want.sketch[k]) for k in want.sketch)
    assert cube.equal(got, cube.build(ROWS, grain="day"))
    # every day split between two inputs, and a single day in all of them, regroup the same way
    one_day = ROWS[ROWS["timestamp"].dt.floor("D") == ROWS["timestamp"].dt.floor("D").iloc[0]]
    pieces = [cube.build(p, grain="day") for p in _split(one_day.reset_index(drop=True), [10, 40])]
    assert cube.equal(cube.merge_all(pieces), cube.build(one_day, grain="day"))


#: views of every kind the analyzers declare: day and period grain, fewer sums, the side tables
VIEWS = (
    cube.View(("customer_id", "subscription_tier"), sums=("calls", "cost_usd", "unpriced_calls")),
    cube.View(("organization_id", "product_id", "model"), grain=cube.PERIOD),
    cube.View(("customer_id",), grain=cube.PERIOD),
    cube.View(("provider",)),
    cube.DAYS_VIEW,
    cube.SIDE_VIEW,
)


def _views_equal(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for v in want:
        assert cube.equal(got[v], want[v]), v
        assert got[v].dims == v.dims and got[v].grain == v.grain
        assert set(got[v].sides) == set(v.sides) and set(got[v].cols) - {v.grain, *v.dims} == {
            *v.sums,
            "first_ms",
            "last_ms",
        }


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cuts=st.lists(st.integers(min_value=1, max_value=len(ROWS) - 1), max_size=6),
    shuffle=st.integers(min_value=0, max_value=2**16),
    interleave=st.booleans(),
)
def test_views_built_then_merged_over_any_split_equal_the_views_of_all_rows(cuts, shuffle, interleave):
    """Per part: the day cube projected onto each view (``project_all``); merged per view
    (``merge_views``): the projections of the cube of all rows, whatever the split and order."""
    want = {v: cube.project(cube.build(ROWS, grain="day"), v) for v in VIEWS}
    rows = ROWS.sample(frac=1.0, random_state=shuffle).reset_index(drop=True) if interleave else ROWS
    parts = [cube.project_all(cube.build(p, grain="day"), VIEWS) for p in _split(rows, cuts)]
    order = np.random.default_rng(shuffle).permutation(len(parts))
    got = cube.merge_views([parts[i] for i in order])
    _views_equal(got.cubes, want)
    assert all(c.calls == len(ROWS) for c in got.cubes.values())


def test_a_view_equals_the_cube_built_on_its_dimensions_alone():
    """Projecting regroups the cells exactly: a view's cells, sums and first/last calls are those of a cube
    built from the rows with the view's dimensions only; the sketch goes with the latency side table."""
    full = cube.build(ROWS, grain="day")
    v = cube.View(("model", "provider"))
    assert v.dims == ("model", "provider")  # one spelling: DIMS order
    got = cube.project(full, v)
    want = cube.build(ROWS, grain="day", dims=v.dims, sides={})
    assert cube.equal(cube.Cube(got.grain, got.labels, got.cols, want.sketch, got.dims, {}, {}), want)
    assert len(got.sketch["count"]) == 0 and not got.sides
    side = cube.project(full, cube.SIDE_VIEW)
    assert side.grain == cube.PERIOD and set(np.unique(side.cols[cube.PERIOD])) == {0}
    assert all(np.array_equal(side.sketch[k], full.sketch[k]) for k in full.sketch)
    assert side.sides["hourly"] is full.sides["hourly"]
    assert cube.project(full, cube.FULL) is full
    with pytest.raises(ValueError, match="lacks"):
        cube.project(got, cube.View(("customer_id",)))
    with pytest.raises(ValueError, match="keyed by"):
        cube.View(("model",), sides=("hourly",))
    with pytest.raises(ValueError, match="calls"):
        cube.View(("model",), sums=("cost_usd",))


def test_views_answer_each_grouping_from_the_narrowest_that_holds_it():
    views = cube.Views(cube.project_all(cube.build(ROWS, grain="day"), VIEWS))
    assert views.view(("customer_id",)).dims == ("customer_id",)  # period, every sum
    got = views.view(("customer_id",), daily=True, sums=("calls", "cost_usd"))
    assert got.dims == ("customer_id", "subscription_tier")
    with pytest.raises(KeyError):  # the customers' day view lacks the token sums: never given by default
        views.view(("customer_id",), daily=True)
    assert views.view((), daily=True) is views.cubes[cube.DAYS_VIEW]
    assert views.view((), ("hourly",)) is views.cubes[cube.SIDE_VIEW]
    with pytest.raises(ValueError, match="no days"):
        cube.days(views.view(("organization_id",)))
    full = cube.build(ROWS, grain="day")
    assert cube.view(full, ("customer_id",), daily=True) is full  # a full cube answers every view
    with pytest.raises(KeyError):
        cube.view(views.view(("provider",)), ("customer_id",))
