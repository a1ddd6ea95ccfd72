"""Performance tracking: latency percentiles, throughput, reliability and cost-efficiency per model.

p50/p95/p99 latency and output tokens per second by model and provider; a cost-efficiency score;
SLA compliance against a configurable threshold; error and timeout rates; the best model per task
type by a stated cost/speed/quality rule.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analyzers import cube as cubes
from analyzers.base import AnalysisContext, AnalysisResult, Metric, Recommendation
from analyzers.common import (
    MISSING_KEY,
    MONTHLY_METHOD,
    day_of,
    days_between,
    error_mask,
    fmt_ms,
    fmt_pct,
    fmt_usd,
    group_stats,
    grouped_quantiles,
    key_groups,
    monthly,
    period_days,
)

NAME = "performance"
#: the cube views it reads: the side tables' (latency, tokens/s, time to first token) with the cells per
#: task type x provider x model x stop reason over the whole period, and the failed calls per day
VIEWS: tuple[cubes.View, ...] = (cubes.SIDE_VIEW, cubes.DAYS_VIEW)
TITLE = "Performance tracking"
DESCRIPTION = (
    "Latency percentiles and output tokens per second by model and provider, SLA compliance, error and "
    "timeout rates, a cost-efficiency score and the best model per task type."
)

#: score weights: cost, speed, reliability (configurable via ctx.params["performance"]["weights"])
WEIGHTS = (0.5, 0.3, 0.2)
SLA_TARGET_PCT = 95.0
MIN_CALLS = 10
MIN_SUCCESS_PCT = 95.0


def _work(df: pd.DataFrame, sla_ms: float) -> pd.DataFrame:
    """Per-call columns the tables aggregate (grouping keys stay categorical for speed)."""
    lat = df["latency_ms"].to_numpy(dtype="float64")
    out = df["output_tokens"].to_numpy(dtype="float64")
    err = np.asarray(error_mask(df))
    cost = df["cost_usd"].to_numpy(dtype="float64", na_value=np.nan)
    ok = ~err & (lat > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        tps = np.where(ok, out / (lat / 1000.0), np.nan)
    timeout = (
        (df["stop_reason"] == "TIMEOUT").to_numpy(dtype=bool)
        if "stop_reason" in df
        else np.zeros(len(df), bool)
    )
    priced = ~np.isnan(cost)
    return pd.DataFrame(
        {
            "provider": df["provider"],
            "model": df["model"],
            "task_type": df["task_type"],
            "latency_ms": lat,
            "tokens_per_s": tps,
            "within_sla": (lat <= sla_ms).astype("int64"),
            "error": err.astype("int64"),
            "timeout": timeout.astype("int64"),
            "cost_usd": cost,
            "priced": priced.astype("int64"),
            "priced_tokens": np.where(priced, df["input_tokens"].to_numpy(dtype="float64") + out, 0.0),
        },
        index=df.index,
    )


def _table(w: pd.DataFrame, by: list[str], orders: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Latency, throughput, reliability and cost per group of ``by`` (numpy: one sort per statistic)."""
    gid, t = key_groups(w, by)
    n = len(t)
    t["calls"] = np.bincount(gid, minlength=n).astype("int64")
    lat = w["latency_ms"].to_numpy()
    orders = orders if orders is not None else _orders(w)
    q = grouped_quantiles(gid, lat, n, (0.5, 0.95, 0.99), orders["latency_ms"])
    t["p50_ms"], t["p95_ms"], t["p99_ms"] = q[:, 0], q[:, 1], q[:, 2]
    t["mean_ms"] = np.bincount(gid, weights=lat, minlength=n) / np.maximum(t["calls"].to_numpy(), 1)
    tps = w["tokens_per_s"].to_numpy()
    ok = ~np.isnan(tps)
    t["tokens_per_s_p50"] = grouped_quantiles(gid, tps, n, (0.5,), orders["tokens_per_s"])[:, 0]
    cnt = np.bincount(gid[ok], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        t["tokens_per_s_mean"] = np.where(
            cnt > 0, np.bincount(gid[ok], weights=tps[ok], minlength=n) / cnt, np.nan
        )
    for col, name in (
        ("within_sla", "within_sla"),
        ("error", "errors"),
        ("timeout", "timeouts"),
        ("priced", "priced"),
    ):
        t[name] = np.bincount(gid, weights=w[col].to_numpy(), minlength=n).round().astype("int64")
    t["cost_usd"] = np.bincount(gid, weights=np.nan_to_num(w["cost_usd"].to_numpy()), minlength=n)
    t["priced_tokens"] = np.bincount(gid, weights=w["priced_tokens"].to_numpy(), minlength=n)
    return _derive(t, by)


TABLE_SUMS = ("calls", "within_sla", "errors", "timeouts", "priced", "cost_usd", "priced_tokens")


def _derive(t: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Rows sorted by ``by`` and the rates of a table of ``_table``'s sums."""
    t = t.sort_values(by, kind="stable").reset_index(drop=True)
    calls = t["calls"].to_numpy(dtype="float64")
    t["sla_compliance_pct"] = t["within_sla"] / calls * 100
    t["error_rate_pct"] = t["errors"] / calls * 100
    t["timeout_rate_pct"] = t["timeouts"] / calls * 100
    t["success_rate_pct"] = 100.0 - t["error_rate_pct"]
    priced = t["priced"].to_numpy(dtype="float64")
    pt = t["priced_tokens"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        t["cost_per_call_usd"] = np.where(priced > 0, t["cost_usd"] / np.maximum(priced, 1), np.nan)
        t["cost_per_1k_tokens_usd"] = np.where(pt > 0, t["cost_usd"] / np.where(pt > 0, pt, 1) * 1000, np.nan)
    return t


def _orders(w: pd.DataFrame) -> dict[str, np.ndarray]:
    """Sort orders of the per-call values, shared by every grouping of the same calls."""
    return {c: np.argsort(w[c].to_numpy(), kind="stable") for c in ("latency_ms", "tokens_per_s")}


def efficiency_score(t: pd.DataFrame, weights: tuple[float, float, float] = WEIGHTS) -> np.ndarray:
    """0-100: 100 x (wc x cheapest/own cost per 1K + ws x fastest/own p95 + wr x success rate).

    Relative to the rows of ``t`` (the best value in each dimension scores 1); unpriced rows score
    their cost part as 0.
    """
    wc, ws, wr = weights
    c = t["cost_per_1k_tokens_usd"].to_numpy(dtype="float64")
    p = t["p95_ms"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        cmin = np.nanmin(c[c > 0]) if np.any(c > 0) else np.nan
        cost_part = np.where(c > 0, cmin / c, np.where(c == 0, 1.0, 0.0))
        pmin = np.nanmin(p[p > 0]) if np.any(p > 0) else np.nan
        speed_part = np.where(p > 0, pmin / p, 1.0)
    cost_part = np.nan_to_num(cost_part, nan=0.0)
    speed_part = np.nan_to_num(speed_part, nan=0.0)
    rel = t["success_rate_pct"].to_numpy(dtype="float64") / 100.0
    return 100.0 * (wc * cost_part + ws * speed_part + wr * rel) / (wc + ws + wr)


TTFT_COLUMNS = ["provider", "model", "streamed_calls", "ttft_p50_ms", "ttft_p95_ms", "ttft_mean_ms"]


def ttft_by_model(df: pd.DataFrame) -> pd.DataFrame:
    """Time to first token of streamed calls per provider and model: calls, p50, p95, mean (ms)."""
    cols = TTFT_COLUMNS
    streamed = df["time_to_first_token_ms"].notna() & (df["is_streamed"].astype(str) == "true")
    if not streamed.any():
        return pd.DataFrame(columns=cols)
    d = pd.DataFrame(
        {
            "provider": df.loc[streamed, "provider"].astype(str),
            "model": df.loc[streamed, "model"].astype(str),
            "ttft": df.loc[streamed, "time_to_first_token_ms"].astype("float64"),
        }
    )
    g = d.groupby(["provider", "model"], sort=True)["ttft"]
    out = pd.DataFrame(
        {
            "streamed_calls": g.size(),
            "ttft_p50_ms": g.quantile(0.5),
            "ttft_p95_ms": g.quantile(0.95),
            "ttft_mean_ms": g.mean(),
        }
    ).reset_index()
    return out[cols].sort_values("ttft_p50_ms", ignore_index=True, kind="stable")


class _Rows:
    """What the result reads, from the call rows (exact)."""

    def __init__(self, df: pd.DataFrame, sla: float) -> None:
        self.df = df
        self.w = _work(df, sla)
        self.orders = _orders(self.w)

    def overall(self) -> dict[str, float | int | None]:
        w, n = self.w, len(self.w)
        lat = w["latency_ms"].to_numpy()
        tps = w["tokens_per_s"].dropna()

        def q(v: float) -> float | None:
            return float(np.quantile(lat, v)) if n else None

        return {
            "calls": n,
            "p50_ms": q(0.5),
            "p95_ms": q(0.95),
            "p99_ms": q(0.99),
            "mean_ms": float(lat.mean()) if n else None,
            "tokens_per_s_p50": float(tps.median()) if len(tps) else None,
            "within_sla": int(w["within_sla"].sum()),
            "errors": int(w["error"].sum()),
            "timeouts": int(w["timeout"].sum()),
        }

    def table(self, by: list[str]) -> pd.DataFrame:
        return _table(self.w, by, self.orders)

    def daily(self) -> pd.DataFrame:
        return _daily(self.df, self.w)

    def stop_reasons(self) -> pd.DataFrame:
        return _stop_reasons(self.df)

    def ttft(self) -> tuple[pd.DataFrame, float | None, int]:
        df = self.df
        streamed = df["time_to_first_token_ms"].notna() & (df["is_streamed"].astype(str) == "true")
        ttft = df.loc[streamed, "time_to_first_token_ms"].to_numpy(dtype="float64")
        return ttft_by_model(df), float(np.median(ttft)) if len(ttft) else None, int(streamed.sum())

    def days(self) -> float:
        return period_days(self.df)


def analyze(df: pd.DataFrame, ctx: AnalysisContext) -> AnalysisResult:
    return _analyze(_Rows(df, float(ctx.sla_ms)), ctx)


def analyze_cube(src: cubes.Cube | cubes.Views, ctx: AnalysisContext) -> AnalysisResult:
    """The same result from a usage cube (or its ``VIEWS``): counts and sums exact, latency, tokens/s and
    time-to-first-token percentiles from the cube's sketches (within ``cubes.SKETCH_ACCURACY``), SLA
    compliance from the latency sketch's bucket counts (the bound in ``methods``)."""
    c = cubes.view(src, cubes.SIDE_VIEW.dims, cubes.SIDE_VIEW.sides)
    if not len(c):
        from metering.store import empty_frame

        return analyze(empty_frame(), ctx)
    cells = _Cells(c, float(ctx.sla_ms), cubes.view(src, (), daily=True))
    res = _analyze(cells, ctx)
    acc = f"{cubes.SKETCH_ACCURACY:.0%}"
    res.methods["latency"] = (
        f"p50/p95/p99 from a log-bucket sketch, within {acc} relative error of the exact value (percentiles "
        "over all calls, failed ones included, linear interpolation; " + cubes.SKETCH_METHOD + "); mean = "
        "latency sum / calls, exact"
    )
    res.methods["throughput"] += (
        f"; the median from a log-bucket sketch of the per-call values, within {acc} relative error; the "
        "mean = sum / count, exact"
    )
    res.methods["sla"] += (
        f"; from the latency sketch's bucket counts: a bucket counts as within the SLA when the value it "
        f"stands for is <= the SLA, exact for every bucket but the one holding the SLA (latencies within "
        f"{2 * cubes.SKETCH_ACCURACY:.0%} of it), so a compliance share is off by at most that bucket's "
        f"share of the calls: {cells.sla_bound_pct:.2f} percentage points over all calls here"
    )
    res.methods["ttft"] += f"; p50/p95 from a log-bucket sketch, within {acc} relative error; mean exact"
    return res


class _Cells:
    """What the result reads, from a usage cube (any grain): sums from the cells, distributions from the
    side tables (``cubes.SIDES``)."""

    def __init__(self, c: cubes.Cube, sla: float, day: cubes.Cube | None = None) -> None:
        self.c = c
        self.day = c if day is None else day  # a day-grain cube: the failed calls per day
        cols = dict(c.cols)
        timeout = c.label_array("stop_reason") == "TIMEOUT"
        cols["timeouts"] = np.where(timeout[cols["stop_reason"]], cols["calls"], 0)
        cols["priced"] = cols["calls"] - cols["unpriced_calls"]
        cols["errors"] = cols["error_calls"]
        self.cols = cols
        lat = c.sides["latency"]
        within = cubes.bucket_values(lat["bucket"]) <= sla
        self.lat = {**lat, "within_sla": np.where(within, lat["count"], 0)}
        edge = lat["bucket"] == cubes.latency_buckets(np.array([sla]))[0]
        self.sla_bound_pct = float(lat["count"][edge].sum() / max(c.calls, 1) * 100)
        self.tps = c.sides["tps"]

    def _sums(self, rows: dict[str, np.ndarray], by: list[str], sums: list[str]) -> pd.DataFrame:
        g = cubes.regroup_cols(rows, by, sums)
        return pd.DataFrame({**{b: self.c.decode(b, g[b]) for b in by}, **{k: g[k] for k in sums}})

    def overall(self) -> dict[str, float | int | None]:
        c, cols = self.c, self.cols
        n = c.calls
        q = cubes.side_quantiles(c, self.lat, [], (0.5, 0.95, 0.99)).iloc[0]
        tps = cubes.side_quantiles(c, self.tps, [], (0.5,))
        return {
            "calls": n,
            "p50_ms": float(q["q0.5"]),
            "p95_ms": float(q["q0.95"]),
            "p99_ms": float(q["q0.99"]),
            "mean_ms": float(cols["latency_ms_sum"].sum() / n),
            "tokens_per_s_p50": float(tps["q0.5"].iloc[0]) if len(tps) else None,
            "within_sla": int(self.lat["within_sla"].sum()),
            "errors": int(cols["errors"].sum()),
            "timeouts": int(cols["timeouts"].sum()),
        }

    def table(self, by: list[str]) -> pd.DataFrame:
        c = self.c
        t = self._sums(self.cols, by, ["calls", "latency_ms_sum", *TABLE_SUMS[2:]])
        q = cubes.side_quantiles(c, self.lat, by, (0.5, 0.95, 0.99)).drop(columns="calls")
        q.columns = [*by, "p50_ms", "p95_ms", "p99_ms"]
        t = t.merge(q, on=by, how="left").merge(self._sums(self.lat, by, ["within_sla"]), on=by, how="left")
        t["mean_ms"] = t["latency_ms_sum"] / np.maximum(t["calls"].to_numpy(), 1)
        tq = cubes.side_quantiles(c, self.tps, by, (0.5,)).drop(columns="calls")
        tq.columns = [*by, "tokens_per_s_p50"]
        ts = self._sums(self.tps, by, ["count", "sum"])
        ts["tokens_per_s_mean"] = ts["sum"] / ts["count"]
        t = t.merge(tq, on=by, how="left").merge(ts[[*by, "tokens_per_s_mean"]], on=by, how="left")
        for k in ("calls", *TABLE_SUMS[1:5]):
            t[k] = t[k].fillna(0).astype("int64")
        t["cost_usd"] = t["cost_usd"].astype("float64")
        t["priced_tokens"] = t["priced_tokens"].astype("float64")
        cols = [
            *by,
            "calls",
            "p50_ms",
            "p95_ms",
            "p99_ms",
            "mean_ms",
            "tokens_per_s_p50",
            "tokens_per_s_mean",
        ]
        return _derive(t[cols + list(TABLE_SUMS[1:])], by)

    def daily(self) -> pd.DataFrame:
        c = self.c
        q = cubes.side_quantiles(c, c.sides["latency_day"], ["day"], (0.5, 0.95, 0.99))
        q.columns = ["day", "calls", "p50_ms", "p95_ms", "p99_ms"]
        e = cubes.regroup_cols(
            {"day": cubes.days(self.day), "error_calls": self.day.cols["error_calls"]},
            ["day"],
            ["error_calls"],
        )
        errors = pd.Series(e["error_calls"], index=e["day"])
        t = q.sort_values("day", kind="stable").reset_index(drop=True)
        t["error_rate_pct"] = errors.reindex(t["day"]).to_numpy() / t["calls"].to_numpy(dtype="float64") * 100
        t.insert(0, "date", pd.to_datetime(t["day"].to_numpy() * cubes.DAY_MS, unit="ms", utc=True))
        return t.drop(columns="day")

    def stop_reasons(self) -> pd.DataFrame:
        from metering.schema import ERROR_STOP_REASONS

        t = self._sums(self.cols, ["stop_reason"], ["calls"])
        t = t.sort_values("calls", ascending=False, kind="stable").reset_index(drop=True)
        t["stop_reason"] = t["stop_reason"].astype("object")
        t["share_pct"] = t["calls"] / self.c.calls * 100
        t["is_error"] = t["stop_reason"].isin(ERROR_STOP_REASONS)
        return t

    def ttft(self) -> tuple[pd.DataFrame, float | None, int]:
        c, tt = self.c, self.c.sides["ttft"]
        n = int(tt["count"].sum())
        if not n:
            return pd.DataFrame(columns=TTFT_COLUMNS), None, 0
        by = ["provider", "model"]
        q = cubes.side_quantiles(c, tt, by, (0.5, 0.95))
        q.columns = [*by, "streamed_calls", "ttft_p50_ms", "ttft_p95_ms"]
        sums = self._sums(tt, by, ["count", "sum"])
        sums["ttft_mean_ms"] = sums["sum"] / sums["count"]
        t = q.merge(sums[[*by, "ttft_mean_ms"]], on=by).sort_values(by, kind="stable")
        t = t[TTFT_COLUMNS].sort_values("ttft_p50_ms", ignore_index=True, kind="stable")
        return t, float(cubes.side_quantiles(c, tt, [], (0.5,))["q0.5"].iloc[0]), n

    def days(self) -> float:
        c = self.c
        first = pd.Timestamp(int(c.cols["first_ms"].min()), unit="ms", tz="UTC")
        last = pd.Timestamp(int(c.cols["last_ms"].max()), unit="ms", tz="UTC")
        return days_between(first, last)


def _analyze(src: _Rows | _Cells, ctx: AnalysisContext) -> AnalysisResult:
    res = AnalysisResult(NAME, TITLE)
    p = ctx.params.get(NAME, {})
    weights = tuple(p.get("weights", WEIGHTS))
    sla_target = float(p.get("sla_target_pct", SLA_TARGET_PCT))
    min_calls = int(p.get("min_calls", MIN_CALLS))
    min_success = float(p.get("min_success_pct", MIN_SUCCESS_PCT))
    sla = float(ctx.sla_ms)
    o = src.overall()
    n = int(o["calls"] or 0)
    m = res.metrics

    m["calls"] = Metric(n, "calls", "Calls", "number of rows")
    m["p50_ms"] = Metric(o["p50_ms"], "ms", "Median latency", "50th percentile of latency_ms, all calls")
    m["p95_ms"] = Metric(o["p95_ms"], "ms", "p95 latency", "95th percentile of latency_ms, all calls")
    m["p99_ms"] = Metric(o["p99_ms"], "ms", "p99 latency", "99th percentile of latency_ms, all calls")
    m["mean_ms"] = Metric(o["mean_ms"], "ms", "Mean latency", "mean latency_ms")
    m["tokens_per_s_p50"] = Metric(
        o["tokens_per_s_p50"],
        "tokens/s",
        "Median output tokens/s",
        "median of output_tokens / (latency_ms / 1000) over successful calls with latency > 0",
    )
    m["sla_ms"] = Metric(sla, "ms", "SLA threshold", "AnalysisContext.sla_ms")

    def share(k: str) -> float | None:
        return float(o[k] / n * 100) if n else None

    m["sla_compliance_pct"] = Metric(
        share("within_sla"), "%", "SLA compliance", "calls with latency_ms <= SLA / calls x 100"
    )
    m["error_rate_pct"] = Metric(
        share("errors"),
        "%",
        "Error rate",
        "calls with stop_reason in TIMEOUT, ERROR, CANCELLED / calls x 100",
    )
    m["timeout_rate_pct"] = Metric(
        share("timeouts"), "%", "Timeout rate", "calls with stop_reason TIMEOUT / calls x 100"
    )
    m["error_calls"] = Metric(
        int(o["errors"] or 0), "calls", "Failed calls", "stop_reason in ERROR_STOP_REASONS"
    )

    res.methods["latency"] = (
        "percentiles over all calls (failed ones included: users waited for them), linear interpolation"
    )
    res.methods["throughput"] = (
        "output tokens/s = output_tokens / (latency_ms / 1000), successful calls with latency > 0"
    )
    res.methods["sla"] = (
        f"SLA compliance = share of calls with latency_ms <= {sla:g} ms; target {sla_target:g} %"
    )
    res.methods["efficiency_score"] = (
        f"score = 100 x ({weights[0]} x cheapest cost per 1K / own + {weights[1]} x fastest p95 / own + "
        f"{weights[2]} x success rate) / {sum(weights):g}; relative to the rows of the same table"
    )
    res.methods["best_model"] = (
        f"per task type, among models with >= {min_calls} calls and success rate >= {min_success:g} %, the highest "
        "efficiency score computed within the task type (cost per 1K tokens, p95 latency, success rate as the "
        "quality proxy); when none qualifies, the highest score among all models of the task"
    )
    res.methods["monthly"] = MONTHLY_METHOD

    by_model = src.table(["provider", "model"])
    by_model["efficiency_score"] = efficiency_score(by_model, weights) if len(by_model) else []
    by_model["meets_sla_target"] = by_model["sla_compliance_pct"] >= sla_target
    res.tables["latency_by_model"] = by_model.sort_values("p95_ms", ignore_index=True, kind="stable")
    by_prov = src.table(["provider"])
    by_prov["efficiency_score"] = efficiency_score(by_prov, weights) if len(by_prov) else []
    res.tables["latency_by_provider"] = by_prov.sort_values("p95_ms", ignore_index=True, kind="stable")
    res.tables["sla_by_model"] = by_model[
        ["provider", "model", "calls", "p95_ms", "sla_compliance_pct", "meets_sla_target"]
    ].sort_values("sla_compliance_pct", ignore_index=True, kind="stable")
    res.tables["efficiency_ranking"] = by_model[
        [
            "provider",
            "model",
            "calls",
            "cost_per_1k_tokens_usd",
            "p95_ms",
            "success_rate_pct",
            "efficiency_score",
        ]
    ].sort_values("efficiency_score", ascending=False, ignore_index=True, kind="stable")
    res.tables["errors_by_stop_reason"] = src.stop_reasons()
    ttft_table, ttft_p50, streamed = src.ttft()
    res.tables["ttft_by_model"] = ttft_table
    m["ttft_p50_ms"] = Metric(
        ttft_p50,
        "ms",
        "Median time to first token (streamed)",
        "median of time_to_first_token_ms over streamed calls that reported it (is_streamed = true)",
    )
    m["streamed_calls"] = Metric(streamed, "calls", "Streamed calls with a time to first token")
    res.methods["ttft"] = (
        "time to first token as the client reported it (SDK timeToFirstToken), streamed calls only; "
        "p50/p95 per provider and model with linear interpolation; calls that did not report it are left out"
    )
    res.tables["daily_latency"] = src.daily()
    by_task = src.table(["task_type", "provider", "model"])
    res.tables["best_model_by_task"] = _best_per_task(by_task, weights, min_calls, min_success)
    if len(by_model):
        best = res.tables["efficiency_ranking"].iloc[0]
        m["best_overall_model"] = Metric(
            str(best["model"]), "model", "Most efficient model", res.methods["efficiency_score"]
        )
    res.recommendations = _recommendations(res, by_task, src.days(), sla_target)
    return res


def _best_per_task(by_task: pd.DataFrame, weights: tuple, min_calls: int, min_success: float) -> pd.DataFrame:
    cols = [
        "task_type",
        "best_provider",
        "best_model",
        "calls",
        "cost_per_call_usd",
        "cost_per_1k_tokens_usd",
        "p95_ms",
        "success_rate_pct",
        "efficiency_score",
        "qualified",
        "most_used_model",
        "most_used_cost_per_call_usd",
        "task_calls",
    ]
    rows = []
    for task, g in by_task.groupby("task_type", sort=True):
        g = g.copy()
        g["efficiency_score"] = efficiency_score(g, weights)
        ok = g[(g["calls"] >= min_calls) & (g["success_rate_pct"] >= min_success)]
        pool = ok if len(ok) else g
        best = pool.sort_values(["efficiency_score", "calls"], ascending=False, kind="stable").iloc[0]
        used = g.sort_values("calls", ascending=False, kind="stable").iloc[0]
        rows.append(
            [
                task,
                best["provider"],
                best["model"],
                int(best["calls"]),
                best["cost_per_call_usd"],
                best["cost_per_1k_tokens_usd"],
                best["p95_ms"],
                best["success_rate_pct"],
                best["efficiency_score"],
                bool(len(ok)),
                used["model"],
                used["cost_per_call_usd"],
                int(g["calls"].sum()),
            ]
        )
    return pd.DataFrame(rows, columns=cols)


def _stop_reasons(df: pd.DataFrame) -> pd.DataFrame:
    if "stop_reason" not in df or df.empty:
        return pd.DataFrame(columns=["stop_reason", "calls", "share_pct", "is_error"])
    from metering.schema import ERROR_STOP_REASONS

    vc = df["stop_reason"].astype("object").fillna(MISSING_KEY).value_counts()
    out = vc.rename_axis("stop_reason").reset_index(name="calls")
    out["share_pct"] = out["calls"] / len(df) * 100
    out["is_error"] = out["stop_reason"].isin(ERROR_STOP_REASONS)
    return out


def _daily(df: pd.DataFrame, w: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return pd.DataFrame(columns=["date", "calls", "p50_ms", "p95_ms", "p99_ms", "error_rate_pct"])
    d = pd.DataFrame({"date": day_of(df["timestamp"]), "latency_ms": w["latency_ms"], "error": w["error"]})
    t = group_stats(d, "date", ["latency_ms"], ("count", "p50", "p95", "p99"))
    t.columns = ["date", "calls", "p50_ms", "p95_ms", "p99_ms"]
    t["error_rate_pct"] = d.groupby("date", sort=True)["error"].mean().to_numpy() * 100
    return t


def _recommendations(
    res: AnalysisResult, by_task: pd.DataFrame, days: float, sla_target: float
) -> list[Recommendation]:
    recs: list[Recommendation] = []
    if not days:
        return recs
    best = res.tables["best_model_by_task"]
    for _, row in best.iterrows():
        if row["most_used_model"] == row["best_model"]:
            continue
        used = by_task[
            (by_task["task_type"] == row["task_type"]) & (by_task["model"] == row["most_used_model"])
        ]
        if used.empty:
            continue
        calls = int(used["calls"].sum())
        delta = float(row["most_used_cost_per_call_usd"] or 0) - float(row["cost_per_call_usd"] or 0)
        if not np.isfinite(delta) or delta <= 0:
            continue
        saving = monthly(delta * calls, days)
        recs.append(
            Recommendation(
                f"{row['task_type']}: try {row['best_model']} instead of {row['most_used_model']}",
                f"For {row['task_type']}, {row['best_model']} scores best on cost, speed and reliability "
                f"({fmt_usd(row['cost_per_call_usd'])}/call, p95 {fmt_ms(row['p95_ms'])}, "
                f"{fmt_pct(row['success_rate_pct'])} success). Moving the {calls:,} calls now on "
                f"{row['most_used_model']} saves (cost per call difference x calls, per month) this much; check "
                "output quality on a sample first.",
                saving,
                "high" if saving > 100 else "medium",
                "model choice",
            )
        )
    lm = res.tables["latency_by_model"]
    slow = lm[(~lm["meets_sla_target"]) & (lm["calls"] >= MIN_CALLS)]
    for _, row in slow.sort_values("calls", ascending=False).head(3).iterrows():
        breach_cost = float(row["cost_usd"]) * (1 - row["sla_compliance_pct"] / 100)
        recs.append(
            Recommendation(
                f"{row['model']} misses the SLA",
                f"Only {fmt_pct(row['sla_compliance_pct'])} of {row['model']} calls finish within the SLA "
                f"(target {sla_target:g} %; p95 {fmt_ms(row['p95_ms'])}). Stream responses, cap output tokens or "
                "route latency-sensitive traffic elsewhere. The figure is the monthly spend on calls over the SLA.",
                monthly(breach_cost, days),
                "medium",
                "latency",
            )
        )
    flaky = lm[(lm["error_rate_pct"] > 5) & (lm["calls"] >= MIN_CALLS)]
    for _, row in flaky.iterrows():
        wasted = float(row["cost_usd"]) * row["error_rate_pct"] / 100
        recs.append(
            Recommendation(
                f"{row['model']} fails {row['error_rate_pct']:.1f}% of calls",
                f"Timeouts and errors on {row['model']} waste spend and user time; add retries with fallback "
                "to another provider. The figure is its spend pro-rated by the error rate, per month.",
                monthly(wasted, days),
                "high",
                "reliability",
            )
        )
    return sorted(recs, key=lambda r: -r.monthly_impact_usd)
