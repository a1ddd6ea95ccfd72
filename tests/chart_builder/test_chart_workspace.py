"""The shared workspace: exact round trips, refused names, corrupt files reported and skipped."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dashboard.pages.chart_builder.builder import ChartConfig, ConfigError, build_figure
from dashboard.pages.chart_builder.workspace import (
    DEFAULT_WORKSPACE,
    ENV_VAR,
    ChartExists,
    ChartNameError,
    ChartNotFound,
    Workspace,
    default_workspace,
    example_files,
)

RICH = ChartConfig(
    title="Enterprise <cost> by org → product",
    chart_type="bar",
    dimensions=("organization", "product", "model"),
    metric="cost_per_1k_tokens",
    bar_mode="group",
    time_grain="week",
    date_from="2026-11-01",
    date_to="2026-11-30",
    filters={"tier": ("enterprise", "pro"), "environment": ("production",)},
    top_n=None,
)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "charts", seed_examples=False)


def test_saved_configuration_round_trips_exactly(ws):
    saved = ws.save("enterprise weekly", RICH)
    assert ws.load("enterprise weekly") == RICH
    first = saved.path.read_bytes()
    ws.save("enterprise weekly", ws.load("enterprise weekly"))
    assert saved.path.read_bytes() == first  # same config, same bytes
    assert ChartConfig.from_dict(json.loads(first)) == RICH


@pytest.mark.parametrize(
    "config",
    [
        ChartConfig(title="defaults"),
        ChartConfig(title="line", chart_type="line", dimensions=(), time_grain="hour", last_days=7),
        ChartConfig(title="table", chart_type="table", dimensions=("customer",), metric="margin", top_n=500),
        ChartConfig(title="sun", chart_type="sunburst", dimensions=("tier",), metric="error_rate"),
        RICH,
    ],
)
def test_every_field_survives_json(ws, config):
    ws.save("c", config)
    assert ws.load("c") == config
    assert ws.load("c").to_dict() == config.to_dict()


@pytest.mark.parametrize(
    "name",
    [
        "../evil",
        "..",
        ".",
        "a/b",
        "a\\b",
        "/etc/passwd",
        "C:evil",
        "",
        " leading",
        "trailing ",
        "dot.json",
        "x" * 65,
        "CON",
        "nul",
        "lpt1",
        "a\x00b",
        "line\nbreak",
        "ünïcode",
        ".hidden",
        "~home",
        "$HOME",
    ],
)
def test_path_traversal_and_malformed_names_are_refused(ws, tmp_path, name):
    ws.save("ok", RICH)
    before = set(tmp_path.rglob("*"))
    operations = (
        lambda: ws.save(name, RICH),
        lambda: ws.load(name),
        lambda: ws.delete(name),
        lambda: ws.rename("ok", name),
        lambda: ws.rename(name, "ok2"),
        lambda: ws.duplicate("ok", name),
        lambda: ws.path_for(name),
    )
    for op in operations:
        with pytest.raises(ChartNameError):
            op()
    assert set(tmp_path.rglob("*")) == before  # nothing written, moved or deleted anywhere
    assert ws.list().names() == ["ok"]


def test_name_refusal_says_why(ws):
    with pytest.raises(ChartNameError, match="letters, digits, spaces"):
        ws.save("../../etc/cron.d/x", RICH)
    with pytest.raises(ChartNameError, match="at most 64"):
        ws.save("y" * 70, RICH)
    with pytest.raises(ChartNameError, match="reserved"):
        ws.save("Aux", RICH)


def test_corrupt_and_invalid_files_are_reported_and_skipped(ws):
    ws.save("good", RICH)
    (ws.root / "broken.json").write_text('{"title": "x", ', encoding="utf-8")
    (ws.root / "wrong-metric.json").write_text(
        json.dumps({"title": "x", "metric": "happiness"}), encoding="utf-8"
    )
    (ws.root / "not-object.json").write_text("[1, 2]", encoding="utf-8")
    (ws.root / "latin1.json").write_bytes(b'{"title": "caf\xe9"}')
    (ws.root / "bad.name.json").write_text(json.dumps(RICH.to_dict()), encoding="utf-8")
    (ws.root / "huge.json").write_text(" " * (300 * 1024), encoding="utf-8")
    (ws.root / "notes.txt").write_text("not a chart", encoding="utf-8")
    listing = ws.list()
    assert listing.names() == ["good"]
    reasons = {p.file: p.reason for p in listing.problems}
    assert set(reasons) == {
        "broken.json",
        "wrong-metric.json",
        "not-object.json",
        "latin1.json",
        "bad.name.json",
        "huge.json",
    }
    assert "invalid JSON at line 1" in reasons["broken.json"]
    assert "metric: unknown metric 'happiness'" in reasons["wrong-metric.json"]
    assert "expected a JSON object" in reasons["not-object.json"]
    assert "not UTF-8" in reasons["latin1.json"]
    assert "not allowed" in reasons["bad.name.json"]
    assert "larger than" in reasons["huge.json"]
    with pytest.raises(Exception, match="invalid JSON"):
        ws.load("broken")


def test_duplicate_rename_delete(ws):
    ws.save("a", RICH)
    ws.duplicate("a", "b")
    assert ws.list().names() == ["a", "b"] and ws.load("b") == RICH
    with pytest.raises(ChartExists):
        ws.duplicate("a", "b")
    with pytest.raises(ChartExists):
        ws.rename("a", "B")  # names compare case-insensitively (shared folders on macOS/Windows)
    ws.rename("b", "c")
    assert ws.list().names() == ["a", "c"]
    ws.rename("c", "C")  # a case-only rename is allowed
    assert ws.list().names() == ["a", "C"]
    ws.delete("C")
    assert ws.list().names() == ["a"]
    with pytest.raises(ChartNotFound):
        ws.delete("C")
    with pytest.raises(ChartNotFound):
        ws.load("nothing")
    with pytest.raises(ChartNotFound):
        ws.rename("nothing", "else")
    with pytest.raises(ChartExists):
        ws.save("A", RICH)  # another case of an existing name
    with pytest.raises(ChartExists):
        ws.save("a", RICH, overwrite=False)


def test_save_leaves_no_temporary_files_and_signature_changes(ws):
    sig0 = ws.signature()
    ws.save("a", RICH)
    sig1 = ws.signature()
    ws.save("a", RICH.replace(title="changed title"))
    assert sig0 != sig1 != ws.signature()
    assert sorted(os.listdir(ws.root)) == ["a.json"]


def test_first_use_creates_the_workspace_from_the_shipped_examples(tmp_path, calls):
    ws = Workspace(tmp_path / "team" / "charts")
    listing = ws.list()
    assert len(example_files()) >= 3
    assert listing.names() == sorted(p.stem for p in example_files())
    assert listing.problems == []
    for chart in listing.charts:
        build_figure(chart.config, calls).to_json()
    ws.delete(listing.names()[0])
    assert len(Workspace(ws.root).list().charts) == len(example_files()) - 1  # deleted examples stay deleted


def test_examples_include_the_org_product_model_cost_hierarchy():
    configs = [ChartConfig.from_dict(json.loads(p.read_text(encoding="utf-8"))) for p in example_files()]
    assert any(c.dimensions == ("organization", "product", "model") and c.metric == "cost" for c in configs)
    assert {c.chart_type for c in configs} >= {"treemap", "line"}


def test_workspace_location_comes_from_the_environment(monkeypatch, tmp_path):
    assert default_workspace() == DEFAULT_WORKSPACE == Path("workspace/charts")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "shared"))
    assert Workspace().root == tmp_path / "shared"


@pytest.mark.parametrize(
    ("doc", "field", "reason"),
    [
        ({}, "title", "missing required field"),
        ({"title": ""}, "title", "non-empty"),
        ({"title": "x" * 200}, "title", "longer than"),
        ({"title": "x", "chart_type": "pie"}, "chart_type", "unknown chart type 'pie'"),
        ({"title": "x", "dimensions": ["planet"]}, "dimensions", "unknown dimension 'planet'"),
        ({"title": "x", "dimensions": ["model", "model"]}, "dimensions", "appears twice"),
        ({"title": "x", "dimensions": "model"}, "dimensions", "expected a list"),
        (
            {"title": "x", "dimensions": ["model"] * 1 + ["provider", "tier", "region", "feature"]},
            "dimensions",
            "at most 4",
        ),
        ({"title": "x", "chart_type": "bar", "dimensions": []}, "dimensions", "at least 1"),
        ({"title": "x", "metric": "joy"}, "metric", "unknown metric"),
        ({"title": "x", "bar_mode": "overlay"}, "bar_mode", "unknown bar mode"),
        ({"title": "x", "time_grain": "year"}, "time_grain", "unknown time grain"),
        ({"title": "x", "date_from": "2026-13-01"}, "date_from", "YYYY-MM-DD"),
        ({"title": "x", "date_from": "2026-11-10", "date_to": "2026-11-01"}, "date_to", "before"),
        ({"title": "x", "last_days": 0}, "last_days", "1..3660"),
        ({"title": "x", "last_days": 7, "date_from": "2026-11-01"}, "last_days", "not both"),
        ({"title": "x", "top_n": 0}, "top_n", "1..500"),
        ({"title": "x", "top_n": True}, "top_n", "1..500"),
        ({"title": "x", "filters": {"planet": ["mars"]}}, "filters.planet", "unknown dimension"),
        ({"title": "x", "filters": {"tier": "pro"}}, "filters", "lists of values"),
        ({"title": "x", "filters": {"tier": [1]}}, "filters.tier", "non-empty strings"),
        ({"title": "x", "colour": "red"}, "colour", "unknown field"),
        ({"title": "x", "format": "other v9"}, "format", "expected"),
    ],
)
def test_each_bad_field_gets_its_own_message(doc, field, reason):
    with pytest.raises(ConfigError) as info:
        ChartConfig.from_dict(doc)
    assert any(f == field and reason in r for f, r in info.value.problems), info.value.problems
