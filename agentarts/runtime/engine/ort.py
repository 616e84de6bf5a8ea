"""onnxruntime sessions: one per loaded model version, CANN first when it is present."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentarts.errors import MissingDependencyError, ModelError

__all__ = ["EngineConfig", "OrtEngine"]

log = logging.getLogger("agentarts.runtime")
_WARNED_NO_CANN: list[bool] = []


@dataclass(frozen=True)
class EngineConfig:
    intra_op_threads: int = 1
    inter_op_threads: int = 1
    prefer_cann: bool = True
    cann_device_id: int = 0


def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:  # pragma: no cover - core dependency
        raise MissingDependencyError(
            "onnxruntime is not installed", hint="pip install onnxruntime"
        ) from exc
    return onnxruntime


class OrtEngine:
    """Runs one ONNX model. ``run`` is thread-safe (onnxruntime sessions are)."""

    def __init__(
        self, path: Path, config: EngineConfig | None = None, model_bytes: bytes | None = None
    ) -> None:
        ort = _ort()
        self.config = config or EngineConfig()
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.config.intra_op_threads
        options.inter_op_num_threads = self.config.inter_op_threads
        options.log_severity_level = 3
        available = ort.get_available_providers()
        providers: list[Any] = ["CPUExecutionProvider"]
        if self.config.prefer_cann:
            if "CANNExecutionProvider" in available:
                providers.insert(
                    0, ("CANNExecutionProvider", {"device_id": self.config.cann_device_id})
                )
            elif not _WARNED_NO_CANN:
                _WARNED_NO_CANN.append(True)
                log.info("CANN execution provider not available: running models on the CPU")
        try:
            self.session = ort.InferenceSession(
                model_bytes if model_bytes is not None else str(path), options, providers=providers
            )
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ModelError(f"{path}: onnxruntime cannot load it: {exc}") from exc
        self.providers = self.session.get_providers()
        self.output_names = [o.name for o in self.session.get_outputs()]
        self._run = self.session.run
        inner = getattr(self.session, "_sess", None)
        if self.providers == ["CPUExecutionProvider"] and hasattr(inner, "run"):
            # The public wrapper re-validates inputs (done already by the runtime) and handles
            # execution-provider fallback (not needed on the CPU): call the binding directly.
            self._run = inner.run

    def run(self, feeds: dict[str, Any]) -> list[Any]:
        try:
            return self._run(self.output_names, feeds, None)
        except Exception as exc:
            raise ModelError(f"inference failed: {exc}") from exc
