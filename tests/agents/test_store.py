"""The run store: one conformance test for every backend, and schema migrations."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agentarts.errors import ApprovalError, ConfigError
from agentarts.store import RunStore
from agentarts.store.db import LATEST_VERSION

FIXTURES = Path(__file__).parent / "fixtures"

BACKENDS = ["sqlite"]
if os.environ.get("AGENTARTS_TEST_POSTGRES_URL"):
    BACKENDS.append("postgres")


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = os.environ["AGENTARTS_TEST_POSTGRES_URL"]
    s = RunStore(url)
    if request.param == "postgres":  # a shared server: start from empty tables
        with s.engine.begin() as conn:
            for table in s.t.values():
                conn.execute(table.delete())
    yield s
    s.close()


def test_store_conformance(store):
    at = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    store.start_run("r1", "t1", "pkg.mod:agent", {"kind": "run", "input": {"a": 1}})
    store.add_step("r1", "t1", "read", "ok", at, 1.5, {"reading": {"x": 2.0}})
    store.add_step("r1", "t1", "gate", "waiting", at, 0.5, None)
    store.add_tool_call(
        "r1", "t1", "read_tag", "read_only", {"tag": "TI-1"}, {"value": 3.0}, None, at, 0.7, 1
    )
    store.add_tool_call(
        "r1", "t1", "flaky", "read_only", {"x": 1}, None, "ConnectionError", at, 9.0, 3
    )
    store.record_approval("t1", "r1", "i1", "set_valve", {"pct": 50}, True, "ana", "ok")
    with pytest.raises(ApprovalError, match="already decided"):
        store.record_approval("t1", "r1", "i1", "set_valve", {"pct": 50}, False, "bob", "no")
    assert store.decision_for("t1", "i1")["applied"] is False
    store.mark_applied("t1", "i1")
    store.add_alert("t1", "r1", "warning", "HOT", "bearing hot", {"temp": 88})
    store.add_work_order("t1", "r1", "P-101", "Replace bearing", priority="high")
    store.finish_run("r1", "completed", {"done": True})
    store.start_run("r2", "t2", "pkg.mod:agent", {})

    record = store.thread("t1")
    assert [r["status"] for r in record["runs"]] == ["completed"]
    assert record["runs"][0]["output"] == {"done": True}
    assert [s["node"] for s in record["steps"]] == ["read", "gate"]
    assert record["steps"][0]["update"] == {"reading": {"x": 2.0}}
    assert record["steps"][0]["duration_ms"] == 1.5
    assert record["tool_calls"][1]["error"] == "ConnectionError"
    assert record["tool_calls"][1]["attempts"] == 3
    assert record["approvals"][0]["decision"] == "approved"
    assert record["approvals"][0]["applied"] in (True, 1)
    assert record["alerts"][0]["data"] == {"temp": 88}
    assert record["work_orders"][0]["priority"] == "high"
    assert [t["thread_id"] for t in store.list_threads()] == ["t2", "t1"]
    assert store.thread("nope")["runs"] == []


def _v1_database(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.executescript((FIXTURES / "store_v1.sql").read_text())


def test_newer_sdk_opens_an_older_database(tmp_path):
    path = tmp_path / "old.db"
    _v1_database(path)
    store = RunStore(f"sqlite:///{path}")
    assert store.previous_version == 1
    record = store.thread("t-old")
    assert record["runs"][0]["output"] == {"done": True}
    assert record["work_orders"][0]["priority"] == "normal"  # the column v2 added
    store.add_work_order("t-old", "r-old", "P-102", "Check seal", priority="high")
    store.close()
    with sqlite3.connect(path) as conn:
        assert (
            conn.execute("SELECT version FROM agentarts_schema_version").fetchone()[0]
            == LATEST_VERSION
        )
    assert RunStore(f"sqlite:///{path}").previous_version == LATEST_VERSION  # idempotent


def test_database_from_a_newer_sdk_is_refused_untouched(tmp_path):
    path = tmp_path / "future.db"
    RunStore(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE agentarts_schema_version SET version = 99")
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="version 99, newer than this SDK"):
        RunStore(f"sqlite:///{path}")
    assert path.read_bytes() == before


def test_unsupported_url():
    with pytest.raises(ConfigError, match="unsupported database URL"):
        RunStore("mysql://x")


@pytest.mark.skipif("postgres" not in BACKENDS, reason="set AGENTARTS_TEST_POSTGRES_URL")
def test_agent_on_postgres(env, monkeypatch):
    """Checkpoints and run store on Postgres: run to the gate, approve from a new Agent."""
    import uuid

    from agentarts.graph import Agent
    from tests.agents.sample_agent import READING, builder

    url = os.environ["AGENTARTS_TEST_POSTGRES_URL"]
    thread = f"pg-{uuid.uuid4().hex[:8]}"
    first = Agent(builder, name="sample", database_url=url)
    assert first.run({"reading": READING}, thread_id=thread).status == "waiting_approval"
    first.close()
    second = Agent(builder, name="sample", database_url=url)
    done = second.approve(thread, by="pg")
    assert done.status == "completed"
    assert [a["by"] for a in second.store.thread(thread)["approvals"]] == ["pg"]
    second.close()


def test_an_approval_keeps_the_proposal_as_made_and_signs_its_canonical_form(tmp_path):
    """`runs show` printed {"car_index": 1.0} where the agent proposed 1: the row stored the
    canonical (float) text. It now stores the proposal as made; the signature is unchanged,
    so rows written before verify, and an edit is still caught."""
    from agentarts.graph.verify import verify
    from agentarts.security import canonical_json

    store = RunStore(f"sqlite:///{tmp_path / 'runs.db'}")
    proposal = {"car_index": 1, "opening_pct": 2.5, "cars": [3, 4.0]}
    row = store.record_approval("t1", "r1", "i1", "set_car", proposal, True, "ana", "ok")
    shown = store.thread("t1")["approvals"][0]["proposal"]
    assert shown == proposal and type(shown["car_index"]) is int
    assert type(shown["cars"][1]) is float
    # the signature the previous version wrote for the same decision (canonical text)
    old = {**row, "proposal": canonical_json(proposal)}
    assert row["sig"] == store.signer.sign("approval", store.approval_fields(old))
    assert store.approval_ok(store.decision_for("t1", "i1"))
    # a row the previous version wrote: canonical text in the column, the same signature
    store.record_approval("t2", "r2", "i2", "set_car", proposal, True, "ana", "ok")
    with sqlite3.connect(tmp_path / "runs.db") as db:
        db.execute(
            "UPDATE agentarts_approvals SET proposal = ? WHERE thread_id = 't2'",
            (canonical_json(proposal),),
        )
    assert store.approval_ok(store.decision_for("t2", "i2"))
    assert verify(store).ok
    with sqlite3.connect(tmp_path / "runs.db") as db:  # an edit of the value is caught
        db.execute(
            "UPDATE agentarts_approvals SET proposal = ? WHERE thread_id = 't1'",
            ('{"car_index": 2, "opening_pct": 2.5, "cars": [3, 4.0]}',),
        )
    assert not store.approval_ok(store.decision_for("t1", "i1"))
    assert [p["kind"] for p in verify(store).problems] == ["approval"]
    store.close()
