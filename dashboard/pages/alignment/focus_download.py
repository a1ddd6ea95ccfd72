"""Alignment page: download the FinOps FOCUS export (CSV) of the rows in this tab's filters.

The same pure function as ``revenium-flow export --format focus`` (``analyzers.focus.focus_frame``), the
same spreadsheet-safe CSV rule (``metering.csv_safety``); the file holds the filtered rows. The session
keeps no call rows (it analyses its cube), so the download reads them from the call file when it is asked
for (``AnalysisSession.export_rows``: partition by partition, filtered as it goes) and lets them go once
the file is made.
"""

from __future__ import annotations

import base64
import gzip

import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update

from dashboard.components.shell import DRILL_STORE, FILTER_STORE, VERSION_STORE

BUTTON_ID = "alignment-focus-download-button"
DOWNLOAD_ID = "alignment-focus-download"
NOTE_ID = "alignment-focus-download-note"


def layout() -> dbc.Card:
    return dbc.Card(
        [
            dbc.CardHeader("FinOps FOCUS export", className="fw-semibold"),
            dbc.CardBody(
                [
                    html.P(
                        "FOCUS 1.2 cost and usage rows (one per day, provider, model, token type and "
                        "allocation dimensions) for the rows in the current filters; passes the official "
                        "focus-validator. The command line writes the same file with Parquet: "
                        "revenium-flow export --format focus.",
                        className="small text-muted",
                    ),
                    dbc.Button("Download FOCUS CSV (gzip)", id=BUTTON_ID, color="primary", size="sm"),
                    html.Div(id=NOTE_ID, className="small text-muted mt-2"),
                    dcc.Download(id=DOWNLOAD_ID),
                ]
            ),
        ],
        className="mb-3 shadow-sm h-100",
    )


def focus_csv(frame) -> str:
    """The FOCUS rows as spreadsheet-safe CSV text."""
    from metering.csv_safety import neutralize_frame

    return neutralize_frame(frame).to_csv(index=False)


def register(app, hub) -> None:
    @app.callback(
        Output(DOWNLOAD_ID, "data"),
        Output(NOTE_ID, "children"),
        Input(BUTTON_ID, "n_clicks"),
        State(VERSION_STORE, "data"),
        State(FILTER_STORE, "data"),
        State(DRILL_STORE, "data"),
        prevent_initial_call=True,
    )
    def download_focus(n_clicks, version, filters, drill):
        if not n_clicks:
            return no_update, no_update
        data, note = download_payload(hub.session(), filters, drill)
        return (no_update if data is None else data), note


def download_payload(session, filters: dict | None, drill: list | None) -> tuple[dict | None, str]:
    """(dcc.Download data or None, note) for a tab's filter store and drill path."""
    from analyzers.focus import focus_frame
    from dashboard.hub import filters_from_store

    if session is None:
        return None, "No data yet — press Generate."
    frame = focus_frame(session.export_rows(filters_from_store(filters, drill)), session.ctx.catalog)
    if frame.empty:
        return None, "No rows in the current filters."
    note = f"{len(frame):,} FOCUS rows, BilledCost ${frame['BilledCost'].sum():,.2f}."
    # gzip: the export has ~60 columns and about two rows per call; compressed it travels ~15x smaller
    packed = base64.b64encode(gzip.compress(focus_csv(frame).encode("utf-8"), compresslevel=5)).decode(
        "ascii"
    )
    return {"content": packed, "filename": "focus.csv.gz", "type": "application/gzip", "base64": True}, note
