"""API keys for the ingest routes: from REVENIUM_FLOW_API_KEYS (comma-separated) or a keys file.

The keys file (one key per line, ``#`` comments allowed) is re-read when it changes, so keys can be
added, rotated or revoked — and ingest switched on — without restarting the dashboard. With no key
configured the routes are off and answer 503 with the text ``HOW_TO_ENABLE``.
"""

from __future__ import annotations

import hmac
import os
import threading
from pathlib import Path

KEYS_ENV = "REVENIUM_FLOW_API_KEYS"
KEYS_FILE_ENV = "REVENIUM_FLOW_API_KEYS_FILE"
HOW_TO_ENABLE = (
    "Metering ingest is off: no API key is configured. Start the dashboard with "
    f"{KEYS_ENV}=<key1>,<key2> (comma-separated) or {KEYS_FILE_ENV}=<path to a file with one key per line>; "
    "clients then send the key in the x-api-key header."
)


def parse_keys(text: str, separator: str = ",") -> list[str]:
    """Keys from a comma-separated value or a file's lines; blanks and ``#`` comments dropped."""
    parts = text.splitlines() if separator == "\n" else text.split(separator)
    keys = []
    for part in parts:
        key = part.split("#", 1)[0].strip() if separator == "\n" else part.strip()
        if key and key not in keys:
            keys.append(key)
    return keys


class ApiKeys:
    """The set of accepted keys; ``check`` answers (status, message) with constant-time comparison."""

    def __init__(self, keys: list[str] | None = None, keys_file: Path | None = None) -> None:
        self._static = [k for k in (keys or []) if k]
        self.keys_file = Path(keys_file) if keys_file else None
        self._file_keys: list[str] = []
        self._file_stamp: tuple[float, int] | None = None
        self._lock = threading.Lock()
        self._refresh()

    @classmethod
    def from_environment(cls, keys: list[str] | None = None, keys_file: Path | None = None) -> ApiKeys:
        """Explicit arguments win; otherwise REVENIUM_FLOW_API_KEYS / REVENIUM_FLOW_API_KEYS_FILE."""
        if keys is None:
            keys = parse_keys(os.environ.get(KEYS_ENV, ""))
        if keys_file is None and os.environ.get(KEYS_FILE_ENV):
            keys_file = Path(os.environ[KEYS_FILE_ENV])
        return cls(keys, keys_file)

    def _refresh(self) -> None:
        if self.keys_file is None:
            return
        try:
            st = self.keys_file.stat()
        except OSError:
            self._file_keys, self._file_stamp = [], None
            return
        stamp = (st.st_mtime, st.st_size)
        if stamp != self._file_stamp:
            try:
                text = self.keys_file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                text = ""
            self._file_keys, self._file_stamp = parse_keys(text, "\n"), stamp

    @property
    def keys(self) -> list[str]:
        with self._lock:
            self._refresh()
            return self._static + [k for k in self._file_keys if k not in self._static]

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    def check(self, presented: str | None) -> tuple[int, str] | None:
        """None when ``presented`` is an accepted key, else the (status, message) to answer with."""
        keys = self.keys
        if not keys:
            return 503, HOW_TO_ENABLE
        if not presented:
            return 401, "missing API key: send it in the x-api-key header (or Authorization: Bearer <key>)"
        given = presented.encode("utf-8", "surrogateescape")
        # compare against every key so the time taken does not depend on which one matched
        ok = False
        for key in keys:
            ok |= hmac.compare_digest(given, key.encode("utf-8"))
        return None if ok else (403, "unknown API key")
