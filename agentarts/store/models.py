"""Run-store tables (SQLModel). The schema version lives in ``schema_version``.

Tables: runs, steps (with timings), tool_calls (inputs and outputs), approvals (who, when,
decision, reason), alerts and work_orders (created by packs). JSON payloads are stored as text
so every backend (SQLite, Postgres) reads them the same way.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel, UniqueConstraint

__all__ = [
    "Actuation",
    "Alert",
    "Approval",
    "ApprovalRequest",
    "Run",
    "SchemaVersion",
    "Step",
    "ToolCall",
    "WorkOrder",
]


class SchemaVersion(SQLModel, table=True):
    __tablename__ = "agentarts_schema_version"
    id: int = Field(default=1, primary_key=True)
    version: int


class Run(SQLModel, table=True):
    __tablename__ = "agentarts_runs"
    id: str = Field(primary_key=True)  # run id (one invocation: start, or resume after a gate)
    thread_id: str = Field(index=True)
    agent: str = ""
    status: str = "running"  # running | waiting_approval | completed | failed | interrupted
    input: str = "null"
    output: str = "null"
    error: str | None = None
    started_at: datetime
    ended_at: datetime | None = None
    host: str = ""  # host:pid that ran it, to tell a crashed run from a live one


class Step(SQLModel, table=True):
    __tablename__ = "agentarts_steps"
    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(index=True)
    thread_id: str = Field(index=True)
    node: str
    status: str  # ok | error | interrupted
    started_at: datetime
    duration_ms: float
    update: str = "null"


class ToolCall(SQLModel, table=True):
    __tablename__ = "agentarts_tool_calls"
    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(index=True)
    thread_id: str = Field(index=True)
    tool: str
    safety: str
    input: str
    output: str | None = None
    error: str | None = None
    started_at: datetime
    duration_ms: float
    attempts: int = 1


class Approval(SQLModel, table=True):
    __tablename__ = "agentarts_approvals"
    __table_args__ = (UniqueConstraint("thread_id", "interrupt_id", name="uq_approval_once"),)
    id: int | None = Field(default=None, primary_key=True)
    thread_id: str = Field(index=True)
    run_id: str
    interrupt_id: str
    action: str
    proposal: str = "null"
    decision: str  # approved | rejected
    by: str
    reason: str = ""
    decided_at: datetime
    applied: bool = False
    digest: str = ""  # of the exact arguments shown (added in schema version 3)
    source: str = "sdk"  # sdk | graph (decided through a LangGraph host) | server
    sig: str = ""  # HMAC over the decision's fields under the project secret


class ApprovalRequest(SQLModel, table=True):
    """What a person is shown at a gate: the exact arguments, frozen and signed when the gate
    first pauses. A resume whose proposal no longer matches it is refused."""

    __tablename__ = "agentarts_requests"
    key: str = Field(primary_key=True)  # thread id + the gate task's checkpoint namespace
    thread_id: str = Field(index=True)
    action: str
    args: str  # canonical JSON of the arguments shown
    digest: str
    created_at: datetime
    sig: str


class Actuation(SQLModel, table=True):
    """One approved actuation: claimed (intent) before the tool runs, its outcome after.

    The primary key is the grant id, so exactly one task can ever claim a grant.
    """

    __tablename__ = "agentarts_actuations"
    grant_id: str = Field(primary_key=True)
    thread_id: str = Field(index=True)
    action: str
    digest: str
    args: str
    approved_by: str
    task: str  # the LangGraph task (checkpoint namespace) that claimed the grant
    status: str  # intent | done | failed | uncertain
    claimed_by: str  # host:pid holding the claim ("" once released by a dying process)
    claimed_at: datetime
    finished_at: datetime | None = None
    output: str = "null"
    error: str | None = None
    grant: str = "null"  # the signed grant, as checkpointed
    sig: str = ""  # HMAC over the record's fields (re-signed at each transition)


class Alert(SQLModel, table=True):
    __tablename__ = "agentarts_alerts"
    id: int | None = Field(default=None, primary_key=True)
    thread_id: str = Field(index=True)
    run_id: str
    severity: str  # info | warning | critical
    code: str
    message: str
    data: str = "null"
    created_at: datetime


class WorkOrder(SQLModel, table=True):
    __tablename__ = "agentarts_work_orders"
    id: int | None = Field(default=None, primary_key=True)
    thread_id: str = Field(index=True)
    run_id: str
    asset: str
    title: str
    description: str = ""
    priority: str = "normal"  # added in schema version 2
    status: str = "open"
    created_at: datetime
