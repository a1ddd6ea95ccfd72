"""``revenium-flow ingest --data F --port P --workers N``: the ingest routes alone, in N processes.

Every worker process binds its own listening socket to the same address with ``SO_REUSEPORT`` (the
kernel spreads new connections over them) and serves it with waitress; all append to the same CSV
through ``CallStore`` (its exclusive flock serialises the writes; the fsyncs overlap) and share the sqlite idempotency ledger
in its cross-process mode (keys in flight are marked in the ledger, so two processes never both store
one key). The dashboard is not served; ``revenium-flow dashboard`` keeps serving ingest itself.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    from cli.commands.common import add_data_option, add_prices_option

    p = subparsers.add_parser(
        "ingest", help="serve only the metering ingest routes, in N processes sharing the port"
    )
    add_data_option(p)
    add_prices_option(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8060, help="port (default 8060; 0 = any free port)")
    p.add_argument("--workers", type=int, default=2, help="processes sharing the port (default 2)")
    p.add_argument(
        "--threads",
        type=int,
        default=16,
        help="waitress threads per process (default 16: a request waiting for its group commit holds one, "
        "so the threads bound how many requests one fsync can take)",
    )
    p.set_defaults(func=run)


def ingest_app(data_path: Path, **options: Any) -> tuple[Any, Any]:
    """A Flask app carrying only the ingest routes, and its ``IngestState``."""
    from flask import Flask

    from ingest import register_ingest

    app = Flask("revenium-flow-ingest")
    state = register_ingest(app, data_path, **options)
    return app, state


def reuseport_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket with SO_REUSEPORT, so that other processes can bind the same port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(1024)
    return sock


def _worker(
    data_path: Path,
    host: str,
    port: int,
    threads: int,
    sock: socket.socket | None = None,
    catalog: Any = None,
) -> None:
    """One process: its own SO_REUSEPORT socket (or ``sock``), the ingest app, waitress until SIGTERM/SIGINT."""
    import waitress

    from ingest.serving import WAITRESS_OPTIONS, quiet_queue_warnings

    quiet_queue_warnings()
    sock = sock or reuseport_socket(host, port)
    app, state = ingest_app(data_path, catalog=catalog)

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        waitress.serve(
            app, sockets=[sock], threads=threads, ident="revenium-flow", _quiet=True, **WAITRESS_OPTIONS
        )
    except SystemExit:
        pass
    finally:
        state.close()  # the writer drains: every acknowledged row is already durable


def run(args: argparse.Namespace) -> int:
    from cli.commands.common import data_path

    if not 1 <= args.workers <= 64:
        print("revenium-flow ingest: --workers must be 1..64", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print("revenium-flow ingest: --port must be 0..65535", file=sys.stderr)
        return 2
    if not hasattr(socket, "SO_REUSEPORT") and args.workers > 1:
        print("revenium-flow ingest: this system has no SO_REUSEPORT; use --workers 1", file=sys.stderr)
        return 2
    path = data_path(args)
    from metering.prices import CatalogError, load_catalog

    try:  # loaded once, before the workers fork: every process prices with the same catalog
        catalog = load_catalog(args.prices)
    except CatalogError as exc:
        print(f"revenium-flow ingest: {exc}", file=sys.stderr)
        return 2
    # bind first so that port 0 resolves once: one worker serves this socket; with several, it is closed
    # and a bound, non-listening socket holds the port while every worker binds its own to it
    try:
        holder = reuseport_socket(args.host, args.port)
    except OSError as exc:
        print(f"revenium-flow ingest: cannot bind {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    port = holder.getsockname()[1]
    if args.workers > 1:
        holder.close()
        holder = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET, socket.SOCK_STREAM)
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind((args.host, port))  # not listening: receives no connections
    print(
        f"revenium-flow ingest: {args.workers} worker(s) x {args.threads} threads on "
        f"http://{args.host}:{port} -> {path}",
        flush=True,
    )
    if args.workers == 1:
        _worker(path, args.host, port, args.threads, sock=holder, catalog=catalog)
        return 0
    children: list[int] = []
    for _ in range(args.workers):
        pid = os.fork()
        if pid == 0:  # child: serve, never return into the parent's code
            code = 0
            try:
                if holder is not None:
                    holder.close()
                _worker(path, args.host, port, args.threads, catalog=catalog)
            except BaseException:  # noqa: BLE001 - report and exit non-zero
                import traceback

                traceback.print_exc()
                code = 1
            finally:
                os._exit(code)
        children.append(pid)

    def forward(signum: int, frame: Any) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = 0
    for child in children:
        while True:
            try:
                _, code = os.waitpid(child, 0)
                break
            except InterruptedError:
                time.sleep(0.01)
        if os.waitstatus_to_exitcode(code) not in (0, -signal.SIGTERM):
            status = 1
    if holder is not None:
        holder.close()
    return status
