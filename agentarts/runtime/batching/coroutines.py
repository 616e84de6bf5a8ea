"""Dynamic batching for asyncio callers (the HTTP server, async agents).

Coroutines are far cheaper to switch than threads: CPython hands a lock between two threads
about 30,000 times a second on this kind of machine, which caps any thread-based batcher, while
an event loop switches tasks in about a microsecond. So async callers get their own batcher:
each request is a future in a queue; batches are taken by Triton's rules (the largest preferred
size it can form, else up to max_batch_size, waiting at most max_queue_delay for more) and run
on a one-thread executor, so the event loop keeps accepting requests (and forming the next
batch) while onnxruntime works with the GIL released. A batch whose last run was short runs
inline instead: on this kind of machine handing work to another thread and back costs more
(~150 us of wake-ups) than running a small batch.

Dispatch is driven by callbacks, not by a task that must wait its turn in a saturated loop: a
request that fills a batch starts it from ``submit`` itself; otherwise one ``call_soon`` (or,
with a queue delay, one ``call_later`` at the oldest request's deadline) takes what has
gathered; and the executor thread, once running, keeps taking batches itself while full ones
(or, without a queue delay, any) are waiting, handing answers to the loop, so throughput does
not wait for turns of an event loop saturated by thousands of connections.

The per-request path is kept to what cannot be shared: a request's values (NaN/Inf, valid
ranges) are checked once per batch by the runner, and the runner answers each request with
its outputs or the error naming its bad value, so one bad request never fails its batch.

Timeouts are enforced when a request reaches the head of the queue (a request that waited past
its deadline fails with RequestTimeoutError instead of running). Counters are shared with the
thread batcher of the same model.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from agentarts.errors import ModelError, RequestTimeoutError, RuntimeOverloadedError
from agentarts.runtime.batching.threads import DynamicBatcher
from agentarts.runtime.protocol import InferResult

__all__ = ["AsyncBatcher", "AsyncRunner"]

INLINE_LIMIT_S = 0.0005  # run a batch inline when its size last took less than this

#: runner(payloads, rows) -> (answers, device_us, rows_run): answers[i] is request i's outputs
#: (a dict) or the exception that request fails with.
AsyncRunner = Callable[[list[Any], int], tuple[list[Any], float, int]]

_Item = tuple[Any, int, "asyncio.Future[InferResult]", float, float]  # payload, rows, ..


class AsyncBatcher:
    """Batches concurrent ``await submit(...)`` calls of one event loop into runner executions."""

    def __init__(
        self,
        sync: DynamicBatcher,
        runner: AsyncRunner,
        identity: tuple[str, str, str],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._sync = sync  # shares config, counters and the closed flag
        self._runner = runner
        self._model, self._version, self._device = identity
        self.loop = loop
        self.config = sync.config
        self._queue: deque[_Item] = deque()
        self._queued_rows = 0
        self._first_deadline = float("inf")  # earliest deadline queued: skip per-item checks
        self._running = False  # a batch is executing
        self._kick_pending = False  # a call_soon/call_later to take a batch is scheduled
        self._timer: asyncio.TimerHandle | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"agentarts-{sync.name}")
        self._lock = threading.Lock()
        self._last_run_s: dict[int, float] = {}
        self._preferred = sync._preferred
        cfg = self.config
        self._limit = cfg.max_batch_size if cfg.enabled else 1
        self._delay = cfg.max_queue_delay_us / 1e6 if cfg.enabled else 0.0
        self._target = (
            (self._preferred[0] if self._preferred else cfg.max_batch_size) if (cfg.enabled) else 1
        )

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    def retry_after_s(self) -> float:
        """Seconds to drain the queue at the measured rate (>= 1: Retry-After counts seconds)."""
        stats = self._sync.stats
        per_row_us = stats.compute_us / stats.inference_count if stats.inference_count else 1e3
        return max(1.0, math.ceil(self._queued_rows * per_row_us / 1e6))

    def submit(
        self, payload: Any, rows: int, timeout_s: float | None, start: float
    ) -> asyncio.Future[InferResult]:
        """Queue a request; the returned future resolves to its InferResult (a plain function
        returning a future, so awaiting it costs the caller no extra coroutine)."""
        cfg = self.config
        sync = self._sync
        if sync._closed:
            raise ModelError(f"model {sync.name} is shutting down")
        if rows > cfg.max_batch_size:
            raise ModelError(f"{rows} rows exceed max_batch_size {cfg.max_batch_size}")
        queue = self._queue
        if len(queue) + len(sync._queue) >= cfg.max_queue_size:  # one bound for both
            with sync._lock:
                sync.stats.request_failure += 1
            raise RuntimeOverloadedError(
                f"model {sync.name}: queue full ({cfg.max_queue_size} requests waiting)",
                retry_after_s=self.retry_after_s(),
            )
        future = self.loop.create_future()
        deadline = start + (cfg.timeout_s if timeout_s is None else timeout_s)
        with self._lock:  # the executor thread takes batches too
            if deadline < self._first_deadline:
                self._first_deadline = deadline
            queue.append((payload, rows, future, start, deadline))
            self._queued_rows += rows
            running = self._running
        if not running:
            if self._queued_rows >= self._target:
                self._start()  # a full batch leaves now, from the submit path
            elif not self._kick_pending:
                self._schedule(self._delay)
        return future

    def _schedule(self, delay: float) -> None:
        self._kick_pending = True
        if delay > 0:
            self._timer = self.loop.call_later(delay, self._kick)
        else:
            self.loop.call_soon(self._kick)

    def _kick(self) -> None:
        """Take a batch of what has gathered (after the loop's other ready callbacks ran)."""
        self._kick_pending = False
        self._timer = None
        if self._running or not self._queue:
            return
        if self._delay and self._queued_rows < self._target:
            wait = self._queue[0][3] + self._delay - time.perf_counter()
            if wait > 0:
                self._schedule(wait)
                return
        self._start()

    def _take(self) -> tuple[list[_Item], int, list[_Item]]:
        """One batch by Triton's rules, and the requests found past their deadline (the
        caller holds ``_lock`` and fails those on the event loop's thread)."""
        queue = self._queue
        if (
            self._queued_rows <= self._limit
            and len(queue) == self._queued_rows  # one row each: every request fits
            and self._first_deadline >= time.perf_counter()
            and (not self._preferred or self._queued_rows in self._preferred)
        ):  # the common case under load, without a Python step per request
            chosen = list(queue)
            rows = self._queued_rows
            queue.clear()
            self._queued_rows = 0
            self._first_deadline = float("inf")
            return chosen, rows, []
        chosen = []
        expired = []
        rows = 0
        now = time.perf_counter()
        while queue and rows + queue[0][1] <= self._limit:
            item = queue.popleft()
            self._queued_rows -= item[1]
            if item[4] < now:
                expired.append(item)
                continue
            chosen.append(item)
            rows += item[1]
        if self._preferred and rows not in self._preferred and len(chosen) > 1:
            prefix, best = 0, 0
            for i, item in enumerate(chosen):
                prefix += item[1]
                if prefix in self._preferred:
                    best = i + 1
            if best:
                for item in reversed(chosen[best:]):  # put the tail back, in order
                    queue.appendleft(item)
                    self._queued_rows += item[1]
                    rows -= item[1]
                chosen = chosen[:best]
        self._first_deadline = min((item[4] for item in queue), default=float("inf"))
        return chosen, rows, expired

    def _expire(self, items: list[_Item]) -> None:
        self._fail(
            items,
            RequestTimeoutError(f"model {self._sync.name}: request waited longer than its timeout"),
        )

    def _fail(self, items: list[Any], error: BaseException) -> None:
        with self._sync._lock:
            self._sync.stats.request_failure += len(items)
        if self.loop.is_closed():  # the server stopped: nobody awaits these any more
            return
        for item in items:
            if not item[2].done():
                item[2].set_exception(error)

    def _start(self) -> None:
        """Take one batch and run it: inline when short and nothing else waits (or batching
        is off, so nothing could join), which saves the executor hop; otherwise on the
        executor thread, which then keeps taking batches itself while enough is queued, so
        back-to-back batches never wait for a turn of a busy event loop."""
        with self._lock:
            batch, rows, expired = self._take()
            if batch:
                self._running = True
        if expired:
            self._expire(expired)
        if not batch:  # every taken request had timed out
            if self._queue and not self._kick_pending:
                self._schedule(0.0)
            return
        short = self._last_run_s.get(rows, 1.0) < INLINE_LIMIT_S
        if short and (not self._queue or not self.config.enabled):
            payloads = [item[0] for item in batch]
            t0 = time.perf_counter()
            try:
                answers, device_us, ran = self._runner(payloads, rows)
            except Exception as exc:
                self._running = False
                self._fail(batch, exc)
            else:
                self._complete(batch, rows, answers, device_us, ran, t0)
            if self._queue and not self._kick_pending:
                self._schedule(0.0)  # let other callbacks run between inline batches
            return
        self._executor.submit(self._work, batch, rows)

    def _work(self, batch: list[_Item], rows: int) -> None:
        """Executor thread: run batches back to back while full ones (or, without a queue
        delay, any) are waiting; answers go to the event loop's thread."""
        loop = self.loop
        while True:
            payloads = [item[0] for item in batch]
            t0 = time.perf_counter()
            try:
                answers, device_us, ran = self._runner(payloads, rows)
            except Exception as exc:  # every caller of the batch gets the error
                post: tuple[Any, ...] = (self._fail, batch, exc)
            else:
                end = time.perf_counter()
                self._last_run_s[rows] = end - t0
                post = (self._deliver, batch, answers, device_us, ran, t0, end)
            expired: list[_Item] = []
            with self._lock:
                batch, rows = [], 0
                while (
                    not batch
                    and self._queue
                    and (self._queued_rows >= self._target or not self._delay)
                    and not self._sync._closed
                ):
                    batch, rows, more = self._take()
                    expired += more
                if not batch:
                    self._running = False
                    pending = bool(self._queue)
            try:
                loop.call_soon_threadsafe(*post)
                if expired:
                    loop.call_soon_threadsafe(self._expire, expired)
                if not batch:
                    if pending:
                        loop.call_soon_threadsafe(self._kick)
                    return
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                return

    def _complete(
        self,
        batch: list[_Item],
        rows: int,
        answers: list[Any],
        device_us: float,
        ran: int,
        t0: float,
    ) -> None:
        end = time.perf_counter()
        self._last_run_s[rows] = end - t0
        self._running = False
        self._deliver(batch, answers, device_us, ran, t0, end)

    def _deliver(
        self,
        batch: list[_Item],
        answers: list[Any],
        device_us: float,
        ran: int,
        t0: float,
        end: float,
    ) -> None:
        model, version, device = self._model, self._version, self._device
        failed = 0
        starts = 0.0
        for item, answer in zip(batch, answers, strict=True):
            future = item[2]
            if answer.__class__ is dict:
                starts += item[3]
                if not future.done():  # a cancelled caller
                    future.set_result(
                        InferResult(
                            model, version, answer, (end - item[3]) * 1e6, device_us, ran, device
                        )
                    )
            else:
                failed += 1
                if not future.done():
                    future.set_exception(answer)
        served = len(batch) - failed
        with self._sync._lock:
            stats = self._sync.stats
            if ran:
                stats.record(
                    ran,
                    (end - t0) * 1e6,
                    served,
                    (end * served - starts) * 1e6,
                    (t0 * served - starts) * 1e6,
                )
            stats.request_failure += failed

    def close(self) -> None:
        """Fail what is queued and stop the executor (in-flight work finishes)."""
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            items = list(self._queue)
            self._queue.clear()
            self._queued_rows = 0
            self._first_deadline = float("inf")
        if items:
            self._fail(items, ModelError(f"model {self._sync.name} was unloaded"))
        self._executor.shutdown(wait=False)
