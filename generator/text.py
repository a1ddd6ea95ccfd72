"""Vectorized text for the CSV: hex ids and timestamps as fixed-width byte matrices, no per-row str.

A column of n fixed-width values is an ``(n, width)`` uint8 matrix; ``to_arrow`` wraps its buffer as
an Arrow string array without copying, which ``metering.store.format_csv`` writes as is.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from generator.calendar import MS_PER_DAY

_DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)


_U64_MAX = np.iinfo(np.uint64).max


def random_u64(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, _U64_MAX, n, dtype=np.uint64, endpoint=True)


#: two ASCII hex digits per byte value, as one uint16 whose memory order is (high digit, low digit)
_HEX_PAIRS = (
    np.frombuffer(b"".join(f"{i:02x}".encode() for i in range(256)), dtype=np.uint8).reshape(256, 2).copy()
)
_HEX16 = _HEX_PAIRS.view(np.uint16).ravel()


def hex_matrix(values: np.ndarray, digits: int = 16) -> np.ndarray:
    """``(n, digits)`` lowercase hex of unsigned 64-bit values (most significant digit first)."""
    raw = np.ascontiguousarray(values, dtype=">u8").view(np.uint8)
    return np.take(_HEX16, raw).view(np.uint8).reshape(-1, 16)[:, 16 - digits :]


def join(prefix: bytes, *parts: np.ndarray) -> np.ndarray:
    """Concatenate a constant prefix and fixed-width parts into one ``(n, width)`` matrix."""
    n = parts[0].shape[0]
    width = len(prefix) + sum(p.shape[1] for p in parts)
    out = np.empty((n, width), dtype=np.uint8)
    out[:, : len(prefix)] = np.frombuffer(prefix, dtype=np.uint8)
    pos = len(prefix)
    for p in parts:
        out[:, pos : pos + p.shape[1]] = p
        pos += p.shape[1]
    return out


def to_arrow(matrix: np.ndarray) -> pa.Array:
    """An Arrow string array over a fixed-width byte matrix (zero copy)."""
    n, width = matrix.shape
    data = np.ascontiguousarray(matrix)
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def strings(values: list[str]) -> pa.Array:
    """An Arrow string array of a (short) list of str, built from buffers (``pa.array`` imports pandas)."""
    encoded = [v.encode() for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    offsets[1:] = np.cumsum([len(e) for e in encoded])
    return pa.StringArray.from_buffers(len(encoded), pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded)))


def hex_ids(prefix: bytes, values: np.ndarray, digits: int = 16) -> pa.Array:
    return to_arrow(join(prefix, hex_matrix(values, digits)))


def trace_matrix(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """``(n, 32)`` hex of 128-bit trace ids given as two 64-bit halves."""
    return hex_matrix(np.stack([hi, lo], 1).ravel()).reshape(-1, 32)


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded decimal digits of non-negative ints, ``(n, width)``."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return _DIGITS[(values[:, None] // powers[None, :]) % 10]


def timestamps(t_ms: np.ndarray) -> pa.Array:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` for epoch milliseconds (the store's timestamp text), as Arrow strings."""
    return to_arrow(timestamp_matrix(t_ms))


def timestamp_matrix(t_ms: np.ndarray) -> np.ndarray:
    """``(n, 24)``: ``YYYY-MM-DDTHH:MM:SS.mmmZ`` for epoch milliseconds (the store's timestamp text)."""
    t_ms = np.asarray(t_ms, dtype=np.int64)
    n = len(t_ms)
    out = np.empty((n, 24), dtype=np.uint8)
    day = t_ms // MS_PER_DAY
    dates, which = np.unique(day, return_inverse=True)  # a block has a few dates
    table = np.frombuffer(b"".join(str(np.datetime64(int(d), "D")).encode() for d in dates), dtype=np.uint8)
    out[:, :10] = table.reshape(-1, 10)[which]
    ms = t_ms - day * MS_PER_DAY
    out[:, 10] = ord("T")
    out[:, 11:13] = _digits(ms // 3_600_000, 2)
    out[:, 13] = ord(":")
    out[:, 14:16] = _digits(ms // 60_000 % 60, 2)
    out[:, 16] = ord(":")
    out[:, 17:19] = _digits(ms // 1000 % 60, 2)
    out[:, 19] = ord(".")
    out[:, 20:23] = _digits(ms % 1000, 3)
    out[:, 23] = ord("Z")
    return out
