"""The HTTP front end: KServe v2 / Open Inference Protocol over a ``LocalRuntime`` (FastAPI).

Routes (DESIGN.md 4.1): health, server and model metadata, model readiness, infer with JSON
tensors, Triton's ``POST /v2/repository/index`` and ``GET /metrics``. Every error is a JSON body
``{"error": "..."}`` with a 4xx status (429 with Retry-After on overload; 503/507 when a model
cannot be loaded); bad input never produces a 500 nor disturbs other callers' requests.
"""

# No `from __future__ import annotations`: FastAPI reads the route handlers' annotations
# at runtime, and their types are imported inside create_app to keep imports lazy.
import hmac
import ipaddress
import json
import logging
from typing import TYPE_CHECKING, Any

from agentarts._version import __version__
from agentarts.errors import (
    AgentArtsError,
    ConfigError,
    InvalidInputError,
    PayloadTooLargeError,
    RuntimeOverloadedError,
)

if TYPE_CHECKING:
    from fastapi import FastAPI

    from agentarts.runtime.local import LocalRuntime

__all__ = ["DEFAULT_MAX_BODY_BYTES", "create_app", "is_loopback", "serve"]

log = logging.getLogger("agentarts.runtime.server")
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _error(status: int, message: str, headers: "dict[str, str] | None" = None) -> Any:
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _from_exception(exc: AgentArtsError) -> Any:
    headers = None
    if isinstance(exc, RuntimeOverloadedError):
        headers = {"Retry-After": str(max(1, round(exc.retry_after_s)))}
    status = exc.http_status if 400 <= exc.http_status < 600 and exc.http_status != 500 else 503
    return _error(status, str(exc), headers)


class _ApiKeyGuard:
    """Pure ASGI middleware: every HTTP request must carry the API key (constant-time check)."""

    def __init__(self, app: Any, api_key: str) -> None:
        self.app = app
        self.key = api_key.encode()

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
        if hmac.compare_digest(given, self.key):
            await self.app(scope, receive, send)
            return
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


def create_app(
    runtime: "LocalRuntime",
    *,
    api_key: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> "FastAPI":
    """A FastAPI app serving ``runtime``. With ``api_key``, every request must carry it
    (``Authorization: Bearer KEY`` or ``X-API-Key: KEY``)."""
    from fastapi import FastAPI, Request
    from fastapi.responses import PlainTextResponse
    from starlette.concurrency import run_in_threadpool

    from agentarts.runtime.metrics import render_metrics
    from agentarts.runtime.tensors import decode_json_tensor, encode_json_tensor

    app = FastAPI(
        title="AgentArts inference runtime",
        version=__version__,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )

    if api_key is not None:
        app.add_middleware(_ApiKeyGuard, api_key=api_key)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Any:
        # A bug must not take the server down nor leak a traceback: log it, answer JSON.
        log.exception("unhandled error on %s", request.url.path)
        return _error(500, f"internal error: {type(exc).__name__}")

    @app.exception_handler(AgentArtsError)
    async def _agentarts_error(request: Request, exc: AgentArtsError) -> Any:
        return _from_exception(exc)

    @app.get("/v2/health/live")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready")
    async def ready() -> Any:
        ok = runtime.is_ready()
        return {"ready": True} if ok else _error(503, "runtime is not ready")

    @app.get("/v2")
    async def server_metadata() -> dict[str, Any]:
        return {
            "name": "agentarts",
            "version": __version__,
            "extensions": ["model_repository", "metrics", "agentarts_simulated_ascend"],
        }

    async def _metadata(model: str, version: str | None) -> Any:
        return await run_in_threadpool(runtime.model_metadata, model, version)

    @app.get("/v2/models/{model}")
    async def model_metadata(model: str) -> Any:
        return await _metadata(model, None)

    @app.get("/v2/models/{model}/versions/{version}")
    async def model_version_metadata(model: str, version: str) -> Any:
        return await _metadata(model, version)

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

    async def _read_body(request: Request) -> dict[str, Any]:
        if "inference-header-content-length" in request.headers:
            raise InvalidInputError(
                "the binary tensor data extension is not supported: send JSON tensors "
                "(tritonclient: binary_data=False)"
            )
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
            raise PayloadTooLargeError(f"request body of {declared} bytes exceeds {max_body_bytes}")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body_bytes:
                raise PayloadTooLargeError(f"request body exceeds {max_body_bytes} bytes")
            chunks.append(chunk)
        try:
            body = json.loads(b"".join(chunks) or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"malformed JSON body: {exc}") from exc
        if not isinstance(body, dict):
            raise InvalidInputError("the request body must be a JSON object")
        return body

    async def _infer(model: str, version: str | None, request: Request) -> Any:
        runtime.repository.resolve(model, version)
        body = await _read_body(request)
        raw_inputs = body.get("inputs")
        if not isinstance(raw_inputs, list) or not raw_inputs:
            raise InvalidInputError("'inputs' must be a non-empty list of tensors")
        inputs = dict(decode_json_tensor(t, f"inputs[{i}]") for i, t in enumerate(raw_inputs))
        if len(inputs) != len(raw_inputs):
            raise InvalidInputError("two inputs have the same name")
        wanted = body.get("outputs")
        names = None
        if wanted is not None:
            if not isinstance(wanted, list) or not all(
                isinstance(o, dict) and isinstance(o.get("name"), str) for o in wanted
            ):
                raise InvalidInputError("'outputs' must be a list of {\"name\": ...} objects")
            names = [o["name"] for o in wanted]
        params = body.get("parameters") or {}
        timeout = params.get("timeout_ms") if isinstance(params, dict) else None
        if timeout is not None and (not isinstance(timeout, int | float) or timeout <= 0):
            raise InvalidInputError("parameters.timeout_ms must be a positive number")
        result = await runtime.ainfer(
            model,
            inputs,
            version=version,
            outputs=names,
            timeout_s=None if timeout is None else timeout / 1000,
        )
        response: dict[str, Any] = {
            "model_name": result.model,
            "model_version": result.version,
            "outputs": [encode_json_tensor(k, v) for k, v in result.outputs.items()],
            "parameters": {
                "agentarts_host_time_us": round(result.host_time_us, 1),
                "agentarts_device_time_us": round(result.device_time_us, 3),
                "agentarts_batch_size": result.batch_size,
                "agentarts_device": result.device,
            },
        }
        if "id" in body:
            response["id"] = body["id"]
        return response

    @app.post("/v2/models/{model}/infer")
    async def infer(model: str, request: Request) -> Any:
        return await _infer(model, None, request)

    @app.post("/v2/models/{model}/versions/{version}/infer")
    async def infer_version(model: str, version: str, request: Request) -> Any:
        return await _infer(model, version, request)

    @app.post("/v2/repository/index")
    async def repository_index() -> list[dict[str, Any]]:
        return runtime.list_models()

    @app.get("/metrics")
    async def metrics() -> Any:
        return PlainTextResponse(render_metrics(runtime), media_type="text/plain; version=0.0.4")

    return app


def serve(
    runtime: "LocalRuntime",
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    api_key: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    log_level: str = "warning",
) -> None:
    """Run the server until interrupted. Binding beyond loopback requires an API key."""
    import uvicorn

    if not is_loopback(host) and not api_key:
        raise ConfigError(
            f"binding {host} exposes the runtime beyond this machine: set --api-key or "
            "AGENTARTS_API_KEY"
        )
    app = create_app(runtime, api_key=api_key, max_body_bytes=max_body_bytes)
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
    finally:
        runtime.close()
