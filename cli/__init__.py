"""``revenium-flow`` command line: one subcommand per module in ``cli/commands/``.

Each command module defines ``add_parser(subparsers)`` which registers its parser and sets
``func`` (called with the parsed args, returns the exit code). Modules import their heavy
dependencies inside ``func`` so that ``--help`` stays fast. Adding a command is one module plus
one line in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

COMMANDS: tuple[str, ...] = (
    "dashboard",
    "generate",
    "analyze",
    "report",
    "validate",
    "prices",
    "scenario",
    "export",
    "ingest",
    "compact",
)


def version() -> str:
    """The installed distribution's version (pyproject.toml's ``version``)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("revenium-flow")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


class _Version(argparse.Action):
    """``--version``: the installed version, looked up only when asked (importlib.metadata costs
    ~80 ms of every command's start-up otherwise)."""

    def __init__(
        self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: object
    ) -> None:
        super().__init__(
            option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="show the version and exit"
        )

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        print(f"{parser.prog} {version()}")  # on stdout, as argparse's own version action
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="revenium-flow",
        description="AI FinOps: simulate or meter LLM calls, analyse cost and profitability, watch it live.",
    )
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"cli.commands.{name}").add_parser(sub)
    return parser


#: commands whose whole result is on disk (written, fsynced, manifest closed) when they return: the
#: console script ends their process without the interpreter's teardown, which frees a few hundred MB
#: of objects one by one (~0.1 s after a 50 MB ``generate``)
QUICK_EXIT = frozenset({"generate"})


def main(argv: Sequence[str] | None = None, *, quick_exit: bool = False) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        code = int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if quick_exit and args.command in QUICK_EXIT:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def console() -> None:
    """The ``revenium-flow`` console script and ``python -m cli``."""
    sys.exit(main(quick_exit=True))
