"""``revenium-flow dashboard``: serve the live Dash dashboard with waitress (production WSGI)."""

from __future__ import annotations

import argparse

from dashboard.commands.common import add_budgets_option, add_data_option, add_subscriptions_option, data_path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "dashboard",
        help="serve the live dashboard (overview, eight analyzer pages, Generate/Stop)",
        description="Serve the dashboard on HOST:PORT. A missing or empty data file shows an empty state "
        "that invites you to press Generate.",
    )
    add_data_option(p)
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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from waitress import serve

    from dashboard.app import create_app

    if not (1 <= args.port <= 65535):
        print(f"--port: {args.port} is not a TCP port (1-65535)")
        return 2
    if args.interval_ms < 250:
        print("--interval-ms: must be at least 250")
        return 2
    from analyzers.base import AnalysisContext
    from dashboard.commands.common import load_budgets_option, load_subscriptions_option
    from metering.budgets import BudgetError
    from metering.subscriptions import SubscriptionError

    path = data_path(args)
    try:
        ctx = AnalysisContext()
        ctx.subscriptions = load_subscriptions_option(args, ctx.tiers)
        ctx.scope_budgets = load_budgets_option(args)
    except (SubscriptionError, BudgetError, ValueError) as exc:
        print(f"revenium-flow dashboard: {exc}")
        return 2
    app = create_app(path, interval_ms=args.interval_ms, context=ctx)
    if args.workspace:
        from dashboard.components.chart_workspace import WORKSPACE_CONFIG

        app.server.config[WORKSPACE_CONFIG] = args.workspace
    state = "exists" if path.exists() else "missing — press Generate in the page"
    print(f"revenium-flow dashboard on http://{args.host}:{args.port}/  (data: {path}, {state})", flush=True)
    serve(app.server, host=args.host, port=args.port, threads=args.threads, ident="revenium-flow")
    return 0
