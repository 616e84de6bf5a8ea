"""Fixtures for agent tests: the sample agent's models and an isolated database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="session")
def sample_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.agents.sample_agent import build_models

    return build_models(tmp_path_factory.mktemp("sample-models"))


@pytest.fixture
def env(tmp_path, sample_models, monkeypatch) -> dict[str, str]:
    """Environment of this test (and of subprocesses it starts)."""
    from agentarts.tools import model_tool

    monkeypatch.setenv("AGENTARTS_MODEL_REPOSITORIES", str(sample_models))
    monkeypatch.setenv("AGENTARTS_DATABASE_URL", f"sqlite:///{tmp_path / 'runs.db'}")
    monkeypatch.setattr(model_tool, "_DEFAULT", [])
    from tests.agents import sample_agent

    monkeypatch.setattr(sample_agent, "VALVES", {"V-1": 40.0})
    monkeypatch.setattr(sample_agent.forecast, "_meta", None)
    monkeypatch.setattr(sample_agent.risk, "_meta", None)
    # the module-level agent caches its database; point it at this test's
    sample_agent.agent.close()
    monkeypatch.setattr(sample_agent.agent, "_database_url", None)
    yield {**os.environ, "PYTHONPATH": str(REPO)}
    sample_agent.agent.close()


@pytest.fixture
def agent(env):
    from agentarts.graph import Agent
    from tests.agents.sample_agent import builder

    a = Agent(builder, name="sample")
    a.ref = "tests.agents.sample_agent:agent"
    yield a
    a.close()


def cli(args: list[str], env: dict[str, str], cwd: Path | None = None, timeout: float = 120):
    """Run the real `agentarts` CLI in a new process."""
    return subprocess.run(
        [sys.executable, "-m", "agentarts.cli.main", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
