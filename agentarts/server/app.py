"""The FastAPI app of ``agentarts serve``: the AgentArts runtime contract, the runs API, the
operator console, with authentication on every route but ``/ping`` and the login page.
(This module imports FastAPI; ``agentarts.server`` loads it only when an app is built.)

Routes (all answers JSON; errors are 4xx with ``{"error": ...}``):

| route | role | what |
|---|---|---|
| GET /ping | none | ``{"status": "Healthy" \\| "HealthyBusy" \\| "Unhealthy"}`` |
| POST /invocations | operator | run the agent on the body (header below names the thread) |
| WS /ws | operator | the same over a WebSocket, with the run's events as they happen |
| POST /auth/login, /auth/logout, GET /auth/me | none / any | browser sessions |
| GET /runs, /runs/{id}, /runs/{id}/panels, /runs/{id}/export | viewer | runs |
| GET /runs/{id}/events, /events | viewer | server-sent events |
| POST /runs | operator | start a run (``{"input", "thread_id"?, "agent"?}``) |
| POST /runs/{id}/approve, /reject | approver | ``{"reason"}``: 202 once recorded, as the user |
| | | signed in (``?wait=true``: 200 after the run continued) |
| POST /runs/{id}/resume | operator | continue after a crash |
| POST /runs/{id}/confirm | approver | ``{"happened": bool, "reason"}``: an unknown actuation |
| GET /approvals, /alerts, /audit, /agents | viewer | pending requests, alerts and work orders, |
| GET /openapi.json | viewer | audit log (json/csv), served agents, the OpenAPI document |
| GET /users | admin | people and roles |

The session header is ``x-hw-agentarts-session-id``; the answer carries it back.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import io
import json
import logging
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from agentarts.errors import AgentArtsError, InvalidInputError
from agentarts.server.auth import (
    COOKIE,
    AuthMiddleware,
    CountRequests,
    ServerConfig,
    Unauthorized,
    authenticate,
    same_origin,
)
from agentarts.server.events import EventHub
from agentarts.server.limits import DbLoginLimiter
from agentarts.server.service import AgentService, Forbidden, Principal
from agentarts.server.users import UserStore

__all__ = ["create_app", "load_project_agents"]

log = logging.getLogger("agentarts.server")
SESSION_HEADER = "x-hw-agentarts-session-id"


def load_project_agents(project_dir: Path | None = None, refs: list[str] | None = None) -> Any:
    """(settings, agents) for the project at ``project_dir``: its ``[agent] ref`` unless
    ``refs`` are given; the project's ``src/`` and root become importable."""
    from agentarts.config import load_settings
    from agentarts.errors import UsageError
    from agentarts.graph.agent import Agent

    settings = load_settings(project_dir)
    if settings.project_root is not None:
        for folder in (settings.project_root / "src", settings.project_root):
            if folder.is_dir() and str(folder) not in sys.path:
                sys.path.insert(0, str(folder))
    refs = refs or ([settings.agent_ref] if settings.agent_ref else [])
    if not refs:
        raise UsageError(
            "no agent to serve: pass --agent REF or run inside a project whose agentarts.toml "
            "names [agent] ref"
        )
    from agentarts.tools.paths import PathPolicy

    agents = [Agent.from_ref(ref) for ref in refs]
    policy = PathPolicy.from_settings(settings)
    for agent in agents:  # remote callers name paths: keep them to the project's folders
        agent.paths = policy
    return settings, agents


def _who(request: Any) -> Principal:
    who = getattr(request.state, "principal", None)
    if who is None:  # the middleware always sets it on authenticated routes
        raise Unauthorized("not signed in")
    return who


def _reason(body: Any) -> str:
    if body is None:
        return ""
    if not isinstance(body, dict) or not isinstance(body.get("reason", ""), str):
        raise InvalidInputError('the body must be {"reason": "text"}')
    return body.get("reason", "")


async def _json_body(request: Any, default: Any = None) -> Any:
    raw = await request.body()
    if not raw.strip():
        return default
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"the body is not valid JSON: {exc}") from exc
    except RecursionError as exc:  # '[' * 100000 under the 1 MiB limit: was a bare 500
        raise InvalidInputError("the body's JSON is nested too deeply") from exc


def create_app(
    agents: list[Any],
    database_url: str,
    config: ServerConfig | None = None,
    industry: str | None = None,
) -> Any:
    """The server app for ``agents`` (``Agent`` objects), users in ``database_url``."""
    config = config or ServerConfig()
    users = UserStore(database_url, clock=config.clock)
    hub = EventHub()
    service = AgentService(
        agents,
        users,
        hub,
        four_eyes=config.four_eyes,
        industry=industry,
        resume_threads=config.resume_threads,
    )
    limiter = DbLoginLimiter(
        users, config.login_max_failures, config.login_window_s, config.clock
    )  # in the database: shared by every worker process

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> Any:
        if config.freeze_gc:
            # the agents, LangGraph, SQLAlchemy and FastAPI make a large heap of objects that
            # live as long as the server: move them out of the collector's way, so a full
            # collection during a burst walks only what the requests made (the burst
            # answer's p99 fell in three interleaved runs of three)
            gc.collect()
            gc.freeze()
        if config.background_resume:
            service.resumer.start()  # first resumes decisions a stopped server left
        yield
        if config.freeze_gc:
            gc.unfreeze()
        service.close()
        users.close()

    app = FastAPI(
        lifespan=lifespan,
        title="AgentArts agent server",
        description="AgentArts runtime contract, runs API and operator console.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.service, app.state.users, app.state.hub = service, users, hub
    app.state.config = config
    app.add_middleware(AuthMiddleware, users=users, config=config)
    app.add_middleware(CountRequests, service=service)
    static = Path(str(resources.files("agentarts.server").joinpath("static")))

    limiter_box: list[Any] = []

    async def agent_work(fn: Any, *args: Any) -> Any:
        """Run agent work on at most ``config.workers`` threads (more only queue on the GIL
        and the database's write lock); reads and sign-ins keep their own threads, so the
        console stays responsive while agents run."""
        import anyio
        import anyio.to_thread

        if not limiter_box:
            limiter_box.append(anyio.CapacityLimiter(config.workers))
        return await anyio.to_thread.run_sync(lambda: fn(*args), limiter=limiter_box[0])

    app.state.agent_work = agent_work

    # -- errors: always JSON, never a bare 500 ----------------------------------------------
    @app.exception_handler(AgentArtsError)
    async def _agentarts_error(request: Request, exc: AgentArtsError) -> Response:
        status = exc.http_status if exc.http_status < 500 else 503
        headers = {}
        if hasattr(exc, "retry_after_s"):
            headers["Retry-After"] = str(max(1, int(exc.retry_after_s)))
        return JSONResponse(
            {"error": str(exc), "type": type(exc).__name__}, status, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        # the documented shape {"error", "type"}, naming the field ("query.limit: ..."); the
        # validator's list stays in "detail" for programs
        where = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
            for e in exc.errors()
        )
        body = {"error": where or "invalid request", "type": "InvalidInputError"}
        return JSONResponse({**body, "detail": jsonable_encoder(exc.errors())}, 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        return JSONResponse({"error": str(exc.detail), "type": "HTTPException"}, exc.status_code)

    # -- Huawei AgentArts runtime contract ---------------------------------------------------
    health = {"checked": -1e9, "ok": True}

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        """Healthy / HealthyBusy / Unhealthy (the database is read at most every 2 s)."""
        if config.clock() - health["checked"] > 2.0:
            try:
                await run_in_threadpool(users.count)
                health["ok"] = True
            except Exception:
                health["ok"] = False
            health["checked"] = config.clock()
        if not health["ok"]:
            return {"status": "Unhealthy"}
        return {"status": "HealthyBusy" if service.active >= config.workers else "Healthy"}

    @app.post("/invocations")
    async def invocations(request: Request) -> Response:
        """Run the agent on the body. A body ``{"decision": {"approved": bool, "reason": str}}``
        answers the session's pending approval instead (as the signed-in user)."""
        who = _who(request)
        body = await _json_body(request, {})
        if not isinstance(body, dict):
            raise InvalidInputError("the body must be a JSON object (the agent's input)")
        session = request.headers.get(SESSION_HEADER) or None
        if session is not None and len(session) > 128:
            raise InvalidInputError(f"{SESSION_HEADER} is longer than 128 characters")
        if "decision" in body and (not session or not isinstance(body["decision"], dict)):
            raise InvalidInputError(
                f'a decision needs the {SESSION_HEADER} header and {{"approved": bool}}'
            )
        if session and "decision" in body:
            decision = body["decision"]
            approved = decision.get("approved")
            if not isinstance(approved, bool):
                raise InvalidInputError('decision needs "approved": true or false')
            out = await agent_work(service.decide, who, session, approved, _reason(decision))
        else:
            out = await agent_work(service.invoke, who, body, session)
        return JSONResponse(out, headers={SESSION_HEADER: out["thread_id"]})

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        from agentarts.server.wsproto import serve_socket

        scope = websocket.scope
        who = authenticate(scope, users, config)
        if who is None or (who.via == "session" and not same_origin(scope)):
            await websocket.close(code=1008)
            return
        await serve_socket(websocket, who, service, hub)

    # -- sessions ------------------------------------------------------------------------------
    @app.post("/auth/login")
    async def login(request: Request) -> Response:
        body = await _json_body(request, {})
        name, password = body.get("username"), body.get("password")
        if not isinstance(name, str) or not isinstance(password, str):
            raise InvalidInputError('send {"username": str, "password": str}')
        if len(name) > 64 or len(password) > 1024:  # names are at most 64 characters
            raise InvalidInputError("user name or password too long")
        client = request.client.host if request.client else "?"
        await run_in_threadpool(limiter.check, name, client)
        user = await run_in_threadpool(users.check_password, name, password)
        if user is None:
            await run_in_threadpool(limiter.failed, name, client)
            users.audit(name[:64], "", "login_failed", None, f"from {client}")
            raise Unauthorized("wrong user name or password")
        await run_in_threadpool(limiter.succeeded, name)
        sid, csrf = users.open_session(user["name"], config.session_lifetime_s)
        users.audit(user["name"], user["role"], "login", None, f"from {client}")
        response = JSONResponse({"user": user["name"], "role": user["role"], "csrf": csrf})
        response.set_cookie(
            COOKIE,
            sid,
            max_age=int(config.session_lifetime_s),
            httponly=True,
            samesite="strict",
            secure=config.cookie_secure or request.url.scheme == "https",
            path="/",
        )
        return response

    @app.post("/auth/logout")
    def logout(request: Request) -> Response:
        who = _who(request)
        sid = request.cookies.get(COOKIE)
        if sid:
            users.close_session(sid)
        users.audit(who.name, who.role, "logout")
        response = JSONResponse({"signed_out": who.name})
        response.delete_cookie(COOKIE, path="/")
        return response

    @app.get("/auth/me")
    def me(request: Request) -> dict[str, Any]:
        who = _who(request)
        return {
            "user": who.name,
            "role": who.role,
            "scope": who.scope,
            "via": who.via,
            "csrf": who.csrf,
            "four_eyes": config.four_eyes,
            "open_local": who.via == "local",
        }

    # -- runs --------------------------------------------------------------------------------
    @app.get("/agents")
    def list_agents() -> dict[str, Any]:
        return {
            "agents": [{"ref": r, "name": a.name} for r, a in service.agents.items()],
            "default": service.default_ref,
        }

    @app.get("/runs")
    def list_runs(limit: int = 100, status: str | None = None) -> dict[str, Any]:
        if not 1 <= limit <= 1000:
            raise InvalidInputError("limit must be between 1 and 1000")
        return {"runs": service.list_runs(limit, status)}

    @app.post("/runs")
    async def start_run(request: Request) -> Response:
        body = await _json_body(request, {})
        if not isinstance(body, dict) or not isinstance(body.get("input", {}), dict):
            raise InvalidInputError('send {"input": {...}, "thread_id"?: str, "agent"?: str}')
        thread = body.get("thread_id")
        if thread is not None and (not isinstance(thread, str) or not 0 < len(thread) <= 128):
            raise InvalidInputError("thread_id must be a string of 1-128 characters")
        out = await agent_work(
            service.invoke, _who(request), body.get("input", {}), thread, body.get("agent")
        )
        return JSONResponse(out)

    @app.get("/runs/{thread_id}")
    def show_run(thread_id: str) -> dict[str, Any]:
        return service.show(thread_id)

    @app.get("/runs/{thread_id}/panels")
    def run_panels(thread_id: str) -> dict[str, Any]:
        return {"thread_id": thread_id, "panels": service.panels(thread_id)}

    @app.get("/runs/{thread_id}/export")
    def export_run(thread_id: str) -> Response:
        record = service.show(thread_id)
        record["audit"] = users.audit_log(thread_id)
        return Response(
            json.dumps(record, indent=2, default=str) + "\n",
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="run-{thread_id}.json"'},
        )

    async def _decide(request: Request, thread_id: str, approved: bool) -> Response:
        """202 once the decision is recorded (the run continues in the background; watch
        ``/runs/{id}/events``); ``?wait=true``: 200 after the run has continued."""
        wait = request.query_params.get("wait", "false").lower()
        if wait not in ("true", "false", "1", "0"):
            raise InvalidInputError("wait must be true or false")
        reason = _reason(await _json_body(request, None))
        who = _who(request)
        if wait in ("true", "1") or not config.background_resume:
            out = await agent_work(service.decide, who, thread_id, approved, reason)
            return JSONResponse(out)
        if service.local_fast:  # two local SQLite statements: cheaper than a thread hop
            out = service.decide(who, thread_id, approved, reason, False)
        else:
            out = await run_in_threadpool(service.decide, who, thread_id, approved, reason, False)
        return JSONResponse(out, 202)

    @app.post("/runs/{thread_id}/approve")
    async def approve(thread_id: str, request: Request) -> Response:
        return await _decide(request, thread_id, True)

    @app.post("/runs/{thread_id}/reject")
    async def reject(thread_id: str, request: Request) -> Response:
        return await _decide(request, thread_id, False)

    @app.post("/runs/{thread_id}/confirm")
    async def confirm(thread_id: str, request: Request) -> Response:
        body = await _json_body(request, None)
        if not isinstance(body, dict) or not isinstance(body.get("happened"), bool):
            raise InvalidInputError('send {"happened": true|false, "reason": "text"}')
        out = await agent_work(
            service.confirm, _who(request), thread_id, body["happened"], _reason(body)
        )
        return JSONResponse(out)

    @app.post("/runs/{thread_id}/resume")
    async def resume(thread_id: str, request: Request) -> Response:
        return JSONResponse(await agent_work(service.resume, _who(request), thread_id))

    def _sse(
        thread_id: str | None, max_events: int | None, until: str | None, heartbeat_s: float
    ) -> Response:
        """Events as they happen; the stream ends after ``max_events`` events or the first
        event of kind ``until`` (for scripts), else when the client goes away."""

        async def stream() -> Any:
            sub = hub.subscribe(thread_id)
            sent = 0
            try:
                yield ": connected\n\n"
                while max_events is None or sent < max_events:
                    event = await sub.get(heartbeat_s)
                    if event is None:
                        yield ": keep-alive\n\n"
                        continue
                    yield f"event: {event['kind']}\ndata: {json.dumps(event, default=str)}\n\n"
                    sent += 1
                    if until is not None and event.get("kind") == until:
                        break
            finally:
                hub.unsubscribe(sub)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @app.get("/runs/{thread_id}/events")
    def run_events(
        thread_id: str, max_events: int | None = None, until: str | None = None
    ) -> Response:
        service.show(thread_id)  # 404 for an unknown thread
        return _sse(thread_id, max_events, until, 15.0)

    @app.get("/events")
    def all_events(max_events: int | None = None, until: str | None = None) -> Response:
        return _sse(None, max_events, until, 15.0)

    @app.get("/alerts")
    def alerts(limit: int = 200) -> dict[str, Any]:
        if not 1 <= limit <= 1000:
            raise InvalidInputError("limit must be between 1 and 1000")
        return service.alerts(limit)

    @app.get("/approvals")
    def approvals() -> dict[str, Any]:
        return {"pending": service.pending()}

    @app.get("/audit")
    def audit(format: str = "json", thread_id: str | None = None, limit: int = 500) -> Response:
        rows = users.audit_log(thread_id, max(1, min(limit, 10000)))
        if format == "csv":
            buf = io.StringIO()
            fields = ["id", "at", "user", "role", "action", "thread_id", "outcome", "detail"]
            writer = csv.DictWriter(buf, fieldnames=fields)
            writer.writeheader()
            for row in rows:
                writer.writerow({**row, "detail": json.dumps(row["detail"], default=str)})
            return Response(
                buf.getvalue(),
                media_type="text/csv",
                headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
            )
        if format != "json":
            raise InvalidInputError("format must be json or csv")
        return JSONResponse({"audit": rows})

    @app.get("/users")
    def list_users(request: Request) -> dict[str, Any]:
        who = _who(request)
        if not who.may("admin"):
            raise Forbidden("listing users needs the admin role")
        return {"users": users.list()}

    @app.get("/openapi.json")
    def openapi() -> dict[str, Any]:
        return app.openapi()

    # -- the console -------------------------------------------------------------------------
    @app.get("/")
    def index() -> Response:
        return FileResponse(static / "index.html", headers=_SECURITY_HEADERS)

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return FileResponse(static / "favicon.svg", media_type="image/svg+xml")

    @app.get("/static/{name}")
    def asset(name: str) -> Response:
        path = static / name
        if "/" in name or name.startswith(".") or not path.is_file():
            raise StarletteHTTPException(404, "no such file")
        return FileResponse(path, headers=_SECURITY_HEADERS)

    return app


#: The console loads nothing from elsewhere; frames and inline scripts are refused.
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
