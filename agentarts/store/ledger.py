"""The actuation ledger: signed approval requests, decisions and actuation claims.

It is the database half of the actuation protocol (docs/actuation.md); the graph half is in
``agentarts.graph.actuation``. Every row is signed under the project secret, and every state
change is one conditional statement, so the database decides races: one INSERT wins a grant,
one UPDATE ... WHERE claimed_by = me records its outcome.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agentarts.errors import ApprovalError, TamperError

__all__ = ["Claim", "LedgerMixin"]

REQUEST_FIELDS = ("key", "thread_id", "action", "args", "digest")
APPROVAL_FIELDS = (
    "thread_id",
    "interrupt_id",
    "action",
    "proposal",
    "digest",
    "decision",
    "by",
    "reason",
)
ACTUATION_FIELDS = (
    "grant_id",
    "thread_id",
    "action",
    "digest",
    "args",
    "approved_by",
    "task",
    "status",
    "output",
    "error",
)


@dataclass(frozen=True)
class Claim:
    """What a claim on a grant found.

    ``outcome``: ``won`` (run the tool now), ``done`` (it already ran: ``row`` has its output),
    ``failed`` (it ran and failed), ``used`` (another task used this grant), ``busy`` (a live
    process holds it), ``orphan`` (the process holding it died between intent and outcome).
    """

    outcome: str
    row: dict[str, Any]


def _fields(row: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: row.get(name) for name in names}


class LedgerMixin:
    """Ledger methods of ``RunStore`` (it supplies ``engine``, ``t``, ``_write`` and ``url``)."""

    engine: Any
    t: dict[str, Any]
    url: str
    host: str
    _signer: Any = None

    def _write(self, statement: Any) -> Any:  # pragma: no cover - provided by RunStore
        raise NotImplementedError

    @property
    def signer(self) -> Any:
        if self._signer is None:
            from agentarts.security import Signer

            self._signer = Signer.for_database(self.url)
        return self._signer

    def _one(self, table: str, **where: Any) -> dict[str, Any] | None:
        from agentarts.store.store import _row

        t = self.t[table]
        query = t.select()
        for column, value in where.items():
            query = query.where(t.c[column] == value)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _row(row) if row is not None else None

    # -- approval requests -------------------------------------------------------------------
    def put_request(self, key: str, thread_id: str, action: str, args: Any, digest: str) -> None:
        """Freeze what a gate shows; an existing request for ``key`` must match it exactly."""
        from sqlalchemy.exc import IntegrityError

        from agentarts.security import canonical_json
        from agentarts.store.store import now

        row = {
            "key": key,
            "thread_id": thread_id,
            "action": action,
            "args": canonical_json(args),
            "digest": digest,
        }
        try:
            self._write(
                self.t["requests"]
                .insert()
                .values(
                    **row,
                    created_at=now(),
                    sig=self.signer.sign("request", row),
                )
            )
            return
        except IntegrityError:
            pass
        stored = self._one("requests", key=key)
        if stored is None:  # pragma: no cover - a row cannot vanish between the two statements
            raise ApprovalError(f"approval request {key} disappeared")
        if not self.signer.ok("request", _fields(stored, REQUEST_FIELDS), stored["sig"]):
            raise TamperError(
                f"thread {thread_id}: the stored approval request for {action} fails its "
                "signature (edited in the database)"
            )
        if stored["digest"] != digest or stored["args"] != row["args"]:
            raise TamperError(
                f"thread {thread_id}: the proposal for {action} changed after it was shown to "
                f"the approver (shown {stored['args']}, now {row['args']}): refused"
            )

    # -- decisions ---------------------------------------------------------------------------
    def approval_fields(self, row: dict[str, Any]) -> dict[str, Any]:
        fields = _fields(row, APPROVAL_FIELDS)
        if not isinstance(fields["proposal"], str):
            from agentarts.security import canonical_json

            fields["proposal"] = canonical_json(fields["proposal"])
        return fields

    def approval_ok(self, row: dict[str, Any]) -> bool:
        """Whether a decision row (as ``decision_for`` returns it) carries a valid signature."""
        return self.signer.ok("approval", self.approval_fields(row), row.get("sig"))

    def sign_approval(self, values: dict[str, Any]) -> str:
        return self.signer.sign("approval", self.approval_fields(values))

    # -- actuations --------------------------------------------------------------------------
    def _actuation_sig(self, row: dict[str, Any]) -> str:
        return self.signer.sign("actuation", _fields(row, ACTUATION_FIELDS))

    def actuation_ok(self, row: dict[str, Any]) -> bool:
        return self.signer.ok("actuation", _fields(row, ACTUATION_FIELDS), row.get("sig"))

    def claim(self, grant: dict[str, Any], task: str) -> Claim:
        """Claim ``grant`` for ``task`` (compare-and-set: one winner across processes)."""
        from sqlalchemy.exc import IntegrityError

        from agentarts.security import canonical_json
        from agentarts.store.store import dumps, now

        row = {
            "grant_id": grant["id"],
            "thread_id": grant["thread_id"],
            "action": grant["action"],
            "digest": grant["digest"],
            "args": canonical_json(grant["args"]),
            "approved_by": grant["by"],
            "task": task,
            "status": "intent",
            "output": "null",
            "error": None,
        }
        try:
            self._write(
                self.t["actuations"]
                .insert()
                .values(
                    **row,
                    claimed_by=self.host,
                    claimed_at=now(),
                    grant=dumps(grant),
                    sig=self._actuation_sig(row),
                )
            )
            return Claim("won", {**row, "claimed_by": self.host})
        except IntegrityError:
            pass
        stored = self._one("actuations", grant_id=grant["id"])
        if stored is None:  # pragma: no cover
            raise ApprovalError(f"grant {grant['id']} disappeared from the ledger")
        if not self.actuation_ok(stored):
            raise TamperError(
                f"the actuation record of grant {grant['id']} fails its signature "
                "(edited in the database): refused"
            )
        if stored["task"] != task:
            return Claim("used", stored)
        if stored["status"] in ("done", "failed"):
            return Claim(stored["status"], stored)
        if _holder_alive(stored["claimed_by"]):
            return Claim("busy", stored)
        return Claim("orphan", stored)

    def take_over(self, grant_id: str, previous_holder: str) -> bool:
        """Move an orphaned claim to this process; False when another process took it first."""
        t = self.t["actuations"]
        result = self._write(
            t.update()
            .where(
                t.c.grant_id == grant_id,
                t.c.status.in_(("intent", "uncertain")),
                t.c.claimed_by == previous_holder,
            )
            .values(claimed_by=self.host)
        )
        return bool(result.rowcount)

    def mark_uncertain(self, grant_id: str) -> None:
        self._transition(grant_id, "uncertain", None, None, holder=None)

    def finish(
        self, grant_id: str, status: str, output: Any = None, error: str | None = None
    ) -> bool:
        """Record the outcome (``done`` or ``failed``) of a claim this process holds."""
        return self._transition(grant_id, status, output, error, holder=self.host)

    def release(self, grant_id: str) -> None:
        """Give up a claim whose outcome is unknown (the process is dying mid-tool)."""
        t = self.t["actuations"]
        self._write(
            t.update()
            .where(t.c.grant_id == grant_id, t.c.claimed_by == self.host)
            .values(claimed_by="")
        )

    def _transition(
        self, grant_id: str, status: str, output: Any, error: str | None, holder: str | None
    ) -> bool:
        from agentarts.store.store import dumps, now

        stored = self._one("actuations", grant_id=grant_id)
        if stored is None:
            return False
        row = {**stored, "status": status, "error": error}
        if output is not None or status == "done":
            row["output"] = dumps(output)
        t = self.t["actuations"]
        query = t.update().where(t.c.grant_id == grant_id, t.c.status == stored["status"])
        if holder is not None:
            query = query.where(t.c.claimed_by == holder)
        result = self._write(
            query.values(
                status=status,
                output=row["output"],
                error=error,
                finished_at=now() if status in ("done", "failed") else None,
                sig=self._actuation_sig(row),
            )
        )
        return bool(result.rowcount)

    def actuations(self, thread_id: str | None = None) -> list[dict[str, Any]]:
        from agentarts.store.store import _row

        t = self.t["actuations"]
        query = t.select().order_by(t.c.claimed_at)
        if thread_id is not None:
            query = query.where(t.c.thread_id == thread_id)
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(query)]

    def requests(self, thread_id: str | None = None) -> list[dict[str, Any]]:
        from agentarts.store.store import _row

        t = self.t["requests"]
        query = t.select().order_by(t.c.created_at)
        if thread_id is not None:
            query = query.where(t.c.thread_id == thread_id)
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(query)]

    def request_ok(self, row: dict[str, Any]) -> bool:
        return self.signer.ok("request", _fields(row, REQUEST_FIELDS), row.get("sig"))


def output_of(row: dict[str, Any]) -> Any:
    """The recorded output of an actuation row."""
    return json.loads(row["output"]) if row.get("output") else None


def _holder_alive(holder: str) -> bool:
    from agentarts._process import is_alive

    return is_alive(holder)
