"""CSV text of typed columns without a CSV writer: each row a NUL-padded byte matrix row, NULs dropped once.

The bytes are the store's CSV text, the same as ``metering.store.format_csv`` writes (tested against it):
non-negative integers in decimal, costs rounded to ``COST_DECIMALS`` decimals the way Arrow's
``round`` does and written as Arrow's CSV writer writes a float64 (shortest round-trip digits, plain
notation for decimal exponents -6..9, else ``1.5e-7`` / ``1e+10``), a missing cost as an empty field.

A field is an ``(n, width)`` uint8 matrix whose unused bytes are 0 (NUL never occurs in CSV text), so
fields of different widths are laid side by side into one matrix and ``rows`` keeps the non-zero bytes:
one pass for the whole block, no per-row Python. Vocabularies (ids, names, whole runs of fields that
depend on one key) are ``vocabulary`` tables gathered by index.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np

#: cost is stored rounded to this many decimals (1e-9 USD): exact enough, and short lines
COST_DECIMALS = 9
_SCALE = 10.0**COST_DECIMALS
#: Arrow writes a float64 in plain notation for decimal exponents in [low, high)
_PLAIN_LOW, _PLAIN_HIGH = -6, 10


def vocabulary(values: list[bytes]) -> np.ndarray:
    """``(k, width)`` uint8 table of byte strings, NUL-padded (row i = ``values[i]``)."""
    width = max((len(v) for v in values), default=0)
    return np.frombuffer(b"".join(v.ljust(width, b"\0") for v in values), dtype=np.uint8).reshape(
        len(values), width
    )


#: the two ASCII digits of 0..99
_PAIRS = np.frombuffer(b"".join(f"{i:02d}".encode() for i in range(100)), dtype=np.uint16).copy()


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """``(n, width)`` ASCII digits of non-negative ints, zero-padded on the left (two digits per division)."""
    pairs = (width + 1) // 2
    dtype = np.uint32 if pairs <= 5 else np.uint64  # 32-bit division is several times faster
    powers = (100 ** np.arange(pairs - 1, -1, -1, dtype=np.uint64)).astype(dtype)
    index = (values.astype(dtype)[:, None] // powers) % 100
    return np.take(_PAIRS, index).view(np.uint8)[:, 2 * pairs - width :]


def integers(values: np.ndarray) -> np.ndarray:
    """Non-negative integers in decimal: ``(n, width)``, leading zeros as NUL."""
    values = np.asarray(values)
    if not len(values):
        return np.zeros((0, 1), dtype=np.uint8)
    if values.min() < 0:
        raise ValueError("integers: negative values are not written by this formatter")
    width = len(str(int(values.max())))
    out = _digits(values, width)
    if width > 1:
        # digits of each value: 1 + how many of 10, 100, ... it reaches; the rest of the width is NUL
        count = np.searchsorted(10 ** np.arange(1, width, dtype=np.int64), values, side="right") + 1
        out *= np.arange(width, dtype=np.int64)[None, :] >= (width - count)[:, None]
    return out


def round_cost(x: np.ndarray) -> np.ndarray:
    """``x`` rounded to COST_DECIMALS as Arrow's ``round`` does: a value already whole at that scale
    is kept as it is; otherwise the scaled value is rounded (half to even) and divided back."""
    y = x * _SCALE
    return np.where(y == np.floor(y), x, np.rint(y) / _SCALE)


def float_text(value: float) -> bytes:
    """One float64 as Arrow's CSV writer writes it (NaN: the empty field)."""
    if value != value:
        return b""
    if value == 0:
        return b"-0" if np.signbit(value) else b"0"
    if value in (float("inf"), float("-inf")):
        return b"inf" if value > 0 else b"-inf"
    text = repr(value)
    if "e" not in text and 10.0**_PLAIN_LOW <= abs(value) < 10.0**_PLAIN_HIGH:  # repr is plain here too
        return text.removesuffix(".0").encode()
    d = Decimal(repr(value)).normalize()  # repr: the shortest digits that read back as the value
    sign, digits, exp = d.as_tuple()
    assert isinstance(exp, int)
    e = len(digits) - 1 + exp  # decimal exponent of the first digit
    text = "".join(map(str, digits))
    if _PLAIN_LOW <= e < _PLAIN_HIGH:
        body = f"{d.copy_abs():f}"
    else:
        body = text[0] + ("." + text[1:] if len(text) > 1 else "") + f"e{'+' if e >= 0 else '-'}{abs(e)}"
    return (("-" if sign else "") + body).encode()


def costs(values: np.ndarray) -> np.ndarray:
    """Costs rounded to COST_DECIMALS, as text: ``(n, width)`` (NaN: empty)."""
    r = round_cost(np.asarray(values, dtype=np.float64))
    n = len(r)
    finite = np.isfinite(r)
    k = np.zeros(n, dtype=np.float64)
    k[finite] = np.rint(r[finite] * _SCALE)
    # plain digits of k / 10^9 are the shortest text when they read back as r and the value is in
    # the plain-notation range; the rest (rare) are formatted one by one
    fast = finite & (r >= 10.0**_PLAIN_LOW) & (r < 1e6) & (k / _SCALE == r)  # k exact below 2^53
    fast |= r == 0
    fast &= ~np.signbit(r)
    kk = np.where(fast, k, 0).astype(np.uint64)
    whole = kk // np.uint64(10**COST_DECIMALS)
    part = (kk % np.uint64(10**COST_DECIMALS)).astype(np.uint32)
    head = integers(whole)
    tail = _digits(part, COST_DECIMALS)
    kept = np.maximum.accumulate((tail != 48)[:, ::-1], axis=1)[:, ::-1]  # up to the last non-zero
    tail[~kept] = 0
    dot = np.where(kept[:, 0], ord("."), 0).astype(np.uint8)[:, None]
    slow = np.flatnonzero(~fast)
    texts = [float_text(float(v)) for v in r[slow]]
    width = head.shape[1] + 1 + COST_DECIMALS
    width = max([width, *(len(t) for t in texts)])
    out = np.zeros((n, width), dtype=np.uint8)
    out[:, : head.shape[1]] = head
    out[:, head.shape[1]] = dot[:, 0]
    out[:, head.shape[1] + 1 : head.shape[1] + 1 + COST_DECIMALS] = tail
    if len(slow):
        out[slow] = vocabulary([t.ljust(width, b"\0") for t in texts])
    return out


def rows(fields: list[np.ndarray | bytes]) -> bytes:
    """Lay ``fields`` side by side (each ``(n, width)`` NUL-padded, or ``bytes``: the same text on every
    row, e.g. a separator) and keep the non-NUL bytes: the CSV text. Every row must end in a newline."""
    n = next(f.shape[0] for f in fields if isinstance(f, np.ndarray))
    widths = [len(f) if isinstance(f, bytes) else f.shape[1] for f in fields]
    width = sum(widths)
    # each field goes in as one fixed-size element per row (a memcpy each), not byte by byte
    offsets = np.cumsum([0, *widths[:-1]]).tolist()
    names = [f"f{i}" for i in range(len(fields))]
    layout = np.dtype(
        {"names": names, "formats": [f"V{w}" for w in widths], "offsets": offsets, "itemsize": width}
    )
    record = np.empty(n, dtype=layout)
    for name, f, w in zip(names, fields, widths, strict=True):
        if isinstance(f, bytes):
            record[name] = np.frombuffer(f, dtype=f"V{w}")[0]
        else:
            record[name] = np.ascontiguousarray(f).view(f"V{w}").ravel()
    matrix = record.view(np.uint8).reshape(n, width)
    return matrix[matrix != 0].tobytes()
