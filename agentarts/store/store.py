"""``RunStore``: what every run did, for operators and auditors (SQLModel tables, one database).

Writes are single statements (atomic on their own) retried on a busy SQLite file, so two
processes can share the database; reads return plain dicts ready for JSON.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

from agentarts._process import identity
from agentarts.errors import ApprovalError
from agentarts.store.db import make_engine, migrate, raw_sqlite, with_retry
from agentarts.store.ledger import LedgerMixin

__all__ = ["RunStore", "dumps", "now"]


def now() -> datetime:
    return datetime.now(UTC)


def _default(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    return str(obj)


def dumps(obj: Any) -> str:
    """JSON text for anything a run produces (pydantic models, numpy arrays, datetimes)."""
    return json.dumps(obj, default=_default, separators=(",", ":"))


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _row(row: Any, json_fields: tuple[str, ...] = ()) -> dict[str, Any]:
    out = dict(row._mapping)
    for key in json_fields:
        if key in out:
            out[key] = _loads(out[key])
    for key, value in out.items():
        if isinstance(value, datetime):
            out[key] = value.isoformat()
    return out


class RunStore(LedgerMixin):
    """The run and audit store at ``url`` (migrated on open)."""

    def __init__(self, url: str) -> None:
        from agentarts.store import models

        self.url = url
        self.engine = make_engine(url)
        self.previous_version = migrate(self.engine)
        self.t = {
            "runs": models.Run.__table__,
            "steps": models.Step.__table__,
            "tool_calls": models.ToolCall.__table__,
            "approvals": models.Approval.__table__,
            "alerts": models.Alert.__table__,
            "work_orders": models.WorkOrder.__table__,
            "requests": models.ApprovalRequest.__table__,
            "actuations": models.Actuation.__table__,
        }
        self.host = identity()
        # Steps and tool calls are written on every node: on SQLite they go through one raw
        # connection (an INSERT + commit costs ~30 us there, ~300 us through the ORM layers).
        self._raw: Any = raw_sqlite(self.engine)
        self._raw_lock = threading.Lock()

    def _insert_fast(self, name: str, values: dict[str, Any]) -> None:
        if self._raw is None:
            self._write(self.t[name].insert().values(**values))
            return
        columns = ", ".join(f'"{c}"' for c in values)
        marks = ", ".join(f":{c}" for c in values)
        self._sql(f"INSERT INTO {self.t[name].name} ({columns}) VALUES ({marks})", values)

    def _write(self, statement: Any) -> Any:
        def run() -> Any:
            with self.engine.begin() as conn:
                return conn.execute(statement)

        return with_retry(run)

    # -- runs -------------------------------------------------------------------------------
    def start_run(self, run_id: str, thread_id: str, agent: str, input: Any) -> None:
        self._insert_fast(
            "runs",
            dict(
                id=run_id,
                thread_id=thread_id,
                agent=agent,
                status="running",
                input=dumps(input),
                output="null",
                started_at=now(),
                host=self.host,
            ),
        )

    def finish_run(
        self, run_id: str, status: str, output: Any = None, error: str | None = None
    ) -> None:
        values = dict(status=status, output=dumps(output), error=error, ended_at=now())
        if self._raw is None:
            runs = self.t["runs"]
            self._write(runs.update().where(runs.c.id == run_id).values(**values))
            return
        sets = ", ".join(f'"{c}" = :{c}' for c in values)
        self._sql(
            f"UPDATE agentarts_runs SET {sets} WHERE id = :run_id", {**values, "run_id": run_id}
        )

    # -- steps and tool calls ------------------------------------------------------------------
    def add_step(
        self,
        run_id: str,
        thread_id: str,
        node: str,
        status: str,
        started_at: datetime,
        duration_ms: float,
        update: Any,
    ) -> None:
        self._insert_fast(
            "steps",
            dict(
                run_id=run_id,
                thread_id=thread_id,
                node=node,
                status=status,
                started_at=started_at,
                duration_ms=duration_ms,
                update=dumps(update),
            ),
        )

    def add_tool_call(
        self,
        run_id: str,
        thread_id: str,
        tool: str,
        safety: str,
        input: Any,
        output: Any,
        error: str | None,
        started_at: datetime,
        duration_ms: float,
        attempts: int,
    ) -> None:
        self._insert_fast(
            "tool_calls",
            dict(
                run_id=run_id,
                thread_id=thread_id,
                tool=tool,
                safety=safety,
                input=dumps(input),
                output=None if output is None else dumps(output),
                error=error,
                started_at=started_at,
                duration_ms=duration_ms,
                attempts=attempts,
            ),
        )

    # -- approvals ---------------------------------------------------------------------------
    def record_approval(
        self,
        thread_id: str,
        run_id: str,
        interrupt_id: str,
        action: str,
        proposal: Any,
        approved: bool,
        by: str,
        reason: str,
        *,
        digest: str = "",
        source: str = "sdk",
        applied: bool = False,
    ) -> dict[str, Any]:
        """Record a signed decision; a second decision on the same interrupt raises
        ApprovalError. Returns the row as written."""
        import sqlite3

        from sqlalchemy.exc import IntegrityError

        # the row keeps the proposal as the agent made it ({"car_index": 1} stays 1, not 1.0);
        # the signature covers its canonical form, as before (``approval_fields`` canonicalises
        # the parsed column), so older rows, which stored the canonical text, verify alike
        shown = dumps(proposal)
        values = dict(
            thread_id=thread_id,
            run_id=run_id,
            interrupt_id=interrupt_id,
            action=action,
            proposal=json.loads(shown),
            digest=digest,
            decision="approved" if approved else "rejected",
            by=by,
            reason=reason,
        )
        values["sig"] = self.sign_approval(values)
        values["proposal"] = shown
        # One plain INSERT through _sql: on SQLite it takes the raw connection (~0.1 ms instead
        # of ~0.6 ms through SQLAlchemy), and it is the one write an acknowledged approval waits
        # for. The unique (thread, interrupt) index makes a second decision fail here.
        try:
            self._sql(
                "INSERT INTO agentarts_approvals (thread_id, run_id, interrupt_id, action, "
                'proposal, digest, decision, "by", reason, sig, decided_at, applied, source) '
                "VALUES (:thread_id, :run_id, :interrupt_id, :action, :proposal, :digest, "
                ":decision, :by, :reason, :sig, :decided_at, :applied, :source)",
                {**values, "decided_at": now(), "applied": applied, "source": source},
            )
        except (IntegrityError, sqlite3.IntegrityError) as exc:
            raise ApprovalError(
                f"thread {thread_id}: this approval request was already decided"
            ) from exc
        return values

    def latest_run_id(self, thread_id: str) -> str:
        """The id of the thread's most recent run ("" if none)."""
        rows = self._sql(
            "SELECT id FROM agentarts_runs WHERE thread_id = :t ORDER BY started_at DESC LIMIT 1",
            {"t": thread_id},
            fetch=True,
        )
        return str(rows[0]["id"]) if rows else ""

    def decision_for(self, thread_id: str, interrupt_id: str) -> dict[str, Any] | None:
        rows = self._sql(
            "SELECT * FROM agentarts_approvals WHERE thread_id = :t AND interrupt_id = :i",
            {"t": thread_id, "i": interrupt_id},
            fetch=True,
        )
        if not rows:
            return None
        row = rows[0]
        row["proposal"] = _loads(row["proposal"])
        row["applied"] = bool(row["applied"])
        return row

    def mark_applied(self, thread_id: str, interrupt_id: str) -> None:
        approvals = self.t["approvals"]
        self._write(
            approvals.update()
            .where(approvals.c.thread_id == thread_id, approvals.c.interrupt_id == interrupt_id)
            .values(applied=True)
        )

    # -- what packs create ---------------------------------------------------------------------
    def add_alert(
        self, thread_id: str, run_id: str, severity: str, code: str, message: str, data: Any = None
    ) -> None:
        self._write(
            self.t["alerts"]
            .insert()
            .values(
                thread_id=thread_id,
                run_id=run_id,
                severity=severity,
                code=code,
                message=message,
                data=dumps(data),
                created_at=now(),
            )
        )

    def add_work_order(
        self,
        thread_id: str,
        run_id: str,
        asset: str,
        title: str,
        description: str = "",
        priority: str = "normal",
    ) -> None:
        self._write(
            self.t["work_orders"]
            .insert()
            .values(
                thread_id=thread_id,
                run_id=run_id,
                asset=asset,
                title=title,
                description=description,
                priority=priority,
                status="open",
                created_at=now(),
            )
        )

    def repair_stale_runs(self, thread_id: str | None = None) -> int:
        """Mark runs left "running" by a process that no longer exists as ``crashed``.

        The thread itself stays resumable from its last checkpoint; this only stops the
        audit from showing a run as running forever. Returns how many rows were repaired.
        """
        from agentarts._process import is_alive

        runs = self.t["runs"]
        query = runs.select().where(runs.c.status == "running")
        if thread_id is not None:
            query = query.where(runs.c.thread_id == thread_id)
        with self.engine.connect() as conn:
            stale = [r.id for r in conn.execute(query) if not is_alive(r.host)]
        for run_id in stale:
            self._write(
                runs.update()
                .where(runs.c.id == run_id, runs.c.status == "running")
                .values(
                    status="crashed",
                    error="the process running it ended before it finished; the thread "
                    "resumes from its last checkpoint",
                    ended_at=now(),
                )
            )
        return len(stale)

    # -- reads -------------------------------------------------------------------------------
    def list_threads(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest run of each thread, most recently active first. ``started_at`` is when
        the thread started (its first run), ``run_started_at`` when its latest run did (after
        an approval: the approval's resume)."""
        from sqlalchemy import func, select

        runs = self.t["runs"]
        latest = (
            select(
                runs.c.thread_id,
                func.max(runs.c.started_at).label("at"),
                func.min(runs.c.started_at).label("first"),
            )
            .group_by(runs.c.thread_id)
            .subquery()
        )
        query = (
            select(runs, latest.c.first)
            .join(
                latest,
                (runs.c.thread_id == latest.c.thread_id) & (runs.c.started_at == latest.c.at),
            )
            .order_by(runs.c.started_at.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = [_row(r, ("input", "output")) for r in conn.execute(query)]
        for row in rows:
            first = row.pop("first")
            row["run_started_at"] = row["started_at"]
            row["started_at"] = first.isoformat() if isinstance(first, datetime) else first
        return rows

    def thread(self, thread_id: str) -> dict[str, Any]:
        """Everything recorded for a thread, oldest first."""
        out: dict[str, Any] = {"thread_id": thread_id}
        spec = {
            "runs": ("started_at", ("input", "output")),
            "steps": ("id", ("update",)),
            "tool_calls": ("id", ("input", "output")),
            "approvals": ("id", ("proposal",)),
            "alerts": ("id", ("data",)),
            "work_orders": ("id", ()),
        }
        with self.engine.connect() as conn:
            for name, (order, json_fields) in spec.items():
                table = self.t[name]
                rows = conn.execute(
                    table.select().where(table.c.thread_id == thread_id).order_by(table.c[order])
                )
                out[name] = [_row(r, json_fields) for r in rows]
        return out

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
        self.engine.dispose()
