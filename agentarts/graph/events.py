"""Structured run events: the CLI renders them, the store keeps them, OpenTelemetry spans them.

Kinds: run_start, step_start, step_end, tool_call, model_call, approval_requested, approval,
run_end. Nothing is sent anywhere by default: the OpenTelemetry subscriber only creates spans
on the tracer provider the application configured (with none configured, spans are no-ops).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EventBus", "RunEvent", "otel_subscriber"]


@dataclass(frozen=True)
class RunEvent:
    kind: str
    thread_id: str
    run_id: str
    node: str | None
    at: float
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "thread_id": self.thread_id,
            "run_id": self.run_id,
            "node": self.node,
            "at": self.at,
            **self.data,
        }


Subscriber = Callable[[RunEvent], None]


class EventBus:
    """Fan-out of run events to subscribers; a failing subscriber never breaks a run."""

    def __init__(self, subscribers: list[Subscriber] | None = None) -> None:
        self.subscribers = list(subscribers or [])
        self.errors: list[str] = []

    def emit(self, kind: str, run: Any, node: str | None = None, **data: Any) -> None:
        if not self.subscribers:
            return
        event = RunEvent(kind, run.thread_id, run.run_id, node, time.time(), data)
        for subscriber in self.subscribers:
            try:
                subscriber(event)
            except Exception as exc:  # observability must not change what the agent does
                self.errors.append(f"{getattr(subscriber, '__name__', subscriber)}: {exc}")


def otel_subscriber() -> Subscriber | None:
    """A subscriber turning runs and steps into OpenTelemetry spans, if the SDK is installed."""
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider  # noqa: F401 - the SDK is the switch
    except ImportError:
        return None
    tracer = trace.get_tracer("agentarts")
    open_spans: dict[tuple[str, str | None], Any] = {}

    def on_event(event: RunEvent) -> None:
        key = (event.run_id, event.node)
        attrs = {"agentarts.thread_id": event.thread_id, "agentarts.run_id": event.run_id}
        if event.kind == "run_start":
            open_spans[(event.run_id, None)] = tracer.start_span(
                f"run {event.data.get('agent', '')}".strip(), attributes=attrs
            )
        elif event.kind == "step_start":
            parent = open_spans.get((event.run_id, None))
            ctx = trace.set_span_in_context(parent) if parent is not None else None
            open_spans[key] = tracer.start_span(
                f"step {event.node}",
                context=ctx,
                attributes={**attrs, "agentarts.node": event.node or ""},
            )
        elif event.kind in ("step_end", "run_end"):
            span = open_spans.pop(key if event.kind == "step_end" else (event.run_id, None), None)
            if span is not None:
                for name, value in event.data.items():
                    if isinstance(value, str | int | float | bool):
                        span.set_attribute(f"agentarts.{name}", value)
                span.end()
        else:
            parent = open_spans.get((event.run_id, None))
            if parent is not None:
                parent.add_event(
                    event.kind,
                    {
                        k: v
                        for k, v in event.data.items()
                        if isinstance(v, str | int | float | bool)
                    },
                )

    return on_event
