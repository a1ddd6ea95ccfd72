"""Every chart's pure ``process_data`` and ``create_figure`` on real analyzer output (no browser)."""

from __future__ import annotations

import json

import dashdata
import pandas as pd
import plotly.graph_objects as go
import pytest

from analyzers import registry
from analyzers.base import AnalysisResult
from dashboard.components.charts import plot_text
from dashboard.pages.alignment import chargeback
from dashboard.pages.features import feature_quadrant
from dashboard.pages.optimization import switch_matrix
from dashboard.pages.overview import daily_cost, hierarchy_treemap
from dashboard.pages.performance import latency_percentiles
from dashboard.pages.pricing import pricing_models
from dashboard.pages.profitability import margin_distribution
from dashboard.pages.realtime import alert_history
from dashboard.pages.understanding import cost_by_model, cost_forecast
from metering.store import read_calls

RESULT_CHARTS = (
    alert_history,
    chargeback,
    cost_by_model,
    cost_forecast,
    feature_quadrant,
    latency_percentiles,
    margin_distribution,
    pricing_models,
    switch_matrix,
)


@pytest.fixture(scope="module")
def frame(tmp_path_factory) -> pd.DataFrame:
    path = tmp_path_factory.mktemp("charts") / "calls.csv"
    dashdata.write(path, dashdata.calls(1500, 14))
    dashdata.write(path, dashdata.spike(at="2026-11-12T12:00:00"))
    return read_calls(path)


@pytest.fixture(scope="module")
def results(frame) -> dict[str, AnalysisResult]:
    return registry.run_all(frame)


@pytest.mark.parametrize("chart", RESULT_CHARTS, ids=lambda c: c.__name__.rsplit(".", 1)[-1])
def test_result_chart_draws_data(chart, results):
    data = chart.process_data(results[chart.ANALYZER])
    assert len(data) > 0
    fig = chart.create_figure(data)
    assert isinstance(fig, go.Figure) and len(fig.data) > 0
    json.dumps(fig.to_plotly_json(), default=str)  # serialisable for the browser


@pytest.mark.parametrize("chart", RESULT_CHARTS, ids=lambda c: c.__name__.rsplit(".", 1)[-1])
def test_result_chart_on_an_empty_result_shows_a_message(chart):
    empty = AnalysisResult(name=chart.ANALYZER, title="t")
    fig = chart.create_figure(chart.process_data(empty))
    assert len(fig.data) == 0 and fig.layout.annotations


def test_margin_distribution_has_the_alarm_line(results):
    fig = margin_distribution.create_figure(margin_distribution.process_data(results["profitability"]))
    assert any(s.x0 == margin_distribution.ALARM_MARGIN_PCT for s in fig.layout.shapes)


def test_margin_histogram_spans_the_1st_to_99th_percentile_and_counts_the_rest():
    margins = pd.Series([-500.0, *[80.0 + i * 0.1 for i in range(198)], 400.0])
    lo, hi, below, above = margin_distribution.histogram_range(margins)
    assert 80.0 <= lo < 81.0 and 99.0 < hi < 100.0 and below == 2 and above == 2
    df = pd.DataFrame({"customer_id": [f"c{i}" for i in range(200)], "margin_pct": margins, "band": "x"})
    fig = margin_distribution.create_figure(df)
    assert "4 outside the 1st–99th percentile" in fig.layout.title.text
    assert fig.layout.xaxis.range[0] <= margin_distribution.ALARM_MARGIN_PCT <= fig.layout.xaxis.range[1]


def test_switch_matrix_labels_every_row_and_leaves_zero_cells_blank(results):
    pivot = pd.DataFrame(
        [[float(i), 0.0] for i in range(30)],
        index=[f"m{i:02d}" for i in range(30)],
        columns=["a", "b"],
    )
    fig = switch_matrix.create_figure(switch_matrix._keep_top(pivot, switch_matrix.MAX_ROWS, 0))
    trace = fig.data[0]
    assert len(trace.y) == switch_matrix.MAX_ROWS and trace.y[-1] == switch_matrix.OTHER
    assert fig.layout.yaxis.dtick == 1
    assert all(t == "" for row in trace.text for t in row[1:])  # the zero column is blank
    assert switch_matrix.cell_text(0.4) == "<$1" and switch_matrix.cell_text(1234.4) == "$1,234"


def test_forecast_view_shows_the_actual_period_plus_30_days(results):
    df = cost_forecast.process_data(results["understanding"])
    fig = cost_forecast.create_figure(df)
    start, end = (pd.Timestamp(x) for x in fig.layout.xaxis.range)
    actual = df.loc[df["kind"] == "actual", "date"]
    assert start < actual.min() and (end - actual.max()).days == cost_forecast.VIEW_AHEAD_DAYS


def test_pricing_margin_axis_has_round_ticks(results):
    fig = pricing_models.create_figure(pricing_models.process_data(results["pricing"]))
    axis = fig.layout.yaxis2
    assert axis.dtick in (1, 2, 2.5, 5, 10, 20, 25, 50, 100, 200, 250, 500)
    assert axis.range[0] % axis.dtick == 0 and axis.range[1] % axis.dtick == 0


def test_feature_labels_alternate_positions_and_only_the_costliest_are_labelled():
    n = feature_quadrant.MAX_LABELS + 5
    df = pd.DataFrame(
        {
            "feature_id": [f"f{i}" for i in range(n)],
            "adoption_pct": [float(i) for i in range(n)],
            "margin_pct": 50.0,
            "cost_usd": [float(i) for i in range(n)],
            "quadrant": "invest",
        }
    )
    plan = feature_quadrant.label_plan(df)
    assert (plan["text"] != "").sum() == feature_quadrant.MAX_LABELS
    assert all(a != b for a, b in zip(plan["position"], plan["position"].iloc[1:], strict=False))


def test_switch_matrix_sums_the_savings(results):
    sw = results["optimization"].tables["switch_matrix"]
    pivot = switch_matrix.process_data(results["optimization"])
    assert pivot.sum().sum() == pytest.approx(sw["savings_usd_month"].sum())


def test_pricing_shows_the_four_models_side_by_side(results):
    df = pricing_models.process_data(results["pricing"])
    assert len(df) == 4
    assert len({tuple(t.x) for t in pricing_models.create_figure(df).data}) == 1


def test_chargeback_sums_to_the_allocated_total(results):
    df = chargeback.process_data(results["alignment"])
    assert df["allocated_usd"].sum() == pytest.approx(
        results["alignment"].tables["chargeback"]["allocated_usd"].sum()
    )


def test_alert_history_lists_the_planted_spike_most_severe_first(results):
    df = alert_history.alerts_frame(results["realtime"].alerts)
    assert len(df) > 0 and df["entity"].str.contains("cust_0007").any()
    ranks = df["severity"].map(alert_history.SEVERITY_RANK)
    assert ranks.is_monotonic_increasing


def hierarchy() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "organization_id": ["o1", "o1", "o1", "o2"],
            "product_id": ["pa", "pa", "pb", "pc"],
            "model": ["m1", "m2", "m1", "m1"],
            "cost_usd": [1.0, 2.0, 3.0, 4.0],
            "calls": [1, 2, 3, 4],
        }
    )


def test_treemap_nodes_total_per_branch():
    nodes = hierarchy_treemap.process_data(hierarchy())
    by_id = nodes.set_index("id")
    assert by_id.loc["o1", "cost_usd"] == 6.0
    assert by_id.loc["o1/pa", "cost_usd"] == 3.0
    assert by_id.loc["o1/pa", "parent"] == "o1"
    assert set(nodes.loc[nodes["depth"] == 1, "parent"]) == {""}
    assert len(nodes) == 2 + 3  # organizations and products; models appear after a drill
    below = hierarchy_treemap.process_data(hierarchy(), ["o1"]).set_index("id")
    assert below.loc["o1/pa/m2", "parent"] == "o1/pa" and below.loc["o1/pa/m2", "cost_usd"] == 2.0


def test_treemap_below_a_drill_path_has_that_node_as_root():
    nodes = hierarchy_treemap.process_data(hierarchy(), ["o1"])
    roots = nodes[nodes["parent"] == ""]
    assert roots["id"].tolist() == ["o1"] and roots["cost_usd"].item() == 6.0
    assert "o2" not in set(nodes["label"])
    assert hierarchy_treemap.process_data(hierarchy(), ["nope"]).empty


def test_treemap_click_drills_down_and_root_click_goes_up():
    click = {"points": [{"id": "o1/pa"}]}
    # a click on a product inside an organization goes down exactly one level: the organization
    assert hierarchy_treemap.drill_from_click([], click) == ["o1"]
    assert hierarchy_treemap.drill_from_click(["o1"], click) == ["o1", "pa"]
    assert hierarchy_treemap.drill_from_click(["o1"], {"points": [{"id": "o1/pa/m1"}]}) == ["o1", "pa"]
    assert hierarchy_treemap.drill_from_click(["o1", "pa"], click) == ["o1"]
    assert hierarchy_treemap.drill_from_click(["o2"], click) is None  # outside the scope: stale figure
    assert hierarchy_treemap.drill_from_click([], {"points": [{"id": "a/b/c/d"}]}) is None
    assert hierarchy_treemap.drill_from_click([], {"points": [{}]}) is None
    assert hierarchy_treemap.drill_from_click([], None) is None


def test_treemap_ids_round_trip_names_with_slashes_and_percent():
    h = hierarchy().assign(organization_id="a/b%2F", product_id="p%")
    nodes = hierarchy_treemap.process_data(h)
    leaf = nodes[nodes["depth"] == 2]["id"].iloc[0]
    assert hierarchy_treemap.decode_id(leaf) == ["a/b%2F", "p%"]
    assert hierarchy_treemap.process_data(h, ["a/b%2F", "p%"])["parent"].iloc[0] == ""


def test_treemap_labels_are_escaped():
    h = hierarchy().assign(organization_id="<b>evil</b>")
    fig = hierarchy_treemap.create_figure(hierarchy_treemap.process_data(h))
    assert "&lt;b&gt;evil&lt;/b&gt;" in fig.data[0].labels
    assert plot_text(["a<br>b"]) == ["a&lt;br&gt;b"]


def test_daily_cost_orders_providers_by_total():
    daily = pd.DataFrame(
        {
            "date": ["2026-11-01", "2026-11-01", "2026-11-02"],
            "provider": ["a", "b", "b"],
            "cost_usd": [1.0, 2.0, 3.0],
            "calls": [1, 1, 1],
        }
    )
    df = daily_cost.process_data(daily)
    assert list(df["provider"].cat.categories) == ["b", "a"]
    fig = daily_cost.create_figure(df)
    assert fig.layout.barmode == "stack" and [t.name for t in fig.data] == ["b", "a"]
    assert daily_cost.create_figure(daily_cost.process_data(None)).layout.annotations


def test_scope_line_names_the_sources_once_real_metering_is_in():
    from dashboard.pages.overview.overview_cards import scope_text

    start, end = pd.Timestamp("2026-11-01", tz="UTC"), pd.Timestamp("2026-11-30", tz="UTC")
    assert scope_text(0, None, None) == "No calls in the current selection."
    assert scope_text(1200, start, end, {"simulated": 1200}) == "1,200 calls in scope 2026-11-01 → 2026-11-30"
    assert (
        scope_text(1227, start, end, {"simulated": 1200, "metered": 20, "otlp": 7})
        == "1,227 calls in scope 2026-11-01 → 2026-11-30 · by source: 1,200 simulated, 20 metered, 7 otlp"
    )


def test_alert_history_is_a_timeline_of_counts_by_severity(results):
    df = alert_history.process_data(results["realtime"])
    assert set(df.columns) == {"bucket", "severity", "alerts", "entities"}
    assert int(df["alerts"].sum()) == len([a for a in results["realtime"].alerts if a.time is not None])
    fig = alert_history.create_figure(df)
    assert fig.layout.barmode == "stack" and {t.type for t in fig.data} == {"bar"}


def test_realtime_headline_has_one_count_per_idea(results):
    from dashboard.pages.realtime.headline import headline_counts

    counts = {c["key"]: c for c in headline_counts(results["realtime"])}
    assert list(counts) == ["open_alerts", "anomalies", "alerts_24h"]
    assert counts["open_alerts"]["value"] == len(results["realtime"].alerts)
    assert 0 <= counts["alerts_24h"]["value"] <= counts["open_alerts"]["value"]
    assert all(c["note"] for c in counts.values())
