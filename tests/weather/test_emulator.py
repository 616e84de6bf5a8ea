"""The shipped emulator: card, stability in rollout, runtime path, input checks, skill."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from agentarts.errors import InvalidInputError
from agentarts.industries.weather.emulator import OnnxStepper, RuntimeStepper, check_state

MODELS = Path(__import__("agentarts.industries.weather", fromlist=["x"]).__file__).parent / "models"
ONNX = MODELS / "qg_emulator" / "1" / "model.onnx"


def test_card_holds_skill_per_lead_for_every_method():
    card = tomllib.loads((MODELS / "qg_emulator" / "model.toml").read_text())
    m = card["metrics"]
    assert m["leads_days"] == [1, 2, 3, 5] and m["cases"] >= 25
    for method in ("emulator", "persistence", "climatology", "numerical"):
        assert len(m[f"rmse_{method}"]) == 4 and len(m[f"rmse_t850_{method}"]) == 4
    assert len(m["acc_emulator"]) == 4


def test_rollout_is_stable_for_sixty_days(equilibrated):
    """No blow-up over 60 daily steps (an iterated CNN in WeatherBench drifted); the
    amplitude relaxes towards climatology (an MSE-trained emulator smooths what it cannot
    predict) but holds over the 5-day range it is used for."""
    frames = OnnxStepper(ONNX).rollout(equilibrated, 60)
    assert np.isfinite(frames).all()
    ratio = frames[1:, 0].std(axis=(1, 2)) / equilibrated[0].std()
    assert ratio.max() < 1.5
    assert ratio[4] > 0.6  # day 5


def test_runtime_path_matches_onnxruntime(equilibrated):
    from agentarts.runtime.local import LocalRuntime

    with LocalRuntime(include_packs=True) as runtime:
        via_runtime = RuntimeStepper(runtime).rollout(equilibrated, 2)
    direct = OnnxStepper(ONNX).rollout(equilibrated, 2)
    assert np.allclose(via_runtime, direct, rtol=1e-5, atol=1e-2 * np.abs(direct).max())


def test_bad_states_are_refused(equilibrated):
    bad = equilibrated.copy()
    bad[0, 3, 3] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        check_state(bad)
    with pytest.raises(InvalidInputError, match=r"expected shape \(2, 32, 32\)"):
        check_state(np.zeros((2, 64, 64)))
    with pytest.raises(InvalidInputError, match="wrong units"):
        check_state(equilibrated * 1e3)


@pytest.mark.slow
def test_beats_persistence_and_climatology_on_a_fresh_seed():
    """A seed never used in training: the truth model's own 5-day run (about 20 s)."""
    from agentarts.industries.weather.data import Case, ModelPair
    from agentarts.industries.weather.verify import score_cases

    pair = ModelPair()
    case = Case.generate(pair, 777_001, 5)
    scores = score_cases(pair, [case], OnnxStepper(ONNX).rollout, 1, 1, leads=(1, 3))
    emu = scores.mean("rmse", "emulator", "z500")
    pers = scores.mean("rmse", "persistence", "z500")
    clim = scores.mean("rmse", "climatology", "z500")
    assert emu[0] < pers[0] and emu[1] < clim[1]
