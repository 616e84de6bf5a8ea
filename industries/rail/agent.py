"""The rail inspection agent, one run per train pass:

inspect (triage every crop through the runtime) -> rank (group per car, critical first) ->
for each suspected fault: approval gate (a person confirms, rejects or asks to re-inspect)
-> work order for a confirmed one -> the decision kept as a label -> the train report.

A person's answer at the gate: approve = **confirm** (the work order in the proposal is raised:
set the car out for a critical fault, repair on site for a major one, re-check for a minor one);
reject = **reject** (a false alarm, labelled normal for retraining); reject with a reason that
starts with ``re-inspect`` = **re-inspect** (no work order now; the finding stays open in the
report and an alert asks for a look on site).
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from agentarts.graph import (
    Agent,
    AgentState,
    approval_gate,
    latest_decision,
    route_on_approval,
    tool_node,
)
from agentarts.industries.rail.tools import (
    inspect_train,
    raise_work_order,
    record_decision,
    threshold_ratio,
    write_train_report,
)
from agentarts.tools import current_run

__all__ = ["State", "agent", "builder", "proposal_for"]

RANK = {"critical": 0, "major": 1, "minor": 2, "": 3}
ACTIONS = {"critical": "remove_car", "major": "repair_on_site", "minor": "recheck"}


class State(AgentState, total=False):
    request: dict[str, Any]
    triage: dict[str, Any]
    queue: list[dict[str, Any]]
    position: int
    proposal: dict[str, Any] | None
    decisions: list[dict[str, Any]]
    work_orders: list[dict[str, Any]]
    order: dict[str, Any]
    report: dict[str, Any]


def start(state: State) -> dict[str, Any]:
    return {"request": state.get("request") or {}, "decisions": [], "work_orders": []}


def rank(state: State) -> dict[str, Any]:
    """Critical first, then by car, then furthest past its threshold first: what a person
    should see first."""
    findings = state["triage"]["findings"]
    queue = sorted(
        findings,
        key=lambda f: (RANK.get(f["criticality"], 3), f["car_index"], -threshold_ratio(f)),
    )
    return {"queue": queue, "position": 0}


def proposal_for(f: dict[str, Any]) -> dict[str, Any]:
    crit = f["criticality"] or "major"
    return {
        "train_id": f["train_id"],
        "car_index": f["car_index"],
        "car_number": f["car_number"],
        "vehicle_class": f["vehicle_class"],
        "component": f["component"],
        "fault_type": f["fault_type"],
        "mode": f["mode"],
        "criticality": crit,
        "action": ACTIONS[crit],
        "evidence": f"{f['station']} frame {f['frame']} window {f['window']}"
        + (f" ({f['file']})" if f.get("file") else ""),
    }


def next_finding(state: State) -> dict[str, Any]:
    queue, pos = state.get("queue") or [], state.get("position", 0)
    return {"proposal": proposal_for(queue[pos]) if pos < len(queue) else None}


def _summary(state: State) -> str:
    p = state["proposal"]
    f = state["queue"][state["position"]]
    slot = f.get("slot_score")
    residual = "" if slot is None else f", slot residual {slot:.1f}"
    return (
        f"Suspected {p['fault_type']} ({p['criticality']}) on car {p['car_index']} "
        f"{p['car_number']} at {p['evidence']}; fault score {f['fault_score']:.2f} (of which "
        f"unexplained anomaly {f['anomaly_score']:.2f}){residual}; evidence "
        f"{threshold_ratio(f):.2f} x its threshold "
        f"(flagged from 1). Approve = confirm and {p['action']}; "
        "reject = false alarm; reject with reason 're-inspect ...' = look on site first"
    )


def decided(state: State) -> dict[str, Any]:
    """Record the person's decision (and the label it gives), move to the next finding."""
    f = state["queue"][state["position"]]
    entry = latest_decision(state, "raise_work_order") or {}
    reason = str(entry.get("reason") or "")
    if entry.get("approved"):
        decision = "confirm"
    elif reason.strip().lower().startswith("re-inspect"):
        decision = "re-inspect"
        run = current_run()
        if run is not None and run.store is not None:
            run.store.add_alert(
                run.thread_id,
                run.run_id,
                "warning",
                "RAIL_REINSPECT",
                f"re-inspect {f['fault_type']} on car {f['car_index']}",
                f,
            )
    else:
        decision = "reject"
    record = {
        "finding": f,
        "decision": decision,
        "by": str(entry.get("by") or ""),
        "reason": reason,
    }
    record_decision(record)
    orders = list(state.get("work_orders") or [])
    if decision == "confirm" and state.get("order"):
        orders.append(state["order"])
    return {
        "decisions": [*(state.get("decisions") or []), record],
        "work_orders": orders,
        "order": {},
        "position": state["position"] + 1,
    }


builder = StateGraph(State)
builder.add_node("start", start)
builder.add_node("inspect", tool_node(inspect_train, args="request", output_key="triage"))
builder.add_node("rank", rank)
builder.add_node("next", next_finding)
builder.add_node("approval", approval_gate(raise_work_order, proposal="proposal", summary=_summary))
builder.add_node("raise", tool_node(raise_work_order, args="proposal", output_key="order"))
builder.add_node("decided", decided)
builder.add_node(
    "report",
    tool_node(
        write_train_report,
        args=lambda s: {
            "triage": s["triage"],
            "decisions": s.get("decisions") or [],
            "work_orders": s.get("work_orders") or [],
        },
        output_key="report",
    ),
)
builder.add_edge(START, "start")
builder.add_edge("start", "inspect")
builder.add_edge("inspect", "rank")
builder.add_edge("rank", "next")
builder.add_conditional_edges(
    "next", lambda s: "approval" if s.get("proposal") else "report", ["approval", "report"]
)
builder.add_conditional_edges(
    "approval", route_on_approval("raise_work_order", "raise", "decided"), ["raise", "decided"]
)
builder.add_edge("raise", "decided")
builder.add_edge("decided", "next")
builder.add_edge("report", END)

#: The durable agent (`agentarts run agentarts.industries.rail.agent:agent`).
agent = Agent(builder, name="rail-inspection")
