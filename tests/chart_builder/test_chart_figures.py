"""Every chart type renders for every dimension and metric, and shows the numbers a direct computation gives.

The grid is pairwise (``tests/pairwise.py``): every chart type meets every dimension and every metric, and
every dimension every metric, in about a quarter of the full product's cases."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from analyzers.base import AnalysisContext
from analyzers.common import customer_economics
from analyzers.cube import SKETCH_ACCURACY
from dashboard.pages.chart_builder.builder import (
    CHART_TYPES,
    TIME_GRAINS,
    ChartConfig,
    build_figure,
    chart_frame,
)
from dashboard.pages.chart_builder.metrics import (
    DIMENSIONS,
    METRICS,
    aggregate,
    dimension_values,
    format_value,
)
from metering.tiers import load_tiers
from tests.pairwise import all_pairs
from tests.revenue_reference import reference_revenue

TIERS = load_tiers()


def label_of(df: pd.DataFrame, dim: str) -> pd.Series:
    s = df[DIMENSIONS[dim]].astype("str")
    return s.mask(df[DIMENSIONS[dim]].isna() | (s == ""), "(none)")


def expected_metric(df: pd.DataFrame, metric: str) -> dict[str, float]:
    """The metric per customer-free group computed the slow, obvious way (one group = the rows given)."""
    cost = df["cost_usd"]
    priced = cost.notna()
    if metric == "calls":
        return len(df)
    if metric == "tokens":
        return float((df["input_tokens"] + df["output_tokens"]).sum())
    if metric == "cost":
        return float(cost.sum()) if priced.any() else math.nan
    if metric == "cost_per_call":
        return float(cost.sum()) / priced.sum() if priced.any() else math.nan
    if metric == "cost_per_1k_tokens":
        tok = (df["input_tokens"] + df["output_tokens"])[priced].sum()
        return float(cost.sum()) / tok * 1000 if priced.any() else math.nan
    if metric == "p95_latency":
        return float(df["latency_ms"].quantile(0.95))
    if metric == "error_rate":
        return float(df["stop_reason"].astype("str").isin(["TIMEOUT", "ERROR", "CANCELLED"]).mean() * 100)
    raise AssertionError(metric)


def expected_margin(full: pd.DataFrame, part: pd.DataFrame) -> float:
    """Margin of ``part`` (rows of ``full``): each customer's subscription revenue (day by day, the
    reference rule) spread over their calls."""
    prices = {n: t.price_usd_month for n, t in TIERS.items()}
    revenue = 0.0
    for cust, rows in part.groupby(part["customer_id"].astype("str"), observed=True):
        mine = full[full["customer_id"].astype("str") == cust]
        revenue += reference_revenue(full, cust, prices)[0] * len(rows) / len(mine)
    return revenue - float(part["cost_usd"].fillna(0).sum())


def expected_by(df: pd.DataFrame, dim: str, metric: str) -> dict[str, float]:
    out = {}
    for value, rows in df.groupby(label_of(df, dim), observed=True):
        out[value] = expected_margin(df, rows) if metric == "margin" else expected_metric(rows, metric)
    return out


def close(a: float, b: float, metric: str = "") -> bool:
    """Equal to 1e-9; p95 latency (read from the cube's latency sketch) within the sketch's error."""
    rel = SKETCH_ACCURACY if metric == "p95_latency" else 1e-9
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)


def shows(text: str, metric: str, expected: float) -> bool:
    """A formatted metric shows ``expected``: exactly, or for p95 latency (sketch) within its error
    (the shown value is rounded to the ms)."""
    if metric != "p95_latency":
        return text == format_value(metric, expected)
    shown = float(text.replace(" ms", "").replace(",", ""))
    return math.isclose(shown, expected, rel_tol=SKETCH_ACCURACY, abs_tol=0.5)


@pytest.mark.parametrize(
    ("chart_type", "dim", "metric"), all_pairs(list(CHART_TYPES), list(DIMENSIONS), list(METRICS))
)
def test_every_chart_type_dimension_and_metric_renders_the_right_numbers(calls, chart_type, dim, metric):
    config = ChartConfig(
        title=f"{chart_type} {dim} {metric}", chart_type=chart_type, dimensions=(dim,), metric=metric
    )
    fig = build_figure(config, calls)
    fig.to_json()  # serialisable, as Dash sends it
    assert fig.layout.title.text == config.title
    want = expected_by(calls, dim, metric)
    assert len(fig.data) >= 1
    if chart_type in ("treemap", "sunburst"):
        trace = fig.data[0]
        shown = {c[4]: c[0] for c in trace.customdata}  # display path -> formatted metric
        for value, expected in want.items():
            assert shows(shown[f"All calls / {value}"], metric, expected)
        if metric in ("cost", "calls", "tokens"):  # sizes add up to the root
            leaves = [v for i, v in zip(trace.ids, trace.values, strict=True) if i != "All calls"]
            assert math.isclose(sum(leaves), trace.values[0], rel_tol=1e-9)
    elif chart_type == "bar":
        got = dict(zip(fig.data[0].x, fig.data[0].y, strict=True))
        assert set(got) == set(want)
        assert all(close(got[k], want[k], metric) for k in want)
    elif chart_type == "line":
        got = {}
        for trace in fig.data:
            got[trace.name] = dict(zip(pd.to_datetime(trace.x, utc=True), trace.y, strict=True))
        assert set(got) == set(want)
        day = calls["timestamp"].dt.floor("D")
        for value in want:
            for d, rows in calls[label_of(calls, dim) == value].groupby(day):
                exp = expected_margin(calls, rows) if metric == "margin" else expected_metric(rows, metric)
                assert close(got[value][d], exp, metric)
    else:
        header = list(fig.data[0].header.values)
        cells = dict(zip(header, fig.data[0].cells.values, strict=True))
        label = METRICS[metric][0]
        shown = dict(zip(cells[header[0]], cells[label], strict=True))
        assert shown.keys() == want.keys()
        assert all(shows(shown[k], metric, v) for k, v in want.items())


@pytest.mark.parametrize("chart_type", list(CHART_TYPES))
def test_three_level_hierarchy_and_empty_data(calls, chart_type):
    config = ChartConfig(title="h", chart_type=chart_type, dimensions=("organization", "product", "model"))
    fig = build_figure(config, calls)
    fig.to_json()
    empty = build_figure(config, calls.iloc[0:0])
    assert "No calls match" in empty.layout.annotations[0].text


def test_hierarchy_parents_are_computed_from_raw_rows_not_children(calls):
    config = ChartConfig(
        title="p95", chart_type="treemap", dimensions=("organization", "model"), metric="p95_latency"
    )
    trace = build_figure(config, calls).data[0]
    shown = {c[4]: c[0] for c in trace.customdata}
    org1 = calls[calls["organization_id"] == "org_1"]
    assert shows(shown["All calls / org_1"], "p95_latency", org1["latency_ms"].quantile(0.95))
    assert shows(shown["All calls"], "p95_latency", calls["latency_ms"].quantile(0.95))
    # the parent's p95 is its own, not one of its children's
    assert shown["All calls"] not in {c[0] for c in trace.customdata if c[4].count(" / ") == 1}
    # non-size metrics size nodes by calls, so nothing vanishes
    sizes = dict(zip(trace.ids, trace.values, strict=True))
    assert sizes["All calls\norg_2\ngemini-pro"] == 1
    assert set(trace.parents) == {"", "All calls", "All calls\norg_1", "All calls\norg_2"}


def test_margin_by_customer_equals_the_profitability_analyzer(calls):
    config = ChartConfig(title="m", chart_type="table", dimensions=("customer",), metric="margin")
    frame = chart_frame(config, calls)
    got = aggregate(frame, ["customer"], "margin").set_index("customer")["value"]
    econ = customer_economics(calls, AnalysisContext(tiers=dict(TIERS))).set_index("customer_id")
    for cust, margin in econ["margin_usd"].items():
        assert math.isclose(got[cust], margin, rel_tol=1e-9, abs_tol=1e-9)
    # margin cut by model adds back up to revenue - cost
    by_model = aggregate(chart_frame(config.replace(dimensions=("model",)), calls), ["model"], "margin")
    assert math.isclose(by_model["value"].sum(), float(econ["margin_usd"].sum()), rel_tol=1e-9)


def test_margin_follows_the_handed_over_context_and_its_subscriptions_file(calls, tmp_path):
    """The dashboard hands its analysis context to the chart builder: a subscriptions file changes a chart's
    margin exactly as it changes the profitability analyzer's."""
    from metering.subscriptions import load_subscriptions

    subs_file = tmp_path / "subs.csv"
    subs_file.write_text(
        "customer,tier,start,end,price\ncust_a,enterprise,2020-01-01,,5000\n", encoding="utf-8"
    )
    prices = {n: t.price_usd_month for n, t in TIERS.items()}
    ctx = AnalysisContext(tiers=dict(TIERS), subscriptions=load_subscriptions(subs_file, prices))
    config = ChartConfig(title="m", chart_type="table", dimensions=("customer",), metric="margin")
    got = aggregate(chart_frame(config, calls, context=ctx), ["customer"], "margin").set_index("customer")[
        "value"
    ]
    plain = aggregate(chart_frame(config, calls), ["customer"], "margin").set_index("customer")["value"]
    econ = customer_economics(calls, ctx).set_index("customer_id")
    for cust, margin in econ["margin_usd"].items():
        assert math.isclose(got[cust], margin, rel_tol=1e-9, abs_tol=1e-9)
    assert not math.isclose(got["cust_a"], plain["cust_a"], rel_tol=1e-6)  # the file's price is used


def test_dimension_filters_keep_the_cut_share_of_revenue(calls):
    base = ChartConfig(title="m", chart_type="bar", dimensions=("model",), metric="margin")
    whole = dict(zip(build_figure(base, calls).data[0].x, build_figure(base, calls).data[0].y, strict=True))
    only = build_figure(base.replace(filters={"model": ["gpt-4o"]}), calls).data[0]
    assert list(only.x) == ["gpt-4o"]
    assert math.isclose(only.y[0], whole["gpt-4o"], rel_tol=1e-9)


def test_date_range_and_last_days_filters(calls):
    cfg = ChartConfig(
        title="d",
        chart_type="bar",
        dimensions=("provider",),
        metric="calls",
        date_from="2026-11-03",
        date_to="2026-11-09",
    )
    trace = build_figure(cfg, calls).data[0]
    assert dict(zip(trace.x, trace.y, strict=True)) == {"anthropic": 2}
    last = build_figure(cfg.replace(date_from=None, date_to=None, last_days=7), calls).data[0]
    # newest call 2026-11-16T23:59:59: the last 7 days start after 2026-11-09T23:59:59
    assert dict(zip(last.x, last.y, strict=True)) == {"google": 1, "openai": 1}


@pytest.mark.parametrize(
    ("grain", "buckets"),
    [
        ("hour", 6),
        ("day", 5),
        ("week", ["2026-11-02", "2026-11-09", "2026-11-16"]),
        ("month", ["2026-11-01"]),
    ],
)
def test_line_time_grains(calls, grain, buckets):
    assert grain in TIME_GRAINS
    fig = build_figure(
        ChartConfig(title="t", chart_type="line", dimensions=(), metric="calls", time_grain=grain), calls
    )
    x = pd.to_datetime(fig.data[0].x, utc=True)
    if isinstance(buckets, int):
        assert len(x) == buckets
    else:
        # 2026-11-02 is a Monday; weeks start on Monday (UTC)
        assert [d.strftime("%Y-%m-%d") for d in x] == buckets
    assert sum(fig.data[0].y) == len(calls)


def test_top_n_groups_the_rest_as_other_with_exact_metrics(calls):
    cfg = ChartConfig(title="top", chart_type="bar", dimensions=("model",), metric="p95_latency", top_n=2)
    trace = build_figure(cfg, calls).data[0]
    got = dict(zip(trace.x, trace.y, strict=True))
    # by cost: claude-sonnet-4 (2.00), gpt-4o (0.80) kept; gpt-4o-mini and unpriced gemini-pro -> (other)
    assert set(got) == {"claude-sonnet-4", "gpt-4o", "(other)"}
    other = calls[calls["model"].isin(["gpt-4o-mini", "gemini-pro"])]
    assert got["(other)"] == pytest.approx(other["latency_ms"].quantile(0.95), rel=SKETCH_ACCURACY)


def test_stacked_and_grouped_bars_split_by_the_second_dimension(calls):
    cfg = ChartConfig(title="b", chart_type="bar", dimensions=("organization", "provider"), metric="cost")
    stacked = build_figure(cfg, calls)
    grouped = build_figure(cfg.replace(bar_mode="group"), calls)
    assert stacked.layout.barmode == "relative" and grouped.layout.barmode == "group"
    assert {t.name for t in stacked.data} == {"openai", "anthropic", "google"}


def test_unpriced_cost_is_not_shown_as_zero(calls):
    cfg = ChartConfig(title="u", chart_type="table", dimensions=("model",), metric="cost")
    table = build_figure(cfg, calls).data[0]
    cells = dict(zip(table.header.values, table.cells.values, strict=True))
    row = list(cells["Model"]).index("gemini-pro")
    assert cells["Cost"][row] == "n/a (unpriced)"
    assert cells["Unpriced calls"][row] == "1"


def test_dimension_values_list_what_a_filter_can_pick(calls):
    assert dimension_values(calls, "region") == ["(none)", "eu-west", "us-east", "us-west"]
    assert dimension_values(calls, "tier") == ["enterprise", "pro", "starter"]
    assert dimension_values(calls.iloc[0:0], "model") == []


def strings(obj) -> list[str]:
    """Every string inside a figure dict (labels, ids, customdata, cells, titles)."""
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in strings(v)]
    if hasattr(obj, "tolist"):
        obj = obj.tolist()
    if isinstance(obj, list | tuple):
        return [s for v in obj for s in strings(v)]
    return []


def test_names_from_the_data_are_shown_as_text_not_html(calls):
    calls = calls.assign(
        organization_id=calls["organization_id"].cat.rename_categories({"org_1": "<b>evil</b>"})
    )
    for chart_type in CHART_TYPES:
        cfg = ChartConfig(title="<i>t</i>", chart_type=chart_type, dimensions=("organization",))
        fig = build_figure(cfg, calls).to_dict()
        shown = strings(fig["data"]) + [fig["layout"]["title"]["text"]]
        assert any("&lt;b&gt;evil&lt;/b&gt;" in s for s in shown), chart_type
        # raw markup only in node ids, which plotly never renders
        ids = set(strings(fig["data"][0].get("ids", [])) + strings(fig["data"][0].get("parents", [])))
        assert not any("<b>" in s or "<i>" in s for s in shown if s not in ids), chart_type
