"""Durability across processes: kill -9 at the gate or mid-node, and two writers on one file."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.agents.conftest import cli
from tests.agents.sample_agent import READING

pytestmark = pytest.mark.slow
REF = "tests.agents.sample_agent:agent"

HOLD_AT_GATE = """
import sys, time
from tests.agents.sample_agent import agent, READING
result = agent.run({"reading": READING}, thread_id=sys.argv[1])
print(result.status, flush=True)
time.sleep(600)   # an operator prompt that never gets answered
"""


def _wait_for(predicate, timeout=60.0):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_kill_at_the_gate_then_approve_from_a_new_process(env, tmp_path):
    log = tmp_path / "applied.log"
    env = {**env, "SAMPLE_APPLIED_LOG": str(log)}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_AT_GATE, "K1"], env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "waiting_approval"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    approved = cli(["runs", "approve", "K1", "--by", "night-shift", "--json"], env)
    assert approved.returncode == 0, approved.stderr
    assert json.loads(approved.stdout)["status"] == "completed"
    again = cli(["runs", "approve", "K1"], env)
    assert again.returncode == 2 and "not waiting" in again.stderr
    shown = json.loads(cli(["runs", "show", "K1", "--json"], env).stdout)
    assert shown["status"] == "completed"
    assert [a["by"] for a in shown["approvals"]] == ["night-shift"]
    assert log.read_text().splitlines() == ["V-1 50.0"]  # applied exactly once


def test_kill_in_a_slow_node_then_resume(env, tmp_path):
    marker = tmp_path / "in-node"
    env = {**env, "SAMPLE_SLOW_MARKER": str(marker)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agentarts.cli.main",
            "run",
            REF,
            "--thread",
            "K2",
            "--json",
            "--input",
            json.dumps({"reading": READING, "slow_s": 300}),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for(marker.exists)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    shown = json.loads(cli(["runs", "show", "K2", "--json"], env).stdout)
    assert shown["status"] == "interrupted"
    resumed = cli(["runs", "resume", "K2", "--json"], {**env, "SAMPLE_NO_SLEEP": "1"})
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "waiting_approval"
    done = cli(["runs", "approve", "K2", "--json"], env)
    assert json.loads(done.stdout)["status"] == "completed"
    record = json.loads(cli(["runs", "show", "K2", "--json"], env).stdout)
    tools = [t["tool"] for t in record["tool_calls"]]
    assert tools.count("forecast") == 1 and tools.count("risk") == 1  # not redone on resume


WRITER = """
import sys
from tests.agents.sample_agent import agent, READING
for i in range(int(sys.argv[2])):
    result = agent.run({"reading": READING}, thread_id=f"{sys.argv[1]}-{i}")
    assert result.status == "waiting_approval", result
print("ok", flush=True)
"""


def test_two_processes_share_one_database(env, tmp_path):
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, name, "12"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0 and out.strip() == "ok", err
    db = Path(env["AGENTARTS_DATABASE_URL"].removeprefix("sqlite:///"))
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        runs = conn.execute("SELECT thread_id, status FROM agentarts_runs").fetchall()
    assert len(runs) == 24 and {s for _, s in runs} == {"waiting_approval"}
    listed = json.loads(cli(["runs", "list", "--json"], env).stdout)["runs"]
    assert len(listed) == 24
    approved = cli(["runs", "approve", "a-3", "--json"], env)
    assert json.loads(approved.stdout)["status"] == "completed"
