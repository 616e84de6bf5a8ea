"""`agentarts train rail --data` fits the per-slot normal model too, and the joined decision."""

from __future__ import annotations

import hashlib
import tomllib

import pytest


def _digest(folder) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.slow  # generates 24 cars, trains one epoch, fits the slot model (~15 s)
def test_retrain_fits_the_slot_model_and_the_joined_decision(tmp_path):
    pytest.importorskip("torch")
    from agentarts.industries.rail import PACK
    from agentarts.industries.rail.generator import make_train, save_train
    from agentarts.industries.rail.retrain import run
    from agentarts.industries.rail.triage import load_pass, triage
    from agentarts.runtime import LocalRuntime
    from tests.rail.conftest import write_pass

    shipped = PACK.model_repository_dir()
    before = _digest(shipped)
    for seed in (1, 2, 3):  # EMU passes: two vehicle classes, so some slots see 40+ normals
        train = make_train(seed, cars=8, fault_rate=0.15, kind="emu")
        save_train(train, tmp_path / "data" / f"p{seed}")
    out = tmp_path / "models"
    result = run(tmp_path / "data", out, seed=0, epochs=1)
    slot = result["slot_model"]
    assert result["joined_decision"] is True and slot["joined_decision"] is True
    assert 0 < slot["slots_modelled"] < 192  # the rest: rank 0, the classifier's rank decides
    assert set(slot["threshold"]) == {"critical", "major", "minor"}
    assert _digest(shipped) == before  # the shipped models are untouched
    assert not list(out.glob(".slot-stage-*"))  # the staging folder is gone
    names = {p.name for p in out.iterdir()}
    assert names == {
        "rail_fault_classifier",
        "rail_slot_reference",
        "rail_slot_normal",
        "rail_slot_normal_template",
    }
    cls = tomllib.loads((out / "rail_fault_classifier" / "model.toml").read_text())
    card = tomllib.loads((out / "rail_slot_normal" / "model.toml").read_text())
    joined = card["metrics"]["decision"]["joined"]
    assert joined["classifier"] == cls["metrics"]["decision"]["classifier"]
    assert joined["threshold"] == slot["threshold"]
    # the project's runtime lists its own folder first: the retrained pair wins and joins
    with LocalRuntime([out, shipped], include_packs=False) as rt:
        done = triage(load_pass(write_pass(tmp_path / "pass", seed=7, cars=1)), rt)
    assert done.joined
    assert _digest(shipped) == before
