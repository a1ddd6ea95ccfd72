"""Pure decisions of the shell callbacks: tick, toasts, drill, filters, progress, breadcrumb."""

from __future__ import annotations

import pandas as pd
from dash import no_update

from analyzers.base import Alert
from dashboard.components.shell import (
    breadcrumb,
    confirm_text,
    ingest_view,
    organization_placeholder,
    progress_view,
    run_outcome,
)
from dashboard.components.shell_callbacks import (
    MAX_SEEN_ALERTS,
    alert_toast_content,
    alert_toast_contents,
    drill_from_crumb,
    filters_payload,
    finished_toast,
    merge_toasts,
    message_belongs_to_ended_run,
    run_params,
    tick_update,
    toast_component,
    unseen_alerts,
)
from dashboard.hub import Tick


def alert(i: str, severity: str = "warning", value: float = 1.0, entity: str | None = None) -> Alert:
    return Alert(
        id=i,
        severity=severity,
        kind="anomaly",
        entity=entity or f"customer:{i}",
        message=f"m {i}",
        value=value,
        threshold=0.5,
        time=pd.Timestamp("2026-11-10", tz="UTC"),
    )


def test_idle_tick_changes_nothing():
    t = Tick(version=3, rows=10, new_rows=0, reset=False)
    m = {"state": "done", "rows": 10}
    assert tick_update({"version": 3, "rows": 10}, t, m, dict(m)) == (no_update, no_update)


def test_tick_with_new_rows_publishes_the_version_and_manifest():
    t = Tick(version=4, rows=15, new_rows=5, reset=False)
    v, m = tick_update({"version": 3, "rows": 10}, t, {"rows": 10}, {"rows": 15})
    assert v == {"version": 4, "rows": 15}
    assert m == {"rows": 15}


def test_missing_manifest_becomes_empty_dict_once():
    t = Tick(version=0, rows=0, new_rows=0, reset=False)
    assert tick_update(None, t, None, None) == ({"version": 0, "rows": 0}, {})
    assert tick_update({"version": 0, "rows": 0}, t, {}, None) == (no_update, no_update)


def test_finished_toast_only_on_the_transition():
    run = {"started_at": "t1", "rows": 100, "mb": 3.0}
    assert finished_toast(None, {**run, "state": "done"}) is None  # first tick: baseline
    assert finished_toast({**run, "state": "generating"}, {**run, "state": "generating"}) is None
    toast = finished_toast({**run, "state": "generating"}, {**run, "state": "done"})
    assert toast["header"] == "Generation finished" and toast["colour"] == "success"
    assert "100 rows" in toast["body"]
    assert finished_toast({**run, "state": "done"}, {**run, "state": "done", "rows": 100}) is None


def test_finished_toast_for_a_run_that_started_and_ended_between_ticks():
    prev = {"started_at": "t1", "state": "done"}
    new = {"started_at": "t2", "state": "done", "rows": 5, "mb": 0.1}
    assert finished_toast(prev, new)["header"] == "Generation finished"
    stopped = finished_toast({"started_at": "t2", "state": "generating"}, {**new, "state": "stopped"})
    assert stopped["colour"] == "warning"


def test_unseen_alerts_baseline_then_only_new_ones_most_severe_first():
    a, b = alert("a"), alert("b")
    new, seen = unseen_alerts(None, [a, b])
    assert new == [] and seen == ["a", "b"]
    c, d = alert("c", "warning", 5.0), alert("d", "critical", 1.0)
    new, seen = unseen_alerts(seen, [a, b, c, d])
    assert [x.id for x in new] == ["d", "c"]
    assert seen == ["a", "b", "c", "d"]
    assert unseen_alerts(seen, [a, b, c, d])[0] == []


def test_one_toast_per_entity_the_most_severe_wins_and_the_rest_are_folded():
    new = [alert("a", "warning", entity="customer:c1"), alert("b", "critical", entity="customer:c1")]
    contents = alert_toast_contents(new)
    assert len(contents) == 1
    assert contents[0]["header"] == "Critical alert: customer:c1"
    assert "+1 more for this customer" in contents[0]["body"] and contents[0]["colour"] == "danger"
    two = alert_toast_contents([alert("a", entity="model:m"), alert("b", "critical", entity="customer:c")])
    assert [c["header"] for c in two] == ["Critical alert: customer:c", "Warning alert: model:m"]
    assert alert_toast_contents([]) == [] and alert_toast_content([]) is None


def test_a_burst_becomes_one_summary_toast():
    burst = [alert(str(i), "critical" if i == 7 else "warning", entity=f"customer:c{i}") for i in range(12)]
    contents = alert_toast_contents(burst)
    assert len(contents) == 1
    assert contents[0]["header"] == "12 new alerts — open Real-time"
    assert "customer:c7" in contents[0]["body"] and contents[0]["link"]


def _toast(key: str, is_open: bool = True) -> dict:
    t = toast_component({"header": key, "body": key, "colour": "info", "key": key}).to_plotly_json()
    t["props"]["is_open"] = is_open
    return t


def test_toasts_are_capped_newest_first_and_replace_their_entity():
    shown = [_toast("b"), _toast("c"), _toast("d", is_open=False)]
    new = [toast_component({"header": "a", "body": "a", "colour": "info", "key": "a"})]
    merged = merge_toasts(shown, new, 2)
    assert len(merged) == 2 and merged[0] is new[0]
    assert merged[1]["props"]["id"] == shown[0]["props"]["id"]
    again = [toast_component({"header": "b2", "body": "b", "colour": "info", "key": "b"})]
    assert [getattr(t, "header", None) or t["props"]["header"] for t in merge_toasts(shown, again, 3)] == [
        "b2",
        "c",
    ]


def test_seen_alerts_stay_bounded():
    many = [alert(str(i)) for i in range(MAX_SEEN_ALERTS + 10)]
    _, seen = unseen_alerts([], many)
    assert len(seen) == MAX_SEEN_ALERTS and seen[-1] == str(MAX_SEEN_ALERTS + 9)


def test_badge_says_starting_until_the_new_run_writes_its_manifest():
    old = {"state": "done", "progress": 1.0, "rows": 9, "mb": 3, "target_mb": 3, "pid": 111}
    v = progress_view(old, True, 9, run_pid=222)
    assert v["state"] == "starting" and v["value"] == 0.0 and "Starting" in v["text"]
    assert (
        progress_view({**old, "state": "generating", "pid": 222}, True, 9, run_pid=222)["state"]
        == "generating"
    )
    assert progress_view(old, False, 9)["state"] == "done"


def test_run_outcome_in_plain_words():
    assert run_outcome("done", "") == "finished"
    assert run_outcome("stopped", "stopped by SIGTERM") == "stopped by you"
    assert run_outcome("error", "OSError: disk full") == "failed: OSError: disk full"
    text = progress_view({"state": "stopped", "message": "stopped by SIGTERM", "rows": 5, "mb": 1}, False, 0)[
        "text"
    ]
    assert "stopped by you" in text and "SIGTERM" not in text


def test_a_run_message_clears_when_that_run_ends():
    assert message_belongs_to_ended_run({"state": "stopped", "pid": 5}, False, None)
    assert message_belongs_to_ended_run({"state": "stopped", "pid": 5}, True, 5)  # process still exiting
    assert not message_belongs_to_ended_run({"state": "done", "pid": 4}, True, 5)  # the new run is starting
    assert not message_belongs_to_ended_run({"state": "generating", "pid": 5}, True, 5)
    assert not message_belongs_to_ended_run({}, False, None)


def test_controls_show_the_running_runs_parameters():
    m = {"state": "generating", "target_mb": 20.0, "seed": 7, "pace": "live", "started_at": "t"}
    assert run_params(m, None) == {"target_mb": 20.0, "pace": "live", "seed": 7}
    launched = {"target_mb": 5.0, "pace": "max", "seed": 1}
    assert run_params(m, launched) == launched
    old = {"state": "generating", "target_mb": 8.0, "message": "seed 42, 12 scenarios, from 2026-11-01"}
    assert run_params(old, None) == {"target_mb": 8.0, "pace": None, "seed": 42}
    assert run_params({**m, "state": "done"}, None) is None


def test_confirmation_says_how_many_simulated_rows_are_replaced_and_that_metered_rows_stay():
    text = confirm_text({"simulated": 170000, "metered": 20, "otlp": 4})
    assert "170,000 simulated rows" in text and "24 rows from real metering" in text and "kept" in text
    assert "none now" in confirm_text({"simulated": 5})


def test_organization_filter_names_the_drill_scope():
    assert organization_placeholder(["org_019", "product_a"]) == "org_019 (drill-down)"
    assert organization_placeholder([]) == "Organization: all"


def test_drill_from_crumb_keeps_the_levels_before_it():
    drill = ["org_1", "product_a", "gpt-4o"]
    assert drill_from_crumb(drill, 0) == []
    assert drill_from_crumb(drill, 1) == ["org_1"]
    assert drill_from_crumb(drill, 2) == ["org_1", "product_a"]
    assert drill_from_crumb(None, 1) == []


def test_filters_payload_normalises_dates_and_values():
    out = filters_payload(
        "2026-11-01T00:00:00", None, {"tiers": ["pro", "enterprise"], "organizations": None}
    )
    assert out == {
        "start": "2026-11-01",
        "end": None,
        "tiers": ["enterprise", "pro"],
        "environments": [],
        "organizations": [],
        "sources": [],
        "customers": [],
        "api_keys": [],
    }


def test_progress_view_from_manifest():
    v = progress_view(
        {
            "state": "generating",
            "progress": 0.5,
            "rows": 1234,
            "mb": 1.5,
            "target_mb": 3,
            "simulated_until": "2026-11-05T10:00:00.000Z",
        },
        True,
        0,
    )
    assert v["value"] == 50.0 and v["label"] == "50 %" and v["state"] == "generating" and v["animated"]
    assert "1.5 of 3.0 MB" in v["text"] and "1,234 rows" in v["text"] and "2026-11-05 10:00" in v["text"]
    done = progress_view({"state": "done", "progress": 0.9999, "rows": 5, "mb": 3, "target_mb": 3}, False, 0)
    assert done["value"] == 100.0 and done["label"] == "100 %" and done["colour"] == "success"
    idle = progress_view({}, False, 0)
    assert idle["state"] == "idle" and idle["text"] == "No data yet."
    assert progress_view({}, True, 0)["state"] == "generating"


def test_breadcrumb_levels_are_buttons_except_the_current_one():
    items = breadcrumb(["org_1", "product_a"])
    buttons = [i for i in items if getattr(i, "id", None)]
    assert [b.children for b in buttons] == ["All organizations", "org_1"]
    assert [b.id["index"] for b in buttons] == [0, 1]
    assert items[-1].children == "product_a"


def test_breadcrumb_renders_names_as_text():
    items = breadcrumb(["<img src=x onerror=alert(1)>"])
    assert items[-1].children == "<img src=x onerror=alert(1)>"  # a string child: React escapes it


def _flat(children) -> str:
    return " ".join(getattr(c, "children", c) if not isinstance(c, str) else c for c in children)


def test_ingest_line_says_how_to_turn_it_on_or_what_arrived():
    assert ingest_view(None) == []
    off = _flat(
        ingest_view({"enabled": False, "message": "Metering ingest is off: set REVENIUM_FLOW_API_KEYS"})
    )
    assert "ingest off" in off and "REVENIUM_FLOW_API_KEYS" in off
    on = _flat(
        ingest_view(
            {
                "enabled": True,
                "endpoints": {"single": "/s", "batch": "/b", "otlp": "/v1/traces"},
                "counters": {"rows_stored": 1234, "duplicates": 2, "rejected_requests": 0,
                             "last_received_at": "2026-11-28T10:00:00Z"},
            }
        )
    )  # fmt: skip
    assert "ingest on" in on and "1,234 row(s) received" in on and "2026-11-28T10:00:00Z" in on
    assert "2 duplicate(s)" in on and "rejected" not in on and "/v1/traces" in on
