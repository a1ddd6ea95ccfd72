"""Pure decisions of the shell callbacks: tick, toasts, drill, filters, progress, breadcrumb."""

from __future__ import annotations

import pandas as pd
from dash import no_update

from analyzers.base import Alert
from dashboard.callbacks.hub import Tick
from dashboard.callbacks.shell import (
    alert_toast_content,
    drill_from_crumb,
    filters_payload,
    finished_toast,
    tick_update,
    unseen_alerts,
)
from dashboard.components.shell import breadcrumb, ingest_view, progress_view


def alert(i: str, severity: str = "warning", value: float = 1.0) -> Alert:
    return Alert(
        id=i,
        severity=severity,
        kind="anomaly",
        entity=f"customer:{i}",
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


def test_one_toast_summarises_several_new_alerts():
    content = alert_toast_content([alert("d", "critical"), alert("c"), alert("e")])
    assert content["header"] == "Critical alert: customer:d"
    assert "+2 more" in content["body"]
    assert content["colour"] == "danger"
    assert alert_toast_content([]) is None


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
