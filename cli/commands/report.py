"""``revenium-flow report [--data PATH] [--out DIR]``: eight static HTML reports and an index.

Runs the analyzers like ``analyze`` and renders them with ``dashboard.reports.html`` (KPI cards,
charts, tables, recommendations). plotly.js is copied once into DIR (or inlined per page with
``--inline-plotly``); nothing is fetched from the network. Exit 0 = written, 2 = bad input.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path("reports")


def add_parser(subparsers: Any) -> None:
    from cli.commands.analyze import add_shared_options

    p = subparsers.add_parser("report", help="write eight self-contained HTML reports and an index")
    add_shared_options(p)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    p.add_argument(
        "--inline-plotly",
        action="store_true",
        help="inline plotly.js in every page instead of one local copy",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cli.commands.analyze import analyze_inputs
    from dashboard.reports.html import write_reports

    done = analyze_inputs(args, "report")
    if done is None:
        return 2
    results, doc, _ = done
    written = write_reports(results, doc, args.out, inline=args.inline_plotly)
    print(f"wrote {len(written)} HTML files -> {args.out}/index.html")
    return 0
