"""The ``Runtime`` protocol tools depend on, and what an inference returns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["InferResult", "Runtime"]


@dataclass(slots=True)
class InferResult:
    """Outputs of one request, with measured host time and simulated device time.

    ``device_time_us`` is the roofline estimate for the whole batch this request ran in on the
    simulated Ascend device (``device``); ``host_time_us`` is the wall time measured here.
    """

    model: str
    version: str
    outputs: dict[str, np.ndarray]
    host_time_us: float
    device_time_us: float
    batch_size: int
    device: str

    def __getitem__(self, name: str) -> np.ndarray:
        return self.outputs[name]


@runtime_checkable
class Runtime(Protocol):
    """What a model-backed tool needs: infer, metadata, readiness. Local or over HTTP."""

    def infer(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        *,
        version: str | None = None,
        outputs: Sequence[str] | None = None,
        timeout_s: float | None = None,
    ) -> InferResult: ...

    async def ainfer(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        *,
        version: str | None = None,
        outputs: Sequence[str] | None = None,
        timeout_s: float | None = None,
    ) -> InferResult: ...

    def model_metadata(self, model: str, version: str | None = None) -> dict[str, Any]: ...

    def is_ready(self, model: str | None = None, version: str | None = None) -> bool: ...

    def list_models(self) -> list[dict[str, Any]]: ...

    def close(self) -> None: ...
