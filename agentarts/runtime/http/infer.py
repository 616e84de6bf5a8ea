"""The infer endpoint, served as plain ASGI in front of FastAPI.

``POST /v2/models/{m}[/versions/{v}]/infer`` is the one hot route, and FastAPI's routing (a
pattern match per registered route) and dependency solving cost more per request than the
runtime's own work on a small model (measured: ~0.4 ms of dependency solving per request under
cProfile). So this middleware answers infer requests itself, in this order:

1. the model is looked up from the path (loaded on first use, on a thread);
2. admission (``batching.admission``), from ``Content-Length`` alone, before a byte of the
   body is read: at once when the model has a free slot, else after waiting unread in line, or
   429 with Retry-After when it could not be served within the model's timeout; then
   Content-Type (415) and the size limit (413);
3. the body is read, inflated (gzip/deflate) and decoded (JSON or binary tensors; JSON over
   ``OFFLOAD_BYTES`` in a helper process: ``offload.DecodePool``);
4. ``LocalRuntime.ainfer`` (the per-model asyncio batcher), then the answer is encoded.

Any other request goes on to the FastAPI app (whose infer routes exist for the OpenAPI schema).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import zlib
from collections.abc import Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any

from agentarts.errors import (
    AgentArtsError,
    InvalidInputError,
    PayloadTooLargeError,
    RuntimeOverloadedError,
)
from agentarts.runtime.kserve.messages import decode_request, encode_response, parse_header_length
from agentarts.runtime.kserve.status import error_status

if TYPE_CHECKING:
    from agentarts.runtime.batching.admission import Admission
    from agentarts.runtime.http.offload import DecodePool
    from agentarts.runtime.local import LocalRuntime

__all__ = [
    "OFFLOAD_BYTES",
    "STOPPING",
    "InferEndpoint",
    "UnsupportedMediaError",
    "check_content_type",
    "retry_headers",
]

log = logging.getLogger("agentarts.runtime.http")
OFFLOAD_BYTES = 256 * 1024  # JSON above this is decoded off the event loop
STOPPING = "the server is stopping: this request was not served; send it again"
JSON_HEADER = (b"content-type", b"application/json")  # an answer's JSON content type
_CONTENT_TYPES = ("", "application/json", "application/octet-stream", "*/*")


class UnsupportedMediaError(InvalidInputError):
    """A Content-Type or Content-Encoding the server does not read (HTTP 415)."""

    http_status = 415


class _Disconnected(Exception):
    """The client went away before its body arrived."""


def check_content_type(value: str) -> None:
    """JSON (or the binary extension's octet stream) only: anything else is a 415."""
    media = value.split(";", 1)[0].strip().lower()
    if media not in _CONTENT_TYPES and not media.endswith("+json"):
        raise UnsupportedMediaError(
            f"Content-Type {media[:60]!r} is not supported: send application/json "
            "(or application/octet-stream with Inference-Header-Content-Length)"
        )


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """Undo ``Content-Encoding`` (gzip, deflate) without inflating past ``limit`` bytes."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise UnsupportedMediaError(
            f"Content-Encoding {encoding[:40]!r} is not supported (use gzip, deflate or none)"
        )
    inflater = zlib.decompressobj(31 if encoding == "gzip" else 15)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InvalidInputError(f"body is not valid {encoding} data: {exc}") from None
    if len(out) > limit:
        raise PayloadTooLargeError(f"decompressed request body exceeds {limit} bytes")
    if not inflater.eof:
        raise InvalidInputError(f"{encoding} body is truncated")
    return out


def infer_route(path: str) -> tuple[str, str | None] | None:
    """(model, version or None) of an infer path, else None."""
    if not (path.startswith("/v2/models/") and path.endswith("/infer")):
        return None
    parts = path[11:-6].split("/")
    if len(parts) == 1 and parts[0]:
        return parts[0], None
    if len(parts) == 3 and parts[0] and parts[1] == "versions" and parts[2]:
        return parts[0], parts[2]
    return None


def retry_headers(seconds: float) -> list[tuple[bytes, bytes]]:
    """A 429's headers: ``Retry-After`` in whole seconds as HTTP defines it (rounded up, at
    least 1), and ``retry-after-ms`` with the same wait in milliseconds (rounded up, at least
    1) for clients that can come back sooner than a second."""
    return [
        JSON_HEADER,
        (b"retry-after", b"%d" % max(1, math.ceil(seconds))),
        (b"retry-after-ms", b"%d" % max(1, math.ceil(seconds * 1e3))),
    ]


async def _send(send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers = [*headers, (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class InferEndpoint:
    """Pure ASGI middleware serving the infer routes (see the module docstring)."""

    def __init__(
        self,
        app: Any,
        runtime: LocalRuntime,
        admission: Admission,
        decoder: DecodePool,
        errors: dict[int, int],
        max_body_bytes: int,
        offload_bytes: Callable[[], int] = lambda: OFFLOAD_BYTES,
    ) -> None:
        self.app = app
        self.runtime = runtime
        self.admission = admission
        self.decoder = decoder
        self.errors = errors
        self.max_body_bytes = max_body_bytes
        self.offload_bytes = offload_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        route = infer_route(scope["path"]) if scope["type"] == "http" else None
        if route is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        try:
            content, length = await self._infer(route, scope, receive)
        except _Disconnected:
            return
        except asyncio.CancelledError:  # the server stops before the answer: say so in JSON
            self.errors[503] = self.errors.get(503, 0) + 1
            await _send(send, 503, json.dumps({"error": STOPPING}).encode(), [JSON_HEADER])
            raise
        except AgentArtsError as exc:
            status = error_status(exc)
            self.errors[status] = self.errors.get(status, 0) + 1
            answer = json.dumps({"error": str(exc)}).encode()
            if not isinstance(exc, RuntimeOverloadedError):
                await _send(send, status, answer, [JSON_HEADER])
                return
            await _send(send, status, answer, retry_headers(exc.retry_after_s))
            self.admission.observe_refusal(perf_counter() - started)
            return
        except Exception as exc:  # a bug: logged, answered as JSON, the server carries on
            log.exception("unhandled error on %s", scope["path"])
            self.errors[500] = self.errors.get(500, 0) + 1
            answer = json.dumps({"error": f"internal error: {type(exc).__name__}"}).encode()
            await _send(send, 500, answer, [JSON_HEADER])
            return
        if length is None:
            await _send(send, 200, content, [JSON_HEADER])
        else:
            await _send(
                send,
                200,
                content,
                [
                    (b"content-type", b"application/octet-stream"),
                    (b"inference-header-content-length", b"%d" % length),
                ],
            )

    async def _infer(
        self, route: tuple[str, str | None], scope: Any, receive: Any
    ) -> tuple[bytes, int | None]:
        runtime = self.runtime
        lm = runtime._fast.get(route)
        if lm is None:
            lm = await asyncio.to_thread(runtime.lookup, *route)
        headers = {k: v for k, v in scope["headers"]}
        declared_text = headers.get(b"content-length", b"")
        declared = int(declared_text) if declared_text.isdigit() else 0
        size = min(declared, self.max_body_bytes)
        admission = self.admission
        if not admission.try_admit(lm, size):  # before the body: wait unread, or 429
            await admission.wait_admit(lm, size)
        try:
            try:
                check_content_type(headers.get(b"content-type", b"").decode("latin-1"))
                if declared > self.max_body_bytes:
                    raise PayloadTooLargeError(
                        f"request body of {declared} bytes exceeds {self.max_body_bytes}"
                    )
                body = await self._read_body(receive)
                request = await self._decode(body, headers)
            except InvalidInputError:
                runtime.count_failure(lm)
                raise
            result = await runtime.ainfer(
                route[0],
                request.inputs,
                version=route[1],
                outputs=request.outputs,
                timeout_s=request.timeout_s,
            )
        finally:
            admission.release(lm, size)
        return encode_response(result, request)

    async def _read_body(self, receive: Any) -> bytes:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise PayloadTooLargeError(f"request body exceeds {self.max_body_bytes} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _decode(self, body: bytes, headers: dict[bytes, bytes]) -> Any:
        encoding = headers.get(b"content-encoding", b"").decode("latin-1")
        offload = self.offload_bytes()
        if encoding and len(body) > offload:
            body = await self.decoder.run(decompress, body, encoding, self.max_body_bytes)
        else:
            body = decompress(body, encoding, self.max_body_bytes)
        raw_length = headers.get(b"inference-header-content-length")
        length = parse_header_length(
            None if raw_length is None else raw_length.decode("latin-1"), len(body)
        )
        if (len(body) if length is None else length) > offload:
            return await self.decoder.decode(body, length)
        return decode_request(body, length)
