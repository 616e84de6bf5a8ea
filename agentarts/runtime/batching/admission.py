"""Admission control, decided before a request body is read or parsed.

Under overload, refusing must cost far less than serving, or refusals crowd out the work the
server can do (measured before this existed: with 2,560 connections each 429 was decided only
after reading and decoding the body, and goodput fell from ~2,000 to 26-64 req/s). So the front
ends ask ``admit`` with what the request line and headers say (model, Content-Length) and refuse
with 429 before touching the body when:

- the model already has as many requests in flight (admitted and not yet answered: being read,
  decoded, queued or running) as its queue holds plus one full batch;
- the bytes of admitted bodies still being held would exceed ``max_inflight_bytes``.

``Retry-After`` is the time the model needs to drain what is in flight, from its measured
compute time per row (at least 1 s: the header counts whole seconds).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from agentarts.errors import RuntimeOverloadedError

if TYPE_CHECKING:
    from agentarts.runtime.local import LoadedModel

__all__ = ["DEFAULT_MAX_INFLIGHT_BYTES", "Admission"]

DEFAULT_MAX_INFLIGHT_BYTES = 256 * 1024 * 1024


class Admission:
    """Counts requests and body bytes in flight per model; one instance per server process
    (HTTP and gRPC share it, and it is only touched from the event loop's thread)."""

    def __init__(self, max_inflight_bytes: int = DEFAULT_MAX_INFLIGHT_BYTES) -> None:
        self.max_inflight_bytes = max_inflight_bytes
        self.bytes_in_flight = 0
        self.in_flight: dict[int, int] = {}  # id(LoadedModel) -> requests
        self.refused = 0

    def limit(self, lm: LoadedModel) -> int:
        cfg = lm.batcher.config
        return cfg.max_queue_size + (cfg.max_batch_size if cfg.enabled else 1)

    def retry_after_s(self, lm: LoadedModel, waiting: int) -> float:
        """Seconds to drain ``waiting`` requests at the model's measured rate (>= 1)."""
        stats = lm.batcher.stats
        per_row_us = stats.compute_us / stats.inference_count if stats.inference_count else 1e3
        return max(1.0, math.ceil(waiting * per_row_us / 1e6))

    def admit(self, lm: LoadedModel, size: int) -> None:
        """Take a slot for a request of ``size`` declared body bytes, or raise 429."""
        key = id(lm)
        current = self.in_flight.get(key, 0)
        if current >= self.limit(lm):
            self._refuse(lm, f"model {lm.name}: {current} requests in flight (queue full)", current)
        if size and self.bytes_in_flight + size > self.max_inflight_bytes:
            self._refuse(
                lm,
                f"{self.bytes_in_flight} bytes of requests in flight; {size} more would exceed "
                f"{self.max_inflight_bytes}",
                current,
            )
        self.in_flight[key] = current + 1
        self.bytes_in_flight += size

    def release(self, lm: LoadedModel, size: int) -> None:
        key = id(lm)
        self.in_flight[key] -= 1
        self.bytes_in_flight -= size

    def _refuse(self, lm: LoadedModel, message: str, waiting: int) -> None:
        self.refused += 1
        with lm.batcher._lock:
            lm.batcher.stats.request_failure += 1
        raise RuntimeOverloadedError(message, retry_after_s=self.retry_after_s(lm, waiting))
