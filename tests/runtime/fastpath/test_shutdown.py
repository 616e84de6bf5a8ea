"""The infer fast path when the server stops: answers in flight, parked and pipelined requests
answered (or told in JSON), connections closed, nothing left waiting. Compared with the ASGI
path (``AGENTARTS_RUNTIME_FASTPATH=0``) where the promise is uvicorn's."""

from __future__ import annotations

import contextlib
import threading
import time

import httpx
import pytest

from agentarts.runtime.batching.admission import Admission
from agentarts.runtime.testing import serve_in_thread

from .clients import (
    GET_LIVE,
    HELD,
    Conn,
    _body,
    _fill_held,
    _post,
    _until,
    _waiting,
)

BODY = _body("z")


def test_the_server_stops_cleanly_with_requests_parked_and_running(front, held):
    rt, release = held
    admission = Admission()
    conns = []
    with serve_in_thread(rt, admission=admission) as (url, _):
        conns = _fill_held(rt, url)
        for i in range(40):
            conn = Conn(url, timeout=30)
            conn.send(_post(_body(f"parked{i}"), HELD))
            conns.append(conn)
        idle = Conn(url)  # an idle keep-alive connection: closed at once
        idle.send(GET_LIVE)
        assert idle.read().status == 200
        if front == "fast path":
            _until(lambda: _waiting(admission, rt) == 40, what="40 parked")
        else:
            time.sleep(0.3)
        threading.Timer(0.5, release.set).start()
        t0 = time.monotonic()
    stopped = time.monotonic() - t0
    assert stopped < 5, f"the server took {stopped:.1f} s to stop"
    assert idle.closed_by_server(0.1)
    for i, conn in enumerate(conns):
        reply = conn.read()
        assert reply is not None and reply.status == 200, (i, reply)
        assert conn.closed_by_server(1.0)  # and then the server closed it
        conn.close()
    assert not any(admission.in_flight.values()) and admission.bytes_in_flight == 0


@pytest.mark.slow
def test_the_server_stops_with_a_client_stalled_mid_body(front, runtime, request):
    if front == "asgi":
        request.applymarker(
            pytest.mark.xfail(
                strict=True,
                reason="the ASGI path still waits for a client stalled mid-body (until "
                "timeout_graceful_shutdown): uvicorn's cycle waits for the body",
            )
        )
    admission = Admission()
    with serve_in_thread(runtime, admission=admission) as (url, _):
        assert httpx.post(f"http://{url}/v2/models/mlp/infer", content=BODY).status_code == 200
        stalled = Conn(url)
        stalled.send(_post(BODY)[:-20])  # admitted, waiting for the rest of its body
        time.sleep(0.2)
        t0 = time.monotonic()
        done = threading.Timer(2.5, stalled.close)  # the test's own safety net
        done.start()
    stopped = time.monotonic() - t0
    done.cancel()
    stalled.close()
    assert stopped < 2, f"the server took {stopped:.1f} s to stop"


def test_a_request_pipelined_behind_one_in_flight_is_answered_when_the_server_stops(front, held):
    rt, release = held
    admission = Admission()
    with serve_in_thread(rt, admission=admission) as (url, _):
        conn = Conn(url, timeout=30)
        conn.send(_post(_body("first"), HELD) + GET_LIVE)
        lm = rt.lookup("qa_held")
        _until(lambda: lm.last_async is not None and lm.last_async._running, what="running")
        time.sleep(0.1)
        threading.Timer(0.5, release.set).start()
    first, second = conn.read(), conn.read()
    conn.close()
    assert first is not None and first.json()["id"] == "first", first
    assert second is not None and second.json() == {"live": True}, second


def test_an_answer_before_the_server_closes_says_connection_close(front, held):
    rt, release = held
    with serve_in_thread(rt) as (url, _):
        conn = Conn(url, timeout=30)
        conn.send(_post(_body("last"), HELD))
        lm = rt.lookup("qa_held")
        _until(lambda: lm.last_async is not None and lm.last_async._running, what="running")
        threading.Timer(0.4, release.set).start()
    reply = conn.read()
    conn.close()
    assert reply is not None and reply.status == 200
    assert reply.headers.get(b"connection") == b"close", reply.headers


def test_a_request_sent_after_the_server_began_stopping_does_not_keep_it_running(
    front, held, request
):
    """A keep-alive client that goes on sending once the server is stopping must not keep
    its connection (and so the server) alive: uvicorn closes after the answer in flight."""
    rt, release = held
    stack = contextlib.ExitStack()
    url, _ = stack.enter_context(serve_in_thread(rt))
    conn = Conn(url, timeout=30)
    conn.send(_post(_body("first"), HELD))
    lm = rt.lookup("qa_held")
    _until(lambda: lm.last_async is not None and lm.last_async._running, what="running")
    stopper = threading.Thread(target=stack.close)
    t0 = time.monotonic()
    stopper.start()
    time.sleep(0.3)  # the server is stopping: shutdown() was called on every connection
    conn.send(GET_LIVE)
    release.set()
    first = conn.read()
    assert first is not None and first.json()["id"] == "first"
    closed = False
    for _ in range(10):  # a client that goes on sending as long as it is answered
        reply = conn.read()
        if reply is None:
            closed = True
            break
        with contextlib.suppress(OSError):
            conn.send(GET_LIVE)
    conn.close()
    stopper.join(20)
    stopped = time.monotonic() - t0
    assert closed, "the connection stayed open while the server was stopping"
    assert stopped < 2, f"the server took {stopped:.1f} s to stop"


def test_requests_still_waiting_at_the_shutdown_timeout_get_a_json_answer(front, held, monkeypatch):
    import uvicorn

    init = uvicorn.Config.__init__

    def short_grace(self, *args, **kwargs):
        init(self, *args, **{**kwargs, "timeout_graceful_shutdown": 1})

    monkeypatch.setattr(uvicorn.Config, "__init__", short_grace)
    rt, _ = held  # never released while the server stops: the model is stuck
    with serve_in_thread(rt) as (url, _):
        conns = _fill_held(rt, url)
        for i in range(3):
            conn = Conn(url, timeout=30)
            conn.send(_post(_body(f"p{i}"), HELD))
            conns.append(conn)
        time.sleep(0.3)
    replies = [conn.read() for conn in conns]
    for conn in conns:
        conn.close()
    for reply in replies:  # running, queued and parked: each told, none silently dropped
        assert reply is not None, "connection closed without an answer"
        assert reply.status != 500, reply
        assert reply.headers.get(b"content-type") == b"application/json", reply
        assert reply.json()["error"]
