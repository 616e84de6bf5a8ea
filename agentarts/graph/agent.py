"""``Agent``: a LangGraph graph compiled with a durable checkpointer, plus the run store.

It runs, streams, pauses at approval gates, and resumes (after an approval, a rejection, or a
crash) with every step, tool call and decision recorded. LangGraph stays the engine: an Agent
is a builder plus a runtime, not a second graph engine.
"""

from __future__ import annotations

import logging
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from agentarts.errors import (
    ActuationBusyError,
    ApprovalError,
    ConfigError,
    NotFoundError,
    TamperError,
    UsageError,
)
from agentarts.graph.events import EventBus, RunEvent, otel_subscriber
from agentarts.tools.context import _CURRENT, RunContext

__all__ = ["Agent", "RunResult", "live_statuses", "shown_status"]

log = logging.getLogger("agentarts.agent")


@dataclass
class RunResult:
    """Where a run stands: ``completed``, ``waiting_approval``, ``interrupted`` or ``failed``."""

    thread_id: str
    run_id: str | None
    status: str
    output: dict[str, Any] | None = None
    pending: dict[str, Any] | None = None  # the approval request a person must answer
    error: str | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        import json

        from agentarts.store.store import dumps

        return json.loads(dumps(asdict(self)))


def _status_of(snapshot: Any) -> tuple[str, dict[str, Any] | None]:
    if snapshot is None or snapshot.created_at is None:
        return "unknown", None
    interrupts = list(snapshot.interrupts or ())
    if interrupts:
        first = interrupts[0]
        value = first.value if isinstance(first.value, dict) else {"value": first.value}
        pending = {"interrupt_id": first.id, **value}
        kind = {
            "approval": "waiting_approval",
            "actuation_uncertain": "needs_confirmation",
        }.get(str(value.get("type")), "waiting_input")
        return kind, pending
    if snapshot.next or snapshot.tasks:
        # tasks whose writes are saved but whose next checkpoint is not (the process died in
        # between) show with an empty `next`: the run is not over, a resume applies them
        return "interrupted", None
    return "completed", None


def _verify_approval_paths(compiled: Any) -> None:
    """Refuse graphs where an actuating tool node is reachable without passing its gate."""
    from agentarts.tools.base import Safety

    nodes = compiled.builder.nodes
    actuating: dict[str, str] = {}
    gates: dict[str, str] = {}
    for name, spec in nodes.items():
        func = getattr(spec.runnable, "func", None)
        tool = getattr(func, "__agentarts_tool__", None)
        if tool is not None and tool.safety is Safety.ACTUATING:
            actuating[name] = tool.name
        gate = getattr(func, "__agentarts_gate__", None)
        if gate is not None:
            gates[name] = gate
    if gates and "grants" not in compiled.builder.channels:
        raise ConfigError(
            "the graph has approval gates but its state has no 'grants' channel: "
            "extend agentarts.graph.AgentState"
        )
    if not actuating:
        return
    drawn = compiled.get_graph()
    successors: dict[str, set[str]] = {}
    for edge in drawn.edges:
        successors.setdefault(edge.source, set()).add(edge.target)
    for node, action in actuating.items():
        blocked = {n for n, a in gates.items() if a == action}
        seen, todo = set(), ["__start__"]
        while todo:
            current = todo.pop()
            if current in seen or current in blocked:
                continue
            seen.add(current)
            todo.extend(successors.get(current, ()))
        if node in seen:
            raise ApprovalError(
                f"node {node!r} runs actuating tool {action!r} but can be reached without "
                f"passing an approval_gate for it (conditional edges need a path map)"
            )


class Agent:
    """Run a LangGraph ``StateGraph`` durably, with approvals and an audit trail.

    Args:
        graph: a ``StateGraph`` builder (or a compiled graph, whose builder is used).
        name: shown in the run store and the CLI.
        database_url: checkpoints and run store (default: settings, SQLite in the data dir).
        runtime: the ``Runtime`` that model tools use (default: the process-wide one).
        subscribers: callables receiving every ``RunEvent``.
        verify: check at build time that every actuating tool node sits behind its gate.
    """

    def __init__(
        self,
        graph: Any,
        *,
        name: str | None = None,
        database_url: str | None = None,
        runtime: Any = None,
        subscribers: list[Callable[[RunEvent], None]] | None = None,
        verify: bool = True,
    ) -> None:
        builder = getattr(graph, "builder", graph)
        if not hasattr(builder, "compile"):
            raise ConfigError(f"{graph!r} is not a LangGraph StateGraph")
        self.builder = builder
        self.name = name or getattr(graph, "name", None) or "agent"
        #: how to load this agent again ("module:attr"); recorded with every run so the CLI
        #: can approve, reject or resume a thread from another process
        self.ref: str | None = None
        self._module = sys._getframe(1).f_globals.get("__name__")  # where it was defined
        self._database_url = database_url
        self.runtime = runtime
        #: where tools may open the paths they are given (``agentarts.tools.paths``); the
        #: server sets it for the agents it serves, None lets any path through (CLI, scripts)
        self.paths: Any = None
        self.events = EventBus(list(subscribers or []))
        otel = otel_subscriber()
        if otel is not None:
            self.events.subscribers.append(otel)
        self._graph: Any = None
        self._store: Any = None
        self._conn: Any = None
        if verify:
            _verify_approval_paths(builder.compile())

    @classmethod
    def from_ref(cls, ref: str, **kwargs: Any) -> Agent:
        """Load ``"package.module:attr"``: an Agent, a StateGraph or a compiled graph."""
        from agentarts.plugins import load_ref

        obj = load_ref(ref)
        agent = obj if isinstance(obj, Agent) else cls(obj, name=kwargs.pop("name", ref), **kwargs)
        agent.ref = ref
        return agent

    # -- plumbing ----------------------------------------------------------------------------
    @property
    def database_url(self) -> str:
        if self._database_url is None:
            from agentarts.config import load_settings

            self._database_url = load_settings().database_url
        return self._database_url

    @property
    def store(self) -> Any:
        if self._store is None:
            from agentarts.store import RunStore

            self._store = RunStore(self.database_url)
        return self._store

    @property
    def graph(self) -> Any:
        if self._graph is None:
            from agentarts.graph.checkpoint import make_checkpointer

            self.store  # noqa: B018 - migrate the store before the checkpointer shares the file
            saver, self._conn = make_checkpointer(self.database_url)
            self._graph = self.builder.compile(checkpointer=saver)
        return self._graph

    def _find_ref(self) -> str | None:
        """``module:attr`` of this agent if its defining module holds it at top level."""
        module = sys.modules.get(self._module or "")
        if self.ref is None and module is not None and self._module != "__main__":
            for attr, value in vars(module).items():
                if value is self:
                    self.ref = f"{self._module}:{attr}"
                    break
        return self.ref

    def _config(self, thread_id: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": thread_id}}

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
            self._graph = None
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- running -----------------------------------------------------------------------------
    def run(
        self, input: Mapping[str, Any] | None = None, thread_id: str | None = None
    ) -> RunResult:
        """Start a run on a new (or given) thread; returns when it completes or must wait."""
        if thread_id is None:
            thread_id = uuid.uuid4().hex[:12]  # a new thread has nothing pending
        else:
            status, _ = _status_of(self.snapshot(thread_id))
            if status in ("waiting_approval", "waiting_input", "interrupted"):
                raise UsageError(
                    f"thread {thread_id} is {status}: approve, reject or resume it "
                    "instead of starting a new run on it"
                )
        return self._execute(dict(input or {}), thread_id, "run", input)

    def snapshot(self, thread_id: str) -> Any:
        return self.graph.get_state(self._config(thread_id))

    def status(self, thread_id: str) -> RunResult:
        """The thread's current state, from its last checkpoint."""
        snap = self.snapshot(thread_id)
        status, pending = _status_of(snap)
        if status == "unknown":
            raise NotFoundError(f"no run with thread id {thread_id!r}")
        return RunResult(thread_id, None, status, dict(snap.values), pending)

    def approve(self, thread_id: str, by: str = "operator", reason: str = "") -> RunResult:
        """Approve the pending request and continue the run."""
        return self._decide(thread_id, True, by, reason)

    def reject(self, thread_id: str, reason: str, by: str = "operator") -> RunResult:
        """Reject the pending request (a reason is required) and continue the run."""
        if not reason.strip():
            raise UsageError("a rejection needs a reason")
        return self._decide(thread_id, False, by, reason)

    def _decide(self, thread_id: str, approved: bool, by: str, reason: str) -> RunResult:
        from agentarts.graph.actuation import check_decision_text

        check_decision_text(by, reason)
        pending, _ = self.record_decision(thread_id, approved, by, reason)
        return self._apply_decision(thread_id, pending, approved, by, reason)

    def record_decision(
        self, thread_id: str, approved: bool, by: str, reason: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Record a signed decision on the request the thread waits for, without resuming
        (``resume`` applies it later; the agent server answers here). A second decision on the
        same request raises ApprovalError. Returns the pending request and the row written."""
        current = self.status(thread_id)
        if current.status != "waiting_approval" or current.pending is None:
            raise ApprovalError(
                f"thread {thread_id} is not waiting for an approval (status: {current.status})"
            )
        pending = current.pending
        row = self.store.record_approval(
            thread_id,
            self.store.latest_run_id(thread_id),
            pending["interrupt_id"],
            str(pending.get("action", "")),
            pending.get("proposal"),
            approved,
            by,
            reason,
            digest=str(pending.get("digest") or ""),
        )
        return pending, row

    def _apply_decision(
        self, thread_id: str, pending: dict[str, Any], approved: bool, by: str, reason: str
    ) -> RunResult:
        from langgraph.types import Command

        interrupt_id = pending["interrupt_id"]
        decision = {
            "approved": approved,
            "by": by,
            "reason": reason,
            "digest": str(pending.get("digest") or ""),
        }
        self.events.emit("approval", RunContext("", thread_id), node=None, **decision)
        result = self._execute(
            Command(resume={interrupt_id: decision}),
            thread_id,
            "approve" if approved else "reject",
            decision,
        )
        if result.status not in ("failed", "busy"):
            self.store.mark_applied(thread_id, interrupt_id)
        return result

    def resume(self, thread_id: str) -> RunResult:
        """Continue a thread from its last checkpoint: after a crash, or to apply a decision
        that was recorded but not applied (the process died in between). A recorded decision
        is applied only if its signature and the proposal it names check out."""
        current = self.status(thread_id)
        if current.status == "interrupted":
            return self._execute(None, thread_id, "resume", None)
        if current.status == "waiting_approval" and current.pending is not None:
            pending = current.pending
            recorded = self.store.decision_for(thread_id, pending["interrupt_id"])
            if recorded is not None and not recorded["applied"]:
                if not self.store.approval_ok(recorded):
                    raise TamperError(
                        f"thread {thread_id}: the recorded decision fails its signature "
                        "(edited or inserted in the database): not applied"
                    )
                if recorded["digest"] != str(pending.get("digest") or ""):
                    raise TamperError(
                        f"thread {thread_id}: the recorded decision was taken on a different "
                        "proposal than the one waiting: not applied"
                    )
                return self._apply_decision(
                    thread_id,
                    pending,
                    recorded["decision"] == "approved",
                    recorded["by"],
                    recorded["reason"],
                )
            raise ApprovalError(f"thread {thread_id} waits for an approval: approve or reject it")
        return current

    def confirm_outcome(
        self, thread_id: str, happened: bool, by: str = "operator", reason: str = ""
    ) -> RunResult:
        """Answer a thread that stopped because an actuation's outcome is unknown (its process
        died between intent and outcome): ``happened`` says whether it took effect; if not,
        the approved action is carried out now."""
        from langgraph.types import Command

        from agentarts.graph.actuation import check_decision_text

        check_decision_text(by, reason)
        current = self.status(thread_id)
        if current.status != "needs_confirmation" or current.pending is None:
            raise ApprovalError(
                f"thread {thread_id} has no actuation waiting for confirmation "
                f"(status: {current.status})"
            )
        answer = {"happened": happened, "by": by, "reason": reason}
        return self._execute(
            Command(resume={current.pending["interrupt_id"]: answer}),
            thread_id,
            "confirm",
            answer,
        )

    def history(self, thread_id: str) -> list[dict[str, Any]]:
        """Checkpoints of the thread, newest first (step, next nodes, time)."""
        out = []
        for snap in self.graph.get_state_history(self._config(thread_id)):
            out.append(
                {
                    "checkpoint_id": snap.config["configurable"].get("checkpoint_id"),
                    "step": (snap.metadata or {}).get("step"),
                    "next": list(snap.next),
                    "created_at": snap.created_at,
                }
            )
        return out

    def _execute(self, inp: Any, thread_id: str, kind: str, record: Any) -> RunResult:
        graph = self.graph
        store = self.store
        run_id = uuid.uuid4().hex
        store.start_run(
            run_id, thread_id, self._find_ref() or self.name, {"kind": kind, "input": record}
        )
        ctx = RunContext(
            run_id, thread_id, self.name, store, self.events, runtime=self.runtime, paths=self.paths
        )
        token = _CURRENT.set(ctx)
        events = self.events
        events.emit("run_start", ctx, agent=self.name, trigger=kind)
        starts: dict[str, tuple[float, datetime]] = {}
        steps: list[dict[str, Any]] = []
        status, output, pending, error = "failed", None, None, None
        try:
            for payload in graph.stream(
                inp, self._config(thread_id), stream_mode="tasks", durability="sync"
            ):
                task_id, node = payload["id"], payload["name"]
                if "input" in payload and "result" not in payload:
                    starts[task_id] = (time.perf_counter(), datetime.now(UTC))
                    events.emit("step_start", ctx, node=node)
                    continue
                t0, started = starts.pop(task_id, (time.perf_counter(), datetime.now(UTC)))
                duration_ms = (time.perf_counter() - t0) * 1e3
                interrupts = payload.get("interrupts") or []
                step_status = "error" if payload.get("error") else "waiting" if interrupts else "ok"
                store.add_step(
                    run_id,
                    thread_id,
                    node,
                    step_status,
                    started,
                    duration_ms,
                    payload.get("result"),
                )
                steps.append({"node": node, "status": step_status, "duration_ms": duration_ms})
                events.emit("step_end", ctx, node=node, status=step_status, duration_ms=duration_ms)
                for item in interrupts:
                    events.emit("approval_requested", ctx, node=node, request=item.get("value"))
            snap = graph.get_state(self._config(thread_id))
            status, pending = _status_of(snap)
            output = dict(snap.values)
        except ActuationBusyError as exc:  # another process is carrying the step out
            status, error = "busy", " ".join(str(exc).split())
        except Exception as exc:  # the run failed; its last checkpoint stays resumable
            error = " ".join(f"{type(exc).__name__}: {exc}".split())
            log.debug("run %s failed", run_id, exc_info=True)
        finally:
            _CURRENT.reset(token)
        store.finish_run(run_id, status, output, error)
        events.emit("run_end", ctx, status=status, error=error or "")
        return RunResult(thread_id, run_id, status, output, pending, error, steps)


def live_statuses(rows: list[dict[str, Any]], load: Callable[[str], Agent]) -> None:
    """Replace each listed thread's recorded status (``rows`` as ``RunStore.list_threads``
    gives them) with the one its checkpoint gives; ``load(ref)`` loads the agent that ran it.
    A thread whose agent cannot be loaded keeps what was recorded, and so does a run recorded
    ``failed`` (a node raised: its checkpoint waits at that node, which reads as "interrupted",
    the state a crash leaves; ``runs resume`` retries it either way)."""
    agents: dict[str, Agent | None] = {}
    try:
        for row in rows:
            if row["status"] == "running" and _pid_alive(row.get("host") or ""):
                continue
            ref = row["agent"]
            if ref not in agents:
                try:
                    agents[ref] = load(ref)
                except Exception:  # the agent's code is gone: show what was recorded
                    agents[ref] = None
            agent = agents[ref]
            if agent is None:
                continue
            try:
                row["status"] = shown_status(row["status"], agent.status(row["thread_id"]).status)
            except Exception:  # an unreadable checkpoint: keep the recorded status
                log.debug("status of %s", row["thread_id"], exc_info=True)
    finally:
        for agent in agents.values():
            if agent is not None:
                agent.close()


def shown_status(recorded: str, live: str) -> str:
    """The status to show a person: the checkpoint's, except that a run recorded ``failed``
    stays ``failed`` while its checkpoint waits at the node that raised."""
    return "failed" if recorded == "failed" and live == "interrupted" else live


def _pid_alive(host: str) -> bool:
    """Whether the process that started a run (``host:pid[:start]``) still runs."""
    from agentarts._process import is_alive

    return is_alive(host)
