"""The actuation protocol: one approval, one actuation, bound to what the person saw, in any
LangGraph host (tests/agents/plant_agent.py counts actuations in a side-effect file)."""

from __future__ import annotations

import sqlite3

import pytest

from agentarts.errors import ApprovalError, InvalidInputError, TamperError
from tests.agents import plant_agent
from tests.agents.plant_agent import build, effects


@pytest.fixture
def db(tmp_path, monkeypatch):
    monkeypatch.setenv("PLANT_EFFECTS", str(tmp_path / "plant.jsonl"))
    monkeypatch.delenv("PLANT_KILL", raising=False)
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    monkeypatch.setenv("AGENTARTS_DATABASE_URL", url)
    from agentarts.graph import actuation

    monkeypatch.setattr(actuation, "_LEDGERS", {})
    return url


def make(db, shape="plain", actuator=plant_agent.write_setpoint, name="plant"):
    from agentarts.graph import Agent

    return Agent(build(shape, actuator), name=name, database_url=db)


def test_approval_runs_the_tool_once_and_verifies(db):
    with make(db) as agent:
        first = agent.run({})
        assert first.status == "waiting_approval"
        assert first.pending["digest"]
        done = agent.approve(first.thread_id, by="ana", reason="checked")
        assert done.status == "completed"
        assert done.output["grants"] == {}  # used grants leave the state
        from agentarts.graph.verify import verify

        report = verify(agent.store, first.thread_id)
        assert report.ok, report.problems
        assert (report.requests, report.approvals, report.actuations) == (1, 1, 1)
    assert [e["value"] for e in effects()] == [42.0]


def test_rejection_never_actuates(db):
    with make(db) as agent:
        first = agent.run({})
        assert agent.reject(first.thread_id, reason="no").status == "completed"
    assert effects() == []


def test_second_tool_node_with_the_same_arguments_is_refused(db):
    with make(db, "twice") as agent:
        first = agent.run({})
        result = agent.approve(first.thread_id, by="ana")
    assert result.status == "failed"
    assert "one approval, one actuation" in result.error or "runs only after" in result.error
    assert len(effects()) == 1


def test_send_fan_out_runs_once(db):
    with make(db, "send") as agent:
        first = agent.run({})
        result = agent.approve(first.thread_id, by="ana")
    assert result.status == "failed"
    assert len(effects()) == 1


def test_a_loop_needs_an_approval_per_turn(db):
    with make(db) as agent:
        for value in (30.0, 30.0):  # the same arguments twice: two approvals, two writes
            first = agent.run({"proposal": {"loop": "TIC-101", "value": value}})
            assert agent.approve(first.thread_id, by="ana").status == "completed"
    assert len({e["key"] for e in effects()}) == 2


def test_edited_proposal_in_the_waiting_checkpoint_is_refused(db):
    """The person was shown 20; someone edits the checkpoint to 99 and keeps the request."""
    with make(db) as agent:
        first = agent.run({"proposal": {"loop": "TIC-101", "value": 20.0}})
        saver = agent.graph.checkpointer
        config = {"configurable": {"thread_id": first.thread_id, "checkpoint_ns": ""}}
        stored = saver.get_tuple(config)
        stored.checkpoint["channel_values"]["proposal"] = {"loop": "TIC-101", "value": 99.0}
        saver.put(stored.config, stored.checkpoint, stored.metadata, {})
        assert agent.status(first.thread_id).pending["proposal"]["value"] == 20.0
        result = agent.approve(first.thread_id, by="ana")
    assert result.status == "failed"
    assert "different proposal" in result.error or "changed after it was shown" in result.error
    assert effects() == []


def _path(db: str) -> str:
    return db.split("///", 1)[1]


def test_inserted_approval_row_is_refused(db):
    with make(db) as agent:
        first = agent.run({})
        pending = first.pending
        with sqlite3.connect(_path(db)) as conn:
            conn.execute(
                "INSERT INTO agentarts_approvals (thread_id, run_id, interrupt_id, action, "
                "proposal, decision, by, reason, decided_at, applied, digest, source, sig) "
                "VALUES (?, '', ?, 'write_setpoint', '{}', 'approved', 'mallory', '', "
                "'2026-01-01', 0, ?, 'sdk', 'forged')",
                (first.thread_id, pending["interrupt_id"], pending["digest"]),
            )
        with pytest.raises(TamperError, match="signature"):
            agent.resume(first.thread_id)
    assert effects() == []


def test_rejection_flipped_to_approved_is_refused(db):
    with make(db) as agent:
        first = agent.run({})
        p = first.pending
        agent.store.record_approval(  # recorded, then the process died before applying it
            first.thread_id,
            "",
            p["interrupt_id"],
            p["action"],
            p["proposal"],
            False,
            "ana",
            "too hot",
            digest=p["digest"],
        )
        with sqlite3.connect(_path(db)) as conn:
            conn.execute("UPDATE agentarts_approvals SET decision = 'approved'")
        with pytest.raises(TamperError):
            agent.resume(first.thread_id)
        from agentarts.graph.verify import verify

        assert [p["kind"] for p in verify(agent.store).problems] == ["approval"]
    assert effects() == []


def test_edited_actuation_row_is_reported_by_verify(db):
    with make(db) as agent:
        first = agent.run({})
        agent.approve(first.thread_id, by="ana")
        with sqlite3.connect(_path(db)) as conn:
            conn.execute("UPDATE agentarts_actuations SET approved_by = 'boss'")
        from agentarts.graph.verify import verify

        kinds = {p["kind"] for p in verify(agent.store).problems}
    assert "actuation" in kinds


def test_langgraph_host_resume_with_command(db, tmp_path):
    """No Agent wrapper: LangGraph's own Command(resume=...) as Studio or `langgraph dev`."""
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.types import Command

    graph = build().compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "studio-1"}}
    out = graph.invoke({}, config)
    assert out["__interrupt__"][0].value["proposal"]["value"] == 42.0
    done = graph.invoke(
        Command(resume={"approved": True, "by": "duty engineer", "reason": "ok"}), config
    )
    assert done["written"]["value"] == 42.0
    assert len(effects()) == 1
    from agentarts.store import RunStore

    store = RunStore(db)
    approvals = store.thread("studio-1")["approvals"]
    assert [(a["by"], a["source"]) for a in approvals] == [("duty engineer", "graph")]
    from agentarts.graph.verify import verify

    assert verify(store, "studio-1").ok
    store.close()


def test_decision_text_limits(db):
    with make(db) as agent:
        first = agent.run({})
        with pytest.raises(InvalidInputError, match="limit is 4,000"):
            agent.approve(first.thread_id, by="ana", reason="x" * 20_000_000)
        assert agent.status(first.thread_id).status == "waiting_approval"


def test_actuating_tool_outside_a_graph_is_refused():
    with pytest.raises(ApprovalError):
        plant_agent.write_setpoint({"loop": "x", "value": 1})


def test_subgraph_gate_and_actuation(db):
    """The gate and the actuating node inside a subgraph: one approval, one write."""
    from langgraph.graph import END, START, StateGraph

    from agentarts.graph import Agent

    outer = StateGraph(plant_agent.State)
    outer.add_node("plant_step", build().compile())
    outer.add_edge(START, "plant_step")
    outer.add_edge("plant_step", END)
    with Agent(outer, name="outer", database_url=db) as agent:
        first = agent.run({})
        assert first.status == "waiting_approval", first.error
        done = agent.approve(first.thread_id, by="ana")
        assert done.status == "completed", done.error
        from agentarts.graph.verify import verify

        assert verify(agent.store, first.thread_id).ok
    assert len(effects()) == 1
