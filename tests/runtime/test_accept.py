"""Accepting bursts of connections on a busy loop, the listen backlog, the drain estimate."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest

from agentarts.errors import ConfigError
from agentarts.runtime.batching.admission import Admission
from agentarts.runtime.http import server as http_server
from agentarts.runtime.http.accept import AcceptServer, accepting_loop_factory
from agentarts.runtime.testing import free_port

PORTS = range(19100, 19200)


class _Answer(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(b"ok")  # type: ignore[attr-defined]


def _busy(loop: asyncio.AbstractEventLoop, stop: threading.Event) -> None:
    """Each turn of the loop takes 20 ms, as under a storm of requests."""
    if not stop.is_set():
        time.sleep(0.02)
        loop.call_soon(_busy, loop, stop)


def _burst_seconds(loop_factory, connections: int = 150) -> float:
    """Open ``connections`` at once to a server on a loop whose turns take 20 ms; seconds
    until every one has its answer."""
    port = free_port(PORTS)
    loop = loop_factory()
    stop = threading.Event()
    ready = threading.Event()
    holder: dict[str, object] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        srv = loop.run_until_complete(loop.create_server(_Answer, "127.0.0.1", port, backlog=4096))
        holder["server"] = srv
        loop.call_soon(_busy, loop, stop)
        loop.call_soon(ready.set)
        loop.run_until_complete(asyncio.sleep(0))
        loop.run_forever()
        srv.close()
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    clients = []
    start = time.monotonic()
    try:
        for _ in range(connections):  # the kernel completes each handshake on its own
            c = socket.create_connection(("127.0.0.1", port), timeout=30)
            c.sendall(b"x")
            clients.append(c)
        for c in clients:
            assert c.recv(2) == b"ok"
        return time.monotonic() - start
    finally:
        stop.set()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        for c in clients:
            c.close()


def test_a_burst_of_connections_is_accepted_within_a_few_turns_of_a_busy_loop():
    factory = accepting_loop_factory()
    if factory is None:
        pytest.skip("uvloop is not installed (asyncio's loop accepts in batches itself)")
    seconds = _burst_seconds(factory)
    # One accept per 20 ms turn (libuv >= 1.45) would take 150 x 20 ms = 3 s.
    assert seconds < 1.5, f"150 connections took {seconds:.2f} s to be answered"


def test_the_accept_server_closes_and_reports_its_sockets():
    factory = accepting_loop_factory()
    if factory is None:
        pytest.skip("uvloop is not installed")
    loop = factory()
    try:
        port = free_port(PORTS)
        srv = loop.run_until_complete(loop.create_server(_Answer, "127.0.0.1", port))
        assert isinstance(srv, AcceptServer) and srv.is_serving()
        assert srv.sockets[0].getsockname()[1] == port
        srv.close()
        loop.run_until_complete(srv.wait_closed())
        assert not srv.is_serving() and srv.sockets == ()
        with socket.socket() as s:  # the port is free again
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
    finally:
        loop.close()


def test_tls_and_unix_sockets_fall_back_to_the_loops_own_server(tmp_path):
    factory = accepting_loop_factory()
    if factory is None:
        pytest.skip("uvloop is not installed")
    loop = factory()
    try:
        path = str(tmp_path / "s.sock")
        unix = loop.run_until_complete(loop.create_unix_server(_Answer, path))
        with socket.socket(socket.AF_UNIX) as s:
            sock = socket.socket(socket.AF_UNIX)
            sock.bind(str(tmp_path / "t.sock"))
            sock.listen(8)
            srv = loop.run_until_complete(loop.create_server(_Answer, sock=sock))
            assert not isinstance(srv, AcceptServer)
            s.connect(path)
        unix.close()
        srv.close()
    finally:
        loop.close()


def test_default_backlog_is_the_kernel_limit_or_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("AGENTARTS_RUNTIME_BACKLOG", raising=False)
    limit = tmp_path / "somaxconn"
    limit.write_text("4096\n")
    assert http_server.default_backlog(str(limit)) == 4096
    assert http_server.default_backlog(str(tmp_path / "missing")) == 2048
    monkeypatch.setenv("AGENTARTS_RUNTIME_BACKLOG", "512")
    assert http_server.default_backlog(str(limit)) == 512
    for bad in ("0", "-3", "lots"):
        monkeypatch.setenv("AGENTARTS_RUNTIME_BACKLOG", bad)
        with pytest.raises(ConfigError, match="AGENTARTS_RUNTIME_BACKLOG"):
            http_server.default_backlog(str(limit))


def test_serve_listens_with_the_backlog_asked_for(runtime, monkeypatch):
    import uvicorn

    seen: list[int] = []

    async def no_serve(self, sockets=None):
        seen.append(self.config.backlog)

    monkeypatch.setattr(uvicorn.Server, "serve", no_serve)
    # serve() tunes the collector for the server process's life (gc.freeze): not the suite's
    monkeypatch.setattr(http_server, "tune_gc", lambda: None)
    monkeypatch.delenv("AGENTARTS_RUNTIME_BACKLOG", raising=False)
    monkeypatch.setattr(runtime, "close", lambda *a, **k: None)
    http_server.serve(runtime, port=free_port(PORTS), backlog=3000)
    http_server.serve(runtime, port=free_port(PORTS))
    assert seen == [3000, http_server.default_backlog()]
    with pytest.raises(ConfigError, match="backlog"):
        http_server.serve(runtime, port=free_port(PORTS), backlog=0)


class _Config:
    enabled = True
    max_batch_size = 64
    max_queue_size = 1024
    timeout_s = 10.0


class _Stats:
    compute_us = 100.0  # 0.1 ms a row
    inference_count = 1000


class _Batcher:
    config = _Config()
    stats = _Stats()


class _Model:
    name = "m"
    batcher = _Batcher()


def test_one_stall_of_the_loop_does_not_read_as_the_models_rate(monkeypatch):
    """2,560 requests at 0.1 ms each drain in 0.26 s: a 0.3 s stall of the event loop while
    the line is full must not make them look like more than the 10 s timeout."""
    lm = _Model()
    adm = Admission()
    clock = [100.0]
    monkeypatch.setattr("agentarts.runtime.batching.admission.time.perf_counter", lambda: clock[0])
    line = adm._line(lm)
    line.in_flight = adm.limit(lm)  # full
    line.since = clock[0]
    clock[0] += 0.3  # the stall: then 8 answers come at once
    for _ in range(8):
        adm.release(lm, 0)
        line.in_flight += 1
    assert adm.expected_wait_s(lm, 2560) < 10.0
    for _ in range(40):  # then a steady 10,000 answers a second for 4 s
        for _ in range(1000):
            clock[0] += 1e-4
            adm.release(lm, 0)
            line.in_flight += 1
    assert adm.expected_wait_s(lm, 2560) == pytest.approx(0.256, rel=0.1)


def test_a_model_that_really_slows_down_is_measured_so(monkeypatch):
    lm = _Model()
    adm = Admission()
    clock = [100.0]
    monkeypatch.setattr("agentarts.runtime.batching.admission.time.perf_counter", lambda: clock[0])
    line = adm._line(lm)
    line.in_flight = adm.limit(lm)
    line.since = clock[0]
    for _ in range(400):  # 20 answers a second for 20 s
        clock[0] += 0.05
        adm.release(lm, 0)
        line.in_flight += 1
    assert adm.expected_wait_s(lm, 2560) > lm.batcher.config.timeout_s


class _Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def writelines(self, chunks) -> None:
        self.writes.append(b"".join(chunks))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default=None):
        return "seen" if name == "peername" else default

    reading = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


def test_a_head_and_its_body_leave_in_one_write_and_order_is_kept():
    from agentarts.runtime.http.coalesce import JOIN_LIMIT, CoalescingTransport

    loop = asyncio.new_event_loop()
    try:
        real = _Recorder()
        t = CoalescingTransport(real, loop)
        t.write(b"HEAD\r\n\r\n")
        assert real.writes == [] and t.get_write_buffer_size() == 8
        t.write(b"body")
        assert real.writes == [b"HEAD\r\n\r\nbody"]
        t.write(b"alone")  # a head sent without its body leaves on the loop's next step
        assert real.writes == [b"HEAD\r\n\r\nbody"]
        loop.run_until_complete(asyncio.sleep(0))
        assert real.writes[-1] == b"alone"
        big = b"x" * JOIN_LIMIT
        t.write(b"H")
        t.write(big)
        t.write(b"last")
        t.close()  # close flushes what is held first
        assert real.writes[-2:] == [b"H" + big, b"last"] and real.closed
        assert t.get_extra_info("peername") == "seen"  # the rest is the real transport's
    finally:
        loop.close()


def test_answers_through_the_coalescing_transport_arrive_whole(runtime):
    """Keep-alive answers through the coalescing transport: each whole, none lost."""
    from agentarts.runtime.testing import serve_in_thread

    with serve_in_thread(runtime, ports=PORTS) as (address, _):
        host, port = address.split(":")
        with socket.create_connection((host, int(port)), timeout=10) as s:
            for _ in range(20):
                s.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
                time.sleep(0.02)  # the whole answer is in the socket before we read
                data = s.recv(65536)
                assert data.startswith(b"HTTP/1.1 200") and data.endswith(b'{"live":true}')


def test_a_refused_connection_is_not_read_again_before_its_announced_wait():
    """A 429 with retry-after-ms leaves at once; the connection is read again after the wait
    (capped), so a client retrying at once costs the loop no new refusal meanwhile."""
    from agentarts.runtime.http.coalesce import HOLD_MAX_S, CoalescingTransport, _announced_wait

    head = b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 1\r\nretry-after-ms: 40\r\n\r\n"
    assert _announced_wait(head) == 0.04
    assert _announced_wait(head.replace(b"40", b"90000")) == HOLD_MAX_S
    assert _announced_wait(b"HTTP/1.1 200 OK\r\nretry-after-ms: 40\r\n\r\n") is None
    assert _announced_wait(b"HTTP/1.1 429 Too Many Requests\r\n\r\n") is None
    loop = asyncio.new_event_loop()
    try:
        real = _Recorder()
        t = CoalescingTransport(real, loop)
        t.write(b"HTTP/1.1 200 OK\r\n\r\n")
        loop.run_until_complete(asyncio.sleep(0))
        assert real.reading
        t.write(head)
        t.write(b'{"error": "busy"}')
        assert real.writes[-1] == head + b'{"error": "busy"}' and not real.reading
        loop.run_until_complete(asyncio.sleep(0.02))
        assert not real.reading
        loop.run_until_complete(asyncio.sleep(0.04))
        assert real.reading
    finally:
        loop.close()
