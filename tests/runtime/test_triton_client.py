"""A standard Triton/KServe v2 HTTP client lists, inspects and infers against a real server."""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest

tritonclient_http = pytest.importorskip("tritonclient.http")


@pytest.fixture
def server(runtime):
    import uvicorn

    from agentarts.runtime.server import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_level="error")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 10
    while not srv.started and time.time() < deadline:
        time.sleep(0.01)
    assert srv.started
    yield f"127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


def test_triton_client_lists_inspects_and_infers(server, runtime):
    client = tritonclient_http.InferenceServerClient(url=server)
    assert client.is_server_live() and client.is_server_ready()
    assert client.get_server_metadata()["name"] == "agentarts"
    index = client.get_model_repository_index()
    assert {"mlp", "matmul", "broken"} <= {m["name"] for m in index}
    assert client.is_model_ready("mlp")
    meta = client.get_model_metadata("mlp", model_version="1")
    assert meta["inputs"][0]["name"] == "x" and meta["outputs"][0]["name"] == "y"

    x = np.random.default_rng(3).standard_normal((4, 64)).astype(np.float32)
    inp = tritonclient_http.InferInput("x", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=False)
    out = tritonclient_http.InferRequestedOutput("y", binary_data=False)
    result = client.infer("mlp", [inp], outputs=[out], model_version="1")
    np.testing.assert_allclose(
        result.as_numpy("y"), runtime.infer("mlp", {"x": x}, version="1")["y"], rtol=1e-5
    )


def test_triton_client_sees_errors(server):
    client = tritonclient_http.InferenceServerClient(url=server)
    from tritonclient.utils import InferenceServerException

    inp = tritonclient_http.InferInput("x", [1, 3], "FP32")
    inp.set_data_from_numpy(np.zeros((1, 3), np.float32), binary_data=False)
    with pytest.raises(InferenceServerException, match="has shape"):
        client.infer("mlp", [inp])
    with pytest.raises(InferenceServerException, match="unknown model"):
        client.get_model_metadata("nope")
