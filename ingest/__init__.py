"""Real metering in: the Revenium-compatible REST endpoint and the OTLP receiver, the write-side HTTP API.

Imports only ``metering``. ``register_ingest(server, data_path, catalog=...)`` mounts the routes on any
Flask server: the dashboard's (``dashboard.app``) or the ingest-only workers (``revenium-flow ingest``);
see routes.py and specs/integration.md.
"""

from ingest.routes import IngestState, Limits, register_ingest

__all__ = ["IngestState", "Limits", "register_ingest"]
