"""The actuation protocol, graph half: one approval, one actuation, in any LangGraph host.

docs/actuation.md is the specification; in short:

1. The gate freezes what it shows (exact arguments and their digest) in the ledger, signed,
   before it pauses. On resume it refuses a proposal that differs from what was shown, and a
   decision whose recorded row fails its signature or says otherwise.
2. An approval becomes a *grant* in graph state (checkpointed, signed): bound to the thread,
   the interrupt, the approver and the digest. Whatever resumes the graph (``Agent``,
   ``langgraph dev``, LangGraph API, Studio), the grant travels with the state.
3. The actuating node claims the grant in the database (an INSERT keyed by the grant id: one
   winner across processes and hosts), records the intent before calling the tool and the
   outcome after. A second task (another node, a ``Send`` copy, a loop turn) finds the grant
   used and is refused.
4. After a crash between intent and outcome the claim is orphaned. An idempotent tool runs
   again with the same idempotency key; a tool with a ``check`` is asked whether it happened;
   otherwise the run stops and asks a person (``agentarts runs resolve``), with the evidence.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from agentarts.errors import ActuationBusyError, ApprovalError, InvalidInputError, TamperError
from agentarts.tools.context import _ACTIVE_GRANT, current_run, proposal_digest

__all__ = [
    "GRANT_FIELDS",
    "decide_at_gate",
    "grant_ok",
    "ledger",
    "run_actuation",
    "task_of",
]

log = logging.getLogger("agentarts.actuation")

GRANT_FIELDS = ("id", "thread_id", "action", "digest", "args", "by", "reason", "interrupt_id")
MAX_BY = 200
MAX_REASON = 4000

_LEDGERS: dict[str, Any] = {}


def ledger() -> Any:
    """The run store holding the ledger: the running Agent's, else the project's (a graph run
    by ``langgraph dev`` or another host uses the database its settings name)."""
    run = current_run()
    if run is not None and run.store is not None:
        return run.store
    from agentarts.config import load_settings
    from agentarts.store import RunStore

    url = load_settings().database_url
    if url not in _LEDGERS:
        _LEDGERS[url] = RunStore(url)
    return _LEDGERS[url]


def task_of(config: Mapping[str, Any] | None) -> tuple[str, str]:
    """(thread id, task namespace) of the node being executed."""
    conf = (config or {}).get("configurable") or {}
    meta = (config or {}).get("metadata") or {}
    thread_id = str(conf.get("thread_id") or meta.get("thread_id") or "")
    ns = str(conf.get("checkpoint_ns") or meta.get("langgraph_checkpoint_ns") or "")
    if not thread_id or not ns:
        raise ApprovalError(
            "approval gates and actuating nodes run only inside a LangGraph run with a "
            "checkpointer and a thread id"
        )
    return thread_id, ns


def step_of(config: Mapping[str, Any] | None) -> str:
    """The logical step a node execution belongs to: node path, superstep and push index,
    without LangGraph's task ids. Two processes resuming the same checkpoint race on the
    same step (one claim wins); a ``Send`` copy or a second node is another step."""
    conf = (config or {}).get("configurable") or {}
    meta = (config or {}).get("metadata") or {}
    ns = str(conf.get("checkpoint_ns") or meta.get("langgraph_checkpoint_ns") or "")
    nodes = "|".join(part.split(":", 1)[0] for part in ns.split("|"))
    path = meta.get("langgraph_path") or ()
    where = ",".join(str(p) for p in path[:3] if isinstance(p, str | int))
    return f"{nodes}@{meta.get('langgraph_step')}[{where}]"


def _interrupt_id(ns: str) -> str:
    try:
        from langgraph.types import _interrupt_id as make
    except ImportError:  # pragma: no cover - older langgraph
        import xxhash

        return xxhash.xxh3_128_hexdigest(ns.encode())
    return make(ns, 0)


def check_decision_text(by: str, reason: str) -> None:
    if len(by) > MAX_BY:
        raise InvalidInputError(f"the approver's name is longer than {MAX_BY} characters")
    if len(reason) > MAX_REASON:
        raise InvalidInputError(
            f"the reason is {len(reason):,} characters; the limit is {MAX_REASON:,}"
        )


def _grant_fields(grant: Mapping[str, Any]) -> dict[str, Any]:
    return {name: grant.get(name) for name in GRANT_FIELDS}


def grant_ok(store: Any, grant: Mapping[str, Any]) -> bool:
    return store.signer.ok("grant", _grant_fields(grant), grant.get("sig"))


def decide_at_gate(
    action: str,
    args: dict[str, Any],
    digest: str,
    decision: Any,
    thread_id: str,
    ns: str,
) -> dict[str, Any] | None:
    """Check a gate's decision against the ledger and record it; the grant when approved."""
    store = ledger()
    check_decision_text(decision.by, decision.reason)
    if decision.digest and decision.digest != digest:
        raise TamperError(
            f"thread {thread_id}: the approver saw a different proposal for {action} "
            "than the one about to run: refused"
        )
    interrupt_id = _interrupt_id(ns)
    recorded = store.decision_for(thread_id, interrupt_id)
    if recorded is None:
        # decided through a LangGraph host (Studio, `langgraph dev`, the API): the gate is
        # the first to see it, so it writes the audit row
        run = current_run()
        try:
            store.record_approval(
                thread_id,
                run.run_id if run is not None else "",
                interrupt_id,
                action,
                args,
                decision.approved,
                decision.by,
                decision.reason,
                digest=digest,
                source="graph",
                applied=True,
            )
        except ApprovalError:  # another process recorded it first: check theirs below
            recorded = store.decision_for(thread_id, interrupt_id)
    if recorded is not None:
        if not store.approval_ok(recorded):
            raise TamperError(
                f"thread {thread_id}: the recorded decision on {action} fails its signature "
                "(edited or inserted in the database): refused"
            )
        if (recorded["decision"] == "approved") != decision.approved or recorded["digest"] not in (
            "",
            digest,
        ):
            raise TamperError(
                f"thread {thread_id}: the decision applied differs from the recorded one "
                f"({recorded['decision']} by {recorded['by']}): refused"
            )
    if not decision.approved:
        return None
    grant: dict[str, Any] = {
        "id": hashlib.sha256(f"{thread_id}\0{ns}\0{digest}".encode()).hexdigest()[:32],
        "thread_id": thread_id,
        "action": action,
        "digest": digest,
        "args": args,
        "by": decision.by,
        "reason": decision.reason,
        "interrupt_id": interrupt_id,
        "at": time.time(),
    }
    grant["sig"] = store.signer.sign("grant", _grant_fields(grant))
    return grant


def _outcome_state(key: str, grant_id: str, output: Any) -> dict[str, Any]:
    return {key: output, "grants": {grant_id: None}}


def run_actuation(
    tool: Any, parsed: BaseModel, state: Mapping[str, Any], config: Any, key: str
) -> dict[str, Any]:
    """Carry out an actuating tool call under the protocol; the node's state update."""
    from agentarts.store.ledger import output_of

    thread_id, _ = task_of(config)
    task = step_of(config)
    digest = proposal_digest(tool.name, parsed)
    store = ledger()
    grants = [
        g
        for g in (state.get("grants") or {}).values()
        if isinstance(g, Mapping) and g.get("action") == tool.name and g.get("digest") == digest
    ]
    if not grants:
        raise ApprovalError(
            f"tool {tool.name} is actuating: it runs only after an approval of exactly these "
            f"arguments in this thread ({parsed.model_dump_json()})"
        )
    for grant in grants:
        if not grant_ok(store, grant) or grant.get("thread_id") != thread_id:
            raise TamperError(
                f"thread {thread_id}: the grant for {tool.name} in the checkpoint fails its "
                "signature (edited state): refused"
            )
        claim = store.claim(dict(grant), task)
        if claim.outcome == "used":
            continue
        if claim.outcome == "busy":
            raise ActuationBusyError(
                f"thread {thread_id}: {tool.name} is being carried out by "
                f"{claim.row['claimed_by']} (claimed {claim.row['claimed_at']})"
            )
        if claim.outcome == "done":  # it ran; the step's checkpoint was lost in a crash
            return _outcome_state(key, grant["id"], output_of(claim.row))
        if claim.outcome == "failed":
            raise ApprovalError(
                f"thread {thread_id}: the approved {tool.name} failed "
                f"({claim.row.get('error')}); it is not retried: a new approval is needed"
            )
        if claim.outcome == "orphan":
            return _recover(tool, parsed, dict(grant), claim.row, store, key)
        return _carry_out(tool, parsed, dict(grant), store, key)
    raise ApprovalError(
        f"thread {thread_id}: the approval of {tool.name} with these arguments was already "
        "used by another step: one approval, one actuation"
    )


def _carry_out(
    tool: Any, parsed: BaseModel, grant: dict[str, Any], store: Any, key: str
) -> dict[str, Any]:
    token = _ACTIVE_GRANT.set(grant)
    try:
        result = tool.invoke(parsed)
    except Exception as exc:
        store.finish(grant["id"], "failed", error=" ".join(str(exc).split())[:2000])
        raise
    except BaseException:
        # the process is being stopped inside the tool: whether it acted is unknown
        store.release(grant["id"])
        raise
    finally:
        _ACTIVE_GRANT.reset(token)
    output = result.model_dump(mode="json")
    store.finish(grant["id"], "done", output)
    return _outcome_state(key, grant["id"], output)


def _recover(
    tool: Any,
    parsed: BaseModel,
    grant: dict[str, Any],
    row: dict[str, Any],
    store: Any,
    key: str,
) -> dict[str, Any]:
    """A claim whose holder died between intent and outcome."""
    holder = row["claimed_by"]
    if tool.idempotent:
        if not store.take_over(grant["id"], holder):
            raise ActuationBusyError(f"another process took over {tool.name} first")
        log.info("re-running idempotent %s under key %s", tool.name, grant["id"])
        return _carry_out(tool, parsed, grant, store, key)
    happened = None
    if tool.check is not None:
        happened = tool.check(parsed, grant["id"])
    if happened is None:
        from langgraph.types import interrupt

        store.mark_uncertain(grant["id"])
        answer = interrupt(
            {
                "type": "actuation_uncertain",
                "action": tool.name,
                "proposal": grant["args"],
                "grant": grant["id"],
                "approved_by": grant["by"],
                "evidence": {
                    "claimed_by": holder,
                    "claimed_at": row.get("claimed_at"),
                    "intent_recorded": True,
                    "outcome_recorded": False,
                },
                "question": f"Did {tool.name} {grant['args']} take effect? The process "
                "carrying it out stopped before recording the outcome.",
            }
        )
        happened, by, reason = _parse_answer(answer)
        check_decision_text(by, reason)
    else:
        by, reason = "check", f"{tool.name}.check answered {happened}"
    if not store.take_over(grant["id"], holder):
        raise ActuationBusyError(f"another process took over {tool.name} first")
    if happened:
        output = {"outcome": "took effect (confirmed)", "confirmed_by": by, "reason": reason}
        store.finish(grant["id"], "done", output)
        return _outcome_state(key, grant["id"], output)
    return _carry_out(tool, parsed, grant, store, key)


def _parse_answer(answer: Any) -> tuple[bool, str, str]:
    if isinstance(answer, Mapping) and isinstance(answer.get("happened"), bool):
        return (
            answer["happened"],
            str(answer.get("by") or "operator"),
            str(answer.get("reason") or ""),
        )
    raise InvalidInputError(
        'answer an uncertain actuation with {"happened": bool, "by": str, "reason": str}'
    )
