"""What every analyzer takes and returns.

An analyzer is a pure function ``analyze(df, ctx) -> AnalysisResult``: the call DataFrame (schema of
``metering.schema``) and an ``AnalysisContext`` in, metrics, tables, recommendations and alerts out.
No plotting, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from metering.budgets import ScopeBudget
from metering.prices import Catalog, load_catalog
from metering.subscriptions import DEFAULT_CHURN_AFTER_DAYS, SubscriptionFile
from metering.tiers import Tier, load_tiers

Priority = Literal["high", "medium", "low"]
Severity = Literal["critical", "warning", "info"]
Sensitivity = Literal["low", "medium", "high"]

#: z-score threshold per sensitivity setting (low = 3 sigma, medium = 2 sigma, high = 1.5 sigma)
SENSITIVITY_Z: dict[str, float] = {"low": 3.0, "medium": 2.0, "high": 1.5}
PRIORITY_ORDER: dict[str, int] = {"high": 0, "medium": 1, "low": 2}
#: the label of a missing group key in every table, filter and cube ("" stays "")
MISSING_KEY = "(none)"
#: alert severities, most severe first (the order of every alert list, chart and badge)
SEVERITY_ORDER: tuple[str, ...] = ("critical", "warning", "info")
SEVERITY_RANK: dict[str, int] = {s: i for i, s in enumerate(SEVERITY_ORDER)}
#: default share of revenue above which a customer's margin is at risk (AnalysisContext.at_risk_share)
AT_RISK_COST_SHARE = 0.80


@dataclass(frozen=True)
class Metric:
    """A named KPI with its unit and the formula that produced it."""

    value: float | int | str | None
    unit: str  # "USD", "calls", "%", "ms", "tokens", "USD/call", ...
    label: str
    formula: str = ""


@dataclass(frozen=True)
class Recommendation:
    title: str
    detail: str
    monthly_impact_usd: float  # estimated saving (or revenue gained) per month
    priority: Priority = "medium"
    category: str = ""


@dataclass(frozen=True)
class Alert:
    id: str  # stable across refreshes for the same condition (kind + entity + bucket)
    severity: Severity
    kind: str  # "anomaly", "budget", "spike", "portfolio", ...
    entity: str  # "customer:cust_0042", "model:gpt-4", ...
    message: str
    value: float
    threshold: float
    time: pd.Timestamp | None = None


@dataclass
class AnalysisResult:
    name: str
    title: str
    metrics: dict[str, Metric] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    recommendations: list[Recommendation] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    #: how each pro-rating, normalisation or estimate was computed, keyed by what it applies to
    methods: dict[str, str] = field(default_factory=dict)

    def sorted_recommendations(self) -> list[Recommendation]:
        return sorted(self.recommendations, key=lambda r: (PRIORITY_ORDER[r.priority], -r.monthly_impact_usd))


@dataclass
class AnalysisContext:
    """Everything an analyzer needs besides the calls; defaults come from the shipped data files."""

    catalog: Catalog = field(default_factory=load_catalog)
    tiers: dict[str, Tier] = field(default_factory=load_tiers)
    sla_ms: float = 3000.0
    sensitivity: Sensitivity = "medium"
    min_anomaly_impact_usd: float = 1.0
    #: per-customer monthly AI budget overrides (USD); others use their tier's ai_budget_usd_month
    budgets: dict[str, float] = field(default_factory=dict)
    #: "now" for the analysis; None means the newest timestamp in the data
    as_of: pd.Timestamp | None = None
    #: subscriptions file rows overriding the inferred subscriptions (``--subscriptions``), or None
    subscriptions: SubscriptionFile | None = None
    #: a silence longer than this many days ends a subscription (metering.subscriptions)
    churn_after_days: int = DEFAULT_CHURN_AFTER_DAYS
    #: budgets from a budgets file (scope, id, monthly USD, thresholds): customers, organizations, products,
    #: API keys
    scope_budgets: tuple[ScopeBudget, ...] = ()
    #: a customer's margin is at risk when its cost exceeds this share of its revenue
    at_risk_share: float = AT_RISK_COST_SHARE
    #: free-form parameters of individual analyzers (e.g. pricing markups), documented per analyzer
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def z_threshold(self) -> float:
        return SENSITIVITY_Z[self.sensitivity]

    def tier_prices(self) -> dict[str, float]:
        return {n: t.price_usd_month for n, t in self.tiers.items()}
