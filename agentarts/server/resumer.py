"""Apply recorded decisions in the background: the approve endpoint answers once the signed
decision is durable, and a small pool of threads per server process resumes the graph.

Why: carrying out an approved step (the rest of the graph, the actuating tool, checkpoints)
costs tens of milliseconds of CPU; done inside the request, 100 approvals arriving together
queue for seconds. Recording the decision is one insert, so the person gets an answer at once
and watches the run complete on the events stream.

Nothing is lost and nothing runs twice:

- The decision row (``agentarts_approvals``, unique per interrupt, signed) is written before
  the answer; a second decision on the same request is refused by the database.
- ``Agent.resume`` applies a recorded, not yet applied decision (it checks its signature and
  that it names the digest of the proposal waiting) and marks it applied; the grant it yields
  is claimed once in the actuation ledger (``docs/actuation.md``), so two processes resuming
  the same thread still actuate once.
- :meth:`Resumer.scan` finds decisions recorded but not applied: at start-up (a server that
  died between the answer and the resume) and every ``scan_interval_s`` for decisions older
  than ``grace_s`` (another worker process died). Each (thread, interrupt) is tried once per
  process by the scan; a run that then fails shows as failed and is resumed by a person.

Priority: a worker waits while decisions are being accepted, so a burst of approvals is
acknowledged first and applied right after; no decision waits more than ``max_defer_s`` after
it was queued for that reason.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Resumer"]

log = logging.getLogger("agentarts.server")


class Resumer:
    """Background application of recorded decisions for one server process.

    Args:
        apply: ``apply(thread_id)`` resumes one thread (the service's ``apply_recorded``).
        unapplied: ``unapplied(min_age_s)`` lists ``(thread_id, interrupt_id)`` of decisions
            recorded at least ``min_age_s`` ago and not yet applied.
        busy: True while decisions are arriving (workers wait, at most ``max_defer_s``).
        threads: worker threads (bounded; resumes of one thread never overlap).
        max_queue: queued threads beyond this are left to the next scan.
    """

    def __init__(
        self,
        apply: Callable[[str], Any],
        unapplied: Callable[[float], list[tuple[str, str]]],
        busy: Callable[[], bool] = lambda: False,
        threads: int = 2,
        max_queue: int = 10_000,
        grace_s: float = 30.0,
        scan_interval_s: float = 30.0,
        max_defer_s: float = 2.0,
    ) -> None:
        self._apply = apply
        self._unapplied = unapplied
        self._busy = busy
        self._threads = max(1, threads)
        self._queue: queue.Queue[tuple[str, float] | None] = queue.Queue(max_queue)
        self._pending: set[str] = set()  # queued or being applied in this process
        self._scanned: set[tuple[str, str]] = set()  # tried once by a scan
        self._guard = threading.Lock()
        self._idle = threading.Condition(self._guard)
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self.grace_s = grace_s
        self.scan_interval_s = scan_interval_s
        self.max_defer_s = max_defer_s
        self.applied = 0
        self.failed = 0

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start the workers and the periodic scan; first resume what a previous process left."""
        if self._workers:
            return
        self._stop.clear()
        for i in range(self._threads):
            worker = threading.Thread(target=self._work, name=f"agentarts-resume-{i}", daemon=True)
            worker.start()
            self._workers.append(worker)
        self.scan(0.0)  # what a previous process answered but did not apply
        scanner = threading.Thread(target=self._scan_loop, name="agentarts-scan", daemon=True)
        scanner.start()
        self._workers.append(scanner)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Finish the resume in progress; what is still queued is found by the next start's
        scan (its decision is recorded)."""
        self._stop.set()
        for _ in range(self._threads):
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(None)
        deadline = time.monotonic() + timeout_s
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        self._workers.clear()

    # -- queueing ----------------------------------------------------------------------------
    def submit(self, thread_id: str) -> bool:
        """Queue ``thread_id`` for a resume; False if it is already queued here or the queue
        is full (the periodic scan picks it up later)."""
        with self._guard:
            if thread_id in self._pending:
                return False
            try:
                self._queue.put_nowait((thread_id, time.monotonic()))
            except queue.Full:
                log.warning("resume queue full: %s waits for the next scan", thread_id)
                return False
            self._pending.add(thread_id)
            return True

    def holds(self, thread_id: str) -> bool:
        """True while ``thread_id`` is queued or being resumed by this process."""
        with self._guard:
            return thread_id in self._pending

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Block until nothing is queued or running here (tests, shutdown); False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def scan(self, min_age_s: float) -> int:
        """Queue every thread with a decision recorded ``min_age_s`` ago or earlier and not
        applied, each (thread, interrupt) once per process. Returns how many were queued."""
        try:
            found = self._unapplied(min_age_s)
        except Exception:  # the database is away: the next scan tries again
            log.warning("scan for unapplied decisions failed", exc_info=True)
            return 0
        queued = 0
        for thread_id, interrupt_id in found:
            key = (thread_id, interrupt_id)
            with self._guard:
                if key in self._scanned:
                    continue
                self._scanned.add(key)
            queued += self.submit(thread_id)
        return queued

    # -- threads -----------------------------------------------------------------------------
    def _scan_loop(self) -> None:
        while not self._stop.wait(self.scan_interval_s):
            self.scan(self.grace_s)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            thread_id, queued_at = item
            # acknowledge the decisions arriving now, then apply; never later than
            # max_defer_s after this one was queued (a steady stream cannot starve it)
            deadline = queued_at + self.max_defer_s
            while self._busy() and time.monotonic() < deadline and not self._stop.is_set():
                time.sleep(0.02)
            try:
                self._apply(thread_id)
                self.applied += 1
            except Exception:  # recorded and audited by the service; a person can resume
                self.failed += 1
                log.warning("background resume of %s failed", thread_id, exc_info=True)
            finally:
                with self._idle:
                    self._pending.discard(thread_id)
                    self._idle.notify_all()
