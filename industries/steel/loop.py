"""The closed loop without the agent machinery: simulator + a controller, for tuning,
calibration, evaluation and the demo's baseline runs."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agentarts.industries.steel.features import WINDOW
from agentarts.industries.steel.simulator import TAGS, BlastFurnace, Reading, Setpoints

__all__ = ["LoopResult", "Thermal", "changes", "run_loop"]


@dataclass
class LoopResult:
    readings: list[Reading] = field(default_factory=list)
    #: (time_h, {lever: change}) per approved/applied move
    actions: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    #: step -> (HMT forecast 2 h ahead, [Si] forecast, trend) made at that step
    predictions: dict[int, tuple[float, float, str]] = field(default_factory=dict)
    #: step -> diagnosed state (what the detector said at that step)
    diagnoses: dict[int, str] = field(default_factory=dict)
    approvals: int = 0
    rejections: int = 0


def changes(old: Setpoints, new: Setpoints) -> dict[str, float]:
    """The levers that differ between two setpoint sets, with their change."""
    return {
        k: round(getattr(new, k) - getattr(old, k), 3)
        for k in Setpoints.LIMITS
        if abs(getattr(new, k) - getattr(old, k)) > 1e-9
    }


class Thermal:
    """The thermal forecaster as a plain callable over windows of tags (onnxruntime)."""

    def __init__(self, runtime: Any = None) -> None:
        from agentarts.runtime.local import LocalRuntime

        self.runtime = runtime or LocalRuntime(include_packs=True)
        meta = self.runtime.model_metadata("bf_thermal")
        inp = meta["inputs"][0]["parameters"]
        out = next(o for o in meta["outputs"] if o["name"] == "y")["parameters"]
        self.mean = np.asarray(inp["mean"], np.float32)
        self.std = np.asarray(inp["std"], np.float32)
        self.y_mean = np.asarray(out["mean"])
        self.y_std = np.asarray(out["std"])

    def forecast(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(HMT, [Si]) 2 h ahead and trend probabilities for a batch of raw windows."""
        ys, trends = [], []
        for start in range(0, len(x), 64):
            batch = ((x[start : start + 64] - self.mean) / self.std).astype(np.float32)
            out = self.runtime.infer("bf_thermal", {"x": batch})
            ys.append(out["y"] * self.y_std + self.y_mean)
            trends.append(out["trend"])
        return np.concatenate(ys), np.concatenate(trends)

    def classify(self, x: np.ndarray) -> np.ndarray:
        """State probabilities (bf_abnormal) for a batch of raw windows."""
        if not hasattr(self, "_state_norm"):
            meta = self.runtime.model_metadata("bf_abnormal")["inputs"][0]["parameters"]
            self._state_norm = (
                np.asarray(meta["mean"], np.float32),
                np.asarray(meta["std"], np.float32),
            )
        mean, std = self._state_norm
        parts = [
            self.runtime.infer(
                "bf_abnormal", {"x": ((x[i : i + 64] - mean) / std).astype(np.float32)}
            )["state"]
            for i in range(0, len(x), 64)
        ]
        return np.concatenate(parts)

    def what_if(self, tags: np.ndarray, moves: Sequence[dict[str, float]]) -> np.ndarray:
        """HMT in 2 h if each move in ``moves`` ({lever: change}) were made now (one batch)."""
        batch = np.repeat(np.asarray(tags, np.float32)[np.newaxis], len(moves), axis=0)
        for i, move in enumerate(moves):
            for lever, delta in move.items():
                batch[i, -1, TAGS.index(lever)] += delta
        return self.forecast(batch)[0][:, 0]


def run_loop(
    seed: int,
    hours: float,
    controller: Callable[[Reading, Setpoints, list[Reading]], Setpoints],
    progress: Callable[[int], None] | None = None,
    furnace: BlastFurnace | None = None,
) -> LoopResult:
    """Run ``hours`` of furnace under ``controller(reading, setpoints, window) -> setpoints``."""
    furnace = furnace or BlastFurnace(seed)
    sp = furnace.setpoints
    out = LoopResult()
    window: deque[Reading] = deque(maxlen=WINDOW)
    for step in range(int(hours * 6)):
        reading = furnace.step(sp)
        out.readings.append(reading)
        window.append(reading)
        new = controller(reading, sp, list(window)) if len(window) == WINDOW else sp
        moved = changes(sp, new)
        if moved:
            out.actions.append((reading.time_h, moved))
        sp = new
        if progress is not None:
            progress(step)
    return out
