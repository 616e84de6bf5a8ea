"""The fast path's waiting room under attack: clients vanishing at every stage, hundreds parked
and closed at once, refusals, queue timeouts, the first-come order across both paths; no slot
or body byte leaked."""

from __future__ import annotations

import gzip
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
    _counters,
    _fill_held,
    _json_4xx,
    _no_leak,
    _post,
    _until,
    _waiting,
)

STAGES = {
    "mid headers": lambda: _post(_body())[:30],
    "mid body": lambda: _post(_body())[:-40],
    "whole request": lambda: _post(_body()),
    "past 64 KiB of its body": lambda: _post(_body()[:-1] + b" " * 150_000 + b"}")[:-1000],
}


@pytest.mark.parametrize("abrupt", [False, True], ids=["FIN", "RST"])
def test_clients_vanishing_at_every_stage_leak_no_slot(front, held, abrupt):
    rt, release = held
    admission = Admission()
    with serve_in_thread(rt, admission=admission) as (url, _):
        fill = _fill_held(rt, url)
        parked = []
        for stage in STAGES:  # parked in the waiting room
            conn = Conn(url)
            conn.send(STAGES[stage]().replace(b"/mlp/", b"/qa_held/"))
            parked.append(conn)
        if front == "fast path":
            _until(lambda: _waiting(admission, rt) == 3, what="three parked")
        else:
            time.sleep(0.3)
        for conn in [*parked, fill[1]]:  # fill[1] is queued in the batcher
            conn.reset() if abrupt else conn.close()
        time.sleep(0.2)
        release.set()
        fill[0].close()  # gone while its batch runs
        _no_leak(admission)
        lm = rt.lookup("qa_held")
        assert admission.in_flight == {id(lm): 0}
        # the model serves again, on a new connection and after a vanished answered one
        after = Conn(url)
        after.send(_post(_body("after"), HELD))
        reply = after.read()
        assert reply is not None and reply.status == 200 and reply.json()["id"] == "after"
        after.close()  # right after its answer
        _no_leak(admission)


def test_hundreds_of_parked_connections_closed_at_once(held):
    rt, release = held
    admission = Admission()
    with serve_in_thread(rt, admission=admission) as (url, _):
        fill = _fill_held(rt, url)
        parked = []
        for i in range(300):
            conn = Conn(url, timeout=30)
            conn.send(_post(_body(f"p{i}"), HELD) if i % 2 else _post(_body(), HELD)[:-10])
            parked.append(conn)
        _until(lambda: _waiting(admission, rt) == 300, 10, "300 parked")
        for conn in parked:
            conn.reset()
        _until(lambda: _waiting(admission, rt) == 0, 10, "tickets cancelled")
        release.set()
        for conn in fill:
            reply = conn.read()
            assert reply is not None and reply.status == 200
            conn.close()
        _no_leak(admission)
        assert admission.waited == 0
        assert not admission.lines[id(rt.lookup("qa_held"))].waiting  # the dead entries dropped
        assert httpx.post(f"http://{url}{HELD}", content=_body()).status_code == 200
        _no_leak(admission)


def test_a_newcomer_is_not_refused_for_waiters_that_left(held):
    """Cancelled tickets stay in the waiting room's deque until a release pops them, and
    ``Admission.park`` counts them: ``max_waiting`` dead clients make every newcomer a 429
    while the room is empty."""
    rt, release = held
    admission = Admission(max_waiting=20)
    with serve_in_thread(rt, admission=admission) as (url, _):
        fill = _fill_held(rt, url)
        gone = []
        for _ in range(20):
            conn = Conn(url, timeout=30)
            conn.send(_post(_body(), HELD))
            gone.append(conn)
        _until(lambda: _waiting(admission, rt) == 20, 10, "20 parked")
        for conn in gone:
            conn.close()
        _until(lambda: _waiting(admission, rt) == 0, 10, "tickets cancelled")
        newcomer = Conn(url, timeout=30)
        newcomer.send(_post(_body("new"), HELD))
        time.sleep(0.3)
        release.set()
        reply = newcomer.read()
        assert reply is not None and reply.status == 200, reply
        for conn in fill:
            conn.read()
        _no_leak(admission)


@pytest.mark.slow
def test_the_keep_alive_timeout_does_not_cut_a_parked_request(held):
    rt, release = held
    admission = Admission()
    with serve_in_thread(rt, admission=admission, keep_alive_s=1) as (url, _):
        conn = Conn(url, timeout=30)
        conn.send(GET_LIVE + GET_LIVE)  # answers first: the keep-alive timer is armed
        assert conn.read().status == 200 and conn.read().status == 200
        fill = _fill_held(rt, url)
        conn.send(_post(_body("parked"), HELD))
        time.sleep(1.5)  # parked for longer than the keep-alive timeout
        release.set()
        reply = conn.read()
        assert reply is not None and reply.status == 200 and reply.json()["id"] == "parked"
        conn.send(_post(_body("again"), HELD))  # the connection is still usable
        reply = conn.read()
        assert reply is not None and reply.json()["id"] == "again"
        assert conn.closed_by_server(1.6)  # and idle, it is closed after the timeout
        for c in [*fill, conn]:
            c.close()
        _no_leak(admission)


def test_refusals_keep_the_connection_and_are_counted_as_on_the_asgi_path(held, monkeypatch):
    rt, release = held
    seen = {}
    for mode in ("0", "1"):
        monkeypatch.setenv("AGENTARTS_RUNTIME_FASTPATH", mode)
        release.clear()
        admission = Admission(max_waiting=0)
        with serve_in_thread(rt, admission=admission) as (url, _):
            fill = _fill_held(rt, url)
            conn = Conn(url)
            # refused with its body, refused before its body is sent, then a GET and a refusal
            conn.send(_post(_body("r1"), HELD))
            first = conn.read()
            head, body = _post(_body("r2"), HELD).split(b"\r\n\r\n", 1)
            conn.send(head + b"\r\n\r\n")
            second = conn.read()  # the 429 comes before the body is sent
            conn.send(body + GET_LIVE + _post(_body("r3"), HELD))
            third, fourth = conn.read(), conn.read()
            replies = [first, second, third, fourth]
            assert not conn.closed_by_server(0.2)
            release.set()
            for c in fill:
                assert c.read().status == 200
            counters = _counters(url)
            conn.close()
            _no_leak(admission)
        for reply in (first, second, fourth):
            _json_4xx(reply)
            assert reply.status == 429 and int(reply.headers[b"retry-after"]) >= 1
        assert third is not None and third.json() == {"live": True}
        assert admission.refused == 3 and sum(admission.refusal_buckets) == 3
        seen[mode] = ([r.status for r in replies], counters)
    assert seen["1"] == seen["0"]


def _buffered_parked_bytes() -> list[int]:
    """Body bytes the server holds for fast requests not yet admitted (white box)."""
    import gc

    from agentarts.runtime.http import fastpath

    return [
        sum(map(len, o.body))
        for o in gc.get_objects()
        if isinstance(o, fastpath._Request) and o.admitted is False
    ]


def test_a_parked_request_waits_with_its_body_unread(held):
    """docs/runtime.md: a request beyond the limit "waits, body unread". As on the ASGI path
    (uvicorn stops reading a body nobody receives past HIGH_WATER_LIMIT, 64 KiB), the fast
    path stops reading a waiting request's body once it holds over 64 KiB of it: what the
    client sends after that stays in the kernel until the request is admitted."""
    rt, release = held
    admission = Admission()
    whole = _post(_body("big")[:-1] + b" " * 200_000 + b"}", HELD)  # under 256 KiB
    cut = len(whole) - 100_000  # headers and ~100 KB first: more than 64 KiB
    with serve_in_thread(rt, admission=admission) as (url, _):
        fill = _fill_held(rt, url)
        parked = []
        for _ in range(10):
            conn = Conn(url, timeout=30)
            conn.send(whole[:cut])
            parked.append(conn)
        _until(lambda: _waiting(admission, rt) == 10, what="ten parked")
        head = whole.index(b"\r\n\r\n") + 4
        _until(lambda: _buffered_parked_bytes() == [cut - head] * 10, what="first parts read")
        for conn in parked:
            conn.send(whole[cut:])
        time.sleep(0.3)
        buffered = _buffered_parked_bytes()
        release.set()
        for conn in [*fill, *parked]:
            reply = conn.read()
            assert reply is not None and reply.status == 200, reply
            conn.close()
        _no_leak(admission)
    assert buffered == [cut - head] * 10, "the rest of the bodies was read while parked"


def test_the_waiting_room_is_first_come_first_served_across_both_paths(held):
    """Parked fast requests (callbacks) and parked ASGI ones (gzip bodies: futures) share one
    FIFO: they run in the order they arrived."""
    rt, release = held
    lm = rt.lookup("qa_held")
    ran: list[int] = []
    runner = lm.async_runner

    def recording(payloads, rows):
        ran.extend(round(float(p["x"][0, 0]) * 100) for p in payloads)
        return runner(payloads, rows)

    lm.async_runner = recording
    admission = Admission()
    with serve_in_thread(rt, admission=admission) as (url, _):
        fill = _fill_held(rt, url)
        line = admission.lines[id(lm)]
        conns = []
        for i in range(1, 13):
            conn = Conn(url, timeout=30)
            body = _body(f"w{i}", data=[i / 100] * 64)
            if i % 3 == 0:
                conn.send(_post(gzip.compress(body), HELD, b"Content-Encoding: gzip\r\n"))
            else:
                conn.send(_post(body, HELD))
            conns.append(conn)
            _until(lambda n=i: len(line.waiting) == n, what=f"{i} parked")
        release.set()
        for i, conn in enumerate(conns, 1):
            reply = conn.read()
            assert reply is not None and reply.status == 200 and reply.json()["id"] == f"w{i}"
            conn.close()
        for conn in fill:
            conn.close()
        _no_leak(admission)
    assert ran[2:] == list(range(1, 13)), ran


def test_clients_vanishing_as_their_slot_is_handed_over_leak_nothing(held):
    rt, release = held
    admission = Admission()
    with serve_in_thread(rt, admission=admission) as (url, _):
        fill = _fill_held(rt, url)
        half = Conn(url, timeout=30)  # parked with half its body: admitted while incomplete
        half.send(_post(_body("half"), HELD)[:-30])
        crowd = []
        for i in range(200):
            conn = Conn(url, timeout=30)
            conn.send(_post(_body(f"c{i}"), HELD))
            crowd.append(conn)
        _until(lambda: _waiting(admission, rt) == 201, 10, "201 parked")
        release.set()
        _until(lambda: admission.waited >= 1, what="the half-sent request admitted")
        half.reset()
        for conn in crowd:  # gone while slots are being handed to them
            conn.reset()
        for conn in fill:
            conn.close()
        _no_leak(admission, 10)
        assert httpx.post(f"http://{url}{HELD}", content=_body()).status_code == 200
        _no_leak(admission)


def test_a_request_timing_out_in_the_queue_is_answered_as_on_the_asgi_path(held, monkeypatch):
    rt, release = held
    seen = {}
    for mode in ("0", "1"):
        monkeypatch.setenv("AGENTARTS_RUNTIME_FASTPATH", mode)
        release.clear()
        admission = Admission()
        with serve_in_thread(rt, admission=admission) as (url, _):
            running = Conn(url, timeout=30)
            running.send(_post(_body("run"), HELD))
            _until(
                lambda: (b := rt.lookup("qa_held").last_async) is not None and b._running,
                what="run",
            )
            conn = Conn(url, timeout=30)
            conn.send(_post(_body("late", parameters={"timeout_ms": 100}), HELD) + GET_LIVE)
            time.sleep(0.4)
            release.set()
            late, live = conn.read(), conn.read()
            assert running.read().status == 200
            for c in (conn, running):
                c.close()
            _no_leak(admission)
        assert late is not None and late.json()["error"] and live.json() == {"live": True}
        seen[mode] = (late.status, late.headers[b"content-type"], late.json())
    assert seen["1"] == seen["0"]
