"""The manifest: a small JSON beside the CSV telling readers how far a generation run is.

Written atomically (temporary file, fsync, rename) so a reader never sees half a manifest. It also
holds the simulation's own clock (``sim_start``: run day 0; ``simulated_until``: the newest simulated
call), which ``generate --append`` continues from; rows from real metering never move it.

A manifest still saying ``generating`` whose writer process (``pid``) is gone was killed outright:
``read_manifest`` reports it as ``interrupted`` (the stored file is left as it is; the next run cleans
up after it).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STATES = ("idle", "generating", "stopped", "done", "error", "interrupted")
#: plain words for each state (CLI, validate, dashboard)
STATE_LABELS = {
    "idle": "no generation run yet",
    "generating": "generating",
    "stopped": "stopped on request",
    "done": "finished",
    "error": "failed",
    "interrupted": "interrupted (the generator process was killed before it could close the run)",
}


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
    simulated_until: str | None = None  # ISO timestamp of the newest simulated call in the file
    sim_start: str | None = None  # YYYY-MM-DD: run day 0 of the simulation in the file
    merger_day: str | None = None  # YYYY-MM-DD: the last simulated day the merger appended
    #: per scenario, what the workers have synthesised so far: {"rows": n, "through": "YYYY-MM-DD"}
    scenario_progress: dict[str, dict[str, Any]] = field(default_factory=dict)
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


def pid_alive(pid: int | None) -> bool:
    """True when process ``pid`` exists (a process we may not signal exists too)."""
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return isinstance(pid, int) and pid > 0
    return True


def read_manifest(csv_path: str | os.PathLike[str]) -> Manifest | None:
    """The manifest beside ``csv_path``, or None when absent or unreadable.

    ``generating`` with a writer pid that no longer exists is returned as ``interrupted``.
    """
    try:
        doc = json.loads(manifest_path(csv_path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(doc, dict):
        return None
    known = {k: v for k, v in doc.items() if k in Manifest.__dataclass_fields__}
    try:
        m = Manifest(**known)
    except TypeError:
        return None
    if m.state == "generating" and m.pid is not None and not pid_alive(m.pid):
        m.state = "interrupted"
        m.message = f"the generator (pid {m.pid}) ended without closing the run"
    return m
