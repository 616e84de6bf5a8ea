"""The one error hierarchy of AgentArts.

Every error the SDK raises on purpose derives from :class:`AgentArtsError`. Each class
carries the CLI exit code it maps to (2: the caller's input or usage was wrong; 1: the
operation failed) and, for the HTTP server, a status code. Catch ``AgentArtsError`` to
handle everything the SDK reports; catch a subclass to handle one situation.

```
AgentArtsError
├── UsageError               bad input from the caller (exit 2, HTTP 400)
│   ├── InvalidNameError
│   ├── TargetExistsError
│   ├── InvalidInputError    tensors or tool inputs that do not fit (HTTP 400)
│   │   └── PayloadTooLargeError (HTTP 413)
│   └── PathNotAllowedError  a served tool given a path outside its folders (HTTP 403)
├── NotFoundError            unknown model, version, thread, pack (exit 2, HTTP 404)
│   └── PackNotInstalledError
├── ConfigError              agentarts.toml or environment settings are wrong (exit 2)
├── MissingDependencyError   an optional extra is not installed (exit 1)
├── ModelError               a model file cannot be loaded or run (exit 1, HTTP 500→reported as 503)
├── DeviceOutOfMemoryError   a simulated NPU has no room for a model (exit 1, HTTP 507)
├── RuntimeOverloadedError   the batcher queue is full (HTTP 429, Retry-After)
├── RequestTimeoutError      a request waited longer than its timeout (HTTP 504)
├── ApprovalError            an actuating step without approval, or a bad approval (exit 2, 409)
│   ├── TamperError          a signed grant, request or audit row fails its check (exit 2, 409)
│   └── ActuationBusyError   another process is carrying out this approved action (exit 2, 409)
└── TemplateError            project generation or upgrade failed (exit 1)
```
"""

from __future__ import annotations

__all__ = [
    "ActuationBusyError",
    "AgentArtsError",
    "ApprovalError",
    "ConfigError",
    "DeviceOutOfMemoryError",
    "InvalidInputError",
    "InvalidNameError",
    "MissingDependencyError",
    "ModelError",
    "NotFoundError",
    "PackNotInstalledError",
    "PathNotAllowedError",
    "PayloadTooLargeError",
    "RequestTimeoutError",
    "RuntimeOverloadedError",
    "TamperError",
    "TargetExistsError",
    "TemplateError",
    "UsageError",
]


class AgentArtsError(Exception):
    """Base class of every error AgentArts raises on purpose."""

    exit_code: int = 1
    http_status: int = 500

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class UsageError(AgentArtsError):
    """The caller's input or usage is wrong; nothing was changed."""

    exit_code = 2
    http_status = 400


class InvalidNameError(UsageError):
    """A project or package name that cannot be used."""


class TargetExistsError(UsageError):
    """The target directory exists and is not empty."""


class InvalidInputError(UsageError):
    """Inputs (tensors, tool arguments, files) that do not match what is expected."""


class PayloadTooLargeError(InvalidInputError):
    """A request body larger than the server accepts."""

    http_status = 413


class PathNotAllowedError(UsageError):
    """A served agent's tool was given a path outside the folders it may use
    (``agentarts.tools.paths``)."""

    http_status = 403


class NotFoundError(AgentArtsError):
    """An unknown model, version, run thread or industry pack."""

    exit_code = 2
    http_status = 404


class PackNotInstalledError(NotFoundError):
    """An industry pack that is not installed."""


class ConfigError(AgentArtsError):
    """Settings in agentarts.toml or AGENTARTS_* environment variables are wrong."""

    exit_code = 2
    http_status = 500


class MissingDependencyError(AgentArtsError):
    """An optional dependency is missing; the hint says which extra installs it."""


class ModelError(AgentArtsError):
    """A model file cannot be loaded or executed."""

    http_status = 503


class DeviceOutOfMemoryError(AgentArtsError):
    """A simulated NPU has not enough device memory left for a model."""

    http_status = 507


class RuntimeOverloadedError(AgentArtsError):
    """The model's request queue is full; retry after ``retry_after_s`` seconds."""

    http_status = 429

    def __init__(self, message: str, *, retry_after_s: float = 1.0, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.retry_after_s = retry_after_s


class RequestTimeoutError(AgentArtsError):
    """A request waited in the queue or ran longer than its timeout."""

    http_status = 504


class ApprovalError(AgentArtsError):
    """An actuating step reached without approval, or an approval that cannot apply."""

    exit_code = 2
    http_status = 409


class TamperError(ApprovalError):
    """A grant, approval request or audit row does not match its signature, or what a person
    approved is not what is about to run: refused, and reported by ``agentarts runs verify``."""


class ActuationBusyError(ApprovalError):
    """Another live process holds the claim on this approved action (it is running it now)."""


class TemplateError(AgentArtsError):
    """Project generation or upgrade failed; the target was left as it was."""
