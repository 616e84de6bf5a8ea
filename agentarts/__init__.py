"""AgentArts: an open SDK for industrial AI agents.

The public API is small and re-exported here; importing ``agentarts`` is cheap because every
name is loaded on first use (heavy libraries such as langgraph and onnxruntime load only when a
feature that needs them is used).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from agentarts._lazy import lazy_getattr
from agentarts._version import __version__
from agentarts.errors import (
    AgentArtsError,
    ApprovalError,
    ConfigError,
    DeviceOutOfMemoryError,
    InvalidInputError,
    MissingDependencyError,
    ModelError,
    NotFoundError,
    RequestTimeoutError,
    RuntimeOverloadedError,
    UsageError,
)

# onnxruntime >= 1.32 on Linux records telemetry events in ~/.cache/Microsoft/DeveloperTools and
# tries to upload them, from `import onnxruntime` on. AgentArts sends nothing anywhere and writes
# nothing into the home directory by default, so opt out before any of our modules imports
# onnxruntime; an explicit ORT_DISABLE_TELEMETRY in the environment is respected.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

if TYPE_CHECKING:
    from agentarts.config import Settings, load_settings
    from agentarts.plugins import IndustryPack, discover_packs
    from agentarts.projects import create_project, upgrade_project
    from agentarts.runtime.client import HttpRuntime
    from agentarts.runtime.local import LocalRuntime
    from agentarts.runtime.protocol import InferResult, Runtime

# name -> module that defines it; resolved by __getattr__ on first access.
_LAZY = {
    "Settings": "agentarts.config",
    "load_settings": "agentarts.config",
    "IndustryPack": "agentarts.plugins",
    "discover_packs": "agentarts.plugins",
    "create_project": "agentarts.projects",
    "upgrade_project": "agentarts.projects",
    "LocalRuntime": "agentarts.runtime.local",
    "HttpRuntime": "agentarts.runtime.client",
    "Runtime": "agentarts.runtime.protocol",
    "InferResult": "agentarts.runtime.protocol",
}

__all__ = [
    "AgentArtsError",
    "ApprovalError",
    "ConfigError",
    "DeviceOutOfMemoryError",
    "HttpRuntime",
    "IndustryPack",
    "InferResult",
    "InvalidInputError",
    "LocalRuntime",
    "MissingDependencyError",
    "ModelError",
    "NotFoundError",
    "RequestTimeoutError",
    "Runtime",
    "RuntimeOverloadedError",
    "Settings",
    "UsageError",
    "__version__",
    "create_project",
    "discover_packs",
    "load_settings",
    "upgrade_project",
]


__getattr__ = lazy_getattr("agentarts", _LAZY, globals())


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
