"""Real metering in: the Revenium-compatible REST endpoint and the OTLP receiver on the dashboard server.

``register_ingest(server, data_path)`` is the one entry point; see routes.py and specs/integration.md.
"""

from ingest.routes import IngestState, Limits, register_ingest

__all__ = ["IngestState", "Limits", "register_ingest"]
