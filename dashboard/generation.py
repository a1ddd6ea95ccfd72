"""Generate / Stop from the dashboard: one generator subprocess per data file, server-side.

The generator never runs inside a web worker thread: it is launched as its own process
(``python -m cli generate ...``) and reports progress only through its manifest.
The registry lives in the server process and is keyed by the resolved data path, so a second
Generate for the same file is refused whichever browser tab sends it.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from metering.manifest import pid_alive, read_manifest

PACES: tuple[str, ...] = ("max", "live")
MIN_TARGET_MB = 0.1
MAX_TARGET_MB = 2000.0
MAX_SEED = 2**32 - 1

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What the user is told after pressing Generate or Stop."""

    ok: bool
    message: str


def generator_command(data: Path, target_mb: float, pace: str, seed: int) -> list[str]:
    """The exact argv the dashboard launches (kept pure so it can be checked without a process)."""
    return [
        sys.executable,
        "-m",
        "cli",
        "generate",
        "--data",
        str(data),
        "--target-mb",
        f"{target_mb:g}",
        "--pace",
        pace,
        "--seed",
        str(int(seed)),
        "--quiet",
    ]


def validate_request(target_mb: object, pace: object, seed: object) -> tuple[float, str, int] | str:
    """Parse the form values; returns the clean triple or an error message naming the field and bound."""
    bounds = f"between {MIN_TARGET_MB:g} and {MAX_TARGET_MB:,.0f}"
    try:
        mb = float(target_mb)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return f"target MB: enter a number {bounds}"
    if not math.isfinite(mb) or not (MIN_TARGET_MB <= mb <= MAX_TARGET_MB):
        return f"target MB: must be {bounds} (got {mb:g})"
    if pace not in PACES:
        return f"pace: must be one of {', '.join(PACES)}"
    seed_bounds = f"a whole number from 0 to {MAX_SEED:,}"
    try:
        s = float(seed)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return f"seed: enter {seed_bounds}"
    if not math.isfinite(s) or not s.is_integer():
        return f"seed: enter {seed_bounds} (got {seed})"
    if not (0 <= s <= MAX_SEED):
        return f"seed: must be {seed_bounds} (got {s:.0f})"
    return mb, str(pace), int(s)


def other_process_alive(pid: int | None) -> bool:
    """True when ``pid`` is a live process other than this one (a generator the manifest names); liveness
    itself is ``metering.manifest.pid_alive``."""
    return bool(pid) and pid != os.getpid() and pid_alive(pid)


class GenerationControl:
    """Server-side registry of generator processes, one per data file; thread-safe."""

    def __init__(self, stop_timeout_s: float = 30.0) -> None:
        self._lock = threading.Lock()
        self._procs: dict[Path, subprocess.Popen] = {}
        self._params: dict[Path, dict] = {}
        self._stop_timeout_s = stop_timeout_s

    @staticmethod
    def _key(data: Path) -> Path:
        return Path(data).expanduser().resolve()

    def running(self, data: Path) -> bool:
        """True while a generator we launched for this file is alive."""
        with self._lock:
            proc = self._procs.get(self._key(data))
            return proc is not None and proc.poll() is None

    def pid(self, data: Path) -> int | None:
        """Process id of the run we launched for this file while it is alive (else None)."""
        with self._lock:
            proc = self._procs.get(self._key(data))
            return proc.pid if proc is not None and proc.poll() is None else None

    def params(self, data: Path) -> dict | None:
        """``{"target_mb", "pace", "seed"}`` of the run we launched for this file while it is alive."""
        with self._lock:
            proc = self._procs.get(self._key(data))
            alive = proc is not None and proc.poll() is None
            return dict(self._params[self._key(data)]) if alive else None

    def start(
        self,
        data: Path,
        target_mb: object,
        pace: object,
        seed: object,
        external_pid: int | None = None,
    ) -> Outcome:
        """Launch a run unless one is already going for this file (ours, or one the manifest names)."""
        parsed = validate_request(target_mb, pace, seed)
        if isinstance(parsed, str):
            return Outcome(False, f"Not started — {parsed}.")
        mb, pace_s, seed_i = parsed
        key = self._key(data)
        with self._lock:
            proc = self._procs.get(key)
            if proc is not None and proc.poll() is None:
                return Outcome(False, "Refused: a generation run is already in progress for this data file.")
            if other_process_alive(external_pid):
                return Outcome(
                    False,
                    f"Refused: another generator (pid {external_pid}) is writing this data file.",
                )
            key.parent.mkdir(parents=True, exist_ok=True)
            self._procs[key] = subprocess.Popen(
                generator_command(key, mb, pace_s, seed_i),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            self._params[key] = {"target_mb": mb, "pace": pace_s, "seed": seed_i}
            proc = self._procs[key]
        log.info(
            "generation started: %s MB, pace %s, seed %d -> %s (pid %d)",
            f"{mb:g}",
            pace_s,
            seed_i,
            key,
            proc.pid,
        )
        threading.Thread(target=self._watch, args=(key, proc), daemon=True, name="generation-watch").start()
        return Outcome(True, f"Generating {mb:g} MB (pace {pace_s}, seed {seed_i}).")

    def _watch(self, key: Path, proc: subprocess.Popen) -> None:
        """Log the end of a run with the state its manifest reports (finished, stopped, failed)."""
        code = proc.wait()
        m = read_manifest(key)
        state = m.state if m is not None else "unknown"
        rows = f"{m.rows:,} rows, {m.mb:.1f} MB" if m is not None else "no manifest"
        detail = f" ({m.message})" if m is not None and m.message and state != "done" else ""
        log.info("generation %s: %s, exit code %s -> %s%s", state, rows, code, key, detail)

    def stop(self, data: Path) -> Outcome:
        """SIGTERM the run; the generator finishes its current line, writes `stopped` and exits."""
        key = self._key(data)
        with self._lock:
            proc = self._procs.get(key)
        if proc is None or proc.poll() is not None:
            return Outcome(False, "Nothing to stop: no generation run in progress.")
        proc.send_signal(signal.SIGTERM)
        log.info("generation stop requested (pid %d) -> %s", proc.pid, key)
        threading.Thread(target=self._reap, args=(proc,), daemon=True).start()
        return Outcome(True, "Stopping: the generator ends on a whole line and marks the run stopped.")

    def _reap(self, proc: subprocess.Popen) -> None:
        try:
            proc.wait(timeout=self._stop_timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def wait(self, data: Path, timeout: float | None = None) -> int | None:
        """Block until this file's run ends (tests, shutdown); returns the exit code or None."""
        with self._lock:
            proc = self._procs.get(self._key(data))
        if proc is None:
            return None
        return proc.wait(timeout=timeout)

    def shutdown(self) -> None:
        """Stop every run we launched (server exit)."""
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=self._stop_timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
