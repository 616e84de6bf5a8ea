"""A process-control agent for the tests: two model tools, a guard and an approval gate.

The models are built in code (``build_models``) into a folder the tests point
AGENTARTS_MODEL_REPOSITORIES at; the model tools find them through the default runtime.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel, Field

from agentarts.graph import (
    Agent,
    AgentState,
    Envelope,
    approval_gate,
    guard,
    route_on_approval,
    route_on_guard,
    tool_node,
)
from agentarts.tools import ModelTool, tool

CARD_FORECAST = """
description = "next-hour temperature and pressure"
task = "regression"
[[inputs]]
name = "x"
features = ["temp_c", "pressure_bar", "flow_m3_h"]
mean = [300.0, 5.0, 100.0]
std = [20.0, 1.0, 10.0]
[[outputs]]
name = "y"
features = ["temp_next_c", "pressure_next_bar"]
mean = [300.0, 5.0]
std = [20.0, 1.0]
"""

CARD_RISK = """
description = "risk of an excursion"
task = "regression"
[[inputs]]
name = "x"
features = ["temp_c", "pressure_bar", "flow_m3_h"]
mean = [300.0, 5.0, 100.0]
std = [20.0, 1.0, 10.0]
[[outputs]]
name = "y"
features = ["risk"]
mean = [0.5]
std = [0.1]
"""


def build_models(folder: Path) -> Path:
    from agentarts.runtime.testing import make_mlp, write_model

    write_model(folder, "forecast", make_mlp((3, 16, 2), seed=11), card=CARD_FORECAST)
    write_model(folder, "risk", make_mlp((3, 8, 1), seed=12), card=CARD_RISK)
    return folder


class ProcessReading(BaseModel):
    temp_c: float
    pressure_bar: float
    flow_m3_h: float


class Forecast(BaseModel):
    temp_next_c: float
    pressure_next_bar: float


class Risk(BaseModel):
    risk: float


class ValveMove(BaseModel):
    valve_id: str
    opening_pct: float = Field(ge=0, le=100)


class ValveState(BaseModel):
    valve_id: str
    opening_pct: float


VALVES: dict[str, float] = {"V-1": 40.0}
APPLIED_LOG = os.environ.get("SAMPLE_APPLIED_LOG")  # tests count actuations across processes

forecast = ModelTool(
    "forecast",
    "forecast",
    ProcessReading,
    Forecast,
    description="Forecast temperature and pressure one hour ahead.",
)
risk = ModelTool("risk", "risk", ProcessReading, Risk, description="Excursion risk.")


@tool(safety="actuating")
def set_valve(move: ValveMove) -> ValveState:
    """Move a control valve."""
    VALVES[move.valve_id] = move.opening_pct
    if APPLIED_LOG:
        with open(APPLIED_LOG, "a") as handle:
            handle.write(f"{move.valve_id} {move.opening_pct}\n")
    return ValveState(valve_id=move.valve_id, opening_pct=move.opening_pct)


class State(AgentState, total=False):
    reading: dict[str, Any]
    forecast: dict[str, Any]
    risk: dict[str, Any]
    proposal: dict[str, Any] | None
    guard: dict[str, Any]
    applied: dict[str, Any] | None
    slow_s: float
    fail: bool


def propose(state: State) -> dict[str, Any]:
    if state.get("slow_s") and not os.environ.get("SAMPLE_NO_SLEEP"):
        marker = os.environ.get("SAMPLE_SLOW_MARKER")
        if marker:
            Path(marker).write_text("in propose")
        time.sleep(float(state["slow_s"]))
    if state.get("fail") and not os.environ.get("SAMPLE_FIXED"):
        raise RuntimeError("sensor bus down")
    opening = VALVES["V-1"] + (10.0 if state["forecast"]["temp_next_c"] > 300 else -10.0)
    return {"proposal": {"valve_id": "V-1", "opening_pct": opening}}


ENVELOPE = Envelope.from_mapping({"opening_pct": {"min": 5, "max": 95, "max_step": 15}})

builder = StateGraph(State)
builder.add_node("forecast", tool_node(forecast, args="reading", output_key="forecast"))
builder.add_node("risk", tool_node(risk, args="reading", output_key="risk"))
builder.add_node("propose", propose)
builder.add_node(
    "guard", guard(ENVELOPE, proposal="proposal", current=lambda s: {"opening_pct": VALVES["V-1"]})
)
builder.add_node("approval", approval_gate(set_valve, proposal="proposal"))
builder.add_node("apply", tool_node(set_valve, args="proposal", output_key="applied"))
builder.add_edge(START, "forecast")
builder.add_edge("forecast", "risk")
builder.add_edge("risk", "propose")
builder.add_edge("propose", "guard")
builder.add_conditional_edges("guard", route_on_guard("approval", END), ["approval", END])
builder.add_conditional_edges(
    "approval", route_on_approval("set_valve", "apply", END), ["apply", END]
)
builder.add_edge("apply", END)

agent = Agent(builder, name="sample")
READING = {"temp_c": 320.0, "pressure_bar": 5.5, "flow_m3_h": 95.0}
