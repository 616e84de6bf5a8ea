"""`agentarts demo rail` and `agentarts train rail`."""

from __future__ import annotations

import json
import sys

import pytest

from agentarts.errors import UsageError

KEYS = {
    "fault_types",
    "recall",
    "critical_recall",
    "false_alarms_per_train",
    "images_per_s",
    "minutes_per_train",
    "manual_minutes_per_train",
    "unseen_fault_recall",
    "work_orders",
    "work_orders_on_faults",
    "false_alarms_rejected",
    "auto_confirm",
    "sensitivity",
}


def test_pack_is_listed(runner, cli):
    listed = json.loads(runner.invoke(cli, ["demo", "--list", "--json"]).stdout)
    assert "rail" in [p["name"] for p in listed["packs"]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hours", "3", "--auto-confirm"], "does not take --hours"),
        (["--trains", "0", "--auto-confirm"], "--trains must be between 1 and 50"),
        (["--seed", "100000", "--auto-confirm"], "--seed must be between"),
        (["--plot", "x.pdf", "--auto-confirm"], "--plot must name a .png file"),
        (["--sensitivity", "-0.5", "--auto-confirm"], "--sensitivity must be from 0 to 2"),
        (["--sensitivity", "2.5", "--auto-confirm"], "--sensitivity must be from 0 to 2"),
        ([], "pass --auto-confirm"),
    ],
)
def test_bad_options_are_refused(runner, cli, args, message):
    result = runner.invoke(cli, ["demo", "rail", *args])
    assert result.exit_code == 2
    assert message in result.stderr


@pytest.mark.slow
def test_demo_json_and_plot(runner, cli, tmp_path, monkeypatch):
    from agentarts.industries.rail import demo

    monkeypatch.setattr(demo, "FAULT_RATE", 0.01)
    plot = tmp_path / "shift.png"
    result = runner.invoke(
        cli,
        [
            "demo",
            "rail",
            "--trains",
            "1",
            "--seed",
            "3",
            "--auto-confirm",
            "--json",
            "--plot",
            str(plot),
        ],
    )
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out) >= KEYS
    assert out["fault_types"] >= 350 and out["trains"] == 1
    assert out["faults"] > 0 and 0 <= out["recall"] <= 1
    assert out["manual_minutes_per_train"] > out["minutes_per_train"] > 0
    # auto-confirm answers from the truth: a work order per real fault found, the rest rejected
    assert out["work_orders"] == out["work_orders_on_faults"]
    assert abs(out["work_orders"] - out["faults"] * out["recall"]) < 0.5
    assert out["false_alarms_rejected"] == round(out["false_alarms_per_train"])
    assert plot.stat().st_size > 20_000


def test_train_without_torch_is_a_hint(monkeypatch, tmp_path):
    from agentarts.industries.rail.train import train_command

    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    with pytest.raises(UsageError, match=r"pip install 'agentarts\[train\]'") as err:
        train_command(out=tmp_path / "m")
    assert err.value.exit_code == 2


@pytest.mark.slow  # imports torch
def test_train_never_writes_over_the_shipped_models():
    pytest.importorskip("torch")
    from agentarts.industries.rail.train import MODELS, train_command

    with pytest.raises(UsageError, match="shipped model folder"):
        train_command(out=MODELS / "rail_fault_classifier")


def test_train_refuses_data_without_enough_labels(tmp_path):
    pytest.importorskip("torch")
    from agentarts.industries.rail.train import train_command
    from tests.rail.conftest import write_pass

    write_pass(tmp_path / "data" / "p1", cars=1, fault_rate=0.0)
    with pytest.raises(UsageError, match="at least 10 faults"):
        train_command(data=tmp_path / "data", out=tmp_path / "out")


@pytest.mark.slow
def test_retrain_on_own_passes_writes_only_to_out(tmp_path):
    pytest.importorskip("torch")
    from agentarts.industries.rail import PACK
    from agentarts.industries.rail.retrain import run
    from agentarts.industries.rail.triage import load_pass, triage
    from agentarts.runtime import LocalRuntime
    from tests.rail.conftest import write_pass

    for seed in (1, 2):
        write_pass(tmp_path / "data" / f"p{seed}", seed=seed, cars=3, fault_rate=0.15)
    out = tmp_path / "models"
    result = run(tmp_path / "data", out, seed=0, epochs=1)
    assert result["out"] == str(out)
    # too few normal crops per slot for the slot model: the classifier alone, said so
    assert result["joined_decision"] is False
    assert "normal training crops" in result["slot_model"]["reason"]
    with LocalRuntime([out], include_packs=False) as rt:
        names = {m["name"] for m in rt.list_models()}
        assert names == {"rail_fault_classifier", "rail_slot_reference"}
        meta = rt.model_metadata("rail_fault_classifier")
        assert "decision" in meta["parameters"]["metrics"]
    # the shipped slot model is served behind the project's classifier but does not match it
    with LocalRuntime([out, PACK.model_repository_dir()], include_packs=False) as rt:
        done = triage(load_pass(write_pass(tmp_path / "pass", seed=7, cars=1)), rt)
    assert not done.joined


def test_people_s_decisions_are_training_data(tmp_path):
    import numpy as np
    from PIL import Image

    from agentarts.industries.rail.retrain import collect

    folder = tmp_path / "labels"
    folder.mkdir()
    lines = []
    base = {"vehicle_class": "C70", "component": "brake_shoe"}
    for i, fault in enumerate(("missing", "normal", "teapot")):
        Image.fromarray(np.full((64, 64), 40 * i, np.uint8)).save(folder / f"c{i}.png")
        lines.append(json.dumps({**base, "crop": f"c{i}.png", "fault": fault}))
    lines.append(json.dumps({**base, "crop": "gone.png", "fault": "worn"}))
    lines.append(json.dumps({**base, "crop": "c0.png", "fault": "worn", "vehicle_class": "Z9"}))
    (folder / "labels.jsonl").write_text("\n".join(lines) + "\n")
    found = collect(tmp_path)
    assert list(found["fault"]) == ["missing", "normal"]
    assert found["xp"].shape == (2, 76, 76)  # 64 x 64 crops get a reflected margin
    from agentarts.industries.rail.generator import SLOTS

    assert [SLOTS[s] for s in found["slot"]] == ["C70/brake_shoe"] * 2
    problems = list(found["problems"])
    assert len(problems) == 3 and "labels.jsonl:3" in problems[0] and "gone.png" in problems[1]
    assert "labels.jsonl:5" in problems[2] and "vehicle class" in problems[2]


@pytest.mark.slow  # the demo loads all four models first (~18 s, most of it the cost model)
def test_a_failed_run_is_one_error_line(runner, cli, monkeypatch):
    from agentarts.industries.rail import generator

    def broken(*args, **kwargs):
        raise OSError("camera station offline")

    monkeypatch.setattr(generator, "make_train", broken)
    result = runner.invoke(cli, ["demo", "rail", "--trains", "1", "--auto-confirm", "--json"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: train 700: run failed")
    assert "camera station offline" in lines[0] and "Traceback" not in result.stderr


def test_auto_confirm_confirms_real_faults_and_rejects_false_alarms(monkeypatch):
    from agentarts.industries.rail import demo

    monkeypatch.setattr(demo, "FAULT_RATE", 0.05)
    s = demo.shift(seed=3, trains=1, cars=3)
    (p,) = s["_trains"]
    sc = s["_scores"][0]
    real = int((sc["flags"] & sc["is_fault"]).sum())
    false = int((sc["flags"] & ~sc["is_fault"]).sum())
    assert real > 0 and false > 0  # both kinds of gate were met
    assert s["work_orders"] == s["work_orders_on_faults"] == real == len(p["work_orders"])
    assert s["false_alarms_rejected"] == false and s["reinspections"] == 0
    rejected = [d for d in p["decisions"] if d["decision"] == "reject"]
    assert all(d["reason"] == demo.NORMAL_REASON and d["true_fault"] is None for d in rejected)
    assert "Work orders raised: " + str(real) in p["report"]["text"]


def test_the_printed_report_keeps_its_brackets(monkeypatch, capsys):
    from agentarts.industries.rail import demo

    monkeypatch.setattr(demo, "FAULT_RATE", 0.05)
    s = demo.shift(seed=3, trains=1, cars=2)
    demo._print(s, None)
    out = capsys.readouterr().out
    assert "[critical]" in out or "[major]" in out or "[minor]" in out  # not eaten as markup
    assert "x its threshold" in out
