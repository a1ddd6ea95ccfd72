"""Vectorized text (ids, timestamps) and the shard format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from generator import text
from generator.calendar import iso_ms
from generator.shards import Shard, read_shard, write_shard
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


def test_shard_round_trip_and_slices_on_whole_lines(tmp_path):
    lines = [f"2026-01-01T00:00:0{i}.000Z,row{i}\n".encode() for i in range(5)]
    shard = Shard(
        3,
        b"".join(lines),
        np.arange(5, dtype=np.int64),
        np.linspace(0, 1, 5),
        np.arange(5, dtype=np.int64) * 10,
        np.arange(5, dtype=np.int32),
        np.zeros(5, dtype=np.int16),
        np.ones(5, dtype=np.int16),
    )
    path = tmp_path / "day.shard"
    write_shard(path, shard)
    back = read_shard(path, 3)
    assert back.csv == shard.csv and (back.cost == shard.cost).all() and back.rows == 5
    part = back.slice(1, 3)
    assert part.csv == lines[1] + lines[2] and part.t_ms.tolist() == [1, 2]
    assert back.slice(0, 0).csv == b"" and back.slice(5, 5).rows == 0
