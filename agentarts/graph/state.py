"""The state every AgentArts graph carries, to extend with the agent's own fields."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

__all__ = ["AgentState"]


class AgentState(TypedDict, total=False):
    """Base state: extend it (``class MyState(AgentState): reading: dict``).

    ``approvals`` accumulates one entry per decision taken at an approval gate (action,
    proposal, approved, by, reason, run_id, at); ``alerts`` accumulates what the agent raised.
    """

    approvals: Annotated[list[dict[str, Any]], operator.add]
    alerts: Annotated[list[dict[str, Any]], operator.add]
