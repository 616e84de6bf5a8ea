"""``agentarts runs verify``: check a thread's approvals and actuations against their signatures.

What it checks, per thread (or the whole database):

- every approval request, decision and actuation record carries a valid signature under the
  project secret (an edited, inserted or flipped row fails);
- every actuation names a grant whose signature is valid and whose digest is the digest of the
  arguments it ran with;
- every actuation that ran was approved: a decision row says ``approved`` for the same
  interrupt and the same digest;
- no actuation is left between intent and outcome without a live process holding it (that
  thread needs ``agentarts runs resume`` and maybe a person's confirmation).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["VerifyReport", "verify"]


@dataclass
class VerifyReport:
    """What ``verify`` found: counts of checked rows and one line per problem."""

    threads: int = 0
    requests: int = 0
    approvals: int = 0
    actuations: int = 0
    problems: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, thread_id: str, kind: str, detail: str) -> None:
        self.problems.append({"thread_id": thread_id, "kind": kind, "detail": detail})

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "threads": self.threads,
            "checked": {
                "requests": self.requests,
                "approvals": self.approvals,
                "actuations": self.actuations,
            },
            "problems": self.problems,
        }


def verify(store: Any, thread_id: str | None = None) -> VerifyReport:
    """Check the signed rows of ``thread_id`` (every thread when None) in ``store``."""
    from agentarts._process import is_alive
    from agentarts.graph.actuation import grant_ok
    from agentarts.tools.context import proposal_digest

    report = VerifyReport()
    threads: set[str] = set()
    for row in store.requests(thread_id):
        report.requests += 1
        threads.add(row["thread_id"])
        if not store.request_ok(row):
            report.problem(row["thread_id"], "request", f"approval request {row['key']} edited")
    decisions: dict[tuple[str, str], dict[str, Any]] = {}
    for row in store.rows("approvals", thread_id, "id", ("proposal",)):
        report.approvals += 1
        threads.add(row["thread_id"])
        decisions[(row["thread_id"], row["interrupt_id"])] = row
        if not store.approval_ok(row):
            report.problem(
                row["thread_id"],
                "approval",
                f"decision #{row['id']} ({row['decision']} by {row['by']}) fails its signature",
            )
    for row in store.actuations(thread_id):
        report.actuations += 1
        thread = row["thread_id"]
        threads.add(thread)
        label = f"{row['action']} (grant {row['grant_id'][:12]})"
        if not store.actuation_ok(row):
            report.problem(thread, "actuation", f"{label}: record fails its signature")
        grant = json.loads(row["grant"] or "null") or {}
        if not grant_ok(store, grant) or grant.get("id") != row["grant_id"]:
            report.problem(thread, "grant", f"{label}: its grant fails its signature")
            continue
        if proposal_digest(row["action"], json.loads(row["args"])) != grant["digest"]:
            report.problem(thread, "grant", f"{label}: ran with arguments it was not granted")
        decision = decisions.get((thread, grant.get("interrupt_id", "")))
        if decision is None or decision["decision"] != "approved":
            report.problem(thread, "unapproved", f"{label}: no approved decision on record")
        elif decision["digest"] not in ("", grant["digest"]):
            report.problem(thread, "unapproved", f"{label}: approved a different proposal")
        if row["status"] in ("intent", "uncertain") and not is_alive(row["claimed_by"]):
            report.problem(
                thread,
                "unfinished",
                f"{label}: outcome unknown (holder {row['claimed_by'] or 'gone'}): "
                "resume the thread to resolve it",
            )
    report.threads = len(threads)
    return report
