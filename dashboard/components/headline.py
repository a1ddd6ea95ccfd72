"""Which metrics each analyzer shows first as cards (dashboard pages and HTML reports alike)."""

from __future__ import annotations

CARD_KEYS: dict[str, tuple[str, ...]] = {
    "understanding": (
        "total_cost_usd",
        "calls",
        "cost_per_call_usd",
        "run_rate_month_usd",
        "forecast_30d_usd",
        "forecast_30d_low_usd",
        "forecast_30d_high_usd",
        "forecast_backtest_mape_pct",
    ),
    "optimization": (
        "monthly_cost_usd",
        "switch_savings_usd_month",
        "caching_savings_usd_month",
        "commitment_savings_usd_month",
        "volume_savings_usd_month",
        "total_potential_usd_month",
        "total_potential_pct",
        "qualifying_spend_usd_month",
    ),
    "profitability": (
        "revenue_usd",
        "cost_usd",
        "gross_margin_pct",
        "loss_making_count",
        "at_risk_count",
        "monthly_margin_usd",
        "intervention_potential_usd_month",
        "unknown_tier_customers",
    ),
}
