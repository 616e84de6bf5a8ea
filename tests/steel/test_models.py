"""The shipped steel models on campaigns no training, tuning or calibration used."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from agentarts.industries.steel.loop import Thermal
from agentarts.industries.steel.scoring import forecast_scores
from agentarts.industries.steel.train import campaign


@pytest.fixture(scope="module")
def thermal() -> Thermal:
    return Thermal()


def test_forecaster_beats_last_hour_persistence_on_dips(thermal):
    runs = [campaign(seed, "pi") for seed in range(9300, 9306)]
    scores = forecast_scores(runs, thermal.forecast)
    assert scores["dips_scored"] > 150
    assert scores["hmt_mae_c"] < 0.85 * scores["persistence_hmt_mae_c"], scores
    # where HMT really moves, the trend forecast beats always-"stable"
    assert scores["moving_samples"] > 20
    assert scores["trend_hit_rate_moving"] > scores["stable_hit_rate_moving"], scores


def test_what_if_answers_moves_in_the_physical_direction(thermal):
    readings = campaign(9400, "pi")[:36]
    tags = np.array([r.tags() for r in readings], np.float32)
    moves = [{"pci_rate_kg_thm": d} for d in (-10.0, -5.0, 0.0, 5.0, 10.0)]
    forecasts = thermal.what_if(tags, moves)
    assert all(b > a for a, b in pairwise(forecasts)), forecasts
    # 10 kg/tHM of coal is ~15 C of heat at the hearth (1.8 C/kg x 0.85), about half of
    # which arrives within 2 h
    assert 3.0 < forecasts[-1] - forecasts[2] < 15.0, forecasts
    hot, cold = thermal.what_if(tags, [{"blast_temp_c": 30.0}, {"steam_g_nm3": 5.0}])
    assert hot > forecasts[2] > cold
