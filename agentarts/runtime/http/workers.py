"""Several server processes sharing one port: ``agentarts runtime serve --workers N``.

One event loop is one CPU core at most; N worker processes each run the whole server (HTTP,
gRPC when asked, their own ``LocalRuntime`` with one batcher per model) on a listening socket
opened with ``SO_REUSEPORT``, so the kernel spreads new connections over them (grpcio sets the
same option on its port). Batching is preserved per model within each worker: at low load the
requests of one model are split N ways and form smaller batches; at high load each worker's
batches fill as before. Every worker holds its own copy of the models (memory x N) and
reserves its own simulated HBM. The parent only starts, watches and stops the workers: if one
exits, the others are stopped and the parent exits with an error, so a supervisor (systemd,
Kubernetes) restarts the whole set.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agentarts.errors import ConfigError

if TYPE_CHECKING:
    from agentarts.runtime.local import LocalRuntime

__all__ = ["reuseport_socket", "serve_workers"]


def reuseport_socket(host: str, port: int, backlog: int | None = None) -> socket.socket:
    """A listening TCP socket that other processes may bind to the same address too, with
    ``backlog`` (default: ``server.default_backlog()``, the kernel's limit)."""
    from agentarts.runtime.http.server import default_backlog

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(backlog or default_backlog())
    return sock


def _worker(index: int, factory: Callable[[], LocalRuntime], options: dict[str, Any]) -> None:
    from agentarts.runtime.http.server import serve

    os.environ["AGENTARTS_WORKER"] = str(index)
    runtime = factory()
    runtime.load_all()
    sock = reuseport_socket(options["host"], options["port"], options.get("backlog"))
    serve(runtime, sockets=[sock], **options)


def serve_workers(
    factory: Callable[[], LocalRuntime],
    workers: int,
    host: str,
    port: int,
    **options: Any,
) -> None:
    """Run ``workers`` server processes on ``host:port`` until interrupted. ``factory`` (a
    picklable callable, e.g. a ``functools.partial`` of ``LocalRuntime``) builds each
    worker's runtime; ``options`` are ``serve``'s keyword arguments."""
    if workers < 1:
        raise ConfigError("--workers must be at least 1")
    reuseport_socket(host, port).close()  # a busy port fails here, once, clearly
    context = multiprocessing.get_context("spawn")
    options = {**options, "host": host, "port": port}
    procs = [
        context.Process(
            target=_worker, args=(i, factory, options), name=f"agentarts-worker-{i}", daemon=False
        )
        for i in range(workers)
    ]
    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for proc in procs:
            proc.start()
        while not stopping and all(p.is_alive() for p in procs):
            time.sleep(0.2)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()  # uvicorn shuts down gracefully on SIGTERM
        for proc in procs:
            proc.join(15)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not stopping:
        failed = [p.name for p in procs if p.exitcode not in (0, None)]
        raise ConfigError(f"worker(s) {failed or [p.name for p in procs]} stopped; stopped all")
