"""The session's jobs apart: the result cache and the one alert refresher shared with the dashboard hub."""

from __future__ import annotations

import threading

from frames import synthetic

from analyzers.live import AlertRefresher, ResultCache
from analyzers.session import AnalysisSession
from dashboard.hub import DataHub
from metering.store import CallStore


def test_result_cache_computes_once_and_keeps_only_the_current_version():
    version = [1]
    cache = ResultCache(lambda: version[0], size=2)
    calls = []

    def compute(v):
        calls.append(v)
        return v

    assert cache.get((1, "a"), lambda: compute("a")) == "a"
    assert cache.get((1, "a"), lambda: compute("x")) == "a"
    assert calls == ["a"]
    assert cache.get((0, "old"), lambda: compute("old")) == "old"
    assert (0, "old") not in cache  # another version's value is returned, not kept
    for k in "bcd":
        cache.get((1, k), lambda k=k: compute(k))
    assert (1, "a") not in cache and (1, "d") in cache  # least recently used out
    cache.clear()
    assert cache.peek((1, "d")) is None


def test_alert_refresher_runs_one_recompute_at_a_time_and_ignores_stale_results():
    r = AlertRefresher()
    gate = threading.Event()
    started = []

    def compute(state):
        started.append(state)
        gate.wait(5)
        r.publish(state, [f"alert@{state}"])

    r.want(1)
    r.start(compute)
    r.want(2)  # ignored: one is running
    r.start(compute)
    gate.set()
    r.join()
    assert started == [1] and r.latest() == (1, ["alert@1"])
    r.publish(0, ["older"])
    assert r.latest() == (1, ["alert@1"])
    r.reset(5)
    assert r.latest() is None
    r.publish(3, ["before the reset"])
    assert r.latest() is None
    r.publish(5, ["fresh"])
    assert r.latest() == (5, ["fresh"])


def test_the_hub_serves_the_sessions_alerts_without_a_thread_of_its_own(tmp_path):
    path = tmp_path / "calls.csv"
    CallStore(path).append(synthetic(3000, days=20, customers=30, seed=8))
    hub = DataHub(path)
    hub.tick()
    assert hub.alerts_version() == 0
    hub.refresh_alerts(wait=True)
    session = hub.session()
    assert isinstance(session, AnalysisSession)
    assert hub.alerts_version() == session.version
    assert hub.latest_alerts() == session.latest_alerts()[1] == session.alerts()
    assert not any(hasattr(hub, a) for a in ("_alert_thread", "_alerts"))
    # the overview reads the same refresher: no recompute for the version the hub refreshed
    ov = hub.overview(None)
    assert ov.alerts_version == session.version
