"""``revenium-flow analyze [--data PATH] [--out DIR] [--engine local|dask]``: run the eight analyzers,
write JSON.

Writes ``summary.json`` and one ``<analyzer>.json`` per analyzer (layout: ``analyzers.export``; every
key is documented in ``specs/analyzers.md``). ``--data`` is a CSV store or a Parquet day folder
(``revenium-flow compact``); every analyzer reads the usage cube built by
``analyzers.engine.analyze_store`` (``--engine``, ``--scheduler``, ``--partition-mb``). Exit 0 = written,
2 = the data or a catalog cannot be read, or the data holds no valid row. ``analyze_inputs`` is shared
with the ``report`` command, ``load_inputs`` with ``export``.
"""

from __future__ import annotations

import argparse
import sys
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


def add_engine_options(p: argparse.ArgumentParser) -> None:
    from metering.partitions import DEFAULT_PARTITION_MB

    """--engine, --scheduler, --partition-mb: how the usage cube is built (``analyzers.engine``)."""
    p.add_argument(
        "--engine",
        choices=("local", "dask"),
        default="local",
        help="how the usage cube every analyzer reads is built partition by partition: local = a process "
        "pool on this machine (default), dask = a Dask cluster (--scheduler, else a LocalCluster); the rows "
        "are never held at once",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="Dask scheduler address, e.g. tcp://host:8786 (with --engine dask; default: a LocalCluster)",
    )
    p.add_argument(
        "--partition-mb",
        type=float,
        default=DEFAULT_PARTITION_MB,
        metavar="MB",
        help=f"size of a CSV partition in MB (default {DEFAULT_PARTITION_MB:g}); a Parquet folder is split by file",
    )


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("analyze", help="run the eight analyzers and write JSON results")
    add_shared_options(p)
    add_engine_options(p)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    p.set_defaults(func=run)


class InputError(Exception):
    """The data file or a catalog cannot be used; the message says which and why."""


def load_inputs(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """(typed call frame, AnalysisContext, ReadResult) from the parsed options."""
    from analyzers.engine import EmptyStore
    from cli.commands.common import data_path
    from metering.store import StoreError, read_calls_report

    path = data_path(args)
    if not path.exists():
        raise InputError(f"{path}: no such file (generate data with `revenium-flow generate` or pass --data)")
    try:
        report = read_calls_report(path)
    except (StoreError, OSError, ValueError) as exc:
        raise InputError(f"{path}: {exc}") from exc
    if len(report.frame) == 0:
        raise InputError(f"{path}: {EmptyStore(report.malformed)}")
    return report.frame, load_context(args), report


def summary(
    figures: dict[str, Any], malformed: int, path: Path, results: dict[str, Any], timings: dict[str, float]
) -> dict[str, Any]:
    """The contents of summary.json (``figures``: ``analyzers.summary``)."""
    import pandas as pd

    from analyzers.export import iso_utc

    return {
        "data_path": str(path),
        "generated_at": iso_utc(pd.Timestamp.now(tz="UTC")),
        **figures,
        "malformed_lines": malformed,
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


def load_context(args: argparse.Namespace) -> Any:
    """The AnalysisContext of the parsed options (catalogs, subscriptions, budgets, SLA, sensitivity)."""
    from analyzers.base import AnalysisContext
    from cli.commands.common import load_budgets_option, load_subscriptions_option
    from metering.budgets import BudgetError
    from metering.prices import CatalogError, load_catalog
    from metering.subscriptions import SubscriptionError
    from metering.tiers import TierError, load_tiers

    try:
        catalog = load_catalog(getattr(args, "prices", None))
        tiers = load_tiers(getattr(args, "tiers", None))
        subscriptions = load_subscriptions_option(args, tiers)
        budgets = load_budgets_option(args)
    except (CatalogError, TierError, SubscriptionError, BudgetError) as exc:
        raise InputError(str(exc)) from exc
    return AnalysisContext(
        catalog=catalog,
        tiers=tiers,
        subscriptions=subscriptions,
        scope_budgets=budgets,
        sla_ms=float(getattr(args, "sla_ms", 3000.0)),
        sensitivity=getattr(args, "sensitivity", "medium"),
    )


def progress_bar(label: str) -> Any:
    """A progress callback drawing a bar over partitions on stderr when it is a terminal (else None)."""
    if not sys.stderr.isatty():
        return None

    def draw(done: int, total: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        end = "\n" if done >= total else ""
        print(
            f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} partitions",
            end=end,
            file=sys.stderr,
            flush=True,
        )

    return draw


def analyze_inputs(
    args: argparse.Namespace, command: str
) -> tuple[dict[str, Any], dict[str, Any], list[tuple[int, str]]] | None:
    """(results, summary document, malformed lines) for the parsed options, or None after printing why
    the input cannot be used (the caller then exits 2). The data may be a CSV store or a Parquet day
    folder (``revenium-flow compact``)."""
    from analyzers import registry
    from analyzers.engine import EmptyStore, analyze_store
    from cli.commands.common import data_path
    from metering.partitions import DEFAULT_PARTITION_MB
    from metering.store import StoreError

    path = data_path(args)
    try:
        if not path.exists():
            raise InputError(
                f"{path}: no such file (generate data with `revenium-flow generate` or pass --data)"
            )
        names = list(registry.ANALYZER_NAMES)
        if args.only:
            for n in args.only:
                registry.get(n)  # KeyError naming the valid names
            names = [n for n in names if n in args.only]
        ctx = load_context(args)
        try:
            done = analyze_store(
                path,
                ctx,
                names,
                engine=getattr(args, "engine", "local"),
                scheduler=getattr(args, "scheduler", None),
                partition_mb=getattr(args, "partition_mb", DEFAULT_PARTITION_MB),
                progress=progress_bar(f"revenium-flow {command}"),
            )
        except EmptyStore as exc:
            raise InputError(f"{path}: {exc}") from exc
        except (StoreError, OSError, ValueError) as exc:
            msg = str(exc)
            raise InputError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from exc
    except (InputError, KeyError) as exc:
        print(f"revenium-flow {command}: {exc}", file=sys.stderr)
        return None
    doc = summary(done.figures, len(done.malformed), path, done.results, done.timings)
    return done.results, doc, done.malformed


def run(args: argparse.Namespace) -> int:
    from analyzers.export import dumps, result_to_dict

    done = analyze_inputs(args, "analyze")
    if done is None:
        return 2
    results, doc, malformed = done
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
    if malformed:
        print(f"warning: {len(malformed)} malformed lines skipped", file=sys.stderr)
    return 0
