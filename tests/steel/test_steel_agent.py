"""The steel agent: models served by the runtime, the cycle, gates, rejections, the demo."""

from __future__ import annotations

import json
import tomllib
from importlib import resources

import pytest

from agentarts.industries.steel import agent as steel
from agentarts.industries.steel.plant import plant
from agentarts.industries.steel.simulator import BlastFurnace


def test_pack_is_installed_with_its_models(runner, cli):
    listed = json.loads(runner.invoke(cli, ["demo", "--list", "--json"]).stdout)
    assert "steel" in [p["name"] for p in listed["packs"]]
    models = resources.files("agentarts.industries.steel") / "models"
    for name in ("bf_thermal", "bf_abnormal"):
        onnx = models / name / "1" / "model.onnx"
        assert onnx.is_file() and len(onnx.read_bytes()) < 3_000_000
        card = tomllib.loads((models / name / "model.toml").read_text())
        assert card["metrics"]["eval_seeds"] == "9000-9007"


@pytest.fixture
def live_agent(tmp_path):
    furnace = BlastFurnace(21)
    plant.connect_simulator(furnace)
    for _ in range(40):
        plant.advance()
    a = steel.Agent(steel.builder, name="t", database_url=f"sqlite:///{tmp_path}/s.db")
    yield a
    a.close()


def test_one_cycle_predicts_and_diagnoses(live_agent):
    result = live_agent.run({"source": "live"})
    assert result.status in ("completed", "waiting_approval")
    assert 1400 < result.output["forecast"]["hmt_2h_c"] < 1600
    assert result.output["forecast"]["trend"] in ("cooling", "stable", "heating")
    assert result.output["diagnosis"]["state"] == "normal"


def test_a_move_waits_for_approval_and_rejection_halves_the_next(live_agent, monkeypatch):
    monkeypatch.setattr(plant.furnace, "theta", -25.0)  # a cold hearth: the agent wants heat
    for _ in range(3):
        plant.advance()
    first = live_agent.run({"source": "live"}, thread_id="shift")
    assert first.status == "waiting_approval"
    delta = first.pending["proposal"]["delta_kg_thm"]
    assert delta > 0
    before = plant.setpoints.pci_rate_kg_thm
    live_agent.reject("shift", reason="tuyere maintenance", by="ana")
    assert plant.setpoints.pci_rate_kg_thm == before  # nothing applied
    plant.steps_since_move = 99
    again = live_agent.run({"source": "live"}, thread_id="shift")
    assert again.status == "waiting_approval"
    assert again.pending["proposal"]["delta_kg_thm"] <= delta / 2 + 0.01
    done = live_agent.approve("shift", by="ana")
    assert plant.setpoints.pci_rate_kg_thm == pytest.approx(
        before + again.pending["proposal"]["delta_kg_thm"]
    )
    assert done.status == "completed"
    alerts = live_agent.store.thread("shift")["alerts"]
    assert any(a["code"] == "HMT_FORECAST_OUT_OF_BAND" for a in alerts)


def test_history_file_drives_the_agent(tmp_path, history):
    a = steel.Agent(steel.builder, name="h", database_url=f"sqlite:///{tmp_path}/h.db")
    result = a.run({"source": str(history)})
    assert result.status in ("completed", "waiting_approval")
    assert len(result.output["window"]["hmt_c"]) == 36
    a.close()


@pytest.mark.slow
def test_demo_json_and_plot(runner, cli, tmp_path):
    plot = tmp_path / "steel.png"
    result = runner.invoke(
        cli,
        [
            "demo",
            "steel",
            "--hours",
            "16",
            "--seed",
            "3",
            "--auto-approve",
            "--json",
            "--plot",
            str(plot),
        ],
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    for key in (
        "trend_hit_rate",
        "hmt_mae_c",
        "si_mae_pct",
        "persistence_hmt_mae_c",
        "approvals_requested",
    ):
        assert key in summary
    for side in ("agent", "baseline"):
        assert {"fuel_rate_kg_thm", "hmt_std_c", "actions"} <= summary[side].keys()
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_refuses_to_ask_without_a_terminal(runner, cli):
    result = runner.invoke(cli, ["demo", "steel", "--hours", "8"])
    assert result.exit_code == 2 and "--auto-approve" in result.stderr
    bad = runner.invoke(cli, ["demo", "steel", "--hours", "8", "--auto-approve", "--plot", "x.jpg"])
    assert bad.exit_code == 2 and ".png" in bad.stderr


@pytest.mark.parametrize(
    ("hours", "fragment"), [("4", "more than 8"), ("1000", "between 0 and 720")]
)
def test_demo_rejects_bad_hours(runner, cli, hours, fragment):
    result = runner.invoke(cli, ["demo", "steel", "--hours", hours, "--auto-approve"])
    assert result.exit_code == 2 and fragment in result.stderr
