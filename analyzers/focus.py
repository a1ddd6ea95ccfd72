"""FinOps FOCUS cost-and-usage rows from call records: a pure function, frame in -> FOCUS frame out.

One row per (charge day, provider, model, token type, allocation dimensions). Each call is split into
SKU rows by token type: ``input`` (uncached input), ``cached input``, ``cache creation`` (when the data
has a ``cache_creation_tokens`` column), ``output`` (without reasoning) and ``reasoning``; so that
``PricingQuantity x ListUnitPrice = ListCost`` on every priced row (quantity in thousands of tokens,
the list rate per 1,000 tokens from the catalog in force at the call's time).

Costs, all unrounded:

* ``ListCost`` = tokens / 1000 x the catalog's list rate per 1K tokens of that token type.
* ``BilledCost`` = ``EffectiveCost`` = ``ContractedCost`` = the call's stored ``cost_usd`` split over its
  SKU rows in proportion to their list cost (by token count when the model has no catalog price, all
  on the input row when the call has no tokens). There are no commitment discounts or credits in the
  data, so what was billed is what was effectively paid at the contracted (negotiated) price; when a
  client sent its own cost (metered ``totalCost``) that cost is the billed one and may differ from list.
* Unpriced calls (empty ``cost_usd``): FOCUS requires every cost column to be a number, so they carry
  0 in the cost columns, an empty ``ListUnitPrice`` and ``x_PricingStatus`` = ``unpriced``: the 0 is
  never a price. Priced rows have ``x_PricingStatus`` = ``priced``.

Periods: ``BillingPeriodStart``/``End`` are the UTC calendar month of the charge (end exclusive),
``ChargePeriodStart``/``End`` the UTC day. Timestamps are ISO 8601 text ``YYYY-MM-DDTHH:MM:SSZ``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from metering.prices import Catalog

FOCUS_VERSION = "1.2"
SERVICE_CATEGORY = "AI and Machine Learning"
SERVICE_SUBCATEGORY = "Generative AI"
PRICING_UNIT = "1000 Tokens"
CONSUMED_UNIT = "Tokens"

#: provider id -> (ServiceName, ProviderName = InvoiceIssuerName, default PublisherName)
PROVIDERS: dict[str, tuple[str, str, str]] = {
    "openai": ("OpenAI API", "OpenAI", "OpenAI"),
    "anthropic": ("Anthropic API", "Anthropic", "Anthropic"),
    "google": ("Gemini API", "Google", "Google"),
    "bedrock": ("Amazon Bedrock", "Amazon Web Services", "Amazon"),
    "azure": ("Azure OpenAI Service", "Microsoft", "OpenAI"),
    "mistral": ("Mistral AI API", "Mistral AI", "Mistral AI"),
    "cohere": ("Cohere API", "Cohere", "Cohere"),
}
#: on marketplaces (Bedrock, Azure) the model's vendor publishes it: model-name prefix -> PublisherName
MODEL_PUBLISHERS: tuple[tuple[str, str], ...] = (
    ("claude", "Anthropic"),
    ("titan", "Amazon"),
    ("nova", "Amazon"),
    ("llama", "Meta"),
    ("mistral", "Mistral AI"),
    ("mixtral", "Mistral AI"),
    ("command", "Cohere"),
    ("gpt", "OpenAI"),
    ("o1", "OpenAI"),
    ("o3", "OpenAI"),
    ("gemini", "Google"),
)
#: token types in SKU order: (x_TokenType, the call's token count, ListUnitPrice probe for the catalog)
TOKEN_TYPES = ("input", "cached input", "cache creation", "output", "reasoning")
#: the allocation dimensions a row keeps (call column -> FOCUS / x_ column)
DIMENSIONS: dict[str, str] = {
    "organization_id": "BillingAccountId",
    "product_id": "SubAccountId",
    "feature_id": "x_FeatureId",
    "customer_id": "x_CustomerId",
    "subscription_tier": "x_SubscriptionTier",
    "environment": "x_Environment",
    "task_type": "x_TaskType",
    "region": "RegionId",
    "api_key_id": "x_ApiKeyId",
}
#: the Tags JSON object: key -> call column
TAG_COLUMNS: dict[str, str] = {
    "customer": "customer_id",
    "tier": "subscription_tier",
    "product": "product_id",
    "feature": "feature_id",
    "environment": "environment",
    "task_type": "task_type",
}

COLUMNS: tuple[str, ...] = (
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "ServiceSubcategory",
    "SkuId",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "Tags",
    "x_Model",
    "x_TokenType",
    "x_Calls",
    "x_CustomerId",
    "x_SubscriptionTier",
    "x_FeatureId",
    "x_Environment",
    "x_TaskType",
    "x_ApiKeyId",
    "x_PricingStatus",
)
#: columns the official ``focus-validator`` (1.0.0, newest release) still requires under their pre-1.0
#: names: copies of ProviderName, PublisherName, InvoiceIssuerName, ResourceId and ChargeCategory, so the
#: export passes it; ``focus_frame(..., validator_columns=False)`` leaves them out
VALIDATOR_COLUMNS: dict[str, str] = {
    "Provider": "ProviderName",
    "Publisher": "PublisherName",
    "InvoiceIssuer": "InvoiceIssuerName",
    "ResourceID": "ResourceId",
    "ChargeType": "ChargeCategory",
}
COST_COLUMNS = ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost")

METHODS: dict[str, str] = {
    "rows": (
        "one row per UTC charge day, provider, model, token type (input, cached input, cache creation, "
        "output, reasoning) and allocation dimensions (organization = BillingAccountId, product = "
        "SubAccountId, feature, customer, tier, environment, task type, region, API key)"
    ),
    "ListCost": "PricingQuantity (tokens / 1000) x ListUnitPrice (catalog list rate per 1K tokens at call time)",
    "BilledCost": (
        "the calls' stored cost_usd split over their token types in proportion to list cost (by tokens "
        "when the model has no catalog price); EffectiveCost = ContractedCost = BilledCost (no commitment "
        "discounts or credits in the data); unrounded"
    ),
    "unpriced": (
        "calls without a cost carry 0 in the cost columns (FOCUS forbids empty costs), an empty "
        "ListUnitPrice and x_PricingStatus = unpriced: the 0 is not a price"
    ),
    "periods": "BillingPeriod = the UTC calendar month (end exclusive); ChargePeriod = the UTC day",
}


def _iso(ts: pd.Series) -> np.ndarray:
    """ISO 8601 text per row, formatted once per distinct instant (days and months repeat a lot)."""
    codes, uniques = pd.factorize(ts, use_na_sentinel=False)
    text = pd.DatetimeIndex(uniques).strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy(dtype=object)
    return text[codes]


def _per_value(values: pd.Series, fn) -> np.ndarray:
    """``fn`` applied once per distinct value, spread back to the rows."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return (
        np.array([fn(u) for u in uniques], dtype=object)[codes]
        if len(uniques)
        else np.array([], dtype=object)
    )


def publishers(provider: pd.Series, model: pd.Series) -> np.ndarray:
    """PublisherName per row: the model's vendor on marketplaces, else the provider's own name."""
    prov = provider.astype(str).to_numpy(dtype=object)
    default = _per_value(pd.Series(prov), lambda p: PROVIDERS.get(p, (p, p, p))[2])
    marketplace = np.isin(prov, ["bedrock", "azure"])
    if not marketplace.any():
        return default
    lower = model.astype(str).str.lower()
    out = default.copy()
    for prefix, vendor in reversed(MODEL_PUBLISHERS):  # earlier entries win
        out = np.where(marketplace & lower.str.startswith(prefix).to_numpy(), vendor, out)
    return out


def _month_period(month: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    try:
        start = pd.Timestamp(f"{month}-01", tz="UTC")
    except ValueError as exc:
        raise ValueError(f"period {month!r}: expected a calendar month as YYYY-MM") from exc
    if len(month) != 7 or month[4] != "-":
        raise ValueError(f"period {month!r}: expected a calendar month as YYYY-MM")
    return start, start + pd.offsets.MonthBegin(1)


def focus_columns(validator_columns: bool = True) -> list[str]:
    """The export's columns in order (the validator's legacy names last, when asked for)."""
    return [*COLUMNS, *(VALIDATOR_COLUMNS if validator_columns else ())]


def focus_frame(
    df: pd.DataFrame, catalog: Catalog, period: str | None = None, *, validator_columns: bool = True
) -> pd.DataFrame:
    """FOCUS rows for the calls in ``df`` (columns ``focus_columns``); ``period`` = ``YYYY-MM`` keeps one
    month. Pure: the frame is not modified."""
    if period is not None:
        start, end = _month_period(period)
        df = df[(df["timestamp"] >= start) & (df["timestamp"] < end)]
    if df.empty:
        names = focus_columns(validator_columns)
        return pd.DataFrame({c: pd.Series(dtype="float64" if c in COST_COLUMNS else object) for c in names})
    n = len(df)
    prov = df["provider"].astype(str).to_numpy(dtype=object)
    model = df["model"].astype(str).to_numpy(dtype=object)
    ts = pd.to_datetime(df["timestamp"], utc=True)
    inp = df["input_tokens"].to_numpy(dtype=np.float64)
    out = df["output_tokens"].to_numpy(dtype=np.float64)
    cached = np.minimum(df["cached_tokens"].to_numpy(dtype=np.float64), inp)
    reasoning = np.minimum(df["reasoning_tokens"].to_numpy(dtype=np.float64), out)
    creation = (
        np.minimum(df["cache_creation_tokens"].to_numpy(dtype=np.float64), inp - cached)
        if "cache_creation_tokens" in df
        else np.zeros(n)
    )
    tokens = {
        "input": inp - cached - creation,
        "cached input": cached,
        "cache creation": creation,
        "output": out - reasoning,
        "reasoning": reasoning,
    }
    # list rates per token from the catalog (the one pricing home): price one token of each type
    one, zero = np.ones(n), np.zeros(n)
    t_ns = ts.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    rate_in = catalog.price_calls(prov, model, one, zero, zero, zero, t_ns)
    rates = {
        "input": rate_in,
        "cached input": catalog.price_calls(prov, model, one, zero, one, zero, t_ns),
        "cache creation": rate_in,  # priced at the input rate, as the catalog prices calls
        "output": catalog.price_calls(prov, model, zero, one, zero, zero, t_ns),
        "reasoning": catalog.price_calls(prov, model, zero, one, zero, one, t_ns),
    }
    cost = df["cost_usd"].to_numpy(dtype=np.float64)
    priced = ~np.isnan(cost)
    listed = ~np.isnan(rate_in)
    list_cost = {k: tokens[k] * rates[k] for k in TOKEN_TYPES}
    list_total = np.nansum(np.vstack([list_cost[k] for k in TOKEN_TYPES]), axis=0)
    token_total = inp + out
    # weight of each token type in the call's billed cost
    weights = {}
    for k in TOKEN_TYPES:
        by_list = np.divide(list_cost[k], list_total, out=np.zeros(n), where=listed & (list_total > 0))
        by_tokens = np.divide(tokens[k], token_total, out=np.zeros(n), where=token_total > 0)
        w = np.where(listed & (list_total > 0), by_list, by_tokens)
        if k == "input":
            w = np.where((list_total <= 0) & (token_total <= 0), 1.0, w)
        weights[k] = w

    keys = list(DIMENSIONS)
    base = pd.DataFrame({c: df[c].astype(str).to_numpy(dtype=object) if c in df else "" for c in keys})
    base["provider"] = prov
    base["model"] = model
    base["day"] = ts.dt.floor("D").to_numpy()
    parts = []
    for k in TOKEN_TYPES:
        keep = (tokens[k] > 0) | ((k == "input") & (token_total <= 0))
        if not keep.any():
            continue
        billed = np.where(priced, np.nan_to_num(cost) * weights[k], 0.0)
        part = base[keep].copy()
        part["token_type"] = k
        part["quantity"] = tokens[k][keep]
        part["rate"] = rates[k][keep] * 1000.0
        part["list_cost"] = np.where(listed, list_cost[k], np.where(priced, billed, 0.0))[keep]
        part["billed"] = billed[keep]
        part["calls"] = 1
        part["unpriced"] = (~priced)[keep]
        parts.append(part)
    rows = pd.concat(parts, ignore_index=True)
    group = [*keys, "provider", "model", "day", "token_type", "rate", "unpriced"]
    g = (
        rows.groupby(group, sort=True, dropna=False)[["quantity", "list_cost", "billed", "calls"]]
        .sum()
        .reset_index()
    )
    out = _focus_columns(g)
    if validator_columns:
        for legacy, current in VALIDATOR_COLUMNS.items():
            out[legacy] = out[current]
    return out


def _json_text(values: pd.Series) -> pd.Series:
    """Each value as a JSON string literal (vectorized: backslash, quote and control characters escaped)."""
    text = values.astype(str)
    for ch, esc in (("\\", "\\\\"), ('"', '\\"'), ("\t", "\\t"), ("\b", "\\b"), ("\f", "\\f")):
        text = text.str.replace(ch, esc, regex=False)
    return '"' + text + '"'


def _tags(g: pd.DataFrame) -> pd.Series:
    """The Tags column: a JSON object of the allocation tags per row."""
    out = pd.Series("{", index=g.index, dtype=object)
    for i, (key, column) in enumerate(TAG_COLUMNS.items()):
        out = out + ("" if i == 0 else ", ") + f'"{key}": ' + _json_text(g[column])
    return out + "}"


def _focus_columns(g: pd.DataFrame) -> pd.DataFrame:
    day = pd.to_datetime(g["day"], utc=True)
    month = day.dt.tz_localize(None).dt.to_period("M").dt.start_time.dt.tz_localize("UTC")
    service = _per_value(g["provider"], lambda p: PROVIDERS.get(p, (p, p, p))[0])
    provider_name = _per_value(g["provider"], lambda p: PROVIDERS.get(p, (p, p, p))[1])
    quantity = g["quantity"] / 1000.0
    rate = g["rate"].where(~g["unpriced"])
    sku = g["provider"] + "/" + g["model"] + "/" + g["token_type"].str.replace(" ", "-")
    tags = _tags(g)
    unpriced = g["unpriced"].to_numpy(dtype=bool)
    description = g["model"] + " " + g["token_type"] + " tokens"
    description = description.where(~g["unpriced"], description + " (unpriced: no cost known)")
    out = pd.DataFrame(
        {
            "BilledCost": g["billed"].astype("float64"),
            "BillingAccountId": g["organization_id"],
            "BillingAccountName": g["organization_id"],
            "BillingCurrency": "USD",
            "BillingPeriodStart": _iso(month),
            "BillingPeriodEnd": _iso(month + pd.offsets.MonthBegin(1)),
            "ChargeCategory": "Usage",
            "ChargeClass": None,
            "ChargeDescription": description,
            "ChargeFrequency": "Usage-Based",
            "ChargePeriodStart": _iso(day),
            "ChargePeriodEnd": _iso(day + pd.Timedelta(days=1)),
            "CommitmentDiscountCategory": None,
            "CommitmentDiscountId": None,
            "CommitmentDiscountName": None,
            "CommitmentDiscountStatus": None,
            "CommitmentDiscountType": None,
            "ConsumedQuantity": g["quantity"].astype("float64"),
            "ConsumedUnit": CONSUMED_UNIT,
            "ContractedCost": g["billed"].astype("float64"),
            "ContractedUnitPrice": None,
            "EffectiveCost": g["billed"].astype("float64"),
            "InvoiceIssuerName": provider_name,
            "ListCost": g["list_cost"].astype("float64"),
            "ListUnitPrice": rate.astype("float64"),
            "PricingCategory": "Standard",
            "PricingQuantity": quantity,
            "PricingUnit": PRICING_UNIT,
            "ProviderName": provider_name,
            "PublisherName": publishers(g["provider"], g["model"]),
            "RegionId": g["region"],
            "RegionName": g["region"],
            "ResourceId": None,
            "ResourceName": None,
            "ResourceType": None,
            "ServiceCategory": SERVICE_CATEGORY,
            "ServiceName": service,
            "ServiceSubcategory": SERVICE_SUBCATEGORY,
            "SkuId": sku,
            "SkuPriceId": sku
            + "@"
            + _per_value(rate, lambda r: "no-list-price" if pd.isna(r) else f"{r:.10g}"),
            "SubAccountId": g["product_id"],
            "SubAccountName": g["product_id"],
            "Tags": tags,
            "x_Model": g["model"],
            "x_TokenType": g["token_type"],
            "x_Calls": g["calls"].astype("int64"),
            "x_CustomerId": g["customer_id"],
            "x_SubscriptionTier": g["subscription_tier"],
            "x_FeatureId": g["feature_id"],
            "x_Environment": g["environment"],
            "x_TaskType": g["task_type"],
            "x_ApiKeyId": g["api_key_id"],
            "x_PricingStatus": np.where(unpriced, "unpriced", "priced"),
        }
    )
    return out[list(COLUMNS)]
