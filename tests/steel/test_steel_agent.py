"""The steel agent: models served by the runtime, the cycle, gates, playbooks, the demo."""

from __future__ import annotations

import json
import tomllib
from dataclasses import replace
from importlib import resources

import numpy as np
import pytest

from agentarts.industries.steel import agent as steel
from agentarts.industries.steel.loop import Thermal
from agentarts.industries.steel.mpc import MPC
from agentarts.industries.steel.plant import plant
from agentarts.industries.steel.simulator import BlastFurnace, Setpoints


def test_pack_is_installed_with_its_models(runner, cli):
    listed = json.loads(runner.invoke(cli, ["demo", "--list", "--json"]).stdout)
    assert "steel" in [p["name"] for p in listed["packs"]]
    models = resources.files("agentarts.industries.steel") / "models"
    for name in ("bf_thermal", "bf_abnormal"):
        onnx = models / name / "1" / "model.onnx"
        assert onnx.is_file() and len(onnx.read_bytes()) < 3_000_000
        card = tomllib.loads((models / name / "model.toml").read_text())
        assert card["metrics"]["eval_seeds"] == "9000-9009"
    assert 0 < steel.detector_threshold() < 1


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
    assert result.output["diagnosis"]["confirmed"] == "normal"


def test_a_move_waits_for_approval_and_rejection_halves_the_next(live_agent, monkeypatch):
    monkeypatch.setattr(plant.furnace, "theta", -30.0)  # a cold hearth: the agent wants heat
    for _ in range(14):  # two new dips show it
        plant.advance()
    first = live_agent.run({"source": "live"}, thread_id="shift")
    assert first.status == "waiting_approval"
    proposal = first.pending["proposal"]
    heat = first.output["proposal"]["heat_c"]
    assert heat > 0
    moved = {k: v for k, v in proposal.items() if v is not None and k != "reason"}
    assert moved and all(getattr(plant.setpoints, k) != v for k, v in moved.items())
    before = plant.setpoints
    live_agent.reject("shift", reason="tuyere maintenance", by="ana")
    assert plant.setpoints == before  # nothing applied
    plant.steps_since_move = 99
    again = live_agent.run({"source": "live"}, thread_id="shift")
    assert again.status == "waiting_approval"
    assert 0 < again.output["proposal"]["heat_c"] <= heat / 2 + 0.01
    levers = {k: v for k, v in again.pending["proposal"].items() if v is not None}
    levers.pop("reason")
    done = live_agent.approve("shift", by="ana")
    assert done.status == "completed"
    for lever, value in levers.items():  # every lever of the proposal applied together
        assert getattr(plant.setpoints, lever) == pytest.approx(value)
    alerts = live_agent.store.thread("shift")["alerts"]
    outside = first.output["forecast"]["hmt_2h_c"] < 1490 - steel.FORECAST_ALERT_C
    assert any(a["code"] == "HMT_FORECAST_OUT_OF_BAND" for a in alerts) == outside


@pytest.fixture(scope="module")
def window():
    furnace = BlastFurnace(5)
    readings = [furnace.step() for _ in range(36)]
    return np.array([r.tags() for r in readings], np.float32), Thermal()


def test_hanging_playbook_never_adds_fuel(window):
    tags, thermal = window
    plan = MPC().plan(tags, Setpoints(), thermal.what_if, 99, "hanging_slip")
    assert plan is not None and plan.escalate
    assert plan.deltas == {"blast_volume_nm3_min": -350.0}
    for lever in ("pci_rate_kg_thm", "coke_rate_kg_thm"):
        assert plan.deltas.get(lever, 0.0) <= 0


def test_chilled_hearth_playbook_blanks_coke_when_cold_and_holds_coal(window):
    tags, thermal = window
    mild = MPC().plan(tags, Setpoints(), thermal.what_if, 99, "chilled_hearth")
    assert mild is not None and mild.escalate
    assert mild.deltas["blast_temp_c"] > 0 and "pci_rate_kg_thm" not in mild.deltas
    furnace = BlastFurnace(1)  # starved of fuel for 10 h: the hearth chills
    starved = Setpoints(coke_rate_kg_thm=300.0, pci_rate_kg_thm=120.0)
    readings = [furnace.step(starved) for _ in range(10 * 6)]
    cold = np.array([r.tags() for r in readings[-36:]], np.float32)
    plan = MPC().plan(cold, starved, thermal.what_if, 99, "chilled_hearth")
    assert plan is not None and plan.forecast_now_c < 1480
    assert plan.deltas["coke_rate_kg_thm"] == 20.0 and "pci_rate_kg_thm" not in plan.deltas
    assert "coke_rate_kg_thm" not in mild.deltas or mild.forecast_now_c < 1480
    held = MPC().plan(tags, Setpoints(), thermal.what_if, 1, "chilled_hearth")
    assert held is not None and held.deltas == {}  # no proposal that changes nothing


def test_playbook_is_not_held_back_by_thermal_moves(window):
    """Thermal moves every 30 min in an abnormal state must not keep the playbook's first
    move (hot blast up and steam off; the first blast cut) waiting for 90 min without a move."""
    tags, thermal = window
    mpc = MPC()
    chilled = mpc.plan(
        tags, Setpoints(), thermal.what_if, mpc.abnormal_wait_steps, "chilled_hearth"
    )
    assert chilled.deltas["blast_temp_c"] == 50.0 and chilled.deltas["steam_g_nm3"] == -3.0
    cut = mpc.plan(tags, Setpoints(), thermal.what_if, mpc.abnormal_wait_steps, "hanging_slip")
    assert cut.deltas == {"blast_volume_nm3_min": -350.0}
    once = Setpoints(blast_volume_nm3_min=6650.0)  # a second cut waits for the normal wait
    again = mpc.plan(tags, once, thermal.what_if, mpc.abnormal_wait_steps, "hanging_slip")
    assert "blast_volume_nm3_min" not in again.deltas
    later = mpc.plan(tags, once, thermal.what_if, mpc.wait_steps, "hanging_slip")
    assert later.deltas == {"blast_volume_nm3_min": -350.0}


def test_chilled_hearth_keeps_its_hot_blast(window):
    """In a chilled hearth, thermal control may trim coal but not take back the hot blast
    the playbook raised, nor put steam back."""
    _, thermal = window
    furnace = BlastFurnace(2)  # over-fuelled for 8 h: a hot hearth that asks for less heat
    hot_sp = Setpoints(coke_rate_kg_thm=340.0, pci_rate_kg_thm=200.0)
    tags = np.array([furnace.step(hot_sp).tags() for _ in range(8 * 6)][-36:], np.float32)
    raised = replace(hot_sp, blast_temp_c=1250.0, steam_g_nm3=0.0)
    tags[:, 10], tags[:, 13] = 1250.0, 0.0  # the playbook's hot blast and steam in the window
    normal = MPC().plan(tags, raised, thermal.what_if, 99)
    assert normal is not None and normal.deltas.get("blast_temp_c", 0.0) < 0
    plan = MPC().plan(tags, raised, thermal.what_if, 3, "chilled_hearth")
    assert plan.deltas, "a hot hearth: thermal control goes on (less coal)"
    assert plan.deltas.get("blast_temp_c", 0.0) >= 0 and plan.deltas.get("steam_g_nm3", 0.0) <= 0


def test_no_proposal_changes_nothing(window):
    tags, thermal = window
    for since in (0, 99):
        plan = MPC().plan(tags, Setpoints(), thermal.what_if, since)
        assert plan is None or plan.deltas


def test_history_file_drives_the_agent(tmp_path, history):
    a = steel.Agent(steel.builder, name="h", database_url=f"sqlite:///{tmp_path}/h.db")
    result = a.run({"source": str(history)})
    assert result.status in ("completed", "waiting_approval")
    assert len(result.output["window"]["hmt_c"]) == 36
    a.close()


@pytest.mark.slow
def test_demo_json_shape_and_plot(runner, cli, tmp_path):
    plot = tmp_path / "steel.png"
    args = ["demo", "steel", "--hours", "12", "--seed", "3", "--auto-approve", "--json"]
    result = runner.invoke(cli, [*args, "--plot", str(plot)])
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    for side in (summary["agent"], summary["baselines"]["rule"], summary["baselines"]["pi"]):
        assert {"fuel_rate_kg_thm", "cold_dips_pct", "moves_per_day"} <= side.keys()
    assert {
        "hmt_mae_c",
        "persistence_hmt_mae_c",
        "trend_hit_rate_moving",
        "stable_hit_rate_moving",
    } <= summary["forecast"].keys()
    assert {"events", "detected", "median_lead_min", "false_alarms_per_day"} <= summary[
        "abnormal"
    ].keys()
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_refuses_to_ask_without_a_terminal(runner, cli):
    result = runner.invoke(cli, ["demo", "steel", "--hours", "9"])
    assert result.exit_code == 2 and "--auto-approve" in result.stderr
    bad = runner.invoke(cli, ["demo", "steel", "--hours", "9", "--auto-approve", "--plot", "x.jpg"])
    assert bad.exit_code == 2 and ".png" in bad.stderr


@pytest.mark.parametrize("hours", ["0", "-5", "8", "721", "nan"])
def test_demo_states_one_rule_for_bad_hours(runner, cli, hours):
    result = runner.invoke(cli, ["demo", "steel", "--hours", hours, "--auto-approve"])
    assert result.exit_code == 2
    assert "--hours must be more than 8 and at most 720" in result.stderr


def test_demo_refuses_options_it_does_not_take(runner, cli):
    result = runner.invoke(cli, ["demo", "steel", "--trains", "3", "--auto-approve"])
    assert result.exit_code == 2 and "--trains" in result.stderr


@pytest.mark.slow
def test_the_approval_prompt_is_not_drawn_over_by_the_bar(monkeypatch):
    import rich.progress

    from agentarts.industries.steel import demo

    bars: list[rich.progress.Progress] = []

    class Recorded(rich.progress.Progress):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            bars.append(self)

    asked: list[bool] = []

    def decide(pending, auto):
        asked.append(bars[0].live.is_started)  # the bar must be stopped while asking
        return True, "operator", ""

    monkeypatch.setattr(rich.progress, "Progress", Recorded)
    monkeypatch.setattr(demo, "_decide", decide)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    demo.run_demo(seed=3, hours=12, auto_approve=False)
    assert asked and not any(asked)
    assert bars[0].live.is_started is False  # and stopped at the end


def test_missing_figures_print_as_na_with_the_reason(capsys):
    from agentarts.industries.steel.report import fmt, print_summary

    assert fmt(None, " C", "no dip") == "n/a (no dip)" and fmt(4.5, " C") == "4.50 C"
    side = dict.fromkeys(
        (
            "fuel_rate_kg_thm",
            "fuel_priced_kg_thm",
            "fuel_priced_equal_risk_kg_thm",
            "fuel_priced_trims_equal_risk_kg_thm",
            "coke_rate_kg_thm",
            "pci_rate_kg_thm",
            "blast_temp_mean_c",
            "steam_mean_g_nm3",
            "cold_dips_pct",
            "dip_mean_c",
            "dip_std_c",
            "moves_per_day",
            "approvals_per_day",
        )
    )
    summary = {
        "seed": 1,
        "hours": 9,
        "agent": side,
        "baselines": {"rule": side, "pi": side},
        "forecast": {
            "hmt_mae_c": None,
            "persistence_hmt_mae_c": None,
            "trend_hit_rate_moving": None,
            "stable_hit_rate_moving": None,
            "dips_scored": 0,
            "moving_samples": 0,
        },
        "abnormal": {"events": 0, "detected": 0, "median_lead_min": None,
                     "false_alarms_per_day": 0.0},
        "savings_equal_risk": {"vs_pi": {"priced_kg_thm": None, "priced_trims_kg_thm": None},
                               "vs_rule": {"priced_kg_thm": None}},
        "savings_as_run": {"vs_pi": {"priced_kg_thm": None, "agent_cold_dips_no_more": None}},
        "equal_risk_estimator": "q",
        "approvals_requested": 0,
        "rejections": 0,
        "model_latency_910b2_us": None,
        "runtime_s": 1.0,
    }  # fmt: skip
    print_summary(summary)
    out = " ".join(capsys.readouterr().out.split())
    assert "None" not in out
    assert "HMT MAE n/a (no dip 2 h after a forecast in a run this short)" in out
