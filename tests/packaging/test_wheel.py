"""The built wheel, installed in a fresh venv and run from another folder, serves a styled dashboard."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 5.0) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), resp.read()


@pytest.mark.slow
def test_wheel_installs_in_a_fresh_venv_and_serves_its_css(tmp_path):
    dist = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(dist), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    # no setuptools warnings (license table, missing package data, ...) while building
    noisy = [
        line
        for line in (build.stdout + build.stderr).splitlines()
        if ("Warning" in line or "deprecated" in line.lower()) and "Location" not in line
    ]
    assert noisy == [], noisy
    wheel = next(dist.glob("revenium_flow-*.whl"))
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "REVENIUM_FLOW"))}
    exe = env_dir / "bin" / "revenium-flow"
    version = subprocess.run(
        [str(exe), "--version"], capture_output=True, text=True, cwd=elsewhere, env=clean_env
    )
    assert version.stdout.startswith("revenium-flow "), version.stdout + version.stderr
    port = _free_port()
    server = subprocess.Popen(
        [str(exe), "dashboard", "--data", str(elsewhere / "calls.csv"), "--port", str(port)],
        cwd=elsewhere,
        env=clean_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                status, _, page = _get(url + "/")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(server.stderr.read().decode()[-3000:]) from None
                time.sleep(0.5)
        assert status == 200 and b"00-bootstrap.min.css" in page
        status, content_type, css = _get(url + "/assets/00-bootstrap.min.css")
        assert status == 200 and content_type.startswith("text/css") and len(css) > 100_000
        status, _, own = _get(url + "/assets/revenium.css")
        assert status == 200 and len(own) > 0
    finally:
        server.terminate()
        server.wait(timeout=20)
        shutil.rmtree(env_dir, ignore_errors=True)
