"""The call record: one definition of every column, its type, default and validation rule.

The seed's 19 columns come first, in the seed's order, so files written by the seed stay readable;
our extension columns follow them. Everything that reads or writes call records imports from here.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

Kind = Literal["timestamp", "str", "category", "int", "float"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    meaning: str
    default: Any = None  # value used when a file lacks the column (extension columns only)
    max_len: int = 128  # for strings


SEED_COLUMNS: tuple[Column, ...] = (
    Column("timestamp", "timestamp", "call start, ISO 8601 UTC, millisecond precision"),
    Column("call_id", "str", "unique id of the call; used to de-duplicate"),
    Column(
        "provider", "category", "AI provider (openai, anthropic, google, bedrock, azure, mistral, cohere)"
    ),
    Column("model", "category", "model name, belongs to the provider"),
    Column("input_tokens", "int", "prompt tokens, cached input tokens included"),
    Column("output_tokens", "int", "completion tokens, reasoning tokens included"),
    Column("cost_usd", "float", "cost priced from the catalog; empty when the model is unpriced"),
    Column("latency_ms", "int", "request duration in milliseconds"),
    Column("customer_id", "category", "paying customer (subscriber)"),
    Column(
        "subscription_tier",
        "category",
        "starter, pro or enterprise; empty = not stated (the customer keeps its last known tier)",
        default="",
    ),
    Column("organization_id", "category", "organization that owns the customer"),
    Column("product_id", "category", "product of the organization"),
    Column("feature_id", "category", "user-facing feature (chat, code_generation, ...)"),
    Column("task_type", "category", "technical task (chat, summarization, qa, ...)"),
    Column("environment", "category", "production, staging or development"),
    Column("request_id", "str", "request id"),
    Column("trace_id", "str", "distributed trace id; several calls can share one"),
    Column("session_id", "str", "session id, reused within one customer session"),
    Column("user_agent", "category", "client identification", max_len=256),
)

EXTENSION_COLUMNS: tuple[Column, ...] = (
    Column("region", "category", "provider region the call ran in", default="unknown"),
    Column("stop_reason", "category", "END, END_SEQUENCE, TIMEOUT, TOKEN_LIMIT, ERROR, ...", default="END"),
    Column("cached_tokens", "int", "cached input tokens (inside input_tokens)", default=0),
    Column("reasoning_tokens", "int", "reasoning tokens (inside output_tokens)", default=0),
    Column(
        "scenario", "category", "simulator scenario that produced the row; empty for metered rows", default=""
    ),
    Column(
        "source",
        "category",
        "where the row came from: simulated, metered (REST) or otlp",
        default="simulated",
    ),
    Column(
        "cache_creation_tokens",
        "int",
        "cache-write tokens (inside input_tokens, apart from cached_tokens), priced at the cache-creation rate",
        default=0,
    ),
    Column(
        "operation_type",
        "category",
        "what the call did as the SDK reports it (CHAT, EMBED, ...); empty when not reported",
        default="",
    ),
    Column(
        "is_streamed",
        "category",
        "true or false as the client reported it; empty when not reported",
        default="",
    ),
    Column(
        "time_to_first_token_ms",
        "float",
        "milliseconds until the first token of a streamed answer; empty when not reported",
    ),
    Column(
        "transaction_name",
        "category",
        "agent / workflow step name the client gave; empty when none",
        default="",
    ),
    Column(
        "api_key_id",
        "category",
        "stable non-secret id of the ingest API key that accepted the row (first 12 hex of its sha256)",
        default="",
    ),
)

COLUMNS: tuple[Column, ...] = SEED_COLUMNS + EXTENSION_COLUMNS
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
SEED_COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in SEED_COLUMNS)
BY_NAME: dict[str, Column] = {c.name: c for c in COLUMNS}

INT_COLUMNS = tuple(c.name for c in COLUMNS if c.kind == "int")
FLOAT_COLUMNS = tuple(c.name for c in COLUMNS if c.kind == "float")
CATEGORY_COLUMNS = tuple(c.name for c in COLUMNS if c.kind == "category")
STR_COLUMNS = tuple(c.name for c in COLUMNS if c.kind == "str")

TIERS = ("starter", "pro", "enterprise")
ENVIRONMENTS = ("production", "staging", "development")
STOP_REASONS = (
    "END",
    "END_SEQUENCE",
    "TIMEOUT",
    "TOKEN_LIMIT",
    "COST_LIMIT",
    "COMPLETION_LIMIT",
    "ERROR",
    "CANCELLED",
)
#: stop reasons that mean the call failed (counted in error rates)
ERROR_STOP_REASONS = ("TIMEOUT", "ERROR", "CANCELLED")
SOURCES = ("simulated", "metered", "otlp")
#: values of ``is_streamed`` ("" = not reported)
STREAMED_VALUES = ("true", "false", "")

#: the textual timestamp format written to CSV (UTC, milliseconds, trailing Z)
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # strftime gives microseconds; writers cut to milliseconds

#: bounds a stored value must keep to: integers stay exact through float64 and fit int64; a cost can be
#: rounded to 9 decimals without overflow; a timestamp fits pandas' datetime64[ns] (pricing, analysis)
MAX_INT = 2**53 - 1
MAX_COST_USD = 1e12
MIN_TIMESTAMP = datetime(1678, 1, 1, tzinfo=UTC)
MAX_TIMESTAMP = datetime(2262, 1, 1, tzinfo=UTC)

#: every ISO 8601 spelling the project reads, in every reader: date, ``T`` or a space, hours:minutes,
#: optional seconds with 0..9 fraction digits, then ``Z``, an offset (``+02:00`` / ``+0200``) or nothing
#: (naive = UTC, as the seed's ``datetime.isoformat()`` writes it)
ISO_TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$"
_ISO_RE = re.compile(ISO_TIMESTAMP_PATTERN)
_SUB_MICROSECOND_RE = re.compile(r"^(.*\.\d{6})\d+(.*)$")
_ZONE_PATTERN = r"(Z|[+-]\d{2}:?\d{2})$"
_NO_SECONDS_PATTERN = r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2})(Z|[+-]\d{2}:?\d{2})?$"

#: columns holding identifiers: they follow ``id_problem`` (every other text column ``text_problem``)
ID_COLUMNS: tuple[str, ...] = (
    "call_id",
    "customer_id",
    "organization_id",
    "product_id",
    "feature_id",
    "request_id",
    "trace_id",
    "session_id",
)
#: longest id accepted (characters)
MAX_ID_LENGTH = 128
#: characters an id may not hold although printable: markup delimiters
ID_FORBIDDEN = "<>"
_ID_FORBIDDEN_RE = re.compile(f"[{re.escape(ID_FORBIDDEN)}]")
#: ids every check may accept without a closer look: printable ASCII without ``<``/``>`` and without
#: leading or trailing space (``id_problem`` accepts more, e.g. non-ASCII letters)
PLAIN_ID_PATTERN = r"^[!-;=?-~](?:[ -;=?-~]*[!-;=?-~])?$"
#: control characters (C0 but tab, DEL, C1) and lone UTF-16 surrogates: never in any stored text
BAD_TEXT_RE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]")


def pandas_dtypes() -> dict[str, str]:
    """dtype per column for pandas (timestamp excluded: parse it as UTC datetime)."""
    out: dict[str, str] = {}
    for c in COLUMNS:
        if c.kind == "int":
            out[c.name] = "int64"
        elif c.kind == "float":
            out[c.name] = "float64"
        elif c.kind == "category":
            out[c.name] = "category"
        elif c.kind == "str":
            out[c.name] = "str"
    return out


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a record: which field and why."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}


def parse_timestamp(value: Any) -> datetime | None:
    """Parse an ISO 8601 timestamp to an aware UTC datetime, or None when it is not ISO 8601."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not _ISO_RE.match(value.strip()):
        return None
    text = value.strip().replace(" ", "T")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # Python < 3.11 style limits: trim sub-microsecond digits
    m = _SUB_MICROSECOND_RE.match(text)
    if m:
        text = m.group(1) + m.group(2)
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        return dt.astimezone(UTC)
    except OverflowError:  # an offset that moves year 1 or 9999 out of range
        return None


def timestamps_to_utc(values: Any) -> Any:
    """Vectorized ``parse_timestamp``: text in any accepted ISO 8601 spelling -> ``timestamp[ms, UTC]``
    (pyarrow array), null where a value is empty, not ISO 8601, not a real date, or outside
    ``MIN_TIMESTAMP..MAX_TIMESTAMP``. Sub-millisecond digits are cut, as ``format_timestamp`` cuts them.

    One pyarrow cast in the usual case; values the cast refuses (Feb 30, ...) are decided one by one
    by ``parse_timestamp``, so both always agree.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values, pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())
    arr = pc.utf8_trim_whitespace(arr)
    ok = pc.fill_null(pc.match_substring_regex(arr, ISO_TIMESTAMP_PATTERN), False)
    text = pc.replace_substring_regex(arr, _NO_SECONDS_PATTERN, r"\1:00\2")  # 10:15 -> 10:15:00
    zoned = pc.fill_null(pc.match_substring_regex(text, _ZONE_PATTERN), False)
    text = pc.if_else(zoned, text, pc.binary_join_element_wise(text, "Z", ""))  # naive = UTC
    text = pc.if_else(ok, text, pa.scalar(None, pa.string()))
    target = pa.timestamp("ms", tz="UTC")
    try:
        stamps = pc.cast(text, pa.timestamp("ns", tz="UTC"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # some value is no real date: decide each
        parsed = [None if v is None else parse_timestamp(v) for v in text.to_pylist()]
        return pa.array(
            [dt if dt is not None and MIN_TIMESTAMP <= dt < MAX_TIMESTAMP else None for dt in parsed], target
        )
    out = pc.cast(stamps, target, safe=False)
    low, high = pa.scalar(MIN_TIMESTAMP, target), pa.scalar(MAX_TIMESTAMP, target)
    first, last = (v.as_py() for v in pc.min_max(out).values())
    if first is not None and (first < MIN_TIMESTAMP or last >= MAX_TIMESTAMP):  # rare: cut them out
        inside = pc.and_(pc.greater_equal(out, low), pc.less(out, high))
        out = pc.if_else(inside, out, pa.scalar(None, target))
    return out


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text (None when it can): lone UTF-16 surrogates (not valid
    Unicode, cannot be written as UTF-8) and control characters (all but tab) are refused."""
    bad = BAD_TEXT_RE.search(value)
    if bad is None:
        return None
    ch = bad.group()
    kind = "a lone UTF-16 surrogate" if "\ud800" <= ch <= "\udfff" else "a control character"
    return f"contains {kind} (U+{ord(ch):04X}) at position {bad.start()}"


def id_problem(value: Any) -> str | None:
    """The id rule (call, customer, organization, product, feature, request, trace and session ids):
    a string of 1..``MAX_ID_LENGTH`` printable characters (no control, format, bidi-override or
    zero-width characters, no lone surrogates), without leading or trailing whitespace and without
    ``<`` or ``>``. None when ``value`` follows it, else the reason."""
    if not isinstance(value, str):
        return f"expected a string, got {type(value).__name__}"
    if not value:
        return "empty id"
    if len(value) > MAX_ID_LENGTH:
        return f"longer than {MAX_ID_LENGTH} characters ({len(value)})"
    if value.isascii() and value.isprintable():  # the usual id: no control character, no surrogate
        if value != value.strip():
            return "leading or trailing whitespace"
        return "contains '<' or '>'" if _ID_FORBIDDEN_RE.search(value) else None
    if (reason := text_problem(value)) is not None:  # surrogates, control characters: said precisely
        return reason
    if value != value.strip():
        return "leading or trailing whitespace"
    if not value.isprintable():
        ch = next(c for c in value if not c.isprintable())
        return f"contains a non-printable character (U+{ord(ch):04X})"
    if _ID_FORBIDDEN_RE.search(value):
        return "contains '<' or '>'"
    return None


def ids_valid(values: Any) -> Any:
    """Vectorized id rule: a numpy bool per value (text array, list, or pandas Series), True where
    ``id_problem`` finds nothing. Plain ASCII ids are decided by one regex; the rest one by one."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if hasattr(values, "astype") and not isinstance(values, pa.Array | pa.ChunkedArray):
        values = pa.array(values.astype("object"), pa.string(), from_pandas=True)
    arr = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values, pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(pa.string())
    ok = pc.fill_null(pc.match_substring_regex(arr, PLAIN_ID_PATTERN), False)
    ok = pc.and_(ok, pc.less_equal(pc.fill_null(pc.utf8_length(arr), 0), MAX_ID_LENGTH))
    out = ok.to_numpy(zero_copy_only=False).copy()
    rest = np.flatnonzero(~out)
    if len(rest):
        others = arr.take(pa.array(rest)).to_pylist()
        verdict = {v: id_problem(v) is None for v in set(others)}
        out[rest] = [verdict[v] for v in others]
    return out


#: prefix of a customer id derived from an end user's email (``email_customer_id``)
EMAIL_ID_PREFIX = "email-"


def email_customer_id(email: str) -> str:
    """The stored id of an end user known only by email: never the address itself.

    ``email-`` + the first 16 hex digits of SHA-256 over the trimmed, lower-cased address, so one person
    is one id whatever the capitalisation, and the CSV, exports and dashboards hold no email address.
    This is pseudonymisation, not anonymisation: whoever holds a list of addresses can recompute the ids
    (which is also how a finance team maps them back to its own customer list).
    """
    digest = hashlib.sha256(email.strip().lower().encode("utf-8", "surrogatepass")).hexdigest()
    return EMAIL_ID_PREFIX + digest[:16]


def format_timestamp(dt: datetime) -> str:
    """UTC, millisecond precision, trailing Z: the store's timestamp text."""
    dt = dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _is_int(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return True
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        return True
    return isinstance(v, str) and re.fullmatch(r"[+-]?[0-9]+", v.strip() or "x") is not None


def _int_value(v: Any) -> int:
    """The integer a value accepted by ``_is_int`` stands for, however large."""
    if isinstance(v, str):
        text = v.strip()
        try:
            return int(text)
        except ValueError:  # more digits than int() converts: beyond any bound
            return -(MAX_INT + 1) if text.startswith("-") else MAX_INT + 1
    return int(v)


def _is_number(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, int | float):
        try:
            return math.isfinite(float(v))
        except OverflowError:  # an integer too large for a float
            return False
    if isinstance(v, str):
        try:
            return math.isfinite(float(v))
        except ValueError:
            return False
    return False


def validate_record(
    record: dict[str, Any],
    *,
    known_models: dict[str, str] | None = None,
    require_cost: bool = False,
) -> list[Problem]:
    """Every problem with one call record, each naming the field and the reason.

    ``known_models`` maps model -> provider; when given, a model that belongs to another provider is a
    problem (an unknown model is not: it is stored as unpriced). ``cost_usd`` may be missing or empty
    (unpriced) unless ``require_cost``.
    """
    problems: list[Problem] = []
    if not isinstance(record, dict):
        return [Problem("record", f"expected an object, got {type(record).__name__}")]
    for name in record:
        if name not in BY_NAME:
            problems.append(Problem(name, "unknown field"))
    for col in COLUMNS:
        v = record.get(col.name)
        if v is None or v == "":
            if col.default is not None:
                continue
            if col.kind == "float" and not (require_cost and col.name == "cost_usd"):
                continue  # floats may be empty: an unpriced cost, an unreported time to first token
            problems.append(Problem(col.name, "missing required field"))
            continue
        if col.kind == "timestamp":
            dt = parse_timestamp(v)
            if dt is None:
                problems.append(Problem(col.name, f"not an ISO 8601 timestamp: {str(v)[:40]!r}"))
            elif not MIN_TIMESTAMP <= dt < MAX_TIMESTAMP:
                supported = f"{MIN_TIMESTAMP:%Y-%m-%d}..{MAX_TIMESTAMP:%Y-%m-%d}"
                problems.append(Problem(col.name, f"outside {supported}: {str(v)[:40]!r}"))
        elif col.kind == "int":
            if not _is_int(v):
                problems.append(
                    Problem(col.name, f"expected an integer, got {type(v).__name__} {str(v)[:40]!r}")
                )
            elif (n := _int_value(v)) < 0:
                problems.append(Problem(col.name, f"must be >= 0, got {n}"))
            elif n > MAX_INT:
                problems.append(Problem(col.name, f"must be <= {MAX_INT}, got {str(v)[:40]}"))
        elif col.kind == "float":
            if not _is_number(v):
                problems.append(
                    Problem(col.name, f"expected a number, got {type(v).__name__} {str(v)[:40]!r}")
                )
            elif float(v) < 0:
                problems.append(Problem(col.name, f"must be >= 0, got {float(v)}"))
            elif float(v) > MAX_COST_USD:
                problems.append(Problem(col.name, f"must be <= {MAX_COST_USD:g}, got {float(v):g}"))
        else:
            if not isinstance(v, str):
                problems.append(Problem(col.name, f"expected a string, got {type(v).__name__}"))
            elif len(v) > col.max_len:
                problems.append(Problem(col.name, f"longer than {col.max_len} characters ({len(v)})"))
            elif "\n" in v or "\r" in v or "\x00" in v:
                problems.append(Problem(col.name, "contains a line break or NUL character"))
            elif (reason := id_problem(v) if col.name in ID_COLUMNS else text_problem(v)) is not None:
                problems.append(Problem(col.name, reason))
    bad = {p.field for p in problems}

    def num(name: str) -> int | None:
        if name in bad or record.get(name) in (None, ""):
            return None
        return int(float(record[name]))

    inp, cached = num("input_tokens"), num("cached_tokens")
    if inp is not None and cached is not None and cached > inp:
        problems.append(Problem("cached_tokens", f"cached tokens ({cached}) exceed input tokens ({inp})"))
    creation = num("cache_creation_tokens")
    if inp is not None and creation and (cached or 0) <= inp and (cached or 0) + creation > inp:
        problems.append(
            Problem(
                "cache_creation_tokens",
                f"cache-write ({creation}) and cached ({cached or 0}) tokens exceed input tokens ({inp})",
            )
        )
    out, reasoning = num("output_tokens"), num("reasoning_tokens")
    if out is not None and reasoning is not None and reasoning > out:
        problems.append(
            Problem("reasoning_tokens", f"reasoning tokens ({reasoning}) exceed output tokens ({out})")
        )
    tier = record.get("subscription_tier")
    if "subscription_tier" not in bad and isinstance(tier, str) and tier and tier not in TIERS:
        problems.append(
            Problem("subscription_tier", f"unknown tier {tier!r}; expected one of {', '.join(TIERS)}")
        )
    env = record.get("environment")
    if "environment" not in bad and isinstance(env, str) and env and env not in ENVIRONMENTS:
        problems.append(
            Problem("environment", f"unknown environment {env!r}; expected one of {', '.join(ENVIRONMENTS)}")
        )
    stop = record.get("stop_reason")
    if "stop_reason" not in bad and isinstance(stop, str) and stop and stop not in STOP_REASONS:
        problems.append(
            Problem("stop_reason", f"unknown stop reason {stop!r}; expected one of {', '.join(STOP_REASONS)}")
        )
    streamed = record.get("is_streamed")
    if "is_streamed" not in bad and isinstance(streamed, str) and streamed not in STREAMED_VALUES:
        problems.append(Problem("is_streamed", f"unknown value {streamed!r}; expected true, false or empty"))
    src = record.get("source")
    if "source" not in bad and isinstance(src, str) and src and src not in SOURCES:
        problems.append(Problem("source", f"unknown source {src!r}; expected one of {', '.join(SOURCES)}"))
    if known_models is not None and "model" not in bad and "provider" not in bad:
        model, provider = record.get("model"), record.get("provider")
        if model in known_models and provider and known_models[model] != provider:
            problems.append(
                Problem(
                    "model", f"model {model!r} belongs to provider {known_models[model]!r}, not {provider!r}"
                )
            )
    return problems


def with_defaults(record: dict[str, Any]) -> dict[str, Any]:
    """The record with every column present (extension columns filled with their defaults)."""
    out = {}
    for col in COLUMNS:
        v = record.get(col.name)
        out[col.name] = col.default if v is None or (v == "" and col.default is not None) else v
    return out
