"""The embedding examples run: an enterprise service and a batch job."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tests.conftest import REPO


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


# -- Huawei AgentArts runtime contract --------------------------------------------------------
SESSION_HEADER = "x-hw-agentarts-session-id"


def huawei_invoke_local(client, payload: str, session_id: str | None = None) -> bool:
    """What ``agentarts invoke --mode local`` of Huawei's ``agentarts-sdk-python`` decides.

    A faithful copy of its code path (toolkit/operations/runtime/invoke.py ``invoke_agent`` and
    sdk/service/runtime_client.py ``LocalRuntimeClient.invoke_agent``): the payload must be
    JSON; it is POSTed to ``/invocations`` with ``Content-Type: application/json`` and the
    session header; a non-2xx status raises (reported as a failure); an event stream succeeds;
    a JSON body that is not an object is wrapped as ``{"data": ...}``, an unparsable one as
    ``{"raw": ...}``; then any dict with an ``"error"`` key is a failure.
    """
    try:
        json.loads(payload)
    except json.JSONDecodeError:
        return False
    headers = {"Content-Type": "application/json"}
    if session_id:
        headers[SESSION_HEADER] = session_id
    response = client.post("/invocations", content=payload, headers=headers)
    if not response.is_success:
        return False
    if "text/event-stream" in response.headers.get("Content-Type", ""):
        return True
    try:
        result = response.json()
    except ValueError:
        result = {"raw": response.text}
    if not isinstance(result, dict):
        result = {"data": result}
    return "error" not in result


def test_huawei_local_invoke_accepts_the_example_service(tmp_path, tanks):
    from examples.service import create_app

    with TestClient(create_app(f"sqlite:///{tmp_path}/svc.db")) as client:
        assert huawei_invoke_local(client, '{"tank_id": "T-1"}', "s-1")
        assert tanks["T-1"].valve_pct == 50.0  # waiting for the approval
        decision = '{"decision": {"approved": true, "by": "ana", "reason": "trend checked"}}'
        assert huawei_invoke_local(client, decision, "s-1")
        assert tanks["T-1"].valve_pct == 68.0
        assert huawei_invoke_local(client, '{"tank_id": "T-2"}', "s-2")  # nothing to do
        # a run that fails, and a decision for a session with nothing pending, are failures
        assert not huawei_invoke_local(client, '{"tank_id": "T-9"}', "s-3")
        assert not huawei_invoke_local(client, decision, "s-2")
        body = client.post("/invocations", json={"tank_id": "T-9"}).json()
        assert body["status"] == "failed" and "T-9" in body["error"]


def test_invocation_body_keeps_error_only_on_failure():
    from examples.service import invocation_body

    assert invocation_body({"status": "completed", "error": None}) == {"status": "completed"}
    failed = {"status": "failed", "error": "ToolError: boom"}
    assert invocation_body(failed) == failed


def test_bad_decision_is_a_400_not_a_500(tmp_path, tanks):
    from examples.service import create_app

    with TestClient(create_app(f"sqlite:///{tmp_path}/svc.db")) as client:
        headers = {SESSION_HEADER: "s-9"}
        client.post("/invocations", json={"tank_id": "T-1"}, headers=headers)
        response = client.post("/invocations", json={"decision": "yes"}, headers=headers)
        assert response.status_code == 400 and "detail" in response.json()


# -- where the examples write ----------------------------------------------------------------
def test_examples_default_store_is_beside_them_not_in_home(monkeypatch, tmp_path):
    from examples.tank_agent import agent as tank

    monkeypatch.delenv("AGENTARTS_DATA_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    url = tank.default_database_url()
    examples = REPO / "examples"
    assert url == f"sqlite:///{examples / '.agentarts' / 'agentarts.db'}"
    assert str(tmp_path / "home") not in url
    # the environment still wins
    monkeypatch.setenv("AGENTARTS_DATA_DIR", str(tmp_path / "mine"))
    assert tank.default_database_url() == f"sqlite:///{tmp_path / 'mine' / 'agentarts.db'}"


# -- the batch job's rough edges ---------------------------------------------------------------
def test_batch_job_rerun_reports_waiting_threads_without_a_traceback(tmp_path, tanks, capsys):
    from examples.batch_job import cli

    csv_path = tmp_path / "tanks.csv"
    csv_path.write_text("tank_id\nT-1\nT-2\n")
    report = tmp_path / "report.json"
    db = f"sqlite:///{tmp_path}/batch.db"
    assert cli([str(csv_path), str(report), "--database-url", db]) == 0
    first = json.loads(report.read_text())
    assert cli([str(csv_path), str(report), "--database-url", db]) == 0
    second = json.loads(report.read_text())
    assert [w["thread_id"] for w in second["waiting_approval"]] == ["batch-T-1"]
    assert second["waiting_approval"][0]["from_earlier_run"] is True
    assert first["waiting_approval"][0]["from_earlier_run"] is False
    assert second["waiting_approval"][0]["proposal"] == {"tank_id": "T-1", "valve_pct": 68.0}
    assert second["no_action"] == ["T-2"]
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such file"),
        ("", "needs a tank_id column"),
        ("name\nT-1\n", "needs a tank_id column"),
        (b"tank_id\n\xff\xfe\n", "not UTF-8"),
    ],
)
def test_batch_job_bad_csv_is_one_line_exit_2(tmp_path, capsys, content, message):
    from examples.batch_job import cli

    csv_path = tmp_path / "tanks.csv"
    if isinstance(content, bytes):
        csv_path.write_bytes(content)
    elif content is not None:
        csv_path.write_text(content)
    report = tmp_path / "report.json"
    code = cli([str(csv_path), str(report), "--database-url", f"sqlite:///{tmp_path}/b.db"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error:") and err.count("\n") == 1 and message in err
    assert not report.exists() and not (tmp_path / "b.db").exists()


def test_batch_job_report_in_missing_folder_is_refused(tmp_path, capsys, tanks):
    from examples.batch_job import cli

    csv_path = tmp_path / "tanks.csv"
    csv_path.write_text("tank_id\nT-1\n")
    code = cli([str(csv_path), str(tmp_path / "no" / "r.json"), "--database-url", "sqlite://"])
    assert code == 2 and "does not exist" in capsys.readouterr().err
