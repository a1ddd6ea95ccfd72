"""Alignment page: the FOCUS download holds the filtered rows, sums to the analyzer total, formula-safe."""

from __future__ import annotations

import base64
import gzip
import io

import pandas as pd
import pytest

from analyzers.session import AnalysisSession
from dashboard.app import create_app
from dashboard.pages.alignment import focus_download
from metering.store import read_calls


def _csv(data: dict) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(gzip.decompress(base64.b64decode(data["content"]))))


def test_download_payload_sums_to_the_total_and_follows_the_filters(data_file):
    session = AnalysisSession(data_file)
    session.refresh()
    data, note = focus_download.download_payload(session, None, None)
    assert data["filename"] == "focus.csv.gz" and data["base64"] and "FOCUS rows" in note
    focus = _csv(data)
    total = session.result("understanding").metrics["total_cost_usd"].value
    assert round(focus["BilledCost"].sum(), 2) == round(total, 2)
    org = str(read_calls(data_file)["organization_id"].astype(str).iloc[0])
    data, _ = focus_download.download_payload(session, {"organizations": [org]}, None)
    assert set(_csv(data)["BillingAccountId"]) == {org}


def test_download_without_data_says_so(empty_path):
    assert focus_download.download_payload(None, None, None) == (None, "No data yet — press Generate.")


@pytest.mark.parametrize("component", [focus_download.BUTTON_ID, focus_download.DOWNLOAD_ID])
def test_alignment_page_offers_the_download(data_file, component):
    app = create_app(data_file)
    import dash

    page = next(p for p in dash.page_registry.values() if p["path"] == "/alignment")
    assert component in str(page["layout"]() if callable(page["layout"]) else page["layout"])
    assert any(focus_download.DOWNLOAD_ID in key for key in app.callback_map)
