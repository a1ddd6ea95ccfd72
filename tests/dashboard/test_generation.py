"""Generation control: argv, form validation, one run per data file, Stop with nothing running."""

from __future__ import annotations

import subprocess
import sys

from dashboard.generation import GenerationControl, generator_command, validate_request


def test_generator_command_is_the_cli_subprocess(tmp_path):
    cmd = generator_command(tmp_path / "c.csv", 3.0, "max", 7)
    assert cmd[:4] == [sys.executable, "-m", "cli", "generate"]
    assert cmd[cmd.index("--target-mb") + 1] == "3"
    assert cmd[cmd.index("--pace") + 1] == "max"
    assert cmd[cmd.index("--seed") + 1] == "7"
    assert cmd[cmd.index("--data") + 1] == str(tmp_path / "c.csv")


def test_validate_request_names_the_bad_field():
    assert validate_request("3", "max", "42") == (3.0, "max", 42)
    assert validate_request(None, "max", 1).startswith("target MB")
    assert validate_request(0, "max", 1).startswith("target MB")
    assert validate_request(3, "warp", 1).startswith("pace")
    assert validate_request(3, "live", "x").startswith("seed")
    assert validate_request(3, "live", -1).startswith("seed")


def test_invalid_form_starts_nothing(tmp_path):
    control = GenerationControl()
    out = control.start(tmp_path / "c.csv", "abc", "max", 1)
    assert not out.ok and "target MB" in out.message
    assert not control.running(tmp_path / "c.csv")


def test_refused_while_another_process_writes_the_file(tmp_path):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        out = GenerationControl().start(tmp_path / "c.csv", 1, "max", 1, external_pid=other.pid)
        assert not out.ok and "Refused" in out.message and str(other.pid) in out.message
    finally:
        other.kill()
        other.wait()


def test_stop_without_a_run_says_so(tmp_path):
    out = GenerationControl().stop(tmp_path / "c.csv")
    assert not out.ok and "Nothing to stop" in out.message


def test_one_run_at_a_time_then_stop(tmp_path):
    data = tmp_path / "c.csv"
    control = GenerationControl()
    first = control.start(data, 20, "live", 3)
    try:
        assert first.ok
        second = control.start(data, 20, "live", 3)
        assert not second.ok and "already in progress" in second.message
    finally:
        assert control.stop(data).ok
        assert control.wait(data, timeout=30) is not None
    assert not control.running(data)
