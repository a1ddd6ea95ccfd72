"""``revenium-flow dashboard``: serve the live Dash dashboard with waitress (production WSGI)."""

from __future__ import annotations

import argparse
import logging
import os
import threading
from typing import Any

from cli.commands.common import (
    add_budgets_option,
    add_catalog_options,
    add_data_option,
    add_subscriptions_option,
    data_path,
)

log = logging.getLogger(__name__)
#: seconds between two ingest log lines (a line only when something arrived or was refused)
INGEST_LOG_INTERVAL_S = 60.0
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "dashboard",
        help="serve the live dashboard (overview, eight analyzer pages, Generate/Stop)",
        description="Serve the dashboard on HOST:PORT. A missing or empty data file shows an empty state "
        "that invites you to press Generate.",
    )
    add_data_option(p)
    add_catalog_options(p)
    add_subscriptions_option(p)
    add_budgets_option(p)
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8050, help="port (default: 8050)")
    p.add_argument("--threads", type=int, default=8, help="waitress worker threads (default: 8)")
    p.add_argument(
        "--interval-ms", type=int, default=1500, help="live refresh interval in milliseconds (default: 1500)"
    )
    p.add_argument(
        "--workspace",
        default=None,
        help="shared folder of saved charts (default: $REVENIUM_FLOW_WORKSPACE or workspace/charts)",
    )
    p.add_argument(
        "--users-file",
        default=None,
        help="dashboard logins, one name:role:password-hash per line (default: "
        "$REVENIUM_FLOW_DASHBOARD_USERS_FILE; or $REVENIUM_FLOW_DASHBOARD_USERS, comma-separated). "
        "Required when --host is not a loopback address",
    )
    p.set_defaults(func=run)


def ingest_log_line(prev: dict[str, Any], now: dict[str, Any]) -> str | None:
    """One line on what ingest did since ``prev`` (counters), or None when nothing happened (pure)."""
    names = ("rows_stored", "metered_rows", "otlp_rows", "duplicates", "rejected_requests")
    delta = {k: int(now.get(k) or 0) - int(prev.get(k) or 0) for k in names}
    if not any(delta.values()):
        return None
    return (
        f"ingest: +{delta['rows_stored']:,} rows ({delta['metered_rows']:,} metered, {delta['otlp_rows']:,} otlp), "
        f"{delta['duplicates']:,} duplicates, {delta['rejected_requests']:,} requests rejected in the last "
        f"{INGEST_LOG_INTERVAL_S:.0f} s; {int(now.get('rows_stored') or 0):,} rows since start"
    )


def start_ingest_log(server: Any, interval_s: float = INGEST_LOG_INTERVAL_S) -> threading.Event:
    """Log ingest totals every ``interval_s`` when anything was ingested; set the event to stop."""
    stop = threading.Event()

    def loop() -> None:
        prev: dict[str, Any] = {}
        while not stop.wait(interval_s):
            state = server.extensions.get("revenium_ingest")
            if state is None:
                continue
            counters = state.status().get("counters") or {}
            line = ingest_log_line(prev, counters)
            if line:
                log.info("%s", line)
            prev = counters

    threading.Thread(target=loop, daemon=True, name="ingest-log").start()
    return stop


def configure_logging() -> None:
    """INFO lines with a time stamp on stderr (unless the embedding program configured logging)."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)


def use_system_allocator() -> None:
    """Arrow (pandas' text columns) allocates from the system malloc in the server process.

    Arrow's default pool (mimalloc) keeps per-thread heaps that only the owning thread gives back:
    with waitress's worker threads each reading and filtering 50 MB runs, the server's memory climbed
    run after run (benchmarks/bench_dashboard_memory.py). Set before pandas/pyarrow are imported;
    an ``ARROW_DEFAULT_MEMORY_POOL`` already in the environment wins.
    """
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")


def run(args: argparse.Namespace) -> int:
    use_system_allocator()
    from waitress import serve

    from dashboard.app import create_app
    from ingest.serving import WAITRESS_OPTIONS, quiet_queue_warnings

    if not (1 <= args.port <= 65535):
        print(f"--port: {args.port} is not a TCP port (1-65535)")
        return 2
    if args.interval_ms < 250:
        print("--interval-ms: must be at least 250")
        return 2
    from analyzers.base import AnalysisContext
    from cli.commands.common import load_budgets_option, load_subscriptions_option
    from dashboard.auth import USERS_ENV, UsersError, is_loopback, load_users
    from metering.budgets import BudgetError
    from metering.prices import load_catalog
    from metering.subscriptions import SubscriptionError
    from metering.tiers import load_tiers

    try:
        users = load_users(users_file=args.users_file)
    except UsersError as exc:
        print(f"error: {exc}")
        return 2
    if not users and not is_loopback(args.host):
        print(
            f"refusing to start: --host {args.host} is reachable from other machines and no dashboard login "
            f"is configured. Set {USERS_ENV}=name:role:hash (or --users-file; hashes from "
            "`python -m dashboard.auth hash-password`), or bind to 127.0.0.1."
        )
        return 2
    path = data_path(args)
    try:
        ctx = AnalysisContext(catalog=load_catalog(args.prices), tiers=load_tiers(args.tiers))
        ctx.subscriptions = load_subscriptions_option(args, ctx.tiers)
        ctx.scope_budgets = load_budgets_option(args)
    except (SubscriptionError, BudgetError, ValueError) as exc:
        print(f"revenium-flow dashboard: {exc}")
        return 2
    app = create_app(path, interval_ms=args.interval_ms, users=users, context=ctx, workspace=args.workspace)
    configure_logging()
    state = "exists" if path.exists() else "missing — press Generate in the page"
    access = (
        f"login required: {len(users)} user(s), {sum(u.can_write for u in users.values())} admin(s)"
        if users
        else f"open without login: loopback address {args.host}, reachable from this machine only"
    )
    log.info(
        "revenium-flow dashboard on http://%s:%d/  (data: %s, %s; %s)",
        args.host,
        args.port,
        path,
        state,
        access,
    )
    start_ingest_log(app.server)
    quiet_queue_warnings()  # a log line per request whenever the threads are all busy: no news
    serve(
        app.server,
        host=args.host,
        port=args.port,
        threads=args.threads,
        ident="revenium-flow",
        **WAITRESS_OPTIONS,
    )
    return 0
