"""The call record: one definition of every column, its type, default and validation rule.

The seed's 19 columns come first, in the seed's order, so files written by the seed stay readable;
our extension columns follow them. Everything that reads or writes call records imports from here.
"""

from __future__ import annotations

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

#: the textual timestamp format written to CSV (UTC, milliseconds, trailing Z)
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # strftime gives microseconds; writers cut to milliseconds

#: bounds a stored value must keep to: integers stay exact through float64 and fit int64; a cost can be
#: rounded to 9 decimals without overflow; a timestamp fits pandas' datetime64[ns] (pricing, analysis)
MAX_INT = 2**53 - 1
MAX_COST_USD = 1e12
MIN_TIMESTAMP = datetime(1678, 1, 1, tzinfo=UTC)
MAX_TIMESTAMP = datetime(2262, 1, 1, tzinfo=UTC)

_ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$")


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
    m = re.match(r"^(.*\.\d{6})\d+(.*)$", text)
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
        present = col.name in record and record[col.name] is not None and record[col.name] != ""
        if not present:
            if col.default is not None:
                continue
            if col.name == "cost_usd" and not require_cost:
                continue
            problems.append(Problem(col.name, "missing required field"))
            continue
        v = record[col.name]
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
            elif any(ch in v for ch in "\r\n\x00"):
                problems.append(Problem(col.name, "contains a line break or NUL character"))
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
