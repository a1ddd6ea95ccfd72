"""``revenium-flow prices``: show the price catalog in force (built-in, ``--prices FILE`` or env)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

#: (table key, header) per displayed column; prices are USD per 1K tokens
COLUMNS = (
    ("provider", "provider"),
    ("model", "model"),
    ("effective_from", "effective_from"),
    ("input_per_1k", "input/1K"),
    ("output_per_1k", "output/1K"),
    ("cache_read_per_1k", "cache_read/1K"),
    ("cache_creation_per_1k", "cache_write/1K"),
    ("reasoning_per_1k", "reasoning/1K"),
)
_NUMERIC = {"input_per_1k", "output_per_1k", "cache_read_per_1k", "cache_creation_per_1k", "reasoning_per_1k"}


def add_parser(subparsers: Any) -> None:
    from cli.commands.common import add_prices_option

    p = subparsers.add_parser("prices", help="list the price catalog (USD per 1K tokens)")
    add_prices_option(p)
    p.add_argument("--provider", default=None, help="only this provider's models")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def _number(v: Any) -> float | None:
    """A price as a float rounded to 12 significant digits (no binary noise), None when absent."""
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(f"{float(v):.12g}")


def _cell(key: str, v: Any) -> str:
    if key not in _NUMERIC:
        return str(v)
    n = _number(v)
    return "-" if n is None else (f"{n:.8f}".rstrip("0").rstrip(".") or "0")


def _rows(table: Any) -> list[dict[str, Any]]:
    rows = []
    for rec in table.to_dict("records"):
        rows.append({k: (_number(rec[k]) if k in _NUMERIC else rec[k]) for k, _ in COLUMNS})
    return rows


def render_table(rows: list[dict[str, Any]]) -> str:
    """Aligned text table: text columns left-aligned, prices right-aligned."""
    cells = [[h for _, h in COLUMNS]] + [[_cell(k, r[k]) for k, _ in COLUMNS] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    lines = []
    for row in cells:
        parts = [
            v.rjust(w) if key in _NUMERIC else v.ljust(w)
            for (key, _), v, w in zip(COLUMNS, row, widths, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from metering.prices import CatalogError, load_catalog

    try:
        catalog = load_catalog(args.prices)
    except CatalogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    table = catalog.table()
    if args.provider:
        if args.provider not in catalog.providers:
            print(
                f"error: no provider {args.provider!r} in {catalog.source}; known: {', '.join(catalog.providers)}",
                file=sys.stderr,
            )
            return 2
        table = table[table["provider"] == args.provider]
    rows = _rows(table)
    if args.json:
        print(json.dumps({"source": catalog.source, "unit": "USD per 1K tokens", "prices": rows}, indent=1))
        return 0
    print(render_table(rows))
    print(
        f"\n{len(rows)} price entries, {len({(r['provider'], r['model']) for r in rows})} models "
        f"(USD per 1K tokens; '-' = billed at the input/output rate) from {catalog.source}"
    )
    return 0
