"""The infer fast path (``http/fastpath.py``) answers exactly as the ASGI endpoint does, keeps
pipelined answers in order, frees a vanished client's slot, checks the API key, and finishes
what is in flight when the server stops."""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import threading
import time

import httpx
import numpy as np

from agentarts.runtime.batching.admission import Admission
from agentarts.runtime.testing import held_runtime, serve_in_thread


def _body(data: object = None, shape: object = (1, 64), **extra: object) -> bytes:
    tensor = {"name": "x", "shape": list(shape) if isinstance(shape, tuple) else shape}
    tensor["datatype"] = extra.pop("datatype", "FP32")
    tensor["data"] = [0.25] * 64 if data is None else data
    return json.dumps({"inputs": [tensor], **extra}, allow_nan=True).encode()


def _binary(rows: int = 2) -> tuple[bytes, dict[str, str]]:
    values = np.linspace(-1, 1, rows * 64, dtype=np.float32)
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [rows, 64],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": values.nbytes},
                }
            ],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    return header + values.tobytes(), {"Inference-Header-Content-Length": str(len(header))}


JSON = {"Content-Type": "application/json"}
BINARY_BODY, BINARY_HEADERS = _binary()
REQUESTS: list[tuple[str, str, bytes, dict[str, str]]] = [
    ("served", "/v2/models/mlp/infer", _body(), JSON),
    ("no content type", "/v2/models/mlp/infer", _body(), {}),
    ("version path", "/v2/models/mlp/versions/2/infer", _body(id="a-7"), JSON),
    ("binary in and out", "/v2/models/mlp/infer", BINARY_BODY, BINARY_HEADERS),
    ("output chosen", "/v2/models/mlp/infer", _body(outputs=[{"name": "y"}]), JSON),
    ("unknown output", "/v2/models/mlp/infer", _body(outputs=[{"name": "z"}]), JSON),
    ("boolean shape", "/v2/models/mlp/infer", _body(shape=[True, 64]), JSON),
    ("malformed JSON", "/v2/models/mlp/infer", b'{"inputs": [', JSON),
    ("deep nesting", "/v2/models/mlp/infer", b"[" * 5000, JSON),
    ("out of range", "/v2/models/mlp/infer", _body([500.0] * 64), JSON),
    ("NaN timeout", "/v2/models/mlp/infer", _body(parameters={"timeout_ms": float("nan")}), JSON),
    ("wrong datatype", "/v2/models/mlp/infer", _body([1] * 64, datatype="INT32"), JSON),
    ("too many rows", "/v2/models/mlp/infer", _body([0.5] * 64 * 65, shape=(65, 64)), JSON),
    ("strings as data", "/v2/models/mlp/infer", _body(["a"] * 64), JSON),
    (
        "bad header length",
        "/v2/models/mlp/infer",
        BINARY_BODY,
        {"Inference-Header-Content-Length": "x"},
    ),
    ("text content", "/v2/models/mlp/infer", _body(), {"Content-Type": "text/plain"}),
    (
        "gzip body",
        "/v2/models/mlp/infer",
        gzip.compress(_body()),
        {**JSON, "Content-Encoding": "gzip"},
    ),
    ("unknown model", "/v2/models/nope/infer", _body(), JSON),
    ("query string", "/v2/models/mlp/infer?x=1", _body(), JSON),
]


def _answer(reply: httpx.Response) -> tuple[int, str, bool, object, bytes]:
    """What must agree between the two paths: the server's own timing is left out, and so is
    the JSON header's exact length, which varies with that timing's digits."""
    length = reply.headers.get("inference-header-content-length")
    cut = int(length) if length is not None else len(reply.content)
    head = json.loads(reply.content[:cut])
    head.get("parameters", {}).pop("agentarts_host_time_us", None)
    binary = length is not None
    return reply.status_code, reply.headers["content-type"], binary, head, reply.content[cut:]


def _fast_count(client: httpx.Client) -> int:
    metrics = client.get("/metrics").text
    name = "agentarts_http_fast_path_requests"
    line = next(x for x in metrics.splitlines() if x.startswith(name))
    return int(line.split()[1])


def test_the_fast_path_answers_as_the_asgi_endpoint(runtime, monkeypatch):
    answers = {}
    for mode in ("1", "0"):
        monkeypatch.setenv("AGENTARTS_RUNTIME_FASTPATH", mode)
        with serve_in_thread(runtime) as (url, _), httpx.Client(base_url=f"http://{url}") as c:
            for _, path in {(0, "/v2/models/mlp/infer"), (1, "/v2/models/mlp/versions/2/infer")}:
                assert c.post(path, content=_body()).status_code == 200  # loads the model
            answers[mode] = [_answer(c.post(p, content=b, headers=h)) for _, p, b, h in REQUESTS]
            taken = _fast_count(c)
        assert (taken >= 12) if mode == "1" else taken == 0
    for (name, *_), fast, asgi in zip(REQUESTS, answers["1"], answers["0"], strict=True):
        assert fast == asgi, name
    statuses = {name: answer[0] for (name, *_), answer in zip(REQUESTS, answers["1"], strict=True)}
    assert statuses["served"] == statuses["binary in and out"] == 200
    assert statuses["boolean shape"] == statuses["deep nesting"] == 400
    assert statuses["text content"] == 415 and statuses["unknown model"] == 404


def test_pipelined_requests_are_answered_in_order(runtime):
    with serve_in_thread(runtime) as (url, _):
        host, port = url.split(":")
        httpx.post(f"http://{url}/v2/models/mlp/infer", content=_body())  # loads the model

        def post(body: bytes) -> bytes:
            head = b"POST /v2/models/mlp/infer HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
            return head % len(body) + body

        burst = post(_body(id="first")) + b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"
        burst += post(_body(id="third")) + post(b"{bad") + post(_body(id="fifth"))
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(burst)
            reader = s.makefile("rb")
            bodies = []
            for _ in range(5):
                status = reader.readline()
                length = 0
                while (line := reader.readline()) != b"\r\n":
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                bodies.append((status.split()[1], json.loads(reader.read(length))))
    assert [status for status, _ in bodies] == [b"200", b"200", b"200", b"400", b"200"]
    assert bodies[0][1]["id"] == "first" and bodies[1][1] == {"live": True}
    assert bodies[2][1]["id"] == "third" and bodies[4][1]["id"] == "fifth"


def test_a_client_gone_mid_body_frees_its_slot(runtime):
    admission = Admission()
    with serve_in_thread(runtime, admission=admission) as (url, _):
        host, port = url.split(":")
        httpx.post(f"http://{url}/v2/models/mlp/infer", content=_body())
        lm = runtime.lookup("mlp")
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(
                b"POST /v2/models/mlp/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"
                + _body()[:100]
            )
            deadline = time.monotonic() + 5
            while admission.in_flight.get(id(lm)) != 1:  # admitted, waiting for its body
                assert time.monotonic() < deadline
                time.sleep(0.01)
        deadline = time.monotonic() + 5
        while admission.in_flight.get(id(lm)) or admission.bytes_in_flight:
            assert time.monotonic() < deadline, admission.in_flight
            time.sleep(0.01)
        assert httpx.post(f"http://{url}/v2/models/mlp/infer", content=_body()).status_code == 200


def test_the_fast_path_checks_the_api_key(runtime):
    with serve_in_thread(runtime, api_key="s3cret") as (url, _):
        good = {"Authorization": "Bearer s3cret"}
        with httpx.Client(base_url=f"http://{url}", headers=good) as c:
            assert c.post("/v2/models/mlp/infer", content=_body()).status_code == 200
            before = _fast_count(c)
            assert c.post("/v2/models/mlp/infer", content=_body()).status_code == 200
            assert _fast_count(c) == before + 1
            for headers in ({"Authorization": "Bearer nope"}, {"X-API-Key": ""}, {}):
                reply = httpx.post(
                    f"http://{url}/v2/models/mlp/infer", content=_body(), headers=headers
                )
                assert reply.status_code == 401 and reply.json()["error"]
            assert c.post("/v2/models/mlp/infer", content=_body(), headers={"X-API-Key": "s3cret"})


def test_a_request_in_flight_is_answered_when_the_server_stops(repo):
    with held_runtime(repo, "slow", card="[batching]\nmax_batch_size = 1\n") as (rt, release):
        lm = rt.lookup("slow")
        with serve_in_thread(rt) as (url, _):
            host, port = url.split(":")
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            conn.request("POST", "/v2/models/slow/infer", body=_body())
            deadline = time.monotonic() + 5
            while not lm.last_async or not lm.last_async._running:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            threading.Timer(0.3, release.set).start()
        # the context has stopped the server: the answer was written before its connection closed
        reply = conn.getresponse()
        assert reply.status == 200 and json.loads(reply.read())["outputs"]
