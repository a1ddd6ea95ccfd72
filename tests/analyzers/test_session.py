"""The incremental session: tailing, resets, and overviews equal to a from-scratch computation."""

from __future__ import annotations

import threading
from datetime import date

import numpy as np
import pandas as pd
import pytest
from frames import synthetic

from analyzers import common, registry
from analyzers.base import AnalysisContext
from analyzers.finops import realtime, understanding
from analyzers.overview import OVERVIEW_KEYS
from analyzers.session import AnalysisSession, Filters, filter_frame
from metering.schema import SOURCES
from metering.store import CallStore, read_calls

CTX = AnalysisContext()


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return synthetic(3000, days=20, customers=25, seed=7, start="2026-11-01", unpriced_share=0.03)


def make(tmp_path, df: pd.DataFrame) -> tuple[CallStore, AnalysisSession]:
    path = tmp_path / "calls.csv"
    store = CallStore(path)
    if len(df):
        store.append(df)
    return store, AnalysisSession(path, CTX)


def assert_cube_holds(s: AnalysisSession, rows: pd.DataFrame) -> None:
    """The session's analysis cube holds exactly these calls: count, cost and tokens per customer."""
    cube = s.analysis_cube()
    got = (
        pd.DataFrame(
            {
                "c": cube.decode("customer_id"),
                "calls": cube.cols["calls"],
                "cost": cube.cols["cost_usd"],
                "tokens": cube.cols["input_tokens"],
            }
        )
        .groupby("c")[["calls", "cost", "tokens"]]
        .sum()
    )
    want = (
        pd.DataFrame(
            {
                "c": rows["customer_id"].astype(str).to_numpy(),
                "calls": 1,
                "cost": rows["cost_usd"].fillna(0).to_numpy(),
                "tokens": rows["input_tokens"].to_numpy(),
            }
        )
        .groupby("c")[["calls", "cost", "tokens"]]
        .sum()
    )
    pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=1e-9)


def test_refresh_sees_exactly_the_appended_rows(tmp_path, data):
    store, s = make(tmp_path, data.iloc[:2000])
    info = s.refresh()
    assert (info.new_rows, info.reset, info.version, info.malformed) == (2000, False, 1, 0)
    assert s.refresh().new_rows == 0 and s.version == 1
    store.append(data.iloc[2000:2500])
    info = s.refresh()
    assert (info.new_rows, info.version) == (500, 2)
    assert_cube_holds(s, data.iloc[:2500])
    assert s.overview().metrics["calls"].value == 2500


def test_replaced_file_resets_everything(tmp_path, data):
    store, s = make(tmp_path, data.iloc[:1000])
    s.refresh()
    s.overview()
    store.reset(keep_metered=False)
    store.append(data.iloc[2000:2100])
    info = s.refresh()
    assert info.reset and info.new_rows == 100 and info.version == 2
    assert_cube_holds(s, data.iloc[2000:2100])
    assert s.overview().metrics["calls"].value == 100
    assert s.filter_options()["organizations"] == sorted(
        set(data["organization_id"].iloc[2000:2100].astype(str))
    )


def test_new_run_keeps_metered_rows_and_session_sees_them_once(tmp_path, data):
    first = data.iloc[:1000]
    store, s = make(tmp_path, first)
    s.refresh()
    kept = store.reset()  # a new simulation: real (metered) rows survive it
    metered = first[first["source"] != "simulated"]
    assert kept == len(metered) > 0
    store.append(data.iloc[2000:2100])
    info = s.refresh()
    assert info.reset and info.new_rows == len(metered) + 100
    expected = metered["call_id"].tolist() + data["call_id"].iloc[2000:2100].tolist()
    assert_cube_holds(s, pd.concat([metered, data.iloc[2000:2100]]))
    assert s.overview().metrics["calls"].value == len(expected)


def scratch(df: pd.DataFrame, f: Filters) -> dict:
    """The overview's figures computed from rows with the analyzers themselves."""
    sub = filter_frame(df, f)
    u = understanding.analyze(sub, CTX)
    econ = common.customer_economics(sub, CTX)
    revenue = float(econ["revenue_usd"].sum())
    known = float(econ.loc[econ["tier"] != "unknown", "cost_usd"].sum())
    return {
        "sub": sub,
        "total_cost_usd": u.metrics["total_cost_usd"].value,
        "calls": u.metrics["calls"].value,
        "cost_per_call_usd": u.metrics["cost_per_call_usd"].value,
        "forecast_30d_usd": u.metrics["forecast_30d_usd"].value if len(sub) else None,
        "run_rate_month_usd": u.metrics["run_rate_month_usd"].value if len(sub) else None,
        "revenue_usd": revenue,
        "gross_margin_pct": common.gross_margin_pct(revenue, known),
        "loss_making_customers": int(econ["loss_making"].sum()),
        "at_risk_customers": int(econ["at_risk"].sum()),
        "unpriced_calls": u.metrics["unpriced_calls"].value,
        "hierarchy": u.tables["hierarchy"],
    }


FILTERS = [
    Filters(),
    Filters(tiers=("pro", "starter")),
    Filters(start=date(2026, 11, 5), end=date(2026, 11, 12), environments=("production",)),
    Filters(organizations=("org_1", "org_3"), sources=("simulated",)),
    Filters(drill=("org_2",)),
    Filters(drill=("org_2", "org_2_p0", "gpt-4")),
    Filters(tiers=("enterprise",), drill=("org_4", "org_4_p1")),
    Filters(tiers=("no-such-tier",)),
]


@pytest.mark.parametrize("f", FILTERS, ids=range(len(FILTERS)))
def test_overview_equals_from_scratch(tmp_path, data, f):
    store, s = make(tmp_path, data.iloc[:1500])
    s.refresh()
    store.append(data.iloc[1500:])  # two refreshes: the running cube must fold chunks correctly
    s.refresh()
    ov = s.overview(f)
    exp = scratch(read_calls(store.path), f)
    for k in (
        "total_cost_usd",
        "cost_per_call_usd",
        "forecast_30d_usd",
        "run_rate_month_usd",
        "revenue_usd",
        "gross_margin_pct",
    ):
        if exp[k] is None:
            assert ov.metrics[k].value is None, k
        else:
            assert ov.metrics[k].value == pytest.approx(exp[k], rel=1e-9, abs=1e-9), k
    for k in ("calls", "loss_making_customers", "at_risk_customers", "unpriced_calls"):
        assert ov.metrics[k].value == exp[k], k
    assert ov.rows == exp["calls"]
    sub = exp["sub"]
    if len(sub):
        assert (ov.period_start, ov.period_end) == (sub["timestamp"].min(), sub["timestamp"].max())
    hier = exp["hierarchy"][["organization_id", "product_id", "model", "cost_usd", "calls"]]
    got = ov.hierarchy.reset_index(drop=True)
    assert (
        got[["organization_id", "product_id", "model"]].values.tolist()
        == hier[["organization_id", "product_id", "model"]].values.tolist()
    )
    assert got["cost_usd"].to_numpy() == pytest.approx(hier["cost_usd"].to_numpy())
    assert got["calls"].tolist() == hier["calls"].tolist()
    dbp = ov.daily_cost_by_provider
    assert dbp["calls"].sum() == len(sub) and dbp["cost_usd"].sum() == pytest.approx(exp["total_cost_usd"])
    assert set(ov.metrics) == set(OVERVIEW_KEYS) == set(ov.changes)
    by_source = sub["source"].astype(str).value_counts().to_dict()
    assert ov.calls_by_source == by_source and list(ov.calls_by_source) == [
        k for k in SOURCES if k in by_source
    ]


def test_changes_against_previous_period_of_equal_length(tmp_path, data):
    _, s = make(tmp_path, data)
    s.refresh()
    f = Filters(start=date(2026, 11, 9), end=date(2026, 11, 12))
    prev = Filters(start=date(2026, 11, 5), end=date(2026, 11, 8))
    cur_cost = s.overview(f).metrics["total_cost_usd"].value
    prev_cost = s.overview(prev).metrics["total_cost_usd"].value
    ov = s.overview(f)
    assert ov.changes["total_cost_usd"] == pytest.approx((cur_cost - prev_cost) / prev_cost)
    assert ov.changes["open_alerts"] is None and ov.comparison == "vs the previous 4 days"
    cur_m, prev_m = ov.metrics["gross_margin_pct"].value, s.overview(prev).metrics["gross_margin_pct"].value
    # percentage points; the change covers whole days, the cards end at each selection's last call
    assert ov.changes["gross_margin_pct"] == pytest.approx((cur_m - prev_m) / 100, abs=1e-4)
    assert all(v is None for v in s.overview(Filters(start=date(2026, 11, 1))).changes.values())


def test_changes_without_a_filter_compare_the_last_seven_complete_days(tmp_path, data):
    _, s = make(tmp_path, data)
    s.refresh()
    ov = s.overview()
    assert ov.comparison == "last 7 complete days vs the 7 before"
    last = data["timestamp"].max()
    assert last.hour == 23  # Nov 20 is complete: Nov 14-20 against Nov 7-13
    cur = s.overview(Filters(start=date(2026, 11, 14), end=date(2026, 11, 20))).metrics
    prev = s.overview(Filters(start=date(2026, 11, 7), end=date(2026, 11, 13))).metrics
    for k in ("total_cost_usd", "calls"):
        assert ov.changes[k] == pytest.approx((cur[k].value - prev[k].value) / prev[k].value), k
    assert ov.changes["total_cost_usd"] is not None
    f30 = ov.metrics["forecast_30d_usd"].value
    assert ov.changes["forecast_30d_usd"] == pytest.approx(
        (f30 / 30 - prev["total_cost_usd"].value / 7) / (prev["total_cost_usd"].value / 7)
    )


def test_alerts_from_cubes_equal_realtime_on_rows(tmp_path, data):
    store, s = make(tmp_path, data.iloc[:2500])
    s.refresh()
    store.append(data.iloc[2500:])
    s.refresh()
    direct = realtime.analyze(read_calls(store.path), CTX)
    via = s.result("realtime")
    assert [a.id for a in s.alerts()] == [a.id for a in direct.alerts]
    assert [a.value for a in s.alerts()] == pytest.approx([a.value for a in direct.alerts])
    for name in ("anomalies", "budgets", "spikes"):
        a, b = via.tables[name], direct.tables[name]
        assert len(a) == len(b), name
    assert via.metrics["portfolio_risk"].value == direct.metrics["portfolio_risk"].value
    assert s.overview().metrics["open_alerts"].value == len(direct.alerts)


def test_results_cached_per_version_and_filters(tmp_path, data):
    store, s = make(tmp_path, data.iloc[:1000])
    s.refresh()
    f = Filters(tiers=("pro",))
    a = s.result("performance", f)
    assert s.result("performance", f) is a
    assert s.result("performance") is not a
    u = s.result("understanding", f)
    assert u.metrics["calls"].value == int((data["subscription_tier"].iloc[:1000] == "pro").sum())
    store.append(data.iloc[1000:1100])
    s.refresh()
    assert s.result("performance", f) is not a
    with pytest.raises(KeyError):
        s.result("nope")
    assert set(registry.ANALYZER_NAMES) >= {"understanding", "performance", "realtime"}


def test_filter_options_and_empty_file(tmp_path, data):
    _, s = make(tmp_path, data)
    s.refresh()
    opts = s.filter_options()
    assert opts["tiers"] == ["enterprise", "pro", "starter"]
    assert opts["organizations"] == sorted(data["organization_id"].astype(str).unique())
    assert opts["start"] == "2026-11-01" and opts["dates"] == [opts["start"], opts["end"]]
    e = AnalysisSession(tmp_path / "missing.csv", CTX)
    e.refresh()
    ov = e.overview()
    assert ov.rows == 0 and ov.metrics["total_cost_usd"].value == 0 and ov.hierarchy.empty
    assert e.analysis_cube().calls == 0 and e.alerts() == [] and e.filter_options()["tiers"] == []


def test_header_only_file_and_all_unpriced(tmp_path, data):
    path = tmp_path / "h.csv"
    store = CallStore(path)
    store.reset()
    s = AnalysisSession(path, CTX)
    assert s.refresh().new_rows == 0 and s.overview().rows == 0
    store.append(data.iloc[:50].assign(cost_usd=np.nan))
    s.refresh()
    ov = s.overview()
    assert ov.metrics["unpriced_calls"].value == 50 and ov.metrics["total_cost_usd"].value == 0
    assert ov.metrics["cost_per_call_usd"].value is None


def test_concurrent_readers_during_refresh(tmp_path, data):
    store, s = make(tmp_path, data.iloc[:500])
    s.refresh()
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader(f: Filters) -> None:
        try:
            while not stop.is_set():
                ov = s.overview(f)
                assert ov.metrics["calls"].value <= len(data)
                s.filter_options()
        except BaseException as exc:  # collected and checked in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(f,)) for f in FILTERS[:3]]
    for t in threads:
        t.start()
    for i in range(500, 3000, 500):
        store.append(data.iloc[i : i + 500])
        s.refresh()
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    assert s.overview().metrics["calls"].value == len(data)


def test_open_alerts_follow_the_drill_selection(tmp_path, data):
    """With a filter or drill, only alerts whose customer/model/provider has calls in scope count."""
    cust = data["customer_id"].iloc[0]
    own = data[data["customer_id"] == cust]
    spike = pd.concat([own] * 3).head(300).copy()  # a planted cost spike on the last day
    spike["timestamp"] = data["timestamp"].max() - pd.to_timedelta(range(len(spike)), unit="s")
    spike["cost_usd"] = spike["cost_usd"].fillna(0.01) * 50
    spike["call_id"] = [f"spike_{i}" for i in range(len(spike))]
    store, s = make(tmp_path, data)
    store.append(spike)
    s.sync_alerts = True
    s.refresh()
    everything = s.alerts()
    assert any(a.entity == f"customer:{cust}" for a in everything)
    rows = read_calls(store.path)
    orgs = [str(o) for o in rows["organization_id"].astype(str).unique()]
    other = next(o for o in orgs if o != str(own["organization_id"].iloc[0]))
    for org in (str(own["organization_id"].iloc[0]), other):
        ov = s.overview(Filters(drill=(org,)))
        sub = rows[rows["organization_id"].astype(str) == org]
        in_scope = {
            "customer": set(sub["customer_id"].astype(str)),
            "model": set(sub["model"].astype(str)),
            "provider": set(sub["provider"].astype(str)),
        }
        expected = [
            a.id
            for a in everything
            if a.entity.partition(":")[2] in in_scope.get(a.entity.partition(":")[0], set())
        ]
        assert [a.id for a in ov.alerts] == expected
        assert ov.metrics["open_alerts"].value == len(expected)
    assert len(s.overview(Filters(drill=(other,))).alerts) < len(everything)
    assert s.overview().metrics["open_alerts"].value == len(everything)


def test_overview_filters_by_api_key_and_end_user_and_keys_sum_to_the_total(tmp_path, data):
    keys = np.where(np.arange(len(data)) % 3 == 0, "aaaaaaaaaaaa", "bbbbbbbbbbbb")
    df = data.assign(api_key_id=pd.Categorical(keys))
    _, s = make(tmp_path, df)
    s.refresh()
    opts = s.filter_options()
    assert opts["api_keys"] == ["aaaaaaaaaaaa", "bbbbbbbbbbbb"]
    assert opts["customers"] == sorted(df["customer_id"].astype(str).unique())
    total = s.overview().metrics["total_cost_usd"].value
    per_key = [s.overview(Filters(api_keys=(k,))).metrics["total_cost_usd"].value for k in opts["api_keys"]]
    assert sum(per_key) == pytest.approx(total, rel=1e-9)
    expected = float(df.loc[keys == "aaaaaaaaaaaa", "cost_usd"].sum())
    assert per_key[0] == pytest.approx(expected, rel=1e-9)
    customer = opts["customers"][0]
    one = s.overview(Filters(customers=(customer,)))
    assert one.metrics["total_cost_usd"].value == pytest.approx(
        float(df.loc[df["customer_id"].astype(str) == customer, "cost_usd"].sum()), rel=1e-9
    )
    assert s.analysis_cube(Filters(api_keys=("bbbbbbbbbbbb",))).calls == int((keys == "bbbbbbbbbbbb").sum())


def test_scope_budgets_from_cubes_equal_rows(tmp_path, data):
    from metering.budgets import ScopeBudget

    ctx = AnalysisContext(
        scope_budgets=(ScopeBudget("organization", "org_1", 5.0), ScopeBudget("product", "x", 1.0))
    )
    path = tmp_path / "calls.csv"
    CallStore(path).append(data)
    s = AnalysisSession(path, ctx)
    s.refresh()
    via = s.result("realtime").tables["scope_budgets"]
    direct = realtime.analyze(read_calls(path), ctx).tables["scope_budgets"]
    assert via["scope_id"].tolist() == direct["scope_id"].tolist()
    assert via["projected_month_usd"].to_numpy() == pytest.approx(direct["projected_month_usd"].to_numpy())
    assert [a.id for a in s.alerts()] == [a.id for a in realtime.analyze(read_calls(path), ctx).alerts]
