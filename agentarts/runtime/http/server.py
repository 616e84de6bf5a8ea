"""The HTTP front end: KServe v2 / Open Inference Protocol over a ``LocalRuntime`` (FastAPI).

Routes (docs/runtime.md): health, server and model metadata, model readiness, infer with JSON
tensors or Triton's binary tensor data extension, Triton's model configuration and statistics,
``POST /v2/repository/index`` and ``GET /metrics``. Every error is a JSON body
``{"error": "..."}`` with a 4xx status (429 with Retry-After on overload; 503/507 when a model
cannot be loaded); bad input never produces a 500 nor disturbs other callers' requests.

Infer requests are served by ``infer.InferEndpoint``, plain ASGI in front of FastAPI: admitted
from their path and headers before their body is read, big JSON decoded in a helper process.
"""

# No `from __future__ import annotations`: FastAPI reads the route handlers' annotations
# at runtime, and their types are imported inside create_app to keep imports lazy.
import asyncio
import contextlib
import functools
import ipaddress
import logging
import os
from typing import TYPE_CHECKING, Any

from agentarts._version import __version__
from agentarts.errors import (
    AgentArtsError,
    ConfigError,
    RuntimeOverloadedError,
)
from agentarts.runtime.batching.admission import DEFAULT_MAX_INFLIGHT_BYTES, Admission
from agentarts.runtime.kserve.status import check_api_key, error_status

if TYPE_CHECKING:
    from fastapi import FastAPI

    from agentarts.runtime.local import LocalRuntime

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "create_app",
    "default_backlog",
    "is_loopback",
    "serve",
    "tune_gc",
]

log = logging.getLogger("agentarts.runtime.http.server")
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024


GRACEFUL_SHUTDOWN_S = 10  # answers in flight get this long when the server stops


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def default_backlog(path: str = "/proc/sys/net/core/somaxconn") -> int:
    """The listen backlog ``serve`` asks for by default: ``AGENTARTS_RUNTIME_BACKLOG`` when
    set, else the kernel's limit (``net.core.somaxconn``, 4096 on Linux >= 5.4), else
    uvicorn's 2048.

    The backlog is the queue of connections the kernel has completed but the server has not
    accepted yet. When it is full, Linux drops the client's final handshake ACK; the client
    believes it is connected and sends its request, and the server's SYN-ACK is retransmitted
    after 1, 2, 4, 8 s... so that request waits seconds before the server even sees it.
    Measured with 2,560 wrk connections opened at once against uvicorn's default of 2048:
    848 listen overflows, 115 requests over wrk's 10 s timeout, p99 4,970 ms (docs/runtime.md).
    The kernel caps any larger value at somaxconn, so asking for it costs nothing more."""
    given = os.environ.get("AGENTARTS_RUNTIME_BACKLOG", "").strip()
    if given:
        if not given.isdigit() or int(given) < 1:
            raise ConfigError(f"AGENTARTS_RUNTIME_BACKLOG={given!r}: give a whole number >= 1")
        return int(given)
    try:
        with open(path) as handle:
            value = int(handle.read().strip())
    except (OSError, ValueError):
        return 2048
    return max(1, min(value, 65535))


def _error(status: int, message: str, headers: "dict[str, str] | None" = None) -> Any:
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _from_exception(exc: AgentArtsError) -> Any:
    headers = None
    if isinstance(exc, RuntimeOverloadedError):
        headers = {"Retry-After": str(max(1, round(exc.retry_after_s)))}
    return _error(error_status(exc), str(exc), headers)


class _ApiKeyGuard:
    """Pure ASGI middleware: every HTTP request must carry the API key (constant-time check)."""

    def __init__(self, app: Any, api_key: str, errors: dict[int, int]) -> None:
        self.app = app
        self.key = api_key.encode()
        self.errors = errors

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = b""
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                given = value.strip()
            elif name == b"authorization" and value[:7].lower() == b"bearer " and not given:
                given = value[7:].strip()
        if check_api_key(given, self.key):
            await self.app(scope, receive, send)
            return
        self.errors[401] = self.errors.get(401, 0) + 1
        body = b'{"error": "missing or wrong API key"}'
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


_FRONT_CLASSES: dict[type, type] = {}


def _front_app_class(base: type) -> type:
    """A FastAPI subclass whose HTTP requests enter through ``app.state.front`` (the API key
    guard and the infer endpoint), which hands everything else back to FastAPI itself."""
    if base not in _FRONT_CLASSES:

        async def __call__(self: Any, scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                await self.state.front(scope, receive, send)
            else:
                await base.__call__(self, scope, receive, send)

        _FRONT_CLASSES[base] = type("AgentArtsRuntimeApp", (base,), {"__call__": __call__})
    return _FRONT_CLASSES[base]


def tune_gc() -> None:
    """Fewer, cheaper garbage collections while serving.

    Measured on the 10 us MLP under wrk: with CPython's default thresholds the collector ran
    ~200 times a second for ~0.7 ms each (the imported libraries are a large heap to scan), 15 %
    of the server's CPU. ``gc.freeze`` moves what startup allocated out of the collector's
    sight; a higher first threshold makes young collections rarer. Request objects are freed by
    reference counting; the collector only reclaims cycles (exceptions with tracebacks)."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def create_app(
    runtime: "LocalRuntime",
    *,
    api_key: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_inflight_bytes: int = DEFAULT_MAX_INFLIGHT_BYTES,
    admission: Admission | None = None,
) -> "FastAPI":
    """A FastAPI app serving ``runtime``. With ``api_key``, every request must carry it
    (``Authorization: Bearer KEY`` or ``X-API-Key: KEY``)."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import PlainTextResponse
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException

    from agentarts.runtime.http.fastpath import FastInfer
    from agentarts.runtime.http.infer import InferEndpoint
    from agentarts.runtime.http.metrics import render_metrics
    from agentarts.runtime.http.offload import DecodePool
    from agentarts.runtime.kserve.messages import model_config, model_stats
    from agentarts.runtime.kserve.openapi import INFER_OPENAPI, add_schemas

    if api_key is not None and not api_key:
        raise ConfigError("the API key is empty: give a non-empty key or none")
    decoder = DecodePool()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        yield
        decoder.shutdown()

    app = _front_app_class(FastAPI)(
        title="AgentArts inference runtime",
        version=__version__,
        docs_url="/docs",
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    errors: dict[int, int] = {}  # HTTP status -> error answers sent (the /metrics counter)
    admission = admission or Admission(max_inflight_bytes)
    app.state.admission = admission
    app.state.http_errors = errors
    add_schemas(app)

    # In front of FastAPI itself (not a FastAPI middleware): infer requests skip FastAPI's
    # per-request telemetry check (~36 us) and middleware stack. The key is checked first.
    front_endpoint = InferEndpoint(
        functools.partial(FastAPI.__call__, app),
        runtime=runtime,
        admission=admission,
        decoder=decoder,
        errors=errors,
        max_body_bytes=max_body_bytes,
    )
    front: Any = front_endpoint
    if api_key is not None:
        front = _ApiKeyGuard(front, api_key=api_key, errors=errors)
    app.state.front = front
    # The same endpoint answered inside the HTTP protocol, without an ASGI request cycle
    # (``fastpath``; ``serve`` installs it when uvicorn runs on httptools).
    app.state.fast = FastInfer(front_endpoint, api_key)

    def _count(status: int) -> None:
        errors[status] = errors.get(status, 0) + 1

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Any:
        # A bug must not take the server down nor leak a traceback: log it, answer JSON.
        log.exception("unhandled error on %s", request.url.path)
        _count(500)
        return _error(500, f"internal error: {type(exc).__name__}")

    @app.exception_handler(AgentArtsError)
    async def _agentarts_error(request: Request, exc: AgentArtsError) -> Any:
        _count(error_status(exc))
        return _from_exception(exc)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Any:
        _count(exc.status_code)
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Any:
        _count(422)
        return _error(422, f"invalid request: {exc.errors()!s:.500}")

    @app.get("/v2/health/live")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready")
    async def ready() -> Any:
        ok = runtime.is_ready()
        return {"ready": True} if ok else _error(503, "runtime is not ready")

    worker = os.environ.get("AGENTARTS_WORKER")  # set in --workers processes

    @app.get("/v2")
    async def server_metadata() -> dict[str, Any]:
        return {
            **({"agentarts_worker": int(worker)} if worker and worker.isdigit() else {}),
            "name": "agentarts",
            "version": __version__,
            "extensions": [
                "model_repository",
                "metrics",
                "binary_tensor_data",
                "model_configuration",
                "statistics",
                "agentarts_simulated_ascend",
            ],
        }

    @app.get("/v2/models/stats")
    async def all_stats() -> dict[str, Any]:
        return {"model_stats": [model_stats(lm) for lm in runtime.loaded()]}

    async def _metadata(model: str, version: str | None) -> Any:
        return await run_in_threadpool(runtime.model_metadata, model, version)

    @app.get("/v2/models/{model}")
    async def model_metadata(model: str) -> Any:
        return await _metadata(model, None)

    @app.get("/v2/models/{model}/versions/{version}")
    async def model_version_metadata(model: str, version: str) -> Any:
        return await _metadata(model, version)

    async def _config(model: str, version: str | None) -> Any:
        return model_config(await run_in_threadpool(runtime.load, model, version))

    @app.get("/v2/models/{model}/config")
    async def config(model: str) -> Any:
        return await _config(model, None)

    @app.get("/v2/models/{model}/versions/{version}/config")
    async def config_version(model: str, version: str) -> Any:
        return await _config(model, version)

    async def _stats(model: str, version: str | None) -> Any:
        entry, resolved, _ = runtime.repository.resolve(model, version)  # 404 if unknown
        loaded = [lm for lm in runtime.loaded() if lm.name == entry.name]
        if version is not None:
            loaded = [lm for lm in loaded if lm.version == resolved]
        return {"model_stats": [model_stats(lm) for lm in loaded]}

    @app.get("/v2/models/{model}/stats")
    async def stats(model: str) -> Any:
        return await _stats(model, None)

    @app.get("/v2/models/{model}/versions/{version}/stats")
    async def stats_version(model: str, version: str) -> Any:
        return await _stats(model, version)

    async def _ready(model: str, version: str | None) -> Any:
        runtime.repository.resolve(model, version)  # 404 for unknown model or version
        ok = await run_in_threadpool(runtime.is_ready, model, version)
        if not ok:
            return _error(400, f"model {model} is not ready")
        return {"name": model, "ready": True}

    @app.get("/v2/models/{model}/ready")
    async def model_ready(model: str) -> Any:
        return await _ready(model, None)

    @app.get("/v2/models/{model}/versions/{version}/ready")
    async def model_version_ready(model: str, version: str) -> Any:
        return await _ready(model, version)

    # Served by InferEndpoint before routing; declared here for the OpenAPI schema only.
    @app.post("/v2/models/{model}/infer", openapi_extra=INFER_OPENAPI)
    async def infer(model: str) -> Any:
        return _error(404, "infer requests are served by the infer endpoint")

    @app.post("/v2/models/{model}/versions/{version}/infer", openapi_extra=INFER_OPENAPI)
    async def infer_version(model: str, version: str) -> Any:
        return _error(404, "infer requests are served by the infer endpoint")

    @app.post("/v2/repository/index")
    async def repository_index() -> list[dict[str, Any]]:
        return runtime.list_models()

    @app.get("/metrics")
    async def metrics() -> Any:
        return PlainTextResponse(
            render_metrics(
                runtime,
                http_errors=errors,
                admission=admission,
                fast_requests=app.state.fast.requests,
            ),
            media_type="text/plain; version=0.0.4",
        )

    return app


def _event_loop_factory() -> Any:
    """uvloop's loop when installed (uvicorn's standard extras), accepting every waiting
    connection at once (``accept.AcceptingLoop``), else asyncio's."""
    from agentarts.runtime.http.accept import accepting_loop_factory

    return accepting_loop_factory() or asyncio.new_event_loop


def protocol_class(app: Any) -> type:
    """uvicorn's "auto" HTTP protocol writing each answer in one ``write`` (``coalesce``), with
    the infer fast path (``fastpath``) when it runs on httptools and the fast path is on."""
    from agentarts.runtime.http import fastpath
    from agentarts.runtime.http.coalesce import coalescing_protocol_class

    base = coalescing_protocol_class()
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # no httptools: uvicorn runs on h11
        return base
    if not issubclass(base, HttpToolsProtocol) or not fastpath.enabled():
        return base
    return fastpath.fast_protocol_class(base, app.state.fast)


def serve(
    runtime: "LocalRuntime",
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    api_key: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    log_level: str = "warning",
    grpc_port: int | None = None,
    sockets: "list[Any] | None" = None,
    backlog: int | None = None,
) -> None:
    """Run the server until interrupted; with ``grpc_port`` the KServe v2 gRPC service runs
    beside HTTP on the same event loop (one batcher per model for both). Binding beyond
    loopback requires an API key. ``sockets``: listen on these instead (``workers``).
    ``backlog``: the listen backlog (default ``default_backlog()``, the kernel's limit)."""
    import uvicorn

    if api_key is not None and not api_key:
        raise ConfigError("the API key is empty: give a non-empty key or none")
    if backlog is not None and backlog < 1:
        raise ConfigError(f"the listen backlog must be at least 1 (got {backlog})")
    if not is_loopback(host) and not api_key:
        raise ConfigError(
            f"binding {host} exposes the runtime beyond this machine: set --api-key or "
            "AGENTARTS_API_KEY"
        )
    app = create_app(runtime, api_key=api_key, max_body_bytes=max_body_bytes)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        http=protocol_class(app),
        # a client stalled mid-request must not keep the server from stopping
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        loop="none",
        backlog=backlog or default_backlog(),
    )
    server = uvicorn.Server(config)
    tune_gc()

    async def main() -> None:
        grpc_server = None
        if grpc_port is not None:
            from agentarts.runtime.grpc.server import start_grpc

            grpc_server, _ = await start_grpc(
                runtime,
                host,
                grpc_port,
                api_key=api_key,
                max_message_bytes=max_body_bytes,
                admission=app.state.admission,
            )
        try:
            await server.serve(sockets=sockets)
        finally:
            if grpc_server is not None:
                await grpc_server.stop(1.0)

    try:
        with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
            runner.run(main())
    finally:
        runtime.close()
