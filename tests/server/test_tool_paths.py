"""Served tools open only files in the project's folders (agentarts.tools.paths).

An operator of ``agentarts serve`` once made the steel agent read any file of the server by
path (``{"source": "/etc/passwd"}`` answered with the file's columns).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import BaseModel

from tests.server.conftest import Clock, bearer
from tests.server.test_panels import SAMPLE


class PathRequest(BaseModel):
    path: str


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A steel project (agentarts.toml, data/history.csv) as the server's working dir, and
    a secret CSV beside it that a remote operator must not reach."""
    root = tmp_path / "plant"
    (root / "data").mkdir(parents=True)
    (root / "agentarts.toml").write_text('[project]\nname = "plant"\nindustry = "steel"\n')
    shutil.copy(SAMPLE, root / "data" / "history.csv")
    secret = tmp_path / "elsewhere"
    secret.mkdir()
    shutil.copy(SAMPLE, secret / "secret.csv")
    (root / "data" / "link.csv").symlink_to(secret / "secret.csv")
    (root / "data" / "dirlink").symlink_to(secret, target_is_directory=True)
    monkeypatch.chdir(root)
    return root


def _serve(tmp_path: Path):
    from fastapi.testclient import TestClient

    from agentarts.graph.agent import Agent
    from agentarts.industries.steel.agent import builder
    from agentarts.server import ServerConfig, create_app
    from agentarts.server.users import UserStore

    db = f"sqlite:///{tmp_path / 'runs.db'}"
    users = UserStore(db)
    users.add("olga", "operator")
    token = users.issue_token("olga")
    users.close()
    agent = Agent(builder, name="steel", database_url=db)
    app = create_app([agent], db, ServerConfig(clock=Clock()))
    return agent, TestClient(app, base_url="http://127.0.0.1:18850"), bearer(token)


@pytest.mark.parametrize(
    "source",
    [
        "/etc/passwd",  # the report
        "../elsewhere/secret.csv",  # '..' out of the project
        "data/../../elsewhere/secret.csv",
        "data/link.csv",  # a symlink inside the project to a file outside
        "data/dirlink/secret.csv",  # through a symlinked folder
        "~/.bashrc",
    ],
)
def test_served_steel_agent_refuses_paths_outside_the_project(
    project, tmp_path, fresh_plant, source
):
    agent, client, headers = _serve(tmp_path)
    with client:
        answer = client.post("/invocations", json={"source": source}, headers=headers)
    assert answer.status_code < 500
    body = answer.json()
    assert body["status"] == "failed"
    error = body["error"]
    assert "PathNotAllowedError" in error and repr(source) in error
    assert str(project) in error  # names the allowed roots
    assert "missing tags" not in error and "root:" not in error  # nothing of the file
    assert agent.paths is None  # the server's policy went with it


def test_served_steel_agent_reads_the_project_data(project, tmp_path, fresh_plant):
    _agent, client, headers = _serve(tmp_path)
    with client:
        for source in ("data/history.csv", str(project / "data" / "history.csv")):
            body = client.post("/invocations", json={"source": source}, headers=headers).json()
            assert body["status"] in ("completed", "waiting_approval"), body.get("error")


def test_allowed_roots_extend_what_a_served_agent_reads(project, tmp_path, fresh_plant):
    (project / "agentarts.toml").write_text(
        '[project]\nname = "plant"\n[paths]\nallowed_roots = ["../elsewhere"]\n'
    )
    _agent, client, headers = _serve(tmp_path)
    with client:
        body = client.post(
            "/invocations", json={"source": "../elsewhere/secret.csv"}, headers=headers
        ).json()
        assert body["status"] in ("completed", "waiting_approval"), body.get("error")
        body = client.post("/invocations", json={"source": "/etc/passwd"}, headers=headers).json()
        assert "PathNotAllowedError" in body["error"] and "elsewhere" in body["error"]


def test_the_cli_agent_reads_what_its_user_names(project, tmp_path, fresh_plant):
    """Outside the server no policy applies: the person can read the file anyway."""
    from agentarts.graph.agent import Agent
    from agentarts.industries.steel.agent import builder

    agent = Agent(builder, name="steel", database_url=f"sqlite:///{tmp_path / 'runs.db'}")
    with agent:
        result = agent.run({"source": str(tmp_path / "elsewhere" / "secret.csv")})
    assert result.status in ("completed", "waiting_approval"), result.error


def test_policy_resolves_before_it_checks(tmp_path):
    from agentarts.config import load_settings
    from agentarts.tools.paths import PathNotAllowedError, PathPolicy

    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "agentarts.toml").write_text("")
    policy = PathPolicy.from_settings(load_settings(tmp_path / "p"))
    assert policy.resolve("a/../b.csv") == (tmp_path / "p" / "b.csv").resolve()
    for bad in ("..", "/", "a/../../p2/x", "p\0x"):
        with pytest.raises(PathNotAllowedError) as info:
            policy.resolve(bad, "source")
        assert info.value.http_status == 403 and "source" in str(info.value)
    (tmp_path / "p2").mkdir()  # a sibling whose name starts like the root's
    with pytest.raises(PathNotAllowedError):
        policy.resolve(tmp_path / "p2" / "x.csv")


def test_weather_tools_keep_to_the_roots_when_served(project, tmp_path):
    """Every weather tool that takes a path (read or write) checks it under a policy."""
    from agentarts.config import load_settings
    from agentarts.industries.weather.tools import AlertBatch, extract_sites, forecast, issue_alerts
    from agentarts.tools.context import _CURRENT, RunContext
    from agentarts.tools.paths import PathNotAllowedError, PathPolicy

    outside = tmp_path / "elsewhere"
    token = _CURRENT.set(RunContext("r", "t", paths=PathPolicy.from_settings(load_settings())))
    try:
        for call in (
            lambda: forecast.fn(forecast.input_model(initial="/etc/passwd")),
            lambda: forecast.fn(forecast.input_model(out=str(outside / "f.nc"))),
            lambda: extract_sites.fn(extract_sites.input_model(path="data/link.csv")),
            lambda: issue_alerts.fn(AlertBatch(alerts=[], outbox=str(outside / "outbox"))),
        ):
            with pytest.raises(PathNotAllowedError, match="outside the folders"):
                call()
    finally:
        _CURRENT.reset(token)
    assert not (outside / "f.nc").exists() and not (outside / "outbox").exists()


def test_a_tool_with_a_timeout_runs_under_the_policy_too(project):
    """Timed tools run on a worker thread: the run (and its policy) must go with them."""
    from agentarts.config import load_settings
    from agentarts.tools import tool
    from agentarts.tools.context import _CURRENT, RunContext
    from agentarts.tools.paths import PathNotAllowedError, PathPolicy, data_path

    @tool(safety="read_only", timeout_s=5)
    def opener(request: PathRequest) -> str:
        return str(data_path(request.path, "path"))

    token = _CURRENT.set(RunContext("r", "t", paths=PathPolicy.from_settings(load_settings())))
    try:
        with pytest.raises(PathNotAllowedError):
            opener({"path": "/etc/passwd"})
    finally:
        _CURRENT.reset(token)
    assert opener({"path": "/etc/passwd"}).result == "/etc/passwd"  # no run: no policy
