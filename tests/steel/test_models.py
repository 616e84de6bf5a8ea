"""The shipped steel models on campaigns no training, tuning or calibration used."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from agentarts.industries.steel.features import windows
from agentarts.industries.steel.loop import Thermal
from agentarts.industries.steel.train import campaign


@pytest.fixture(scope="module")
def thermal() -> Thermal:
    return Thermal()


def _forecast(thermal: Thermal, x: np.ndarray) -> np.ndarray:
    out = []
    for start in range(0, len(x), 64):
        batch = ((x[start : start + 64] - thermal.mean) / thermal.std).astype(np.float32)
        out.append(thermal.runtime.infer("bf_thermal", {"x": batch})["y"])
    return np.concatenate(out) * thermal.y_std + thermal.y_mean


def test_forecaster_beats_persistence_on_an_operated_furnace(thermal):
    parts = [windows(campaign(seed, "baseline"), held_only=True) for seed in range(9300, 9310)]
    data = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    assert len(data["x"]) > 150
    error = np.abs(_forecast(thermal, data["x"]) - data["measured"]).mean(0)
    persistence = np.abs(data["persistence"] - data["measured"]).mean(0)
    assert error[0] < 0.85 * persistence[0], (error, persistence)  # HMT, C
    assert error[1] < 0.85 * persistence[1], (error, persistence)  # [Si], wt%


def test_more_coal_now_forecasts_a_hotter_hearth(thermal):
    readings = campaign(9400, "baseline")[:36]
    tags = np.array([r.tags() for r in readings], np.float32)
    moves = [-10.0, -5.0, 0.0, 5.0, 10.0]
    forecasts = thermal.candidates(tags, moves)
    assert all(b > a for a, b in pairwise(forecasts)), forecasts
    # 10 kg/tHM of coal is ~15 C of heat at the hearth (simulator: 1.8 C/kg x 0.85), about
    # half of which arrives within 2 h
    assert 3.0 < forecasts[-1] - forecasts[2] < 15.0, forecasts
