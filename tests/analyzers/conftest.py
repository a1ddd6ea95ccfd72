"""Analyzer tests import the project from the repository root.

Without this, ``tests/`` on sys.path (pytest's rootdir insertion) lets ``tests/metering`` shadow the
real ``metering`` package as a namespace package, and ``importlib.resources`` then looks for the
shipped price and tier files in the wrong folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if sys.path[:1] != [ROOT]:
    sys.path.insert(0, ROOT)
