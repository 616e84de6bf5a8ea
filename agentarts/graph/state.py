"""The state every AgentArts graph carries, to extend with the agent's own fields."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

__all__ = ["AgentState", "merge_grants"]


def merge_grants(current: dict[str, Any] | None, update: dict[str, Any] | None) -> dict[str, Any]:
    """Reducer of ``grants``: add new grants; a ``None`` value removes a used one."""
    merged = dict(current or {})
    for key, value in (update or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


class AgentState(TypedDict, total=False):
    """Base state: extend it (``class MyState(AgentState): reading: dict``).

    ``approvals`` accumulates one entry per decision taken at an approval gate (action,
    proposal, approved, by, reason, run_id, at); ``alerts`` accumulates what the agent raised.
    ``grants`` holds the signed, not yet used approvals an actuating node may claim (one
    approval, one actuation; see docs/actuation.md).
    """

    approvals: Annotated[list[dict[str, Any]], operator.add]
    alerts: Annotated[list[dict[str, Any]], operator.add]
    grants: Annotated[dict[str, Any], merge_grants]
