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


def add_catalog_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--prices",
        type=Path,
        default=None,
        help="price catalog JSON (default: $REVENIUM_FLOW_PRICES or built-in)",
    )
    p.add_argument(
        "--tiers", type=Path, default=None, help="tiers JSON (default: $REVENIUM_FLOW_TIERS or built-in)"
    )


def data_path(args: argparse.Namespace) -> Path:
    return Path(args.data) if getattr(args, "data", None) else default_data_path()
