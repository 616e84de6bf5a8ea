"""The run a tool call belongs to (who records it) and the grant an actuating call runs under."""

from __future__ import annotations

import hashlib
import json
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentarts.graph.events import EventBus
    from agentarts.store import RunStore
    from agentarts.tools.paths import PathPolicy

__all__ = ["RunContext", "actuation_key", "current_run", "proposal_digest"]


def proposal_digest(action: str, proposal: Any) -> str:
    """A stable digest of an action and its arguments: what a person approved, exactly
    (the canonical JSON of ``agentarts.security``: sorted keys, 10 and 10.0 alike)."""
    from agentarts.security import canonical_json
    from agentarts.store.store import dumps

    canonical = canonical_json(json.loads(dumps(proposal)))
    return hashlib.sha256(f"{action}\0{canonical}".encode()).hexdigest()


@dataclass
class RunContext:
    """Set by ``Agent`` while a run executes; read by tools and graph nodes."""

    run_id: str
    thread_id: str
    agent: str = ""
    store: RunStore | None = None
    events: EventBus | None = None
    runtime: Any = None  # the Runtime model tools use unless they were given one
    #: the folders tools may open paths in (set for served agents; None: any path)
    paths: PathPolicy | None = None


_CURRENT: ContextVar[RunContext | None] = ContextVar("agentarts_run", default=None)


def current_run() -> RunContext | None:
    """The run being executed in this context, if any."""
    return _CURRENT.get()


#: the verified, claimed grant an actuating tool is being called under (set by ``tool_node``)
_ACTIVE_GRANT: ContextVar[dict[str, Any] | None] = ContextVar("agentarts_grant", default=None)


def actuation_key() -> str | None:
    """The idempotency key of the actuation being carried out (the grant id), or None.

    An idempotent actuating tool (``@tool(safety="actuating", idempotent=True)``) passes it to
    the plant system, so a re-run after a crash is recognised there as the same command.
    """
    grant = _ACTIVE_GRANT.get()
    return None if grant is None else str(grant["id"])
