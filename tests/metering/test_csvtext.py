"""``metering.csvtext`` writes the same bytes as the store's formatter (Arrow's CSV writer)."""

from __future__ import annotations

import numpy as np
import pytest

from metering import csvtext
from metering.store import format_csv


def _arrow_costs(values: np.ndarray) -> list[bytes]:
    return format_csv({"cost_usd": values}, columns=["cost_usd"]).split(b"\n")[:-1]


def _ours(matrix: np.ndarray) -> list[bytes]:
    return [bytes(row).replace(b"\0", b"") for row in matrix]


def test_costs_are_written_as_the_store_writes_them():
    rng = np.random.default_rng(5)
    magnitudes = 10.0 ** rng.uniform(-12, 9, 40_000)
    generated = rng.integers(1, 5000, 20_000) * rng.choice(
        [0.00015, 0.0006, 0.003, 0.015, 0.00125e-3], 20_000
    )
    special = np.array(
        [0.0, 1.0, 1e-5, 1.5e-6, 1e-6, 9.99e-7, 1.5e-7, 0.0005, 5e-10, 1.5e-9, 2.5e-9, 123.0, 0.1, 999999.5,
         1e9, 9.9e9, 1e10, 1.2345678901e10, 0.0027022500000000002, 0.00270225, np.nan, 3e-4, 1e-4]
    )  # fmt: skip
    values = np.concatenate([magnitudes, rng.random(20_000), generated, special])
    assert _ours(csvtext.costs(values)) == _arrow_costs(values)


def test_rounding_follows_arrow_round_half_to_even_and_keeps_values_whole_at_the_scale():
    values = np.array([0.0000000005, 0.0000000015, 0.0000000025, 1.0000000005, 0.0027022500000000002])
    got = _ours(csvtext.costs(values))
    assert got == _arrow_costs(values)
    assert got[-1] == b"0.0027022500000000002"  # whole at 1e-9 already: Arrow keeps the value as it is


def test_integers_in_decimal():
    rng = np.random.default_rng(2)
    values = np.concatenate([[0, 9, 10, 99, 100, 2**32 - 1, 2**32, 10**12], rng.integers(0, 10**7, 5000)])
    assert _ours(csvtext.integers(values)) == [str(v).encode() for v in values]
    with pytest.raises(ValueError, match="negative"):
        csvtext.integers(np.array([3, -1]))


def test_rows_keep_every_byte_but_the_padding():
    names = csvtext.vocabulary([b"a,", b"bbb,", b""])
    n = 4
    text = csvtext.rows([names[np.array([0, 1, 2, 1])], csvtext.integers(np.array([1, 22, 333, 0])), b"\n"])
    assert text == b"a,1\nbbb,22\n333\nbbb,0\n"
    assert len(text.split(b"\n")) == n + 1
