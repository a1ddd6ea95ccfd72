"""``revenium-flow generate``: synthesise multi-provider AI traffic into the call-record CSV.

Progress goes to stderr (on a terminal: a bar, the merger's day and one row per scenario) and to the
manifest beside the CSV, which is all the dashboard reads; SIGTERM or Ctrl+C stops cleanly (complete
last line, manifest ``stopped``). The stop flag is installed before the generator is imported.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date

from cli.commands.common import add_data_option, data_path

EXIT_ERROR = 2


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "generate",
        help="generate synthetic AI traffic (twelve scenarios) into the CSV",
        description="Generate synthetic multi-provider AI traffic until the CSV reaches --target-mb.",
    )
    add_data_option(p)
    p.add_argument(
        "--target-mb",
        type=float,
        default=50.0,
        help="stop when the file reaches this many MiB (default 50; with --append: MiB to add)",
    )
    p.add_argument("--seed", type=int, default=42, help="random seed: same seed and options, same bytes")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default: the CPUs other processes leave idle; one process below 4 MB or at live pace)",
    )
    p.add_argument("--customers", type=int, default=500, help="customers in the population (default 500)")
    p.add_argument("--organizations", type=int, default=None, help="organizations (default customers/12.5)")
    p.add_argument(
        "--start", type=_date, default=None, help="first simulated day, YYYY-MM-DD (default 30 days ago)"
    )
    p.add_argument("--scenarios", default=None, help="comma-separated scenario names (default: all twelve)")
    p.add_argument("--days", type=int, default=None, help="stop after this many simulated days")
    p.add_argument(
        "--pace", choices=("max", "live"), default="max", help="max: as fast as possible; live: paced"
    )
    p.add_argument(
        "--speed",
        type=float,
        default=43_200.0,
        help="live pace: simulated seconds per wall second (default 43200 = one simulated day every 2 s)",
    )
    p.add_argument("--append", action="store_true", help="continue after the last call of the existing file")
    p.add_argument(
        "--prices", default=None, help="price catalog JSON (default: $REVENIUM_FLOW_PRICES or built-in)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    p.add_argument(
        "--parquet",
        action="store_true",
        help="also write the rows as Parquet partitioned by day beside the CSV (as `revenium-flow compact`)",
    )
    p.set_defaults(func=run)


class _Bar:
    """On a terminal: a progress line, the merger's day, and one line per scenario (redrawn in place)."""

    def __init__(self, stream) -> None:  # noqa: ANN001
        self.stream = stream
        self.tty = stream.isatty()
        self.last = -1.0
        self.drawn = 0  # lines drawn last time (moved back over before redrawing)
        self.latest = None

    def lines(self, p) -> list[str]:  # noqa: ANN001
        from generator.calendar import iso_ms

        frac = min(1.0, (p.bytes / p.target_bytes) if p.target_bytes else 1.0)
        width = 28
        filled = round(frac * width)
        sim = iso_ms(p.simulated_until)[:16].replace("T", " ") if p.simulated_until is not None else "-"
        rate = p.rows_run / p.elapsed if p.elapsed > 0 else 0.0
        out = [
            f"[{'#' * filled}{'.' * (width - filled)}] {p.bytes / 2**20:7.1f}/{p.target_bytes / 2**20:.0f} MB"
            f"  {p.rows:>10,} rows  {rate:>9,.0f} rows/s  sim {sim}",
            f"  merger: appended through {p.merger_day or '-'}",
        ]
        for name, rows in p.scenario_rows.items():
            out.append(
                f"  {name:<18} {rows:>10,} rows synthesised through {p.scenario_through.get(name, '-')}"
            )
        return out

    def __call__(self, p, force: bool = False) -> None:  # noqa: ANN001
        self.latest = p
        if not self.tty or (not force and p.elapsed - self.last < 0.1):
            return
        self.last = p.elapsed
        lines = self.lines(p)
        up = f"\x1b[{self.drawn - 1}F" if self.drawn > 1 else "\r"
        self.stream.write(up + "\n".join("\x1b[2K" + line for line in lines))
        self.stream.flush()
        self.drawn = len(lines)

    def close(self) -> None:
        if self.latest is not None:
            self(self.latest, force=True)
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def run(args: argparse.Namespace) -> int:
    from generator.stopflag import StopFlag

    stop = StopFlag(exit_early=True).install()  # first: a signal during start-up exits before any write
    try:
        return _run(args, stop)
    finally:
        stop.restore()


def _run(args: argparse.Namespace, stop) -> int:  # noqa: ANN001
    from generator.run import RunError, RunOptions, run_generation
    from generator.scenarios import resolve
    from generator.summary import summary_lines
    from metering.manifest import STATE_LABELS, read_manifest
    from metering.prices import CatalogError
    from metering.store import StoreError

    path = data_path(args)
    try:
        scenarios = tuple(s.name for s in resolve(args.scenarios)) if args.scenarios else None
        opts = RunOptions(
            data=path,
            target_mb=args.target_mb,
            seed=args.seed,
            workers=args.workers,
            customers=args.customers,
            organizations=args.organizations,
            start=args.start,
            scenarios=scenarios,
            pace=args.pace,
            speed=args.speed,
            append=args.append,
            days=args.days,
            prices=args.prices,
        )
        opts.validate()
    except (RunError, ValueError) as exc:
        print(f"revenium-flow generate: {exc}", file=sys.stderr)
        return EXIT_ERROR
    previous = read_manifest(path)
    if previous is not None and previous.state == "interrupted" and not args.quiet:
        print(f"note: the previous run into {path} was {STATE_LABELS['interrupted']}", file=sys.stderr)
    bar = None if args.quiet else _Bar(sys.stderr)
    try:
        result = run_generation(opts, bar, stop=stop)
    except (RunError, StoreError, CatalogError, OSError) as exc:
        if bar:
            bar.close()
        print(f"revenium-flow generate: {exc}", file=sys.stderr)
        return 1
    if bar:
        bar.close()
    if result.cleaned and not args.quiet:
        print(
            f"note: removed what an interrupted earlier run left behind: {', '.join(result.cleaned)}",
            file=sys.stderr,
        )
    if not args.quiet:
        lines = summary_lines(
            result.world, result.totals, path=str(path), size_bytes=result.bytes, elapsed=result.elapsed
        )
        state = result.state + (f" ({result.message})" if result.message else "")
        print("\n".join([f"state           {state}", *lines]))
    if result.state == "done" and getattr(args, "parquet", False):
        from cli.commands.compact import default_folder
        from metering.parquet import compact

        out = default_folder(path)
        done = compact(path, out)
        if not args.quiet:
            print(f"parquet         {len(done.days_written)} day(s) -> {out}/")
    if result.state == "stopped":
        return 128 + (result.signal or 2)
    return 0 if result.state == "done" else 1
