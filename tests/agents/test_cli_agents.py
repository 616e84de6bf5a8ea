"""`agentarts run`, `runs ...` and `tools list` through CliRunner, including bad input."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from agentarts.tools import tool
from tests.agents.sample_agent import READING

REF = "tests.agents.sample_agent:agent"


@pytest.fixture
def started(runner, cli, env):
    result = runner.invoke(
        cli, ["run", REF, "--input", json.dumps({"reading": READING}), "--thread", "c1", "--json"]
    )
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_run_json_stops_at_the_gate(started):
    assert started["status"] == "waiting_approval" and started["thread_id"] == "c1"
    assert started["pending"]["action"] == "set_valve"


def test_run_shows_progress_without_json(runner, cli, env):
    result = runner.invoke(cli, ["run", REF, "--input", json.dumps({"reading": READING})])
    assert result.exit_code == 0
    assert "forecast" in result.stderr and "approval needed" in result.stdout


def test_show_of_a_waiting_thread_shows_what_would_be_approved(runner, cli, env, started):
    """`runs show` printed only the action's name, not the proposal a person approves."""
    shown = runner.invoke(cli, ["runs", "show", "c1"], env={"COLUMNS": "300"}).stdout
    proposal = json.dumps(started["pending"]["proposal"])
    assert f"approval needed for set_valve (actuating): {proposal}" in shown
    assert "agentarts runs approve c1 --reason TEXT" in shown


def test_input_from_a_file(runner, cli, env, tmp_path):
    path = tmp_path / "in.json"
    path.write_text(json.dumps({"reading": READING}))
    result = runner.invoke(cli, ["run", REF, "--input", f"@{path}", "--json"])
    assert json.loads(result.stdout)["status"] == "waiting_approval"


def test_approve_show_export(runner, cli, env, started, tmp_path):
    approved = runner.invoke(
        cli, ["runs", "approve", "c1", "--by", "ana", "--reason", "ok", "--json"]
    )
    assert approved.exit_code == 0, approved.stderr
    assert json.loads(approved.stdout)["status"] == "completed"
    shown = json.loads(runner.invoke(cli, ["runs", "show", "c1", "--json"]).stdout)
    assert shown["status"] == "completed"
    assert [(a["decision"], a["by"]) for a in shown["approvals"]] == [("approved", "ana")]
    assert {"steps", "tool_calls", "runs", "alerts", "work_orders"} <= shown.keys()
    out = tmp_path / "audit.json"
    exported = runner.invoke(cli, ["runs", "export", "c1", "--output", str(out)])
    assert exported.exit_code == 0
    assert json.loads(out.read_text())["approvals"][0]["by"] == "ana"
    table = runner.invoke(cli, ["runs", "show", "c1"])
    assert "approved by ana" in table.stdout
    listed = json.loads(runner.invoke(cli, ["runs", "list", "--json"]).stdout)["runs"]
    assert listed[0]["thread_id"] == "c1"


def test_reject_needs_reason_and_records_it(runner, cli, env, started):
    missing = runner.invoke(cli, ["runs", "reject", "c1"])
    assert missing.exit_code == 2
    done = runner.invoke(cli, ["runs", "reject", "c1", "--reason", "shift change", "--json"])
    assert json.loads(done.stdout)["status"] == "completed"
    shown = json.loads(runner.invoke(cli, ["runs", "show", "c1", "--json"]).stdout)
    assert shown["approvals"][0]["reason"] == "shift change"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["run", REF, "--input", "{not json"], "not valid JSON"),
        (["run", REF, "--input", "[1, 2]"], "must be a JSON object"),
        (["run", REF, "--input", "@/no/such/file.json"], "--input @/no/such/file.json"),
        (["run", "no_such_module_xyz:agent"], "cannot import"),
        (["run", "json"], "must look like"),
        (["runs", "show", "missing"], "no run with thread id 'missing'"),
        (["runs", "approve", "missing"], "no run with thread id"),
        (["runs", "resume", "missing"], "no run with thread id"),
        (["tools", "list", "no_such_module_xyz"], "cannot import"),
    ],
)
def test_bad_input_is_one_line_exit_2(runner, cli, env, args, fragment):
    result = runner.invoke(cli, args)
    assert result.exit_code == 2, result.stdout
    assert result.stderr.startswith("error:") and result.stderr.count("\n") == 1
    assert fragment in result.stderr


def test_run_without_ref_outside_a_project(runner, cli, env, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["run"])
    assert result.exit_code == 2 and "no agent given" in result.stderr


def test_approve_a_finished_thread_is_refused(runner, cli, env, started):
    runner.invoke(cli, ["runs", "approve", "c1"])
    again = runner.invoke(cli, ["runs", "approve", "c1"])
    assert again.exit_code == 2 and "not waiting for an approval" in again.stderr


def test_tools_list_json(runner, cli, env):
    result = runner.invoke(cli, ["tools", "list", "tests.agents.sample_agent", "--json"])
    assert result.exit_code == 0, result.stderr
    tools = {t["name"]: t for t in json.loads(result.stdout)["tools"]}
    assert tools["set_valve"]["safety"] == "actuating"
    assert tools["forecast"]["input_schema"]["required"] == ["temp_c", "pressure_bar", "flow_m3_h"]
    by_agent = runner.invoke(cli, ["tools", "list", REF, "--json"])
    assert {t["name"] for t in json.loads(by_agent.stdout)["tools"]} == set(tools)


def test_user_text_is_not_rendered_as_markup(runner, cli, env):
    """A name, reason or thread id holding Rich markup is shown as typed, never styled, and
    `[/]` cannot break `runs list` for the whole database."""
    spoof = "[bold green]SAFETY OFFICER (verified)[/]"
    started = runner.invoke(
        cli, ["run", REF, "--input", json.dumps({"reading": READING}), "--thread", "[/]x"]
    )
    assert started.exit_code == 0, started.stderr
    assert "[/]x" in started.stdout
    approved = runner.invoke(cli, ["runs", "approve", "[/]x", "--by", spoof, "--reason", "[/]"])
    assert approved.exit_code == 0, approved.stderr
    shown = runner.invoke(cli, ["runs", "show", "[/]x"])
    assert shown.exit_code == 0, shown.stderr
    assert spoof in shown.stdout  # the brackets are printed, so it reads as typed text
    listed = runner.invoke(cli, ["runs", "list"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.stderr
    assert "[/]x" in listed.stdout


def test_database_password_is_masked(runner, cli, env, monkeypatch):
    url = "postgresql://agentarts:hunter2secret@127.0.0.1:1/none"
    monkeypatch.setenv("AGENTARTS_DATABASE_URL", url)
    for args in (["runs", "list"], ["runs", "show", "x"], ["runs", "verify"]):
        result = runner.invoke(cli, args)
        assert result.exit_code != 0
        assert "hunter2secret" not in result.stdout + result.stderr, args


def test_reason_over_the_limit_is_refused(runner, cli, env, started):
    result = runner.invoke(cli, ["runs", "approve", "c1", "--reason", "x" * 5000])
    assert result.exit_code == 2
    assert "limit is 4,000" in result.stderr
    shown = json.loads(runner.invoke(cli, ["runs", "show", "c1", "--json"]).stdout)
    assert shown["status"] == "waiting_approval" and shown["approvals"] == []


def test_verify_reports_a_tampered_row(runner, cli, env, started):
    import sqlite3

    assert runner.invoke(cli, ["runs", "approve", "c1", "--by", "ana"]).exit_code == 0
    ok = runner.invoke(cli, ["runs", "verify", "--json"])
    assert ok.exit_code == 0, ok.stdout
    assert json.loads(ok.stdout)["checked"]["actuations"] == 1
    path = env["AGENTARTS_DATABASE_URL"].split("///", 1)[1]
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE agentarts_approvals SET by = 'the plant manager'")
    bad = runner.invoke(cli, ["runs", "verify", "c1"])
    assert bad.exit_code == 1
    assert "fails its signature" in bad.stdout


@pytest.mark.parametrize(
    "target", ["missing/dir/out.json", "folder", "/dev/null", "link.json", "n" * 300]
)
def test_export_refuses_bad_targets_and_writes_nothing(
    runner, cli, env, started, tmp_path, monkeypatch, target
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder").mkdir()
    (tmp_path / "real.json").write_text("keep")
    (tmp_path / "link.json").symlink_to(tmp_path / "real.json")
    before = sorted(p.name for p in tmp_path.iterdir())
    result = runner.invoke(cli, ["runs", "export", "c1", "-o", target])
    assert result.exit_code == 2, result.stdout
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "real.json").read_text() == "keep"


@pytest.mark.parametrize("kind", ["fifo", "binary", "deep", "folder", "zero"])
def test_bad_input_files_get_one_line(runner, cli, env, tmp_path, kind):
    import os

    path = tmp_path / "in"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "binary":
        path.write_bytes(b"\xff\xfe{}")
    elif kind == "deep":
        path.write_text("[" * 200_000 + "]" * 200_000)
    elif kind == "folder":
        path.mkdir()
    else:
        path = "/dev/zero"
    result = runner.invoke(cli, ["run", REF, "--input", f"@{path}"])
    assert result.exit_code == 2, result.stdout
    assert result.stderr.startswith("error: --input") and result.stderr.count("\n") == 1


class CarMove(BaseModel):
    car_index: int
    shift_mm: float


@tool(safety="actuating")
def move_car(move: CarMove) -> CarMove:
    """Move a car (a test actuator with an integer argument)."""
    return move


def test_show_prints_the_proposal_as_the_agent_made_it(runner, cli, env):
    """An integer in a proposal shows as the integer (was 1.0: the approval stored the
    canonical form the signature covers); `runs verify` still passes."""
    from agentarts.graph import Agent
    from tests.agents.plant_agent import build

    proposal = {"car_index": 1, "shift_mm": 2.5}
    with Agent(build(actuator=move_car), name="cars") as agent:
        assert agent.run({"proposal": proposal}, thread_id="i1").status == "waiting_approval"
        assert agent.approve("i1", by="ana", reason="ok").status == "completed"
    shown = json.loads(runner.invoke(cli, ["runs", "show", "i1", "--json"]).stdout)
    assert shown["approvals"][0]["proposal"] == proposal
    assert type(shown["approvals"][0]["proposal"]["car_index"]) is int
    text = runner.invoke(cli, ["runs", "show", "i1"], terminal_width=200).stdout
    assert '"car_index": 1,' in text  # the approval and the actuation lines
    assert '"car_index": 1.0' not in text and '"car_index":1.0' not in text
    assert runner.invoke(cli, ["runs", "verify", "i1"]).exit_code == 0


def test_list_started_is_the_threads_start(runner, cli, env, started):
    """`runs list` "started" showed the latest run's start (the approval's resume)."""
    approved = runner.invoke(cli, ["runs", "approve", "c1", "--by", "ana", "--reason", "ok"])
    assert approved.exit_code == 0, approved.stderr
    runs = json.loads(runner.invoke(cli, ["runs", "show", "c1", "--json"]).stdout)["runs"]
    first, last = runs[0]["started_at"], runs[-1]["started_at"]
    assert first < last
    (row,) = json.loads(runner.invoke(cli, ["runs", "list", "--json"]).stdout)["runs"]
    assert row["started_at"] == first  # was the latest run's start
    assert row["run_started_at"] == last
    table = runner.invoke(cli, ["runs", "list"], terminal_width=200).stdout
    assert first[:19].replace("T", " ") in table


def test_list_is_one_line_a_run_at_80_columns(runner, cli, env, started):
    """Long agent refs and errors are cut, not wrapped over several lines."""
    table = runner.invoke(cli, ["runs", "list"], terminal_width=80).stdout
    lines = table.splitlines()
    body = lines[next(i for i, x in enumerate(lines) if x.startswith("┡")) + 1 : -1]
    assert len(body) == 1 and "c1" in body[0] and len(body[0]) <= 80, table
