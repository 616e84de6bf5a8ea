"""Graph building blocks: tool nodes, the approval gate, the operating-envelope guard.

They return plain LangGraph node functions, so they mix freely with hand-written nodes::

    builder = StateGraph(MyState)
    builder.add_node("read", tool_node(read_pump, args="query", output_key="reading"))
    builder.add_node("guard", guard(envelope, proposal="proposal", current="reading"))
    builder.add_node("approval", approval_gate(apply_speed, proposal="proposal"))
    builder.add_node("apply", tool_node(apply_speed, args="proposal", output_key="applied"))
    builder.add_conditional_edges("approval", route_on_approval("apply_speed", "apply", END))
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from agentarts.errors import ConfigError, InvalidInputError
from agentarts.tools.base import Safety, Tool
from agentarts.tools.context import current_run

__all__ = [
    "Envelope",
    "Limit",
    "approval_gate",
    "guard",
    "latest_decision",
    "route_on_approval",
    "route_on_guard",
    "tool_node",
]

Selector = Callable[[Mapping[str, Any]], Any] | str


def _select(selector: Selector | None, state: Mapping[str, Any]) -> Any:
    if selector is None:
        return None
    if callable(selector):
        return selector(state)
    return state.get(selector)


def _plain(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


def _with_config(node: Callable[..., Any]) -> Callable[..., Any]:
    """LangGraph passes the run's config (thread id, task namespace) to a node whose
    ``config`` parameter is annotated as ``RunnableConfig`` (an object, not a string)."""
    from langchain_core.runnables import RunnableConfig

    node.__annotations__["config"] = RunnableConfig | None
    return node


def tool_node(
    tool: Tool, args: Selector | None = None, output_key: str | None = None
) -> Callable[..., Any]:
    """A node that calls ``tool`` with ``args`` (a state key or a function of the state) and
    stores the result under ``output_key`` (default: the tool's name).

    For an actuating tool the node carries out the actuation protocol: it claims the grant an
    approval gate put in the state (one grant, one call, whatever the graph's shape), records
    the intent before the call and the outcome after, and recovers after a crash without
    repeating the action silently (``agentarts.graph.actuation``).
    """
    key = output_key or tool.name

    def node(state: Mapping[str, Any], config: Any = None) -> dict[str, Any]:
        if tool.safety is Safety.ACTUATING:
            from agentarts.graph.actuation import run_actuation

            parsed = tool._parse(_plain(_select(args, state)))
            return run_actuation(tool, parsed, state, config, key)
        return {key: tool.invoke(_select(args, state)).model_dump(mode="json")}

    node.__name__ = f"tool_{tool.name}"
    node.__agentarts_tool__ = tool  # type: ignore[attr-defined]
    return _with_config(node)


@dataclass(frozen=True)
class Decision:
    """A person's answer at a gate. ``digest`` is the digest of the proposal they were shown
    (sent by AgentArts front ends; a LangGraph host may omit it)."""

    approved: bool
    by: str
    reason: str
    digest: str = ""

    @classmethod
    def parse(cls, value: Any) -> Decision:
        if isinstance(value, bool):
            return cls(value, "operator", "")
        if isinstance(value, Mapping) and isinstance(value.get("approved"), bool):
            return cls(
                value["approved"],
                str(value.get("by") or "operator"),
                str(value.get("reason") or ""),
                str(value.get("digest") or ""),
            )
        raise InvalidInputError(
            'an approval decision is true/false or {"approved": bool, "by": str, '
            f'"reason": str}}, got {value!r}'
        )


def approval_gate(
    tool: Tool,
    proposal: Selector,
    *,
    summary: Callable[[Mapping[str, Any]], str] | None = None,
) -> Callable[..., Any]:
    """A node that pauses the run (LangGraph ``interrupt``) until a person decides on calling
    ``tool`` with exactly ``proposal``.

    What the person is shown is frozen and signed in the ledger when the gate first pauses; an
    approval becomes a signed grant in the graph state that exactly one actuating step can
    claim. This holds in any LangGraph host: resume it with
    ``Command(resume={"approved": bool, "by": str, "reason": str})``.
    """

    def node(state: Mapping[str, Any], config: Any = None) -> dict[str, Any]:
        from langgraph.types import interrupt

        from agentarts.graph.actuation import decide_at_gate, ledger, task_of
        from agentarts.tools.context import proposal_digest

        parsed = tool._parse(_plain(_select(proposal, state)))
        args = parsed.model_dump(mode="json")
        digest = proposal_digest(tool.name, args)
        thread_id, ns = task_of(config)
        ledger().put_request(f"{thread_id}|{ns}", thread_id, tool.name, args, digest)
        request = {
            "type": "approval",
            "action": tool.name,
            "safety": tool.safety.value,
            "proposal": args,
            "digest": digest,
            "summary": summary(state) if summary else tool.description,
        }
        decision = Decision.parse(interrupt(request))
        grant = decide_at_gate(tool.name, args, digest, decision, thread_id, ns)
        run = current_run()
        entry = {
            "action": tool.name,
            "proposal": args,
            "approved": decision.approved,
            "by": decision.by,
            "reason": decision.reason,
            "at": time.time(),
            "run_id": run.run_id if run is not None else None,
        }
        update: dict[str, Any] = {"approvals": [entry]}
        if grant is not None:
            update["grants"] = {grant["id"]: grant}
        return update

    node.__name__ = f"approve_{tool.name}"
    node.__agentarts_gate__ = tool.name  # type: ignore[attr-defined]
    return _with_config(node)


def latest_decision(state: Mapping[str, Any], action: str) -> dict[str, Any] | None:
    """The most recent approval entry for ``action`` in the state, if any."""
    for entry in reversed(state.get("approvals") or []):
        if entry.get("action") == action:
            return entry
    return None


def route_on_approval(action: str, approved: str, rejected: str) -> Callable[..., str]:
    """Conditional-edge function: go to ``approved`` or ``rejected`` after a gate."""

    def route(state: Mapping[str, Any]) -> str:
        entry = latest_decision(state, action)
        return approved if entry is not None and entry["approved"] else rejected

    route.__name__ = f"route_{action}"
    return route


@dataclass(frozen=True)
class Limit:
    """Bounds for one numeric field of a proposed action."""

    min: float | None = None
    max: float | None = None
    max_step: float | None = None  # largest allowed change from the current value


@dataclass
class Envelope:
    """The operating envelope proposed actions must stay inside (limits can be changed live)."""

    limits: Mapping[str, Limit]

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> Envelope:
        """From ``{"speed_rpm": {"min": 600, "max": 3000, "max_step": 300}}`` (agentarts.toml
        ``[envelope.speed_rpm]`` tables)."""
        limits = {}
        for name, spec in table.items():
            if not isinstance(spec, Mapping) or set(spec) - {"min", "max", "max_step"}:
                raise ConfigError(f"[envelope.{name}] takes min, max and max_step only")
            limits[name] = Limit(**{k: float(v) for k, v in spec.items()})
        return cls(limits)

    @classmethod
    def from_settings(cls, settings: Any = None) -> Envelope:
        from agentarts.config import load_settings

        settings = settings or load_settings()
        return cls.from_mapping(settings.envelope)

    def check(
        self, proposal: Mapping[str, Any], current: Mapping[str, Any] | None = None
    ) -> list[str]:
        """Violations of ``proposal`` (empty when it is inside the envelope)."""
        problems = []
        for name, limit in self.limits.items():
            if name not in proposal or proposal[name] is None:
                continue
            value = float(proposal[name])
            if limit.min is not None and value < limit.min:
                problems.append(f"{name}={value:g} is below the minimum {limit.min:g}")
            if limit.max is not None and value > limit.max:
                problems.append(f"{name}={value:g} is above the maximum {limit.max:g}")
            if limit.max_step is not None and current and current.get(name) is not None:
                step = abs(value - float(current[name]))
                if step > limit.max_step:
                    problems.append(f"{name} changes by {step:g}, more than {limit.max_step:g}")
        return problems


def guard(
    envelope: Envelope,
    proposal: Selector,
    current: Selector | None = None,
    output_key: str = "guard",
) -> Callable[..., Any]:
    """A node that checks a proposed action against ``envelope``: ``{"ok", "violations"}``."""

    def node(state: Mapping[str, Any]) -> dict[str, Any]:
        prop = _plain(_select(proposal, state))
        if prop is None:
            return {output_key: {"ok": False, "violations": ["no proposal"]}}
        violations = envelope.check(prop, _plain(_select(current, state)))
        run = current_run()
        if violations and run is not None and run.events is not None:
            run.events.emit("guard_violation", run, node="guard", violations=violations)
        return {output_key: {"ok": not violations, "violations": violations}}

    node.__name__ = "guard"
    return node


def route_on_guard(ok: str, violated: str, key: str = "guard") -> Callable[..., str]:
    """Conditional-edge function after a guard node."""

    def route(state: Mapping[str, Any]) -> str:
        return ok if (state.get(key) or {}).get("ok") else violated

    return route
