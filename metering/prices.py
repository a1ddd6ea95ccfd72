"""The price catalog: list prices per token as data, with an effective date per price.

The default catalog ships as ``metering/data/prices.json``. A user points to their own with
``--prices FILE`` or the ``REVENIUM_FLOW_PRICES`` environment variable. Two layouts are read:

* ours: ``{"models": [{"model", "litellm_provider", "effective_from", "input_cost_per_token", ...}]}``
  (several entries per model form its price history);
* the widely used LiteLLM layout: ``{"<model>": {"litellm_provider", "input_cost_per_token", ...}}``
  (one price per model, effective since forever).

Pricing is vectorized: one pass per distinct (provider, model) pair, never per row. A call whose model
is not in the catalog is *unpriced*: its cost is NaN, never 0.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from metering.jsonfile import read_json

if TYPE_CHECKING:  # pandas is imported only by the functions that need it (the generator never does)
    import pandas as pd

ENV_VAR = "REVENIUM_FLOW_PRICES"
_PER_TOKEN_KEYS = (
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "output_cost_per_reasoning_token",
)


#: model capability classes, best first: a model switch stays within a class (or, for simple tasks and
#: labelled as a quality trade-off, one class down)
CAPABILITY_CLASSES = ("frontier", "balanced", "small")


class CatalogError(ValueError):
    """The catalog file is unreadable or an entry is wrong; the message names the entry and field."""


@dataclass(frozen=True)
class Price:
    """One model's price from ``effective_from`` on (USD per token)."""

    provider: str
    model: str
    effective_from: datetime  # UTC
    input: float
    output: float
    cache_read: float | None = None
    cache_creation: float | None = None
    reasoning: float | None = None
    supports_reasoning: bool = False
    max_input_tokens: int | None = None  # the context window
    mode: str = "chat"
    capability: str | None = None  # one of CAPABILITY_CLASSES; None = unclassified

    @property
    def cache_read_rate(self) -> float:
        """Rate for cached input tokens: the cache-read price when known, else the input price."""
        return self.input if self.cache_read is None else self.cache_read

    @property
    def cache_creation_rate(self) -> float:
        """Rate for cache-write tokens: the cache-creation price when known, else the input price."""
        return self.input if self.cache_creation is None else self.cache_creation

    @property
    def reasoning_rate(self) -> float:
        return self.output if self.reasoning is None else self.reasoning

    def per_1k(self) -> tuple[float, float]:
        return self.input * 1000.0, self.output * 1000.0


@dataclass(frozen=True)
class CommitmentProgramme:
    """A provider's committed-use programme: ``discount`` off list price for a committed spend."""

    provider: str
    name: str
    discount: float  # 0..1
    term_months: int


@dataclass
class _KeyTable:
    """Price histories of a list of keys, flat: key k's prices are ``[lo[k], lo[k] + count[k])``."""

    lo: np.ndarray
    count: np.ndarray
    starts: np.ndarray  # epoch ns each price applies from
    rates: tuple[np.ndarray, ...]  # input, cache read, output, reasoning, cache creation (USD per token)
    histories: list[int]  # keys with more than one price


@dataclass
class Catalog:
    """Price history per (provider, model), sorted by effective date."""

    prices: dict[tuple[str, str], list[Price]] = field(default_factory=dict)
    source: str = "built-in"
    #: provider -> committed-use programmes ("commitment_programmes" of the catalog file)
    commitments: dict[str, list[CommitmentProgramme]] = field(default_factory=dict)

    # --- lookups -------------------------------------------------------------------------
    @property
    def providers(self) -> list[str]:
        return sorted({p for p, _ in self.prices})

    def models(self, provider: str | None = None) -> list[str]:
        return [m for (p, m) in self.prices if provider is None or p == provider]

    def model_provider(self) -> dict[str, str]:
        """model -> provider (models are unique across providers in a sane catalog)."""
        return {m: p for (p, m) in self.prices}

    def current(self, provider: str, model: str, at: datetime | None = None) -> Price | None:
        """The price in force at ``at`` (default: the newest)."""
        hist = self.prices.get((provider, model))
        if not hist:
            return None
        if at is None:
            return hist[-1]
        at = _utc(at)
        valid = [p for p in hist if p.effective_from <= at]
        return valid[-1] if valid else None

    def table(self) -> pd.DataFrame:
        """Every price entry as a table, USD per 1K tokens (for display)."""
        import pandas as pd

        rows = []
        for (prov, model), hist in sorted(self.prices.items()):
            for p in hist:
                rows.append(
                    {
                        "provider": prov,
                        "model": model,
                        "effective_from": p.effective_from.date().isoformat(),
                        "input_per_1k": p.input * 1000,
                        "output_per_1k": p.output * 1000,
                        "cache_read_per_1k": None if p.cache_read is None else p.cache_read * 1000,
                        "reasoning_per_1k": None if p.reasoning is None else p.reasoning * 1000,
                        "max_input_tokens": p.max_input_tokens,
                        "capability_class": p.capability,
                        "cache_creation_per_1k": None
                        if p.cache_creation is None
                        else p.cache_creation * 1000,
                    }
                )
        return pd.DataFrame(rows)

    # --- pricing -------------------------------------------------------------------------
    def price_calls(
        self,
        provider: Any,
        model: Any,
        input_tokens: Any,
        output_tokens: Any,
        cached_tokens: Any = None,
        reasoning_tokens: Any = None,
        timestamp: Any = None,
        cache_creation_tokens: Any = None,
    ) -> np.ndarray:
        """Cost in USD per call; NaN where the model is unpriced (or no price was in force yet).

        cost = (input - cached - cache_creation) * input_rate + cached * cache_read_rate
             + cache_creation * cache_creation_rate
             + (output - reasoning) * output_rate + reasoning * reasoning_rate
        Cached (read) and cache-write tokens sit inside input tokens and reasoning tokens inside output
        tokens, so nothing is billed twice; without a catalog rate a token class pays the plain rate.
        With ``timestamp`` (anything ``pd.to_datetime`` reads, or a numpy datetime64
        array of UTC instants, the fast form) each call gets the price in force at its time.
        """
        import pandas as pd

        prov = np.asarray(provider, dtype=object)
        mod = np.asarray(model, dtype=object)
        if len(mod) == 0:
            return np.zeros(0)
        # factorize each column on its objects, then the pairs of codes: no string-dtype inference
        p_codes, p_uniq = pd.factorize(prov, use_na_sentinel=True)
        m_codes, m_uniq = pd.factorize(mod, use_na_sentinel=True)
        pair = np.where((p_codes < 0) | (m_codes < 0), -1, p_codes.astype(np.int64) * len(m_uniq) + m_codes)
        codes, pair_uniq = pd.factorize(pair, use_na_sentinel=False)
        uniques = [
            (p_uniq[c // len(m_uniq)], m_uniq[c % len(m_uniq)]) if c >= 0 else (None, None) for c in pair_uniq
        ]
        return self.price_keys(
            uniques,
            codes,
            input_tokens,
            output_tokens,
            cached_tokens,
            reasoning_tokens,
            timestamp,
            cache_creation_tokens=cache_creation_tokens,
        )

    def price_keys(
        self,
        keys: list[tuple[Any, Any]],
        codes: Any,
        input_tokens: Any,
        output_tokens: Any,
        cached_tokens: Any = None,
        reasoning_tokens: Any = None,
        timestamp: Any = None,
        cache_creation_tokens: Any = None,
    ) -> np.ndarray:
        """``price_calls`` for callers that already hold each call's (provider, model) as a code into
        ``keys`` (the generator: model indices). Same formula, no pandas with a datetime64 ``timestamp``.
        """
        codes = np.asarray(codes)
        n = len(codes)
        inp = np.asarray(input_tokens, dtype=np.float64)
        out = np.asarray(output_tokens, dtype=np.float64)
        cached = np.zeros(n) if cached_tokens is None else np.asarray(cached_tokens, dtype=np.float64)
        reas = np.zeros(n) if reasoning_tokens is None else np.asarray(reasoning_tokens, dtype=np.float64)
        creation = (
            np.zeros(n)
            if cache_creation_tokens is None
            else np.asarray(cache_creation_tokens, dtype=np.float64)
        )
        cached = np.minimum(np.nan_to_num(cached), inp)
        creation = np.minimum(np.nan_to_num(creation), inp - cached)
        reas = np.minimum(np.nan_to_num(reas), out)
        if n == 0:
            return np.zeros(0)
        table = self._key_table(keys)
        outside = codes < 0  # (no key: unpriced)
        if outside.any():
            codes = np.where(outside, 0, codes)
        lo, count = table.lo[codes], table.count[codes]
        pos = lo + count - 1  # the newest price of each call's model
        if timestamp is not None:
            ts_ns = _to_utc_ns(timestamp)
            # one price: it applies from its date on; a history: the price in effect at the call
            single = count == 1
            pos[single & (ts_ns < table.starts[np.maximum(lo, 0)])] -= 1
            for k in table.histories:
                idx = np.flatnonzero(codes == k)
                if len(idx):
                    segment = table.starts[table.lo[k] : table.lo[k] + table.count[k]]
                    pos[idx] = table.lo[k] + np.searchsorted(segment, ts_ns[idx], side="right") - 1
        unpriced = (pos < lo) | outside  # no price for the model, or none yet at the call's time
        pos[unpriced] = 0
        rate_in, rate_cache, rate_out, rate_reas, rate_write = (r[pos] for r in table.rates)
        for r in (rate_in, rate_cache, rate_out, rate_reas, rate_write):
            r[unpriced] = np.nan
        return (
            (inp - cached - creation) * rate_in
            + cached * rate_cache
            + creation * rate_write
            + (out - reas) * rate_out
            + reas * rate_reas
        )

    def _key_table(self, keys: list[tuple[Any, Any]]) -> _KeyTable:
        """The price histories of ``keys`` as flat arrays (the last few key lists are kept)."""
        cache: dict[tuple, _KeyTable] = self.__dict__.setdefault("_key_tables", {})
        token = tuple(keys)
        if token not in cache:
            lo, count, starts, histories = [], [], [], []
            rates: list[list[float]] = [[], [], [], [], []]
            for k, key in enumerate(keys):
                hist = self.prices.get((key[0], key[1])) or []
                lo.append(len(starts) if hist else 0)
                count.append(len(hist))
                if len(hist) > 1:
                    histories.append(k)
                for p in hist:
                    starts.append(_ns(p.effective_from))
                    for r, v in zip(
                        rates,
                        (p.input, p.cache_read_rate, p.output, p.reasoning_rate, p.cache_creation_rate),
                        strict=True,
                    ):
                        r.append(v)
            if len(cache) >= 8:
                cache.pop(next(iter(cache)))
            cache[token] = _KeyTable(
                lo=np.array(lo, dtype=np.int64),
                count=np.array(count, dtype=np.int64),
                starts=np.array(starts or [0], dtype=np.int64),
                rates=tuple(np.array(r or [np.nan], dtype=np.float64) for r in rates),
                histories=histories,
            )
        return cache[token]

    def price_frame(self, df: pd.DataFrame, *, at_call_time: bool = True) -> np.ndarray:
        """``price_calls`` on a call DataFrame with the schema's column names."""
        return self.price_calls(
            df["provider"].astype(object).to_numpy(),
            df["model"].astype(object).to_numpy(),
            df["input_tokens"].to_numpy(),
            df["output_tokens"].to_numpy(),
            df["cached_tokens"].to_numpy() if "cached_tokens" in df else None,
            df["reasoning_tokens"].to_numpy() if "reasoning_tokens" in df else None,
            df["timestamp"] if at_call_time and "timestamp" in df else None,
            df["cache_creation_tokens"].to_numpy() if "cache_creation_tokens" in df else None,
        )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc(ts: Any) -> datetime:
    """A UTC datetime from a datetime or ISO text (other spellings through pandas, imported then)."""
    if isinstance(ts, str):
        try:
            ts = datetime.fromisoformat(ts)
        except ValueError:
            import pandas as pd

            ts = pd.Timestamp(ts).to_pydatetime()
    elif not isinstance(ts, datetime):
        import pandas as pd

        ts = pd.Timestamp(ts).to_pydatetime()
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _ns(dt: datetime) -> int:
    """Epoch nanoseconds of a UTC datetime."""
    return (dt - _EPOCH) // timedelta(microseconds=1) * 1000


def _to_utc_ns(ts: Any) -> np.ndarray:
    if isinstance(ts, np.ndarray) and np.issubdtype(ts.dtype, np.datetime64):  # already UTC instants
        return ts.astype("datetime64[ns]").astype(np.int64)
    import pandas as pd

    s = pd.to_datetime(pd.Series(ts) if not isinstance(ts, pd.Series) else ts, utc=True, format="ISO8601")
    # tz-naive UTC first: to_numpy() on a tz-aware series would box every value as a Timestamp
    return s.dt.as_unit("ns").dt.tz_localize(None).to_numpy().astype(np.int64)


def _entry_to_price(entry: dict[str, Any], where: str, model: str | None = None) -> Price:
    if not isinstance(entry, dict):
        raise CatalogError(f"{where}: expected an object, got {type(entry).__name__}")
    model = entry.get("model", model)
    provider = entry.get("litellm_provider") or entry.get("provider")
    if not model or not isinstance(model, str):
        raise CatalogError(f"{where}: field 'model' is missing")
    if not provider or not isinstance(provider, str):
        raise CatalogError(f"{where} ({model}): field 'litellm_provider' is missing")
    vals: dict[str, float | None] = {}
    for key in _PER_TOKEN_KEYS:
        v = entry.get(key)
        if v is None:
            vals[key] = None
            continue
        if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v) or v < 0:
            raise CatalogError(f"{where} ({model}): field {key!r} must be a number >= 0, got {v!r}")
        vals[key] = float(v)
    for key in ("input_cost_per_token", "output_cost_per_token"):
        if vals[key] is None:
            raise CatalogError(f"{where} ({model}): field {key!r} is missing")
    eff = entry.get("effective_from", "1970-01-01")
    try:
        eff_ts = _utc(eff)
    except (ValueError, TypeError) as exc:
        raise CatalogError(f"{where} ({model}): field 'effective_from' is not a date: {eff!r}") from exc
    mit = entry.get("max_input_tokens")
    cap = entry.get("capability_class")
    if cap is not None and cap not in CAPABILITY_CLASSES:
        raise CatalogError(
            f"{where} ({model}): field 'capability_class' must be one of {', '.join(CAPABILITY_CLASSES)}, got {cap!r}"
        )
    return Price(
        provider=provider,
        model=model,
        effective_from=eff_ts,
        input=vals["input_cost_per_token"] or 0.0,
        output=vals["output_cost_per_token"] or 0.0,
        cache_read=vals["cache_read_input_token_cost"],
        cache_creation=vals["cache_creation_input_token_cost"],
        reasoning=vals["output_cost_per_reasoning_token"],
        supports_reasoning=bool(
            entry.get("supports_reasoning", vals["output_cost_per_reasoning_token"] is not None)
        ),
        max_input_tokens=int(mit) if isinstance(mit, int | float) and not isinstance(mit, bool) else None,
        mode=str(entry.get("mode", "chat")),
        capability=cap,
    )


def _programmes(doc: Any, source: str) -> dict[str, list[CommitmentProgramme]]:
    """The catalog's "commitment_programmes" ({"providers": {provider: [{name, discount, term_months}]}})."""
    raw = doc.get("commitment_programmes") if isinstance(doc, dict) else None
    if raw is None:
        return {}
    providers = raw.get("providers") if isinstance(raw, dict) else None
    if not isinstance(providers, dict):
        raise CatalogError(f"{source}: commitment_programmes: expected an object with a 'providers' object")
    out: dict[str, list[CommitmentProgramme]] = {}
    for prov, items in providers.items():
        if not isinstance(items, list):
            raise CatalogError(f"{source}: commitment_programmes.{prov}: expected a list")
        for i, it in enumerate(items):
            where = f"{source}: commitment_programmes.{prov}[{i}]"
            d, t = (it.get("discount"), it.get("term_months")) if isinstance(it, dict) else (None, None)
            if isinstance(d, bool) or not isinstance(d, int | float) or not 0 < d < 1:
                raise CatalogError(f"{where}: field 'discount' must be a number between 0 and 1, got {d!r}")
            if isinstance(t, bool) or not isinstance(t, int) or t < 1:
                raise CatalogError(f"{where}: field 'term_months' must be an integer >= 1, got {t!r}")
            out.setdefault(prov, []).append(CommitmentProgramme(prov, str(it.get("name", "")), float(d), t))
    return out


def parse_catalog(doc: Any, source: str = "catalog") -> Catalog:
    """Build a catalog from a parsed JSON document (either layout)."""
    prices: dict[tuple[str, str], list[Price]] = {}
    if isinstance(doc, dict) and isinstance(doc.get("models"), list):
        entries = [(f"{source}: models[{i}]", e, None) for i, e in enumerate(doc["models"])]
    elif isinstance(doc, dict):
        entries = [
            (f"{source}: {name!r}", e, name)
            for name, e in doc.items()
            if isinstance(e, dict) and "input_cost_per_token" in e  # skip LiteLLM's sample_spec etc.
        ]
    else:
        raise CatalogError(f"{source}: expected a JSON object")
    for where, entry, name in entries:
        p = _entry_to_price(entry, where, name)
        prices.setdefault((p.provider, p.model), []).append(p)
    if not prices:
        raise CatalogError(f"{source}: no model prices found")
    for key, hist in prices.items():
        hist.sort(key=lambda p: p.effective_from)
        dates = [p.effective_from for p in hist]
        if len(set(dates)) != len(dates):
            raise CatalogError(f"{source}: {key[1]} has two prices with the same effective_from")
    return Catalog(prices=prices, source=source, commitments=_programmes(doc, source))


def default_catalog_path() -> Path:
    return Path(str(resources.files("metering") / "data" / "prices.json"))


_CACHE: dict[tuple[str, float], Catalog] = {}


def load_catalog(path: str | os.PathLike[str] | None = None) -> Catalog:
    """Load the catalog: ``path``, else ``$REVENIUM_FLOW_PRICES``, else the built-in one (cached per mtime)."""
    chosen = path or os.environ.get(ENV_VAR) or default_catalog_path()
    p = Path(chosen)
    try:
        mtime = p.stat().st_mtime
    except OSError as exc:
        raise CatalogError(f"price catalog {p}: cannot read ({exc.strerror})") from exc
    key = (str(p.resolve()), mtime)
    if key not in _CACHE:
        doc = read_json(p, "price catalog", CatalogError)
        _CACHE[key] = parse_catalog(doc, source=str(p))
    return _CACHE[key]
