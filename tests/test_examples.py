"""The embedding examples run: an enterprise service and a batch job."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def tanks(monkeypatch):
    from examples.tank_agent import agent as tank

    fresh = {k: v.model_copy() for k, v in tank.TANKS.items()}
    monkeypatch.setattr(tank, "TANKS", fresh)
    return fresh


def test_service_runs_and_approves(tmp_path, tanks):
    from examples.service import create_app

    with TestClient(create_app(f"sqlite:///{tmp_path}/svc.db")) as client:
        started = client.post("/runs", json={"tank_id": "T-1"}).json()
        assert started["status"] == "waiting_approval"
        assert started["pending"]["proposal"] == {"tank_id": "T-1", "valve_pct": 68.0}
        thread = started["thread_id"]
        assert client.get(f"/runs/{thread}").json()["status"] == "waiting_approval"
        done = client.post(f"/runs/{thread}/approve", json={"by": "ana"}).json()
        assert done["status"] == "completed" and tanks["T-1"].valve_pct == 68.0
        again = client.post(f"/runs/{thread}/approve", json={"by": "ana"})
        assert again.status_code == 409
        assert client.get("/runs/unknown").status_code == 404
        audit = client.get(f"/runs/{thread}/audit").json()
        assert audit["approvals"][0]["by"] == "ana"


def test_service_speaks_the_agentarts_runtime_contract(tmp_path, tanks):
    from examples.service import create_app

    with TestClient(create_app(f"sqlite:///{tmp_path}/svc.db")) as client:
        assert client.get("/ping").json() == {"status": "Healthy"}
        headers = {"x-hw-agentarts-session-id": "s-42"}
        first = client.post("/invocations", json={"tank_id": "T-1"}, headers=headers).json()
        assert first["thread_id"] == "s-42" and first["status"] == "waiting_approval"
        done = client.post(
            "/invocations",
            headers=headers,
            json={"decision": {"approved": False, "reason": "draining"}},
        ).json()
        assert done["status"] == "completed" and tanks["T-1"].valve_pct == 50.0


def test_batch_job_reports_what_waits_for_approval(tmp_path, tanks):
    from examples.batch_job import main

    csv_path = tmp_path / "tanks.csv"
    csv_path.write_text("tank_id\nT-1\nT-2\n")
    report = tmp_path / "report.json"
    summary = main(csv_path, report, f"sqlite:///{tmp_path}/batch.db")
    assert json.loads(report.read_text()) == summary
    assert [w["tank_id"] for w in summary["waiting_approval"]] == ["T-1"]
    assert summary["no_action"] == ["T-2"] and summary["failed"] == []
