"""Dynamic batching without a dispatcher thread (leader/follower).

A caller that finds the model idle becomes the *leader*: it takes queued requests (its own
first among them, in arrival order) up to ``max_batch_size`` rows, runs them as one batch, hands
each follower its rows and returns. Callers that arrive while a batch runs queue up and the
first to notice the model is idle again leads the next batch. So a lone caller runs inline with
no thread hand-off (a few microseconds of overhead), and concurrent callers are batched
together, which is where onnxruntime's batch throughput (docs/sources.md, "CPU figures":
~6x) comes from.

Triton's rules apply (docs/architecture.md, the runtime's batcher): the leader forms the
largest preferred batch size it can, else the largest batch up to max_batch_size, waiting at
most ``max_queue_delay_us`` for more requests to fill a preferred size. The queue is
bounded (overload raises RuntimeOverloadedError, HTTP 429), every request has a timeout,
and ``close`` drains or fails what is queued and never hangs.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentarts.errors import ModelError, RequestTimeoutError, RuntimeOverloadedError
from agentarts.runtime.engine.repository import BatcherConfig  # a model card's [batching]

__all__ = ["BatchStats", "BatcherConfig", "DynamicBatcher"]

# run(list of request payloads, total rows) -> list of per-request results (same order)
BatchRunner = Callable[[list[Any], int], list[Any]]


@dataclass
class _Pending:
    payload: Any
    rows: int
    enqueued: float
    # A lock created held: the leader releases it to wake exactly this caller (the cheapest
    # wake-up CPython has; a shared Condition would wake every waiter for every batch).
    signal: Any = field(default_factory=threading.Lock)
    done: bool = False
    taken: bool = False
    lead: bool = False  # designated to lead the next batch
    result: Any = None
    error: BaseException | None = None
    batch_rows: int = 0

    def __post_init__(self) -> None:
        self.signal.acquire()


@dataclass
class BatchStats:
    """Counters the metrics endpoint reports (Triton's names)."""

    request_success: int = 0
    request_failure: int = 0
    inference_count: int = 0  # rows
    exec_count: int = 0  # batches
    queue_us: float = 0.0
    compute_us: float = 0.0
    request_us: float = 0.0
    batch_histogram: dict[int, int] = field(default_factory=dict)
    batch_compute_us: dict[int, float] = field(default_factory=dict)  # per batch size
    last_inference_ms: int = 0  # wall clock (ms since the epoch) of the last execution

    def record(
        self, rows: int, compute_us: float, succeeded: int, request_us: float, queue_us: float = 0.0
    ) -> None:
        """One execution of ``rows`` rows that answered ``succeeded`` requests (call with the
        batcher's lock held)."""
        self.exec_count += 1
        self.inference_count += rows
        self.compute_us += compute_us
        self.request_success += succeeded
        self.request_us += request_us
        self.queue_us += queue_us
        self.batch_histogram[rows] = self.batch_histogram.get(rows, 0) + 1
        self.batch_compute_us[rows] = self.batch_compute_us.get(rows, 0.0) + compute_us
        self.last_inference_ms = int(time.time() * 1000)


class DynamicBatcher:
    """Batches concurrent ``submit`` calls into executions of ``runner``."""

    def __init__(
        self,
        runner: BatchRunner,
        config: BatcherConfig,
        name: str = "model",
        run_one: Callable[[Any, int], Any] | None = None,
    ) -> None:
        self._runner = runner
        # Optional single-request runner, so the idle fast path skips list packing.
        self._run_one = run_one or (lambda payload, rows: runner([payload], rows)[0])
        self.config = config
        self.name = name
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._queue: deque[_Pending] = deque()
        self._queued_rows = 0
        self._busy = False
        self._closed = False
        self.stats = BatchStats()
        self._preferred = tuple(sorted(set(config.preferred_batch_sizes), reverse=True))
        # With a queue delay the leader must look for company even when the model is idle.
        self._cfg_delay = config.max_queue_delay_us > 0

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    def submit(
        self, payload: Any, rows: int, timeout_s: float | None = None, start: float | None = None
    ) -> tuple[Any, int]:
        """Run ``payload`` (``rows`` rows), batched with others; returns (result, batch rows).

        ``start`` is when the caller's request began (perf_counter), for the latency metrics.
        """
        cfg = self.config
        if rows > cfg.max_batch_size:
            raise ModelError(f"{rows} rows exceed max_batch_size {cfg.max_batch_size}")
        if start is None:
            start = time.perf_counter()
        if not cfg.enabled:
            return self._run_direct(payload, rows, start)
        lock = self._lock
        lock.acquire()
        if self._busy or self._queue or self._cfg_delay or self._closed:
            lock.release()
        else:
            # Fast path, inline on purpose (it is most of the in-process overhead): the model
            # is idle and nobody queued, so run in the caller's thread with no hand-off.
            self._busy = True
            lock.release()
            try:
                result = self._run_one(payload, rows)
            except BaseException:
                with lock:
                    self.stats.request_failure += 1
                    self._handoff_locked()
                raise
            elapsed_us = (time.perf_counter() - start) * 1e6
            with lock:
                self.stats.record(rows, elapsed_us, 1, elapsed_us)
                if self._queue or self._closed:
                    self._handoff_locked()
                else:
                    self._busy = False
            return result, rows
        deadline = start + (cfg.timeout_s if timeout_s is None else timeout_s)
        req = _Pending(payload, rows, start)
        with self._lock:
            if self._closed:
                raise ModelError(f"model {self.name} is shutting down")
            if len(self._queue) >= cfg.max_queue_size:
                self.stats.request_failure += 1
                raise RuntimeOverloadedError(
                    f"model {self.name}: queue full ({cfg.max_queue_size} requests waiting)",
                    retry_after_s=1.0,
                )
            self._queue.append(req)
            self._queued_rows += rows
            lead = not self._busy
            if lead:
                self._busy = True
            elif self._cfg_delay:
                self._cond.notify()  # a leader may be waiting for company
        if lead:
            self._lead(req)
        else:
            self._await(req, deadline)
        if req.error is not None:
            raise req.error
        return req.result, req.batch_rows

    def _await(self, req: _Pending, deadline: float) -> None:
        """Sleep until the request is done or this caller is asked to lead the next batch."""
        remaining = deadline - time.perf_counter()
        if not (remaining > 0 and req.signal.acquire(timeout=remaining)):
            with self._lock:
                if not req.taken and not req.lead and not req.done:
                    self._queue.remove(req)
                    self._queued_rows -= req.rows
                    self.stats.request_failure += 1
                    raise RequestTimeoutError(
                        f"model {self.name}: request waited longer than its timeout"
                    )
            req.signal.acquire()  # already running or just designated leader: it will come
        if req.lead and not req.done:
            req.lead = False
            self._lead(req)

    def _handoff_locked(self) -> None:
        """The leader is done: wake the head of the queue to lead, or go idle."""
        if self._queue:
            nxt = self._queue[0]
            nxt.lead = True
            nxt.signal.release()
        else:
            self._busy = False
            if self._closed:
                self._cond.notify_all()  # close() waits for idleness

    def _lead(self, me: _Pending) -> None:
        """Run batches from the head of the queue until ``me`` is done, then hand over."""
        while True:
            with self._lock:
                if self._cfg_delay:
                    self._wait_for_fill()
                batch = self._take()
            if batch:
                self._run_batch(batch, me)
            with self._lock:
                if me.done or not batch:
                    self._handoff_locked()
                    return

    def _run_batch(self, batch: list[_Pending], me: _Pending) -> None:
        rows = sum(r.rows for r in batch)
        t0 = time.perf_counter()
        error: BaseException | None = None
        results: list[Any] = []
        try:
            results = self._runner([r.payload for r in batch], rows)
            if len(results) != len(batch):
                error = ModelError(f"model {self.name}: runner returned wrong count")
        except BaseException as exc:  # every caller of the batch gets the error
            error = exc
        end = time.perf_counter()
        with self._lock:
            if error is None:
                starts = sum(r.enqueued for r in batch)
                self.stats.record(
                    rows,
                    (end - t0) * 1e6,
                    len(batch),
                    (end * len(batch) - starts) * 1e6,
                    (t0 * len(batch) - starts) * 1e6,
                )
            else:
                self.stats.record(rows, (end - t0) * 1e6, 0, 0.0)
                self.stats.request_failure += len(batch)
            for i, r in enumerate(batch):
                r.batch_rows = rows
                if error is None:
                    r.result = results[i]
                else:
                    r.error = error
                r.done = True
        for r in batch:
            if r is not me:
                r.signal.release()

    def _wait_for_fill(self) -> None:
        """Wait up to max_queue_delay for enough rows to make a preferred batch size."""
        delay = self.config.max_queue_delay_us / 1e6
        if delay <= 0 or not self._queue:
            return
        target = self._preferred[0] if self._preferred else self.config.max_batch_size
        until = self._queue[0].enqueued + delay
        while self._queued_rows < target and not self._closed:
            remaining = until - time.perf_counter()
            if remaining <= 0:
                break
            self._cond.wait(timeout=remaining)

    def _take(self) -> list[_Pending]:
        """Pop the next batch in arrival order: a preferred size if one can be formed."""
        limit = self.config.max_batch_size
        chosen: list[_Pending] = []
        rows = 0
        for req in self._queue:
            if rows + req.rows > limit:
                break
            chosen.append(req)
            rows += req.rows
        if self._preferred and rows not in self._preferred:
            # Trim to the largest preferred size reachable by a prefix of the queue.
            prefix, best = 0, 0
            for i, req in enumerate(chosen):
                prefix += req.rows
                if prefix in self._preferred:
                    best = i + 1
            if best:
                chosen = chosen[:best]
        for req in chosen:
            self._queue.popleft()
            req.taken = True
            self._queued_rows -= req.rows
        return chosen

    def close(self, drain: bool = True, timeout_s: float = 5.0) -> None:
        """Stop accepting requests; let queued ones finish (drain) or fail them now.

        Never hangs: after ``timeout_s`` of draining, whatever is still queued fails.
        """
        with self._cond:
            self._closed = True
            if drain:
                until = time.perf_counter() + timeout_s
                while (self._queue or self._busy) and time.perf_counter() < until:
                    self._cond.wait(timeout=max(0.0, until - time.perf_counter()))
            self._fail_queued_locked()
            self._cond.notify_all()

    def _fail_queued_locked(self) -> None:
        while self._queue:
            req = self._queue.popleft()
            req.error = ModelError(f"model {self.name} was unloaded")
            req.done = True
            self.stats.request_failure += 1
            req.signal.release()
        self._queued_rows = 0

    def _run_direct(self, payload: Any, rows: int, start: float) -> tuple[Any, int]:
        """Batching off: run in the caller's thread, concurrently with other callers."""
        if self._closed:
            raise ModelError(f"model {self.name} is shutting down")
        try:
            result = self._run_one(payload, rows)
        except BaseException:
            with self._lock:
                self.stats.request_failure += 1
            raise
        elapsed_us = (time.perf_counter() - start) * 1e6
        with self._lock:
            self.stats.record(rows, elapsed_us, 1, elapsed_us)
        return result, rows
