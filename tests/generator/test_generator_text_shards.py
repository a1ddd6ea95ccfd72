"""Vectorized text (ids, timestamps) and the shard format."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import numpy as np

from generator import text
from generator.calendar import iso_ms
from generator.shards import Arena, Ring, Shard, _pieces, line_ends, merge, read_shard, write_shard
from metering.schema import format_timestamp


def test_timestamps_match_the_schema_formatter():
    rng = np.random.default_rng(1)
    t = np.sort(rng.integers(1_700_000_000_000, 1_800_000_000_000, 500))
    t[:3] = [0, 86_399_999, 1_767_225_600_000]  # epoch, end of a day, a new year's midnight
    got = text.timestamps(t).to_pylist()
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert got == [format_timestamp(epoch + timedelta(milliseconds=int(x))) for x in t]
    assert got == [iso_ms(int(x)) for x in t]


def test_hex_ids_are_fixed_width_lowercase_hex():
    v = np.array([0, 1, 0xDEADBEEF, 2**64 - 1], dtype=np.uint64)
    assert text.hex_ids(b"call_", v).to_pylist() == [f"call_{int(x):016x}" for x in v]
    assert [bytes(r).decode() for r in text.hex_matrix(v, 4)] == [f"{int(x) & 0xFFFF:04x}" for x in v]


def _shard(lines: list[bytes], t_ms: list[int], scenario: int) -> Shard:
    n = len(lines)
    return Shard(
        b"".join(lines),
        np.array(t_ms, dtype=np.int64),
        np.linspace(0, 1, n),
        np.arange(n, dtype=np.int64) * 10,
        np.arange(n, dtype=np.int32),
        np.zeros(n, dtype=np.int16),
        np.full(n, scenario, dtype=np.int16),
        line_ends(b"".join(lines)),
    )


def test_shard_round_trip_and_slices_on_whole_lines(tmp_path):
    lines = [f"2026-01-01T00:00:0{i}.000Z,row{i}\n".encode() for i in range(5)]
    shard = _shard(lines, list(range(5)), 1)
    path = tmp_path / "day.shard"
    write_shard(path, shard)
    back = read_shard(path)
    assert bytes(back.csv) == shard.csv and (back.cost == shard.cost).all() and back.rows == 5
    part = back.slice(1, 3)
    assert bytes(part.csv) == lines[1] + lines[2] and part.t_ms.tolist() == [1, 2]
    assert part.ends.tolist() == [len(lines[1]), len(lines[1]) + len(lines[2])]
    assert bytes(back.slice(0, 0).csv) == b"" and back.slice(5, 5).rows == 0
    assert back.between(2, 4).t_ms.tolist() == [2, 3]


def test_a_shard_written_in_short_writes_reads_back_whole(tmp_path, monkeypatch):
    import generator.shards as shards_module

    real, calls = os.writev, []

    def short(fd, buffers):  # the kernel may write less than asked: 7 bytes at a time here
        calls.append(1)
        return real(fd, [bytes(memoryview(buffers[0]).cast("B")[:7])])

    monkeypatch.setattr(shards_module.os, "writev", short)
    lines = [f"2026-01-01T00:00:0{i}.000Z,row{i}\n".encode() for i in range(5)]
    shard = _shard(lines, list(range(5)), 3)
    path = tmp_path / "short.shard"
    write_shard(path, shard)
    back = read_shard(path)
    assert len(calls) > 10 and not path.with_name("short.shard.part").exists()
    assert bytes(back.csv) == shard.csv and back.t_ms.tolist() == list(range(5))
    assert back.ends.tolist() == shard.ends.tolist() and (back.scenario == 3).all()


def test_scenario_shards_merge_in_timestamp_order_ties_in_scenario_order():
    a = _shard([b"a0\n", b"a1-long\n", b"a2\n"], [10, 20, 30], 0)
    b = _shard([b"b0-longer\n", b"b1\n"], [5, 20], 1)
    c = _shard([], [], 2)
    merged = merge([a, c, b])
    assert bytes(merged.csv) == b"b0-longer\na0\na1-long\nb1\na2\n"
    assert merged.t_ms.tolist() == [5, 10, 20, 20, 30] and merged.scenario.tolist() == [1, 0, 0, 1, 0]
    assert merged.ends.tolist() == line_ends(bytes(merged.csv)).tolist()
    assert bytes(merged.slice(1, 3).csv) == b"a0\na1-long\n"


def test_format_calls_writes_the_store_formatters_bytes_for_every_scenario():
    from generator_testkit import calls_of, world_of

    from generator.synthesis import format_calls, format_calls_arrow, price

    world = world_of()
    for si in range(len(world.scenarios)):
        calls = calls_of(world, range(8, 12), si)
        cost = price(world, calls)
        cost[::97] = np.nan  # unpriced calls: an empty field
        assert format_calls(world, calls, cost) == format_calls_arrow(world, calls, cost)


def test_format_calls_hands_names_that_need_quoting_to_the_store_formatter():
    from generator_testkit import calls_of, world_of

    from generator.synthesis import format_calls, format_calls_arrow, price

    world = world_of("base_traffic", customers=40)
    names = dict(world.names)
    names["user_agent"] = ['agent "quoted", v1', *names["user_agent"][1:]]
    world.__dict__["names"] = names  # before the text tables and dictionaries are built
    assert world.text_tables is None
    calls = calls_of(world, range(3))
    cost = price(world, calls)
    text = format_calls(world, calls, cost)
    assert text == format_calls_arrow(world, calls, cost) and b'"agent ""quoted"", v1"' in text


def test_the_arena_ring_reuses_released_space_in_order_and_says_when_it_is_full():
    shards = [_shard([f"{i:03d}-{'x' * 40}\n".encode()], [i], i % 3) for i in range(6)]
    size = sum(len(v) for v in _pieces(shards[0]))  # every shard here has the same size
    arena = Arena(workers=2, ring_bytes=3 * size + size // 2)  # room for three shards per worker
    ring = Ring(arena, worker=1)
    placed = [ring.put(s) for s in shards[:3]]
    assert [p[0] for p in placed] == [1, 2, 3] and placed[0][1] == arena.ring_bytes  # worker 1's ring
    assert ring.put(shards[3]) is None  # full until the merger releases
    for (_, offset), s in zip(placed, shards[:3], strict=True):
        back = arena.shard(offset)
        assert bytes(back.csv) == s.csv and back.t_ms.tolist() == s.t_ms.tolist()
    arena.release(1, 1)
    seq, offset = ring.put(shards[3])  # wraps to the start of the ring, over the released shard
    assert seq == 4 and offset == placed[0][1] and bytes(arena.shard(offset).csv) == shards[3].csv
    assert bytes(arena.shard(placed[1][1]).csv) == shards[1].csv  # the unreleased ones are intact
    assert ring.put(shards[4]) is None
    arena.release(1, 3)
    assert ring.put(shards[4]) is not None and ring.put(shards[5]) is not None
    assert Ring(arena, worker=0).put(_shard([b"y" * (4 * size) + b"\n"], [0], 0)) is None  # never fits


def test_the_ring_places_a_shard_at_its_lowest_free_offset():
    shards = [_shard([f"{i:03d}-{'x' * 40}\n".encode()], [i], 0) for i in range(5)]
    size = sum(len(v) for v in _pieces(shards[0]))
    arena = Arena(workers=1, ring_bytes=6 * size)  # room for six
    ring = Ring(arena, worker=0)
    offsets = [ring.put(s)[1] for s in shards[:3]]
    assert offsets == [0, size, 2 * size]
    arena.release(0, 2)  # the first two are merged: the pages at the ring's start are free again
    assert ring.put(shards[3])[1] == 0  # not 3 * size: the ring's pages in use stay few
    assert ring.put(shards[4])[1] == size
    assert bytes(arena.shard(2 * size).csv) == shards[2].csv
