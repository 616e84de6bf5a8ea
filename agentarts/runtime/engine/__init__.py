"""The model side: repository and cards, datatypes, request tensors and their validation, and
one onnxruntime session per model version (``ort``). ``EngineConfig`` and ``OrtEngine`` are
re-exported here (their import path before the runtime had folders)."""

from agentarts.runtime.engine.ort import EngineConfig, OrtEngine

__all__ = ["EngineConfig", "OrtEngine"]
