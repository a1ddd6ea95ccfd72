"""``revenium-flow scenario NAME``: run an end-to-end showcase story in the terminal.

``scenario profitability [--data PATH] [--subscriptions FILE]`` finds the customers whose margin is at
risk (AI cost above 80 % of their revenue; loss-making when above all of it) and prints the interventions with their dollar effect (``showcase.scenarios.customer_profitability_scenario``).
"""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from showcase.scenarios import customer_profitability_scenario as profitability

    p = subparsers.add_parser(
        "scenario",
        help="run a showcase story (profitability)",
        description="Run an end-to-end showcase story in the terminal.",
    )
    stories = p.add_subparsers(dest="scenario", metavar="SCENARIO", required=True)
    prof = stories.add_parser(
        "profitability",
        help="customers with margin at risk (cost > 80 %% of revenue) or loss-making, and what to do",
        description=(profitability.__doc__ or "").split("\n\n")[1],
    )
    profitability.add_arguments(prof)
    prof.set_defaults(func=_run_profitability)


def _run_profitability(args: argparse.Namespace) -> int:
    from showcase.scenarios import customer_profitability_scenario as profitability

    return profitability.run(args)
