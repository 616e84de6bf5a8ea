"""``AgentService``: the served agents, driven on behalf of authenticated people.

It sits between the HTTP routes and the public ``Agent`` API (``run``, ``approve``, ``reject``,
``resume``, ``status``): it checks roles, the agent scope of a user and the four-eyes rule,
serialises work on one thread (two approvals of the same request never both run; the run
store's unique constraint backs this across processes), records who did what, and shapes
answers like ``agentarts runs show --json``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from agentarts.errors import AgentArtsError, ApprovalError, NotFoundError, UsageError
from agentarts.server.decisions import DecisionsMixin
from agentarts.server.events import EventHub
from agentarts.server.panels import BUILTIN, Panel, PanelContext, default_panels
from agentarts.server.resumer import Resumer
from agentarts.server.users import UserStore, role_rank

__all__ = ["AgentService", "Forbidden", "Principal"]

log = logging.getLogger("agentarts.server")


class Forbidden(AgentArtsError):
    """The authenticated person may not do this (HTTP 403)."""

    exit_code = 2
    http_status = 403


@dataclass(frozen=True)
class Principal:
    """Who is asking: a user (by token or session) or the local user of an open server."""

    name: str
    role: str
    scope: str = "*"
    via: str = "token"  # token | session | local
    csrf: str | None = None

    def may(self, role: str) -> bool:
        return role_rank(self.role) >= role_rank(role)

    def covers(self, agent_name: str, ref: str | None) -> bool:
        if self.scope.strip() in ("", "*"):
            return True
        allowed = {s.strip() for s in self.scope.split(",")}
        return agent_name in allowed or (ref is not None and ref in allowed)


class AgentService(DecisionsMixin):
    """The agents one server serves (by ref; the first is the default)."""

    def __init__(
        self,
        agents: list[Any],
        users: UserStore,
        hub: EventHub,
        four_eyes: bool = False,
        industry: str | None = None,
        resume_threads: int = 2,
    ) -> None:
        if not agents:
            raise UsageError("nothing to serve: no agent given")
        self.agents: dict[str, Any] = {}
        # agents given a path policy here (undone at close); one policy, settings read once
        self._confined: list[Any] = [a for a in agents if getattr(a, "paths", None) is None]
        if self._confined:
            from agentarts.config import load_settings
            from agentarts.tools.paths import PathPolicy

            policy = PathPolicy.from_settings(load_settings())
            for agent in self._confined:
                agent.paths = policy
        for agent in agents:
            ref = agent.ref or agent._find_ref() or agent.name
            self.agents[ref] = agent
            agent.events.subscribers.append(hub.on_run_event)
        self.default_ref = next(iter(self.agents))
        self.users = users
        self.hub = hub
        self.four_eyes = four_eyes
        self.industry = industry  # the project's [project] industry: whose panels to show
        self._locks: dict[str, list[Any]] = {}  # thread -> [lock, users]; pruned at 0
        self._locks_guard = threading.Lock()
        self.active = 0
        self.accepting = 0  # decisions being recorded right now (background resumes wait)
        self.requests = 0  # state-changing HTTP requests in progress (counted by the app)
        self.last_request = 0.0  # time.monotonic() when the last one ended
        self.resumer = Resumer(
            self.apply_recorded,
            self.unapplied,
            busy=self._busy,
            threads=resume_threads,
        )

    def _busy(self) -> bool:
        """Decisions are arriving (in progress, or one ended under 10 ms ago): the background
        worker waits, so a burst is acknowledged before the CPU goes to applying it."""
        quiet = time.monotonic() - self.last_request > 0.01
        return self.accepting + self.requests > 0 or not quiet

    @property
    def store(self) -> Any:
        return self.agents[self.default_ref].store

    def close(self) -> None:
        self.resumer.stop()
        for agent in self.agents.values():
            with contextlib.suppress(ValueError):
                agent.events.subscribers.remove(self.hub.on_run_event)
            agent.close()
        for agent in self._confined:
            agent.paths = None

    # -- helpers -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _lock(self, thread_id: str) -> Iterator[None]:
        """Serialise work on one thread in this process; the entry goes when nobody holds or
        waits for it (the database's unique constraints serialise across processes)."""
        with self._locks_guard:
            entry = self._locks.setdefault(thread_id, [threading.Lock(), 0])
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with self._locks_guard:
                entry[1] -= 1
                if entry[1] == 0:
                    del self._locks[thread_id]

    def _agent(self, ref: str | None) -> tuple[str, Any]:
        ref = ref or self.default_ref
        if ref not in self.agents:
            by_name = [r for r, a in self.agents.items() if a.name == ref]
            if not by_name:
                raise NotFoundError(f"this server does not serve agent {ref!r}")
            ref = by_name[0]
        return ref, self.agents[ref]

    def _agent_for_thread(self, thread_id: str) -> tuple[str, Any]:
        if len(self.agents) == 1:  # its status() answers 404 for a thread it never ran
            return self.default_ref, self.agents[self.default_ref]
        runs = self.store.thread(thread_id)["runs"]
        if not runs:
            raise NotFoundError(f"no run with thread id {thread_id!r}")
        return self._agent(runs[0]["agent"])

    def _require(self, who: Principal, role: str, agent: Any, ref: str, action: str) -> None:
        if not who.may(role):
            raise Forbidden(f"{action} needs the {role} role; {who.name} is {who.role}")
        if not who.covers(agent.name, ref):
            raise Forbidden(f"{who.name} may not act on agent {agent.name!r}")

    def _guarded(self, who: Principal, action: str, thread_id: str | None, call: Any) -> Any:
        """Run ``call`` counting it as active work; refusals are audited too."""
        with self._locks_guard:
            self.active += 1
        try:
            return call()
        except Forbidden as exc:
            self.users.audit(who.name, who.role, "denied", thread_id, str(exc), {"action": action})
            raise
        finally:
            with self._locks_guard:
                self.active -= 1

    # -- reads -------------------------------------------------------------------------------
    def show(self, thread_id: str, live: Any = None) -> dict[str, Any]:
        """The thread as ``agentarts runs show --json`` prints it (``live``: a RunResult)."""
        record = self.store.thread(thread_id)
        if not record["runs"]:
            raise NotFoundError(f"no run with thread id {thread_id!r}")
        last = record["runs"][-1]
        status, pending, error = last["status"], None, last.get("error")
        if live is not None:
            status, pending, error = live.status, live.pending, live.error
        elif status != "failed":
            with contextlib.suppress(AgentArtsError):
                _, agent = self._agent(last["agent"])
                current = agent.status(thread_id)
                status, pending = current.status, current.pending
        decision = self._recorded(thread_id, status, pending)
        if decision is not None:  # decided; the background worker has not applied it yet
            status, pending = "resuming", None
        out = {
            "thread_id": thread_id,
            "status": status,
            "agent": last["agent"],
            "pending": pending,
            "output": last["output"],
            "started_by": self.users.started_by(thread_id),
            **{k: v for k, v in record.items() if k != "thread_id"},
        }
        if decision is not None:
            out["decision"] = decision
        if status == "failed" and error:
            out["error"] = error
        return out

    def _recorded(
        self, thread_id: str, status: str, pending: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """The decision recorded on the waiting request and not applied yet, or None."""
        if status != "waiting_approval" or not pending or "interrupt_id" not in pending:
            return None
        row = self.store.decision_for(thread_id, pending["interrupt_id"])
        if row is None or row["applied"]:
            return None
        keys = ("decision", "by", "reason", "action", "interrupt_id", "decided_at")
        return {k: row.get(k) for k in keys}

    def list_runs(self, limit: int = 100, status: str | None = None) -> list[dict[str, Any]]:
        rows = self.store.list_threads(limit)
        out = []
        for r in rows:
            keys = ("thread_id", "agent", "status", "started_at", "run_started_at", "ended_at")
            item = {k: r[k] for k in keys}  # started_at: the thread's first run
            item["error"] = r.get("error")
            if status is None or item["status"] == status:
                out.append(item)
        return out

    def alerts(self, limit: int = 200) -> dict[str, list[dict[str, Any]]]:
        """Alerts and work orders of every thread, newest first (what packs raised)."""
        from agentarts.store.store import _row

        out: dict[str, list[dict[str, Any]]] = {}
        for name, json_fields in (("alerts", ("data",)), ("work_orders", ())):
            table = self.store.t[name]
            query = table.select().order_by(table.c.id.desc()).limit(limit)
            with self.store.engine.connect() as conn:
                out[name] = [_row(r, json_fields) for r in conn.execute(query)]
        return out

    def pending(self, limit: int = 200) -> list[dict[str, Any]]:
        """Threads waiting for a decision (an approval, or the confirmation of an actuation
        whose outcome is unknown), with the request a person must answer."""
        out = []
        waiting = ("waiting_approval", "needs_confirmation")
        for row in self.list_runs(limit):
            if row["status"] not in waiting:
                continue
            with contextlib.suppress(AgentArtsError):
                _, agent = self._agent(row["agent"])
                current = agent.status(row["thread_id"])
                if current.status in waiting and (
                    self._recorded(row["thread_id"], current.status, current.pending) is None
                ):
                    row["status"] = current.status
                    row["pending"] = current.pending
                    row["started_by"] = self.users.started_by(row["thread_id"])
                    out.append(row)
        return out

    def panels(self, thread_id: str) -> list[dict[str, Any]]:
        """Default panels plus the ones the agent's industry pack provides."""
        record = self.store.thread(thread_id)
        if not record["runs"]:
            raise NotFoundError(f"no run with thread id {thread_id!r}")
        ref, agent = self._agent(record["runs"][0]["agent"])
        current = agent.status(thread_id)
        ctx = PanelContext(
            thread_id, agent.name, current.status, current.output or {}, current.pending, record
        )
        found: list[Any] = list(default_panels(ctx))
        provider = _pack_provider(ref, self.industry)
        if provider is not None:
            try:
                found.extend(provider(ctx))
            except Exception as exc:  # a pack's panel must not break the console
                log.warning("panel provider for %s failed: %s", ref, exc)
                found.append(Panel("panel_error", "Pack panel failed", "text", {"text": str(exc)}))
        return [p.as_dict() if isinstance(p, Panel) else dict(p) for p in found]

    # -- actions -----------------------------------------------------------------------------
    def invoke(
        self,
        who: Principal,
        payload: Mapping[str, Any],
        thread_id: str | None = None,
        ref: str | None = None,
    ) -> dict[str, Any]:
        """Start a run (a new thread, or the session's thread) as ``who``."""
        ref, agent = self._agent(ref)
        thread_id = thread_id or uuid.uuid4().hex[:12]

        def call() -> dict[str, Any]:
            self._require(who, "operator", agent, ref, "starting a run")
            with self._lock(thread_id):
                self.users.record_start(thread_id, ref, who.name)
                result = agent.run(dict(payload), thread_id=thread_id)
            self.users.audit(who.name, who.role, "invoke", thread_id, result.status)
            return self.show(thread_id, live=result)

        return self._guarded(who, "invoke", thread_id, call)

    def decide(
        self, who: Principal, thread_id: str, approved: bool, reason: str, wait: bool = True
    ) -> dict[str, Any]:
        """Approve or reject the pending request of ``thread_id`` as ``who``.

        ``wait=True`` carries out the rest of the run before answering (``runs show`` shape);
        ``wait=False`` answers once the signed decision is recorded (status ``resuming``) and
        leaves the run to the background :class:`Resumer`."""
        ref, agent = self._agent_for_thread(thread_id)
        action = "approve" if approved else "reject"

        def call() -> dict[str, Any]:
            self._require(who, "approver", agent, ref, f"{action} a proposal")
            four_eyes = self.four_eyes or bool(getattr(agent, "four_eyes", False))
            if approved and four_eyes and self.users.started_by(thread_id) == who.name:
                raise Forbidden(
                    f"four-eyes rule: {who.name} started thread {thread_id} and cannot "
                    "approve its proposal; another approver must"
                )
            if not wait:
                return self._accept(who, ref, agent, thread_id, approved, reason)
            with self._lock(thread_id):  # the Agent refuses a thread not waiting (409)
                if approved:
                    result = agent.approve(thread_id, by=who.name, reason=reason)
                else:
                    result = agent.reject(thread_id, reason=reason, by=who.name)
            out = self.show(thread_id, live=result)
            mine = [a for a in out["approvals"] if a.get("by") == who.name]
            decided = mine[-1] if mine else {}
            self.users.audit(
                who.name,
                who.role,
                action,
                thread_id,
                result.status,
                {
                    "action": decided.get("action"),
                    "proposal": decided.get("proposal"),
                    "reason": reason,
                },
            )
            return out

        return self._guarded(who, action, thread_id, call)

    def confirm(
        self, who: Principal, thread_id: str, happened: bool, reason: str
    ) -> dict[str, Any]:
        """Answer a thread stopped because an approved actuation's outcome is unknown (its
        process died between intent and outcome): did it take effect? If not, it runs now."""
        ref, agent = self._agent_for_thread(thread_id)

        def call() -> dict[str, Any]:
            self._require(who, "approver", agent, ref, "confirming an actuation")
            if not hasattr(agent, "confirm_outcome"):
                raise ApprovalError("this SDK's Agent cannot confirm actuation outcomes")
            with self._lock(thread_id):
                result = agent.confirm_outcome(thread_id, happened, by=who.name, reason=reason)
            self.users.audit(
                who.name,
                who.role,
                "confirm",
                thread_id,
                result.status,
                {"happened": happened, "reason": reason},
            )
            return self.show(thread_id, live=result)

        return self._guarded(who, "confirm", thread_id, call)

    def resume(self, who: Principal, thread_id: str) -> dict[str, Any]:
        ref, agent = self._agent_for_thread(thread_id)

        def call() -> dict[str, Any]:
            self._require(who, "operator", agent, ref, "resuming a run")
            with self._lock(thread_id):
                result = agent.resume(thread_id)
            self.users.audit(who.name, who.role, "resume", thread_id, result.status)
            return self.show(thread_id, live=result)

        return self._guarded(who, "resume", thread_id, call)


@functools.lru_cache(maxsize=64)
def _pack_provider(ref: str, industry: str | None) -> Any:
    """The panel provider of the project's industry pack, or of the pack whose module holds
    the agent ``ref``; None when neither has one."""
    from agentarts.plugins import discover_packs, load_ref

    module = ref.partition(":")[0]
    with contextlib.suppress(Exception):
        for pack in discover_packs().packs.values():
            pack_module = (pack.agent or "").partition(":")[0].rpartition(".")[0]
            mine = pack.name == industry or (
                bool(pack_module) and (module == pack_module or module.startswith(pack_module))
            )
            if not mine:
                continue
            named = getattr(pack, "panels", None)
            if named:
                return load_ref(named)
            return BUILTIN.get(pack.name)
    return None
