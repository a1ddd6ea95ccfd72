"""JSON configuration files (catalog, tiers, budgets, subscriptions): one way to read them and to say
what is wrong — the file, and the line of a JSON syntax error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def parse_json(text: str, where: str, error: type[Exception]) -> Any:
    """``text`` as JSON; a syntax error raises ``error("<where>: invalid JSON at line N: reason")``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{where}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc


def read_json(path: Path, what: str, error: type[Exception]) -> Any:
    """The JSON document in ``path``; ``what`` names the file in messages (e.g. ``"tiers file"``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{what} {path}: cannot read ({exc.strerror})") from exc
    return parse_json(text, f"{what} {path}", error)
