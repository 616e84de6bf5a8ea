"""The closed loop without the agent machinery: simulator + a controller, for calibration,
evaluation and the demo's baseline run."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agentarts.industries.steel.features import WINDOW
from agentarts.industries.steel.simulator import BlastFurnace, Reading, Setpoints

__all__ = ["LoopResult", "Thermal", "run_loop", "summarise"]


@dataclass
class LoopResult:
    readings: list[Reading] = field(default_factory=list)
    actions: list[tuple[float, float]] = field(default_factory=list)  # (time_h, dPCI)
    predictions: list[tuple[float, float, float]] = field(default_factory=list)


class Thermal:
    """The thermal forecaster as a plain callable over a window of readings (onnxruntime)."""

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

    def candidates(self, tags: np.ndarray, moves: Sequence[float]) -> list[float]:
        """HMT in 2 h if PCI moved now by each of ``moves`` (one batched inference)."""
        from agentarts.industries.steel.simulator import TAGS

        column = TAGS.index("pci_rate_kg_thm")
        batch = np.repeat(np.asarray(tags, np.float32)[np.newaxis], len(moves), axis=0)
        batch[:, -1, column] += np.asarray(moves, np.float32)
        x = ((batch - self.mean) / self.std).astype(np.float32)
        result = self.runtime.infer("bf_thermal", {"x": x})
        return (result["y"][:, 0] * self.y_std[0] + self.y_mean[0]).tolist()

    def __call__(self, window: list[Reading]) -> tuple[float, float, np.ndarray, float]:
        x = (np.array([r.tags() for r in window], np.float32) - self.mean) / self.std
        result = self.runtime.infer("bf_thermal", {"x": x[np.newaxis].astype(np.float32)})
        y = result["y"][0] * self.y_std + self.y_mean
        return float(y[0]), float(y[1]), result["trend"][0], result.device_time_us


def run_loop(
    seed: int,
    hours: float,
    controller: Callable[..., Setpoints],
    progress: Callable[[int], None] | None = None,
) -> LoopResult:
    """Run ``hours`` of furnace under ``controller(reading, setpoints, window) -> setpoints``."""
    furnace = BlastFurnace(seed)
    sp = furnace.setpoints
    out = LoopResult()
    window: deque[Reading] = deque(maxlen=WINDOW)
    for step in range(int(hours * 6)):
        reading = furnace.step(sp)
        out.readings.append(reading)
        window.append(reading)
        new = controller(reading, sp, list(window)) if len(window) == WINDOW else sp
        if new.pci_rate_kg_thm != sp.pci_rate_kg_thm:
            out.actions.append((reading.time_h, new.pci_rate_kg_thm - sp.pci_rate_kg_thm))
        sp = new
        if progress is not None:
            progress(step)
    return out


def summarise(result: LoopResult, warmup_h: float = 6.0) -> dict[str, float]:
    rs = [r for r in result.readings if r.time_h > warmup_h]
    hmt = np.array([r.hmt_c for r in rs])
    true_hmt = np.array([r.true_hmt_c for r in rs])
    return {
        "fuel_rate_kg_thm": round(
            float(np.mean([r.coke_rate_kg_thm + r.pci_rate_kg_thm for r in rs])), 2
        ),
        "hmt_mean_c": round(float(hmt.mean()), 2),
        "hmt_std_c": round(float(hmt.std()), 2),
        "hmt_below_band_pct": round(float((hmt < 1490).mean() * 100), 2),
        # the metal itself, without the dip measurement's noise (what the risk is about)
        "true_hmt_mean_c": round(float(true_hmt.mean()), 2),
        "true_hmt_std_c": round(float(true_hmt.std()), 2),
        "true_hmt_below_band_pct": round(float((true_hmt < 1490).mean() * 100), 2),
        "actions": len(result.actions),
        "abnormal_samples": sum(r.state != "normal" for r in rs),
    }
