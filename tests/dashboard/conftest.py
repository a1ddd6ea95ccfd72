"""Fixtures for the dashboard tests: small data files (the app is built in each test)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# tests/ is on sys.path (rootdir conftest) and tests/dashboard, tests/metering would shadow the real
# packages as namespace packages: the repository root must come first.
for entry in (str(HERE), str(ROOT)):
    if entry in sys.path:
        sys.path.remove(entry)
    sys.path.insert(0, entry)
for name in [
    m for m in sys.modules if m.split(".")[0] in ("metering", "analyzers", "dashboard", "generator")
]:
    if getattr(sys.modules[name], "__file__", None) is None:
        del sys.modules[name]

import dashdata  # noqa: E402


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    """A small data file: 600 calls over 10 days, three organizations."""
    return dashdata.write(tmp_path / "calls.csv", dashdata.calls())


@pytest.fixture
def empty_path(tmp_path: Path) -> Path:
    return tmp_path / "empty" / "calls.csv"
