"""The chart-builder page's decisions, without a browser: controls, filters, list, save/duplicate/rename/delete."""

from __future__ import annotations

import json

import pytest

from dashboard.pages.chart_builder import controls as logic
from dashboard.pages.chart_builder.builder import ChartConfig
from dashboard.pages.chart_builder.workspace import Workspace

CONTROLS = (
    "Cost by tier",
    "bar",
    ["tier", "model"],
    "cost",
    "group",
    "week",
    None,
    None,
    14,
    10,
    {"env": []},
)


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return Workspace(tmp_path / "charts", seed_examples=False)


def controls(**changes):
    names = ("title", "chart_type", "dimensions", "metric", "bar_mode", "time_grain", "date_from", "date_to",
             "last_days", "top_n", "filters")  # fmt: skip
    values = dict(zip(names, CONTROLS, strict=True))
    values["filters"] = {"environment": ["production"]}
    values.update(changes)
    return [values[n] for n in names]


def test_controls_make_a_config_and_open_puts_the_same_controls_back():
    config, problems = logic.config_from_controls(*controls())
    assert problems == []
    assert config == ChartConfig(
        title="Cost by tier", chart_type="bar", dimensions=("tier", "model"), metric="cost", bar_mode="group",
        time_grain="week", last_days=14, top_n=10, filters={"environment": ("production",)},
    )  # fmt: skip
    back = logic.controls_from_config(config)
    assert logic.config_from_controls(*back.as_tuple(), back.filters) == (config, [])


def test_date_picker_values_are_cut_to_days_and_empty_inputs_mean_none():
    config, _ = logic.config_from_controls(
        *controls(date_from="2026-11-01T00:00:00", date_to="2026-11-07", last_days="", top_n=None)
    )
    assert (config.date_from, config.date_to, config.last_days, config.top_n) == (
        "2026-11-01",
        "2026-11-07",
        None,
        None,
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"title": "  "}, "title: must be a non-empty string"),
        ({"chart_type": "bar", "dimensions": []}, "dimensions: a bar needs at least 1 dimension"),
        ({"last_days": 2.5}, "last days: expected a whole number"),
        ({"top_n": "many"}, "top N: expected a whole number"),
        ({"last_days": 0}, "last days: expected a whole number of days 1..3660"),
        ({"last_days": -3}, "last days: expected a whole number of days 1..3660"),
        ({"top_n": 0}, "top N: expected a whole number 1..500"),
        ({"top_n": 99999}, "top N: expected a whole number 1..500"),
        (
            {"date_from": "2026-11-09", "date_to": "2026-11-01", "last_days": None},
            "date to: 2026-11-01 is before",
        ),
    ],
)
def test_invalid_controls_explain_themselves(changes, message):
    config, problems = logic.config_from_controls(*controls(**changes))
    assert config is None
    assert any(p.startswith(message) for p in problems), problems


def test_filters_are_edited_one_dimension_at_a_time():
    f = logic.update_filters({}, "tier", ["pro"])
    f = logic.update_filters(f, "model", ["gpt-4o", "gpt-4"])
    assert f == {"tier": ["pro"], "model": ["gpt-4o", "gpt-4"]}
    assert logic.update_filters(f, "tier", []) == {"model": ["gpt-4o", "gpt-4"]}
    assert logic.filters_text(f) == "Chart filters: Tier = pro; Model = gpt-4o, gpt-4"
    assert logic.filters_text({}).startswith("No chart filters")


def test_save_open_overwrite_duplicate_rename_delete(ws):
    config, _ = logic.config_from_controls(*controls())
    r = logic.run_action(ws, "save", "weekly", None, config, [])
    assert r.ok and r.opened == "weekly" and ws.load("weekly") == config
    # saving a new chart under a taken name is refused; the open chart itself is updated in place
    other = config.replace(title="Other")
    r = logic.run_action(ws, "save", "weekly", None, other, [])
    assert not r.ok and "already exists" in r.message and ws.load("weekly") == config
    assert logic.run_action(ws, "save", "weekly", "weekly", other, []).ok and ws.load("weekly") == other
    r = logic.run_action(ws, "duplicate", "weekly copy", "weekly", None, ["ignored"])
    assert r.ok and r.opened == "weekly copy" and ws.load("weekly copy") == other
    r = logic.run_action(ws, "rename", "monthly", "weekly copy", None, [])
    assert r.ok and ws.list().names() == ["monthly", "weekly"]
    assert not logic.run_action(ws, "rename", "monthly", "monthly", None, []).ok  # same name
    assert not logic.run_action(ws, "duplicate", "x", None, None, []).ok  # nothing open
    r = logic.run_action(ws, "delete", "", "monthly", None, [])
    assert r.ok and r.opened is None and ws.list().names() == ["weekly"]
    assert not logic.run_action(ws, "delete", "", None, None, []).ok


def test_bad_names_and_invalid_configs_are_refused_with_a_message(ws):
    config, _ = logic.config_from_controls(*controls())
    r = logic.run_action(ws, "save", "../escape", None, config, [])
    assert not r.ok and "not allowed" in r.message
    r = logic.run_action(ws, "save", "ok", None, None, ["title: must be a non-empty string"])
    assert not r.ok and r.message == "Cannot save: title: must be a non-empty string"
    assert not (ws.root.parent / "escape.json").exists()


def test_saved_list_and_corrupt_files_do_not_break_the_page(ws):
    config, _ = logic.config_from_controls(*controls())
    ws.save("weekly", config)
    (ws.root / "broken.json").write_text("{oops", encoding="utf-8")
    (ws.root / "wrong.json").write_text(json.dumps({"title": "x", "chart_type": "pie"}), encoding="utf-8")
    listing = ws.list()
    view = logic.saved_list(listing, "weekly")
    items = view[0].children
    assert [i.id for i in items] == [{"type": logic.OPEN_TYPE, "name": "weekly"}]
    assert items[0].active is True
    warning = logic.problems_view(listing)[0]
    text = json.dumps(warning.to_plotly_json(), default=lambda o: o.to_plotly_json())
    assert "broken.json" in text and "wrong.json" in text and "unknown chart type" in text
    assert logic.problems_view(Workspace(ws.root.parent / "empty", seed_examples=False).list()) == []


def test_workspace_is_handed_to_the_page_else_comes_from_the_environment(tmp_path, monkeypatch):
    from dashboard.app import create_app
    from dashboard.pages.chart_builder.workspace import Workspace

    assert Workspace(tmp_path / "a").root == tmp_path / "a"
    monkeypatch.setenv("REVENIUM_FLOW_WORKSPACE", str(tmp_path / "b"))
    assert Workspace().root == tmp_path / "b"
    # create_app hands its workspace to the page: the saved list reads that folder, no server config involved
    import dash

    app = create_app(tmp_path / "calls.csv", workspace=tmp_path / "a")
    handed = dash.page_registry["pages.chart_builder"]["register_callbacks"].keywords["workspace"]
    assert handed.root == tmp_path / "a"
    assert not any("WORKSPACE" in k for k in app.server.config)
