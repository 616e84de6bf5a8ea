"""Raw-socket clients and helpers shared by the fast path's adversarial and shutdown tests."""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import time
from collections.abc import Callable

import httpx

from agentarts.runtime.batching.admission import Admission
from agentarts.runtime.local import LocalRuntime


def _body(rid: str | None = None, data: object = None, **extra: object) -> bytes:
    tensor = {"name": "x", "shape": [1, 64], "datatype": "FP32"}
    tensor["data"] = [0.25] * 64 if data is None else data
    message: dict[str, object] = {"inputs": [tensor], **extra}
    if rid is not None:
        message["id"] = rid
    return json.dumps(message).encode()


def _post(
    body: bytes, path: str = "/v2/models/mlp/infer", headers: bytes = b"", version: bytes = b"1.1"
) -> bytes:
    return (
        b"POST %s HTTP/%s\r\nHost: x\r\nContent-Length: %d\r\n%s\r\n"
        % (path.encode(), version, len(body), headers)
        + body
    )


GET_LIVE = b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"


class Reply:
    """One HTTP answer read off a socket."""

    def __init__(self, status: int, headers: dict[bytes, bytes], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> object:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.body[:80]!r})"


class Conn:
    """A raw client connection that reads answers one by one."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        host, port = url.split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self) -> Reply | None:
        """The next answer, or None when the server closed the connection first."""
        status_line = self.reader.readline()
        if not status_line:
            return None
        headers: dict[bytes, bytes] = {}
        while (line := self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        body = self.reader.read(int(headers.get(b"content-length", b"0")))
        return Reply(int(status_line.split()[1]), headers, body)

    def closed_by_server(self, wait: float = 0.3) -> bool:
        """True when the server closed its end (EOF) within ``wait`` seconds."""
        self.sock.settimeout(wait)
        try:
            return self.reader.read(1) == b""
        except TimeoutError:
            return False
        finally:
            self.sock.settimeout(10)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.reader.close()
            self.sock.close()

    def reset(self) -> None:
        """Vanish abruptly (RST instead of FIN)."""
        self.sock.setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
        )
        self.close()


def _until(predicate: Callable[[], object], timeout: float = 5.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what or predicate}"
        time.sleep(0.005)


def _no_leak(admission: Admission, timeout: float = 5.0) -> None:
    """Every slot and body byte returned (once the server has seen every close)."""
    _until(
        lambda: not any(admission.in_flight.values()) and admission.bytes_in_flight == 0,
        timeout,
        f"slots back: {admission.in_flight}, {admission.bytes_in_flight} bytes",
    )


def _json_4xx(reply: Reply | None) -> None:
    assert reply is not None and 400 <= reply.status < 500, reply
    assert reply.headers.get(b"content-type", b"").startswith(b"application/json"), reply.headers
    assert isinstance(reply.json(), dict) and reply.json()["error"]


HELD = "/v2/models/qa_held/infer"


def _fill_held(rt: LocalRuntime, url: str) -> list[Conn]:
    """Two connections taking qa_held's two slots (one running, one queued)."""
    conns = []
    for i in range(2):
        conn = Conn(url, timeout=30)
        conn.send(_post(_body(f"fill{i}"), HELD))
        conns.append(conn)
    lm = rt.lookup("qa_held")
    _until(lambda: lm.last_async is not None and lm.last_async.queue_depth >= 1, 10, "fill")
    return conns


def _waiting(admission: Admission, rt: LocalRuntime) -> int:
    line = admission.lines.get(id(rt.lookup("qa_held")))
    return 0 if line is None else sum(not t.done() for t, _ in line.waiting)


def _burst() -> tuple[bytes, list[tuple[int, str | None]]]:
    """Fast, slow (GET, gzip, query string) and bad requests pipelined on one connection."""
    gz = gzip.compress(_body("c"))
    parts = [
        (_post(_body("a")), 200, "a"),
        (GET_LIVE, 200, None),
        (_post(gz, headers=b"Content-Encoding: gzip\r\n"), 200, "c"),
        (_post(_body("d"), "/v2/models/nope/infer"), 404, None),
        (_post(b'{"inputs": ['), 400, None),
        (_post(_body("f"), headers=b"Content-Type: text/plain\r\n"), 415, None),
        (_post(_body("g"), "/v2/models/mlp/versions/2/infer"), 200, "g"),
        (_post(_body("h"), "/v2/models/mlp/infer?x=1"), 200, "h"),
        (_post(b""), 400, None),
        (_post(_body("j", data=[500.0] * 64)), 400, None),  # out of the card's valid range
        (_post(_body("k")), 200, "k"),
    ]
    return b"".join(p for p, _, _ in parts), [(s, i) for _, s, i in parts]


def _check_burst(conn: Conn, expected: list[tuple[int, str | None]]) -> None:
    for status, rid in expected:
        reply = conn.read()
        assert reply is not None and reply.status == status, (status, rid, reply)
        if status >= 400:
            _json_4xx(reply)
        elif rid is not None:
            assert reply.json()["id"] == rid


def _counters(url: str) -> dict[str, float]:
    """The refusal and error counters of ``/metrics`` (model statistics left out)."""
    wanted = (
        "agentarts_http_error_responses",
        "agentarts_admission_refus",
        "agentarts_admission_waited",
    )
    out = {}
    for line in httpx.get(f"http://{url}/metrics").text.splitlines():
        if line.startswith(wanted) and "_sum" not in line and "_bucket" not in line:
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out
