"""`agentarts users ...` and `agentarts serve` on their own Typer app (the lead wires them)."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from agentarts.cli._base import AgentArtsGroup


@pytest.fixture
def app() -> typer.Typer:
    from agentarts.cli import _serve, _users

    app = typer.Typer(cls=AgentArtsGroup, add_completion=False, pretty_exceptions_enable=False)
    _users.register(app)
    _serve.register(app)
    return app


def _run(app, args, stdin=None):
    # standalone errors exit through sys.exit: the runner records the code
    return CliRunner().invoke(app, args, input=stdin)


def test_users_add_token_list_remove(app, tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTARTS_DATABASE_URL", f"sqlite:///{tmp_path / 'u.db'}")
    added = _run(
        app, ["users", "add", "dana", "--role", "approver", "--password-stdin"], "a long password\n"
    )
    assert added.exit_code == 0, added.output
    assert _run(app, ["users", "add", "bot", "--role", "operator"]).exit_code == 0
    token = _run(app, ["users", "token", "bot"])
    assert token.exit_code == 0 and token.stdout.strip().startswith("aat_")
    listed = _run(app, ["users", "list", "--json"])
    users = {u["name"]: u for u in json.loads(listed.stdout)["users"]}
    assert users["dana"]["role"] == "approver" and users["dana"]["password"] is True
    assert users["bot"]["password"] is False and users["bot"]["tokens"] == 1

    from agentarts.server.users import UserStore

    store = UserStore(f"sqlite:///{tmp_path / 'u.db'}")
    assert store.user_for_token(token.stdout.strip())["name"] == "bot"
    assert store.check_password("dana", "a long password") is not None
    store.close()
    assert _run(app, ["users", "remove", "bot"]).exit_code == 0
    listed = json.loads(_run(app, ["users", "list", "--json"]).stdout)["users"]
    assert [u["name"] for u in listed] == ["dana"]


@pytest.mark.parametrize(
    ("args", "stdin", "needle"),
    [
        (["users", "add", "x", "--role", "king"], None, "role 'king'"),
        (["users", "add", "a b", "--role", "viewer"], None, "user name"),
        (["users", "add", "x", "--role", "viewer", "--password-stdin"], "short\n", "8 characters"),
        (["users", "add", "x", "--role", "viewer", "--password-stdin"], "", "no password"),
        (["users", "token", "ghost"], None, "no user 'ghost'"),
        (["users", "remove", "ghost"], None, "no user 'ghost'"),
    ],
)
def test_users_errors_are_one_line_exit_2(app, tmp_path, monkeypatch, args, stdin, needle):
    monkeypatch.setenv("AGENTARTS_DATABASE_URL", f"sqlite:///{tmp_path / 'u.db'}")
    result = _run(app, args, stdin)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], lines


def test_serve_refuses_a_public_bind_without_users(app, tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTARTS_DATABASE_URL", f"sqlite:///{tmp_path / 'u.db'}")
    monkeypatch.setenv("AGENTARTS_AGENT", "tests.agents.sample_agent:agent")
    result = _run(app, ["serve", "--host", "0.0.0.0", "--port", "19450"])
    assert result.exit_code == 2
    assert "refusing to serve on 0.0.0.0 with no users" in result.stderr


def test_serve_needs_an_agent(app, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AGENTARTS_DATABASE_URL", f"sqlite:///{tmp_path / 'u.db'}")
    result = _run(app, ["serve", "--port", "19451"])
    assert result.exit_code == 2 and "no agent to serve" in result.stderr


def test_loopback_detection():
    from agentarts.cli._serve import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")


SERVE = """
import sys, typer
from agentarts.cli._base import AgentArtsGroup
from agentarts.cli import _serve
app = typer.Typer(cls=AgentArtsGroup, add_completion=False)
_serve.register(app)
@app.command()
def _unused() -> None:
    pass
app(["serve", *sys.argv[1:]], prog_name="agentarts")
"""


@pytest.mark.slow
def test_serve_process_answers_the_agentarts_contract(env, tmp_path):
    import subprocess
    import sys
    import time

    import httpx

    from agentarts.server.users import UserStore
    from tests.agents.sample_agent import READING

    url = env["AGENTARTS_DATABASE_URL"]
    store = UserStore(url)
    store.add("op", "approver")
    token = store.issue_token("op")
    store.close()
    from tests.server.conftest import free_port

    port = free_port(19400, 19449)
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE, "--port", str(port), "--four-eyes"],
        env={**env, "AGENTARTS_AGENT": "tests.agents.sample_agent:agent"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(base + "/ping").json() == {"status": "Healthy"}:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail(proc.stderr.read() if proc.poll() is not None else "no /ping")
        assert httpx.post(base + "/invocations", json={}).status_code == 401
        headers = {"Authorization": f"Bearer {token}", "x-hw-agentarts-session-id": "s-1"}
        r = httpx.post(
            base + "/invocations", json={"reading": READING}, headers=headers, timeout=60
        )
        assert r.status_code == 200 and r.json()["status"] == "waiting_approval"
        assert r.headers["x-hw-agentarts-session-id"] == "s-1"
        own = httpx.post(base + "/runs/s-1/approve", json={}, headers=headers, timeout=60)
        assert own.status_code == 403  # --four-eyes: op started it
    finally:
        proc.terminate()
        proc.wait(20)
