"""`agentarts runtime serve --workers 2`: two processes share the port, each serves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from agentarts.runtime.testing import free_port


@pytest.mark.slow
def test_two_workers_share_the_port(repo, tmp_path):
    port = free_port()
    agentarts = Path(sys.executable).parent / "agentarts"
    repo_args = ["--model-repository", str(repo)]
    proc = subprocess.Popen(
        [str(agentarts), "runtime", "serve", "--port", str(port), "--workers", "2", *repo_args],
        env={**os.environ, "AGENTARTS_DATA_DIR": str(tmp_path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        seen: set[int] = set()
        deadline = time.monotonic() + 120
        while len(seen) < 2 and time.monotonic() < deadline:
            try:  # a new connection each time: the kernel picks a worker per connection
                meta = httpx.get(url + "/v2", headers={"Connection": "close"}, timeout=5).json()
                seen.add(meta["agentarts_worker"])
            except httpx.HTTPError:
                time.sleep(0.2)
        assert seen == {0, 1}
        x = np.ones((2, 64), np.float32)
        body = {
            "inputs": [
                {"name": "x", "shape": [2, 64], "datatype": "FP32", "data": x.ravel().tolist()}
            ]
        }
        for _ in range(6):
            reply = httpx.post(
                url + "/v2/models/mlp/infer", json=body, headers={"Connection": "close"}
            )
            assert reply.status_code == 200 and reply.json()["outputs"][0]["shape"] == [2, 8]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]
    with pytest.raises(httpx.HTTPError):  # every worker stopped with the parent
        httpx.get(url + "/v2/health/live", timeout=2)
