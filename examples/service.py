"""An enterprise service embedding an AgentArts agent (FastAPI).

Routes for the plant's own applications (start a run, look at it, approve or reject), plus
Huawei Cloud AgentArts' runtime contract (docs/architecture.md, "AgentArts runtime contract":
``POST /invocations``, ``GET /ping``, session id in ``x-hw-agentarts-session-id``), so the same
agent can move to that hosted platform. Huawei's client (``agentarts invoke --mode local``)
treats any JSON object with an ``"error"`` key as a failure, so a successful invocation answers
without that key; a failed run carries it with the reason.

The run database defaults to ``examples/.agentarts/examples.db`` beside this file (never the home
directory); ``AGENTARTS_DATABASE_URL`` or ``create_app(database_url)`` choose another.

    uvicorn examples.service:app --port 8080
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel

from agentarts import AgentArtsError
from examples.tank_agent.agent import make_agent


def invocation_body(result: dict[str, Any]) -> dict[str, Any]:
    """A run result in the shape Huawei's runtime client accepts: ``error`` only on failure."""
    if result.get("error") is None:
        return {k: v for k, v in result.items() if k != "error"}
    return result


class Decision(BaseModel):
    by: str
    reason: str = ""


def create_app(database_url: str | None = None) -> FastAPI:
    agent = make_agent(database_url)
    app = FastAPI(title="Tank agent service")

    def guarded(call: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return call(*args, **kwargs).as_dict()
        except AgentArtsError as exc:
            raise HTTPException(status_code=exc.http_status, detail=str(exc)) from exc

    @app.post("/runs")
    def start(body: dict[str, Any]) -> dict[str, Any]:
        return guarded(agent.run, body)

    @app.get("/runs/{thread_id}")
    def status(thread_id: str) -> dict[str, Any]:
        return guarded(agent.status, thread_id)

    @app.post("/runs/{thread_id}/approve")
    def approve(thread_id: str, decision: Decision) -> dict[str, Any]:
        return guarded(agent.approve, thread_id, by=decision.by, reason=decision.reason)

    @app.post("/runs/{thread_id}/reject")
    def reject(thread_id: str, decision: Decision) -> dict[str, Any]:
        return guarded(agent.reject, thread_id, reason=decision.reason, by=decision.by)

    @app.get("/runs/{thread_id}/audit")
    def audit(thread_id: str) -> dict[str, Any]:
        return agent.store.thread(thread_id)

    # -- the AgentArts runtime contract ---------------------------------------------------
    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"status": "Healthy"}

    @app.post("/invocations")
    def invocations(
        body: dict[str, Any], x_hw_agentarts_session_id: str | None = Header(None)
    ) -> dict[str, Any]:
        """A payload with ``decision`` answers the session's pending approval; any other
        payload starts a run on the session."""
        session = x_hw_agentarts_session_id
        if session and "decision" in body:
            d = body["decision"]
            if not isinstance(d, dict):
                raise HTTPException(status_code=400, detail="decision must be a JSON object")
            if d.get("approved"):
                return invocation_body(
                    guarded(
                        agent.approve,
                        session,
                        by=d.get("by", "operator"),
                        reason=d.get("reason", ""),
                    )
                )
            return invocation_body(
                guarded(
                    agent.reject,
                    session,
                    reason=d.get("reason", "rejected"),
                    by=d.get("by", "operator"),
                )
            )
        return invocation_body(guarded(agent.run, body, thread_id=session))

    return app


app = create_app()
