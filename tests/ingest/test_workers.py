"""``revenium-flow ingest --workers 2``: two processes share the port and the CSV; nothing lost or doubled."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest
import requests
from ingest_helpers import wire_record

from metering.store import read_calls

ROOT = Path(__file__).resolve().parents[2]
KEY = "hak_workers_test_key"


def _start(data: Path, workers: int) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "REVENIUM_FLOW_API_KEYS": KEY, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "ingest", "--data", str(data), "--port", "0"]
        + ["--workers", str(workers), "--threads", "8"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    m = re.search(r"http://[\d.]+:(\d+)", line)
    assert m, line + proc.stderr.read()
    url = f"http://127.0.0.1:{m.group(1)}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            status = requests.get(url + "/meter/v2/status", headers={"x-api-key": KEY}, timeout=10)
            if status.status_code == 200:
                return proc, url
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.1)
    for child in psutil.Process(proc.pid).children(recursive=True):  # they hold the pipes open
        child.kill()
    proc.kill()
    raise AssertionError("ingest workers did not start: " + proc.stderr.read())


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


@pytest.mark.slow
def test_two_processes_lose_and_duplicate_nothing_under_concurrent_writers(tmp_path):
    data = tmp_path / "calls.csv"
    proc, url = _start(data, workers=2)
    try:
        assert len(psutil.Process(proc.pid).children()) == 2
        expected: set[str] = set()
        lock = threading.Lock()
        errors: list[str] = []
        headers = {"x-api-key": KEY}

        def plain_writer(n: int) -> None:
            for _ in range(n):
                rec = wire_record()
                r = requests.post(url + "/meter/v2/ai/completions", json=rec, headers=headers, timeout=30)
                if r.status_code != 201:
                    errors.append(f"{r.status_code} {r.text}")
                    continue
                with lock:
                    expected.add(rec["transactionId"])

        def batch_writer(n: int) -> None:
            for _ in range(n):
                recs = [wire_record() for _ in range(50)]
                key = {"Idempotency-Key": str(uuid.uuid4())}
                for _attempt in range(2):  # a retry of the same batch: stored once
                    r = requests.post(
                        url + "/meter/v2/ai/completions/batch", json=recs, headers=headers | key, timeout=30
                    )
                    if r.status_code not in (200, 201):
                        errors.append(f"{r.status_code} {r.text}")
                with lock:
                    expected.update(rec["transactionId"] for rec in recs)

        # the same Idempotency-Key sent at the same moment on separate connections (likely both processes)
        def racing_pair(n: int) -> None:
            for _ in range(n):
                rec = wire_record()
                key = {"Idempotency-Key": str(uuid.uuid4())}
                answers: list[int] = []

                def send(rec=rec, key=key, answers=answers) -> None:
                    r = requests.post(
                        url + "/meter/v2/ai/completions", json=rec, headers=headers | key, timeout=30
                    )
                    answers.append(r.status_code)

                pair = [threading.Thread(target=send) for _ in range(3)]
                for t in pair:
                    t.start()
                for t in pair:
                    t.join()
                if sorted(answers) != [200, 200, 201]:
                    errors.append(f"same key answered {sorted(answers)}")
                with lock:
                    expected.add(rec["transactionId"])

        threads = [threading.Thread(target=plain_writer, args=(40,)) for _ in range(4)]
        threads += [threading.Thread(target=batch_writer, args=(5,)) for _ in range(2)]
        threads += [threading.Thread(target=racing_pair, args=(25,)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
    finally:
        _stop(proc)
    df = read_calls(data)
    ids = df["call_id"].astype(str)
    assert not ids.duplicated().any(), ids[ids.duplicated()].tolist()[:5]
    assert set(ids) == expected
    assert len(df) == 4 * 40 + 2 * 5 * 50 + 2 * 25
    assert df["api_key_id"].astype(str).nunique() == 1


def test_a_bad_catalog_is_refused_before_any_worker_starts(tmp_path, capsys):
    """``--prices`` is loaded once, in the parent, before binding or forking: a bad file is exit 2."""
    from cli import main

    bad = tmp_path / "prices.json"
    bad.write_text("{not json", encoding="utf-8")
    assert main(["ingest", "--data", str(tmp_path / "c.csv"), "--port", "0", "--prices", str(bad)]) == 2
    assert "prices.json" in capsys.readouterr().err
    assert not (tmp_path / "c.csv").exists()
