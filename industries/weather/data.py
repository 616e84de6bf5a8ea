"""The model pair and the data they make: the truth (128 x 128, coarsened onto the 32 x 32
forecast grid it plays the reanalysis, as ERA5 does for Pangu-Weather) and the operational
numerical model (the same equations run at 32 x 32 from the coarsened analysis).

Grids: truth 125 km, forecast grid 500 km (about WeatherBench's 5.625 deg). The state on the
forecast grid is the pair of layer streamfunctions psi (2, 32, 32) in m2/s; ``fields`` maps it
to Z500, T850, winds and rain.

Seeds: every trajectory starts from ``QGModel.random_state(seed)`` spun up for ``SPINUP_DAYS``
(120 days at 32 x 32, 30 at 64 x 64, then 5 at 128 x 128: each stage adjusts the scales the
previous one lacked, several drag times), so a seed is a fresh initial state on the model's
attractor. Training uses seeds 100-199; validation 500-509; the shipped card's skill
was measured on seeds 9000+; ``python -m bench weather`` draws others.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from agentarts.industries.weather.qg import QGModel, QGParams, coarsen, interpolate

__all__ = [
    "FORECAST_N",
    "OPERATIONAL_N",
    "SPINUP_DAYS",
    "TRUTH_N",
    "Case",
    "ModelPair",
    "spin_up",
]

TRUTH_N = 128
FORECAST_N = 32
OPERATIONAL_N = 32
SPINUP_DAYS = (120, 30, 5)  # days at 32, 64 and 128 points


class ModelPair:
    """The truth and operational models (one instance each, reused)."""

    def __init__(self, params: QGParams | None = None) -> None:
        base = params or QGParams()
        self.truth = QGModel(base.at(TRUTH_N))
        self.operational = QGModel(base.at(OPERATIONAL_N))
        self.spinup = (QGModel(base.at(32)), QGModel(base.at(64)))
        self.factor = TRUTH_N // FORECAST_N

    def analysis(self, qh_truth: np.ndarray) -> np.ndarray:
        """The truth state coarsened onto the forecast grid: psi (2, 32, 32)."""
        return coarsen(self.truth.psi(qh_truth), self.factor)

    def numerical_forecast(self, psi0: np.ndarray, days: int) -> np.ndarray:
        """The operational model from an analysis: psi on the forecast grid at days 0..days."""
        model = self.operational
        start = interpolate(psi0, model.params.n)
        frames = model.trajectory(model.state_from_psi(start), days)
        if model.params.n != FORECAST_N:
            frames = coarsen(frames, model.params.n // FORECAST_N)
        return frames


def spin_up(pair: ModelPair, seed: int) -> np.ndarray:
    """A truth state (spectral PV at 128 x 128) on the attractor, fresh for each seed."""
    coarse, middle = pair.spinup
    qh = coarse.run(coarse.random_state(seed), SPINUP_DAYS[0])
    psi = interpolate(coarse.psi(qh), middle.params.n)
    qh = middle.run(middle.state_from_psi(psi), SPINUP_DAYS[1])
    psi = interpolate(middle.psi(qh), TRUTH_N)
    return pair.truth.run(pair.truth.state_from_psi(psi), SPINUP_DAYS[2])


@dataclass
class Case:
    """Forecast cases from one seed: the coarsened truth every ``every_days`` over the run."""

    seed: int
    frames: np.ndarray  # (T, 2, 32, 32) psi on the forecast grid
    every_days: float
    truth_seconds_per_day: float
    final_state: np.ndarray  # spectral PV at 128 x 128

    @classmethod
    def generate(cls, pair: ModelPair, seed: int, days: float, every_days: float = 1.0) -> Case:
        qh = spin_up(pair, seed)
        frames = [pair.analysis(qh)]
        truth = pair.truth
        truth.reset()
        started = time.perf_counter()
        for _ in range(round(days / every_days)):
            qh = truth.run(qh, every_days, fresh=False)
            frames.append(pair.analysis(qh))
        per_day = (time.perf_counter() - started) / days
        return cls(seed, np.stack(frames).astype(np.float32), every_days, per_day, qh)
