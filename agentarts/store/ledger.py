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
    """Ledger methods of ``RunStore`` (it supplies ``engine``, ``t``, ``url``, ``host`` and, on
    SQLite, the raw connection ``_raw`` with its lock)."""

    engine: Any
    t: dict[str, Any]
    url: str
    host: str
    _signer: Any = None

    @property
    def signer(self) -> Any:
        if self._signer is None:
            from agentarts.security import Signer

            self._signer = Signer.for_database(self.url)
        return self._signer

    _raw: Any = None
    _raw_lock: Any = None

    def _sql(self, sql: str, params: dict[str, Any], fetch: bool = False) -> Any:
        """One statement with ``:name`` parameters, committed on its own: through the store's
        raw SQLite connection when it has one (10x cheaper than the ORM layers), else the
        engine. Returns the rows as dicts (``fetch``) or the affected row count."""
        from datetime import datetime

        from agentarts.store.db import with_retry

        if self._raw is not None:
            values = {
                k: v.isoformat(sep=" ") if isinstance(v, datetime) else v for k, v in params.items()
            }

            def run_raw() -> Any:
                with self._raw_lock:
                    cursor = self._raw.execute(sql, values)
                    if not fetch:
                        return cursor.rowcount
                    names = [d[0] for d in cursor.description]
                    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

            return with_retry(run_raw)
        from sqlalchemy import text

        def run() -> Any:
            with self.engine.begin() as conn:
                result = conn.execute(text(sql), params)
                return [dict(m) for m in result.mappings()] if fetch else result.rowcount

        return with_retry(run)

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
        from agentarts.security import canonical_json
        from agentarts.store.store import now

        row = {
            "key": key,
            "thread_id": thread_id,
            "action": action,
            "args": canonical_json(args),
            "digest": digest,
        }
        found = self._sql('SELECT * FROM agentarts_requests WHERE "key" = :key', {"key": key}, True)
        if not found:
            inserted = self._sql(
                'INSERT INTO agentarts_requests ("key", thread_id, action, args, digest, '
                "created_at, sig) VALUES (:key, :thread_id, :action, :args, :digest, :at, :sig) "
                "ON CONFLICT DO NOTHING",
                {**row, "at": now(), "sig": self.signer.sign("request", row)},
            )
            if inserted:
                return
            found = self._sql(
                'SELECT * FROM agentarts_requests WHERE "key" = :key', {"key": key}, True
            )
        stored = found[0]
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
        inserted = self._sql(
            "INSERT INTO agentarts_actuations (grant_id, thread_id, action, digest, args, "
            'approved_by, task, status, claimed_by, claimed_at, output, error, "grant", sig) '
            "VALUES (:grant_id, :thread_id, :action, :digest, :args, :approved_by, :task, "
            ":status, :claimed_by, :claimed_at, :output, :error, :grant, :sig) "
            "ON CONFLICT DO NOTHING",
            {
                **row,
                "claimed_by": self.host,
                "claimed_at": now(),
                "grant": dumps(grant),
                "sig": self._actuation_sig(row),
            },
        )
        if inserted:
            return Claim("won", {**row, "claimed_by": self.host})
        stored = self._actuation(grant["id"])
        if stored is None:  # pragma: no cover - rows are never deleted
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

    def _actuation(self, grant_id: str) -> dict[str, Any] | None:
        rows = self._sql(
            "SELECT * FROM agentarts_actuations WHERE grant_id = :g", {"g": grant_id}, True
        )
        return rows[0] if rows else None

    def take_over(self, grant_id: str, previous_holder: str) -> bool:
        """Move an orphaned claim to this process; False when another process took it first."""
        return bool(
            self._sql(
                "UPDATE agentarts_actuations SET claimed_by = :me WHERE grant_id = :g AND "
                "status IN ('intent', 'uncertain') AND claimed_by = :old",
                {"me": self.host, "g": grant_id, "old": previous_holder},
            )
        )

    def mark_uncertain(self, grant_id: str) -> None:
        self._transition(grant_id, "uncertain", None, None, holder=None)

    def finish(
        self, grant_id: str, status: str, output: Any = None, error: str | None = None
    ) -> bool:
        """Record the outcome (``done`` or ``failed``) of a claim this process holds."""
        return self._transition(grant_id, status, output, error, holder=self.host)

    def release(self, grant_id: str) -> None:
        """Give up a claim whose outcome is unknown (the process is dying mid-tool)."""
        self._sql(
            "UPDATE agentarts_actuations SET claimed_by = '' WHERE grant_id = :g AND "
            "claimed_by = :me",
            {"g": grant_id, "me": self.host},
        )

    def _transition(
        self, grant_id: str, status: str, output: Any, error: str | None, holder: str | None
    ) -> bool:
        from agentarts.store.store import dumps, now

        stored = self._actuation(grant_id)
        if stored is None:
            return False
        row = {**stored, "status": status, "error": error}
        if output is not None or status == "done":
            row["output"] = dumps(output)
        sql = (
            "UPDATE agentarts_actuations SET status = :status, output = :output, "
            "error = :error, finished_at = :at, sig = :sig "
            "WHERE grant_id = :g AND status = :old"
        )
        params = {
            "status": status,
            "output": row["output"],
            "error": error,
            "at": now() if status in ("done", "failed") else None,
            "sig": self._actuation_sig(row),
            "g": grant_id,
            "old": stored["status"],
        }
        if holder is not None:
            sql += " AND claimed_by = :holder"
            params["holder"] = holder
        return bool(self._sql(sql, params))

    def rows(
        self, table: str, thread_id: str | None, order: str, json_fields: tuple[str, ...] = ()
    ) -> list[dict[str, Any]]:
        """Rows of ``table`` (all threads, or one), ordered by ``order``."""
        from agentarts.store.store import _row

        t = self.t[table]
        query = t.select().order_by(t.c[order])
        if thread_id is not None:
            query = query.where(t.c.thread_id == thread_id)
        with self.engine.connect() as conn:
            return [_row(r, json_fields) for r in conn.execute(query)]

    def actuations(self, thread_id: str | None = None) -> list[dict[str, Any]]:
        return self.rows("actuations", thread_id, "claimed_at")

    def requests(self, thread_id: str | None = None) -> list[dict[str, Any]]:
        return self.rows("requests", thread_id, "created_at")

    def request_ok(self, row: dict[str, Any]) -> bool:
        return self.signer.ok("request", _fields(row, REQUEST_FIELDS), row.get("sig"))


def output_of(row: dict[str, Any]) -> Any:
    """The recorded output of an actuation row."""
    return json.loads(row["output"]) if row.get("output") else None


def _holder_alive(holder: str) -> bool:
    from agentarts._process import is_alive

    return is_alive(holder)
