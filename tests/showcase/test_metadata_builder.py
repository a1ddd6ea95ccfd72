"""The fluent metadata builder: validated at once, rendered for REST and for OTel, accepted by the server."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ingest.mapping import map_revenium
from showcase.metadata.metadata_builder import MetadataBuilder, MetadataError
from tests.ingest.ingest_helpers import wire_record


def full() -> MetadataBuilder:
    return (
        MetadataBuilder()
        .customer("cust_7")
        .organization("org_1")
        .product("support_bot")
        .feature("chat")
        .tier("Pro")
        .environment("production")
        .trace("trace-9")
        .custom("transactionName", "answer-ticket")
    )


def test_wire_and_otel_forms_carry_every_field():
    meta = full().build()
    assert meta.to_wire() == {
        "subscriber": {"id": "cust_7"},
        "organizationName": "org_1",
        "productName": "support_bot",
        "agent": "chat",
        "subscriptionTier": "pro",
        "environment": "production",
        "traceId": "trace-9",
        "transactionName": "answer-ticket",
    }
    attrs = meta.to_otel_attributes()
    assert attrs["revenium.customer"] == "cust_7" and attrs["revenium.feature"] == "chat"
    assert attrs["deployment.environment.name"] == "production"
    assert attrs["revenium.custom.transactionName"] == "answer-ticket"
    assert "traceId" not in attrs  # OTel carries the trace id natively


def test_the_server_maps_builder_output_to_the_right_columns():
    record = wire_record()
    for key in ("subscriber", "organizationName", "productName", "agent", "environment", "traceId"):
        record.pop(key)
    mapped = map_revenium(record | full().build().to_wire())
    assert mapped.problems == []
    row = mapped.record
    assert (row["customer_id"], row["organization_id"], row["product_id"], row["feature_id"]) == (
        "cust_7",
        "org_1",
        "support_bot",
        "chat",
    )
    assert (row["subscription_tier"], row["environment"], row["trace_id"]) == ("pro", "production", "trace-9")


@pytest.mark.parametrize(
    ("build", "field", "reason"),
    [
        (lambda b: b.customer(""), "customer", "must not be empty"),
        (lambda b: b.customer(42), "customer", "expected a string"),
        (lambda b: b.organization("x" * 500), "organization", "longer than"),
        (lambda b: b.product("a\nb"), "product", "line break"),
        (lambda b: b.tier("platinum"), "tier", "expected one of starter, pro, enterprise"),
        (lambda b: b.environment("moon"), "environment", "unknown value"),
        (lambda b: b.custom("Bad-Key", 1), "custom['Bad-Key']", "camelCase"),
        (lambda b: b.custom("model", "x"), "custom['model']", "set by the tracker"),
        (lambda b: b.custom("note", float("nan")), "custom['note']", "string, number or boolean"),
        (lambda b: b.custom("note", "x" * 300), "custom['note']", "at most 256"),
        (lambda b: b.product("p").build(), "customer", "required but not set"),
    ],
)
def test_mistakes_name_the_field_and_reason(build, field, reason):
    with pytest.raises(MetadataError) as err:
        build(MetadataBuilder())
    assert err.value.field == field and reason in err.value.reason
    assert str(err.value).startswith(f"metadata {field}: ")


def test_example_runs():
    out = subprocess.run(
        [sys.executable, "-m", "showcase.metadata.metadata_builder"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert '"organizationName": "org_008"' in out and "metadata tier: unknown value 'platinum'" in out
