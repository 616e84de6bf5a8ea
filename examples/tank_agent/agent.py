"""Tank-level agent: read the level, propose an inflow valve move, ask a person, apply it.

Mass balance of a tank of area A: dh/dt = (q_in - q_out) / A; the agent proposes the inflow
valve opening that brings the level back to its setpoint within one hour.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel, Field

from agentarts.config import load_settings
from agentarts.graph import Agent, AgentState, approval_gate, route_on_approval, tool_node
from agentarts.tools import tool

AREA_M2 = 12.0
VALVE_CAPACITY_M3_H = 60.0  # inflow at 100 % opening


class Tank(BaseModel):
    tank_id: str
    level_m: float
    setpoint_m: float
    outflow_m3_h: float
    valve_pct: float


class ValveMove(BaseModel):
    tank_id: str
    valve_pct: float = Field(ge=0, le=100)


TANKS: dict[str, Tank] = {
    "T-1": Tank(tank_id="T-1", level_m=3.1, setpoint_m=4.0, outflow_m3_h=30.0, valve_pct=50.0),
    "T-2": Tank(tank_id="T-2", level_m=4.0, setpoint_m=4.0, outflow_m3_h=30.0, valve_pct=50.0),
}


@tool
def read_tank(tank_id: str) -> Tank:
    """Read a tank's level, setpoint, outflow and valve opening."""
    return TANKS[tank_id]


@tool(safety="actuating")
def move_valve(move: ValveMove) -> Tank:
    """Set a tank's inflow valve opening."""
    tank = TANKS[move.tank_id].model_copy(update={"valve_pct": move.valve_pct})
    TANKS[move.tank_id] = tank
    return tank


class State(AgentState, total=False):
    tank_id: str
    tank: dict[str, Any]
    proposal: dict[str, Any] | None
    applied: dict[str, Any] | None


def propose(state: State) -> dict[str, Any]:
    tank = Tank(**state["tank"])
    error_m = tank.setpoint_m - tank.level_m
    if abs(error_m) < 0.05:
        return {"proposal": None}
    inflow = tank.outflow_m3_h + error_m * AREA_M2  # close the gap within one hour
    pct = max(0.0, min(100.0, 100.0 * inflow / VALVE_CAPACITY_M3_H))
    return {"proposal": {"tank_id": tank.tank_id, "valve_pct": round(pct, 1)}}


builder = StateGraph(State)
builder.add_node(
    "read", tool_node(read_tank, args=lambda s: {"tank_id": s["tank_id"]}, output_key="tank")
)
builder.add_node("propose", propose)
builder.add_node("approval", approval_gate(move_valve, proposal="proposal"))
builder.add_node("apply", tool_node(move_valve, args="proposal", output_key="applied"))
builder.add_edge(START, "read")
builder.add_edge("read", "propose")
builder.add_conditional_edges(
    "propose", lambda s: "approval" if s.get("proposal") else END, ["approval", END]
)
builder.add_conditional_edges(
    "approval", route_on_approval("move_valve", "apply", END), ["apply", END]
)
builder.add_edge("apply", END)


#: Where the examples keep their runs unless told otherwise: beside themselves, in the checkout
#: (git-ignored), never in the home directory.
EXAMPLES_DATA_DIR = Path(__file__).resolve().parents[1] / ".agentarts"


def default_database_url() -> str:
    """``AGENTARTS_DATABASE_URL``/``AGENTARTS_DATA_DIR``/agentarts.toml if set, else a SQLite
    file in :data:`EXAMPLES_DATA_DIR`."""
    return load_settings(default_data_dir=EXAMPLES_DATA_DIR).database_url


def make_agent(database_url: str | None = None) -> Agent:
    """The tank agent on ``database_url`` (default: :func:`default_database_url`)."""
    return Agent(builder, name="tank-agent", database_url=database_url or default_database_url())
