"""Rolling the emulator out: 24 h steps chained to the lead wanted (Pangu-Weather's greedy
chaining with its 24 h model), through the AgentArts runtime or onnxruntime directly."""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any

import numpy as np

from agentarts.errors import InvalidInputError

__all__ = ["MODEL_NAME", "OnnxStepper", "RuntimeStepper", "check_state"]

MODEL_NAME = "qg_emulator"
GRID = 32
#: |psi| beyond this (m2/s) is not a state of the model (20x its standard deviation).
PSI_LIMIT = 4.0e8


def check_state(psi: np.ndarray, what: str = "state") -> np.ndarray:
    """A forecast-grid state (2, 32, 32) or batch (B, 2, 32, 32) as float32, or a clear error."""
    a = np.asarray(psi, np.float32)
    if a.shape[-3:] != (2, GRID, GRID) or a.ndim not in (3, 4):
        raise InvalidInputError(
            f"{what}: expected shape (2, {GRID}, {GRID}) (two layers on the {GRID}x{GRID} "
            f"forecast grid), got {tuple(a.shape)}"
        )
    bad = int((~np.isfinite(a)).sum())
    if bad:
        raise InvalidInputError(f"{what}: {bad} values are NaN or infinite")
    if float(np.abs(a).max()) > PSI_LIMIT:
        raise InvalidInputError(
            f"{what}: streamfunction magnitude {float(np.abs(a).max()):.3g} m2/s is beyond "
            f"{PSI_LIMIT:.0e} (wrong units?)"
        )
    return a


class _Stepper(abc.ABC):
    @abc.abstractmethod
    def step(self, x: np.ndarray) -> np.ndarray:
        """The state 24 h after ``x``."""

    def rollout(self, psi0: np.ndarray, days: int) -> np.ndarray:
        """Frames at days 0..days, shape (days + 1, 2, 32, 32) (or with a batch axis)."""
        x = check_state(psi0, "initial state")
        single = x.ndim == 3
        state = x[np.newaxis] if single else x
        frames = [state]
        for _ in range(int(days)):
            state = self.step(state)
            frames.append(state)
        out = np.stack(frames)
        return out[:, 0] if single else out


class OnnxStepper(_Stepper):
    """onnxruntime on one thread, no runtime in between (training checks, the bench floor)."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def step(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(["y"], {"x": np.ascontiguousarray(x, np.float32)})[0]


class RuntimeStepper(_Stepper):
    """The emulator served by an AgentArts runtime (``LocalRuntime`` or ``HttpRuntime``)."""

    def __init__(self, runtime: Any = None) -> None:
        if runtime is None:
            from agentarts.tools.model_tool import default_runtime

            runtime = default_runtime()
        self.runtime = runtime
        self.last: Any = None

    def step(self, x: np.ndarray) -> np.ndarray:
        result = self.runtime.infer(MODEL_NAME, {"x": np.ascontiguousarray(x, np.float32)})
        self.last = result
        return np.asarray(result["y"], np.float32)
