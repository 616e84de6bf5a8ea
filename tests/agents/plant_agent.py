"""A minimal plant agent for the actuation-protocol and fault tests.

The actuating tool appends one line per call to the file named by ``PLANT_EFFECTS`` (the
"plant"), so a test counts real actuations, whatever happened to the processes. ``PLANT_KILL``
makes the process SIGKILL itself inside the tool: ``before`` (no effect yet) or ``after``
(effect written, outcome not yet recorded).
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send
from pydantic import BaseModel, Field

from agentarts.graph import Agent, AgentState, approval_gate, route_on_approval, tool_node
from agentarts.tools import actuation_key, tool


class Setpoint(BaseModel):
    loop: str = "TIC-101"
    value: float = Field(ge=0, le=100)


def effects_file() -> Path:
    return Path(os.environ["PLANT_EFFECTS"])


def effects() -> list[dict[str, Any]]:
    path = effects_file()
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _write_effect(change: Setpoint) -> Setpoint:
    if os.environ.get("PLANT_KILL") == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    with open(effects_file(), "a") as handle:
        line = {"key": actuation_key(), "value": change.value, "pid": os.getpid()}
        handle.write(json.dumps(line) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    if os.environ.get("PLANT_KILL") == "after":
        os.kill(os.getpid(), signal.SIGKILL)
    return change


@tool(safety="actuating")
def write_setpoint(change: Setpoint) -> Setpoint:
    """Write a controller setpoint to the plant."""
    return _write_effect(change)


def _happened(change: Setpoint, key: str) -> bool | None:
    return any(e["key"] == key for e in effects())


@tool(safety="actuating", check=_happened, name="write_setpoint_checked")
def write_setpoint_checked(change: Setpoint) -> Setpoint:
    """Write a setpoint; the plant can tell whether a command key was applied."""
    return _write_effect(change)


@tool(safety="actuating", idempotent=True, name="write_setpoint_idempotent")
def write_setpoint_idempotent(change: Setpoint) -> Setpoint:
    """Write a setpoint; the plant ignores a repeated command key."""
    if any(e["key"] == actuation_key() for e in effects()):
        return change
    return _write_effect(change)


class State(AgentState, total=False):
    proposal: dict
    written: dict
    again: dict
    copies: int


def propose(state: State) -> dict[str, Any]:
    return {"proposal": state.get("proposal") or {"loop": "TIC-101", "value": 42.0}}


def build(shape: str = "plain", actuator: Any = write_setpoint) -> StateGraph:
    """``plain``: propose -> gate -> write; ``twice``: a second write node with the same
    arguments after the first; ``send``: a Send fan-out of three writes after the gate."""
    builder = StateGraph(State)
    builder.add_node("propose", propose)
    builder.add_node("gate", approval_gate(actuator, proposal="proposal"))
    builder.add_node("write", tool_node(actuator, args="proposal", output_key="written"))
    builder.add_edge(START, "propose")
    builder.add_edge("propose", "gate")
    if shape == "send":

        def fan_out(state: State) -> Any:
            if not (state.get("approvals") or [{}])[-1].get("approved"):
                return END
            return [Send("write", state) for _ in range(3)]

        builder.add_conditional_edges("gate", fan_out, ["write", END])
    else:
        builder.add_conditional_edges(
            "gate", route_on_approval(actuator.name, "write", END), ["write", END]
        )
    if shape == "twice":
        builder.add_node("again", tool_node(actuator, args="proposal", output_key="again"))
        builder.add_edge("write", "again")
        builder.add_edge("again", END)
    else:
        builder.add_edge("write", END)
    return builder


builder = build()
agent = Agent(builder, name="plant")
checked_agent = Agent(build(actuator=write_setpoint_checked), name="plant-checked")
idempotent_agent = Agent(build(actuator=write_setpoint_idempotent), name="plant-idempotent")
#: for `langgraph dev` and other LangGraph hosts: the compiled graph, no Agent wrapper
graph = builder.compile()
