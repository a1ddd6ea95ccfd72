"""Statistical checks of the synthesised traffic against domain-facts §3-§5 (small runs)."""

from __future__ import annotations

import numpy as np
from generator_testkit import START, calls_of, local_ms, world_of

from generator.scenarios import BY_NAME
from generator.synthesis import day_context
from generator.traffic import MARKET_SHARE

DAY = 86_400_000


def test_base_traffic_provider_shares_follow_the_market():
    w = world_of("base_traffic")
    c = calls_of(w, range(14))
    share = np.bincount(w.models.model_provider[c.model], minlength=len(w.models.providers)) / len(c)
    for p, s in zip(w.models.providers, share, strict=True):
        assert abs(s - MARKET_SHARE[p]) <= 0.03, (p, s)


def test_base_traffic_business_hours_and_weekends():
    w = world_of("base_traffic")
    c = calls_of(w, range(28))
    local = local_ms(w, c)
    hour = (local % DAY) / 3_600_000
    business = ((hour >= 8) & (hour < 20)).mean()
    assert abs(business - 0.85) < 0.03, business
    # whole local days only (the first and last are partly outside the simulated window)
    d0 = np.datetime64(START, "D").astype(np.int64)
    day = local // DAY - d0
    counts = np.bincount(day[(day >= 1) & (day <= 26)], minlength=27)[1:27]
    dow = (np.arange(1, 27) + d0 + 3) % 7
    ratio = counts[dow >= 5].mean() / counts[dow < 5].mean()
    assert 0.62 < ratio < 0.78, ratio


def test_model_migration_follows_an_s_curve():
    w = world_of("model_migration")
    src, dst = w.models.index("gpt-4"), w.models.index("claude-sonnet-4")
    share = []
    for d in range(30):
        m = calls_of(w, [d]).model
        share.append((m == dst).sum() / max(1, ((m == dst) | (m == src)).sum()))
    share = np.array(share)
    assert share[:9].max() < 0.15  # before day 10: only the usual Sonnet traffic
    assert share[24:].min() > 0.95  # migration complete by day 24
    assert 0.3 < share[17] < 0.7  # midpoint of the S
    assert (np.diff(share[8:26]) > -0.05).all()  # rises steadily
    curve = BY_NAME["model_migration"].migrated(np.arange(30) + 0.5)
    assert np.abs(share[10:] - (share[0] + (1 - share[0]) * curve[10:])).max() < 0.1


def test_feature_launch_spike_and_adoption():
    w = world_of("feature_launch", customers=2000)
    code = w.feature_names.index("code")
    n = len(w.slices[0])
    per_day = [calls_of(w, [d]) for d in range(28)]
    assert all((c.feature != code).all() for c in per_day[:10])  # nothing before launch day 10
    volume = np.array([len(c) for c in per_day])
    weekdays = [d for d in range(10) if (d % 7) < 5]  # START is a Monday
    assert volume[10] / volume[weekdays].mean() > 2.5  # the launch spike (3-5x at its peak)
    late = calls_of(w, range(20, 28))
    adoption = len(np.unique(late.cust[late.feature == code])) / n
    assert abs(adoption - 0.40) < 0.06, adoption


def _in_hours(calls, first: int, length: int) -> int:
    hour = (calls.t_ms % DAY) // 3_600_000
    return int(((hour >= first) & (hour < first + length)).sum())


def test_burst_days_have_5_to_20x_hours():
    w = world_of("burst_traffic", customers=1500)
    sc = BY_NAME["burst_traffic"]
    bursts = [(d, b) for d in range(7, 120) if (b := sc.burst(w.seed, d)) and not sc.burst(w.seed, d - 7)]
    assert 0.03 < len(bursts) / 113 < 0.15  # ~8 % of days
    for d, (first, length, factor) in bursts[:3]:
        assert 5 <= factor <= 20 and 1 <= length <= 3
        ratio = _in_hours(calls_of(w, [d]), first, length) / max(
            1, _in_hours(calls_of(w, [d - 7]), first, length)
        )
        assert factor * 0.6 < ratio < factor * 1.6, (d, factor, ratio)


def test_gradual_decline_churned_customers_stop():
    w = world_of("gradual_decline", customers=1000)
    sc = BY_NAME["gradual_decline"]
    churn_day = sc.churn_days(day_context(w, 0, 0))[w.slices[0]]
    churned = np.isfinite(churn_day)
    assert 0.10 < churned.mean() < 0.30
    c = calls_of(w, range(30))
    days = (c.t_ms - c.t_ms.min() // DAY * DAY) / DAY
    stop = sc.churn_days(day_context(w, 0, 0))[c.cust]
    assert (days < stop + 1 / 1440).all()  # no call after a customer's churn time (trace calls: seconds)
    per_day = np.bincount(days.astype(int), minlength=30)
    assert per_day[21:28].sum() < 0.8 * per_day[0:7].sum()  # the slice declines


def test_viral_spike_and_steady_growth_shapes():
    viral = BY_NAME["viral_spike"]
    assert viral.multiplier(np.array([0.0]))[0] == 1.0
    assert abs(viral.multiplier(np.array([viral.event_day + viral.rise_days]))[0] - 50) < 1e-9
    assert abs(viral.multiplier(np.array([40.0]))[0] - 5) < 0.01
    w = world_of("steady_growth", customers=1000)
    first, last = len(calls_of(w, range(0, 7))), len(calls_of(w, range(28, 35)))
    assert 1.7 < last / first < 2.4  # 100 % -> ~200 % over 30 days


def test_cost_optimization_routes_simple_tasks_to_cheaper_models():
    w = world_of("cost_optimization", customers=1000)
    simple = [w.task_names.index(t) for t in w.traffic.simple_tasks]
    price = w.models.output_price

    def mean_price(days):
        c = calls_of(w, days)
        return price[c.model[np.isin(c.task, simple)]].mean(), len(c)

    (p_before, n_before), (p_after, n_after) = mean_price(range(0, 7)), mean_price(range(21, 28))
    assert p_after < 0.45 * p_before
    assert n_after < n_before  # repeats answered by the cache


def test_timezone_pattern_peaks_in_local_office_hours():
    w = world_of("timezone_pattern")
    c = calls_of(w, range(7))
    hour = (local_ms(w, c) % DAY) / 3_600_000
    assert ((hour >= 9) & (hour < 17)).mean() > 0.75
    utc_hours = np.bincount((c.t_ms % DAY) // 3_600_000, minlength=24)
    assert (utc_hours > 0).all()  # global customers cover all 24 UTC hours


def test_call_mix_invariants():
    w = world_of()
    c = calls_of(w, range(2), si=0)
    assert (c.cached <= c.input).all() and (c.reasoning <= c.output).all()
    assert (c.reasoning[~w.models.reasoning[c.model]] == 0).all()
    assert (c.cached[~w.models.cacheable[c.model]] == 0).all()
    assert 0.15 < (c.cached > 0).mean() < 0.4
    failed = w.error_stops[c.stop]
    assert 0.01 < failed.mean() < 0.05 and (c.output[failed] == 0).all()
    env = np.bincount(c.env, minlength=3) / len(c)
    assert abs(env[0] - 0.95) < 0.02
    # traces group 1-5 calls of one customer; sessions are reused
    _, trace_sizes = np.unique(np.stack([c.trace_hi, c.trace_lo]), axis=1, return_counts=True)
    assert trace_sizes.max() <= 5 and (trace_sizes > 1).any()
    assert len(np.unique(c.session_id)) < len(np.unique(c.trace_hi))
