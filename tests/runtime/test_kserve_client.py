"""KServe's own Python clients (``kserve.InferenceRESTClient`` with the v2 protocol, and
``kserve.InferenceGRPCClient``) against a real server: health, readiness, infer with JSON and
binary tensors, errors.

Skipped where ``kserve`` is not installed: its wheel (0.21) would change pandas, pydantic and
psutil in the dev environment, so it is not a dev dependency; run these in an environment that
has it (docs/runtime.md says how). The server runs in its own process: kserve's generated
protobuf modules and tritonclient's (which the gRPC front end uses) both register the
``inference.*`` messages, so they cannot be imported in one process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import numpy as np
import pytest

if os.environ.get("AGENTARTS_REQUIRE_KSERVE"):  # CI's kserve venv: a missing kserve is a failure
    import kserve
else:
    kserve = pytest.importorskip("kserve")

SERVE = "import sys; from agentarts.cli.main import main; sys.argv[0] = 'agentarts'; main()"


@pytest.fixture(scope="module")
def servers(repo, tmp_path_factory):
    import httpx

    from agentarts.runtime.local import LocalRuntime
    from agentarts.runtime.testing import free_port

    port = free_port(range(18700, 18750))
    grpc_port = free_port(range(18700, 18750), exclude=[port])
    cmd = [sys.executable, "-c", SERVE, "runtime", "serve", "--port", str(port)]
    cmd += ["--grpc-port", str(grpc_port), "--model-repository", str(repo)]
    env = {**os.environ, "AGENTARTS_DATA_DIR": str(tmp_path_factory.mktemp("data"))}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    rt = LocalRuntime([repo], include_packs=False)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the server did not start in 60 s"
            time.sleep(0.1)
        yield rt, (f"127.0.0.1:{port}", f"127.0.0.1:{grpc_port}")
    finally:
        proc.terminate()
        proc.wait(15)
        rt.close(drain=False)


def _request(x: np.ndarray, binary: bool) -> object:
    from kserve import InferInput, InferRequest

    tensor = InferInput("x", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x, binary_data=binary)
    return InferRequest(model_name="mlp", infer_inputs=[tensor], request_id="r1")


@pytest.mark.parametrize("binary", [False, True])
def test_rest_client_v2(servers, binary):
    import httpx
    from kserve import InferenceRESTClient, RESTConfig

    runtime, (url, _) = servers
    x = np.random.default_rng(5).standard_normal((3, 64)).astype(np.float32)
    expected = runtime.infer("mlp", {"x": x})["y"]

    async def main() -> None:
        client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=30))
        try:
            base = f"http://{url}"
            assert await client.is_server_live(base) and await client.is_server_ready(base)
            assert await client.is_model_ready(base, "mlp")
            answer = await client.infer(base, _request(x, binary), model_name="mlp")
            np.testing.assert_allclose(answer.outputs[0].as_numpy(), expected, rtol=1e-5)
            assert answer.id == "r1" and answer.model_name == "mlp"
            wrong = _request(np.zeros((3, 7), np.float32), binary)
            with pytest.raises(httpx.HTTPStatusError) as info:
                await client.infer(base, wrong, model_name="mlp")
            assert info.value.response.status_code == 400
            assert "shape" in info.value.response.json()["error"]
        finally:
            await client.close()

    asyncio.run(main())


def test_grpc_client(servers):
    from kserve import InferenceGRPCClient

    runtime, (_, grpc_url) = servers
    x = np.random.default_rng(6).standard_normal((2, 64)).astype(np.float32)
    expected = runtime.infer("mlp", {"x": x})["y"]

    async def main() -> None:
        async with InferenceGRPCClient(grpc_url) as client:
            assert await client.is_server_ready() and await client.is_model_ready("mlp")
            answer = await client.infer(_request(x, True))
            np.testing.assert_allclose(answer.outputs[0].as_numpy(), expected, rtol=1e-5)

    asyncio.run(main())
