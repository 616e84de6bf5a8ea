"""The bundled inference runtime: ONNX models on onnxruntime, simulated Ascend NPUs.

Layers (each usable alone): ``repository`` (models and cards), ``engine`` (onnxruntime),
``batcher`` (dynamic batching), ``devices`` and ``costmodel`` (simulated Ascend), ``planner``
(capacity), and the front ends ``LocalRuntime`` (in process) and ``server``/``HttpRuntime``
(KServe v2 over HTTP). Tools depend only on the ``Runtime`` protocol.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentarts._lazy import lazy_getattr

if TYPE_CHECKING:
    from agentarts.runtime.client import HttpRuntime
    from agentarts.runtime.devices import PROFILES, DeviceProfile, parse_devices
    from agentarts.runtime.local import LocalRuntime
    from agentarts.runtime.protocol import InferResult, Runtime

_LAZY = {
    "HttpRuntime": "agentarts.runtime.client",
    "PROFILES": "agentarts.runtime.devices",
    "DeviceProfile": "agentarts.runtime.devices",
    "parse_devices": "agentarts.runtime.devices",
    "LocalRuntime": "agentarts.runtime.local",
    "InferResult": "agentarts.runtime.protocol",
    "Runtime": "agentarts.runtime.protocol",
}
__all__ = [
    "PROFILES",
    "DeviceProfile",
    "HttpRuntime",
    "InferResult",
    "LocalRuntime",
    "Runtime",
    "parse_devices",
]


__getattr__ = lazy_getattr("agentarts.runtime", _LAZY, globals())
