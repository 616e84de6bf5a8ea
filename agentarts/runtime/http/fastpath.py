"""The infer route answered inside the HTTP protocol, without an ASGI request cycle.

uvicorn gives every request a scope dict, a ``RequestResponseCycle``, an ``asyncio.Event``, an
``asyncio.Task`` and the coroutine frames of the app's middleware. On a small model that is
most of the server's CPU per answer, and it grows with the number of connections served:
measured on this kind of machine (2 vCPU, uvloop, httptools, one core for the server), a bare
uvicorn app answering a fixed body costs 25 us of user CPU per answer at 64 connections and
38-48 us at 2,560, while a plain ``asyncio.Protocol`` on the same parser answers in 2.2 and
2.7 us. The storm's extra cost per connection is what held the MLP's goodput under 2,560
connections to 0.64-0.86x of its 64-connection rate (docs/runtime.md).

So ``fast_protocol_class`` subclasses uvicorn's httptools protocol and takes the common infer
request off that path: a ``POST /v2/models/{m}[/versions/{v}]/infer`` for a model already
loaded, HTTP/1.1 with keep-alive, a ``Content-Length`` body up to ``offload_bytes``, no
``Content-Encoding``, ``Transfer-Encoding`` or ``Expect``, an accepted content type, a query-free
ASCII path, and (when the server has one) the right API key. Such a request goes through the
same admission (``Admission.park``: a free slot, the FIFO waiting room with the body unread,
or a 429 at once), the same decoder, batcher and encoder as ``infer.InferEndpoint``, by
callbacks: no task, no coroutine. Everything else (other routes, other shapes of request,
errors the fast path does not decide itself) goes through uvicorn and the ASGI app unchanged,
so there is one behaviour to test: ``tests/runtime/test_fastpath.py`` sends the same requests
both ways and compares answers. ``AGENTARTS_RUNTIME_FASTPATH=0`` turns it off.

A connection carries one fast request at a time. A request pipelined behind it goes to uvicorn,
which queues it as it queues any pipelined request and starts it once the fast answer is
written, so answers keep their order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from http import HTTPStatus
from time import perf_counter
from typing import TYPE_CHECKING, Any

from agentarts.errors import AgentArtsError, InvalidInputError, ModelError, RuntimeOverloadedError
from agentarts.runtime.http.infer import (
    JSON_HEADER,
    STOPPING,
    check_content_type,
    infer_route,
    retry_headers,
)
from agentarts.runtime.kserve.messages import decode_request, encode_response, parse_header_length
from agentarts.runtime.kserve.status import check_api_key, error_status

if TYPE_CHECKING:
    from agentarts.runtime.http.infer import InferEndpoint
    from agentarts.runtime.local import LoadedModel

__all__ = ["FastInfer", "enabled", "fast_protocol_class"]

log = logging.getLogger("agentarts.runtime.http")

_HIGH_WATER = 64 * 1024  # uvicorn's HIGH_WATER_LIMIT: a waiting request's body read so far
_BINARY = (b"content-type", b"application/octet-stream")
_STATUS_LINES = {s.value: b"HTTP/1.1 %d %s\r\n" % (s.value, s.phrase.encode()) for s in HTTPStatus}


def enabled() -> bool:
    """False when ``AGENTARTS_RUNTIME_FASTPATH`` is ``0`` (every request through ASGI)."""
    return os.environ.get("AGENTARTS_RUNTIME_FASTPATH", "1").strip() != "0"


class FastInfer:
    """The fast path's view of an ``infer.InferEndpoint`` (its runtime, admission, error
    counters and body limits, shared, not copied) plus the API key and a request counter."""

    __slots__ = (
        "admission",
        "api_key",
        "endpoint",
        "errors",
        "max_body_bytes",
        "requests",
        "runtime",
    )

    def __init__(self, endpoint: InferEndpoint, api_key: str | None) -> None:
        self.endpoint = endpoint
        self.runtime = endpoint.runtime
        self.admission = endpoint.admission
        self.errors = endpoint.errors
        self.max_body_bytes = endpoint.max_body_bytes
        self.api_key = api_key.encode() if api_key else None
        self.requests = 0  # infer requests taken by the fast path (answered or refused)


class _Ticket:
    """A place in ``Admission``'s waiting room that calls back instead of waking a task (it
    answers ``done`` and ``set_result`` as the futures there do)."""

    __slots__ = ("_callback", "_done")

    def __init__(self, callback: Callable[[], None]) -> None:
        self._callback = callback
        self._done = False

    def done(self) -> bool:
        return self._done

    def set_result(self, _: None) -> None:
        self._done = True
        self._callback()

    def cancel(self) -> None:
        self._done = True


class _Request:
    """One fast infer request on a connection."""

    __slots__ = (
        "admitted",
        "body",
        "complete",
        "header_length",
        "lm",
        "received",
        "route",
        "size",
        "start",
    )

    def __init__(self, route: tuple[str, str | None], lm: LoadedModel, size: int) -> None:
        self.route = route
        self.lm = lm
        self.size = size
        self.start = perf_counter()
        self.body: list[bytes] = []
        self.received = 0  # body bytes read so far
        self.admitted = False  # holds a slot of the model's line
        self.complete = False  # the whole body has arrived
        self.header_length: bytes | None = None


def _head(status: int, headers: list[tuple[bytes, bytes]], length: int, defaults: Any) -> bytes:
    lines = [_STATUS_LINES[status]]
    lines += [b"%s: %s\r\n" % pair for pair in defaults]
    lines += [b"%s: %s\r\n" % pair for pair in headers]
    lines.append(b"content-length: %d\r\n\r\n" % length)
    return b"".join(lines)


class _Busy:
    """Stands for the fast request where uvicorn looks for an unfinished cycle."""

    response_complete = False


_BUSY = _Busy()
_STOPPING = ModelError(STOPPING)


def fast_protocol_class(base: type, fast: FastInfer) -> type:
    """``base`` (uvicorn's httptools protocol, or a subclass of it) with the fast infer path
    of ``fast`` (a class per server: it holds that server's runtime)."""

    class FastInferProtocol(base):  # type: ignore[valid-type, misc]
        _fast_request: _Request | None = None  # answered by the fast path, not yet written
        _parsing: _Request | None = None  # the fast request whose body the parser is reading
        _ticket: _Ticket | None = None
        _close_after = False

        def on_message_begin(self) -> None:
            self._parsing = None
            base.on_message_begin(self)

        def on_headers_complete(self) -> None:
            if self._fast_request is not None:
                # Pipelined behind a fast request: uvicorn queues it (it sees a cycle still
                # answering) and starts it from ``on_response_complete`` once ours is written.
                previous, self.cycle = self.cycle, _BUSY
                try:
                    base.on_headers_complete(self)
                finally:
                    if self.cycle is _BUSY:  # uvicorn refused it (a bad URL): no new cycle
                        self.cycle = previous
            elif self._close_after or not self._try_fast():
                base.on_headers_complete(self)
            else:
                return
            if self._close_after and self.cycle is not None and self.cycle is not _BUSY:
                self.cycle.keep_alive = False  # the server is stopping: close after it

        def _try_fast(self) -> bool:
            parser = self.parser
            if parser.get_method() != b"POST" or parser.get_http_version() != "1.1":
                return False
            if not parser.should_keep_alive() or parser.should_upgrade():
                return False
            cycle = self.cycle
            if cycle is not None and not cycle.response_complete:
                return False
            url = self.url
            if b"?" in url or b"%" in url or not url.isascii():
                return False
            route = infer_route(url.decode("ascii"))
            if route is None:
                return False
            runtime = fast.runtime
            lm = runtime._fast.get(route)
            if lm is None:
                return False
            declared = -1
            header_length = given = None
            content_type = b""
            for name, value in self.headers:
                if name == b"content-length":
                    declared = int(value) if value.isdigit() else -2
                elif name == b"content-type":
                    content_type = value
                elif name == b"inference-header-content-length":
                    header_length = value
                elif name == b"x-api-key":
                    given = value.strip()
                elif name == b"authorization":
                    if value[:7].lower() == b"bearer " and given is None:
                        given = value[7:].strip()
                elif name in (b"content-encoding", b"transfer-encoding", b"expect"):
                    return False
            if declared < 0 or declared > min(fast.max_body_bytes, fast.endpoint.offload_bytes()):
                return False
            if fast.api_key is not None and not check_api_key(given or b"", fast.api_key):
                return False
            try:
                check_content_type(content_type.decode("latin-1"))
            except InvalidInputError:
                return False
            fast.requests += 1
            request = _Request(route, lm, declared)
            request.header_length = header_length
            self._fast_request = self._parsing = request
            admission = fast.admission
            if admission.try_admit(lm, declared):
                request.admitted = True
                return True
            ticket = _Ticket(self._on_admitted)
            try:
                admission.park(lm, declared, ticket)
            except RuntimeOverloadedError as exc:  # 429 now; the body is read and dropped
                fast.errors[429] = fast.errors.get(429, 0) + 1
                self._answer(
                    429, json.dumps({"error": str(exc)}).encode(), retry_headers(exc.retry_after_s)
                )
                admission.observe_refusal(perf_counter() - request.start)
                request.admitted = None  # its body is read and dropped, then it ends
                return True
            self._ticket = ticket
            return True

        def on_body(self, body: bytes) -> None:
            request = self._parsing
            if request is None:
                base.on_body(self, body)
            elif request.admitted is not None:
                request.body.append(body)
                request.received += len(body)
                if not request.admitted and request.received > _HIGH_WATER:
                    # Waiting for a slot: stop reading, as uvicorn does past 64 KiB on the
                    # ASGI path; the rest stays in the kernel. Not earlier: a paused
                    # connection no longer notices its client leaving.
                    self.flow.pause_reading()

        def on_message_complete(self) -> None:
            request = self._parsing
            if request is None:
                base.on_message_complete(self)
                return
            self._parsing = None
            request.complete = True
            if request.admitted is None:  # refused: its answer is already written
                self._finish()
            elif request.admitted:
                self._run(request)

        def _on_admitted(self) -> None:
            """A slot was handed over from the waiting room (inside ``Admission.release``; a
            connection that went away cancelled its ticket, so it is never handed one)."""
            request = self._fast_request
            self._ticket = None
            fast.admission.waited += 1
            assert request is not None
            request.admitted = True
            self.flow.resume_reading()
            if request.complete:
                self.loop.call_soon(self._run, request)

        def _run(self, request: _Request) -> None:
            runtime = fast.runtime
            lm = request.lm
            try:
                try:
                    body = request.body[0] if len(request.body) == 1 else b"".join(request.body)
                    request.body = []
                    raw = request.header_length
                    length = parse_header_length(
                        None if raw is None else raw.decode("latin-1"), len(body)
                    )
                    decoded = decode_request(body, length)
                    feeds, rows = lm.structure(decoded.inputs)
                except InvalidInputError:
                    runtime.count_failure(lm)
                    raise
                batcher = lm.last_async
                if batcher is None or batcher.loop is not self.loop:
                    batcher = lm.async_batcher()
                # the timeout counts from here, as on the ASGI path (after admission and decoding)
                future = batcher.submit(feeds, rows, decoded.timeout_s, perf_counter())
            except AgentArtsError as exc:
                self._release(request)
                self._error(request, exc)
                return
            except Exception as exc:  # a bug: logged, answered as JSON, the server carries on
                self._release(request)
                self._bug(exc)
                return
            future.add_done_callback(lambda done: self._done(request, decoded, done))

        def _done(self, request: _Request, decoded: Any, future: asyncio.Future[Any]) -> None:
            self._release(request)
            if self.transport.is_closing():
                self._fast_request = None
                return
            try:
                result = future.result()
                if decoded.outputs:
                    result.outputs = fast.runtime._select(
                        request.route[0], result.outputs, decoded.outputs
                    )
                content, length = encode_response(result, decoded)
            except AgentArtsError as exc:
                self._error(request, exc)
                return
            except Exception as exc:
                self._bug(exc)
                return
            if length is None:
                self._answer(200, content, [JSON_HEADER])
            else:
                self._answer(200, content, [_BINARY, (b"inference-header-content-length",
                                                      b"%d" % length)])  # fmt: skip
            self._finish()

        @staticmethod
        def _release(request: _Request) -> None:
            if request.admitted:
                request.admitted = False
                fast.admission.release(request.lm, request.size)

        def _error(self, request: _Request, exc: AgentArtsError) -> None:
            status = error_status(exc)
            fast.errors[status] = fast.errors.get(status, 0) + 1
            body = json.dumps({"error": str(exc)}).encode()
            if isinstance(exc, RuntimeOverloadedError):  # the batcher's queue is full
                self._answer(status, body, retry_headers(exc.retry_after_s))
                fast.admission.observe_refusal(perf_counter() - request.start)
            else:
                self._answer(status, body, [JSON_HEADER])
            self._finish()

        def _bug(self, exc: Exception) -> None:
            log.error("unhandled error on the infer fast path", exc_info=exc)
            fast.errors[500] = fast.errors.get(500, 0) + 1
            body = json.dumps({"error": f"internal error: {type(exc).__name__}"}).encode()
            self._answer(500, body, [JSON_HEADER])
            self._finish()

        def _answer(self, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
            if not self.transport.is_closing():
                if self._close_after and not self.pipeline:
                    headers = [*headers, (b"connection", b"close")]
                defaults = self.server_state.default_headers
                self.transport.write(_head(status, headers, len(body), defaults) + body)

        def _finish(self) -> None:
            """The request is answered: keep-alive as uvicorn does, or close when the server is
            stopping (after the requests pipelined behind it, which uvicorn then answers)."""
            self._fast_request = None
            if self._close_after and not self.pipeline:
                self.transport.close()
                return
            self.on_response_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            request = self._fast_request
            if request is not None:
                if self._ticket is not None:
                    fast.admission.cancel(request.lm, self._ticket)
                    self._ticket = None
                if not request.complete or request.admitted is None:
                    self._release(request)  # no answer is coming: free its slot now
                    self._fast_request = None
            base.connection_lost(self, exc)

        def shutdown(self) -> None:
            request = self._fast_request
            if request is None:
                base.shutdown(self)
                return
            if not request.complete:  # nothing started for it: do not wait for its body
                self.transport.close()
                return
            self._close_after = True  # answer what is in flight (and queued), then close
            cycle = self.cycle
            if cycle is not None and cycle is not _BUSY and not cycle.response_complete:
                cycle.keep_alive = False  # the last queued request closes the connection
            grace = self.config.timeout_graceful_shutdown
            if grace is not None:  # answered before uvicorn gives up on this connection
                self.loop.call_later(max(0.0, grace - 0.2), self._abandon, request)

        def _abandon(self, request: _Request) -> None:
            """The server stops before the model answered: say so (the batch may still run)."""
            if self._fast_request is request and not self.transport.is_closing():
                if self._ticket is not None:  # still waiting for a slot
                    fast.admission.cancel(request.lm, self._ticket)
                    self._ticket = None
                self._error(request, _STOPPING)

    FastInferProtocol.__name__ = f"FastInfer{base.__name__}"
    return FastInferProtocol
