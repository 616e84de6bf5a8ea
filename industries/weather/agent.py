"""The weather-desk agent, one run per forecast cycle:
forecast -> sites -> rules -> draft CAP alerts -> approval (duty forecaster) -> issue.

Nothing is issued without the approval gate: ``issue_alerts`` is an actuating tool and the
graph reaches it only through ``approval_gate(issue_alerts, ...)``. A rejection ends the run
with the drafts kept in the state and the store (as tool outputs), nothing sent.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from agentarts.graph import Agent, AgentState, approval_gate, route_on_approval, tool_node
from agentarts.industries.weather.tools import (
    apply_site_rules,
    draft_alerts,
    extract_sites,
    forecast,
    issue_alerts,
)

__all__ = ["State", "agent", "builder"]


class State(AgentState, total=False):
    initial: str  # "seed:N" or an analysis NetCDF
    days: int
    model: str  # "emulator" (default) or "numerical"
    out: str  # forecast NetCDF path (optional)
    sites: list[dict[str, Any]]  # optional; default: the pack's demo sites
    outbox: str  # where issued CAP files go (optional)
    status: str  # CAP status when issued: "Exercise" (default) or "Actual"
    forecast: dict[str, Any]
    extracted: dict[str, Any]
    findings: dict[str, Any]
    drafts: dict[str, Any]
    issued: dict[str, Any] | None


def _forecast_args(state: State) -> dict[str, Any]:
    return {
        "initial": state.get("initial", "seed:7"),
        "days": state.get("days", 5),
        "model": state.get("model", "emulator"),
        "out": state.get("out", ""),
    }


def _sites(state: State) -> list[dict[str, Any]] | None:
    """The run's sites: the input's, else a project's ``[[weather.sites]]`` in agentarts.toml,
    else None (the pack's demo sites)."""
    if state.get("sites"):
        return state["sites"]
    from agentarts.config import load_settings

    return load_settings().doc.get("weather", {}).get("sites") or None


def _sites_args(state: State) -> dict[str, Any]:
    args: dict[str, Any] = {"path": state["forecast"]["path"]}
    sites = _sites(state)
    if sites:
        args["sites"] = sites
    return args


def _draft_args(state: State) -> dict[str, Any]:
    args: dict[str, Any] = {
        "findings": state["findings"]["findings"],
        "init_time": state["findings"]["init_time"],
    }
    sites = _sites(state)
    if sites:
        args["sites"] = sites
    return args


def _batch(state: State) -> dict[str, Any]:
    return {
        "alerts": state["drafts"]["alerts"],
        "status": state.get("status", "Exercise"),
        "outbox": state.get("outbox", ""),
    }


def _summary(state: State) -> str:
    alerts = state["drafts"]["alerts"]
    kinds = ", ".join(f"{a['site']}: {a['code']}" for a in alerts[:6])
    more = f" and {len(alerts) - 6} more" if len(alerts) > 6 else ""
    return f"Issue {len(alerts)} CAP alert(s) ({kinds}{more})?"


def record(state: State) -> dict[str, Any]:
    """Issued alerts into the state's alert log (the store has them from the tool)."""
    issued = state.get("issued") or {}
    entries = [
        {"severity": "warning", "code": a["code"], "message": f"{a['site']}: {a['code']}"}
        for a in state["drafts"]["alerts"]
    ]
    return {"alerts": entries if issued.get("issued") else []}


builder = StateGraph(State)
builder.add_node("forecast", tool_node(forecast, args=_forecast_args, output_key="forecast"))
builder.add_node("sites", tool_node(extract_sites, args=_sites_args, output_key="extracted"))
builder.add_node("rules", tool_node(apply_site_rules, args="extracted", output_key="findings"))
builder.add_node("draft", tool_node(draft_alerts, args=_draft_args, output_key="drafts"))
builder.add_node("approval", approval_gate(issue_alerts, proposal=_batch, summary=_summary))
builder.add_node("issue", tool_node(issue_alerts, args=_batch, output_key="issued"))
builder.add_node("record", record)
builder.add_edge(START, "forecast")
builder.add_edge("forecast", "sites")
builder.add_edge("sites", "rules")
builder.add_conditional_edges(
    "rules", lambda s: "draft" if s["findings"]["findings"] else END, ["draft", END]
)
builder.add_edge("draft", "approval")
builder.add_conditional_edges(
    "approval", route_on_approval("issue_alerts", "issue", END), ["issue", END]
)
builder.add_edge("issue", "record")
builder.add_edge("record", END)

#: The durable agent (`agentarts run agentarts.industries.weather.agent:agent`).
agent = Agent(builder, name="weather-desk")
