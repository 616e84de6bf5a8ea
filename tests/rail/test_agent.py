"""The inspection agent: every suspected fault waits for a person; decisions are kept."""

from __future__ import annotations

import json

import pytest

from agentarts.industries.rail import agent as rail
from agentarts.industries.rail import tools as rail_tools


@pytest.fixture
def agent(tmp_path, runtime):
    a = rail.Agent(
        rail.builder, name="t", database_url=f"sqlite:///{tmp_path}/r.db", runtime=runtime
    )
    yield a
    a.close()


def _run(agent, seed=12):
    request = {"source": "generator", "seed": seed, "cars": 2, "fault_rate": 0.08}
    return agent.run({"request": request}, thread_id=f"train-{seed}")


@pytest.mark.slow
def test_gates_confirm_reject_reinspect(agent, tmp_path):
    first = _run(agent)
    assert first.status == "waiting_approval"
    findings = first.output["triage"]["findings"]
    assert len(findings) >= 3
    crits = [f["criticality"] for f in first.output["queue"]]
    assert crits == sorted(crits, key=rail.RANK.get)  # critical first
    proposal = first.pending["proposal"]
    assert proposal["action"] == rail.ACTIONS[proposal["criticality"]]
    r = agent.approve("train-12", by="ana")
    r = agent.reject("train-12", reason="shadow, not a crack", by="bo")
    r = agent.reject("train-12", reason="re-inspect: blurred", by="bo")
    decisions = [d["decision"] for d in r.output["decisions"]]
    assert decisions == ["confirm", "reject", "re-inspect"]
    thread = agent.store.thread("train-12")
    assert len(thread["work_orders"]) == 1
    order = thread["work_orders"][0]
    assert order["priority"] == proposal["criticality"]
    assert proposal["car_number"] == order["asset"]
    assert any(a["code"] == "RAIL_REINSPECT" for a in thread["alerts"])
    labels = (rail_tools.labels_dir() / "labels.jsonl").read_text().splitlines()
    kept = [json.loads(line) for line in labels]
    # a confirmed unexplained anomaly is kept unlabelled: the person names the mode later
    named = proposal["mode"] != "unknown_anomaly"
    assert [k["decision"] for k in kept] == ["confirm", "reject"][0 if named else 1 :]
    assert kept[-1]["fault"] == "normal"
    assert (rail_tools.labels_dir() / kept[0]["crop"]).is_file()
    assert all(k["vehicle_class"] for k in kept)
    from agentarts.industries.rail.retrain import collect

    again = collect(rail_tools.labels_dir())  # the labels read back as training data
    assert again["xp"].shape == (len(kept), 76, 76) and list(again["fault"])[-1] == "normal"
    while r.status == "waiting_approval":
        r = agent.approve("train-12", by="auto-confirm")
    assert r.status == "completed"
    report = r.output["report"]
    assert "Work orders raised" in report["text"]
    frames = r.output["triage"]["frames"]
    assert report["manual_minutes_per_train"] == round(frames * 1.92 / 60, 2)
    assert len((rail_tools.labels_dir() / "labels.jsonl").read_text().splitlines()) == len(kept)


def test_work_order_needs_the_gate():
    from agentarts.errors import ApprovalError

    with pytest.raises(ApprovalError):
        rail_tools.raise_work_order(
            {
                "train_id": "T1",
                "car_index": 1,
                "car_number": "C70-1",
                "vehicle_class": "C70",
                "component": "brake_shoe",
                "fault_type": "brake_shoe.missing",
                "mode": "missing",
                "criticality": "critical",
                "action": "remove_car",
            }
        )


def test_served_agent_reads_passes_only_in_the_project(tmp_path, monkeypatch, runtime):
    """Served, `inspect_train` opens its folder through the path policy (agentarts.tools.paths)."""
    from fastapi.testclient import TestClient

    from agentarts.server import ServerConfig, create_app
    from agentarts.server.users import UserStore
    from tests.rail.conftest import write_pass
    from tests.server.conftest import Clock, bearer

    root = tmp_path / "depot"
    root.mkdir()
    (root / "agentarts.toml").write_text('[project]\nname = "depot"\nindustry = "rail"\n')
    write_pass(root / "passes" / "p1", cars=1, fault_rate=0.0)
    write_pass(tmp_path / "elsewhere", cars=1, fault_rate=0.0)
    monkeypatch.chdir(root)
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    users = UserStore(db)
    users.add("olga", "operator")
    headers = bearer(users.issue_token("olga"))
    users.close()
    agent = rail.Agent(rail.builder, name="rail", database_url=db, runtime=runtime)
    app = create_app([agent], db, ServerConfig(clock=Clock()))
    with TestClient(app, base_url="http://127.0.0.1:18850") as client:
        for folder in ("/etc", "../elsewhere", str(tmp_path / "elsewhere")):
            request = {"request": {"source": "folder", "folder": folder}}
            answer = client.post("/invocations", json=request, headers=headers)
            assert answer.status_code < 500
            body = answer.json()
            assert body["status"] == "failed" and "PathNotAllowedError" in body["error"]
            assert repr(folder) in body["error"]
        request = {"request": {"source": "folder", "folder": "passes/p1"}}
        body = client.post("/invocations", json=request, headers=headers).json()
        assert body["status"] in ("completed", "waiting_approval"), body.get("error")
