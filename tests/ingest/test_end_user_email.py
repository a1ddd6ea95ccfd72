"""An end user known only by email is stored as a pseudonymous id, never as the address."""

from __future__ import annotations

import json

import requests

from ingest.batch_mapping import map_batch
from ingest.mapping import map_revenium
from metering.schema import EMAIL_ID_PREFIX, email_customer_id, id_problem
from metering.store import read_calls
from tests.ingest.ingest_helpers import BATCH, KEY, SINGLE, ingest_server, wire_record


def test_email_id_is_stable_case_blind_and_a_valid_id() -> None:
    one = email_customer_id("Ana.Lopez@Example.com")
    assert one == email_customer_id(" ana.lopez@example.com ")
    assert one != email_customer_id("ana.lopez2@example.com")
    assert one.startswith(EMAIL_ID_PREFIX) and len(one) == len(EMAIL_ID_PREFIX) + 16
    assert "@" not in one and id_problem(one) is None


def test_single_and_batch_mappings_store_the_same_email_id() -> None:
    bodies = [
        wire_record(subscriber={"email": "ana@example.com"}),
        wire_record(subscriber={"id": "", "email": "ANA@example.com"}),
        wire_record(subscriber={"id": "cust_7", "email": "bob@example.com"}),  # the id wins
        wire_record(subscriber={}),
    ]
    single = [map_revenium(b).record["customer_id"] for b in bodies]
    expected = email_customer_id("ana@example.com")
    assert single == [expected, expected, "cust_7", "unknown"]
    batch = map_batch(bodies)
    assert batch.problems == [] and batch.arrays["customer_id"].to_pylist() == single


def test_a_bad_email_is_refused_as_sent_not_hashed_into_a_valid_id() -> None:
    mapped = map_revenium(wire_record(subscriber={"email": "ana@example.com\n"}))
    assert mapped.record is None and any(
        "customer" in p.field or "subscriber" in p.field for p in mapped.problems
    )
    batch = map_batch([wire_record(subscriber={"email": "ana@example.com\n"})])
    assert [p.field for p in batch.problems] == [f"[0].{p.field}" for p in mapped.problems]


def test_no_email_address_reaches_the_csv(tmp_path) -> None:
    with ingest_server(tmp_path / "calls.csv") as (srv, state):
        headers = {"x-api-key": KEY}
        one = wire_record(subscriber={"email": "ana@example.com"})
        many = [wire_record(subscriber={"email": f"user{i}@example.com"}) for i in range(5)]
        assert (
            requests.post(srv.url + SINGLE, data=json.dumps(one), headers=headers, timeout=10).status_code
            == 201
        )
        assert requests.post(srv.url + BATCH, data=json.dumps(many), headers=headers, timeout=10).ok
        text = state.data_path.read_text()
        frame = read_calls(state.data_path)
    assert "@" not in text
    assert sorted(frame["customer_id"]) == sorted(
        email_customer_id(b["subscriber"]["email"]) for b in [one, *many]
    )
