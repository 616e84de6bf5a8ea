"""One ``write`` per HTTP answer instead of two.

uvicorn writes an answer's head when the app sends ``http.response.start`` and its body when
the app sends ``http.response.body``: two ``write`` system calls, two TCP segments on the
wire, and on loopback two passes through the kernel's receive path, for every answer (``strace
-c`` on the server under wrk: 21,629 ``write`` for 10,290 ``read`` in 3 s). On a small model
that is a visible share of the server's CPU per answer, refusals (429) included.

``coalescing_protocol_class`` subclasses uvicorn's HTTP protocol (httptools when installed,
else h11) so that its connections write through ``CoalescingTransport``: a write is held until
the next write on the same connection, which goes out joined with it, or until the event
loop's next step (one ``call_soon``), whichever comes first; ``close`` flushes first. So the
head and the body that follow one another in the same step leave in one ``write``, and a head
sent alone (a streamed answer) leaves one step later. Order is kept: every write passes through
the one held slot.

The same transport holds a refused connection to the wait its 429 announced: when an answer's
head is a 429 with ``retry-after-ms``, the connection is not read again for that long (at most
``HOLD_MAX_S``). The 429 itself leaves at once; a client that retries at once finds its next
request read when the server said it could be served, instead of costing the event loop another
refusal. Measured under a closed-loop storm (BENCHMARKS.md, ``cnn_500ms``): refusals cost the
loop ~110-150 us each, as much as a small model's answer, and halved goodput.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["HOLD_MAX_S", "JOIN_LIMIT", "CoalescingTransport", "coalescing_protocol_class"]

JOIN_LIMIT = 64 * 1024  # larger bodies go out with writelines (one writev, no copy)
HOLD_MAX_S = 1.0  # the longest a refused connection goes unread
_REFUSED = b"HTTP/1.1 429 "
_RETRY_MS = b"\r\nretry-after-ms: "


def _announced_wait(head: bytes) -> float | None:
    """Seconds a 429 head's ``retry-after-ms`` announces (None: not a 429, or no such header)."""
    if not head.startswith(_REFUSED):
        return None
    at = head.find(_RETRY_MS)
    if at < 0:
        return None
    start = at + len(_RETRY_MS)
    end = head.find(b"\r\n", start)
    try:
        return min(int(head[start:end]) / 1e3, HOLD_MAX_S)
    except ValueError:
        return None


class CoalescingTransport:
    """Wraps an ``asyncio.Transport``: consecutive writes in one loop step leave together."""

    __slots__ = ("_held", "_loop", "_scheduled", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._scheduled = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if data[:13] == _REFUSED:
            wait = _announced_wait(bytes(data))
            if wait is not None and wait > 0:
                self._transport.pause_reading()
                self._loop.call_later(wait, self._release)
        held = self._held
        if held is None:
            self._held = bytes(data)
            if not self._scheduled:
                self._scheduled = True
                self._loop.call_soon(self._flush)
            return
        self._held = None
        if len(data) < JOIN_LIMIT:
            self._transport.write(held + data)
        else:
            self._transport.writelines((held, data))

    def writelines(self, chunks: Any) -> None:
        self.write(b"".join(chunks))

    def _flush(self) -> None:
        self._scheduled = False
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def _release(self) -> None:
        if not self._transport.is_closing():
            self._transport.resume_reading()

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_write_buffer_size(self) -> int:
        held = self._held
        return self._transport.get_write_buffer_size() + (len(held) if held else 0)

    def __getattr__(self, name: str) -> Any:  # everything else: the real transport's
        return getattr(self._transport, name)


_CLASSES: dict[type, type] = {}


def coalescing_protocol_class() -> type:
    """uvicorn's automatic HTTP protocol class, writing through ``CoalescingTransport``."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    base: type = AutoHTTPProtocol
    if base not in _CLASSES:

        def connection_made(self: Any, transport: asyncio.Transport) -> None:
            base.connection_made(self, CoalescingTransport(transport, self.loop))

        _CLASSES[base] = type(
            f"Coalescing{base.__name__}", (base,), {"connection_made": connection_made}
        )
    return _CLASSES[base]
