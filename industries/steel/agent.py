"""The blast-furnace agent, one run every 10 minutes:
ingest -> predict -> diagnose -> recommend -> guard -> approval -> apply (alerts to the store).

Rejections count for the rest of the shift (the thread): a direction an operator rejected is
proposed again only at half the size.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

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
from agentarts.industries.steel.control import HMT_BAND
from agentarts.industries.steel.plant import plant
from agentarts.industries.steel.tools import (
    apply_setpoint,
    detect_abnormal,
    predict_thermal,
    read_plant_data,
    recommend_move,
)
from agentarts.tools import current_run

__all__ = ["ENVELOPE", "State", "agent", "builder"]

#: Coal injection limits; [envelope.pci_rate_kg_thm] in a project's agentarts.toml overrides.
ENVELOPE = Envelope.from_mapping({"pci_rate_kg_thm": {"min": 120, "max": 220, "max_step": 10}})


class State(AgentState, total=False):
    source: str
    tag_map: dict[str, str]
    window: dict[str, Any]
    forecast: dict[str, Any]
    diagnosis: dict[str, Any]
    recommendation: dict[str, Any]
    proposal: dict[str, Any] | None
    guard: dict[str, Any]
    applied: dict[str, Any] | None


def ingest(state: State) -> dict[str, Any]:
    tag_map = state.get("tag_map")
    if tag_map is None:  # a project's agentarts.toml may map its historian's column names
        from agentarts.config import load_settings

        tag_map = load_settings().doc.get("steel", {}).get("tags", {})
    window = read_plant_data({"source": state.get("source", "live"), "tag_map": tag_map})
    return {"window": window.model_dump(), "applied": None, "proposal": None}


def diagnose(state: State) -> dict[str, Any]:
    diagnosis = detect_abnormal(state["window"]).model_dump()
    alerts = []
    forecast = state["forecast"]
    if diagnosis["state"] != "normal":
        alerts.append(
            (
                "critical" if diagnosis["state"] == "chilled_hearth" else "warning",
                diagnosis["state"].upper(),
                f"abnormal state: {diagnosis['state']}",
            )
        )
    if not HMT_BAND[0] <= forecast["hmt_2h_c"] <= HMT_BAND[1]:
        alerts.append(
            (
                "warning",
                "HMT_FORECAST_OUT_OF_BAND",
                f"HMT forecast {forecast['hmt_2h_c']:.1f} C outside {HMT_BAND}",
            )
        )
    run = current_run()
    entries = []
    for severity, code, message in alerts:
        entries.append({"severity": severity, "code": code, "message": message})
        if run is not None and run.store is not None:
            run.store.add_alert(
                run.thread_id,
                run.run_id,
                severity,
                code,
                message,
                {"forecast": forecast, "diagnosis": diagnosis},
            )
    return {"diagnosis": diagnosis, "alerts": entries}


def recommend(state: State) -> dict[str, Any]:
    rejected = sorted(
        {
            1 if a["proposal"].get("delta_kg_thm", 0) > 0 else -1
            for a in state.get("approvals") or []
            if not a["approved"]
        }
    )
    rec = recommend_move({"window": state["window"], "rejected_directions": rejected}).model_dump()
    proposal = (
        {
            "pci_rate_kg_thm": rec["pci_rate_kg_thm"],
            "delta_kg_thm": rec["delta_kg_thm"],
            "reason": rec["reason"],
        }
        if rec["move"]
        else None
    )
    return {"recommendation": rec, "proposal": proposal}


builder = StateGraph(State)
builder.add_node("ingest", ingest)
builder.add_node("predict", tool_node(predict_thermal, args="window", output_key="forecast"))
builder.add_node("diagnose", diagnose)
builder.add_node("recommend", recommend)
builder.add_node(
    "guard",
    guard(
        ENVELOPE,
        proposal="proposal",
        current=lambda s: {"pci_rate_kg_thm": plant.setpoints.pci_rate_kg_thm},
    ),
)
builder.add_node(
    "approval",
    approval_gate(apply_setpoint, proposal="proposal", summary=lambda s: s["proposal"]["reason"]),
)
builder.add_node("apply", tool_node(apply_setpoint, args="proposal", output_key="applied"))
builder.add_edge(START, "ingest")
builder.add_edge("ingest", "predict")
builder.add_edge("predict", "diagnose")
builder.add_edge("diagnose", "recommend")
builder.add_conditional_edges(
    "recommend", lambda s: "guard" if s.get("proposal") else END, ["guard", END]
)
builder.add_conditional_edges("guard", route_on_guard("approval", END), ["approval", END])
builder.add_conditional_edges(
    "approval", route_on_approval("apply_setpoint", "apply", END), ["apply", END]
)
builder.add_edge("apply", END)

#: The durable agent (`agentarts run agentarts.industries.steel.agent:agent`).
agent = Agent(builder, name="steel-blast-furnace")
