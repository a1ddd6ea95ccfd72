"""GET /meter/openapi.json: a valid OpenAPI document generated from the mapping's own field tables."""

from __future__ import annotations

import jsonschema
import pytest
import requests
from ingest_helpers import KEY, ingest_server, wire_record
from openapi_spec_validator import validate

from ingest import mapping
from ingest.batch_mapping import WIRE_FIELDS
from ingest.openapi import OPENAPI_ROUTE, build_openapi, record_schema


def _record_validator(doc):
    return {**doc["components"]["schemas"]["Record"], "components": doc["components"]}


def test_document_is_valid_openapi_and_names_every_route():
    doc = build_openapi()
    validate(doc)
    assert set(doc["paths"]) == {
        "/meter/v2/ai/completions",
        "/meter/v2/ai/completions/batch",
        "/v1/traces",
        "/meter/v2/status",
        OPENAPI_ROUTE,
    }


def test_every_field_the_mapping_reads_is_described_from_its_tables():
    props = record_schema()["properties"]
    assert set(WIRE_FIELDS) <= set(props)
    assert record_schema()["required"] == list(mapping.REQUIRED_WIRE)
    for wire, column in mapping.WIRE_TO_COLUMN.items():
        if "." not in wire:
            assert f"`{column}`" in props[wire]["description"], wire
    assert props["subscriptionTier"]["enum"] == ["starter", "pro", "enterprise"]
    assert props["isStreamed"]["type"] == "boolean"


def test_served_document_validates_accepted_requests_and_refuses_bad_ones(tmp_path):
    with ingest_server(tmp_path / "calls.csv") as (srv, _state):
        url = srv.url
        doc = requests.get(url + OPENAPI_ROUTE, timeout=10).json()
        schema = _record_validator(doc)
        records = [wire_record(), wire_record(isStreamed=True, timeToFirstToken=120, operationType="CHAT")]
        for record in records:
            jsonschema.validate(record, schema)
            r = requests.post(
                url + "/meter/v2/ai/completions", json=record, headers={"x-api-key": KEY}, timeout=10
            )
            assert r.status_code == 201
            jsonschema.validate(r.json(), doc["components"]["schemas"]["Stored"])
        bad = wire_record(inputTokenCount=-1)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
        r = requests.post(url + "/meter/v2/ai/completions", json=bad, headers={"x-api-key": KEY}, timeout=10)
        assert r.status_code == 422
        jsonschema.validate(r.json(), doc["components"]["schemas"]["Error"])
