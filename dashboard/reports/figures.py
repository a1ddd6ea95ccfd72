"""The figures of each static report: the analyzer's page charts plus a few report-only ones.

The chart modules of an analyzer's page (``dashboard/pages/<name>/``, listed in its ``SPEC.charts``) that
expose ``process_data(result)`` / ``create_figure(frame)`` are reused as they are, so a report shows the
same charts as the live page; the page's ``SPEC.report_figures`` adds report-only figures (tables the live
page shows as grids).
"""

from __future__ import annotations

import sys
from types import ModuleType

from analyzers.base import AnalysisResult
from dashboard.components.charts import ReportFigure
from dashboard.pages import analyzer_spec


def _chart_modules(analyzer: str) -> list[ModuleType]:
    """The charts of the analyzer's page that draw from its result (``process_data`` + ``create_figure``)."""
    return [
        mod
        for mod in analyzer_spec(analyzer).charts
        if hasattr(mod, "process_data") and hasattr(mod, "create_figure")
    ]


def _title(mod: ModuleType) -> str:
    doc = (mod.__doc__ or mod.__name__).strip().splitlines()[0]
    text = doc.split(":", 1)[1].strip().rstrip(".") if ":" in doc else doc.rstrip(".")
    return text[:1].upper() + text[1:]


def figures_for(result: AnalysisResult) -> list[ReportFigure]:
    """(title, figure) pairs for one analyzer's report. A chart that fails is skipped with a warning on
    stderr (the rest of the report is still written)."""
    out: list[ReportFigure] = []
    for mod in _chart_modules(result.name):
        try:
            out.append((_title(mod), mod.create_figure(mod.process_data(result))))
        except Exception as exc:  # noqa: BLE001 - one broken chart must not cost the whole report
            print(f"report {result.name}: chart {mod.__name__} skipped: {exc!r}", file=sys.stderr)
    extra = analyzer_spec(result.name).report_figures
    if extra is not None:
        try:
            out.extend(extra(result))
        except Exception as exc:  # noqa: BLE001
            print(f"report {result.name}: report-only charts skipped: {exc!r}", file=sys.stderr)
    return out
