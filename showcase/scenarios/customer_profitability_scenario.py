"""The customer-profitability story in one command: who costs more than they pay, and what to do.

Run it as ``python -m showcase.scenarios.customer_profitability_scenario`` (or as a script) or as
``revenium-flow scenario profitability [--data PATH]``. Without ``--data`` it first generates a small
dataset into a temporary folder with the project's generator, at the seed's per-customer call rates
(``rate_scale`` 1.0: light 5-20, power 50-150, heavy 200-500 calls a day), the intensity at which flat
subscriptions start to lose money. It then runs the profitability analyzer and prints the customers whose
margin is at risk (cost > 80 % of their subscription revenue; the loss-making ones, cost > revenue,
counted apart), the total financial impact, and the three interventions (tier upgrade, usage cap,
usage-based pricing) with the dollar effect of each. Revenue is subscription revenue over each
customer's active days (``metering.subscriptions``; ``--subscriptions FILE`` overrides the inference).

The numbers come from ``analyzers.revenue.profitability``; this module only chooses the data and lays
the result out as text.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # heavy imports stay inside functions so that `--help` is instant
    import pandas as pd

    from analyzers.base import AnalysisResult

SAMPLE_CUSTOMERS = 60
SAMPLE_DAYS = 14
SAMPLE_START = date(2026, 11, 2)  # a Monday; fixed so the same seed gives the same story
SAMPLE_RATE_SCALE = 1.0
DEFAULT_SEED = 42

ACTIONS = (
    ("upgrade", "upgrade_usd_month", "Tier upgrade", "next tier, when its price covers the cost"),
    ("cap", "cap_usd_month", "Usage cap", "cap monthly AI spend at the tier's AI budget"),
    (
        "usage pricing",
        "usage_pricing_usd_month",
        "Usage-based pricing",
        "bill cost above 80 % of the subscription",
    ),
)


# --- data ----------------------------------------------------------------------------------------


def generate_sample(
    path: Path,
    *,
    seed: int = DEFAULT_SEED,
    customers: int = SAMPLE_CUSTOMERS,
    days: int = SAMPLE_DAYS,
    start: date = SAMPLE_START,
    rate_scale: float = SAMPLE_RATE_SCALE,
) -> int:
    """Write ``days`` simulated days for ``customers`` customers to ``path`` with the generator's own
    world, day synthesis and CSV formatting; returns the number of rows."""
    from generator.api import write_days

    return write_days(path, seed=seed, start=start, customers=customers, days=days, rate_scale=rate_scale)


# --- analysis ------------------------------------------------------------------------------------


@dataclass
class ProfitabilityStory:
    """The analyzer's result plus the rows the report prints."""

    result: AnalysisResult
    at_risk: pd.DataFrame  # customers table rows with margin at risk (cost > 80 % of revenue), worst first
    calls: int
    period_start: pd.Timestamp | None
    period_end: pd.Timestamp | None

    @property
    def customers(self) -> int:
        return len(self.result.tables["customers"])

    @property
    def metric(self) -> dict[str, Any]:
        return {k: m.value for k, m in self.result.metrics.items()}


def analyse(
    df: pd.DataFrame, tiers_path: str | None = None, subscriptions_path: str | None = None
) -> ProfitabilityStory:
    """Run the profitability analyzer on ``df`` and join each customer with margin at risk to its
    interventions."""
    import os

    from analyzers import registry
    from analyzers.base import AnalysisContext
    from metering.subscriptions import ENV_VAR, load_subscriptions
    from metering.tiers import load_tiers

    tiers = load_tiers(tiers_path)
    subs_path = subscriptions_path or os.environ.get(ENV_VAR)
    subs = (
        load_subscriptions(subs_path, {n: t.price_usd_month for n, t in tiers.items()}) if subs_path else None
    )
    ctx = AnalysisContext(tiers=tiers, subscriptions=subs)
    result = registry.run("profitability", df, ctx)
    customers = result.tables["customers"]
    bad = customers[customers["at_risk"].astype(bool)]
    fixes = result.tables["interventions"].drop(columns=["tier"], errors="ignore")
    bad = bad.merge(fixes, on="customer_id", how="left")
    bad = bad.sort_values(["margin_usd", "customer_id"], kind="stable").reset_index(drop=True)
    ts = df["timestamp"] if len(df) else None
    return ProfitabilityStory(
        result=result,
        at_risk=bad,
        calls=len(df),
        period_start=None if ts is None else ts.min(),
        period_end=None if ts is None else ts.max(),
    )


# --- text ----------------------------------------------------------------------------------------


def usd(value: float | None, *, sign: bool = False) -> str:
    """$1,234.56 / -$1,234.56 (``sign`` adds + to positive values); n/a for unknown."""
    if value is None or value != value:  # NaN
        return "n/a"
    text = f"${abs(value):,.2f}"
    if value < 0:
        return "-" + text
    return ("+" + text) if sign and value > 0 else text


def pct(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{value:,.1f} %"


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> list[str]:
    """Fixed-width columns, numbers right-aligned, a rule under the header."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        parts = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)]
        return "  ".join(parts).rstrip()

    return [line(headers), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def _best_action(row: Any) -> str:
    best, amount = row.get("best"), row.get("best_usd_month")
    if not isinstance(best, str) or not best or amount != amount or not amount:
        return "review model mix"
    label = {"upgrade": f"upgrade to {row.get('upgrade_to') or 'next tier'}", "cap": "usage cap"}.get(
        best, best
    )
    return f"{label} ({usd(amount, sign=True)}/mo)"


def render(story: ProfitabilityStory, source: str) -> str:
    """The terminal report: plain text, no colour codes, fixed-width columns."""
    m = story.metric
    days = m.get("period_days") or 0
    out: list[str] = ["Customer profitability", "=" * 22, f"Data     {source}"]
    if story.period_start is not None:
        out.append(
            f"Period   {story.period_start:%Y-%m-%d} .. {story.period_end:%Y-%m-%d} ({days:.2f} days)"
            f"   {story.calls:,} calls   {story.customers:,} customers"
        )
    out.append(
        f"Totals   revenue {usd(m.get('revenue_usd'))}   cost {usd(m.get('cost_usd'))}   "
        f"margin {usd(m.get('margin_usd'))} ({pct(m.get('gross_margin_pct'))})"
    )
    out += [
        "",
        "Alarm lines: margin at risk = AI cost above 80 % of subscription revenue; loss-making = AI cost "
        "above revenue",
        "",
    ]
    bad = story.at_risk
    total = story.customers
    if bad.empty:
        out.append(
            f"No customers with margin at risk: all {total:,} customers cost at most 80 % of their revenue."
        )
        return "\n".join(out) + "\n"
    loss = int(m.get("loss_making_count") or 0)
    out.append(f"Customers with margin at risk: {len(bad):,} of {total:,} (loss-making: {loss:,})")
    out.append("")
    rows = [
        [
            str(r["customer_id"]),
            str(r["tier"]),
            usd(r["revenue_usd"]),
            usd(r["cost_usd"]),
            usd(r["margin_usd"]),
            pct(r["margin_pct"]),
            pct(r["cost_to_revenue_pct"]),
            _best_action(r),
        ]
        for r in bad.to_dict("records")
    ]
    headers = ["customer", "tier", "revenue", "cost", "margin", "margin %", "cost/revenue", "best action"]
    out += text_table(headers, rows, [False, False, True, True, True, True, True, False])

    import numpy as np

    from metering.tiers import DAYS_PER_MONTH

    days = bad["active_days"].to_numpy(dtype="float64")
    f = np.where(
        days > 0, DAYS_PER_MONTH / np.where(days > 0, days, 1.0), 0.0
    )  # per customer, 0: no active day
    margin = float(bad["margin_usd"].sum())
    excess = float((bad["cost_usd"] - 0.8 * bad["revenue_usd"]).sum())
    margin_month = float((bad["margin_usd"] * f).sum())
    excess_month = float(((bad["cost_usd"] - 0.8 * bad["revenue_usd"]) * f).sum())
    out += [
        "",
        "Total financial impact",
        f"  margin of these customers     {usd(margin):>14} for the period   {usd(margin_month):>14} per month",
        f"  cost above the 80 % line      {usd(excess):>14} for the period   {usd(excess_month):>14} per month",
        f"  revenue they pay              {usd(float(bad['revenue_usd'].sum())):>14} for the period",
        "",
        "Actions (monthly effect if applied to every customer with margin at risk it fits)",
        "",
    ]
    action_rows = []
    for key, column, label, how in ACTIONS:
        effect = bad[column].fillna(0.0) if column in bad else bad["margin_usd"] * 0
        applies = int((effect > 0).sum())
        action_rows.append([label, f"{applies:,}", usd(float(effect.sum()), sign=True), how])
        if key == "upgrade" and applies:
            moves = bad.loc[effect > 0].groupby(["tier", "upgrade_to"], observed=True).size()
            action_rows[-1][3] += " (" + ", ".join(f"{n} {a}→{b}" for (a, b), n in moves.items()) + ")"
    out += text_table(["action", "customers", "effect/month", "how"], action_rows, [False, True, True, False])
    best = float(bad["best_usd_month"].fillna(0.0).sum()) if "best_usd_month" in bad else 0.0
    out += ["", f"Best action per customer, combined: {usd(best, sign=True)} per month."]
    return "\n".join(out) + "\n"


# --- command -------------------------------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data", type=Path, default=None, help="call-record CSV (default: generate a small sample)"
    )
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"sample seed (default {DEFAULT_SEED})")
    p.add_argument(
        "--customers",
        type=int,
        default=SAMPLE_CUSTOMERS,
        help=f"sample customers (default {SAMPLE_CUSTOMERS})",
    )
    p.add_argument("--days", type=int, default=SAMPLE_DAYS, help=f"sample days (default {SAMPLE_DAYS})")
    p.add_argument("--tiers", default=None, help="tiers JSON (default: $REVENIUM_FLOW_TIERS or built-in)")
    p.add_argument(
        "--subscriptions",
        default=None,
        help="subscriptions CSV/JSON overriding the inferred ones (default: $REVENIUM_FLOW_SUBSCRIPTIONS)",
    )


def run(args: argparse.Namespace, out: Any = None) -> int:
    """Generate (unless ``--data``), analyse and print; returns the exit code."""
    from metering.store import StoreError, read_calls_report
    from metering.subscriptions import SubscriptionError
    from metering.tiers import TierError

    out = out or sys.stdout
    if args.customers < 1 or args.days < 1:
        print("scenario profitability: --customers and --days must be >= 1", file=sys.stderr)
        return 2
    try:
        with tempfile.TemporaryDirectory(prefix="revenium-flow-profitability-") as tmp:
            if args.data is None:
                path = Path(tmp) / "sample_calls.csv"
                rows = generate_sample(path, seed=args.seed, customers=args.customers, days=args.days)
                source = (
                    f"generated sample: {rows:,} calls, {args.customers} customers, {args.days} days, "
                    f"seed {args.seed}, seed call rates (rate_scale {SAMPLE_RATE_SCALE:g})"
                )
            else:
                path, source = Path(args.data), str(args.data)
            report = read_calls_report(path)
            if report.malformed:
                first = report.malformed[0]
                print(
                    f"scenario profitability: skipped {len(report.malformed)} malformed lines "
                    f"(first: line {first[0]}: {first[1]})",
                    file=sys.stderr,
                )
            story = analyse(report.frame, args.tiers, getattr(args, "subscriptions", None))
    except (StoreError, TierError, SubscriptionError, OSError) as exc:
        print(f"scenario profitability: {exc}", file=sys.stderr)
        return 1
    out.write(render(story, source))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="customer_profitability_scenario",
        description="Find the customers whose margin is at risk (AI cost above 80 % of their revenue) "
        "or who are loss-making, and what to do about it.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
