"""The eight analyzers, in the seed's order, and how to run them.

Each analyzer module defines ``NAME``, ``TITLE``, ``DESCRIPTION``,
``analyze(df, ctx) -> AnalysisResult`` and the cube views it reads (``VIEWS``); modules are imported on first use so that importing the
registry stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from types import ModuleType

import pandas as pd

from analyzers.base import AnalysisContext, AnalysisResult
from analyzers.cube import View

#: the analyzers in the dashboard's and the reports' order: name -> module. Adding an analyzer is one module
#: (``NAME``, ``TITLE``, ``DESCRIPTION``, ``analyze``, ``VIEWS``) and one line here; its page, report and JSON follow.
MODULES: dict[str, str] = {
    "understanding": "analyzers.finops.understanding",
    "performance": "analyzers.finops.performance",
    "realtime": "analyzers.finops.realtime",
    "optimization": "analyzers.finops.optimization",
    "alignment": "analyzers.finops.alignment",
    "profitability": "analyzers.revenue.profitability",
    "pricing": "analyzers.revenue.pricing",
    "features": "analyzers.revenue.features",
}
ANALYZER_NAMES: tuple[str, ...] = tuple(MODULES)


#: analyzers that also read the usage cube (``analyze_usage`` of ``analyzers.usage.from_cube``, or their own
#: ``analyze_cube``): every one. Their results equal the row-based ones (floats to the last few ulps),
#: except the percentiles of ``SKETCHED`` (within the sketch's error, stated in their ``methods``)
CUBE_ANALYZERS: tuple[str, ...] = ANALYZER_NAMES
#: cube analyzers whose percentiles (and what is derived from them) come from the cube's sketches:
#: sums and counts exact, latency / tokens-per-second / time-to-first-token percentiles within
#: ``analyzers.cube.SKETCH_ACCURACY``, SLA shares within the bound their ``methods`` state
SKETCHED: tuple[str, ...] = ("performance", "optimization")


def get(name: str) -> ModuleType:
    """The analyzer module called ``name``; KeyError naming the valid names otherwise."""
    if name not in MODULES:
        raise KeyError(f"unknown analyzer {name!r}; expected one of {', '.join(ANALYZER_NAMES)}")
    return importlib.import_module(MODULES[name])


def run(name: str, df: pd.DataFrame, ctx: AnalysisContext | None = None) -> AnalysisResult:
    """Run one analyzer (default context when ``ctx`` is None)."""
    return get(name).analyze(df, ctx if ctx is not None else AnalysisContext())


def views(names: Iterable[str] = ANALYZER_NAMES) -> tuple[View, ...]:
    """The views (``analyzers.cube.View``) the analyzers ``names`` read, each once: the ``VIEWS`` their
    modules declare, in registry order."""
    return tuple(dict.fromkeys(v for name in names for v in get(name).VIEWS))


def run_cube(name: str, cube: object, ctx: AnalysisContext | None = None) -> AnalysisResult:
    """Run one analyzer of ``CUBE_ANALYZERS`` on a usage cube (``analyzers.cube.build``, hour or day grain;
    a day-grain cube needs its ``hourly`` side table, which ``build`` keeps with every dimension) or on
    the engines' ``analyzers.cube.Views`` holding (at least) the analyzer's ``VIEWS``."""
    if name not in CUBE_ANALYZERS:
        raise KeyError(
            f"analyzer {name!r} does not read the cube; those that do: {', '.join(CUBE_ANALYZERS)}"
        )
    from analyzers import usage

    module = get(name)
    ctx = ctx if ctx is not None else AnalysisContext()
    if hasattr(module, "analyze_cube"):  # realtime: its own aggregates straight from the cube
        return module.analyze_cube(cube, ctx)
    return module.analyze_usage(usage.from_source(cube), ctx)


def run_all(df: pd.DataFrame, ctx: AnalysisContext | None = None) -> dict[str, AnalysisResult]:
    """Every analyzer on the same frame and context, in registry order."""
    ctx = ctx if ctx is not None else AnalysisContext()
    return {name: get(name).analyze(df, ctx) for name in ANALYZER_NAMES}
