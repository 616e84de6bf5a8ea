"""Admission control, decided before a request body is read or parsed.

Under overload, refusing must cost far less than serving, or refusals crowd out the work the
server can do (measured before this existed: with 2,560 connections each 429 was decided only
after reading and decoding the body, and goodput fell from ~2,000 to 26-64 req/s). And a
refusal is itself work: a closed-loop client sends its next request as soon as it has its 429,
so refusing a request the server could have served in time only multiplies requests (measured:
127,532 refusals in 15 s on the CNN, goodput 0.70x of sustainable). So the front ends ask with
what the request line and headers say (model, Content-Length), before touching the body:

- ``try_admit``: a slot is free (the model has fewer requests in flight, admitted and not yet
  answered, than its queue holds plus one full batch; and the bytes of admitted bodies stay
  under ``max_inflight_bytes``): the request goes on at once;
- ``wait_admit`` (HTTP): otherwise the request waits, unread, in a FIFO waiting room, and takes
  the next slot freed (handed over directly on ``release``, so late arrivals cannot barge).
  An HTTP/1.1 client does not send its next request before it has this answer, so a waiting
  connection costs no CPU at all. It is refused with 429 only when its expected wait (its place
  in line times the model's measured time between answers under load) exceeds the model's
  ``timeout_s``, or when the room holds ``max_waiting`` requests: what it could not have been
  served in time anyway;
- ``admit`` (gRPC, synchronous): refuses at once when no slot is free.

The wait a refused request is told (``RuntimeOverloadedError.retry_after_s``, sub-second) is
the expected time to answer every request in flight and waiting before it. HTTP sends it
rounded up to whole seconds as ``Retry-After`` (at least 1, as HTTP counts seconds) and in
milliseconds as ``retry-after-ms``.

How long a refusal takes inside the server is kept as a histogram (``refusal_buckets``): the
HTTP front end observes each 429 from the moment its ASGI call starts (the request head parsed)
to the moment the answer is handed to the transport.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections import deque
from typing import TYPE_CHECKING, Protocol

from agentarts.errors import RuntimeOverloadedError

if TYPE_CHECKING:
    from agentarts.runtime.local import LoadedModel

__all__ = [
    "DEFAULT_MAX_INFLIGHT_BYTES",
    "DEFAULT_MAX_WAITING",
    "REFUSAL_BUCKETS_S",
    "Admission",
]

DEFAULT_MAX_INFLIGHT_BYTES = 256 * 1024 * 1024
DEFAULT_MAX_WAITING = 8192  # per model
# Upper bounds (s) of the refusal-time histogram: 25 us to 250 ms, then +Inf.
REFUSAL_BUCKETS_S = (
    25e-6,
    50e-6,
    100e-6,
    250e-6,
    500e-6,
    1e-3,
    2.5e-3,
    5e-3,
    10e-3,
    25e-3,
    50e-3,
    100e-3,
    250e-3,
)


class _Waiter(Protocol):
    """A place in a waiting room: an ``asyncio.Future[None]`` or anything answering alike."""

    def done(self) -> bool: ...

    def set_result(self, result: None, /) -> None: ...

    def cancel(self) -> object: ...


class _Line:
    """One model's slots, waiting room and measured drain rate."""

    __slots__ = ("answered", "gone", "in_flight", "interval_s", "since", "waiting")

    def __init__(self) -> None:
        self.in_flight = 0
        self.waiting: deque[tuple[_Waiter, int]] = deque()
        self.gone = 0  # entries of ``waiting`` whose client left (dropped when reached)
        self.interval_s = 0.0  # time between answers while the model was full (smoothed)
        self.since = 0.0  # start of the current measuring window (while full)
        self.answered = 0  # answers in that window


class Admission:
    """Counts requests and body bytes in flight per model; one instance per server process
    (HTTP and gRPC share it, and it is only touched from the event loop's thread)."""

    def __init__(
        self,
        max_inflight_bytes: int = DEFAULT_MAX_INFLIGHT_BYTES,
        max_waiting: int = DEFAULT_MAX_WAITING,
    ) -> None:
        self.max_inflight_bytes = max_inflight_bytes
        self.max_waiting = max_waiting
        self.bytes_in_flight = 0
        self.lines: dict[int, _Line] = {}  # id(LoadedModel) -> its line
        self.refused = 0
        self.waited = 0  # requests that waited for a slot (and were then served)
        # refusal times (s): count per bucket of REFUSAL_BUCKETS_S (+Inf last), and their sum
        self.refusal_buckets = [0] * (len(REFUSAL_BUCKETS_S) + 1)
        self.refusal_sum_s = 0.0

    def observe_refusal(self, seconds: float) -> None:
        """Count one refusal that took ``seconds`` inside the server (see the module doc)."""
        self.refusal_sum_s += seconds
        self.refusal_buckets[bisect.bisect_left(REFUSAL_BUCKETS_S, seconds)] += 1

    @property
    def in_flight(self) -> dict[int, int]:
        return {key: line.in_flight for key, line in self.lines.items()}

    def limit(self, lm: LoadedModel) -> int:
        cfg = lm.batcher.config
        return cfg.max_queue_size + (cfg.max_batch_size if cfg.enabled else 1)

    def _line(self, lm: LoadedModel) -> _Line:
        line = self.lines.get(id(lm))
        if line is None:
            line = self.lines[id(lm)] = _Line()
        return line

    def expected_wait_s(self, lm: LoadedModel, ahead: int) -> float:
        """Seconds until ``ahead`` requests are answered: at the measured time between
        answers while the model was full, else at its measured compute time per row."""
        line = self._line(lm)
        return ahead * (line.interval_s or self._compute_interval_s(lm))

    @staticmethod
    def _compute_interval_s(lm: LoadedModel) -> float:
        """The model's measured compute time per row (1 ms before any was measured)."""
        stats = lm.batcher.stats
        per_row_us = stats.compute_us / stats.inference_count if stats.inference_count else 1e3
        return per_row_us / 1e6

    def retry_after_s(self, lm: LoadedModel, ahead: int) -> float:
        """When to come back, in seconds (at least 1 ms): the expected time until the
        ``ahead`` requests in flight and waiting are answered. (Not merely until a newcomer's
        wait would fit the timeout: that is about one answer's time at the moment of refusal,
        and measured under 2,560 clients honouring it, they came back at once into the same
        crowd: as many refusals as clients that ignore the wait.)"""
        return max(1e-3, self.expected_wait_s(lm, ahead))

    def try_admit(self, lm: LoadedModel, size: int) -> bool:
        """Take a slot for a request of ``size`` declared body bytes if one is free now."""
        line = self._line(lm)
        if line.in_flight >= self.limit(lm) or len(line.waiting) > line.gone:
            return False
        if size and self.bytes_in_flight + size > self.max_inflight_bytes:
            return False
        line.in_flight += 1
        self.bytes_in_flight += size
        return True

    async def wait_admit(self, lm: LoadedModel, size: int) -> None:
        """Wait in line for a slot (see the module docstring), or raise 429."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.park(lm, size, future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():  # a slot was handed over: give it back
                self.release(lm, size)
            else:
                self.cancel(lm, future)
            raise
        self.waited += 1

    def park(self, lm: LoadedModel, size: int, ticket: _Waiter) -> None:
        """Put ``ticket`` in the model's waiting room, or raise 429 when its expected wait
        exceeds the model's timeout or the room is full. ``release`` hands the next free slot
        to the first ticket not yet done with ``ticket.set_result(None)`` (an asyncio future,
        or the HTTP fast path's callback)."""
        line = self._line(lm)
        waiting = len(line.waiting) - line.gone
        ahead = line.in_flight + waiting + 1
        wait_s = self.expected_wait_s(lm, ahead)
        if wait_s > lm.batcher.config.timeout_s:
            self._refuse(
                lm,
                f"model {lm.name}: {ahead - 1} requests in flight and waiting, ~{wait_s:.2f} s "
                f"of work, over its {lm.batcher.config.timeout_s:g} s timeout",
                ahead,
            )
        if waiting >= self.max_waiting:
            self._refuse(lm, f"model {lm.name}: {ahead - 1} requests in flight and waiting", ahead)
        if not line.in_flight:  # the bytes of other models' bodies fill the budget
            self._refuse(
                lm,
                f"{self.bytes_in_flight} bytes of requests in flight; {size} more would exceed "
                f"{self.max_inflight_bytes}",
                ahead,
            )
        line.waiting.append((ticket, size))

    def cancel(self, lm: LoadedModel, ticket: _Waiter) -> None:
        """A waiting client left: its place no longer counts (the entry is dropped when the
        line reaches it). ``ticket`` must be one not handed a slot."""
        ticket.cancel()
        self._line(lm).gone += 1

    def admit(self, lm: LoadedModel, size: int) -> None:
        """Take a slot at once, or raise 429 (the gRPC front end)."""
        if not self.try_admit(lm, size):
            line = self._line(lm)
            waiting = line.in_flight + len(line.waiting) - line.gone
            if line.in_flight >= self.limit(lm) or len(line.waiting) > line.gone:
                self._refuse(
                    lm, f"model {lm.name}: {waiting} requests in flight (queue full)", waiting
                )
            self._refuse(
                lm,
                f"{self.bytes_in_flight} bytes of requests in flight; {size} more would exceed "
                f"{self.max_inflight_bytes}",
                waiting,
            )

    def release(self, lm: LoadedModel, size: int) -> None:
        """Free a slot; the first request waiting for one (if any) takes it."""
        line = self._line(lm)
        self.bytes_in_flight -= size
        if len(line.waiting) > line.gone or line.in_flight >= self.limit(lm):  # full: measure
            now = time.perf_counter()
            line.answered += 1
            elapsed = now - line.since
            # Windows span whole batches and a twentieth of the timeout (50-500 ms): one stall
            # of the event loop (a burst of new connections, a garbage collection) must not
            # read as the model's rate, or a line that drains in 0.4 s is refused as if it
            # held 10 s of work (measured: 930-2,347 needless 429s per MLP storm with 0.05 s
            # windows and the first window taken whole).
            window = min(0.5, max(0.05, lm.batcher.config.timeout_s / 20))
            if elapsed >= window and line.answered >= 8:
                sample = elapsed / line.answered
                seed = line.interval_s or self._compute_interval_s(lm)
                line.interval_s = 0.7 * seed + 0.3 * sample
                line.since, line.answered = now, 0
        else:
            line.since, line.answered = time.perf_counter(), 0
        waiting = line.waiting
        while waiting:
            future, wanted = waiting[0]
            if future.done():  # its client left while waiting
                waiting.popleft()
                line.gone -= 1
                continue
            if self.bytes_in_flight + wanted > self.max_inflight_bytes and line.in_flight > 1:
                break  # its body would exceed the byte budget: the next release tries again
            waiting.popleft()
            self.bytes_in_flight += wanted
            future.set_result(None)  # the slot passes to it: in_flight unchanged
            return
        line.in_flight -= 1

    def _refuse(self, lm: LoadedModel, message: str, waiting: int) -> None:
        self.refused += 1
        with lm.batcher._lock:
            lm.batcher.stats.request_failure += 1
        raise RuntimeOverloadedError(message, retry_after_s=self.retry_after_s(lm, waiting))
