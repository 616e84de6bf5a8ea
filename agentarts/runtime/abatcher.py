"""Dynamic batching for asyncio callers (the HTTP server, async agents).

Coroutines are far cheaper to switch than threads: CPython hands a lock between two threads
about 30,000 times a second on this kind of machine, which caps any thread-based batcher, while
an event loop switches tasks in about a microsecond. So async callers get their own batcher:
each request is a future in a queue; one dispatcher task per model takes batches by Triton's
rules (the largest preferred size it can form, else up to max_batch_size, waiting at most
max_queue_delay for more) and runs them on a one-thread executor, so the event loop keeps
accepting requests (and forming the next batch) while onnxruntime works with the GIL released.
A lone request on an idle model runs inline when its last run was short, saving the executor hop.

Timeouts are enforced when a request reaches the head of the queue (a request that waited past
its deadline fails with RequestTimeoutError instead of running). Counters are shared with the
thread batcher of the same model.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from agentarts.errors import ModelError, RequestTimeoutError, RuntimeOverloadedError
from agentarts.runtime.batcher import DynamicBatcher

__all__ = ["AsyncBatcher"]

INLINE_LIMIT_S = 0.0005  # run a lone request inline when its size last took less than this


class AsyncBatcher:
    """Batches concurrent ``await submit(...)`` calls of one event loop into runner executions."""

    def __init__(self, sync: DynamicBatcher) -> None:
        self._sync = sync  # shares config, runner, counters and the closed flag
        self.config = sync.config
        self._queue: deque[tuple[Any, int, asyncio.Future[Any], float, float]] = deque()
        self._queued_rows = 0
        self._dispatching = False
        self._task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"agentarts-{sync.name}")
        self._last_run_s: dict[int, float] = {}
        self._preferred = sync._preferred

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    async def submit(
        self, payload: Any, rows: int, timeout_s: float | None, start: float
    ) -> tuple[Any, int]:
        cfg = self.config
        sync = self._sync
        if sync._closed:
            raise ModelError(f"model {sync.name} is shutting down")
        if rows > cfg.max_batch_size:
            raise ModelError(f"{rows} rows exceed max_batch_size {cfg.max_batch_size}")
        if len(self._queue) + sync.queue_depth >= cfg.max_queue_size:  # one bound for both
            with sync._lock:
                sync.stats.request_failure += 1
            raise RuntimeOverloadedError(
                f"model {sync.name}: queue full ({cfg.max_queue_size} requests waiting)",
                retry_after_s=1.0,
            )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        deadline = start + (cfg.timeout_s if timeout_s is None else timeout_s)
        self._queue.append((payload, rows, future, start, deadline))
        self._queued_rows += rows
        if not self._dispatching:
            self._dispatching = True
            # Keep a reference: the loop holds tasks weakly and could drop a running dispatcher.
            self._task = loop.create_task(self._dispatch())
        return await future

    def _take(self) -> list[tuple[Any, int, asyncio.Future[Any], float, float]]:
        limit = self.config.max_batch_size if self.config.enabled else 1
        queue = self._queue
        chosen = []
        rows = 0
        now = time.perf_counter()
        while queue and rows + queue[0][1] <= limit:
            item = queue.popleft()
            self._queued_rows -= item[1]
            if item[4] < now:
                self._fail(
                    [item],
                    RequestTimeoutError(
                        f"model {self._sync.name}: request waited longer than its timeout"
                    ),
                )
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
                chosen = chosen[:best]
        return chosen

    def _fail(self, items: list[Any], error: BaseException) -> None:
        with self._sync._lock:
            self._sync.stats.request_failure += len(items)
        for item in items:
            if not item[2].done():
                item[2].set_exception(error)

    async def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        cfg = self.config
        runner = self._sync._runner
        delay = cfg.max_queue_delay_us / 1e6 if cfg.enabled else 0.0
        target = self._preferred[0] if self._preferred else cfg.max_batch_size
        try:
            while self._queue:
                if delay and self._queued_rows < target:
                    wait = self._queue[0][3] + delay - time.perf_counter()
                    while wait > 0 and self._queued_rows < target:
                        await asyncio.sleep(min(wait, 0.0002))
                        wait = self._queue[0][3] + delay - time.perf_counter() if self._queue else 0
                batch = self._take()
                if not batch:
                    continue
                rows = sum(item[1] for item in batch)
                payloads = [item[0] for item in batch]
                t0 = time.perf_counter()
                try:
                    # Inline when short and nothing is waiting (or batching is off, so nothing
                    # could join): saves the executor hop. Otherwise run on the executor so
                    # the loop keeps forming the next batch meanwhile.
                    short = self._last_run_s.get(rows, 1.0) < INLINE_LIMIT_S
                    if short and (not self._queue or not cfg.enabled):
                        results = runner(payloads, rows)
                        if self._queue:
                            await asyncio.sleep(0)  # let other tasks run between requests
                    else:
                        results = await loop.run_in_executor(self._executor, runner, payloads, rows)
                except BaseException as exc:  # every caller of the batch gets the error
                    self._fail(batch, exc if isinstance(exc, Exception) else ModelError(str(exc)))
                    if not isinstance(exc, Exception):
                        raise
                    continue
                end = time.perf_counter()
                self._last_run_s[rows] = end - t0
                self._account(batch, rows, t0, end)
                for item, result in zip(batch, results, strict=True):
                    if not item[2].done():
                        item[2].set_result((result, rows))
        finally:
            self._dispatching = False

    def _account(self, batch: list[Any], rows: int, t0: float, end: float) -> None:
        sync = self._sync
        starts = sum(item[3] for item in batch)
        with sync._lock:
            sync.stats.record(
                rows,
                (end - t0) * 1e6,
                len(batch),
                (end * len(batch) - starts) * 1e6,
                (t0 * len(batch) - starts) * 1e6,
            )

    def close(self) -> None:
        """Fail what is queued and stop the executor (in-flight work finishes)."""
        items = list(self._queue)
        self._queue.clear()
        self._queued_rows = 0
        if items:
            self._fail(items, ModelError(f"model {self._sync.name} was unloaded"))
        self._executor.shutdown(wait=False)
