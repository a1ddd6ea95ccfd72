"""Meter LLM calls as OpenTelemetry GenAI spans, exported with the standard OTLP/HTTP exporter.

    otel = ReveniumOTelIntegration("http://127.0.0.1:8050", api_key="...")
    otel.track_ai_completion("anthropic", "claude-sonnet-4", 1200, 350, duration_ms=900, metadata=meta)
    flow = otel.track_workflow_cost("ticket-triage", [step1, step2, step3], metadata=meta)
    print(flow.trace_id, flow.total_cost)       # one trace; total = sum of its calls
    otel.shutdown()                             # flush spans and stop the exporter

Each call is a CLIENT span named ``"{operation} {model}"`` carrying the GenAI semantic-convention
attributes (``gen_ai.operation.name``, ``gen_ai.provider.name``, ``gen_ai.request.model``,
``gen_ai.usage.input_tokens``/``output_tokens``, ``gen_ai.usage.cache_read.input_tokens``,
``gen_ai.usage.reasoning.output_tokens``), the cost proposal ``gen_ai.usage.cost.amount``/``.currency``
(priced from ``metering.prices`` when the caller gives none), and the metadata attributes
(``revenium.customer``, ``revenium.organization``, ``revenium.product``, ``revenium.feature``, ...).
The dashboard's ``/v1/traces`` receiver turns each such span into one call record with the span's
trace id; the workflow's parent span has no GenAI attributes and is not a call.

Run ``python -m showcase.instrumentation.revenium_otel`` against a dashboard started with
``REVENIUM_FLOW_API_KEYS=hak_demo_key_1`` (stand-in numbers, no provider network).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from metering.prices import Catalog, load_catalog
from showcase.metadata.metadata_builder import Metadata

FINISH_REASONS = ("stop", "length", "content_filter", "tool_calls", "error")


@dataclass(frozen=True)
class CompletionRecord:
    """One metered call as sent: its span/trace ids and its cost (None = model not in the catalog)."""

    trace_id: str
    span_id: str
    model: str
    cost: float | None


@dataclass(frozen=True)
class WorkflowCost:
    """A multi-step workflow: one trace whose total cost is the sum of its priced calls."""

    name: str
    trace_id: str
    steps: list[CompletionRecord] = field(default_factory=list)

    @property
    def total_cost(self) -> float:
        return math.fsum(s.cost for s in self.steps if s.cost is not None)

    @property
    def unpriced_steps(self) -> int:
        return sum(s.cost is None for s in self.steps)


class ReveniumOTelIntegration:
    """A tracer provider of its own (the global one is left alone) exporting GenAI spans via OTLP/HTTP."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        service_name: str = "revenium-flow-showcase",
        environment: str = "production",
        exporter: SpanExporter | None = None,
        batch: bool = True,
        catalog: Catalog | None = None,
    ) -> None:
        resource = Resource.create({"service.name": service_name, "deployment.environment.name": environment})
        self.provider = TracerProvider(resource=resource)
        self.exporter = exporter or OTLPSpanExporter(
            endpoint=base_url.rstrip("/") + "/v1/traces", headers={"x-api-key": api_key}
        )
        processor = BatchSpanProcessor(self.exporter) if batch else SimpleSpanProcessor(self.exporter)
        self.provider.add_span_processor(processor)
        self.tracer = self.provider.get_tracer("revenium-flow.showcase")
        self.catalog = catalog or load_catalog()

    def price(
        self,
        provider: str,
        model: str,
        input_tokens: int,
        output_tokens: int,
        cached: int = 0,
        reasoning: int = 0,
    ) -> float | None:
        """List-price cost from the metering catalog; None when the model is not in it."""
        cost = float(
            self.catalog.price_calls(
                [provider], [model], [input_tokens], [output_tokens], [cached], [reasoning]
            )[0]
        )
        return None if math.isnan(cost) else cost

    def track_ai_completion(
        self,
        provider: str,
        model: str,
        input_tokens: int,
        output_tokens: int,
        *,
        duration_ms: float,
        start_time_ns: int | None = None,
        cached_tokens: int = 0,
        reasoning_tokens: int = 0,
        operation: str = "chat",
        finish_reason: str = "stop",
        cost: float | None = None,
        metadata: Metadata | None = None,
        error: str | None = None,
        context: Any = None,
    ) -> CompletionRecord:
        """Record one finished LLM call as a GenAI span; returns its ids and the cost it reported."""
        if cost is None:
            cost = self.price(provider, model, input_tokens, output_tokens, cached_tokens, reasoning_tokens)
        start = start_time_ns if start_time_ns is not None else time.time_ns() - int(duration_ms * 1e6)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
            "gen_ai.usage.input_tokens": int(input_tokens),
            "gen_ai.usage.output_tokens": int(output_tokens),
            "gen_ai.usage.cache_read.input_tokens": int(cached_tokens),
            "gen_ai.usage.reasoning.output_tokens": int(reasoning_tokens),
            "gen_ai.response.finish_reasons": [finish_reason],
        }
        if cost is not None:
            attributes["gen_ai.usage.cost.amount"] = float(cost)
            attributes["gen_ai.usage.cost.currency"] = "USD"
        if metadata is not None:
            attributes.update(metadata.to_otel_attributes())
        span = self.tracer.start_span(
            f"{operation} {model}",
            context=context,
            kind=SpanKind.CLIENT,
            attributes=attributes,
            start_time=start,
        )
        if error:
            span.set_status(Status(StatusCode.ERROR, error))
        span.end(end_time=start + int(duration_ms * 1e6))
        ctx = span.get_span_context()
        return CompletionRecord(f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}", model, cost)

    def track_workflow_cost(
        self, name: str, steps: list[dict[str, Any]], *, metadata: Metadata | None = None
    ) -> WorkflowCost:
        """Run a multi-step workflow as one trace: a parent span and one GenAI child span per step.

        Each step is the keyword arguments of ``track_ai_completion`` (provider, model, input_tokens,
        output_tokens, duration_ms, ...). Steps are laid out one after the other in time; the parent span
        carries ``revenium.workflow.total_cost``, the sum of the steps' costs.
        """
        start = time.time_ns() - int(sum(s["duration_ms"] for s in steps) * 1e6)
        parent = self.tracer.start_span(f"workflow {name}", kind=SpanKind.INTERNAL, start_time=start)
        context = trace.set_span_in_context(parent)
        records: list[CompletionRecord] = []
        at = start
        for step in steps:
            records.append(
                self.track_ai_completion(**{"metadata": metadata, **step}, start_time_ns=at, context=context)
            )
            at += int(step["duration_ms"] * 1e6)
        ctx = parent.get_span_context()
        flow = WorkflowCost(name, f"{ctx.trace_id:032x}", records)
        parent.set_attributes(
            {
                "revenium.workflow.name": name,
                "revenium.workflow.steps": len(records),
                "revenium.workflow.total_cost": flow.total_cost,
            }
        )
        parent.end(end_time=at)
        return flow

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.provider.force_flush(timeout_millis)

    def shutdown(self) -> None:
        self.provider.shutdown()


#: the example ticket-triage workflow: classify with a small model, draft with Claude, check with GPT-4o
TICKET_TRIAGE_STEPS: list[dict[str, Any]] = [
    {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "input_tokens": 900,
        "output_tokens": 40,
        "duration_ms": 310,
        "operation": "chat",
    },
    {
        "provider": "anthropic",
        "model": "claude-sonnet-4",
        "input_tokens": 4200,
        "output_tokens": 650,
        "cached_tokens": 3000,
        "duration_ms": 2100,
    },
    {
        "provider": "openai",
        "model": "gpt-4o",
        "input_tokens": 1300,
        "output_tokens": 300,
        "duration_ms": 950,
    },
]


def main() -> int:
    from showcase.metadata.metadata_builder import MetadataBuilder

    base_url = os.environ.get("REVENIUM_FLOW_URL", "http://127.0.0.1:8050")
    api_key = os.environ.get("REVENIUM_FLOW_API_KEY", "hak_demo_key_1")
    meta = (
        MetadataBuilder()
        .customer("cust_demo")
        .organization("org_demo")
        .product("support_bot")
        .feature("ticket_triage")
        .tier("enterprise")
        .build()
    )
    otel = ReveniumOTelIntegration(base_url, api_key, environment="development")
    single = otel.track_ai_completion("openai", "gpt-4o", 1500, 220, duration_ms=840, metadata=meta)
    flow = otel.track_workflow_cost("ticket-triage", TICKET_TRIAGE_STEPS, metadata=meta)
    ok = otel.force_flush()
    otel.shutdown()
    print(f"single call {single.span_id}: ${single.cost:.6f}")
    print(
        f"workflow {flow.name} trace {flow.trace_id}: {len(flow.steps)} calls, total ${flow.total_cost:.6f}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
