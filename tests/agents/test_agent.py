"""The Agent: two model tools, a guard and an approval gate, from Python."""

from __future__ import annotations

import pytest
from langgraph.graph import END, START, StateGraph

from agentarts.errors import ApprovalError, NotFoundError, UsageError
from agentarts.graph import Agent, AgentState, approval_gate, tool_node
from tests.agents import sample_agent
from tests.agents.sample_agent import READING


def test_run_waits_at_the_gate_then_approval_applies(agent):
    first = agent.run({"reading": READING})
    assert first.status == "waiting_approval"
    assert [s["node"] for s in first.steps] == ["forecast", "risk", "propose", "guard", "approval"]
    assert first.output["forecast"].keys() == {"temp_next_c", "pressure_next_bar"}
    assert first.output["risk"]["risk"] >= 0 or first.output["risk"]["risk"] < 0  # a number
    assert first.pending["action"] == "set_valve" and first.pending["safety"] == "actuating"
    assert sample_agent.VALVES["V-1"] == 40.0
    final = agent.approve(first.thread_id, by="ana", reason="checked")
    assert final.status == "completed"
    assert sample_agent.VALVES["V-1"] == final.output["applied"]["opening_pct"]
    record = agent.store.thread(first.thread_id)
    assert len(record["approvals"]) == 1
    assert record["approvals"][0]["by"] == "ana" and record["approvals"][0]["applied"]
    assert [t["tool"] for t in record["tool_calls"]] == ["forecast", "risk", "set_valve"]
    assert record["tool_calls"][0]["output"].keys() == {"temp_next_c", "pressure_next_bar"}
    assert [r["status"] for r in record["runs"]] == ["waiting_approval", "completed"]
    assert final.output["approvals"][0]["approved"] is True


def test_rejection_is_recorded_and_nothing_moves(agent):
    first = agent.run({"reading": READING})
    final = agent.reject(first.thread_id, reason="valve under maintenance", by="ana")
    assert final.status == "completed" and final.output.get("applied") is None
    assert sample_agent.VALVES["V-1"] == 40.0
    (approval,) = agent.store.thread(first.thread_id)["approvals"]
    assert approval["decision"] == "rejected" and approval["reason"] == "valve under maintenance"


def test_approval_cannot_apply_twice_or_to_a_finished_run(agent):
    first = agent.run({"reading": READING})
    agent.approve(first.thread_id)
    with pytest.raises(ApprovalError, match="not waiting for an approval"):
        agent.approve(first.thread_id)
    with pytest.raises(ApprovalError):
        agent.reject(first.thread_id, reason="late")
    assert len(agent.store.thread(first.thread_id)["approvals"]) == 1


def test_reject_needs_a_reason_and_unknown_threads(agent):
    first = agent.run({"reading": READING})
    with pytest.raises(UsageError, match="needs a reason"):
        agent.reject(first.thread_id, reason="  ")
    with pytest.raises(NotFoundError):
        agent.approve("no-such-thread")
    with pytest.raises(UsageError, match="waiting_approval"):
        agent.run({"reading": READING}, thread_id=first.thread_id)


def test_guard_stops_an_out_of_envelope_proposal(agent, monkeypatch):
    monkeypatch.setattr(sample_agent, "VALVES", {"V-1": 90.0})  # +10 would exceed max 95
    result = agent.run({"reading": READING})
    assert result.status == "completed"
    assert result.output["guard"] == {
        "ok": False,
        "violations": ["opening_pct=100 is above the maximum 95"],
    }
    assert not [a for a in agent.store.thread(result.thread_id)["approvals"]]


def test_failed_node_then_resume_after_the_fix(agent, monkeypatch):
    failed = agent.run({"reading": READING, "fail": True})
    assert failed.status == "failed" and "sensor bus down" in failed.error
    monkeypatch.setenv("SAMPLE_FIXED", "1")
    resumed = agent.resume(failed.thread_id)
    assert resumed.status == "waiting_approval"


def test_actuating_tool_reachable_without_gate_is_refused_at_build():
    class S(AgentState, total=False):
        proposal: dict

    builder = StateGraph(S)
    builder.add_node("apply", tool_node(sample_agent.set_valve, args="proposal"))
    builder.add_edge(START, "apply")
    builder.add_edge("apply", END)
    with pytest.raises(ApprovalError, match="without passing an approval_gate"):
        Agent(builder)
    # the same graph with a gate in front is accepted
    gated = StateGraph(S)
    gated.add_node("gate", approval_gate(sample_agent.set_valve, proposal="proposal"))
    gated.add_node("apply", tool_node(sample_agent.set_valve, args="proposal"))
    gated.add_edge(START, "gate")
    gated.add_edge("gate", "apply")
    gated.add_edge("apply", END)
    Agent(gated, database_url="sqlite:///:memory:")


def test_actuating_tool_without_approval_fails_the_run(env, tmp_path):
    class S(AgentState, total=False):
        proposal: dict

    builder = StateGraph(S)
    builder.add_node("apply", tool_node(sample_agent.set_valve, args="proposal"))
    builder.add_edge(START, "apply")
    builder.add_edge("apply", END)
    agent = Agent(builder, verify=False, database_url=f"sqlite:///{tmp_path}/x.db")
    result = agent.run({"proposal": {"valve_id": "V-1", "opening_pct": 55}})
    assert result.status == "failed" and "ApprovalError" in result.error
    assert sample_agent.VALVES["V-1"] == 40.0
    agent.close()


def test_events_are_emitted(agent):
    seen = []
    agent.events.subscribers.append(lambda e: seen.append((e.kind, e.node)))
    agent.run({"reading": READING})
    kinds = [k for k, _ in seen]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end"
    assert ("step_end", "forecast") in seen and ("approval_requested", "approval") in seen
    assert kinds.count("model_call") == 2 and kinds.count("tool_call") == 2


def test_opentelemetry_spans(agent):
    sdk = pytest.importorskip("opentelemetry.sdk.trace")
    from opentelemetry import trace
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    from agentarts.graph.events import otel_subscriber

    agent.events.subscribers.append(otel_subscriber())
    agent.run({"reading": READING})
    names = [s.name for s in exporter.get_finished_spans()]
    assert "step forecast" in names and any(n.startswith("run") for n in names)


def test_history_lists_checkpoints(agent):
    first = agent.run({"reading": READING})
    history = agent.history(first.thread_id)
    assert history[0]["next"] == ["approval"] and len(history) >= 5
