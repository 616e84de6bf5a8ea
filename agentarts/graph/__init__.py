"""Agent building blocks on LangGraph and the ``Agent`` runtime (durable runs, approvals)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentarts._lazy import lazy_getattr

if TYPE_CHECKING:
    from agentarts.graph.agent import Agent, RunResult
    from agentarts.graph.chat import OpenAICompatibleChat, ScriptedChat, chat_node
    from agentarts.graph.events import RunEvent
    from agentarts.graph.nodes import (
        Envelope,
        Limit,
        approval_gate,
        guard,
        latest_decision,
        route_on_approval,
        route_on_guard,
        tool_node,
    )
    from agentarts.graph.state import AgentState
    from agentarts.graph.verify import VerifyReport, verify

_LAZY = {
    "Agent": "agentarts.graph.agent",
    "RunResult": "agentarts.graph.agent",
    "AgentState": "agentarts.graph.state",
    "RunEvent": "agentarts.graph.events",
    "OpenAICompatibleChat": "agentarts.graph.chat",
    "ScriptedChat": "agentarts.graph.chat",
    "chat_node": "agentarts.graph.chat",
    "Envelope": "agentarts.graph.nodes",
    "Limit": "agentarts.graph.nodes",
    "approval_gate": "agentarts.graph.nodes",
    "guard": "agentarts.graph.nodes",
    "latest_decision": "agentarts.graph.nodes",
    "route_on_approval": "agentarts.graph.nodes",
    "route_on_guard": "agentarts.graph.nodes",
    "tool_node": "agentarts.graph.nodes",
    "VerifyReport": "agentarts.graph.verify",
    "verify": "agentarts.graph.verify",
}
__all__ = [
    "Agent",
    "AgentState",
    "Envelope",
    "Limit",
    "OpenAICompatibleChat",
    "RunEvent",
    "RunResult",
    "ScriptedChat",
    "VerifyReport",
    "approval_gate",
    "chat_node",
    "guard",
    "latest_decision",
    "route_on_approval",
    "route_on_guard",
    "tool_node",
    "verify",
]


__getattr__ = lazy_getattr("agentarts.graph", _LAZY, globals())
