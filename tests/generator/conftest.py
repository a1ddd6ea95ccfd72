"""Fixtures for the generator tests: one default-sized run shared by several tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from generator_testkit import START

from generator.run import RunOptions, run_generation


@pytest.fixture(scope="session")
def default_run(tmp_path_factory) -> tuple[Path, object]:
    """The default 50 MB run (seed 42, all scenarios, 500 customers), shared by several tests."""
    path = tmp_path_factory.mktemp("default") / "calls.csv"
    result = run_generation(RunOptions(data=path, target_mb=50, seed=42, start=START))
    return path, result
