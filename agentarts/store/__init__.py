"""The run and audit store (SQLModel): runs, steps, tool calls, approvals, alerts, work orders."""

from agentarts.store.store import RunStore

__all__ = ["RunStore"]
