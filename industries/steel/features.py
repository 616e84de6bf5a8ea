"""Model inputs: the last 6 hours of plant tags as a window, and the 2 h-ahead targets."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from agentarts.industries.steel.simulator import STATES, Reading

__all__ = ["HORIZON", "TREND_C", "TREND_CLASSES", "WINDOW", "trend_class", "windows"]

WINDOW = 36  # 6 h of 10-minute samples
HORIZON = 12  # 2 h ahead
TREND_C = 5.0  # a change of HMT beyond +-5 C in 2 h is heating/cooling
TREND_CLASSES = ("cooling", "stable", "heating")


def trend_class(delta_c: float) -> int:
    return 0 if delta_c < -TREND_C else 2 if delta_c > TREND_C else 1


def windows(readings: Sequence[Reading], held_only: bool = False) -> dict[str, np.ndarray]:
    """Every full window of a campaign with its targets (for training and evaluation).

    With ``held_only``, only windows whose setpoints stay unchanged over the 2 h horizon: the
    forecast answers "where is the furnace heading with the setpoints it has now" (a planned
    move is evaluated by forecasting again once it is made)."""
    tags = np.array([r.tags() for r in readings], np.float32)
    true_hmt = np.array([r.true_hmt_c for r in readings])
    true_si = np.array([r.true_si_pct for r in readings])
    hmt = np.array([r.hmt_c for r in readings])
    si = np.array([r.si_pct for r in readings])
    state = np.array([STATES.index(r.state) for r in readings])
    xs, ys, trend, labels, persist, measured = [], [], [], [], [], []
    setpoints = tags[:, 8:]
    for t in range(WINDOW - 1, len(readings) - HORIZON):
        if held_only and not (setpoints[t + 1 : t + HORIZON + 1] == setpoints[t]).all():
            continue
        xs.append(tags[t - WINDOW + 1 : t + 1])
        ys.append([true_hmt[t + HORIZON], true_si[t + HORIZON]])
        trend.append(trend_class(true_hmt[t + HORIZON] - true_hmt[t]))
        labels.append(state[t])
        persist.append([hmt[t], si[t]])
        measured.append([hmt[t + HORIZON], si[t + HORIZON]])
    return {
        "x": np.array(xs),
        "y": np.array(ys, np.float32),
        "trend": np.array(trend),
        "state": np.array(labels),
        "persistence": np.array(persist),
        "measured": np.array(measured),
    }
