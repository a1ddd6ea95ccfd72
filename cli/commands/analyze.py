"""``revenium-flow analyze [--data PATH] [--out DIR]``: run the eight analyzers, write JSON.

Writes ``summary.json`` and one ``<analyzer>.json`` per analyzer (layout: ``analyzers.export``; every
key is documented in ``specs/analyzers.md``). Exit 0 = written, 2 = the data or a catalog cannot be
read, or the data holds no valid row. ``load_inputs`` and ``run_analyzers`` are shared with the ``report`` command.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path("analysis")


def add_shared_options(p: argparse.ArgumentParser) -> None:
    """--data, --prices, --tiers, --sla-ms, --sensitivity, --only (used by analyze and report)."""
    from cli.commands.common import (
        add_budgets_option,
        add_catalog_options,
        add_data_option,
        add_subscriptions_option,
    )

    add_data_option(p)
    add_catalog_options(p)
    add_subscriptions_option(p)
    add_budgets_option(p)
    p.add_argument("--sla-ms", type=float, default=3000.0, help="latency SLA threshold in ms (default 3000)")
    p.add_argument(
        "--sensitivity",
        choices=("low", "medium", "high"),
        default="medium",
        help="anomaly sensitivity: low 3 sigma, medium 2 sigma, high 1.5 sigma (default medium)",
    )
    p.add_argument(
        "--only", action="append", default=None, metavar="NAME", help="run only this analyzer (repeatable)"
    )


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("analyze", help="run the eight analyzers and write JSON results")
    add_shared_options(p)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    p.set_defaults(func=run)


class InputError(Exception):
    """The data file or a catalog cannot be used; the message says which and why."""


def load_inputs(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """(typed call frame, AnalysisContext, ReadResult) from the parsed options."""
    from analyzers.base import AnalysisContext
    from cli.commands.common import data_path, load_budgets_option, load_subscriptions_option
    from metering.budgets import BudgetError
    from metering.prices import CatalogError, load_catalog
    from metering.store import StoreError, read_calls_report
    from metering.subscriptions import SubscriptionError
    from metering.tiers import TierError, load_tiers

    path = data_path(args)
    if not path.exists():
        raise InputError(f"{path}: no such file (generate data with `revenium-flow generate` or pass --data)")
    try:
        report = read_calls_report(path)
    except (StoreError, OSError, ValueError) as exc:
        raise InputError(f"{path}: {exc}") from exc
    if len(report.frame) == 0:
        first = (
            f" (first: line {report.malformed[0][0]}: {report.malformed[0][1]})" if report.malformed else ""
        )
        why = (
            f"all {len(report.malformed):,} data lines are malformed{first}"
            if report.malformed
            else "the file holds no call rows"
        )
        raise InputError(f"{path}: no valid rows to analyze: {why}; check it with `revenium-flow validate`")
    try:
        catalog = load_catalog(getattr(args, "prices", None))
        tiers = load_tiers(getattr(args, "tiers", None))
        subscriptions = load_subscriptions_option(args, tiers)
        budgets = load_budgets_option(args)
    except (CatalogError, TierError, SubscriptionError, BudgetError) as exc:
        raise InputError(str(exc)) from exc
    ctx = AnalysisContext(
        catalog=catalog,
        tiers=tiers,
        subscriptions=subscriptions,
        scope_budgets=budgets,
        sla_ms=float(getattr(args, "sla_ms", 3000.0)),
        sensitivity=getattr(args, "sensitivity", "medium"),
    )
    return report.frame, ctx, report


def run_analyzers(
    df: Any, ctx: Any, only: list[str] | None = None
) -> tuple[dict[str, Any], dict[str, float]]:
    """{name: AnalysisResult} in registry order and the seconds each took."""
    from analyzers import registry

    names = list(registry.ANALYZER_NAMES)
    if only:
        for n in only:
            registry.get(n)  # KeyError naming the valid names
        names = [n for n in names if n in only]
    results: dict[str, Any] = {}
    timings: dict[str, float] = {}
    for name in names:
        t0 = time.perf_counter()
        results[name] = registry.run(name, df, ctx)
        timings[name] = time.perf_counter() - t0
    return results, timings


def summary(
    df: Any, report: Any, path: Path, results: dict[str, Any], timings: dict[str, float]
) -> dict[str, Any]:
    """The contents of summary.json."""
    import pandas as pd

    from analyzers.common import period_bounds, period_days, total_cost
    from analyzers.export import iso_utc

    first, last = period_bounds(df)
    n = len(df)
    return {
        "data_path": str(path),
        "generated_at": iso_utc(pd.Timestamp.now(tz="UTC")),
        "calls": n,
        "total_cost_usd": total_cost(df),
        "unpriced_calls": int(df["cost_usd"].isna().sum()) if n else 0,
        "customers": int(df["customer_id"].nunique()) if n else 0,
        "organizations": int(df["organization_id"].nunique()) if n else 0,
        "models": int(df["model"].nunique()) if n else 0,
        "period_start": None if first is None else iso_utc(first),
        "period_end": None if last is None else iso_utc(last),
        "period_days": period_days(df),
        "malformed_lines": len(report.malformed),
        **headline_figures(results),
        "analyzers": {name: f"{name}.json" for name in results},
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
    }


#: summary.json key -> (analyzer, metric) it is taken from (null when that analyzer did not run)
HEADLINE: dict[str, tuple[str, str]] = {
    "revenue_usd": ("profitability", "revenue_usd"),
    "gross_margin_pct": ("profitability", "gross_margin_pct"),
    "loss_making_count": ("profitability", "loss_making_count"),
    "at_risk_count": ("profitability", "at_risk_count"),
    "run_rate_month_usd": ("understanding", "run_rate_month_usd"),
    "forecast_30d_usd": ("understanding", "forecast_30d_usd"),
    "forecast_30d_low_usd": ("understanding", "forecast_30d_low_usd"),
    "forecast_30d_high_usd": ("understanding", "forecast_30d_high_usd"),
    "forecast_backtest_mape_pct": ("understanding", "forecast_backtest_mape_pct"),
    "optimization_potential_month_usd": ("optimization", "total_potential_usd_month"),
}


def headline_figures(results: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of summary.json (HEADLINE), each as its analyzer computed it."""
    out: dict[str, Any] = {}
    for key, (name, metric) in HEADLINE.items():
        res = results.get(name)
        m = res.metrics.get(metric) if res is not None else None
        out[key] = None if m is None else m.value
    return out


def analyze_inputs(
    args: argparse.Namespace, command: str
) -> tuple[dict[str, Any], dict[str, Any], Any] | None:
    """(results, summary document, read report) for the parsed options, or None after printing why
    the input cannot be used (the caller then exits 2)."""
    from cli.commands.common import data_path

    try:
        df, ctx, report = load_inputs(args)
        results, timings = run_analyzers(df, ctx, args.only)
    except (InputError, KeyError) as exc:
        print(f"revenium-flow {command}: {exc}", file=sys.stderr)
        return None
    return results, summary(df, report, data_path(args), results, timings), report


def run(args: argparse.Namespace) -> int:
    from analyzers.export import dumps, result_to_dict

    done = analyze_inputs(args, "analyze")
    if done is None:
        return 2
    results, doc, report = done
    timings = doc["timings_s"]
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for name, result in results.items():
        (out / f"{name}.json").write_text(dumps(result_to_dict(result)), encoding="utf-8")
    (out / "summary.json").write_text(dumps(doc), encoding="utf-8")
    print(
        f"analyzed {doc['calls']:,} calls (${doc['total_cost_usd']:,.2f}, {doc['customers']} customers) "
        f"with {len(results)} analyzers in {sum(timings.values()):.2f}s -> {out}/"
    )
    if report.malformed:
        print(f"warning: {len(report.malformed)} malformed lines skipped", file=sys.stderr)
    return 0
