"""Accepting every waiting connection at once, on uvloop too.

libuv 1.45 (2022, libuv PR #3696, in uvloop since 0.18) accepts one connection each time the
listening socket is reported readable, i.e. one per turn of the event loop. Under load a turn
is long (it handles every ready connection: ~1,000 requests), so new connections are accepted
at a few per second. Measured with 2,560 wrk connections opened at once against the MLP
(`agentarts runtime serve`, uvloop 0.23): ~1,500 were accepted in the first second, then the
kernel's accept queue held ~700-1,000 connections for the whole 15 s storm, draining at 5-15
a second (``ss``: Recv-Q of the listening socket; ``strace -c``: 15 ``accept4`` for 15
``epoll_pwait`` in 3 s). Their requests waited seconds before the server saw them: wrk's p99
of 2-5 s, and 20-115 "socket timeouts" (requests unanswered after 10 s); with uvicorn's
default backlog of 2048 the queue also overflowed (848 kernel listen overflows in one run).
asyncio's own loop accepts up to ``backlog`` connections per readiness event and has no such
limit.

``AcceptingLoop`` is uvloop's loop with ``create_server`` replaced for plain TCP: the listening
socket is watched with ``add_reader`` and each readiness event accepts up to ``ACCEPT_BATCH``
connections (until the queue is empty), each handed to ``loop.connect_accepted_socket``.
TLS, Unix sockets and other options fall back to uvloop's own ``create_server``.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["ACCEPT_BATCH", "AcceptServer", "accepting_loop_factory", "listening_sockets"]

log = logging.getLogger("agentarts.runtime.http.accept")
ACCEPT_BATCH = 512  # connections accepted per readiness event, at most
_RETRY_ERRNOS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


def listening_sockets(host: str, port: int, backlog: int) -> list[socket.socket]:
    """Bound, listening, non-blocking TCP sockets for every address ``host`` resolves to."""
    infos = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE, proto=socket.IPPROTO_TCP
    )
    seen: set[tuple[int, Any]] = set()
    socks: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.socket(family, kind, proto)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(backlog)
            sock.setblocking(False)
    except OSError:
        for sock in socks:
            sock.close()
        raise
    return socks


class AcceptServer(asyncio.AbstractServer):
    """A TCP server that accepts up to ``batch`` connections per readiness event."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        socks: Iterable[socket.socket],
        batch: int = ACCEPT_BATCH,
    ) -> None:
        self._loop = loop
        self._factory = protocol_factory
        self._socks = list(socks)
        self._batch = batch
        self._serving = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self.accepted = 0
        for sock in self._socks:
            sock.setblocking(False)
        self._start()

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(self._socks)

    def _start(self) -> None:
        for sock in self._socks:
            self._loop.add_reader(sock.fileno(), self._accept, sock)
        self._serving = True

    def _pause(self) -> None:
        for sock in self._socks:
            if sock.fileno() != -1:
                self._loop.remove_reader(sock.fileno())
        self._serving = False

    def _resume(self) -> None:
        if self._socks and not self._serving and all(s.fileno() != -1 for s in self._socks):
            self._start()

    def _accept(self, sock: socket.socket) -> None:
        loop = self._loop
        for _ in range(self._batch):
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno not in _RETRY_ERRNOS:
                    raise
                # Out of descriptors or memory: stop accepting for a second (as asyncio does),
                # the queued connections wait in the kernel meanwhile.
                log.warning("accept failed (%s); retrying in 1 s", exc.strerror)
                self._pause()
                loop.call_later(1.0, self._resume)
                return
            self.accepted += 1
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = loop.create_task(self._connect(conn))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._factory, conn)
        except OSError:  # the client went away before its transport was set up
            conn.close()

    def close(self) -> None:
        if self._serving:
            self._pause()
        for sock in self._socks:
            sock.close()
        self._socks = []

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        return None

    async def serve_forever(self) -> None:
        raise NotImplementedError("run the event loop instead")

    async def wait_closed(self) -> None:
        return None


def _accepting_create_server(base: type) -> Callable[..., Any]:
    async def create_server(
        self: Any,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        host: str | None = None,
        port: int | None = None,
        *,
        sock: socket.socket | None = None,
        backlog: int = 100,
        ssl: Any = None,
        **kwargs: Any,
    ) -> Any:
        plain_tcp = ssl is None and not kwargs
        if sock is not None:
            plain_tcp = plain_tcp and host is None and port is None
            plain_tcp = plain_tcp and sock.family in (socket.AF_INET, socket.AF_INET6)
        else:
            plain_tcp = plain_tcp and isinstance(host, str) and port is not None
        if not plain_tcp:
            return await base.create_server(
                self,
                protocol_factory,
                host,
                port,
                sock=sock,
                backlog=backlog,
                ssl=ssl,
                **kwargs,
            )
        if sock is None:
            assert host is not None and port is not None
            socks = listening_sockets(host, port, backlog)
        else:
            sock.listen(backlog)
            socks = [sock]
        return AcceptServer(self, protocol_factory, socks)

    return create_server


def accepting_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """A factory of ``AcceptingLoop`` (uvloop with greedy accepts), or None without uvloop."""
    try:
        import uvloop
    except ImportError:
        return None
    loop_class = type(
        "AcceptingLoop", (uvloop.Loop,), {"create_server": _accepting_create_server(uvloop.Loop)}
    )
    return loop_class
