"""Fan-out of run events from agent worker threads to server-sent-event and WebSocket clients.

Agents emit :class:`~agentarts.graph.events.RunEvent` objects on whatever thread runs them;
each subscriber is an ``asyncio.Queue`` bound to the event loop that serves its connection, fed
through ``call_soon_threadsafe``. A slow client never slows a run: its queue is bounded and,
when full, the oldest event is dropped and the client is told how many it missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EventHub", "Subscription"]


@dataclass(eq=False)
class Subscription:
    """One client's queue of events (all threads, or one)."""

    loop: asyncio.AbstractEventLoop
    thread_id: str | None
    queue: asyncio.Queue[dict[str, Any]] = field(
        default_factory=lambda: asyncio.Queue(maxsize=1000)
    )
    dropped: int = 0

    def _put(self, event: dict[str, Any]) -> None:
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    async def get(self, timeout: float) -> dict[str, Any] | None:
        """The next event, or None after ``timeout`` seconds without one."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None


class EventHub:
    """Thread-safe publish; async subscribe."""

    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self._lock = threading.Lock()
        self.published = 0

    def subscribe(self, thread_id: str | None = None) -> Subscription:
        sub = Subscription(asyncio.get_running_loop(), thread_id)
        with self._lock:
            self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def publish(self, event: dict[str, Any]) -> None:
        """Deliver ``event`` (a dict with ``thread_id``) to every matching subscriber."""
        self.published += 1
        with self._lock:
            targets = [s for s in self._subs if s.thread_id in (None, event.get("thread_id"))]
        for sub in targets:
            with contextlib.suppress(RuntimeError):  # the loop closed: the client is gone
                sub.loop.call_soon_threadsafe(sub._put, event)

    def on_run_event(self, event: Any) -> None:
        """An agent ``EventBus`` subscriber: forwards a RunEvent as a JSON-ready dict."""
        import json

        from agentarts.store.store import dumps

        self.publish(json.loads(dumps(event.as_dict())))
