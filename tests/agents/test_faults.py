"""Fault injection: SIGKILL at random points, at step boundaries and inside the actuating tool
(before and after its side effect), and racing approve/resume/reject processes, on SQLite and
Postgres. Zero duplicate or unapproved actuations, zero stuck threads, and the status
`agentarts runs list` shows agrees with the checkpoint (tests/agents/faults.py).

The long campaign (500 kills and 100 races per backend) is `python -m bench faults`.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.agents.conftest import REPO
from tests.agents.faults import fresh_postgres, run_campaign

POSTGRES = os.environ.get("AGENTARTS_TEST_POSTGRES_URL")


def _campaign(url: str, tmp_path, kills: int, races: int, seed: int) -> dict:
    summary = run_campaign(url, tmp_path / "plant.jsonl", kills, races, seed, timeout=900)
    assert summary["problems"] == [], summary
    assert summary["stuck"] == 0, summary
    assert summary["outcomes"].get("killed", 0) >= kills // 2  # the kills did happen
    assert summary["outcomes"].get("needs_confirmation", 0) >= 1  # and hit the tool
    assert summary["returncode"] == 0, summary
    return summary


@pytest.mark.slow
def test_fault_campaign_sqlite(tmp_path):
    _campaign(f"sqlite:///{tmp_path / 'runs.db'}", tmp_path, kills=30, races=12, seed=11)


@pytest.mark.slow
@pytest.mark.skipif(not POSTGRES, reason="set AGENTARTS_TEST_POSTGRES_URL")
def test_fault_campaign_postgres(tmp_path):
    _campaign(fresh_postgres(POSTGRES), tmp_path, kills=20, races=10, seed=12)


@pytest.mark.slow
@pytest.mark.skipif(not POSTGRES, reason="set AGENTARTS_TEST_POSTGRES_URL")
def test_eight_processes_start_on_a_fresh_postgres_database(tmp_path):
    """LangGraph's checkpoint setup and the store's migrations under one lock."""
    url = fresh_postgres(POSTGRES)
    code = (
        "import sys; from agentarts.graph import Agent; "
        "from tests.agents.plant_agent import builder; "
        "a = Agent(builder, name='plant', database_url=sys.argv[1]); "
        "r = a.run({}); assert r.status == 'waiting_approval', r.error; a.close()"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "PLANT_EFFECTS": str(tmp_path / "p.jsonl")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, url],
            cwd=REPO,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, "\n".join(e[-3000:] for e in errors if e)
