"""The official Revenium SDK's OpenAI middleware, unmodified, meters a (stubbed) OpenAI call into the server.

Also: the records it sends validate against the served OpenAPI document, the SDK's fields round-trip into
the CSV and back out through ``revenium-flow analyze``, and spend per API key sums to the total.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
from flask import Flask
from openai_stub import CACHED_TOKENS, COMPLETION_TOKENS, PROMPT_TOKENS, OpenAIStub

from cli import main
from ingest.idempotency import scope_of
from ingest.routes import register_ingest
from ingest.serving import BackgroundServer
from metering.store import read_calls

ROOT = Path(__file__).resolve().parents[2]
KEY = "hak_showcase_test_key_1"
OTHER_KEY = "hak_showcase_test_key_2"


class Recorder:
    """WSGI wrapper keeping (path, body) of every request the ingest server receives."""

    def __init__(self, app: Any) -> None:
        self.app, self.seen = app, []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        self.seen.append((environ["PATH_INFO"], body))
        return self.app(environ, start_response)


def _run_example(url: str, stub: OpenAIStub, key: str, *args: str) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("REVENIUM_", "OPENAI_"))},
        "REVENIUM_METERING_API_KEY": key,
        "REVENIUM_METERING_BASE_URL": url,
        "OPENAI_BASE_URL": stub.url,
        "OPENAI_API_KEY": "sk-test",
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-m", "showcase.instrumentation.revenium_sdk_openai", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout.strip() == "Hello!", done.stdout + done.stderr[-3000:]
    assert "FAILURE" not in done.stderr, done.stderr[-3000:]


@pytest.fixture(scope="module")
def metered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data = tmp_path_factory.mktemp("sdk") / "calls.csv"
    app = Flask("sdk-test")
    state = register_ingest(app, data, api_keys=[KEY, OTHER_KEY])
    recorder = Recorder(app.wsgi_app)
    app.wsgi_app = recorder
    try:
        with BackgroundServer(app) as srv, OpenAIStub() as stub:
            _run_example(srv.url, stub, KEY)
            _run_example(srv.url, stub, KEY, "--stream")
            _run_example(srv.url, stub, OTHER_KEY)
            openapi = requests.get(srv.url + "/meter/openapi.json", timeout=10).json()
            openai_requests = list(stub.requests)
    finally:
        state.close()
    return {"data": data, "seen": recorder.seen, "openapi": openapi, "openai": openai_requests}


@pytest.mark.slow
def test_sdk_fields_round_trip_into_the_csv(metered):
    df = read_calls(metered["data"])
    assert len(df) == 3
    assert (df["provider"].astype(str) == "openai").all()
    assert (df["input_tokens"] == PROMPT_TOKENS).all() and (df["output_tokens"] == COMPLETION_TOKENS).all()
    assert (df["cached_tokens"] == CACHED_TOKENS).all()
    assert (df["customer_id"].astype(str) == "cust_0042").all()
    assert set(df["organization_id"].astype(str)) == {"org_acme"}
    assert set(df["operation_type"].astype(str)) == {"CHAT"}
    assert sorted(df["is_streamed"].astype(str)) == ["false", "false", "true"]
    assert df["time_to_first_token_ms"].notna().all()
    assert set(df["transaction_name"].astype(str)) == {"answer-ticket"}
    assert sorted(df["api_key_id"].astype(str)) == sorted([scope_of(KEY), scope_of(KEY), scope_of(OTHER_KEY)])
    assert not any(KEY in line for line in metered["data"].read_text().splitlines())  # never the key itself


@pytest.mark.slow
def test_sent_records_validate_against_the_openapi_document(metered):
    from openapi_spec_validator import validate

    doc = metered["openapi"]
    validate(doc)
    bodies = [json.loads(b) for path, b in metered["seen"] if path == "/meter/v2/ai/completions"]
    assert len(bodies) == 3
    schema = {**doc["components"]["schemas"]["Record"], "components": doc["components"]}
    for body in bodies:
        jsonschema.validate(body, schema)
    # the schema is not vacuous: a record without its required fields, or with a wrong type, fails
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"model": "gpt-4o"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**bodies[0], "isStreamed": "yes"}, schema)


@pytest.mark.slow
def test_analyze_groups_by_the_sdk_fields_and_api_key_spend_sums_to_the_total(metered, tmp_path):
    out = tmp_path / "analysis"
    assert main(["analyze", "--data", str(metered["data"]), "--out", str(out)]) == 0
    understanding = json.loads((out / "understanding.json").read_text())
    total = understanding["total_cost_usd"]
    by_key = {r["api_key_id"]: r["cost_usd"] for r in understanding["cost_by_api_key"]}
    assert set(by_key) == {scope_of(KEY), scope_of(OTHER_KEY)}
    assert sum(by_key.values()) == pytest.approx(total, rel=1e-12)
    assert by_key[scope_of(KEY)] == pytest.approx(2 * by_key[scope_of(OTHER_KEY)])
    assert [r["operation_type"] for r in understanding["cost_by_operation_type"]] == ["CHAT"]
    assert [r["transaction_name"] for r in understanding["cost_by_transaction_name"]] == ["answer-ticket"]
    performance = json.loads((out / "performance.json").read_text())
    [row] = performance["ttft_by_model"]
    assert row["model"] == "gpt-4o-mini" and row["streamed_calls"] == 1 and row["ttft_p50_ms"] >= 0
