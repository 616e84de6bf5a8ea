"""The KServe v2 HTTP front end: every route, every bad input as a 4xx JSON error."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from agentarts.errors import InvalidInputError, NotFoundError, RuntimeOverloadedError
from agentarts.runtime.http.client import HttpRuntime
from agentarts.runtime.http.server import create_app


@pytest.fixture
def client(runtime):
    with TestClient(create_app(runtime, max_body_bytes=200_000)) as c:
        yield c


def tensor(x, name="x"):
    return {
        "name": name,
        "shape": list(x.shape),
        "datatype": "FP32",
        "data": x.reshape(-1).tolist(),
    }


def test_health_and_server_metadata(client):
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    meta = client.get("/v2").json()
    assert meta["name"] == "agentarts" and "model_repository" in meta["extensions"]


def test_model_metadata_and_readiness(client):
    meta = client.get("/v2/models/mlp").json()
    assert meta["name"] == "mlp" and meta["versions"] == ["1", "2"]
    assert meta["inputs"][0]["shape"] == [-1, 64]
    assert client.get("/v2/models/mlp/versions/1").json()["parameters"]["version"] == "1"
    assert client.get("/v2/models/mlp/ready").json() == {"name": "mlp", "ready": True}
    assert client.get("/v2/models/mlp/versions/1/ready").status_code == 200
    assert client.get("/v2/models/broken/ready").status_code == 400


def test_infer_roundtrip(client, runtime):
    x = np.random.default_rng(0).standard_normal((3, 64)).astype(np.float32)
    reply = client.post("/v2/models/mlp/infer", json={"id": "r1", "inputs": [tensor(x)]})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["id"] == "r1" and body["model_version"] == "2"
    (out,) = body["outputs"]
    assert out["name"] == "y" and out["shape"] == [3, 8] and out["datatype"] == "FP32"
    np.testing.assert_allclose(
        np.array(out["data"]).reshape(3, 8), runtime.infer("mlp", {"x": x})["y"], rtol=1e-5
    )
    assert body["parameters"]["agentarts_device_time_us"] > 0
    versioned = client.post("/v2/models/mlp/versions/1/infer", json={"inputs": [tensor(x)]})
    assert versioned.json()["model_version"] == "1"


@pytest.mark.parametrize(
    ("path", "body", "status", "fragment"),
    [
        ("/v2/models/nope/infer", {"inputs": []}, 404, "unknown model 'nope'"),
        ("/v2/models/mlp/versions/7/infer", {"inputs": []}, 404, "no version '7'"),
        ("/v2/models/mlp/infer", b"{not json", 400, "malformed JSON"),
        ("/v2/models/mlp/infer", [1, 2], 400, "must be a JSON object"),
        ("/v2/models/mlp/infer", {"inputs": []}, 400, "non-empty list"),
        ("/v2/models/mlp/infer", {"inputs": [{"name": "x"}]}, 400, "'shape' must be"),
        (
            "/v2/models/mlp/infer",
            {"inputs": [{"name": "x", "shape": [1, 64], "datatype": "FP99", "data": []}]},
            400,
            "datatype 'FP99'",
        ),
        (
            "/v2/models/mlp/infer",
            {"inputs": [{"name": "x", "shape": [1, 64], "datatype": "FP32", "data": [1.0]}]},
            400,
            "do not fill shape",
        ),
        (
            "/v2/models/mlp/infer",
            {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": ["a", "b"]}]},
            400,
            "FP32 data cannot hold strings",
        ),
        (
            "/v2/models/mlp/infer",
            {"inputs": [{"name": "x", "shape": [1, 64], "datatype": "FP64", "data": [0.0] * 64}]},
            400,
            "must be FP32, got FP64",
        ),
        (
            "/v2/models/mlp/infer",
            {"inputs": [{"name": "q", "shape": [1, 64], "datatype": "FP32", "data": [0.0] * 64}]},
            400,
            "missing ['x']",
        ),
        (
            "/v2/models/mlp/infer",
            {"inputs": [{"name": "x", "shape": [1, 32], "datatype": "FP32", "data": [0.0] * 32}]},
            400,
            "has shape [1, 32]",
        ),
        (
            "/v2/models/mlp/infer",
            {"inputs": [{"name": "x", "shape": [1, 64], "datatype": "FP32", "data": [500.0] * 64}]},
            400,
            "outside [-100.0, 100.0]",
        ),
        (
            "/v2/models/mlp/infer",
            {
                "inputs": [{"name": "x", "shape": [1, 64], "datatype": "FP32", "data": [0.0] * 64}],
                "outputs": [{"name": "zz"}],
            },
            400,
            "unknown outputs ['zz']",
        ),
        (
            "/v2/models/mlp/infer",
            {
                "inputs": [{"name": "x", "shape": [1, 64], "datatype": "FP32", "data": [0.0] * 64}],
                "parameters": {"timeout_ms": -1},
            },
            400,
            "timeout_ms",
        ),
        (
            "/v2/models/broken/infer",
            {"inputs": [{"name": "x", "shape": [1, 64], "datatype": "FP32", "data": [0.0] * 64}]},
            503,
            "broken/1: model.onnx is not a valid ONNX model",
        ),
    ],
)
def test_bad_requests_get_json_errors(client, path, body, status, fragment):
    if isinstance(body, bytes):
        reply = client.post(path, content=body, headers={"content-type": "application/json"})
    else:
        reply = client.post(path, json=body)
    assert reply.status_code == status, reply.text
    assert fragment in reply.json()["error"]


def test_nan_in_json_is_rejected(client):
    body = '{"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [NaN, 1]}]}'
    reply = client.post("/v2/models/fixed/infer", content=body)
    assert reply.status_code == 400
    body64 = json.dumps({"inputs": [tensor(np.zeros((1, 64), np.float32))]}).replace(
        "0.0", "NaN", 1
    )
    reply = client.post("/v2/models/mlp/infer", content=body64)
    assert reply.status_code == 400 and "NaN or Inf at index [0, 0]" in reply.json()["error"]


def test_oversized_body_is_413(client):
    big = {"inputs": [tensor(np.zeros((64, 64), np.float32))], "pad": "x" * 300_000}
    reply = client.post("/v2/models/mlp/infer", json=big)
    assert reply.status_code == 413 and "exceeds" in reply.json()["error"]


def test_repository_index_reports_corrupt_model_by_name(client):
    client.post("/v2/models/broken/infer", json={"inputs": [tensor(np.zeros((1, 64), np.float32))]})
    client.post(
        "/v2/models/matmul/infer", json={"inputs": [tensor(np.zeros((1, 256), np.float32))]}
    )
    index = {(r["name"], r["version"]): r for r in client.post("/v2/repository/index").json()}
    assert index[("broken", "1")]["state"] == "UNAVAILABLE"
    assert "not a valid ONNX model" in index[("broken", "1")]["reason"]
    assert index[("matmul", "1")]["state"] == "READY"


def test_metrics_use_triton_names(client):
    x = np.zeros((2, 64), np.float32)
    for _ in range(3):
        client.post("/v2/models/mlp/infer", json={"inputs": [tensor(x)]})
    text = client.get("/metrics").text
    assert 'agentarts_inference_request_success{model="mlp",version="2"} 3' in text
    assert 'agentarts_inference_count{model="mlp",version="2"} 6' in text
    assert "agentarts_inference_exec_count" in text
    assert "agentarts_inference_queue_duration_us" in text
    assert 'agentarts_device_hbm_used_bytes{device="0",profile="910B2"}' in text
    assert "# TYPE agentarts_device_busy_us counter" in text


def test_overload_is_429_with_retry_after(repo):
    from agentarts.runtime.local import LocalRuntime
    from agentarts.runtime.testing import make_mlp, write_model

    write_model(
        repo, "tiny_queue", make_mlp(), card="[batching]\nmax_batch_size = 1\nmax_queue_size = 1\n"
    )
    rt = LocalRuntime([repo])
    lm = rt.load("tiny_queue")
    release = threading.Event()
    original = lm.batcher._run_one

    def slow(payload, rows):
        release.wait(10)
        return original(payload, rows)

    lm.batcher._run_one = slow
    lm.batcher._runner = lambda payloads, rows: [slow(p, rows) for p in payloads]
    x = {"x": np.zeros((1, 64), np.float32)}
    first = threading.Thread(target=rt.infer, args=("tiny_queue", x))
    first.start()
    second = threading.Thread(target=rt.infer, args=("tiny_queue", x))
    while not lm.batcher._busy:
        time.sleep(0.001)
    second.start()
    while lm.batcher.queue_depth < 1:
        time.sleep(0.001)
    with TestClient(create_app(rt)) as c:
        reply = c.post("/v2/models/tiny_queue/infer", json={"inputs": [tensor(x["x"])]})
    release.set()
    first.join(5)
    second.join(5)
    assert reply.status_code == 429
    assert reply.headers["retry-after"] == "1"
    assert "queue full" in reply.json()["error"]
    rt.close()


def test_api_key_guards_every_route(runtime):
    with TestClient(create_app(runtime, api_key="s3cret")) as c:
        assert c.get("/v2/health/live").status_code == 401
        assert c.get("/v2", headers={"x-api-key": "wrong"}).status_code == 401
        assert c.get("/v2", headers={"authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/metrics", headers={"x-api-key": "s3cret"}).status_code == 200


def test_http_runtime_over_the_app(runtime):
    with TestClient(create_app(runtime, api_key="k")) as c:
        c.headers["authorization"] = "Bearer k"
        remote = HttpRuntime("http://testserver", client=c)
        x = np.ones((2, 64), np.float32)
        result = remote.infer("mlp", {"x": x})
        np.testing.assert_allclose(result["y"], runtime.infer("mlp", {"x": x})["y"], rtol=1e-5)
        assert result.device_time_us > 0 and result.batch_size == 2
        assert remote.is_ready() and remote.is_ready("mlp") and not remote.is_ready("broken")
        assert remote.model_metadata("mlp")["name"] == "mlp"
        assert any(r["name"] == "mlp" for r in remote.list_models())
        with pytest.raises(NotFoundError):
            remote.infer("nope", {"x": x})
        with pytest.raises(InvalidInputError, match="has shape"):
            remote.infer("mlp", {"x": np.ones((2, 3), np.float32)})
        assert issubclass(RuntimeOverloadedError, Exception)
