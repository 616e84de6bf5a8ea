"""The blast-furnace agent, one run every 10 minutes:
ingest -> predict -> diagnose -> recommend -> guard -> approval -> apply (alerts to the store).

One proposal may move several levers (coal, coke, hot blast, steam, blast volume): related
moves are approved or rejected together. No proposal is made that changes nothing. In an
abnormal state the MPC's playbook decides (mpc.py): never fuel into hanging, blast cuts, a coke
blank in a chilled hearth, and an escalation alert to the shift manager.
Rejections count for the rest of the shift (the thread): a heat direction an operator rejected
is proposed again only at half the size.
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
from agentarts.industries.steel.mpc import GAINS
from agentarts.industries.steel.plant import plant
from agentarts.industries.steel.tools import (
    apply_setpoint,
    detect_abnormal,
    detector_threshold,
    predict_thermal,
    read_plant_data,
    recommend_move,
)
from agentarts.tools import current_run

__all__ = ["ENVELOPE", "State", "agent", "builder"]

#: Lever limits; [envelope.<lever>] tables in a project's agentarts.toml override them.
ENVELOPE = Envelope.from_mapping(
    {
        "pci_rate_kg_thm": {"min": 120, "max": 220, "max_step": 10},
        "coke_rate_kg_thm": {"min": 300, "max": 380, "max_step": 20},
        "blast_temp_c": {"min": 1100, "max": 1250, "max_step": 60},
        "steam_g_nm3": {"min": 0, "max": 15, "max_step": 10},
        "blast_volume_nm3_min": {"min": 5500, "max": 7500, "max_step": 400},
    }
)
_LEVERS = tuple(ENVELOPE.limits)
FORECAST_ALERT_C = 10.0  # warn when the 2 h forecast is this far outside the band


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


def _alert(
    entries: list[dict[str, Any]], severity: str, code: str, message: str, data: Any
) -> None:
    entries.append({"severity": severity, "code": code, "message": message})
    run = current_run()
    if run is not None and run.store is not None:
        run.store.add_alert(run.thread_id, run.run_id, severity, code, message, data)


def diagnose(state: State) -> dict[str, Any]:
    """The detector's state, confirmed over two samples; alerts on a confirmed abnormal state
    and when the forecast leaves the band by more than ``FORECAST_ALERT_C`` (on entry only)."""
    diagnosis = detect_abnormal(state["window"]).model_dump()
    probs = diagnosis["probabilities"]
    worst = max((s for s in probs if s != "normal"), key=lambda s: probs[s])
    candidate = worst if probs[worst] > detector_threshold() else "normal"
    was_normal = plant.normal_steps > 0
    diagnosis["confirmed"] = plant.confirm(candidate)
    alerts: list[dict[str, Any]] = []
    forecast = state["forecast"]
    data = {"forecast": forecast, "diagnosis": diagnosis}
    if diagnosis["confirmed"] != "normal" and was_normal:
        severity = "critical" if diagnosis["confirmed"] == "chilled_hearth" else "warning"
        code = diagnosis["confirmed"].upper()
        _alert(alerts, severity, code, f"abnormal state: {diagnosis['confirmed']}", data)
    low, high = HMT_BAND[0] - FORECAST_ALERT_C, HMT_BAND[1] + FORECAST_ALERT_C
    outside = not low <= forecast["hmt_2h_c"] <= high
    if outside and not plant.forecast_outside:
        _alert(
            alerts,
            "warning",
            "HMT_FORECAST_OUT_OF_BAND",
            f"HMT forecast {forecast['hmt_2h_c']:.1f} C outside {low:.0f}-{high:.0f} C",
            data,
        )
    plant.forecast_outside = outside
    return {"diagnosis": diagnosis, "alerts": alerts}


def recommend(state: State) -> dict[str, Any]:
    rejected = sorted(
        {
            1 if _heat(a["proposal"]) > 0 else -1
            for a in state.get("approvals") or []
            if not a["approved"]
        }
    )
    rec = recommend_move(
        {
            "window": state["window"],
            "state": state["diagnosis"]["confirmed"],
            "rejected_directions": rejected,
        }
    ).model_dump()
    alerts: list[dict[str, Any]] = []  # new ones only: the state's reducer accumulates
    if rec["escalate"] and not plant.escalated:
        _alert(alerts, "critical", "ESCALATE", rec["reason"], {"recommendation": rec})
    plant.escalated = rec["escalate"]
    proposal = None
    if rec["move"]:
        heat = sum(GAINS.get(k, 0.0) * v for k, v in rec["deltas"].items())
        proposal = {**rec["levers"], "reason": rec["reason"], "heat_c": round(heat, 2)}
    return {"recommendation": rec, "proposal": proposal, "alerts": alerts}


def _heat(proposal: dict[str, Any]) -> float:
    """The steady-state HMT effect (C) of a proposal against the setpoints in force."""
    return sum(
        GAINS[k] * (v - getattr(plant.setpoints, k))
        for k, v in proposal.items()
        if k in GAINS and v is not None
    )


def _current(state: State) -> dict[str, float]:
    return {k: getattr(plant.setpoints, k) for k in _LEVERS}


def _summary(state: State) -> str:
    rec = state["recommendation"]
    why = f"; forecast driven by {', '.join(rec['drivers'])}" if rec["drivers"] else ""
    return rec["reason"] + why


builder = StateGraph(State)
builder.add_node("ingest", ingest)
builder.add_node("predict", tool_node(predict_thermal, args="window", output_key="forecast"))
builder.add_node("diagnose", diagnose)
builder.add_node("recommend", recommend)
builder.add_node(
    "guard",
    guard(
        ENVELOPE,
        proposal=lambda s: {k: v for k, v in s["proposal"].items() if k in _LEVERS},
        current=_current,
    ),
)
builder.add_node(
    "approval",
    approval_gate(
        apply_setpoint,
        proposal=lambda s: {k: v for k, v in s["proposal"].items() if k != "heat_c"},
        summary=_summary,
    ),
)
builder.add_node(
    "apply",
    tool_node(
        apply_setpoint,
        args=lambda s: {k: v for k, v in s["proposal"].items() if k != "heat_c"},
        output_key="applied",
    ),
)
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
