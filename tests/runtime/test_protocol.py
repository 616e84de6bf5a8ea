"""KServe v2 protocol coverage over HTTP: the binary tensor data extension, Triton's model
configuration and statistics, content types and encodings, OpenAPI and error counters."""

from __future__ import annotations

import gzip
import json
import zlib

import numpy as np
import pytest
from fastapi.testclient import TestClient

from agentarts.errors import ConfigError
from agentarts.runtime.http.server import create_app


@pytest.fixture
def client(runtime):
    with TestClient(create_app(runtime, max_body_bytes=200_000)) as c:
        yield c


def binary_body(x: np.ndarray, binary_out: bool | None = True, extra: bytes = b"") -> tuple:
    header: dict = {
        "inputs": [
            {
                "name": "x",
                "shape": list(x.shape),
                "datatype": "FP32",
                "parameters": {"binary_data_size": x.nbytes},
            }
        ]
    }
    if binary_out is not None:
        header["outputs"] = [{"name": "y", "parameters": {"binary_data": binary_out}}]
    head = json.dumps(header).encode()
    return head + x.tobytes() + extra, {"Inference-Header-Content-Length": str(len(head))}


def split_binary(reply) -> tuple[dict, bytes]:
    length = int(reply.headers["inference-header-content-length"])
    return json.loads(reply.content[:length]), reply.content[length:]


def test_binary_request_and_response(client, runtime):
    x = np.random.default_rng(1).standard_normal((5, 64)).astype(np.float32)
    body, headers = binary_body(x)
    reply = client.post("/v2/models/mlp/infer", content=body, headers=headers)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/octet-stream"
    head, tail = split_binary(reply)
    (out,) = head["outputs"]
    assert out["shape"] == [5, 8] and out["parameters"]["binary_data_size"] == 5 * 8 * 4
    y = np.frombuffer(tail, "<f4").reshape(5, 8)
    np.testing.assert_allclose(y, runtime.infer("mlp", {"x": x})["y"], rtol=1e-5)


def test_binary_request_json_response_and_binary_data_output(client):
    x = np.ones((2, 64), np.float32)
    body, headers = binary_body(x, binary_out=False)
    reply = client.post("/v2/models/mlp/infer", content=body, headers=headers)
    assert reply.headers["content-type"] == "application/json"
    assert len(reply.json()["outputs"][0]["data"]) == 16
    # no outputs listed + binary_data_output: every output in binary (tritonclient's default)
    head = {
        "inputs": [{"name": "x", "shape": [2, 64], "datatype": "FP32", "data": x.ravel().tolist()}],
        "parameters": {"binary_data_output": True},
    }
    reply = client.post("/v2/models/mlp/infer", json=head)
    meta, tail = split_binary(reply)
    assert meta["outputs"][0]["parameters"]["binary_data_size"] == len(tail) == 64


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda b, h: (b + b"\0\0\0\0", h), "not claimed"),
        (lambda b, h: (b[:-4], h), "binary data ends"),
        (lambda b, h: (b, {"Inference-Header-Content-Length": "99999999"}), "within the"),
        (lambda b, h: (b, {"Inference-Header-Content-Length": "-3"}), "within the"),
        (lambda b, h: (b, {"Inference-Header-Content-Length": "5"}), "malformed JSON"),
    ],
)
def test_broken_binary_bodies_are_400(client, mutate, fragment):
    body, headers = binary_body(np.ones((1, 64), np.float32))
    body, headers = mutate(body, headers)
    reply = client.post("/v2/models/mlp/infer", content=body, headers=headers)
    assert reply.status_code == 400 and fragment in reply.json()["error"], reply.text


def test_binary_size_must_match_shape(client):
    head = json.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [1, 64],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": 12},
                }
            ]
        }
    ).encode()
    reply = client.post(
        "/v2/models/mlp/infer",
        content=head + bytes(12),
        headers={"Inference-Header-Content-Length": str(len(head))},
    )
    assert reply.status_code == 400 and "64 x 4 bytes" in reply.json()["error"]


def test_model_config_has_tritons_shape(client):
    config = client.get("/v2/models/mlp/config").json()
    assert config["name"] == "mlp" and config["max_batch_size"] == 64
    assert config["input"] == [{"name": "x", "data_type": "TYPE_FP32", "dims": [64]}]
    assert config["output"][0]["dims"] == [8]
    assert config["dynamic_batching"]["preferred_batch_size"] == [16, 32, 64]
    fixed = client.get("/v2/models/fixed/versions/1/config").json()
    assert fixed["max_batch_size"] == 0 and fixed["input"][0]["dims"] == [3, 4]
    assert "dynamic_batching" not in fixed
    assert client.get("/v2/models/nope/config").status_code == 404


def test_statistics_count_successes_failures_and_batches(client):
    x = np.zeros((3, 64), np.float32)
    body = {"inputs": [{"name": "x", "shape": [3, 64], "datatype": "FP32", "data": [0.0] * 192}]}
    for _ in range(2):
        assert client.post("/v2/models/mlp/infer", json=body).status_code == 200
    bad = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [0.0] * 3}]}
    assert client.post("/v2/models/mlp/infer", json=bad).status_code == 400
    assert client.post("/v2/models/mlp/infer", content=b"{oops").status_code == 400
    (stats,) = client.get("/v2/models/mlp/stats").json()["model_stats"]
    assert stats["name"] == "mlp" and stats["version"] == "2"
    assert stats["inference_count"] == 6 and stats["execution_count"] == 2
    assert stats["inference_stats"]["success"]["count"] == 2
    assert stats["inference_stats"]["fail"]["count"] == 2
    assert stats["inference_stats"]["compute_infer"]["ns"] > 0
    assert stats["batch_stats"][0]["batch_size"] == 3
    assert stats["last_inference"] > 1.7e12
    assert client.get("/v2/models/mlp/versions/1/stats").json() == {"model_stats": []}
    everything = client.get("/v2/models/stats").json()["model_stats"]
    assert [s["name"] for s in everything] == ["mlp"]
    metrics = client.get("/metrics").text
    assert 'agentarts_inference_request_failure{model="mlp",version="2"} 2' in metrics
    assert 'agentarts_http_error_responses{status="400"} 2' in metrics
    assert x.shape == (3, 64)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_bodies_are_read(client, encoding):
    body = json.dumps(
        {"inputs": [{"name": "x", "shape": [1, 64], "datatype": "FP32", "data": [0.5] * 64}]}
    ).encode()
    packed = gzip.compress(body) if encoding == "gzip" else zlib.compress(body)
    reply = client.post(
        "/v2/models/mlp/infer", content=packed, headers={"Content-Encoding": encoding}
    )
    assert reply.status_code == 200, reply.text


def test_compression_bomb_is_413(client):
    bomb = gzip.compress(b" " * 5_000_000)
    reply = client.post("/v2/models/mlp/infer", content=bomb, headers={"Content-Encoding": "gzip"})
    assert reply.status_code == 413


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Content-Type": "text/plain"}, 415),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415),
        ({"Content-Encoding": "br"}, 415),
        ({"Content-Encoding": "gzip"}, 400),  # not gzip data
        ({"Content-Type": "application/json; charset=utf-8"}, 200),
        ({"Content-Type": "application/octet-stream"}, 200),
    ],
)
def test_content_type_and_encoding(client, headers, status):
    body = json.dumps(
        {"inputs": [{"name": "x", "shape": [1, 64], "datatype": "FP32", "data": [0.5] * 64}]}
    )
    reply = client.post("/v2/models/mlp/infer", content=body, headers=headers)
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/")


def test_openapi_documents_infer_body_and_errors(client):
    schema = client.get("/openapi.json").json()
    infer = schema["paths"]["/v2/models/{model}/infer"]["post"]
    body = infer["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/InferRequest"}
    assert {"400", "404", "413", "415", "429", "503"} <= set(infer["responses"])
    assert "Retry-After" in infer["responses"]["429"]["headers"]
    components = schema["components"]["schemas"]
    assert components["InferInputTensor"]["properties"]["shape"]["items"]["minimum"] == 0
    assert "error" in components["Error"]["properties"]
    assert "/v2/models/{model}/config" in schema["paths"]


def test_unknown_route_and_method_answer_json(client):
    reply = client.get("/v2/nothing/here")
    assert reply.status_code == 404 and "error" in reply.json()
    reply = client.get("/v2/models/mlp/infer")
    assert reply.status_code == 405 and "error" in reply.json()


def test_empty_api_key_is_refused(runtime):
    with pytest.raises(ConfigError, match="empty"):
        create_app(runtime, api_key="")


def test_cli_refuses_empty_api_key(runner, cli):
    result = runner.invoke(cli, ["runtime", "serve", "--api-key", ""])
    assert result.exit_code == 2 and "--api-key is empty" in result.stderr
