"""The server's HTTP API with the sample agent: the AgentArts contract, runs, approvals, events."""

from __future__ import annotations

import csv
import io
import json
import threading
import time

from tests.agents.sample_agent import READING
from tests.server.conftest import bearer

SESSION = "x-hw-agentarts-session-id"


def _start(client, tokens, thread: str | None = None) -> dict:
    headers = bearer(tokens["operator"])
    if thread:
        headers[SESSION] = thread
    r = client.post("/invocations", json={"reading": READING}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_ping_answers_without_credentials(client):
    r = client.get("/ping")
    assert r.status_code == 200
    assert r.json() == {"status": "Healthy"}


def test_invocations_answers_like_runs_show_and_maps_the_session_to_a_thread(client, tokens):
    body = _start(client, tokens, thread="shift-1")
    assert body["thread_id"] == "shift-1"
    assert body["status"] == "waiting_approval"
    assert "error" not in body
    for key in ("steps", "approvals", "pending", "tool_calls", "runs", "output"):
        assert key in body
    assert body["pending"]["action"] == "set_valve"
    assert body["pending"]["proposal"] == {"valve_id": "V-1", "opening_pct": 50.0}
    assert [s["node"] for s in body["steps"]][-1] == "approval"
    assert body["started_by"] == "operator"
    # a new run on a thread that waits for a decision is refused with a 4xx JSON body
    again = client.post(
        "/invocations",
        json={"reading": READING},
        headers={**bearer(tokens["operator"]), SESSION: "shift-1"},
    )
    assert again.status_code == 400
    assert "approve, reject or resume" in again.json()["error"]


def _settle(client) -> None:
    """Wait until the server's background worker has applied every recorded decision."""
    assert client.app.state.service.resumer.wait_idle(30)


def test_approval_is_acknowledged_once_recorded_then_applied_once(client, tokens):
    from tests.agents import sample_agent

    tid = _start(client, tokens)["thread_id"]
    r = client.post(
        f"/runs/{tid}/approve",
        json={"reason": "forecast says hot", "by": "somebody else"},
        headers=bearer(tokens["approver"]),
    )
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "resuming" and body["pending"] is None and "error" not in body
    assert body["decision"]["by"] == "approver"  # the signed-in user, never a typed name
    assert body["decision"]["decision"] == "approved"
    assert body["started_by"] == "operator"  # who started the run, as GET /runs/{id} says
    # a second approval of the same request is refused, queued or applied
    again = client.post(f"/runs/{tid}/approve", json={}, headers=bearer(tokens["admin"]))
    assert again.status_code == 409
    _settle(client)
    shown = client.get(f"/runs/{tid}", headers=bearer(tokens["viewer"])).json()
    assert shown["status"] == "completed" and "decision" not in shown
    assert [(a["decision"], a["by"]) for a in shown["approvals"]] == [("approved", "approver")]
    assert shown["approvals"][0]["reason"] == "forecast says hot"
    assert sample_agent.VALVES["V-1"] == 50.0  # the approved move was carried out
    again = client.post(f"/runs/{tid}/approve", json={}, headers=bearer(tokens["admin"]))
    assert again.status_code == 409
    audit = client.get("/audit", params={"thread_id": tid}, headers=bearer(tokens["viewer"]))
    rows = audit.json()["audit"]
    assert rows[1]["detail"] == {
        "action": "set_valve",
        "proposal": {"valve_id": "V-1", "opening_pct": 50.0},
        "reason": "forecast says hot",
    }
    actions = [(e["action"], e["user"], e["outcome"]) for e in rows]
    assert actions == [
        ("applied", "approver", "completed"),
        ("approve", "approver", "resuming"),
        ("invoke", "operator", "waiting_approval"),
    ]
    assert client.app.state.service._locks == {}  # per-thread locks are pruned


def test_approval_with_wait_answers_the_finished_run(client, tokens):
    from tests.agents import sample_agent

    tid = _start(client, tokens)["thread_id"]
    r = client.post(
        f"/runs/{tid}/approve?wait=true",
        json={"reason": "checked"},
        headers=bearer(tokens["approver"]),
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "completed"
    assert [(a["decision"], a["by"]) for a in r.json()["approvals"]] == [("approved", "approver")]
    assert sample_agent.VALVES["V-1"] == 50.0
    bad = client.post(f"/runs/{tid}/approve?wait=maybe", json={}, headers=bearer(tokens["admin"]))
    assert bad.status_code == 400


def test_a_decision_recorded_before_a_crash_is_applied_by_the_next_server(
    agent, db_url, tokens, clock
):
    """The server answered 202 and died before resuming: the next start resumes the thread,
    and the move happens once."""
    from tests.agents import sample_agent
    from tests.server.conftest import make_client

    with make_client(agent, db_url, clock, background_resume=False) as first:
        tid = _start(first, tokens)["thread_id"]
        service = first.app.state.service
        who = service.users.user_for_token(tokens["approver"])
        from agentarts.server.service import Principal

        out = service.decide(Principal(who["name"], who["role"]), tid, True, "ok", wait=False)
        assert out["status"] == "resuming"
        shown = first.get(f"/runs/{tid}", headers=bearer(tokens["viewer"])).json()
        assert shown["status"] == "resuming" and shown["decision"]["by"] == "approver"
        assert first.get("/approvals", headers=bearer(tokens["viewer"])).json()["pending"] == []
    assert sample_agent.VALVES["V-1"] == 40.0  # not applied: the "crash"
    with make_client(agent, db_url, clock) as second:
        _settle(second)
        shown = second.get(f"/runs/{tid}", headers=bearer(tokens["viewer"])).json()
        assert shown["status"] == "completed"
        assert [a["by"] for a in shown["approvals"]] == ["approver"]
        assert sample_agent.VALVES["V-1"] == 50.0
        assert len(agent.store.actuations(tid)) == 1
        # another scan finds nothing left to do
        assert second.app.state.service.resumer.scan(0.0) == 0


def test_an_edited_decision_row_is_refused_by_the_background_resume(agent, db_url, tokens, clock):
    """A decision row changed in the database between the answer and the resume fails its
    signature: the thread is not resumed, the move does not happen, the refusal is audited."""
    import sqlite3

    from agentarts.server.service import Principal
    from tests.agents import sample_agent
    from tests.server.conftest import make_client

    with make_client(agent, db_url, clock, background_resume=False) as first:
        tid = _start(first, tokens)["thread_id"]
        service = first.app.state.service
        service.decide(Principal("approver", "approver"), tid, False, "too hot", wait=False)
    with sqlite3.connect(db_url.split("///", 1)[1]) as conn:  # flip the rejection
        conn.execute(
            "UPDATE agentarts_approvals SET decision = 'approved' WHERE thread_id = ?", (tid,)
        )
    with make_client(agent, db_url, clock) as second:
        _settle(second)
        assert second.app.state.service.resumer.failed == 1
        audit = second.get("/audit", params={"thread_id": tid}, headers=bearer(tokens["viewer"]))
        top = audit.json()["audit"][0]
        assert top["action"] == "apply_refused" and "signature" in top["outcome"]
    assert sample_agent.VALVES["V-1"] == 40.0
    assert agent.store.actuations(tid) == []


def test_reject_needs_a_reason_and_leaves_the_plant_alone(client, tokens):
    from tests.agents import sample_agent

    tid = _start(client, tokens)["thread_id"]
    empty = client.post(
        f"/runs/{tid}/reject", json={"reason": " "}, headers=bearer(tokens["approver"])
    )
    assert empty.status_code == 400
    r = client.post(
        f"/runs/{tid}/reject",
        json={"reason": "too hot already"},
        headers=bearer(tokens["approver"]),
    )
    assert r.status_code == 202
    _settle(client)
    shown = client.get(f"/runs/{tid}", headers=bearer(tokens["viewer"])).json()
    assert shown["status"] == "completed"
    assert shown["approvals"][0]["decision"] == "rejected"
    assert sample_agent.VALVES["V-1"] == 40.0


def test_decision_through_invocations_uses_the_session_thread(client, tokens):
    tid = _start(client, tokens, thread="desk-7")["thread_id"]
    r = client.post(
        "/invocations",
        json={"decision": {"approved": True, "reason": "ok", "by": "forged"}},
        headers={**bearer(tokens["approver"]), SESSION: tid},
    )
    assert r.status_code == 200
    assert r.headers[SESSION] == tid
    assert r.json()["approvals"][0]["by"] == "approver"


def test_runs_list_show_pending_panels_export(client, tokens):
    waiting = _start(client, tokens)["thread_id"]
    headers = bearer(tokens["viewer"])
    runs = client.get("/runs", headers=headers).json()["runs"]
    assert [r["thread_id"] for r in runs] == [waiting]
    assert client.get(f"/runs/{waiting}", headers=headers).json()["status"] == "waiting_approval"
    pending = client.get("/approvals", headers=headers).json()["pending"]
    assert [(p["thread_id"], p["pending"]["action"]) for p in pending] == [(waiting, "set_valve")]
    panels = client.get(f"/runs/{waiting}/panels", headers=headers).json()["panels"]
    names = [p["name"] for p in panels]
    assert names[:2] == ["proposal", "explanation"]
    assert ["opening_pct", 50.0] in panels[0]["data"]["items"]
    export = client.get(f"/runs/{waiting}/export", headers=headers)
    assert "attachment" in export.headers["content-disposition"]
    assert json.loads(export.text)["audit"][0]["action"] == "invoke"
    assert client.get("/alerts", headers=headers).json() == {"alerts": [], "work_orders": []}
    missing = client.get("/runs/nope", headers=headers)
    assert missing.status_code == 404 and "nope" in missing.json()["error"]


def test_audit_exports_csv(client, tokens):
    tid = _start(client, tokens)["thread_id"]
    client.post(
        f"/runs/{tid}/approve?wait=true", json={"reason": "ok"}, headers=bearer(tokens["approver"])
    )
    r = client.get("/audit", params={"format": "csv"}, headers=bearer(tokens["viewer"]))
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(row["action"], row["user"]) for row in rows] == [
        ("approve", "approver"),
        ("invoke", "operator"),
    ]
    bad = client.get("/audit", params={"format": "xml"}, headers=bearer(tokens["viewer"]))
    assert bad.status_code == 400


def test_events_stream_a_run_as_server_sent_events(client, tokens):
    tid = _start(client, tokens)["thread_id"]

    def approve_soon() -> None:
        time.sleep(0.3)
        client.post(
            f"/runs/{tid}/approve", json={"reason": "ok"}, headers=bearer(tokens["approver"])
        )

    worker = threading.Thread(target=approve_soon)
    worker.start()
    r = client.get(
        f"/runs/{tid}/events", params={"until": "run_end"}, headers=bearer(tokens["viewer"])
    )
    worker.join()
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ")]
    kinds = [e["kind"] for e in events]
    assert kinds[:2] == ["decision_recorded", "approval"] and kinds[-1] == "run_end"
    assert events[0]["by"] == events[1]["by"] == "approver"
    assert events[-1]["status"] == "completed"
    assert {"step_start", "step_end"} <= set(kinds)
    assert all(e["thread_id"] == tid for e in events)


def test_websocket_runs_and_approves_with_live_events(client, tokens):
    headers = {**bearer(tokens["approver"]), SESSION: "ws-1"}
    with client.websocket_connect("/ws", headers=headers) as ws:
        assert ws.receive_json() == {"type": "session", "session_id": "ws-1", "user": "approver"}
        ws.send_json({"input": {"reading": READING}})
        seen = []
        while (msg := ws.receive_json())["type"] != "result":
            seen.append(msg)
        assert msg["status"] == "waiting_approval" and msg["thread_id"] == "ws-1"
        assert {"run_start", "step_end", "approval_requested"} <= {m["kind"] for m in seen}
        ws.send_json({"decision": {"approved": True, "reason": "from the desk"}})
        while (msg := ws.receive_json())["type"] != "result":
            pass
        assert msg["status"] == "completed"
        assert msg["approvals"][0]["by"] == "approver"
        ws.send_text("not json")  # (the run's last events may still be on their way)
        while (msg := ws.receive_json())["type"] == "event":
            pass
        assert msg["type"] == "error" and msg["status"] == 400
        ws.send_json({"decision": {"approved": "yes"}})
        assert ws.receive_json() == {
            "type": "error",
            "status": 400,
            "error": 'decision needs "approved": bool and "reason": str',
        }


def test_resume_of_a_finished_run_reports_it(client, tokens):
    tid = _start(client, tokens)["thread_id"]
    client.post(f"/runs/{tid}/approve?wait=1", json={}, headers=bearer(tokens["approver"]))
    r = client.post(f"/runs/{tid}/resume", headers=bearer(tokens["operator"]))
    assert r.status_code == 200 and r.json()["status"] == "completed"


def test_bad_bodies_are_4xx_json_never_500(client, tokens):
    headers = bearer(tokens["admin"])
    tid = _start(client, tokens)["thread_id"]
    cases = [
        ("post", "/invocations", b"{not json"),
        ("post", "/invocations", b"[1, 2]"),
        ("post", "/runs", b'{"input": 3}'),
        ("post", "/runs", b'{"input": {}, "thread_id": 5}'),
        ("post", f"/runs/{tid}/approve", b'{"reason": 5}'),
        ("post", f"/runs/{tid}/approve", b'"text"'),
        ("post", f"/runs/{tid}/reject", b"\xff\xfe"),
        ("post", "/runs/missing/approve", b'{"reason": "x"}'),
        ("get", "/runs?limit=0", None),
        ("get", "/runs?limit=abc", None),
        ("post", "/invocations", b'{"decision": {"approved": 1}}'),
    ]
    for method, path, body in cases:
        r = client.request(method, path, content=body, headers=headers)
        assert 400 <= r.status_code < 500, (path, body, r.status_code, r.text)
        assert "error" in r.json()
    long_session = client.post("/invocations", json={}, headers={**headers, SESSION: "s" * 129})
    assert long_session.status_code == 400
    long_login = client.post("/auth/login", json={"username": "a", "password": "p" * 5000})
    assert long_login.status_code == 400
    big = client.post("/invocations", content=b"x" * (2 << 20), headers=headers)
    assert big.status_code == 413


def test_confirm_answers_only_an_uncertain_actuation(client, tokens):
    tid = _start(client, tokens)["thread_id"]
    viewer = client.post(
        f"/runs/{tid}/confirm", json={"happened": True}, headers=bearer(tokens["viewer"])
    )
    assert viewer.status_code == 403
    bad = client.post(
        f"/runs/{tid}/confirm", json={"happened": "yes"}, headers=bearer(tokens["approver"])
    )
    assert bad.status_code == 400
    r = client.post(
        f"/runs/{tid}/confirm",
        json={"happened": True, "reason": "saw it"},
        headers=bearer(tokens["approver"]),
    )
    assert r.status_code == 409 and "confirmation" in r.json()["error"]


def test_freeze_gc_freezes_the_start_up_heap_for_the_server_life(agent, db_url, tokens, clock):
    import gc

    from tests.server.conftest import make_client

    assert gc.get_freeze_count() == 0
    with make_client(agent, db_url, clock, freeze_gc=True) as c:
        assert gc.get_freeze_count() > 0
        assert c.get("/ping").json() == {"status": "Healthy"}
    assert gc.get_freeze_count() == 0


def test_runs_list_started_is_the_threads_start_not_its_latest_run(client, tokens):
    """After an approval the thread's latest run is the resume: GET /runs said the thread
    started then."""
    tid = _start(client, tokens)["thread_id"]
    r = client.post(
        f"/runs/{tid}/approve?wait=true", json={"reason": "ok"}, headers=bearer(tokens["approver"])
    )
    assert r.status_code == 200, r.text
    shown = client.get(f"/runs/{tid}", headers=bearer(tokens["viewer"])).json()
    first, last = shown["runs"][0]["started_at"], shown["runs"][-1]["started_at"]
    assert first < last
    (row,) = client.get("/runs", headers=bearer(tokens["viewer"])).json()["runs"]
    assert row["started_at"] == first  # was the latest run's start
    assert row["run_started_at"] == last
    assert row["status"] == "completed"
