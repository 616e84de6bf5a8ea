"""What both front ends decide the same way: an error's status, an API key's check."""

from __future__ import annotations

import hmac

from agentarts.errors import AgentArtsError

__all__ = ["check_api_key", "error_status"]


def error_status(exc: AgentArtsError) -> int:
    """The HTTP status of an error the runtime raised on purpose (never 500)."""
    return exc.http_status if 400 <= exc.http_status < 600 and exc.http_status != 500 else 503


def check_api_key(given: bytes, key: bytes) -> bool:
    """Constant-time comparison of a presented key with the configured one."""
    return hmac.compare_digest(given, key)
