"""Options shared by several subcommands."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

DATA_ENV = "REVENIUM_FLOW_DATA"
DEFAULT_DATA = Path("data") / "simulated_calls.csv"


def default_data_path() -> Path:
    return Path(os.environ.get(DATA_ENV) or DEFAULT_DATA)


def add_data_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        type=Path,
        default=None,
        help=f"call-record CSV (default: ${DATA_ENV} or {DEFAULT_DATA})",
    )


def add_prices_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--prices",
        type=Path,
        default=None,
        help="price catalog JSON (default: $REVENIUM_FLOW_PRICES or built-in)",
    )


def add_catalog_options(p: argparse.ArgumentParser) -> None:
    add_prices_option(p)
    p.add_argument(
        "--tiers", type=Path, default=None, help="tiers JSON (default: $REVENIUM_FLOW_TIERS or built-in)"
    )


def data_path(args: argparse.Namespace) -> Path:
    return Path(args.data) if getattr(args, "data", None) else default_data_path()


def add_subscriptions_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--subscriptions",
        type=Path,
        default=None,
        help="subscriptions CSV/JSON (customer, tier, start, optional end and price) overriding the "
        "subscriptions inferred from the calls (default: $REVENIUM_FLOW_SUBSCRIPTIONS)",
    )


def load_subscriptions_option(args: argparse.Namespace, tiers: dict) -> object | None:
    """The subscriptions file of ``--subscriptions`` or ``$REVENIUM_FLOW_SUBSCRIPTIONS`` (None when neither);
    raises metering.subscriptions.SubscriptionError naming the line and field of a bad file."""
    from metering.subscriptions import ENV_VAR, load_subscriptions

    path = getattr(args, "subscriptions", None) or os.environ.get(ENV_VAR)
    if not path:
        return None
    return load_subscriptions(path, {n: t.price_usd_month for n, t in tiers.items()})


def add_budgets_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--budgets",
        type=Path,
        default=None,
        help="budgets JSON (scope customer/organization/product/api_key, id, monthly_usd, thresholds) "
        "(default: $REVENIUM_FLOW_BUDGETS)",
    )


def load_budgets_option(args: argparse.Namespace) -> tuple:
    """The budgets of ``--budgets`` or ``$REVENIUM_FLOW_BUDGETS`` (empty when neither); raises
    metering.budgets.BudgetError naming the entry and field of a bad file."""
    from metering.budgets import ENV_VAR, load_budgets

    path = getattr(args, "budgets", None) or os.environ.get(ENV_VAR)
    return load_budgets(path) if path else ()
