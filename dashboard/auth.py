"""Dashboard login: HTTP Basic auth (``dash-auth``) with hashed passwords and two roles.

Users come from ``REVENIUM_FLOW_DASHBOARD_USERS`` (comma-separated entries) or the file named by
``REVENIUM_FLOW_DASHBOARD_USERS_FILE`` / ``--users-file`` (one entry per line, ``#`` comments). An entry is
``name:role:hash``: ``role`` is ``admin`` (everything) or ``viewer`` (read-only: Generate/Stop and chart
writes are refused), ``hash`` a werkzeug password hash (``python -m dashboard.auth hash-password``).
Plain-text passwords are refused at start.

With users configured every page, asset and callback needs the login; the ingest routes
(``/meter/...``, ``/v1/traces``) keep their own API-key auth and are public to the login. Bound to a
non-loopback address, the dashboard refuses to start without users (``cli.commands.dashboard``).
"""

from __future__ import annotations

import base64
import binascii
import getpass
import hashlib
import ipaddress
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import flask
from dash_auth import BasicAuth
from werkzeug.security import check_password_hash, generate_password_hash

USERS_ENV = "REVENIUM_FLOW_DASHBOARD_USERS"
USERS_FILE_ENV = "REVENIUM_FLOW_DASHBOARD_USERS_FILE"
ADMIN, VIEWER = "admin", "viewer"
ROLES = (ADMIN, VIEWER)
#: Flask endpoints the login leaves to their own auth: the ingest views (API keys), which
#: ``ingest.routes`` names ``revenium_ingest_<handler>``. Decided on the endpoint Flask
#: dispatches to, never on the raw path (``/meter/../_dash-layout`` must not pass).
PUBLIC_ENDPOINT_PREFIX = "revenium_ingest_"
READ_ONLY = "refused: your login is read-only (viewer); ask an admin to generate, stop or change charts"
_HASH_METHODS = ("scrypt:", "pbkdf2:")
_CACHE_LIMIT = 1024


class UsersError(ValueError):
    """The users setting cannot be used; the message names the entry and the reason."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password_hash: str

    @property
    def can_write(self) -> bool:
        return self.role == ADMIN


def parse_users(text: str, *, where: str, lines: bool = False) -> dict[str, User]:
    """``name:role:hash`` entries (commas, or lines with ``#`` comments) -> users by name."""
    users: dict[str, User] = {}
    parts = text.splitlines() if lines else text.split(",")
    for number, part in enumerate(parts, start=1):
        entry = (part.split("#", 1)[0] if lines else part).strip()
        if not entry:
            continue
        label = f"{where}: {'line' if lines else 'entry'} {number}"
        fields = entry.split(":", 2)
        if len(fields) != 3:
            raise UsersError(f"{label}: expected name:role:password-hash")
        name, role, hashed = (f.strip() for f in fields)
        if not name or not name.isprintable() or " " in name:
            raise UsersError(f"{label}: user name must be printable text without spaces")
        if role not in ROLES:
            raise UsersError(f"{label}: role {role!r} unknown; use {' or '.join(ROLES)}")
        if not hashed.startswith(_HASH_METHODS) or hashed.count("$") != 2:
            raise UsersError(
                f"{label}: the password must be a werkzeug hash (scrypt:... or pbkdf2:...), not plain text; "
                "make one with `python -m dashboard.auth hash-password`"
            )
        if name in users:
            raise UsersError(f"{label}: user {name!r} listed twice")
        users[name] = User(name, role, hashed)
    return users


def load_users(users: str | None = None, users_file: str | os.PathLike[str] | None = None) -> dict[str, User]:
    """Users from the arguments, else ``REVENIUM_FLOW_DASHBOARD_USERS`` / ``..._USERS_FILE``."""
    text = users if users is not None else os.environ.get(USERS_ENV, "")
    found = parse_users(text, where=USERS_ENV) if text.strip() else {}
    path = users_file if users_file is not None else os.environ.get(USERS_FILE_ENV) or None
    if path:
        try:
            content = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsersError(f"users file {path}: cannot read ({exc})") from exc
        for name, user in parse_users(content, where=f"users file {path}", lines=True).items():
            if name in found:
                raise UsersError(f"user {name!r} is in both {USERS_ENV} and the users file")
            found[name] = user
    return found


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: addresses only this machine can reach."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


class DashboardLogin(BasicAuth):
    """``dash_auth.BasicAuth`` checking werkzeug hashes, with the signed-in user on ``flask.g``.

    A verified ``Authorization`` header is remembered by its SHA-256 (never the password), so the
    many callback requests of a page do not each pay for the slow hash. Malformed headers and bodies
    are a 401, never an error.
    """

    def __init__(self, app, users: dict[str, User]) -> None:
        if not users:
            raise UsersError("no dashboard user configured")
        self.users = dict(users)
        self._verified: dict[bytes, str] = {}
        self._lock = threading.Lock()
        self._dummy = generate_password_hash("not a password")  # same work for unknown names
        super().__init__(
            app,
            auth_func=self._check_password,
            user_groups={u.name: [u.role] for u in self.users.values()},
        )
        app.server.extensions["revenium_login"] = self

    def _protect(self) -> None:
        """Every route but the ingest ones: pages, layout, callback graph, assets and every callback."""
        server = self.app.server

        @server.before_request
        def before_request_auth():
            endpoint = flask.request.endpoint or ""  # dash-auth's default public routes would also
            if endpoint.startswith(PUBLIC_ENDPOINT_PREFIX) or self.is_authorized():  # open the layout
                return None
            return self.login_request()

    def _check_password(self, name: str, password: str) -> bool:
        user = self.users.get(name)
        ok = check_password_hash(user.password_hash if user else self._dummy, password)
        return bool(user) and ok

    def is_authorized(self) -> bool:
        header = flask.request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        digest = hashlib.sha256(header.encode("utf-8", "surrogateescape")).digest()
        with self._lock:
            name = self._verified.get(digest)
        if name is None:
            try:
                text = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
            except (ValueError, binascii.Error):
                return False
            name, sep, password = text.partition(":")
            if not sep or not self._check_password(name, password):
                return False
            with self._lock:
                if len(self._verified) >= _CACHE_LIMIT:
                    self._verified.clear()
                self._verified[digest] = name
        user = self.users.get(name)
        if user is None:
            return False
        flask.g.dashboard_user = user
        return True


def current_user() -> User | None:
    """The signed-in user of this request (None without a login or outside a request)."""
    return flask.g.get("dashboard_user") if flask.has_request_context() else None


def write_refusal() -> str | None:
    """None when this request may change state (Generate/Stop, chart writes), else why not.

    Without a configured login (loopback) everyone may; with one, only ``admin`` users."""
    if not flask.has_app_context() or flask.current_app.extensions.get("revenium_login") is None:
        return None
    user = current_user()
    return None if user is not None and user.can_write else READ_ONLY


def _main(argv: list[str]) -> int:
    if argv[:1] != ["hash-password"]:
        print("usage: python -m dashboard.auth hash-password [NAME [ROLE]]", file=sys.stderr)
        return 2
    name = argv[1] if len(argv) > 1 else "alice"
    role = argv[2] if len(argv) > 2 else ADMIN
    if role not in ROLES:
        print(f"role must be {' or '.join(ROLES)}", file=sys.stderr)
        return 2
    password = getpass.getpass("password: ")
    if not password or password != getpass.getpass("again: "):
        print("passwords empty or different", file=sys.stderr)
        return 1
    print(f"{name}:{role}:{generate_password_hash(password)}")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
