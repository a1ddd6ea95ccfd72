"""Pricing against hand-computed costs, price history, catalog layouts and catalog errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metering.prices import CatalogError, load_catalog
from metering.tiers import DAYS_PER_MONTH, load_tiers


def test_default_catalog_has_the_seven_providers_and_24_models() -> None:
    cat = load_catalog()
    assert cat.providers == ["anthropic", "azure", "bedrock", "cohere", "google", "mistral", "openai"]
    assert len(cat.models()) == 24
    assert cat.current("openai", "gpt-4").per_1k() == pytest.approx((0.03, 0.06))
    assert cat.current("google", "gemini-1.5-flash").per_1k() == pytest.approx((0.000075, 0.0003))
    for (_, _), hist in cat.prices.items():
        p = hist[-1]
        if p.cache_read is not None:
            assert p.cache_read == pytest.approx(p.input * 0.10)
    assert cat.model_provider()["claude-instant"] == "bedrock"


def test_hand_computed_costs() -> None:
    cat = load_catalog()
    cost = cat.price_calls(
        ["openai", "anthropic", "google", "mistral", "azure"],
        ["gpt-4", "claude-sonnet-4", "gemini-1.5-flash", "mistral-small", "gpt-35-turbo-azure"],
        [1000, 2000, 10_000, 5000, 3000],
        [500, 400, 2000, 1000, 1000],
        [0, 1000, 0, 0, 0],
    )
    expected = [
        1000 * 0.03 / 1000 + 500 * 0.06 / 1000,  # 0.06
        1000 * 0.003 / 1000 + 1000 * 0.0003 / 1000 + 400 * 0.015 / 1000,  # 0.0093
        10_000 * 0.000075 / 1000 + 2000 * 0.0003 / 1000,  # 0.00135
        5000 * 0.0001 / 1000 + 1000 * 0.0003 / 1000,  # 0.0008
        3000 * 0.0005 / 1000 + 1000 * 0.0015 / 1000,  # 0.003
    ]
    np.testing.assert_allclose(cost, expected, rtol=1e-12)
    assert cost[1] == pytest.approx(0.0093)


def test_cached_tokens_use_the_cached_rate_and_are_not_billed_twice() -> None:
    cat = load_catalog()
    plain, half, full = cat.price_calls(["openai"] * 3, ["gpt-4o"] * 3, [1000] * 3, [0] * 3, [0, 500, 1000])
    assert plain == pytest.approx(1000 * 2.5e-6)
    assert half == pytest.approx(500 * 2.5e-6 + 500 * 2.5e-7)
    assert full == pytest.approx(1000 * 2.5e-7)
    # a model without a cache-read price bills cached tokens once, at the input rate
    no_cache = cat.price_calls(["openai"], ["gpt-4"], [1000], [0], [400])
    assert no_cache[0] == pytest.approx(1000 * 3e-5)


def test_reasoning_tokens_use_the_reasoning_rate(write_catalog) -> None:
    path = write_catalog(
        {
            "models": [
                {
                    "model": "thinker",
                    "litellm_provider": "acme",
                    "input_cost_per_token": 1e-6,
                    "output_cost_per_token": 4e-6,
                    "output_cost_per_reasoning_token": 1e-5,
                }
            ]
        }
    )
    cat = load_catalog(path)
    cost = cat.price_calls(["acme"], ["thinker"], [100], [1000], None, [300])
    assert cost[0] == pytest.approx(100 * 1e-6 + 700 * 4e-6 + 300 * 1e-5)
    assert cat.current("acme", "thinker").supports_reasoning


def test_unknown_model_or_wrong_provider_is_unpriced_not_zero() -> None:
    cat = load_catalog()
    cost = cat.price_calls(
        ["openai", "openai", "anthropic"], ["gpt-9", "gpt-4o", "gpt-4o"], [10] * 3, [10] * 3
    )
    assert np.isnan(cost[0]) and np.isnan(cost[2])
    assert cost[1] > 0
    assert cat.current("openai", "gpt-9") is None


def test_price_change_on_a_date_prices_old_and_new_rows_differently(write_catalog) -> None:
    base = {"model": "m1", "litellm_provider": "acme", "output_cost_per_token": 0.0}
    path = write_catalog(
        {
            "models": [
                {**base, "effective_from": "2026-06-01", "input_cost_per_token": 2e-6},
                {**base, "effective_from": "2026-01-01", "input_cost_per_token": 1e-6},
            ]
        }
    )
    cat = load_catalog(path)
    ts = pd.Series(pd.to_datetime(["2025-12-31T23:59:59Z", "2026-03-01T00:00:00Z", "2026-06-01T00:00:00Z"]))
    cost = cat.price_calls(["acme"] * 3, ["m1"] * 3, [1000] * 3, [0] * 3, timestamp=ts)
    assert np.isnan(cost[0])  # before any price was in force
    assert cost[1] == pytest.approx(1e-3)
    assert cost[2] == pytest.approx(2e-3)
    assert cat.current("acme", "m1").input == 2e-6
    assert cat.current("acme", "m1", at="2026-05-31").input == 1e-6
    # without timestamps, the newest price applies
    assert cat.price_calls(["acme"], ["m1"], [1000], [0])[0] == pytest.approx(2e-3)
    assert cat.table()["effective_from"].tolist() == ["2026-01-01", "2026-06-01"]


def test_price_frame_on_a_typed_frame(make_calls) -> None:
    df = make_calls(6)
    for c in ("provider", "model"):
        df[c] = df[c].astype("category")
    cat = load_catalog()
    direct = cat.price_calls(
        df["provider"].astype(str),
        df["model"].astype(str),
        df["input_tokens"],
        df["output_tokens"],
        df["cached_tokens"],
        df["reasoning_tokens"],
    )
    np.testing.assert_allclose(cat.price_frame(df), direct)


def test_litellm_layout_loads(write_catalog) -> None:
    path = write_catalog(
        {
            "sample_spec": {"max_tokens": "set to max_output_tokens"},
            "gpt-x": {
                "litellm_provider": "openai",
                "mode": "chat",
                "input_cost_per_token": 1e-6,
                "output_cost_per_token": 2e-6,
                "cache_read_input_token_cost": 1e-7,
                "max_input_tokens": 1000,
            },
        }
    )
    cat = load_catalog(path)
    assert cat.models() == ["gpt-x"]
    p = cat.current("openai", "gpt-x")
    assert (p.input, p.output, p.cache_read, p.max_input_tokens) == (1e-6, 2e-6, 1e-7, 1000)


def test_env_var_points_to_a_catalog(write_catalog, monkeypatch) -> None:
    path = write_catalog(
        {"m2": {"litellm_provider": "acme", "input_cost_per_token": 1, "output_cost_per_token": 1}}
    )
    monkeypatch.setenv("REVENIUM_FLOW_PRICES", str(path))
    assert load_catalog().models() == ["m2"]


ENTRY = {
    "model": "m",
    "litellm_provider": "acme",
    "input_cost_per_token": 1e-6,
    "output_cost_per_token": 1e-6,
}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ('{"models": [', "invalid JSON at line 1"),
        ("[1, 2]", "expected a JSON object"),
        ({"models": []}, "no model prices found"),
        ({"models": [{**ENTRY, "input_cost_per_token": -1}]}, "'input_cost_per_token' must be a number >= 0"),
        (
            {"models": [{**ENTRY, "output_cost_per_token": "cheap"}]},
            "'output_cost_per_token' must be a number",
        ),
        (
            {"models": [{k: v for k, v in ENTRY.items() if k != "input_cost_per_token"}]},
            "'input_cost_per_token' is missing",
        ),
        (
            {"models": [{k: v for k, v in ENTRY.items() if k != "litellm_provider"}]},
            "'litellm_provider' is missing",
        ),
        ({"models": [{k: v for k, v in ENTRY.items() if k != "model"}]}, "'model' is missing"),
        ({"models": [{**ENTRY, "effective_from": "soon"}]}, "'effective_from' is not a date"),
        ({"models": [ENTRY, ENTRY]}, "two prices with the same effective_from"),
        ({"models": ["gpt-4"]}, r"models\[0\]: expected an object"),
    ],
)
def test_bad_catalogs_give_clear_errors(write_catalog, doc, message) -> None:
    with pytest.raises(CatalogError, match=message):
        load_catalog(write_catalog(doc))


def test_missing_catalog_file(tmp_path) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "nope.json")


def test_tiers() -> None:
    tiers = load_tiers()
    assert set(tiers) == {"starter", "pro", "enterprise"}
    pro = tiers["pro"]
    assert pro.price_for_days(DAYS_PER_MONTH) == pytest.approx(pro.price_usd_month)
    assert pro.price_for_days(7) == pytest.approx(pro.price_usd_month * 7 / 30.4375)


def test_cache_write_tokens_use_the_cache_creation_rate_once() -> None:
    cat = load_catalog()
    # claude-sonnet-4: input $3/M, cache read $0.30/M, cache write $3.75/M; 1000 input = 200 read + 300
    # written + 500 plain
    (cost,) = cat.price_calls(["anthropic"], ["claude-sonnet-4"], [1000], [0], [200], None, None, [300])
    assert cost == pytest.approx(500 * 3e-6 + 200 * 3e-7 + 300 * 3.75e-6)
    # without a catalog cache-write rate they pay the input rate: the plain input price, once
    (plain,) = cat.price_calls(["openai"], ["gpt-4"], [1000], [0], None, None, None, [300])
    assert plain == pytest.approx(1000 * 3e-5)
    # price_frame reads the stored column
    df = pd.DataFrame({"provider": ["anthropic"], "model": ["claude-sonnet-4"], "input_tokens": [1000],
                       "output_tokens": [0], "cached_tokens": [200], "cache_creation_tokens": [300]})  # fmt: skip
    assert cat.price_frame(df, at_call_time=False)[0] == pytest.approx(cost)


def test_price_keys_matches_a_per_call_lookup_with_histories_and_unknown_models(write_catalog) -> None:
    """The flat per-key table gives each call the price ``Catalog.current(provider, model, at=time)``
    gives it: histories, a single price not yet in force, unknown models, no timestamp."""
    base = {"litellm_provider": "acme", "output_cost_per_token": 4e-6, "cache_read_input_token_cost": 1e-7}
    path = write_catalog(
        {
            "models": [
                {**base, "model": "h", "effective_from": "2026-06-01", "input_cost_per_token": 2e-6},
                {**base, "model": "h", "effective_from": "2026-01-01", "input_cost_per_token": 1e-6},
                {**base, "model": "h", "effective_from": "2026-09-01", "input_cost_per_token": 3e-6},
                {**base, "model": "s", "effective_from": "2026-03-01", "input_cost_per_token": 5e-6},
                {**base, "model": "t", "input_cost_per_token": 7e-6},
            ]
        }
    )
    cat = load_catalog(path)
    keys = [("acme", "h"), ("acme", "nope"), ("acme", "s"), ("acme", "t"), ("other", "h")]
    rng = np.random.default_rng(1)
    n = 4000
    codes = rng.integers(0, len(keys), n)
    inp, out = rng.integers(1, 5000, n), rng.integers(0, 2000, n)
    cached = np.minimum(rng.integers(0, 3000, n), inp)
    t_ms = rng.integers(1_735_000_000_000, 1_800_000_000_000, n)  # 2024-12 .. 2027-01
    got = cat.price_keys(keys, codes, inp, out, cached, None, timestamp=t_ms.astype("datetime64[ms]"))
    newest = cat.price_keys(keys, codes, inp, out, cached)
    for i in range(n):
        at = pd.Timestamp(int(t_ms[i]), unit="ms", tz="UTC").to_pydatetime()
        provider, model = keys[codes[i]]
        hist = [p for p in cat.prices.get((provider, model), []) if p.effective_from <= at]
        all_prices = cat.prices.get((provider, model), [])
        for value, prices in ((got[i], hist), (newest[i], all_prices)):
            if not prices:
                assert np.isnan(value)
                continue
            p = prices[-1]
            expected = (inp[i] - cached[i]) * p.input + cached[i] * p.cache_read_rate + out[i] * p.output
            assert value == pytest.approx(expected, rel=1e-12)
