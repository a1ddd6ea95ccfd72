"""Ingest while the generator writes the same CSV: every posted record lands whole and once.

The generator runs as its own process (the CLI) at live pace, so it is still appending slices of
simulated calls every 0.2 s while ~200 single records (some with an Idempotency-Key, re-posted twice)
and one batch of 500 go through the ingest server from several threads. Both writers take the store's
flock per append; the file must end with no malformed line, each posted call once, and every simulated
row the generator's manifest counts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from metering.manifest import read_manifest
from metering.store import header_line, read_calls_report
from tests.ingest.ingest_helpers import BATCH, KEY, SINGLE, ingest_server, wire_record

REPO = Path(__file__).resolve().parents[2]
SINGLES = 200
BATCH_SIZE = 500
THREADS = 6
#: live pace at 4x the default speed (a simulated day every 0.5 s, ~3 MB/s of CSV): the 30 MB run lasts
#: ~9 s of wall time however fast the machine, several times what the posts take (~2 s)
GENERATE = ["generate", "--target-mb", "30", "--pace", "live", "--speed", "172800", "--seed", "3", "--quiet"]


def post_singles(url: str, records: list[dict], keyed: set[str]) -> list[tuple[str, int, int]]:
    """Post each record; keyed ones go three times with the same Idempotency-Key (201, then 200, 200)."""
    answers = []
    with requests.Session() as http:
        for record in records:
            txn = record["transactionId"]
            headers = {"x-api-key": KEY} | ({"Idempotency-Key": f"idem-{txn}"} if txn in keyed else {})
            for attempt in range(3 if txn in keyed else 1):
                answer = http.post(url + SINGLE, json=record, headers=headers, timeout=60)
                answers.append((txn, attempt, answer.status_code))
    return answers


def wait_for_rows(csv: Path, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """Until the generator has appended simulated rows after its header (its reset is behind it)."""
    header = len(header_line())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"generator exited early: {proc.communicate()}"
        manifest = read_manifest(csv)
        if csv.exists() and csv.stat().st_size > header and manifest and manifest.state == "generating":
            return
        time.sleep(0.05)
    raise AssertionError("the generator wrote no rows in time")


@pytest.mark.slow
def test_records_posted_while_the_generator_appends_land_whole_and_once(tmp_path):
    csv = tmp_path / "calls.csv"
    singles = [wire_record(transactionId=f"single-{i:04d}") for i in range(SINGLES)]
    keyed = {r["transactionId"] for r in singles[::4]}
    batch = [wire_record(transactionId=f"batch-{i:04d}") for i in range(BATCH_SIZE)]
    posted = {r["transactionId"] for r in singles + batch}

    with ingest_server(csv) as (srv, _):
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", *GENERATE, "--data", str(csv)],
            cwd=REPO,
            env=os.environ | {"PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for_rows(csv, proc)
            size_before = csv.stat().st_size
            with ThreadPoolExecutor(THREADS + 1) as pool:
                batch_answer = pool.submit(
                    requests.post, srv.url + BATCH, json=batch, headers={"x-api-key": KEY}, timeout=60
                )
                parts = [
                    pool.submit(post_singles, srv.url, singles[i::THREADS], keyed) for i in range(THREADS)
                ]
                answers = [a for part in parts for a in part.result()]
                batch_result = batch_answer.result()
            still_running = proc.poll() is None
            size_after = csv.stat().st_size
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    assert proc.returncode == 0, err
    assert still_running, "the generator finished before the posts did: nothing was concurrent"
    assert size_after > size_before
    assert batch_result.status_code == 201 and batch_result.json()["rows"] == BATCH_SIZE
    assert len(answers) == SINGLES + 2 * len(keyed)
    for txn, attempt, status in answers:
        assert status == (201 if attempt == 0 else 200), (txn, attempt, status)

    manifest = read_manifest(csv)
    assert manifest is not None and manifest.state == "done"
    report = read_calls_report(csv)
    assert report.malformed == []
    frame = report.frame
    assert frame["call_id"].is_unique  # every posted call once, and no simulated call twice
    mine = frame[frame["call_id"].isin(posted)]
    assert set(mine["call_id"]) == posted
    assert set(mine["source"]) == {"metered"}
    simulated = frame[frame["source"] == "simulated"]
    assert len(simulated) == manifest.rows == sum(manifest.rows_by_scenario.values())
    assert len(frame) == len(simulated) + len(posted)
    # the two writers interleaved in the file: simulated rows were appended after posted ones
    first_posted = int(frame.index[frame["call_id"].isin(posted)].min())
    assert (frame["source"].iloc[first_posted:] == "simulated").any()
