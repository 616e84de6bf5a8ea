"""The bundled inference runtime: ONNX models on onnxruntime, simulated Ascend NPUs.

One folder per layer, each usable alone (docs/runtime.md):

- ``engine/``: model repository and cards, datatypes, request tensors and their validation,
  onnxruntime sessions;
- ``batching/``: dynamic batching for threads and for coroutines, admission control;
- ``devices/``: simulated Ascend profiles, the roofline cost model, the capacity planner;
- ``kserve/``: the KServe v2 messages both front ends share, the OpenAPI schema;
- ``http/`` and ``grpc/``: the front ends (and ``http.client.HttpRuntime``);
- ``local.py``: ``LocalRuntime``, the in-process front end; ``protocol.py``: the ``Runtime``
  protocol tools depend on; ``testing.py``: models built in code, a fake runtime, a test server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentarts._lazy import lazy_getattr

if TYPE_CHECKING:
    from agentarts.runtime.devices.profiles import PROFILES, DeviceProfile, parse_devices
    from agentarts.runtime.http.client import HttpRuntime
    from agentarts.runtime.local import LocalRuntime
    from agentarts.runtime.protocol import InferResult, Runtime

_LAZY = {
    "HttpRuntime": "agentarts.runtime.http.client",
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
