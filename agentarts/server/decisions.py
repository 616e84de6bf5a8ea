"""The fast path of approve/reject: record the signed decision, answer, apply it later.

``AgentService`` uses :class:`DecisionsMixin`: ``_accept`` makes the checks ``Agent.approve``
makes before it runs (the thread waits for this very request; the reason's length), writes the
decision row and queues the thread on the :class:`~agentarts.server.resumer.Resumer`;
``apply_recorded`` is what the resumer runs (``Agent.resume`` applies a recorded decision after
checking its signature and digest); ``unapplied`` is what its scan looks for.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from agentarts.errors import ApprovalError, UsageError

if TYPE_CHECKING:
    from agentarts.server.service import Principal

__all__ = ["DecisionsMixin"]


class DecisionsMixin:
    """Accept a decision now, apply it in the background (mixed into ``AgentService``, which
    supplies the attributes and the two methods named below)."""

    agents: dict[str, Any]
    store: Any
    users: Any
    hub: Any
    resumer: Any
    accepting: int
    _locks_guard: Any

    _agent_for_thread: Callable[[str], tuple[str, Any]]
    _lock: Callable[[str], Any]

    @property
    def local_fast(self) -> bool:
        """Both stores write through raw SQLite connections: recording a decision takes well
        under a millisecond, less than handing it to a worker thread costs."""
        return self.users._raw is not None and getattr(self.store, "_raw", None) is not None

    def _accept(
        self, who: Principal, ref: str, agent: Any, thread_id: str, approved: bool, reason: str
    ) -> dict[str, Any]:
        """Record the signed decision (the database refuses a second one) and queue the
        resume; the same checks and row as ``Agent.approve``/``reject`` make before they run."""
        from agentarts.graph.actuation import check_decision_text  # langgraph: loaded here

        action = "approve" if approved else "reject"
        check_decision_text(who.name, reason)
        if not approved and not reason.strip():
            raise UsageError("a rejection needs a reason")
        with self._locks_guard:
            self.accepting += 1
        try:
            with self._lock(thread_id):
                if self.resumer.holds(thread_id):
                    raise ApprovalError(
                        f"thread {thread_id}: this approval request was already decided"
                    )
                # one INSERT; the database refuses a second decision
                pending, row = agent.record_decision(thread_id, approved, who.name, reason)
                self.resumer.submit(thread_id)
            detail = {"action": row["action"], "proposal": pending.get("proposal")}
            self.users.audit(
                who.name, who.role, action, thread_id, "resuming", {**detail, "reason": reason}
            )
            decision = {
                "decision": row["decision"],
                "by": who.name,
                "reason": reason,
                "action": row["action"],
                "interrupt_id": pending["interrupt_id"],
            }
            self.hub.publish(
                {"kind": "decision_recorded", "thread_id": thread_id, "node": None, **decision}
            )
            return {
                "thread_id": thread_id,
                "status": "resuming",
                "agent": ref,
                "pending": None,
                "decision": decision,
                "started_by": self.users.started_by(thread_id),
            }
        finally:
            with self._locks_guard:
                self.accepting -= 1

    def apply_recorded(self, thread_id: str) -> str | None:
        """Resume a thread whose decision is recorded but not applied (the background
        worker); returns the run's status, or None when there was nothing to apply."""
        _, agent = self._agent_for_thread(thread_id)
        with self._lock(thread_id):
            current = agent.status(thread_id)
            if current.status == "waiting_approval" and current.pending is not None:
                recorded = agent.store.decision_for(thread_id, current.pending["interrupt_id"])
                if recorded is None or recorded["applied"]:
                    return None
                by = recorded["by"]
            elif current.status == "interrupted":  # died while resuming: continue
                by = ""
            else:
                return None
            try:
                result = agent.resume(thread_id)
            except Exception as exc:  # e.g. a tampered decision row: audited, not applied
                self.users.audit(by or "server", "", "apply_refused", thread_id, str(exc)[:500])
                raise
        self.users.audit(by or "server", "", "applied", thread_id, result.status)
        return str(result.status)

    def unapplied(self, min_age_s: float) -> list[tuple[str, str]]:
        """(thread, interrupt) of decisions recorded ``min_age_s`` ago or earlier and not yet
        applied, oldest first (what the background scan resumes)."""
        from agentarts.store.store import now

        table = self.store.t["approvals"]
        query = (
            table.select()
            .where(
                table.c.applied.is_(False),
                table.c.decided_at <= now() - timedelta(seconds=min_age_s),
            )
            .order_by(table.c.id)
            .limit(10_000)
        )
        with self.store.engine.connect() as conn:
            return [(r.thread_id, r.interrupt_id) for r in conn.execute(query)]
