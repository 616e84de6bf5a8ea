"""The background resumer, without HTTP."""

from __future__ import annotations

import threading
import time

from agentarts.server.resumer import Resumer


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
