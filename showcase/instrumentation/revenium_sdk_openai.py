"""The main client story: the official Revenium SDK's OpenAI middleware, unmodified, metering into revenium-flow.

Install ``pip install "revenium-flow[showcase]"`` (it brings ``revenium-python-sdk[openai]``), start the
dashboard (or ``revenium-flow ingest``) with a ``hak_``-style key, point the SDK at it and run::

    REVENIUM_FLOW_API_KEYS=hak_demo_key_1 revenium-flow dashboard
    REVENIUM_METERING_API_KEY=hak_demo_key_1 REVENIUM_METERING_BASE_URL=http://127.0.0.1:8050 \\
    OPENAI_API_KEY=sk-... python -m showcase.instrumentation.revenium_sdk_openai

The SDK refuses keys that do not start with ``hak_`` or ``rev_`` (it logs "metering is disabled" and
sends nothing), so revenium-flow's example keys use that prefix. ``OPENAI_BASE_URL`` may point at any
OpenAI-compatible server (the tests use a stub on loopback). Every call made through ``openai`` after
``import revenium_middleware.openai`` is metered in the background; ``usage_metadata`` carries the
attribution revenium-flow stores (customer, organization, product, feature, task, agent/workflow name).
"""

from __future__ import annotations

import os
import sys
from typing import Any

#: the attribution the example sends with each call (SDK ``usage_metadata`` keys)
METADATA: dict[str, Any] = {
    "subscriber": {"id": "cust_0042", "email": "dev@example.com"},
    "organization_name": "org_acme",
    "product_name": "support_bot",
    "agent": "chat",
    "task_type": "chat",
    "trace_id": "showcase-trace-1",
    "transaction_name": "answer-ticket",
    "subscription_tier": "pro",
    "environment": "production",
}


def run(prompt: str = "Say hello", *, stream: bool = False, metadata: dict[str, Any] | None = None) -> str:
    """One chat completion through the OpenAI client, metered by the Revenium middleware; returns the text."""
    import openai
    import revenium_middleware
    import revenium_middleware.openai  # noqa: F401 - importing it turns metering on for every openai client

    client = openai.OpenAI()
    kwargs: dict[str, Any] = {
        "model": os.environ.get("SHOWCASE_OPENAI_MODEL", "gpt-4o-mini"),
        "messages": [{"role": "user", "content": prompt}],
        "usage_metadata": metadata or METADATA,
    }
    if stream:
        parts = []
        for chunk in client.chat.completions.create(stream=True, **kwargs):
            if chunk.choices and chunk.choices[0].delta.content:
                parts.append(chunk.choices[0].delta.content)
        text = "".join(parts)
    else:
        text = client.chat.completions.create(**kwargs).choices[0].message.content or ""
    revenium_middleware.flush_metering()  # send before returning (the SDK also flushes at exit)
    return text


def main() -> int:
    missing = [
        v for v in ("REVENIUM_METERING_API_KEY", "REVENIUM_METERING_BASE_URL") if not os.environ.get(v)
    ]
    if missing:
        print(f"set {' and '.join(missing)} (see the module docstring)", file=sys.stderr)
        return 2
    stream = "--stream" in sys.argv[1:]
    print(run(stream=stream))
    return 0


if __name__ == "__main__":
    sys.exit(main())
