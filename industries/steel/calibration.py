"""Tuning and calibration on seeds no evaluation uses (500-511).

    python -m agentarts.industries.steel.calibration tune       # PI gains (grid search)
    python -m agentarts.industries.steel.calibration calibrate  # aims at equal risk
    python -m agentarts.industries.steel.calibration agent      # the agent's aim and margin

Risk is counted on the readings a plant has: the dips. The rule's and the PI's aims are set so
that the 2.5th percentile of their dips after the 6 h warm-up, pooled over the calibration seeds
(about 450 dips), sits at 1,490 C: 2.5 % of their dips are cold. The agent's aim is chosen for
*fewer* cold dips than the PI's (``tune_agent``), on more calibration campaigns (500-547): with
12 campaigns the rare chilled hearths decide the cold tail, and a five-campaign evaluation can
flip on one dip.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from agentarts.industries.steel.control import BaselineRule, PIController
from agentarts.industries.steel.loop import run_loop
from agentarts.industries.steel.simulator import Reading, Setpoints

__all__ = ["CALIBRATION_SEEDS", "calibrate", "dip_stats", "tune_pi"]

CALIBRATION_SEEDS = range(500, 512)
AGENT_SEEDS = range(500, 548)  # the agent's aim and move margin (never used for evaluation)
#: The agent's grid: aim (C), move margin (C^2), aim offset in abnormal states (C).
AGENT_GRID = tuple(
    itertools.product((1503.0, 1504.0, 1505.0, 1506.0), (12.0, 20.0), (0.0, 5.0, 10.0))
)
COLD_SHARE_MAX = 0.27  # the agent's cold dips at most about a quarter of the PI's
MOVES_SHARE_MAX = 0.8  # and at most 80 % of its moves
WARMUP_H = 6.0
Z_RISK = 1.96  # 2.5 % one-sided


def dips_of(readings: list[Reading]) -> np.ndarray:
    return np.array([r.hmt_c for r in readings if r.dip and r.time_h > WARMUP_H])


def dip_stats(readings: list[Reading]) -> tuple[float, float]:
    """Mean and standard deviation of the dips after the warm-up."""
    dips = dips_of(readings)
    return float(dips.mean()), float(dips.std())


Factory = Callable[[float], Callable[[Reading, Setpoints, list[Reading]], Setpoints]]


def _wrap(make: Callable[[float], Any]) -> Factory:
    def factory(aim: float) -> Callable[[Reading, Setpoints, list[Reading]], Setpoints]:
        controller = make(aim)
        return lambda r, sp, w: controller(r, sp)

    return factory


def pooled(factory: Factory, aim: float = 1500.0, hours: float = 72.0) -> tuple[float, float]:
    """Mean and RMS spread of the dips over the calibration seeds, at ``aim``."""
    stats = [dip_stats(run_loop(s, hours, factory(aim)).readings) for s in CALIBRATION_SEEDS]
    means, stds = np.array(stats).T
    return float(means.mean()), float(np.sqrt((stds**2).mean()))


def tune_pi() -> dict[str, Any]:
    """Grid search of the PI gains and filter on the calibration seeds: least dip spread."""
    grid = itertools.product((0.0, 0.2, 0.4, 0.7), (0.1, 0.2, 0.3, 0.45, 0.6), (0.4, 0.7, 1.0))
    tried = []
    for kp, ki, alpha in grid:
        factory = _wrap(lambda aim, kp=kp, ki=ki, a=alpha: PIController(aim, kp, ki, a))
        _, spread = pooled(factory)
        tried.append({"kp": kp, "ki": ki, "alpha": alpha, "dip_std_c": round(spread, 3)})
    best = min(tried, key=lambda t: t["dip_std_c"])
    return {"best": best, "tried": len(tried), "seeds": "500-511"}


def aim_for(factory: Factory, rounds: int = 2) -> dict[str, float]:
    """The aim that puts the 2.5th percentile of the pooled dips at 1,490 C (2.5 % of the dips
    cold). A change of aim does not simply shift the dips (a hotter aim needs more coal and
    meets the flame-temperature ceiling sooner), so the aim is corrected ``rounds`` times, each
    from a run at the previous aim."""
    aim, history = 1500.0, []
    for _ in range(rounds):
        runs = [run_loop(s, 72.0, factory(aim)).readings for s in CALIBRATION_SEEDS]
        dips = np.concatenate([dips_of(r) for r in runs])
        p025 = float(np.percentile(dips, 2.5))
        history.append({"aim": round(aim, 1), "dip_p2_5_c": round(p025, 2)})
        aim = round(aim + 1490.0 - p025, 1)
    spread = float(np.sqrt(np.mean([dips_of(r).std() ** 2 for r in runs])))
    return {"aim": aim, "dip_std_c": round(spread, 2), "dips": len(dips), "rounds": history}


def calibrate() -> dict[str, Any]:
    """Aims for the rule and the PI at the same risk on the readings; paste into control.AIMS.
    (The agent's aim: ``tune_agent``, for fewer cold dips than the PI's.)"""
    return {
        "rule": aim_for(_wrap(lambda aim: BaselineRule(aim_c=aim))),
        "pi": aim_for(_wrap(lambda aim: PIController(aim_c=aim))),
    }


def _side(runs: list[Any]) -> dict[str, float]:
    from agentarts.industries.steel.scoring import summarise

    sums = [summarise(r.readings, len(r.actions)) for r in runs]
    dips = np.concatenate([dips_of(r.readings) for r in runs])

    def mean(key: str) -> float:
        return float(np.mean([s[key] for s in sums]))

    return {
        "cold_dips_pct": round(100 * float((dips < 1490.0).mean()), 2),
        "moves_per_day": round(mean("moves_per_day"), 2),
        "fuel_priced_kg_thm": mean("fuel_priced_kg_thm"),
        "fuel_priced_equal_risk_kg_thm": mean("fuel_priced_equal_risk_kg_thm"),
        "fuel_priced_trims_equal_risk_kg_thm": mean("fuel_priced_trims_equal_risk_kg_thm"),
    }


def tune_agent(grid: tuple[tuple[float, float, float], ...] = AGENT_GRID) -> dict[str, Any]:
    """The agent's aim, move margin and abnormal-state aim offset on ``AGENT_SEEDS``: of the
    settings whose pooled cold dips are at most ``COLD_SHARE_MAX`` of the PI's and moves per day
    at most ``MOVES_SHARE_MAX`` of the PI's, the one saving the most priced fuel as run."""
    from agentarts.industries.steel.mpc import mpc_controller

    pi = _side(
        [run_loop(s, 72.0, lambda r, sp, w, c=PIController(): c(r, sp)) for s in AGENT_SEEDS]
    )
    tried = []
    for aim, gain, offset in grid:
        agent = _side(
            [
                run_loop(s, 72.0, mpc_controller(aim, min_gain=gain, abnormal_aim_offset_c=offset))
                for s in AGENT_SEEDS
            ]
        )
        saved = {
            k: round(pi[k] - agent[k], 2)
            for k in (
                "fuel_priced_kg_thm",
                "fuel_priced_equal_risk_kg_thm",
                "fuel_priced_trims_equal_risk_kg_thm",
            )
        }
        ok = (
            agent["cold_dips_pct"] <= COLD_SHARE_MAX * pi["cold_dips_pct"]
            and agent["moves_per_day"] <= MOVES_SHARE_MAX * pi["moves_per_day"]
        )
        tried.append(
            {
                "aim": aim,
                "min_gain": gain,
                "abnormal_aim_offset_c": offset,
                "cold_dips_pct": agent["cold_dips_pct"],
                "moves_per_day": agent["moves_per_day"],
                "saved_vs_pi": saved,
                "eligible": ok,
            }
        )
    eligible = [t for t in tried if t["eligible"]]
    best = max(eligible, key=lambda t: t["saved_vs_pi"]["fuel_priced_kg_thm"], default=None)
    return {
        "best": best,
        "pi": {k: pi[k] for k in ("cold_dips_pct", "moves_per_day")},
        "tried": tried,
        "seeds": f"{AGENT_SEEDS.start}-{AGENT_SEEDS.stop - 1}",
    }


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    if args[:1] == ["tune"]:
        print(json.dumps(tune_pi(), indent=2))
    elif args[:1] == ["calibrate"]:
        print(json.dumps(calibrate(), indent=2))
    elif args[:1] == ["agent"]:
        print(json.dumps(tune_agent(), indent=2))
    else:
        print(__doc__)


if __name__ == "__main__":
    main()
