"""WeatherBench-style verification (Rasp et al. 2020, "WeatherBench: a benchmark data set for
data-driven weather forecasting", JAMES 12): RMSE and anomaly correlation (ACC) of the 500 hPa
geopotential (Z500, m2/s2) and 850 hPa temperature (T850, K) stand-ins per lead time, for the
emulator, persistence, climatology and the numerical model at operational resolution, all
scored against the coarsened truth on the forecast grid.

Our grid is a uniform-area plane, so no latitude weighting is needed. Climatology is the
model's long-term mean, which for a statistically homogeneous doubly periodic flow is the zero
anomaly at every point; ACC uses anomalies from it (WeatherBench's definition, centred on
climatology, not on the field mean). ACC 0.6 is the usual useful-skill line.

For reference, WeatherBench on ERA5 at 5.625 deg: Z500 RMSE at 3 / 5 days, persistence 936 /
1033 m2/s2, climatology 1075, operational IFS 153 / 334; T850 persistence 4.29 / 4.56 K, IFS
1.36 / 2.03 K; an iterated CNN there did worse than persistence (hence the rollout test).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from agentarts.industries.weather.data import Case, ModelPair
from agentarts.industries.weather.fields import t850_anomaly, z500_anomaly

__all__ = ["LEADS", "Scores", "acc", "rmse", "score_cases"]

LEADS = (1, 2, 3, 5)
METHODS = ("emulator", "persistence", "climatology", "numerical")


def rmse(forecast: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((forecast - truth) ** 2)))


def acc(forecast: np.ndarray, truth: np.ndarray, climatology: float = 0.0) -> float:
    """Anomaly correlation coefficient; NaN for a constant (e.g. climatology) forecast."""
    f, t = forecast - climatology, truth - climatology
    den = float(np.sqrt((f**2).sum() * (t**2).sum()))
    return float((f * t).sum() / den) if den > 0 else float("nan")


@dataclass
class Scores:
    """Per method, variable and lead: the list of case scores (mean taken on report)."""

    leads: tuple[int, ...] = LEADS
    rmse: dict[str, dict[str, dict[int, list[float]]]] = field(default_factory=dict)
    acc: dict[str, dict[str, dict[int, list[float]]]] = field(default_factory=dict)
    seconds: dict[str, list[float]] = field(default_factory=dict)

    def add(self, method: str, var: str, lead: int, f: np.ndarray, t: np.ndarray) -> None:
        for table, value in ((self.rmse, rmse(f, t)), (self.acc, acc(f, t))):
            table.setdefault(method, {}).setdefault(var, {}).setdefault(lead, []).append(value)

    def mean(self, table: str, method: str, var: str, digits: int = 3) -> list[float]:
        data = getattr(self, table)[method][var]
        return [round(float(np.mean(data[lead])), digits) for lead in self.leads]

    @property
    def cases(self) -> int:
        return len(self.rmse["persistence"]["z500"][self.leads[0]])


def score_cases(
    pair: ModelPair,
    cases: Sequence[Case],
    emulate: Callable[[np.ndarray, int], np.ndarray],
    inits_per_case: int,
    spacing_days: int,
    leads: Sequence[int] = LEADS,
) -> Scores:
    """Score forecasts from ``inits_per_case`` initial states ``spacing_days`` apart in each
    case (daily frames). ``emulate(psi0, days)`` returns frames (days + 1, 2, 32, 32). Wall
    times of each 5-day forecast go to ``scores.seconds``."""
    scores = Scores(leads=tuple(leads))
    horizon = max(leads)
    for case in cases:
        if case.every_days != 1.0:
            raise ValueError("score_cases needs daily frames")
        for i in range(inits_per_case):
            start = i * spacing_days
            truth = case.frames[start : start + horizon + 1].astype(np.float64)
            if len(truth) < horizon + 1:
                raise ValueError(f"case {case.seed} is too short for {inits_per_case} starts")
            t0 = time.perf_counter()
            emu = np.asarray(emulate(truth[0].astype(np.float32), horizon), np.float64)
            t1 = time.perf_counter()
            num = pair.numerical_forecast(truth[0], horizon)
            t2 = time.perf_counter()
            scores.seconds.setdefault("emulator", []).append(t1 - t0)
            scores.seconds.setdefault("numerical", []).append(t2 - t1)
            scores.seconds.setdefault("truth", []).append(case.truth_seconds_per_day * horizon)
            for lead in leads:
                target = truth[lead]
                forecasts = {
                    "emulator": emu[lead],
                    "persistence": truth[0],
                    "climatology": np.zeros_like(target),
                    "numerical": num[lead],
                }
                for method, f in forecasts.items():
                    scores.add(method, "z500", lead, z500_anomaly(f), z500_anomaly(target))
                    scores.add(method, "t850", lead, t850_anomaly(f), t850_anomaly(target))
    return scores


def summary(scores: Scores) -> dict[str, object]:
    """The figures the demo, the bench and the card report (means over all cases)."""
    out: dict[str, object] = {"leads_days": list(scores.leads), "cases": scores.cases}
    for method in METHODS:
        out[f"rmse_{method}"] = scores.mean("rmse", method, "z500", 1)
        out[f"rmse_t850_{method}"] = scores.mean("rmse", method, "t850", 3)
    for method in ("emulator", "persistence", "numerical"):
        out[f"acc_{method}"] = scores.mean("acc", method, "z500", 3)
        out[f"acc_t850_{method}"] = scores.mean("acc", method, "t850", 3)
    sec = {k: float(np.median(v)) for k, v in scores.seconds.items()}
    out["seconds_5day"] = {k: round(v, 4) for k, v in sec.items()}
    out["speedup_vs_truth"] = round(sec["truth"] / sec["emulator"], 1)
    out["speedup_vs_numerical"] = round(sec["numerical"] / sec["emulator"], 1)
    return out
