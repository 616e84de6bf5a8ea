"""``WS /ws``: the AgentArts runtime's WebSocket, carrying runs and their live events.

The session (thread) is named by the ``x-hw-agentarts-session-id`` header at connect time (or
the ``session_id`` query parameter, since browsers cannot set WebSocket headers); without one
the server makes a new thread. Messages are JSON objects.

Client to server:
- any object: the agent's input, like the body of ``POST /invocations``
  (``{"input": {...}}`` is unwrapped);
- ``{"decision": {"approved": bool, "reason": str}}``: answer the session's pending approval;
- ``{"status": true}``: ask where the session stands.

Server to client: ``{"type": "session", "session_id"}`` first; then, for each request,
``{"type": "event", ...}`` for every run event on the session as it happens, and one
``{"type": "result", ...}`` shaped like ``POST /invocations``' answer, or
``{"type": "error", "status": int, "error": str}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any

from agentarts.errors import AgentArtsError, InvalidInputError
from agentarts.server.events import EventHub

__all__ = ["serve_socket"]


def _call_for(message: Any, who: Any, service: Any, session: str) -> Any:
    if not isinstance(message, dict):
        raise InvalidInputError("each message must be a JSON object")
    if isinstance(message.get("decision"), dict):
        decision = message["decision"]
        approved = decision.get("approved")
        reason = decision.get("reason", "")
        if not isinstance(approved, bool) or not isinstance(reason, str):
            raise InvalidInputError('decision needs "approved": bool and "reason": str')
        return lambda: service.decide(who, session, approved, reason)
    if message.get("status") is True:
        return lambda: service.show(session)
    payload = message.get("input", message) if set(message) == {"input"} else message
    if not isinstance(payload, dict):
        raise InvalidInputError('"input" must be a JSON object')
    return lambda: service.invoke(who, payload, session)


async def serve_socket(websocket: Any, who: Any, service: Any, hub: EventHub) -> None:
    """Serve one authenticated WebSocket until the client closes it."""
    from starlette.websockets import WebSocketDisconnect

    session = (
        websocket.headers.get("x-hw-agentarts-session-id")
        or websocket.query_params.get("session_id")
        or uuid.uuid4().hex[:12]
    )
    if len(session) > 128:
        await websocket.close(code=1008)
        return
    await websocket.accept()
    sub = hub.subscribe(session)

    async def forward() -> None:
        while True:
            event = await sub.get(3600)
            if event is not None:
                await websocket.send_json({"type": "event", **event})

    forwarder = asyncio.create_task(forward())
    try:
        await websocket.send_json({"type": "session", "session_id": session, "user": who.name})
        while True:
            text = await websocket.receive_text()
            try:
                call = _call_for(json.loads(text), who, service, session)
                result = await websocket.app.state.agent_work(call)
                await asyncio.sleep(0)  # let the forwarder flush the run's last events first
                await websocket.send_json({"type": "result", **result})
            except json.JSONDecodeError as exc:
                await websocket.send_json({"type": "error", "status": 400, "error": str(exc)})
            except RecursionError:  # a message nested too deeply for the parser
                error = "the message's JSON is nested too deeply"
                await websocket.send_json({"type": "error", "status": 400, "error": error})
            except AgentArtsError as exc:
                status = exc.http_status if exc.http_status < 500 else 503
                await websocket.send_json({"type": "error", "status": status, "error": str(exc)})
    except WebSocketDisconnect:
        pass
    finally:
        forwarder.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await forwarder
        hub.unsubscribe(sub)
