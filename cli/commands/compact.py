"""``revenium-flow compact [--data CSV] [--out DIR]``: the store as Parquet partitioned by UTC day.

Writes ``DIR/date=YYYY-MM-DD/part-0.parquet`` (hive layout, the store's schema, zstd) incrementally:
only the lines appended since the last run are read, and only the days they fall on are (re)written
(``metering.parquet``). ``analyze --data DIR`` reads the folder. Exit 0 = written, 2 = the CSV cannot
be read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def default_folder(csv: Path) -> Path:
    """``calls.csv`` -> ``calls.parquet/`` beside it."""
    return csv.with_suffix(".parquet")


def add_parser(subparsers: Any) -> None:
    from cli.commands.common import add_data_option

    p = subparsers.add_parser(
        "compact", help="write the call CSV as Parquet partitioned by day (incremental)"
    )
    add_data_option(p)
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: the CSV's name with .parquet, beside it)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cli.commands.common import data_path
    from metering.parquet import compact
    from metering.store import StoreError

    csv = data_path(args)
    out = args.out or default_folder(csv)
    try:
        res = compact(csv, out)
    except (StoreError, OSError, ValueError) as exc:
        print(f"revenium-flow compact: {exc}", file=sys.stderr)
        return 2
    days = res.days_written
    what = f"{len(days)} day(s) written ({days[0]} .. {days[-1]})" if days else "nothing new"
    print(f"compacted {res.rows:,} new rows of {csv}: {what}{' (rebuilt)' if res.rebuilt else ''} -> {out}/")
    for line, why in res.malformed[:20]:
        print(f"warning: line {line}: {why} (skipped)", file=sys.stderr)
    if len(res.malformed) > 20:
        print(f"warning: {len(res.malformed) - 20} more malformed lines skipped", file=sys.stderr)
    return 0
