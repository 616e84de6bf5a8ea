"""The fast decision write and the background resumer, without HTTP."""

from __future__ import annotations

import threading
import time

import pytest

from agentarts.errors import ApprovalError
from agentarts.server.decisions import record_decision
from agentarts.server.resumer import Resumer


def _columns(row: dict) -> dict:
    return {k: row[k] for k in row if k not in ("id", "decided_at", "thread_id", "interrupt_id")}


def test_fast_decision_row_is_the_row_record_approval_writes(tmp_path):
    from agentarts.store import RunStore

    store = RunStore(f"sqlite:///{tmp_path / 'runs.db'}")
    assert store._raw is not None  # the fast path is the one under test
    rest = ("set_valve", {"valve_id": "V-1", "opening_pct": 50}, True, "dana", "ok")
    store.record_approval("t-slow", "run-1", "int-1", *rest, digest="d" * 64)
    record_decision(store, "t-fast", "run-1", "int-1", *rest, digest="d" * 64)
    slow, fast = store.decision_for("t-slow", "int-1"), store.decision_for("t-fast", "int-1")
    assert store.approval_ok(slow) and store.approval_ok(fast)
    assert _columns(fast) | {"sig": None} == _columns(slow) | {"sig": None}
    read = [store.thread(t)["approvals"][0]["decided_at"] for t in ("t-slow", "t-fast")]
    assert [(len(r), r[10], r[-6:]) for r in read] == [(32, "T", "+00:00")] * 2  # same form
    with pytest.raises(ApprovalError, match="already decided"):
        record_decision(store, "t-fast", "run-1", "int-1", *rest, digest="d" * 64)
    store.close()


def test_fast_decision_keeps_argument_order_of_record_approval(tmp_path):
    """record_approval(thread, run, interrupt, action, ...) and record_decision agree."""
    from agentarts.store import RunStore

    store = RunStore(f"sqlite:///{tmp_path / 'runs.db'}")
    record_decision(store, "t", "run-9", "int-9", "act", {"a": 1}, False, "eve", "no", "e" * 64)
    row = store.decision_for("t", "int-9")
    assert (row["run_id"], row["action"], row["decision"], row["by"], row["reason"]) == (
        "run-9",
        "act",
        "rejected",
        "eve",
        "no",
    )
    assert row["applied"] is False and row["source"] == "sdk"
    store.close()


def test_resumer_applies_each_thread_once_and_scans_each_decision_once():
    applied: list[str] = []
    gate = threading.Event()

    def apply(thread_id: str) -> None:
        gate.wait(5)
        applied.append(thread_id)

    found = [("t1", "i1"), ("t2", "i2")]
    resumer = Resumer(apply, lambda _age: list(found), threads=2, scan_interval_s=3600)
    resumer.start()  # the start-up scan queues t1 and t2
    assert resumer.holds("t1") and not resumer.submit("t1")  # queued: not twice
    gate.set()
    assert resumer.wait_idle(5)
    assert sorted(applied) == ["t1", "t2"]
    assert resumer.scan(0.0) == 0  # each (thread, interrupt) once per process
    found.append(("t1", "i3"))  # a new gate on t1
    assert resumer.scan(0.0) == 1
    assert resumer.wait_idle(5) and applied.count("t1") == 2
    resumer.stop()


def test_resumer_waits_while_decisions_arrive_but_not_forever():
    applied_at: list[float] = []
    busy = {"on": True}
    resumer = Resumer(
        lambda _t: applied_at.append(time.monotonic()),
        lambda _age: [],
        busy=lambda: busy["on"],
        max_defer_s=0.3,
    )
    resumer.start()
    t0 = time.monotonic()
    resumer.submit("t1")
    assert resumer.wait_idle(5)
    assert 0.25 <= applied_at[0] - t0 < 2.0  # deferred, then applied anyway
    busy["on"] = False
    t1 = time.monotonic()
    resumer.submit("t2")
    assert resumer.wait_idle(5) and applied_at[1] - t1 < 0.2
    resumer.stop()


def test_resumer_survives_a_failing_apply():
    def apply(thread_id: str) -> None:
        raise RuntimeError("plant offline")

    resumer = Resumer(apply, lambda _age: [])
    resumer.start()
    resumer.submit("t1")
    assert resumer.wait_idle(5) and resumer.failed == 1 and not resumer.holds("t1")
    resumer.stop()
