"""The simulated world's default figures (domain-facts §2–§5), kept as one table of data.

Prices are NOT here: they come from the metering catalog. Everything in this module is a usage
pattern (who calls, how often, with which model, how many tokens); ``TrafficModel`` is a frozen
dataclass so a caller can build a variant with ``dataclasses.replace``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Calls per customer per simulated day, by archetype, before ``rate_scale`` (the seed's figures), and
# a prompt/answer size multiplier: heavy users send longer contexts (RAG, agents), which is what makes
# some of them costly to serve.
ARCHETYPES: dict[str, dict] = {
    "light": {
        "share": 0.70,
        "calls_per_day": (5.0, 20.0),
        "tokens": 1.0,
        "tiers": {"starter": 0.60, "pro": 0.35, "enterprise": 0.05},
    },
    "power": {
        "share": 0.20,
        "calls_per_day": (50.0, 150.0),
        "tokens": 1.6,
        "tiers": {"starter": 0.10, "pro": 0.70, "enterprise": 0.20},
    },
    "heavy": {
        "share": 0.10,
        "calls_per_day": (200.0, 500.0),
        "tokens": 2.5,
        "tiers": {"starter": 0.00, "pro": 0.20, "enterprise": 0.80},
    },
}

# Share of calls by provider (domain-facts §2).
MARKET_SHARE: dict[str, float] = {
    "openai": 0.40,
    "anthropic": 0.25,
    "google": 0.15,
    "bedrock": 0.10,
    "azure": 0.05,
    "mistral": 0.03,
    "cohere": 0.02,
}

# Relative weight of each model within its provider; catalog models missing here get weight 1/n.
MODEL_WEIGHTS: dict[str, float] = {
    "gpt-4": 0.15,
    "gpt-4-turbo": 0.15,
    "gpt-3.5-turbo": 0.20,
    "gpt-4o": 0.30,
    "gpt-4o-mini": 0.20,
    "claude-opus-4": 0.10,
    "claude-sonnet-4": 0.40,
    "claude-3.5-sonnet": 0.25,
    "claude-haiku-4": 0.25,
    "claude-instant": 0.30,
    "claude-v2": 0.20,
    "titan-text-express": 0.30,
    "titan-text-lite": 0.20,
    "gemini-pro": 0.25,
    "gemini-1.5-pro": 0.35,
    "gemini-1.5-flash": 0.40,
    "command": 0.40,
    "command-light": 0.30,
    "command-r": 0.30,
    "mistral-large": 0.30,
    "mistral-medium": 0.30,
    "mistral-small": 0.40,
    "gpt-4-azure": 0.40,
    "gpt-35-turbo-azure": 0.60,
}

# Latency speed factor per model (domain-facts §4; small models faster). Unknown models: 1.0.
SPEED: dict[str, float] = {
    "gpt-4": 1.5,
    "gpt-4-turbo": 1.0,
    "gpt-3.5-turbo": 0.5,
    "gpt-4o": 0.7,
    "gpt-4o-mini": 0.4,
    "claude-opus-4": 1.4,
    "claude-sonnet-4": 0.9,
    "claude-3.5-sonnet": 0.9,
    "claude-haiku-4": 0.4,
    "claude-instant": 0.6,
    "claude-v2": 1.2,
    "titan-text-express": 0.6,
    "titan-text-lite": 0.4,
    "gemini-pro": 0.7,
    "gemini-1.5-pro": 0.9,
    "gemini-1.5-flash": 0.35,
    "command": 0.8,
    "command-light": 0.5,
    "command-r": 0.6,
    "mistral-large": 1.0,
    "mistral-medium": 0.8,
    "mistral-small": 0.45,
    "gpt-4-azure": 1.5,
    "gpt-35-turbo-azure": 0.5,
}

# Token shapes by task type: (median input, median output); lognormal with sigma below.
TASKS: dict[str, tuple[float, float]] = {
    "chat": (600.0, 400.0),
    "summarization": (1600.0, 180.0),
    "code_generation": (350.0, 900.0),
    "translation": (500.0, 500.0),
    "analysis": (1400.0, 600.0),
    "qa": (200.0, 120.0),
}
TOKEN_SIGMA = 0.55
#: tasks a cheaper model serves as well (cost_optimization routes these)
SIMPLE_TASKS = ("qa", "translation", "chat")

# User-facing features and the task types each one issues (weights).
FEATURES: dict[str, dict[str, float]] = {
    "chat": {"chat": 0.85, "qa": 0.15},
    "code_generation": {"code_generation": 0.9, "chat": 0.1},
    "summarization": {"summarization": 1.0},
    "translation": {"translation": 1.0},
    "document_analysis": {"analysis": 0.7, "summarization": 0.3},
    "support_assistant": {"qa": 0.6, "chat": 0.4},
    "search": {"qa": 0.7, "summarization": 0.3},
    "insights": {"analysis": 1.0},
}
#: the feature feature_launch introduces (never part of a product's initial feature set)
LAUNCH_FEATURE = "code"
LAUNCH_FEATURE_TASKS: dict[str, float] = {"code_generation": 1.0}

# Customer time zones (domain-facts §5 timezone_pattern): fixed UTC offsets in hours, no DST.
TIME_ZONES: dict[str, dict] = {
    "America/New_York": {"share": 0.30, "offset": -5.0, "region": "us-east-1"},
    "America/Los_Angeles": {"share": 0.20, "offset": -8.0, "region": "us-west-2"},
    "Europe/London": {"share": 0.15, "offset": 0.0, "region": "eu-west-2"},
    "Europe/Paris": {"share": 0.10, "offset": 1.0, "region": "eu-west-3"},
    "Asia/Tokyo": {"share": 0.15, "offset": 9.0, "region": "ap-northeast-1"},
    "Asia/Kolkata": {"share": 0.10, "offset": 5.5, "region": "ap-south-1"},
}

ENVIRONMENTS: dict[str, float] = {"production": 0.95, "staging": 0.04, "development": 0.01}

USER_AGENTS: dict[str, float] = {
    "openai-python/1.54.4": 0.24,
    "anthropic-sdk-python/0.39.0": 0.16,
    "revenium-middleware-python/0.3.2": 0.14,
    "langchain-core/0.3.21": 0.14,
    "openai-node/4.73.0": 0.10,
    "llama-index-core/0.12.2": 0.06,
    "boto3/1.35.68": 0.06,
    "google-genai/0.3.0": 0.05,
    "curl/8.5.0": 0.03,
    "Go-http-client/2.0": 0.02,
}

# Outcome of a call (schema stop reasons). Error outcomes have zero output tokens.
STOP_REASONS: dict[str, float] = {
    "END": 0.885,
    "END_SEQUENCE": 0.07,
    "TOKEN_LIMIT": 0.02,
    "ERROR": 0.015,
    "TIMEOUT": 0.006,
    "CANCELLED": 0.004,
}


@dataclass(frozen=True)
class TrafficModel:
    """All usage figures the synthesis reads; defaults are the tables above."""

    archetypes: dict = field(default_factory=lambda: ARCHETYPES)
    market_share: dict = field(default_factory=lambda: MARKET_SHARE)
    model_weights: dict = field(default_factory=lambda: MODEL_WEIGHTS)
    speed: dict = field(default_factory=lambda: SPEED)
    tasks: dict = field(default_factory=lambda: TASKS)
    token_sigma: float = TOKEN_SIGMA
    simple_tasks: tuple = SIMPLE_TASKS
    features: dict = field(default_factory=lambda: FEATURES)
    launch_feature: str = LAUNCH_FEATURE
    launch_feature_tasks: dict = field(default_factory=lambda: LAUNCH_FEATURE_TASKS)
    time_zones: dict = field(default_factory=lambda: TIME_ZONES)
    environments: dict = field(default_factory=lambda: ENVIRONMENTS)
    user_agents: dict = field(default_factory=lambda: USER_AGENTS)
    stop_reasons: dict = field(default_factory=lambda: STOP_REASONS)
    #: scales every archetype's calls/day so that the default 50 MB run covers about a month
    rate_scale: float = 0.16
    #: business hours (local, [start, end)) and the share of a day's calls they carry
    business_hours: tuple = (8, 20)
    business_share: float = 0.85
    #: weekend volume relative to a weekday (base traffic)
    weekend_factor: float = 0.70
    #: share of calls whose prompt hits the provider cache (on models with a cache-read price)
    cached_share: float = 0.30
    #: share of calls on reasoning-capable models that spend reasoning tokens
    reasoning_share: float = 0.50
    #: trace sizes 1..5 (probabilities) and the idle gap that ends a session (minutes)
    trace_sizes: tuple = (0.45, 0.25, 0.15, 0.10, 0.05)
    session_gap_minutes: float = 30.0
    #: latency: ms per token (input + output) times the model's speed factor, +/- noise, heavy tail
    ms_per_token: float = 2.0
    latency_noise: float = 0.30
    tail_share: float = 0.03
    timeout_ms: tuple = (30000, 60000)
