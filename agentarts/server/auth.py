"""Who is asking, and may they: tokens, session cookies, CSRF, origins (sign-in limits: limits.py).

Every HTTP request passes :class:`AuthMiddleware` before any route (so a bad body or an unknown
path never answers before authentication does). Open without credentials: ``GET /ping``, the
console's login page and its static files, and ``POST /auth/login``.

- Machines send ``Authorization: Bearer TOKEN`` (``agentarts users token NAME``).
- Browsers hold an HttpOnly, SameSite=Strict session cookie; every state-changing request must
  also carry the session's CSRF token in ``X-CSRF-Token`` (the double-submit pattern of the
  OWASP CSRF cheat sheet, with the token bound to the server-side session).
- A request with an ``Origin`` header from another site is refused for any state change.
- With no users configured and a loopback bind, the server is *open* to this machine only
  (the local user acts as admin, and the ``Host`` header must be a loopback name, which stops
  DNS-rebinding pages); the CLI refuses a non-loopback bind until a user exists.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool

from agentarts.errors import AgentArtsError
from agentarts.server.service import Forbidden, Principal
from agentarts.server.users import UserStore

__all__ = [
    "COOKIE",
    "AuthMiddleware",
    "CountRequests",
    "ServerConfig",
    "TooManyRequests",
    "Unauthorized",
    "authenticate",
]

COOKIE = "agentarts_session"
CSRF_HEADER = "x-csrf-token"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]", "testserver"}
MAX_BODY = 1 << 20  # 1 MiB


class Unauthorized(AgentArtsError):
    """No valid token or session (HTTP 401)."""

    exit_code = 2
    http_status = 401


class TooManyRequests(AgentArtsError):
    """Too many failed logins; retry later (HTTP 429)."""

    http_status = 429

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass
class ServerConfig:
    """Security settings of one server."""

    session_lifetime_s: float = 12 * 3600.0  # a shift, then sign in again
    session_idle_s: float = 30 * 60.0
    four_eyes: bool = False
    open_local: bool = False  # no users and a loopback bind: this machine acts as admin
    cookie_secure: bool = False  # set the Secure flag (behind HTTPS)
    login_max_failures: int = 5
    login_window_s: float = 300.0
    workers: int = 8
    background_resume: bool = True  # approve/reject answer 202 and a worker resumes the run
    resume_threads: int = 2
    freeze_gc: bool = False  # gc.freeze() after start-up (the CLI's server process sets it)
    clock: Callable[[], float] = time.time


def _header(scope: dict[str, Any], name: str) -> str | None:
    raw = name.encode()
    for key, value in scope.get("headers", ()):
        if key == raw:
            return value.decode("latin-1")
    return None


def _cookie(scope: dict[str, Any], name: str) -> str | None:
    from http.cookies import SimpleCookie

    text = _header(scope, "cookie")
    if not text:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(text)
    except Exception:  # a malformed cookie header is no session
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None


def _host_name(host: str) -> str:
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def same_origin(scope: dict[str, Any]) -> bool:
    """True if the request has no Origin header or one naming this server's own host."""
    origin = _header(scope, "origin")
    if origin is None:
        return True
    host = _header(scope, "host") or ""
    return origin.split("://", 1)[-1].rstrip("/") == host


def authenticate(scope: dict[str, Any], users: UserStore, config: ServerConfig) -> Principal | None:
    """The principal of a request or WebSocket, or None."""
    auth = _header(scope, "authorization")
    if auth:
        kind, _, token = auth.partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            return None
        user = users.user_for_token(token.strip())
        return None if user is None else Principal(user["name"], user["role"], user["scope"])
    sid = _cookie(scope, COOKIE)
    if sid:
        found = users.session(sid, config.session_idle_s)
        if found is not None:
            user, csrf = found
            return Principal(user["name"], user["role"], user["scope"], "session", csrf)
    if config.open_local:
        host = _host_name(_header(scope, "host") or "")
        if host in LOOPBACK_NAMES:
            return Principal("local", "admin", "*", "local")
    return None


def _open_path(method: str, path: str) -> bool:
    if path == "/ping" and method in ("GET", "HEAD"):
        return True
    if path in ("/", "/favicon.ico") or path.startswith("/static/"):
        return method in ("GET", "HEAD")
    return path == "/auth/login" and method == "POST"


class AuthMiddleware:
    """ASGI middleware: body limit, origin check, authentication and CSRF for every request."""

    def __init__(self, app: Any, users: UserStore, config: ServerConfig) -> None:
        self.app = app
        self.users = users
        self.config = config

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)  # WebSockets authenticate in their route
            return
        method, path = scope["method"], scope["path"]
        length = _header(scope, "content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            await _send_json(send, 413, {"error": f"request body over {MAX_BODY} bytes"})
            return
        if method in UNSAFE and not same_origin(scope):
            await _send_json(send, 403, {"error": "cross-origin request refused"})
            return
        if not _open_path(method, path):
            if self.users._raw is not None and _header(scope, "authorization"):
                who = authenticate(scope, self.users, self.config)  # one ~50 us local read
            else:
                # the database read runs on a worker thread: a blocking call on the event
                # loop thread would wait for the GIL behind every busy agent thread
                who = await run_in_threadpool(authenticate, scope, self.users, self.config)
            if who is None:
                await _send_json(
                    send,
                    401,
                    {"error": "sign in, or send Authorization: Bearer TOKEN"},
                    [(b"www-authenticate", b"Bearer")],
                )
                return
            if method in UNSAFE and who.via == "session":
                sent = _header(scope, CSRF_HEADER) or ""
                if not who.csrf or not hmac.compare_digest(sent, who.csrf):
                    await _send_json(send, 403, {"error": "missing or wrong CSRF token"})
                    return
            scope.setdefault("state", {})["principal"] = who
        await self.app(scope, receive, send)


async def _send_json(
    send: Any, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] = ()
) -> None:  # type: ignore[assignment]
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


__all__ += ["Forbidden", "same_origin"]


class CountRequests:
    """ASGI middleware: counts state-changing requests in progress, so the background resume
    worker lets a burst of decisions be acknowledged before it takes the CPU."""

    def __init__(self, app: Any, service: Any) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        self.service.requests += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.service.requests -= 1
            self.service.last_request = time.monotonic()
