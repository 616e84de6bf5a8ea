"""Standard Triton/KServe v2 clients (HTTP and gRPC, at their default settings) against a real
server: list, inspect, configure, infer, read statistics, see errors."""

from __future__ import annotations

import numpy as np
import pytest

tritonclient_http = pytest.importorskip("tritonclient.http")


@pytest.fixture(scope="module")
def servers(repo):
    from agentarts.runtime.local import LocalRuntime
    from agentarts.runtime.testing import serve_in_thread

    grpc = True
    try:
        import tritonclient.grpc  # noqa: F401
    except (ImportError, RuntimeError):
        grpc = False
    rt = LocalRuntime([repo], "910B2x2")
    with serve_in_thread(rt, grpc=grpc, api_key="k3y") as addresses:
        yield rt, addresses
    rt.close(drain=False)


def auth() -> dict[str, str]:
    """A fresh headers dict per call: tritonclient adds its own headers into the one given."""
    return {"authorization": "Bearer k3y"}


def test_http_client_defaults_use_binary_data(servers):
    runtime, (url, _) = servers
    client = tritonclient_http.InferenceServerClient(url=url)
    assert client.is_server_live(headers=auth()) and client.is_server_ready(headers=auth())
    assert client.get_server_metadata(headers=auth())["name"] == "agentarts"
    index = client.get_model_repository_index(headers=auth())
    assert {"mlp", "matmul", "broken"} <= {m["name"] for m in index}
    assert client.is_model_ready("mlp", headers=auth())
    meta = client.get_model_metadata("mlp", model_version="1", headers=auth())
    assert meta["inputs"][0]["name"] == "x" and meta["outputs"][0]["name"] == "y"

    x = np.random.default_rng(3).standard_normal((4, 64)).astype(np.float32)
    inp = tritonclient_http.InferInput("x", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)  # binary_data=True: the client's default
    expected = runtime.infer("mlp", {"x": x}, version="1")["y"]
    for outputs in (None, [tritonclient_http.InferRequestedOutput("y")]):
        result = client.infer("mlp", [inp], outputs=outputs, model_version="1", headers=auth())
        np.testing.assert_allclose(result.as_numpy("y"), expected, rtol=1e-5)
    # gzip-compressed request, as the client can send it
    result = client.infer(
        "mlp", [inp], model_version="1", headers=auth(), request_compression_algorithm="gzip"
    )
    np.testing.assert_allclose(result.as_numpy("y"), expected, rtol=1e-5)

    config = client.get_model_config("mlp", headers=auth())
    assert config["max_batch_size"] == 64 and config["input"][0]["dims"] == [64]
    stats = client.get_inference_statistics("mlp", model_version="1", headers=auth())
    (model,) = stats["model_stats"]
    assert model["version"] == "1" and model["inference_stats"]["success"]["count"] >= 3


def test_http_client_sees_errors(servers):
    _, (url, _) = servers
    from tritonclient.utils import InferenceServerException

    client = tritonclient_http.InferenceServerClient(url=url)
    inp = tritonclient_http.InferInput("x", [1, 3], "FP32")
    inp.set_data_from_numpy(np.zeros((1, 3), np.float32))
    with pytest.raises(InferenceServerException, match="has shape"):
        client.infer("mlp", [inp], headers=auth())
    with pytest.raises(InferenceServerException, match="unknown model"):
        client.get_model_metadata("nope", headers=auth())
    with pytest.raises(InferenceServerException, match="API key"):
        client.get_server_metadata()


def test_grpc_client_defaults(servers):
    runtime, (_, grpc_url) = servers
    if grpc_url is None:
        pytest.skip("tritonclient[grpc] is not installed")
    import tritonclient.grpc as tg

    client = tg.InferenceServerClient(url=grpc_url)
    assert client.is_server_live(headers=auth()) and client.is_server_ready(headers=auth())
    assert client.get_server_metadata(headers=auth()).name == "agentarts"
    assert client.is_model_ready("mlp", headers=auth())
    meta = client.get_model_metadata("mlp", headers=auth(), as_json=True)
    assert meta["inputs"][0]["shape"] == ["-1", "64"]
    index = client.get_model_repository_index(headers=auth(), as_json=True)
    assert any(m["name"] == "mlp" for m in index["models"])

    x = np.random.default_rng(4).standard_normal((3, 64)).astype(np.float32)
    inp = tg.InferInput("x", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    result = client.infer("mlp", [inp], headers=auth())
    np.testing.assert_allclose(result.as_numpy("y"), runtime.infer("mlp", {"x": x})["y"], rtol=1e-5)
    result = client.infer("mlp", [inp], outputs=[tg.InferRequestedOutput("y")], headers=auth())
    assert result.as_numpy("y").shape == (3, 8)

    config = client.get_model_config("mlp", headers=auth(), as_json=True)["config"]
    assert config["max_batch_size"] == 64 and config["input"][0]["data_type"] == "TYPE_FP32"
    stats = client.get_inference_statistics("mlp", headers=auth(), as_json=True)
    assert int(stats["model_stats"][0]["inference_count"]) >= 3


def test_grpc_errors_and_auth(servers):
    _, (_, grpc_url) = servers
    if grpc_url is None:
        pytest.skip("tritonclient[grpc] is not installed")
    import tritonclient.grpc as tg
    from tritonclient.utils import InferenceServerException

    client = tg.InferenceServerClient(url=grpc_url)
    with pytest.raises(InferenceServerException, match="API key"):
        client.is_server_live()
    bad = tg.InferInput("x", [1, 3], "FP32")
    bad.set_data_from_numpy(np.zeros((1, 3), np.float32))
    with pytest.raises(InferenceServerException, match="has shape") as info:
        client.infer("mlp", [bad], headers=auth())
    assert info.value.status() == "StatusCode.INVALID_ARGUMENT"
    with pytest.raises(InferenceServerException) as info:
        client.get_model_metadata("nope", headers=auth())
    assert info.value.status() == "StatusCode.NOT_FOUND"
    nan = tg.InferInput("x", [1, 64], "FP32")
    nan.set_data_from_numpy(np.full((1, 64), np.nan, np.float32))
    with pytest.raises(InferenceServerException, match="NaN"):
        client.infer("mlp", [nan], headers=auth())


def test_grpc_and_http_share_one_batcher(servers):
    runtime, (url, grpc_url) = servers
    if grpc_url is None:
        pytest.skip("tritonclient[grpc] is not installed")
    import tritonclient.grpc as tg

    before = runtime.load("mlp", "2").batcher.stats.request_success
    x = np.ones((1, 64), np.float32)
    g = tg.InferInput("x", [1, 64], "FP32")
    g.set_data_from_numpy(x)
    tg.InferenceServerClient(url=grpc_url).infer("mlp", [g], headers=auth())
    h = tritonclient_http.InferInput("x", [1, 64], "FP32")
    h.set_data_from_numpy(x)
    tritonclient_http.InferenceServerClient(url=url).infer("mlp", [h], headers=auth())
    assert runtime.load("mlp", "2").batcher.stats.request_success == before + 2
