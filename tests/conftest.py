"""Test-wide isolation: no network chat calls, no writes outside tmp dirs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path_factory.mktemp("agentarts-data")
    monkeypatch.setenv("AGENTARTS_DATA_DIR", str(data))
    monkeypatch.setenv("AGENTARTS_OFFLINE", "1")
    # git commits made by the tests must not depend on the machine's git identity
    for var in ("GIT_AUTHOR", "GIT_COMMITTER"):
        monkeypatch.setenv(f"{var}_NAME", "agentarts-tests")
        monkeypatch.setenv(f"{var}_EMAIL", "tests@localhost")
    for var in ("AGENTARTS_DATABASE_URL", "AGENTARTS_AGENT", "AGENTARTS_CHAT_BASE_URL"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def runner():
    from typer.testing import CliRunner

    return CliRunner()


@pytest.fixture
def cli():
    from agentarts.cli.main import app

    return app


def run_python(code: str, cwd: Path | None = None, env: dict[str, str] | None = None):
    """Run ``code`` in a fresh interpreter (for import-cost and process-level checks)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


if os.environ.get("AGENTARTS_REQUIRE_TORCH"):
    # CI's training step: the tests that need the `train` extra must run there, not skip
    import torch  # noqa: F401
