"""``revenium-flow export --format focus --out DIR [--period YYYY-MM]``: a FinOps FOCUS cost export.

Writes ``focus.csv`` (text cells made spreadsheet-safe by ``metering.csv_safety``) and ``focus.parquet``
(pyarrow) from ``analyzers.focus.focus_frame``. Exit 0 = written, 2 = the data, the catalog or the period
cannot be used.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

FORMATS = ("focus",)


def add_parser(subparsers: Any) -> None:
    from cli.commands.common import add_catalog_options, add_data_option

    p = subparsers.add_parser("export", help="write a FinOps FOCUS cost export (CSV + Parquet)")
    add_data_option(p)
    add_catalog_options(p)
    p.add_argument("--format", choices=FORMATS, default="focus", help="export format (default focus)")
    p.add_argument("--out", type=Path, default=Path("export"), help="output directory (default export)")
    p.add_argument("--period", default=None, metavar="YYYY-MM", help="only this calendar month (UTC)")
    p.add_argument(
        "--no-validator-columns",
        action="store_true",
        help="leave out the pre-1.0 column names the focus-validator 1.0.0 rule set still requires",
    )
    p.set_defaults(func=run)


def write_focus(frame: Any, out: Path) -> tuple[Path, Path]:
    """``focus.csv`` (formula-safe text) and ``focus.parquet`` in ``out``; both written atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from metering.csv_safety import neutralize_frame

    out.mkdir(parents=True, exist_ok=True)
    csv_path, parquet_path = out / "focus.csv", out / "focus.parquet"
    tmp = csv_path.with_suffix(".csv.tmp")
    neutralize_frame(frame).to_csv(tmp, index=False)
    tmp.replace(csv_path)
    tmp = parquet_path.with_suffix(".parquet.tmp")
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
    tmp.replace(parquet_path)
    return csv_path, parquet_path


def run(args: argparse.Namespace) -> int:
    from analyzers.focus import focus_frame
    from cli.commands.analyze import InputError, load_inputs

    try:
        df, ctx, report = load_inputs(args)
        frame = focus_frame(df, ctx.catalog, args.period, validator_columns=not args.no_validator_columns)
    except (InputError, ValueError) as exc:
        print(f"revenium-flow export: {exc}", file=sys.stderr)
        return 2
    csv_path, parquet_path = write_focus(frame, args.out)
    priced = frame["x_PricingStatus"] == "priced"
    print(
        f"FOCUS export: {len(frame):,} rows, BilledCost ${frame['BilledCost'].sum():,.2f}"
        f" ({int((~priced).sum()):,} unpriced rows) -> {csv_path}, {parquet_path}"
    )
    if report.malformed:
        print(f"warning: {len(report.malformed)} malformed lines skipped", file=sys.stderr)
    return 0
