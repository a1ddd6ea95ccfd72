"""The manifest: a small JSON beside the CSV telling readers how far a generation run is.

Written atomically (temporary file, fsync, rename) so a reader never sees half a manifest.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STATES = ("idle", "generating", "stopped", "done", "error")


@dataclass
class Manifest:
    rows: int = 0
    bytes: int = 0
    mb: float = 0.0
    target_mb: float | None = None
    progress: float = 0.0  # 0..1 of the target size
    state: str = "idle"
    updated_at: str = ""
    started_at: str | None = None
    simulated_until: str | None = None  # ISO timestamp of the newest simulated call appended
    rows_by_scenario: dict[str, int] = field(default_factory=dict)
    message: str = ""
    pid: int | None = None
    data_file: str = ""
    seed: int | None = None  # the run's options, so a dashboard opened mid-run shows them
    pace: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def manifest_path(csv_path: str | os.PathLike[str]) -> Path:
    p = Path(csv_path)
    return p.with_name(p.name + ".manifest.json") if p.suffix != ".csv" else p.with_suffix(".manifest.json")


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def write_manifest(csv_path: str | os.PathLike[str], manifest: Manifest) -> Path:
    """Write atomically; ``updated_at`` is set to now, ``data_file`` to the CSV path."""
    if manifest.state not in STATES:
        raise ValueError(f"manifest state {manifest.state!r} is not one of {', '.join(STATES)}")
    manifest.updated_at = now_iso()
    manifest.data_file = str(csv_path)
    target = manifest_path(csv_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(manifest.to_json(), f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
    return target


def read_manifest(csv_path: str | os.PathLike[str]) -> Manifest | None:
    """The manifest beside ``csv_path``, or None when absent or unreadable."""
    try:
        doc = json.loads(manifest_path(csv_path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(doc, dict):
        return None
    known = {k: v for k, v in doc.items() if k in Manifest.__dataclass_fields__}
    try:
        return Manifest(**known)
    except TypeError:
        return None
