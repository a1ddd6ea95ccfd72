"""Dashboard login: a public bind needs users; with users every page and callback needs the login,
read-only users cannot Generate/Stop or write charts, and the ingest routes keep their API keys."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from werkzeug.security import generate_password_hash

from cli import main
from dashboard.app import create_app
from dashboard.auth import READ_ONLY, USERS_ENV, USERS_FILE_ENV, UsersError, is_loopback, load_users
from dashboard.components import shell as ids
from dashboard.generation import Outcome

HASH = {"alice": generate_password_hash("alice-pw"), "victor": generate_password_hash("victor-pw")}
USERS_TEXT = f"alice:admin:{HASH['alice']},victor:viewer:{HASH['victor']}"


def basic(name: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{name}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class RecordingControl:
    """A GenerationControl stand-in: records what would have started or stopped a run."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def start(self, *args: Any, **kwargs: Any) -> Outcome:
        self.calls.append("start")
        return Outcome(True, "started")

    def stop(self, *args: Any, **kwargs: Any) -> Outcome:
        self.calls.append("stop")
        return Outcome(True, "stopped")

    def running(self, *args: Any) -> bool:
        return False

    def pid(self, *args: Any) -> int | None:
        return None

    def shutdown(self) -> None:
        pass


def callback_body(client: Any, output: str, trigger: str, values: dict[str, Any]) -> dict[str, Any]:
    """The body the browser posts when ``trigger`` fires the callback that writes ``output``, built from
    the app's own callback graph (so it follows the layout); ``values`` for inputs and states by id."""
    deps = client.get("/_dash-dependencies", headers=basic("alice", "alice-pw")).get_json()
    act = next(d for d in deps if output in d["output"] and any(i["id"] == trigger for i in d["inputs"]))

    def items(kind: str) -> list[dict[str, Any]]:
        default = {trigger: 1}
        return [
            {"id": x["id"], "property": x["property"], "value": values.get(x["id"], default.get(x["id"]))}
            for x in act[kind]
        ]

    return {
        "output": act["output"],
        "outputs": [
            {"id": o.split(".")[0], "property": o.split(".")[1]}
            for o in act["output"].strip(".").split("...")
        ],
        "inputs": items("inputs"),
        "changedPropIds": [f"{trigger}.n_clicks"],
        "state": items("state"),
    }


def generate_request(client: Any) -> dict[str, Any]:
    """The body the browser posts when Generate is clicked."""
    values = {ids.TARGET_INPUT: 20, ids.PACE_INPUT: "max", ids.SEED_INPUT: 1}
    return callback_body(client, f"{ids.GEN_MESSAGE}.className", ids.GENERATE_BUTTON, values)


@pytest.fixture
def guarded(tmp_path: Path):
    control = RecordingControl()
    app = create_app(tmp_path / "calls.csv", control=control, users=load_users(USERS_TEXT))
    return app.server.test_client(), control


# --- starting ---------------------------------------------------------------------------------------
def test_public_bind_without_users_refuses_to_start(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(USERS_ENV, raising=False)
    monkeypatch.delenv(USERS_FILE_ENV, raising=False)
    served: list[Any] = []
    monkeypatch.setattr("waitress.serve", lambda *a, **k: served.append(a))
    code = main(["dashboard", "--host", "0.0.0.0", "--data", str(tmp_path / "calls.csv")])
    assert code == 2 and served == []
    out = capsys.readouterr().out
    assert "refusing to start: --host 0.0.0.0" in out and USERS_ENV in out


def test_public_bind_with_users_starts_and_loopback_says_it_is_open(tmp_path, monkeypatch, caplog):
    caplog.set_level("INFO")
    served: list[Any] = []
    monkeypatch.setattr("waitress.serve", lambda app, **k: served.append(k["host"]))
    monkeypatch.setenv(USERS_ENV, USERS_TEXT)
    assert main(["dashboard", "--host", "0.0.0.0", "--data", str(tmp_path / "calls.csv")]) == 0
    assert "login required: 2 user(s), 1 admin(s)" in caplog.text
    monkeypatch.delenv(USERS_ENV)
    caplog.clear()
    assert main(["dashboard", "--host", "127.0.0.1", "--data", str(tmp_path / "calls.csv")]) == 0
    assert "open without login: loopback address 127.0.0.1" in caplog.text
    assert served == ["0.0.0.0", "127.0.0.1"]


def test_users_file_and_plain_text_passwords(tmp_path, monkeypatch):
    users_file = tmp_path / "users.txt"
    users_file.write_text(f"# team\nalice:admin:{HASH['alice']}\n\nvictor:viewer:{HASH['victor']}  # ro\n")
    assert set(load_users("", users_file)) == {"alice", "victor"}
    with pytest.raises(UsersError, match="not plain text"):
        load_users("bob:admin:secret")
    with pytest.raises(UsersError, match="role 'root' unknown"):
        load_users(f"bob:root:{HASH['alice']}")
    with pytest.raises(UsersError, match="expected name:role:password-hash"):
        load_users("bob")
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example.org")


# --- every page and callback needs the login ----------------------------------------------------------
def test_unauthenticated_callback_post_gets_401_and_nothing_runs(guarded):
    client, control = guarded
    answer = client.post("/_dash-update-component", json=generate_request(client))
    assert answer.status_code == 401 and "Basic" in answer.headers["WWW-Authenticate"]
    assert control.calls == []
    for path in ("/", "/_dash-layout", "/_dash-dependencies", "/chart-builder", "/meter/../_dash-layout"):
        assert client.get(path).status_code == 401, path
    for header in ("Basic", "Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode(), "Bearer x"):
        assert client.get("/", headers={"Authorization": header}).status_code == 401
    assert client.get("/", headers=basic("alice", "wrong")).status_code == 401
    assert client.get("/", headers=basic("mallory", "alice-pw")).status_code == 401
    bad_body = client.post(
        "/_dash-update-component", data=b"\xff", headers={"Content-Type": "application/json"}
    )
    assert bad_body.status_code == 401 and control.calls == []


def test_admin_runs_generate_and_viewer_is_refused(guarded):
    client, control = guarded
    assert client.get("/", headers=basic("alice", "alice-pw")).status_code == 200
    viewer = client.post(
        "/_dash-update-component", json=generate_request(client), headers=basic("victor", "victor-pw")
    )
    assert viewer.status_code == 200 and control.calls == []
    assert READ_ONLY in viewer.get_data(as_text=True)
    admin = client.post(
        "/_dash-update-component", json=generate_request(client), headers=basic("alice", "alice-pw")
    )
    assert admin.status_code == 200 and control.calls == ["start"]


def test_viewer_cannot_write_charts(tmp_path):
    save, name, ws_version = "cb-save", "cb-name", "cb-ws-version"  # the chart builder page's ids

    workspace = tmp_path / "charts"
    app = create_app(
        tmp_path / "calls.csv", control=RecordingControl(), users=load_users(USERS_TEXT), workspace=workspace
    )
    client = app.server.test_client()
    body = callback_body(client, f"{ws_version}.data", save, {name: "team chart"})
    viewer = client.post("/_dash-update-component", json=body, headers=basic("victor", "victor-pw"))
    assert viewer.status_code == 200 and READ_ONLY in viewer.get_data(as_text=True)
    assert not workspace.exists() or not any(workspace.glob("*.json"))


def test_ingest_routes_keep_their_own_api_key_auth(guarded):
    client, _ = guarded
    answer = client.post("/meter/v2/ai/completions", json={})
    assert answer.status_code in (401, 503)  # the ingest API's own answer (no key / ingest off) ...
    assert "WWW-Authenticate" not in answer.headers and answer.is_json  # ... not the dashboard login
    assert client.get("/meter/v2/status").status_code == 200
    assert client.post("/v1/traces", data=b"", headers={"Content-Type": "application/json"}).is_json
