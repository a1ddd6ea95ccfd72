"""Seeded random twins of test_fuzz.py's hypothesis strategies, for the 10,000-body volume test.

The volume test (test_fuzz_volume.py) is about volume against one server (no 5xx, no dead thread, a
valid CSV holding exactly what was acknowledged), not about shrinking: drawing its bodies through the
hypothesis engine cost ~15 ms a body, two thirds of the suite's longest test. These functions draw the
same kinds of values (the same vocabularies, imported from test_fuzz.py) from one ``random.Random``, so
a run is reproduced from its seed (``FUZZ_SEED``). The per-route property tests of test_fuzz.py keep
hypothesis and its shrinking.
"""

from __future__ import annotations

import gzip
import zlib
from random import Random
from typing import Any

from tests.ingest.ingest_helpers import wire_record
from tests.ingest.test_fuzz import BASE_GENAI, GENAI_KEYS, HUGE_INTS, SPECIAL_STRINGS, WIRE_FIELDS

#: text drawn for st.text(): mostly ASCII, some Latin-1, other planes, surrogates and controls
_TEXT_ALPHABET = (
    [chr(c) for c in range(0x20, 0x7F)] * 3
    + [chr(c) for c in range(0x00, 0x20)]
    + [chr(c) for c in range(0x80, 0x180)]
    + list("\u2028\u2029\u202e\ufeff\ud800\udfff中😀")
)
#: header text: VCHAR, space and obs-text (what HTTP carries and waitress passes on)
_HEADER_ALPHABET = [chr(c) for c in range(0x20, 0x100) if c != 0x7F]
_FLOATS = [0.0, -0.0, 0.5, 1e308, -1e308, 5e-324, 1e-12, 1e19, float("nan"), float("inf"), float("-inf")]


def text(rng: Random, max_size: int, alphabet: list[str] = _TEXT_ALPHABET) -> str:
    return "".join(rng.choices(alphabet, k=rng.randint(0, max_size)))


def scalar(rng: Random) -> Any:
    """test_fuzz.scalars."""
    roll = rng.randrange(8)
    if roll == 0:
        return None
    if roll == 1:
        return rng.random() < 0.5
    if roll == 2:
        return rng.randint(-(2**70), 2**70) if rng.random() < 0.3 else rng.randint(-1000, 1000)
    if roll == 3:
        return rng.choice(HUGE_INTS)
    if roll == 4:
        return rng.choice(_FLOATS) if rng.random() < 0.5 else rng.uniform(-1e6, 1e6)
    if roll == 5:
        return text(rng, 40)
    return rng.choice(SPECIAL_STRINGS)


def json_value(rng: Random, leaves: int = 12) -> Any:
    """test_fuzz.json_values: scalars, lists and objects nested up to ``leaves`` scalars."""
    if leaves <= 1 or rng.random() < 0.5:
        return scalar(rng)
    n = rng.randint(0, 4)
    share = max(1, (leaves - 1) // max(n, 1))
    if rng.random() < 0.5:
        return [json_value(rng, share) for _ in range(n)]
    return {text(rng, 8): json_value(rng, share) for _ in range(n)}


def record(rng: Random) -> dict[str, Any]:
    """test_fuzz.records: a valid wire record with up to 4 fields deleted or replaced by any JSON."""
    out = wire_record(transactionId=f"txn_{rng.getrandbits(128):032x}")
    for _ in range(rng.randint(0, 4)):
        name = rng.choice(WIRE_FIELDS) if rng.random() < 0.8 else text(rng, 12)
        roll = rng.randrange(3)
        if roll == 0:
            out.pop(name, None)
        else:
            out[name] = json_value(rng) if roll == 1 else {"id": json_value(rng)}
    return out


def single_body(rng: Random) -> Any:
    """test_fuzz.single_bodies."""
    return record(rng) if rng.random() < 0.5 else json_value(rng)


def batch_body(rng: Random) -> Any:
    """test_fuzz.batch_bodies."""
    return [record(rng) for _ in range(rng.randint(1, 6))] if rng.random() < 0.5 else json_value(rng)


def _mostly(rng: Random, good: Any, bad: Any, one_in: int = 15) -> Any:
    return bad(rng) if rng.randrange(one_in) == 0 else good(rng)


def hex_id(rng: Random, n: int) -> str:
    """test_fuzz.hex_ids: n random bytes as hex, now and then a wrong id."""
    return _mostly(
        rng,
        lambda r: r.randbytes(n).hex(),
        lambda r: r.choice([r.randbytes(r.randint(0, 2 * n)).hex(), "", "zz", "0" * (2 * n), text(r, 40)]),
    )


def nanos(rng: Random) -> Any:
    """test_fuzz.nanos: a time in 2020-2030 as a decimal string, now and then anything."""
    return _mostly(
        rng,
        lambda r: str(r.randint(1_600_000_000 * 10**9, 1_900_000_000 * 10**9)),
        lambda r: r.choice(
            [str(r.getrandbits(64)), r.getrandbits(64), 0, "0", -1, "-1", 2**64, "1e18", "abc", None, 1.5e18]
        ),
    )


def any_value(rng: Random, depth: int = 2) -> dict[str, Any]:
    """test_fuzz.any_values: an OTLP AnyValue of every kind, arrays nested ``depth`` deep."""
    roll = rng.randrange(8 if depth else 7)
    if roll == 0:
        return {"stringValue": text(rng, 30) if rng.random() < 0.5 else rng.choice(SPECIAL_STRINGS)}
    if roll == 1:
        return {"intValue": rng.choice(HUGE_INTS) if rng.random() < 0.3 else rng.randint(-(2**63), 2**63 - 1)}
    if roll == 2:
        return {"intValue": str(rng.randint(-(2**63), 2**63 - 1))}
    if roll == 3:
        return {"doubleValue": rng.uniform(-1e300, 1e300)}
    if roll == 4:
        return {"doubleValue": rng.choice(["NaN", "Infinity", "-Infinity", "1e308"])}
    if roll == 5:
        return {"boolValue": rng.random() < 0.5}
    if roll == 6:
        return {}
    return {"arrayValue": {"values": [any_value(rng, depth - 1) for _ in range(rng.randint(0, 3))]}}


def attribute_value(rng: Random) -> Any:
    """test_fuzz.attribute_values: an AnyValue, now and then any JSON."""
    return _mostly(rng, any_value, json_value)


def span(rng: Random) -> dict[str, Any]:
    """test_fuzz.spans."""
    attrs: dict[str, Any] = dict(BASE_GENAI) if rng.randrange(4) else {}
    for _ in range(rng.randint(0, 4)):
        key = rng.choice(GENAI_KEYS) if rng.random() < 0.8 else text(rng, 10)
        if rng.random() < 0.2:
            attrs.pop(key, None)
        else:
            attrs[key] = attribute_value(rng)
    out: dict[str, Any] = {
        "traceId": hex_id(rng, 16),
        "spanId": hex_id(rng, 8),
        "name": text(rng, 20),
        "startTimeUnixNano": nanos(rng),
        "endTimeUnixNano": nanos(rng),
        "attributes": [{"key": k, "value": v} for k, v in attrs.items()],
    }
    if rng.random() < 0.5:
        out["status"] = {
            "code": _mostly(
                rng,
                lambda r: r.choice([0, 1, 2, "STATUS_CODE_ERROR"]),
                lambda r: r.choice([3, -1, "x", 2**40]),
            )
        }
    if rng.random() < 0.5:
        out["parentSpanId"] = hex_id(rng, 8)
    if not rng.randrange(16):  # now and then one field of any JSON type
        out[rng.choice(sorted(out))] = json_value(rng)
    return out


def export(rng: Random) -> dict[str, Any]:
    """test_fuzz.exports: 1-2 resources of 1-3 spans, now and then the same span twice."""
    resources = []
    for _ in range(rng.randint(1, 2)):
        attrs = {rng.choice(GENAI_KEYS): attribute_value(rng) for _ in range(rng.randint(0, 2))}
        spans_here = [span(rng) for _ in range(rng.randint(1, 3))]
        if len(spans_here) > 1 and not rng.randrange(5):
            spans_here[1] = spans_here[1] | {k: spans_here[0][k] for k in ("traceId", "spanId")}
        resources.append(
            {
                "resource": {"attributes": [{"key": k, "value": v} for k, v in attrs.items()]},
                "scopeSpans": [{"scope": {"name": "fuzz"}, "spans": spans_here}],
            }
        )
    return {"resourceSpans": resources}


#: how a body is sent: fitting its Content-Encoding, lying about it, or with an unknown one
ENCODINGS = ("none", "none", "gzip", "deflate", "gzip-lie", "br", "other", "empty")


def encode_as(kind: str, body: bytes, header: str = "gzip") -> tuple[bytes, dict[str, str]]:
    """The body as sent with ``kind`` of ``ENCODINGS`` (``header``: the Content-Encoding value of a
    "gzip" or "other" kind)."""
    if kind == "gzip":
        return gzip.compress(body), {"Content-Encoding": header}
    if kind == "deflate":
        return zlib.compress(body), {"Content-Encoding": "deflate"}
    if kind in ("gzip-lie", "br"):
        return body, {"Content-Encoding": "gzip" if kind == "gzip-lie" else "br"}
    if kind in ("other", "empty"):
        return body, {"Content-Encoding": header if kind == "other" else ""}
    return body, {}


def encoded(rng: Random, body: bytes) -> tuple[bytes, dict[str, str]]:
    """test_fuzz.encoded."""
    kind = rng.choice(ENCODINGS)
    header = (
        rng.choice(["gzip", "GZIP", " gzip "]) if kind == "gzip" else text(rng, 300, _HEADER_ALPHABET).strip()
    )
    return encode_as(kind, body, header)
