"""Vectorized call synthesis: one (scenario, day) -> arrays for every column; a block of days -> a shard.

No per-call Python loop: counts are Poisson draws over (customer, hour) cells, every column is an
index gather or a vectorized draw, and the CSV text is produced by Arrow through
``metering.store.format_csv``. Everything one scenario draws for one day comes from generators seeded
by (seed, scenario, day), so a scenario's rows never depend on another scenario, on the block a day
was synthesised in, or on the process that did it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generator import text
from generator.calendar import MS_PER_DAY, MS_PER_HOUR
from generator.scenario import Calls, DayContext, task_seed
from generator.shards import Shard, line_ends, merge
from generator.world import World
from metering import csvtext
from metering.schema import COLUMN_NAMES
from metering.store import format_csv

#: stream number of the per-call attributes of a (scenario, day) (the draft uses the bare task seed)
CALLS_STREAM = 1


@dataclass
class TaskCalls:
    """All columns of one task's calls as numpy arrays (indices into the world's vocabularies)."""

    t_ms: np.ndarray
    cust: np.ndarray
    provider: np.ndarray
    model: np.ndarray
    feature: np.ndarray
    task: np.ndarray
    input: np.ndarray
    output: np.ndarray
    cached: np.ndarray
    reasoning: np.ndarray
    latency: np.ndarray
    stop: np.ndarray
    env: np.ndarray
    ua: np.ndarray
    call_id: np.ndarray  # uint64
    request_id: np.ndarray  # uint64
    trace_hi: np.ndarray  # uint64 (trace id = two 64-bit halves)
    trace_lo: np.ndarray
    session_id: np.ndarray  # uint64
    scenario: np.ndarray  # int16

    def __len__(self) -> int:
        return len(self.t_ms)

    def take(self, order: np.ndarray) -> TaskCalls:
        return TaskCalls(**{k: v[order] for k, v in self.__dict__.items()})

    @staticmethod
    def concat(parts: list[TaskCalls]) -> TaskCalls:
        return TaskCalls(
            **{k: np.concatenate([getattr(p, k) for p in parts]) for k in TaskCalls.__dataclass_fields__}
        )


def day_context(world: World, si: int, day: int) -> DayContext:
    """The context a scenario sees for one day of its slice."""
    sc = world.scenarios[si]
    cust = world.slices[si]
    start_ms = world.start_ms + day * MS_PER_DAY
    offsets = world.pop.tz_offset_h[cust][:, None]
    hour_mid = np.arange(24)[None, :] + 0.5
    abs_local_h = start_ms / MS_PER_HOUR + hour_mid + offsets
    local_epoch_day = np.floor(abs_local_h / 24).astype(np.int64)
    return DayContext(
        seed=world.seed,
        scenario=sc.name,
        day=day,
        start=world.start,
        day_start_ms=start_ms,
        pop=world.pop,
        traffic=world.traffic,
        models=world.models,
        cust=cust,
        local_hour=abs_local_h - local_epoch_day * 24,
        local_dow=(local_epoch_day + 3) % 7,  # 1970-01-01 was a Thursday; 0 = Monday
        local_epoch_day=local_epoch_day,
        t_days=day + (np.arange(24) + 0.5) / 24,
        feature_names=world.feature_names,
        task_names=world.task_names,
        rng=np.random.default_rng(task_seed(world.seed, sc.name, day)),
    )


def expected_rates(world: World, ctx: DayContext, si: int) -> np.ndarray:
    """Expected calls per (slice customer, UTC hour) before day-to-day noise."""
    sc = world.scenarios[si]
    pop = world.pop
    base = pop.calls_per_day[ctx.cust][:, None] * world.profile(sc.profile)[pop.tz[ctx.cust]]
    return base * sc.weekday(ctx) * sc.rate(ctx)


@dataclass
class Draft:
    """One task's calls after the scenario's say: who calls when, with which model and feature."""

    t_ms: np.ndarray
    cust: np.ndarray
    model: np.ndarray
    feature: np.ndarray
    task: np.ndarray
    cache_boost: np.ndarray
    trace_no: np.ndarray  # 0.. within the task
    session_no: np.ndarray
    scenario: np.ndarray
    traces: int
    sessions: int


def draft_task(world: World, si: int, day: int) -> Draft:
    """The calls of scenario ``si`` on run day ``day`` (sorted by customer, then time)."""
    sc = world.scenarios[si]
    ctx = day_context(world, si, day)
    rng = ctx.rng
    tm = world.traffic
    mt = world.models
    pop = world.pop
    k = len(ctx.cust)

    lam = expected_rates(world, ctx, si) * rng.gamma(6.0, 1 / 6.0, (k, 1))  # customer-day noise
    counts = rng.poisson(np.broadcast_to(lam, (k, 24)))
    cell = np.repeat(np.arange(k * 24), counts.ravel())
    n = len(cell)
    within = rng.integers(0, MS_PER_HOUR, n)
    order = np.argsort(cell.astype(np.int64) * MS_PER_HOUR + within, kind="stable")
    cell, within = cell[order], within[order]
    cust = ctx.cust[cell // 24].astype(np.int32)
    t = ctx.day_start_ms + (cell % 24).astype(np.int64) * MS_PER_HOUR + within

    # traces of 1-5 calls within a customer, close together in time; sessions split on idle gaps
    new_cust = np.ones(n, dtype=bool)
    new_cust[1:] = cust[1:] != cust[:-1]
    ends = np.cumsum(np.searchsorted(world.trace_cum, rng.random(n), side="right") + 1)
    trace_start = new_cust.copy()
    trace_start[ends[ends < n]] = True
    first = np.maximum.accumulate(np.where(trace_start, np.arange(n), 0))
    gap = rng.integers(300, 4000, n)
    gap[trace_start] = 0
    cg = np.cumsum(gap)
    idle = np.ones(n, dtype=bool)
    idle[1:] = (t[1:] - t[:-1]) > tm.session_gap_minutes * 60_000
    session_start = trace_start & (new_cust | idle)
    t = np.minimum(t[first] + cg - cg[first], ctx.day_start_ms + MS_PER_DAY - 1)
    trace_no = np.cumsum(trace_start) - 1
    session_no = np.cumsum(session_start) - 1

    # provider (market share or the organization's preference), model within provider
    u = rng.random((4, n))
    if sc.provider_preference:
        provider = (u[0][:, None] > world.org_provider_cum[pop.org[cust]]).sum(1)
    else:
        provider = np.searchsorted(world.provider_cum, u[0], side="right")
    provider = np.minimum(provider, len(mt.providers) - 1).astype(np.int8)
    cw = world.model_cum[cust, provider]  # (calls, models of the provider), premium tilt included
    slot = (u[1][:, None] > cw).sum(1)
    model = world.model_slots[provider, np.minimum(slot, world.model_count[provider] - 1)]

    # feature from the customer's product, task type from the feature
    prod = pop.product[cust]
    nfeat = pop.product_feature_count[prod]
    feature = pop.product_features[prod, np.minimum((u[2] * nfeat).astype(np.int64), nfeat - 1)]
    task = (u[3][:, None] > world.feature_task_cum[feature]).sum(1).astype(np.int8)

    calls = Calls(t, cust, provider, model, feature, task, np.ones(n, dtype=bool), np.zeros(n))
    sc.adjust(ctx, calls)
    keep = slice(None) if calls.keep.all() else np.flatnonzero(calls.keep)
    return Draft(
        t_ms=calls.t_ms[keep],
        cust=cust[keep],
        model=calls.model[keep].astype(np.int16),
        feature=calls.feature[keep].astype(np.int16),
        task=calls.task[keep],
        cache_boost=calls.cache_boost[keep],
        trace_no=trace_no[keep],
        session_no=session_no[keep],
        scenario=np.full(n, si, dtype=np.int16)[keep],
        traces=int(trace_no[-1]) + 1 if n else 0,
        sessions=int(session_no[-1]) + 1 if n else 0,
    )


def finish_calls(world: World, draft: Draft, rng: np.random.Generator) -> TaskCalls:
    """Per-call attributes for one task's drafted calls, drawn in one vectorized pass.

    Tokens by task type (lognormal), cached and reasoning tokens, outcome, latency, environment,
    client and ids.
    """
    tm = world.traffic
    mt = world.models
    pop = world.pop
    d = draft
    t, cust, model, task = d.t_ms, d.cust, d.model, d.task
    trace_no, session_no = d.trace_no, d.session_no
    n = len(t)

    z = rng.standard_normal((2, n))
    size = pop.token_scale[cust]
    inp = np.maximum(1, np.rint(size * world.task_in[task] * np.exp(tm.token_sigma * z[0]))).astype(np.int64)
    inp = np.minimum(inp, mt.max_input[model])
    out = np.maximum(1, np.rint(size * world.task_out[task] * np.exp(tm.token_sigma * z[1]))).astype(np.int64)
    v = rng.random((11, n))
    hit = mt.cacheable[model] & (v[0] < tm.cached_share + d.cache_boost)
    cached = np.where(hit, np.floor(inp * (0.3 + 0.65 * v[1])), 0).astype(np.int64)
    thinks = mt.reasoning[model] & (v[2] < tm.reasoning_share)
    reasoning = np.where(thinks, np.floor(out * (0.1 + 0.5 * v[3])), 0).astype(np.int64)
    stop = np.searchsorted(world.stop_cum, v[4], side="right").astype(np.int8)
    failed = world.error_stops[stop]
    out[failed] = 0
    reasoning[failed] = 0
    lat = tm.ms_per_token * (inp + out) * mt.speed[model] * (1 + tm.latency_noise * (2 * v[5] - 1)) + 40
    tail = v[6] < tm.tail_share
    lat[tail] *= 2 + rng.pareto(1.5, int(tail.sum()))
    si_err, si_to, si_ca = (world.stop_index.get(s, -1) for s in ("ERROR", "TIMEOUT", "CANCELLED"))
    lat = np.where(stop == si_err, 50 + 1500 * v[7], lat)
    lat = np.where(stop == si_to, tm.timeout_ms[0] + (tm.timeout_ms[1] - tm.timeout_ms[0]) * v[7], lat)
    lat = np.where(stop == si_ca, lat * (0.1 + 0.5 * v[7]), lat)
    env = np.searchsorted(world.env_cum, v[8], side="right").astype(np.int8)
    ua = np.where(v[9] < 0.85, pop.user_agent[cust], np.searchsorted(world.ua_cum, v[10], side="right"))

    ids = text.random_u64(rng, 2 * n)
    trace_ids = text.random_u64(rng, 2 * d.traces).reshape(-1, 2)
    session_ids = text.random_u64(rng, d.sessions)
    return TaskCalls(
        t_ms=t,
        cust=cust,
        provider=mt.model_provider[model],
        model=model,
        feature=d.feature,
        task=task,
        input=inp,
        output=out,
        cached=cached,
        reasoning=reasoning,
        latency=np.rint(lat).astype(np.int64),
        stop=stop,
        env=env,
        ua=ua.astype(np.int8),
        call_id=ids[:n],
        request_id=ids[n:],
        trace_hi=trace_ids[trace_no, 0],
        trace_lo=trace_ids[trace_no, 1],
        session_id=session_ids[session_no],
        scenario=d.scenario,
    )


def synthesize_task(world: World, si: int, day: int) -> TaskCalls:
    """Every call of scenario ``si`` on run day ``day`` with all attributes, in time order."""
    sc = world.scenarios[si]
    rng = np.random.default_rng(task_seed(world.seed, sc.name, day, CALLS_STREAM))
    calls = finish_calls(world, draft_task(world, si, day), rng)
    return calls.take(np.argsort(calls.t_ms, kind="stable"))


def price(world: World, calls: TaskCalls) -> np.ndarray:
    """Cost per call from the catalog, at each call's time (``Catalog.price_keys``: no pandas)."""
    return world.catalog.price_keys(
        world.model_keys,
        calls.model,
        calls.input,
        calls.output,
        calls.cached,
        calls.reasoning,
        timestamp=calls.t_ms.astype("datetime64[ms]"),
    )


def synthesize_block(world: World, si: int, first_day: int, stop_day: int) -> Shard:
    """Scenario ``si`` over run days ``[first_day, stop_day)``: priced, formatted once, in time order."""
    calls = TaskCalls.concat([synthesize_task(world, si, d) for d in range(first_day, stop_day)])
    cost = price(world, calls)
    csv = format_calls(world, calls, cost)
    return Shard(
        csv,
        calls.t_ms,
        cost,
        calls.input + calls.output,
        calls.cust,
        calls.model,
        calls.scenario,
        line_ends(csv),
    )


def synthesize_days(world: World, first_day: int, stop_day: int) -> Shard:
    """Every scenario's calls over run days ``[first_day, stop_day)`` merged in time order: the rows a
    run appends for those days (``generate`` cuts them at its target)."""
    return merge([synthesize_block(world, si, first_day, stop_day) for si in range(len(world.scenarios))])


#: the columns ``format_calls`` lays out itself, in canonical order (then the per-scenario tail)
_LAID_OUT = (
    "timestamp", "call_id", "provider", "model", "input_tokens", "output_tokens", "cost_usd", "latency_ms",
    "customer_id", "subscription_tier", "organization_id", "product_id", "feature_id", "task_type",
    "environment", "request_id", "trace_id", "session_id", "user_agent", "region", "stop_reason",
    "cached_tokens", "reasoning_tokens",
)  # fmt: skip
assert COLUMN_NAMES[: len(_LAID_OUT)] == _LAID_OUT


def format_calls(world: World, c: TaskCalls, cost: np.ndarray) -> bytes:
    """The calls' canonical CSV lines (no header): the store's text, laid out by ``metering.csvtext``
    from the world's text tables (one gather per run of columns, no CSV writer)."""
    n = len(c)
    if not n:
        return b""
    tables = world.text_tables
    if tables is None:  # a name needs quoting: the store's formatter
        return format_calls_arrow(world, c, cost)
    comma = b","
    fields = [
        text.timestamp_matrix(c.t_ms), comma,
        text.join(b"call_", text.hex_matrix(c.call_id)), comma,
        tables["model"][c.model],
        csvtext.integers(c.input), comma,
        csvtext.integers(c.output), comma,
        csvtext.costs(cost), comma,
        csvtext.integers(c.latency), comma,
        tables["customer"][c.cust],
        tables["feature"][c.feature],
        tables["task"][c.task],
        tables["environment"][c.env],
        text.join(b"req_", text.hex_matrix(c.request_id)), comma,
        text.trace_matrix(c.trace_hi, c.trace_lo), comma,
        text.join(b"sess_", text.hex_matrix(c.session_id)), comma,
        tables["user_agent"][c.ua],
        tables["region"][c.cust],
        tables["stop_reason"][c.stop],
        csvtext.integers(c.cached), comma,
        csvtext.integers(c.reasoning), comma,
        tables["tail"][c.scenario],
    ]  # fmt: skip
    return csvtext.rows(fields)


def format_calls_arrow(world: World, c: TaskCalls, cost: np.ndarray) -> bytes:
    """The calls' canonical CSV lines (no header), via the store's formatter (Arrow's CSV writer)."""
    if not len(c):
        return b""
    pop = world.pop
    cat = world.categorical
    columns = {
        "timestamp": text.timestamps(c.t_ms),
        "call_id": text.hex_ids(b"call_", c.call_id),
        "provider": cat("provider", c.provider),
        "model": cat("model", c.model),
        "input_tokens": c.input,
        "output_tokens": c.output,
        "cost_usd": cost,
        "latency_ms": c.latency,
        "customer_id": cat("customer_id", c.cust),
        "subscription_tier": cat("subscription_tier", pop.tier[c.cust]),
        "organization_id": cat("organization_id", pop.org[c.cust]),
        "product_id": cat("product_id", pop.product[c.cust]),
        "feature_id": cat("feature_id", c.feature),
        "task_type": cat("task_type", c.task),
        "environment": cat("environment", c.env),
        "request_id": text.hex_ids(b"req_", c.request_id),
        "trace_id": text.to_arrow(
            text.hex_matrix(np.stack([c.trace_hi, c.trace_lo], 1).ravel()).reshape(-1, 32)
        ),
        "session_id": text.hex_ids(b"sess_", c.session_id),
        "user_agent": cat("user_agent", c.ua),
        "region": cat("region", pop.region[c.cust]),
        "stop_reason": cat("stop_reason", c.stop),
        "cached_tokens": c.cached,
        "reasoning_tokens": c.reasoning,
        "scenario": cat("scenario", c.scenario),
        "source": cat("source", np.zeros(len(c), dtype=np.int32)),
    }
    return format_csv(columns)
