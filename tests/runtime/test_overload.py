"""Overload and big bodies: refusal before the body is read, big JSON decoded off the loop."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import time

import httpx
import numpy as np
import pytest

from agentarts.runtime.batching.admission import Admission
from agentarts.runtime.testing import held_runtime, serve_in_thread

SMALL = json.dumps(
    {"inputs": [{"name": "x", "shape": [1, 64], "datatype": "FP32", "data": [0.25] * 64}]}
).encode()


@pytest.fixture(autouse=True, params=["fast path", "asgi"])
def _front(request, monkeypatch):
    """Every test here runs against both HTTP paths (``http/fastpath.py`` and ASGI)."""
    monkeypatch.setenv("AGENTARTS_RUNTIME_FASTPATH", "1" if request.param == "fast path" else "0")


@pytest.fixture
def held(repo):
    """A model whose runs block until released: max 2 requests in flight (1 queued + 1 batch)."""
    with held_runtime(repo) as pair:
        yield pair


def _fill(rt, host: str, port: str) -> list[http.client.HTTPConnection]:
    """Two requests taking the held model's two slots: one running, one queued."""
    blocked = []
    for _ in range(2):
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request("POST", "/v2/models/held/infer", body=SMALL)
        blocked.append(conn)
    lm = rt.load("held")
    deadline = time.monotonic() + 10
    while lm.last_async is None or lm.last_async.queue_depth < 1:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    return blocked


def test_refusal_comes_before_the_body_is_read(held):
    rt, release = held
    with serve_in_thread(rt, admission=Admission(max_waiting=0)) as (url, _):
        host, port = url.split(":")
        blocked = _fill(rt, host, port)
        # headers announcing a 1 MB body, and no body at all: refused at once
        with socket.create_connection((host, int(port)), timeout=5) as s:
            t0 = time.perf_counter()
            s.sendall(
                b"POST /v2/models/held/infer HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"
            )
            reply = s.recv(4096)
            elapsed = time.perf_counter() - t0
        assert reply.startswith(b"HTTP/1.1 429"), reply[:200]
        assert b"retry-after: " in reply.lower() and b"requests in flight" in reply
        assert elapsed < 1.0
        release.set()
        for conn in blocked:
            assert conn.getresponse().status == 200
        stats = rt.load("held").batcher.stats
        assert stats.request_failure >= 1 and stats.request_success == 2


def test_a_request_beyond_the_limit_waits_in_line_then_is_served(held):
    rt, release = held
    admission = Admission()
    with serve_in_thread(rt, admission=admission) as (url, _):
        host, port = url.split(":")
        blocked = _fill(rt, host, port)
        third = http.client.HTTPConnection(host, int(port), timeout=30)
        third.request("POST", "/v2/models/held/infer", body=SMALL)
        deadline = time.monotonic() + 10
        while not any(line.waiting for line in admission.lines.values()):
            assert time.monotonic() < deadline
            time.sleep(0.005)
        assert rt.load("held").last_async.queue_depth == 1  # it waits unread, not queued
        release.set()
        for conn in [*blocked, third]:
            assert conn.getresponse().status == 200
        assert admission.waited == 1 and admission.refused == 0
        metrics = httpx.get(f"http://{url}/metrics").text
        assert "agentarts_admission_waited 1" in metrics
        assert admission.in_flight == {id(rt.load("held")): 0}
        assert admission.bytes_in_flight == 0


def test_a_request_that_could_not_be_served_in_time_is_refused_with_retry_after(held):
    rt, release = held
    admission = Admission()
    with serve_in_thread(rt, admission=admission) as (url, _):
        host, port = url.split(":")
        blocked = _fill(rt, host, port)
        line = admission.lines[id(rt.load("held"))]
        line.interval_s = 4.0  # as measured under load: 3 ahead x 4 s > the 10 s timeout
        reply = httpx.post(f"http://{url}/v2/models/held/infer", content=SMALL, timeout=10)
        assert reply.status_code == 429
        # the time to answer the 3 ahead of it: 12 s
        assert reply.headers["retry-after"] == "12"
        assert reply.headers["retry-after-ms"] == "12000"
        assert "in flight and waiting" in reply.json()["error"]
        line.interval_s = 3.5  # 10.5 s: HTTP's whole seconds round up
        reply = httpx.post(f"http://{url}/v2/models/held/infer", content=SMALL, timeout=10)
        assert (reply.headers["retry-after"], reply.headers["retry-after-ms"]) == ("11", "10500")
        metrics = httpx.get(f"http://{url}/metrics").text
        release.set()
        for conn in blocked:
            assert conn.getresponse().status == 200
    # both refusals timed inside the server, from the ASGI call to the 429 written
    assert admission.refused == 2 and sum(admission.refusal_buckets) == 2
    assert 0 < admission.refusal_sum_s < 1.0
    assert 'agentarts_admission_refusal_seconds_bucket{le="+Inf"} 2' in metrics
    assert "agentarts_admission_refusal_seconds_count 2" in metrics
    buckets = [
        int(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("agentarts_admission_refusal_seconds_bucket")
    ]
    assert buckets == sorted(buckets)  # cumulative, as Prometheus histograms are


@pytest.mark.slow
def test_big_json_bodies_do_not_stall_small_requests(runtime):
    rows = 30_000  # ~3.5 MB of JSON each: rejected after decoding (more rows than max batch)
    big = json.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [rows, 64],
                    "datatype": "FP32",
                    "data": np.random.default_rng(0).random(rows * 64).round(6).tolist(),
                }
            ]
        }
    ).encode()

    async def main(url):
        limits = httpx.Limits(max_connections=16)
        async with httpx.AsyncClient(base_url=f"http://{url}", limits=limits, timeout=60) as c:
            await c.post("/v2/models/mlp/infer", content=SMALL)  # warm
            warm = await c.post("/v2/models/mlp/infer", content=big)  # starts the pool
            assert warm.status_code == 400 and "rows" in warm.json()["error"]

            async def small():
                latencies = []
                await asyncio.sleep(0.05)
                for _ in range(40):
                    t0 = time.perf_counter()
                    assert (await c.post("/v2/models/mlp/infer", content=SMALL)).status_code == 200
                    latencies.append(time.perf_counter() - t0)
                    await asyncio.sleep(0.01)
                return latencies

            bigs = [c.post("/v2/models/mlp/infer", content=big) for _ in range(4)]
            *answers, latencies = await asyncio.gather(*bigs, small())
            assert all(a.status_code == 400 for a in answers)
            return max(latencies)

    from agentarts.runtime.kserve.messages import decode_request

    t0 = time.perf_counter()
    decode_request(big, None)
    one = time.perf_counter() - t0  # what one big body costs the loop when decoded on it
    with serve_in_thread(runtime, max_body_bytes=64 * 1024 * 1024) as (url, _):
        worst = asyncio.run(main(url))
    # on the loop, four bodies would stall a small request for up to 4 x one
    assert worst < max(0.1, one), f"small request waited {worst:.3f} s; one decode {one:.3f} s"
