"""Generated projects load under LangGraph's own server (``langgraph dev``, langgraph-cli[inmem]).

Each test generates a project with ``agentarts new``, starts ``langgraph dev`` in it as a real
process (loopback, a port in 19800-19999, no browser, no reload, no analytics, no version
check, no tracing: nothing leaves the machine), and drives it through ``langgraph_sdk``:

1. a run stops at the approval interrupt, with nothing applied;
2. resuming with LangGraph's own ``Command(resume={"approved": true, "by", "reason"})`` (what
   Studio and every LangGraph API host send) completes the run, and the actuating tool ran
   exactly once.

The server is killed (its whole process group) at the end, whatever happened.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("langgraph") is None, reason="needs langgraph-cli[inmem]"),
]

PORTS = range(19800, 20000)
STARTUP_S = 120.0
RUN_TIMEOUT_S = 60.0


def _free_port() -> int:
    for port in PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 19800-19999")


def _new_project(runner: Any, cli: Any, parent: Path, name: str, industry: str) -> Path:
    result = runner.invoke(cli, ["new", name, "-i", industry, "-o", str(parent), "--no-input"])
    assert result.exit_code == 0, result.stderr
    return parent / name


def _quiet_env(data_dir: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "AGENTARTS_DATA_DIR": str(data_dir),
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LANGGRAPH_NO_VERSION_CHECK": "true",
        "LANGSMITH_TRACING": "false",
        "LANGCHAIN_TRACING_V2": "false",
        "PYTHONUNBUFFERED": "1",
    }
    for var in ("LANGSMITH_API_KEY", "LANGCHAIN_API_KEY", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        env.pop(var, None)
    return env


class DevServer:
    """``langgraph dev`` in ``project`` on a free port; ``url`` once it answers ``/ok``."""

    def __init__(self, project: Path, data_dir: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = project.parent / f"{project.name}-langgraph-dev.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    "langgraph",
                    "dev",
                    "--no-browser",
                    "--no-reload",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                cwd=project,
                env=_quiet_env(data_dir),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as one below
            )

    def wait_ready(self) -> None:
        import httpx

        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"langgraph dev exited {self.proc.returncode}:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/ok", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        pytest.fail(f"langgraph dev did not answer within {STARTUP_S:.0f} s:\n{self.tail()}")

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    servers: list[DevServer] = []

    def start(project: Path) -> DevServer:
        server = DevServer(project, tmp_path / "data")
        servers.append(server)
        server.wait_ready()
        return server

    yield start
    for server in servers:
        server.stop()


async def _run_to_gate(url: str, graph_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    from langgraph_sdk import get_client

    client = get_client(url=url)
    assistants = await client.assistants.search(graph_id=graph_id)
    assert [a["graph_id"] for a in assistants] == [graph_id]
    thread = await client.threads.create()
    values = await asyncio.wait_for(
        client.runs.wait(thread["thread_id"], graph_id, input=payload), RUN_TIMEOUT_S
    )
    state = await client.threads.get_state(thread["thread_id"])
    interrupts = [i for task in state["tasks"] for i in task.get("interrupts", [])]
    return {
        "thread_id": thread["thread_id"],
        "values": values,
        "state": state,
        "interrupts": interrupts,
    }


async def _approve(url: str, thread_id: str, graph_id: str) -> dict[str, Any]:
    from langgraph_sdk import get_client

    client = get_client(url=url)
    decision = {"approved": True, "by": "shift lead", "reason": "trend checked"}
    values = await asyncio.wait_for(
        client.runs.wait(thread_id, graph_id, command={"resume": decision}), RUN_TIMEOUT_S
    )
    history = await client.threads.get_history(thread_id, limit=100)
    return {"values": values, "history": history}


def _apply_steps(history: list[dict[str, Any]]) -> int:
    """How many checkpoints scheduled the actuating node ``apply`` (one per execution)."""
    return sum(1 for snap in history if "apply" in (snap.get("next") or []))


def _assert_stopped_at_gate(gate: dict[str, Any], action: str) -> dict[str, Any]:
    assert gate["state"]["next"] == ["approval"], gate["state"]["next"]
    assert len(gate["interrupts"]) == 1
    request = gate["interrupts"][0]["value"]
    assert request["type"] == "approval" and request["action"] == action
    assert not gate["state"]["values"].get("applied")  # nothing changed the plant yet
    return request


def test_blank_project_under_langgraph_dev(runner, cli, tmp_path, serve):
    project = _new_project(runner, cli, tmp_path, "pump-desk", "blank")
    server = serve(project)
    gate = asyncio.run(_run_to_gate(server.url, "pump_desk", {"pump_id": "P-101"}))
    request = _assert_stopped_at_gate(gate, "apply_speed")
    assert request["proposal"]["speed_rpm"] == 2610

    done = asyncio.run(_approve(server.url, gate["thread_id"], "pump_desk"))
    applied = done["values"].get("applied")
    assert applied is not None, (done["values"], server.tail())
    # ran once: the write saw the plant's original speed, and only one `apply` step exists
    assert applied == {"pump_id": "P-101", "previous_rpm": 2900.0, "speed_rpm": 2610.0}
    assert _apply_steps(done["history"]) == 1
    assert [a["by"] for a in done["values"]["approvals"]] == ["shift lead"]


def test_steel_project_under_langgraph_dev(runner, cli, tmp_path, serve):
    project = _new_project(runner, cli, tmp_path, "bf-desk", "steel")
    server = serve(project)
    payload = {"source": "data/sample_history.csv"}
    gate = asyncio.run(_run_to_gate(server.url, "bf_desk", payload))
    request = _assert_stopped_at_gate(gate, "apply_setpoint")
    assert request["proposal"]

    done = asyncio.run(_approve(server.url, gate["thread_id"], "bf_desk"))
    applied = done["values"].get("applied")
    assert applied is not None, (done["values"], server.tail())
    # ran once: what it reports as the previous setpoints is not what it wrote
    assert applied["setpoints"] != applied["previous"]
    assert _apply_steps(done["history"]) == 1
